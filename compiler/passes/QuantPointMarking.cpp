//===- QuantPointMarking.cpp - --rptq-mark-quant-points -------------------===//
//
// Finds RPTQ's seven quantized activations of each decoder layer by the shape
// of the imported graph (attention and the relu between fc1 and fc2), so it
// works for pre-LN and post-LN OPT alike.
//
//===----------------------------------------------------------------------===//

#include "PassDetail.h"

#include "mlir/IR/Builders.h"
#include "llvm/ADT/SmallVector.h"

#include <algorithm>
#include <optional>

namespace rptq {
#define GEN_PASS_DEF_MARKQUANTPOINTSPASS
#include "Passes.h.inc"
} // namespace rptq

using namespace mlir;
using namespace rptq;

namespace {

/// N of a weight named `...decoder.layers.N.<rest>`.
std::optional<int64_t> layerOfWeightName(StringRef name) {
  constexpr StringRef prefix = "decoder.layers.";
  size_t at = name.find(prefix);
  if (at == StringRef::npos)
    return std::nullopt;
  StringRef rest = name.drop_front(at + prefix.size());
  StringRef digits = rest.take_while([](char c) { return c >= '0' && c <= '9'; });
  int64_t layer = 0;
  if (digits.empty() || !rest.drop_front(digits.size()).startswith(".") ||
      digits.getAsInteger(10, layer))
    return std::nullopt;
  return layer;
}

/// The decoder layer of a projection, from its weight's name; emits an error
/// on `where` if there is none.
FailureOr<int64_t> layerOf(LinearOp linear, Operation *where,
                           StringRef point) {
  if (auto w = linear.getWeight().getDefiningOp<WeightOp>())
    if (std::optional<int64_t> layer = layerOfWeightName(w.getName()))
      return *layer;
  InFlightDiagnostic d = where->emitError()
                         << "cannot tell the decoder layer of quant point '"
                         << point << "': the weight of the adjacent rptq.linear "
                         << "is not an rptq.weight named 'decoder.layers.N.*'";
  d.attachNote(linear.getLoc()) << "that linear";
  return failure();
}

/// `v` itself, or the input of the quant point `point` that `v` is.
Value beneathPoint(Value v, StringRef point) {
  if (auto qp = v.getDefiningOp<QuantPointOp>())
    if (qp.getPoint() == point)
      return qp.getInput();
  return v;
}

bool isPoint(Value v, StringRef point) {
  auto qp = v.getDefiningOp<QuantPointOp>();
  return qp && qp.getPoint() == point;
}

/// Inserts `quant_point(v)` right after v's producer (after the points
/// already there, so they read in dataflow order) and redirects `uses`.
void insertPoint(Value v, ArrayRef<OpOperand *> uses, int64_t layer,
                 StringRef point, bool kvCache) {
  OpBuilder b(v.getContext());
  Block::iterator at = v.getDefiningOp()
                           ? std::next(v.getDefiningOp()->getIterator())
                           : v.getParentBlock()->begin();
  while (at != v.getParentBlock()->end() && isa<QuantPointOp>(*at) &&
         at->getOperand(0) == v)
    ++at;
  b.setInsertionPoint(v.getParentBlock(), at);
  auto qp = b.create<QuantPointOp>(v.getLoc(), v, layer, point, kvCache);
  for (OpOperand *use : uses)
    use->set(qp.getResult());
}

/// The uses of `v` as the input (operand 0) of an rptq.linear.
SmallVector<OpOperand *> linearInputUses(Value v) {
  SmallVector<OpOperand *> uses;
  for (OpOperand &use : v.getUses())
    if (isa<LinearOp>(use.getOwner()) && use.getOperandNumber() == 0)
      uses.push_back(&use);
  return uses;
}

bool hasPointUser(Value v, StringRef point) {
  for (Operation *user : v.getUsers())
    if (auto qp = dyn_cast<QuantPointOp>(user))
      if (qp.getPoint() == point)
        return true;
  return false;
}

LogicalResult markAttention(AttentionOp att) {
  static constexpr StringRef names[] = {"query", "key", "value"};
  LinearOp proj[3];
  for (unsigned i = 0; i < 3; ++i) {
    proj[i] = beneathPoint(att->getOperand(i), names[i]).getDefiningOp<LinearOp>();
    if (!proj[i])
      return att.emitError() << "the " << names[i]
                             << " of rptq.attention is not produced by an "
                                "rptq.linear projection";
  }

  // The normalized input shared by the three projections.
  Value x = proj[0].getInput();
  if (proj[1].getInput() != x || proj[2].getInput() != x)
    return att.emitError()
           << "the q/k/v projections of rptq.attention do not share an input";
  if (!isPoint(x, "attn_norm_out")) {
    FailureOr<int64_t> layer = layerOf(proj[0], att, "attn_norm_out");
    if (failed(layer))
      return failure();
    SmallVector<OpOperand *> uses;
    for (LinearOp p : proj)
      uses.push_back(&p->getOpOperand(0));
    // q, k and v may be one projection; a use must be redirected once.
    llvm::sort(uses);
    uses.erase(std::unique(uses.begin(), uses.end()), uses.end());
    insertPoint(x, uses, *layer, "attn_norm_out", false);
  }

  for (unsigned i = 0; i < 3; ++i) {
    if (isPoint(att->getOperand(i), names[i]))
      continue;
    FailureOr<int64_t> layer = layerOf(proj[i], att, names[i]);
    if (failed(layer))
      return failure();
    insertPoint(att->getOperand(i), {&att->getOpOperand(i)}, *layer, names[i],
                /*kvCache=*/i != 0);
  }

  if (hasPointUser(att.getResult(), "attn_out"))
    return success();
  SmallVector<OpOperand *> outUses = linearInputUses(att.getResult());
  if (outUses.empty())
    return att.emitError()
           << "the result of rptq.attention feeds no rptq.linear (out_proj)";
  FailureOr<int64_t> layer =
      layerOf(cast<LinearOp>(outUses.front()->getOwner()), att, "attn_out");
  if (failed(layer))
    return failure();
  insertPoint(att.getResult(), outUses, *layer, "attn_out", false);
  return success();
}

LogicalResult markFeedForward(ReluOp relu) {
  SmallVector<OpOperand *> fc2Uses = linearInputUses(relu.getResult());
  bool marked = hasPointUser(relu.getResult(), "fc1_out");
  if (fc2Uses.empty() && !marked)
    return success(); // not the activation between fc1 and fc2
  auto fc1 = relu.getInput().getDefiningOp<LinearOp>();
  if (!fc1)
    return relu.emitError()
           << "the input of an rptq.relu that feeds an rptq.linear (fc2) is "
              "not produced by an rptq.linear (fc1)";
  if (!marked) {
    FailureOr<int64_t> layer =
        layerOf(cast<LinearOp>(fc2Uses.front()->getOwner()), relu, "fc1_out");
    if (failed(layer))
      return failure();
    insertPoint(relu.getResult(), fc2Uses, *layer, "fc1_out", false);
  }
  if (isPoint(fc1.getInput(), "ffn_norm_out"))
    return success();
  FailureOr<int64_t> layer = layerOf(fc1, relu, "ffn_norm_out");
  if (failed(layer))
    return failure();
  insertPoint(fc1.getInput(), {&fc1->getOpOperand(0)}, *layer, "ffn_norm_out",
              false);
  return success();
}

struct MarkQuantPointsPass
    : rptq::impl::MarkQuantPointsPassBase<MarkQuantPointsPass> {
  void runOnOperation() override {
    // Collected first: marking inserts ops next to the ones being visited.
    SmallVector<AttentionOp> attentions;
    SmallVector<ReluOp> relus;
    getOperation().walk([&](Operation *op) {
      if (auto att = dyn_cast<AttentionOp>(op))
        attentions.push_back(att);
      else if (auto relu = dyn_cast<ReluOp>(op))
        relus.push_back(relu);
    });
    bool ok = true;
    for (AttentionOp att : attentions)
      ok &= succeeded(markAttention(att));
    for (ReluOp relu : relus)
      ok &= succeeded(markFeedForward(relu));
    if (!ok)
      signalPassFailure();
  }
};

} // namespace
