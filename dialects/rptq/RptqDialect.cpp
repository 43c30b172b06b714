//===- RptqDialect.cpp - rptq dialect ---------------------------*- C++ -*-===//

#include "rptq/Dialect/RptqDialect.h"

#include "rptq/Dialect/RptqOps.h"

using namespace mlir;
using namespace rptq;

#include "rptq/Dialect/RptqOpsDialect.cpp.inc"

void RptqDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "rptq/Dialect/RptqOps.cpp.inc"
      >();
}
