//===- RptqOps.h - rptq dialect operations ----------------------*- C++ -*-===//
//
// Operation classes of the `rptq` dialect: rptq::WeightOp, EmbeddingOp,
// PositionEmbeddingOp, LayerNormOp, LinearOp, ReluOp, AddOp, AttentionOp,
// LmHeadOp, QuantPointOp, ReorderOp. See dialects/rptq/IR/RptqOps.td for
// their semantics.
//
//===----------------------------------------------------------------------===//

#ifndef RPTQ_DIALECT_RPTQOPS_H
#define RPTQ_DIALECT_RPTQOPS_H

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "rptq/Dialect/RptqDialect.h"

#define GET_OP_CLASSES
#include "rptq/Dialect/RptqOps.h.inc"

#endif // RPTQ_DIALECT_RPTQOPS_H
