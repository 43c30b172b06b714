//===- PassDetail.h - internals shared by the rptq passes -------*- C++ -*-===//

#ifndef RPTQ_PASSES_PASSDETAIL_H
#define RPTQ_PASSES_PASSDETAIL_H

#include "passes/rptq_passes.h"

#include "mlir/Pass/Pass.h"
#include "rptq/Dialect/RptqDialect.h"
#include "rptq/Dialect/RptqOps.h"

#include <string>

namespace rptq {

#define GEN_PASS_DECL
#include "Passes.h.inc"

} // namespace rptq

#endif // RPTQ_PASSES_PASSDETAIL_H
