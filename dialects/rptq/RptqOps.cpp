//===- RptqOps.cpp - rptq dialect operations --------------------*- C++ -*-===//
//
// Builders and verifiers of the rptq operations.
//
//===----------------------------------------------------------------------===//

#include "rptq/Dialect/RptqOps.h"

#include "llvm/ADT/SmallVector.h"

#include <optional>
#include <utility>

using namespace mlir;
using namespace rptq;

namespace {

/// True if two dimension sizes can describe the same runtime extent.
bool compatibleDim(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

/// Checks that `type` is an activation: rank-2 `tensor<S x D>`, static D.
LogicalResult verifyActivation(Operation *op, Type type, StringRef what) {
  auto t = type.dyn_cast<RankedTensorType>();
  if (!t || t.getRank() != 2)
    return op->emitOpError() << what
                             << " must be a rank-2 tensor <seq x features>, got "
                             << type;
  if (t.isDynamicDim(1))
    return op->emitOpError()
           << what << " must have a static feature dimension, got " << type;
  return success();
}

/// Checks that `type` is a statically shaped tensor of the given rank.
LogicalResult verifyStaticTensor(Operation *op, Type type, int64_t rank,
                                 StringRef what) {
  auto t = type.dyn_cast<RankedTensorType>();
  if (!t || t.getRank() != rank || !t.hasStaticShape())
    return op->emitOpError() << what << " must be a static rank-" << rank
                             << " tensor, got " << type;
  return success();
}

LogicalResult verifySameElementType(Operation *op, Type a, Type b,
                                     StringRef whatA, StringRef whatB) {
  Type ea = a.cast<ShapedType>().getElementType();
  Type eb = b.cast<ShapedType>().getElementType();
  if (ea != eb)
    return op->emitOpError() << whatA << " element type " << ea
                             << " does not match " << whatB << " element type "
                             << eb;
  return success();
}

int64_t dim(Value v, unsigned i) {
  return v.getType().cast<ShapedType>().getDimSize(i);
}
int64_t dim(Type t, unsigned i) { return t.cast<ShapedType>().getDimSize(i); }

Type elementType(Value v) {
  return v.getType().cast<ShapedType>().getElementType();
}

/// Shared verifier of rptq.embedding and rptq.position_embedding.
LogicalResult verifyLookup(Operation *op, Value ids, Value table,
                           Type result) {
  auto idsType = ids.getType().dyn_cast<RankedTensorType>();
  if (!idsType || idsType.getRank() != 1)
    return op->emitOpError() << "ids must be a rank-1 tensor, got "
                             << ids.getType();
  if (failed(verifyStaticTensor(op, table.getType(), 2, "table")) ||
      failed(verifyActivation(op, result, "result")) ||
      failed(verifySameElementType(op, result, table.getType(), "result",
                                   "table")))
    return failure();
  if (dim(result, 1) != dim(table, 1))
    return op->emitOpError() << "result feature dimension " << dim(result, 1)
                             << " does not match table dimension "
                             << dim(table, 1);
  if (!compatibleDim(dim(result, 0), idsType.getDimSize(0)))
    return op->emitOpError() << "result sequence dimension " << dim(result, 0)
                             << " does not match ids length "
                             << idsType.getDimSize(0);
  return success();
}

/// Checks that `perm` is a permutation of [0, size).
LogicalResult verifyPermutation(Operation *op, ArrayRef<int64_t> perm,
                                int64_t size, StringRef what) {
  if (static_cast<int64_t>(perm.size()) != size)
    return op->emitOpError() << what << " has " << perm.size()
                             << " entries, expected " << size;
  llvm::SmallVector<bool> seen(size, false);
  for (int64_t i : perm) {
    if (i < 0 || i >= size)
      return op->emitOpError() << what << " entry " << i
                               << " is out of range [0, " << size << ")";
    if (seen[i])
      return op->emitOpError() << what << " is not a permutation: " << i
                               << " appears twice";
    seen[i] = true;
  }
  return success();
}

/// Result type tensor<S x N> with S taken from `seqSource` (dim 0) and the
/// element type from `elemSource`.
Type activationType(Value seqSource, int64_t features, Value elemSource) {
  int64_t seq = ShapedType::kDynamic;
  if (auto t = seqSource.getType().dyn_cast<RankedTensorType>())
    if (t.getRank() >= 1)
      seq = t.getDimSize(0);
  return RankedTensorType::get({seq, features}, elementType(elemSource));
}

} // namespace

//===----------------------------------------------------------------------===//
// WeightOp
//===----------------------------------------------------------------------===//

LogicalResult WeightOp::verify() {
  if (getName().empty())
    return emitOpError("weight name must not be empty");
  if (!getType().hasStaticShape())
    return emitOpError() << "weight must have a static shape, got "
                         << getType();
  if (std::optional<ArrayRef<int64_t>> rows = getRowPerm()) {
    if (getType().getRank() < 1 || getType().getRank() > 2)
      return emitOpError() << "row_perm needs a 1-D or 2-D weight, got "
                           << getType();
    if (failed(verifyPermutation(*this, *rows, dim(getType(), 0), "row_perm")))
      return failure();
  }
  if (std::optional<ArrayRef<int64_t>> cols = getColPerm()) {
    if (getType().getRank() != 2)
      return emitOpError() << "col_perm needs a 2-D weight, got " << getType();
    if (failed(verifyPermutation(*this, *cols, dim(getType(), 1), "col_perm")))
      return failure();
  }
  return success();
}

//===----------------------------------------------------------------------===//
// EmbeddingOp / PositionEmbeddingOp
//===----------------------------------------------------------------------===//

void EmbeddingOp::build(OpBuilder &builder, OperationState &state, Value ids,
                        Value table) {
  build(builder, state, activationType(ids, dim(table, 1), table), ids, table);
}

LogicalResult EmbeddingOp::verify() {
  return verifyLookup(*this, getIds(), getTable(), getType());
}

void PositionEmbeddingOp::build(OpBuilder &builder, OperationState &state,
                                Value positions, Value table, int64_t offset) {
  build(builder, state, activationType(positions, dim(table, 1), table),
        positions, table, builder.getI64IntegerAttr(offset));
}

LogicalResult PositionEmbeddingOp::verify() {
  if (getOffsetAttr().getInt() < 0)
    return emitOpError() << "offset must be non-negative, got "
                         << getOffsetAttr().getInt();
  return verifyLookup(*this, getPositions(), getTable(), getType());
}

//===----------------------------------------------------------------------===//
// LayerNormOp
//===----------------------------------------------------------------------===//

void LayerNormOp::build(OpBuilder &builder, OperationState &state, Value input,
                        Value gamma, Value beta, float eps,
                        ArrayRef<int64_t> writeIndex) {
  DenseI64ArrayAttr index;
  if (!writeIndex.empty())
    index = builder.getDenseI64ArrayAttr(writeIndex);
  build(builder, state, input.getType(), input, gamma, beta,
        builder.getF32FloatAttr(eps), index);
}

LogicalResult LayerNormOp::verify() {
  if (failed(verifyActivation(*this, getInput().getType(), "input")))
    return failure();
  if (getType() != getInput().getType())
    return emitOpError() << "result type " << getType()
                         << " does not match input type "
                         << getInput().getType();
  int64_t d = dim(getInput(), 1);
  for (auto [param, what] :
       {std::pair<Value, StringRef>(getGamma(), "gamma"),
        std::pair<Value, StringRef>(getBeta(), "beta")}) {
    if (!param)
      continue;
    if (failed(verifyStaticTensor(*this, param.getType(), 1, what)) ||
        failed(verifySameElementType(*this, param.getType(),
                                     getInput().getType(), what, "input")))
      return failure();
    if (dim(param, 0) != d)
      return emitOpError() << what << " size " << dim(param, 0)
                           << " does not match feature dimension " << d;
  }
  if (!(getEps().convertToFloat() > 0.0f))
    return emitOpError("eps must be positive");
  if (std::optional<ArrayRef<int64_t>> index = getWriteIndex())
    return verifyPermutation(*this, *index, d, "write_index");
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

// Operand checks shared by linear and lm_head (x·Wᵀ): an activation input and
// result, a static 2-D weight, and one element type throughout.
template <typename OpT>
static LogicalResult verifyMatmulOperands(OpT op) {
  Type in = op.getInput().getType();
  if (failed(verifyActivation(op, in, "input")) ||
      failed(verifyStaticTensor(op, op.getWeight().getType(), 2, "weight")) ||
      failed(verifyActivation(op, op.getType(), "result")) ||
      failed(verifySameElementType(op, op.getWeight().getType(), in, "weight",
                                   "input")) ||
      failed(verifySameElementType(op, op.getType(), in, "result", "input")))
    return failure();
  return success();
}

void LinearOp::build(OpBuilder &builder, OperationState &state, Value input,
                     Value weight, Value bias) {
  build(builder, state, activationType(input, dim(weight, 0), input), input,
        weight, bias);
}

LogicalResult LinearOp::verify() {
  if (failed(verifyMatmulOperands(*this)))
    return failure();
  int64_t k = dim(getInput(), 1);
  int64_t n = dim(getWeight(), 0);
  if (dim(getWeight(), 1) != k)
    return emitOpError() << "weight in_features " << dim(getWeight(), 1)
                         << " does not match input features " << k;
  if (Value bias = getBias()) {
    if (failed(verifyStaticTensor(*this, bias.getType(), 1, "bias")) ||
        failed(verifySameElementType(*this, bias.getType(),
                                     getInput().getType(), "bias", "input")))
      return failure();
    if (dim(bias, 0) != n)
      return emitOpError() << "bias size " << dim(bias, 0)
                           << " does not match weight out_features " << n;
  }
  if (dim(getType(), 1) != n)
    return emitOpError() << "result features " << dim(getType(), 1)
                         << " do not match weight out_features " << n;
  if (!compatibleDim(dim(getType(), 0), dim(getInput(), 0)))
    return emitOpError() << "result sequence dimension " << dim(getType(), 0)
                         << " does not match input sequence dimension "
                         << dim(getInput(), 0);
  return success();
}

//===----------------------------------------------------------------------===//
// ReluOp / AddOp
//===----------------------------------------------------------------------===//

LogicalResult ReluOp::verify() {
  if (!getType().getElementType().isa<FloatType>())
    return emitOpError() << "expects a floating-point tensor, got "
                         << getType();
  return success();
}

LogicalResult AddOp::verify() {
  if (!getType().getElementType().isa<FloatType>())
    return emitOpError() << "expects floating-point tensors, got " << getType();
  return success();
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

void AttentionOp::build(OpBuilder &builder, OperationState &state, Value query,
                        Value key, Value value, int64_t numHeads, float scale,
                        bool causal) {
  build(builder, state, query.getType(), query, key, value,
        builder.getI64IntegerAttr(numHeads), builder.getF32FloatAttr(scale),
        causal ? builder.getUnitAttr() : UnitAttr());
}

LogicalResult AttentionOp::verify() {
  if (failed(verifyActivation(*this, getQuery().getType(), "query")) ||
      failed(verifyActivation(*this, getKey().getType(), "key")) ||
      failed(verifyActivation(*this, getValue().getType(), "value")) ||
      failed(verifySameElementType(*this, getKey().getType(),
                                   getQuery().getType(), "key", "query")) ||
      failed(verifySameElementType(*this, getValue().getType(),
                                   getQuery().getType(), "value", "query")))
    return failure();
  int64_t d = dim(getQuery(), 1);
  if (dim(getKey(), 1) != d || dim(getValue(), 1) != d)
    return emitOpError() << "query, key and value must have the same feature "
                            "dimension, got "
                         << d << ", " << dim(getKey(), 1) << ", "
                         << dim(getValue(), 1);
  if (!compatibleDim(dim(getKey(), 0), dim(getValue(), 0)))
    return emitOpError() << "key and value sequence dimensions differ: "
                         << dim(getKey(), 0) << " vs " << dim(getValue(), 0);
  if (getType() != getQuery().getType())
    return emitOpError() << "result type " << getType()
                         << " does not match query type "
                         << getQuery().getType();
  int64_t heads = getNumHeadsAttr().getInt();
  if (heads <= 0)
    return emitOpError() << "num_heads must be positive, got " << heads;
  if (d % heads != 0)
    return emitOpError() << "feature dimension " << d
                         << " is not divisible by num_heads " << heads;
  return success();
}

//===----------------------------------------------------------------------===//
// LmHeadOp
//===----------------------------------------------------------------------===//

void LmHeadOp::build(OpBuilder &builder, OperationState &state, Value input,
                     Value weight) {
  build(builder, state, activationType(input, dim(weight, 0), input), input,
        weight);
}

LogicalResult LmHeadOp::verify() {
  if (failed(verifyMatmulOperands(*this)))
    return failure();
  int64_t d = dim(getInput(), 1);
  int64_t v = dim(getWeight(), 0);
  if (dim(getWeight(), 1) != d)
    return emitOpError() << "weight hidden size " << dim(getWeight(), 1)
                         << " does not match input features " << d;
  if (dim(getType(), 1) != v)
    return emitOpError() << "result vocabulary size " << dim(getType(), 1)
                         << " does not match weight vocabulary size " << v;
  if (!compatibleDim(dim(getType(), 0), dim(getInput(), 0)))
    return emitOpError() << "result sequence dimension " << dim(getType(), 0)
                         << " does not match input sequence dimension "
                         << dim(getInput(), 0);
  return success();
}

//===----------------------------------------------------------------------===//
// QuantPointOp
//===----------------------------------------------------------------------===//

ArrayRef<StringRef> QuantPointOp::pointNames() {
  static const StringRef names[] = {"attn_norm_out", "query",    "key",
                                    "value",         "attn_out", "ffn_norm_out",
                                    "fc1_out"};
  return names;
}

LogicalResult QuantPointOp::verify() {
  auto type = getType().dyn_cast<RankedTensorType>();
  if (!type || type.getRank() < 1 || type.isDynamicDim(type.getRank() - 1))
    return emitOpError() << "expects a tensor with a static last (channel) "
                            "dimension, got "
                         << getType();
  int64_t channels = type.getDimSize(type.getRank() - 1);
  if (getLayerAttr().getInt() < 0)
    return emitOpError() << "layer must be non-negative, got "
                         << getLayerAttr().getInt();
  if (!llvm::is_contained(pointNames(), getPoint())) {
    InFlightDiagnostic d = emitOpError() << "unknown point \"" << getPoint()
                                         << "\", expected one of";
    for (StringRef name : pointNames())
      d << " " << name;
    return d;
  }
  if (getKvCache() && getPoint() != "key" && getPoint() != "value")
    return emitOpError() << "kv_cache is only valid on key and value points, "
                            "not on "
                         << getPoint();
  if (std::optional<ArrayRef<int64_t>> perm = getPerm())
    if (failed(verifyPermutation(*this, *perm, channels, "perm")))
      return failure();
  size_t clusters = 1;
  if (std::optional<ArrayRef<int64_t>> sizes = getClusterSizes()) {
    int64_t total = 0;
    for (int64_t s : *sizes) {
      if (s <= 0)
        return emitOpError() << "cluster sizes must be positive, got " << s;
      total += s;
    }
    if (total != channels)
      return emitOpError() << "cluster sizes sum to " << total << ", expected "
                           << channels << " channels";
    clusters = sizes->size();
  }
  if (std::optional<uint64_t> bits = getBits())
    if (getBitsAttr().getInt() < 2 || getBitsAttr().getInt() > 16)
      return emitOpError() << "bits must be in [2, 16], got "
                           << getBitsAttr().getInt();
  if (std::optional<ArrayRef<float>> scales = getScales()) {
    if (scales->size() != clusters)
      return emitOpError() << "has " << scales->size()
                           << " scales, expected " << clusters
                           << " (one per cluster)";
    for (float s : *scales)
      if (!(s > 0.0f))
        return emitOpError() << "scales must be positive, got " << s;
  }
  if (std::optional<ArrayRef<int64_t>> zeros = getZeroPoints())
    if (zeros->size() != clusters)
      return emitOpError() << "has " << zeros->size()
                           << " zero points, expected " << clusters
                           << " (one per cluster)";
  return success();
}

//===----------------------------------------------------------------------===//
// ReorderOp
//===----------------------------------------------------------------------===//

LogicalResult ReorderOp::verify() {
  if (getType() != getInput().getType())
    return emitOpError() << "result type " << getType()
                         << " does not match input type "
                         << getInput().getType();
  auto type = getInput().getType().cast<RankedTensorType>();
  int64_t d = getDimAttr().getInt();
  if (d < 0 || d >= type.getRank())
    return emitOpError() << "dim " << d << " is out of range for " << type;
  if (type.isDynamicDim(d))
    return emitOpError() << "dim " << d << " of " << type
                         << " must be static";
  return verifyPermutation(*this, getPerm(), type.getDimSize(d), "perm");
}

OpFoldResult ReorderOp::fold(FoldAdaptor) {
  ArrayRef<int64_t> perm = getPerm();
  auto isIdentity = [](ArrayRef<int64_t> p) {
    for (size_t j = 0; j < p.size(); ++j)
      if (p[j] != static_cast<int64_t>(j))
        return false;
    return true;
  };
  if (isIdentity(perm))
    return getInput();
  auto inner = getInput().getDefiningOp<ReorderOp>();
  if (!inner || inner.getDimAttr() != getDimAttr())
    return {};
  // result[j] = inner[perm[j]] = x[innerPerm[perm[j]]].
  ArrayRef<int64_t> innerPerm = inner.getPerm();
  llvm::SmallVector<int64_t> composed(perm.size());
  for (size_t j = 0; j < perm.size(); ++j)
    composed[j] = innerPerm[perm[j]];
  if (isIdentity(composed))
    return inner.getInput();
  setPermAttr(DenseI64ArrayAttr::get(getContext(), composed));
  getInputMutable().assign(inner.getInput());
  return getResult();
}

#define GET_OP_CLASSES
#include "rptq/Dialect/RptqOps.cpp.inc"
