//===- RptqDialect.h - rptq dialect -----------------------------*- C++ -*-===//
//
// The `rptq` dialect class, `rptq::RptqDialect`. Register it with
// `registry.insert<rptq::RptqDialect>()` or
// `context.getOrLoadDialect<rptq::RptqDialect>()`.
//
//===----------------------------------------------------------------------===//

#ifndef RPTQ_DIALECT_RPTQDIALECT_H
#define RPTQ_DIALECT_RPTQDIALECT_H

#include "mlir/IR/Dialect.h"

#include "rptq/Dialect/RptqOpsDialect.h.inc"

#endif // RPTQ_DIALECT_RPTQDIALECT_H
