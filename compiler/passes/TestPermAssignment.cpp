//===- TestPermAssignment.cpp - --rptq-test-assign-perms ------------------===//
//
// Stands in for the clustering in lit tests: imported models are too wide to
// write their orders by hand, and rotations (seed 0) keep the expected folded
// permutations easy to state while being no involutions, so a perm/inverse
// mix-up shows.
//
//===----------------------------------------------------------------------===//

#include "PassDetail.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSwitch.h"

#include <random>

namespace rptq {
#define GEN_PASS_DEF_TESTASSIGNPERMSPASS
#include "Passes.h.inc"
} // namespace rptq

using namespace mlir;
using namespace rptq;

namespace {

/// The points that must share one order: q/k (QKᵀ), v/attn_out (the value
/// order comes out of attention); the others stand alone.
int64_t groupOf(StringRef point) {
  return llvm::StringSwitch<int64_t>(point)
      .Case("attn_norm_out", 0)
      .Cases("query", "key", 1)
      .Cases("value", "attn_out", 2)
      .Case("ffn_norm_out", 3)
      .Default(4); // fc1_out
}

/// The attention op next to a query/key/value/attn_out point.
AttentionOp adjacentAttention(QuantPointOp qp) {
  if (auto att = qp.getInput().getDefiningOp<AttentionOp>())
    return att;
  for (Operation *user : qp->getUsers())
    if (auto att = dyn_cast<AttentionOp>(user))
      return att;
  return {};
}

/// A permutation of `n` channels made of independent blocks of `block`.
SmallVector<int64_t> makePerm(int64_t n, int64_t block, uint64_t seed,
                              int64_t layer, int64_t group) {
  SmallVector<int64_t> p(n);
  std::mt19937_64 rng(seed * 1000003u + static_cast<uint64_t>(layer) * 31u +
                      static_cast<uint64_t>(group));
  for (int64_t start = 0; start < n; start += block) {
    for (int64_t j = 0; j < block; ++j)
      p[start + j] = start + (seed == 0 ? (j + group + 1) % block : j);
    if (seed == 0)
      continue;
    // Fisher-Yates on rng's raw output: identical on every platform.
    for (int64_t j = block - 1; j > 0; --j)
      std::swap(p[start + j],
                p[start + static_cast<int64_t>(rng() % static_cast<uint64_t>(j + 1))]);
  }
  return p;
}

struct TestAssignPermsPass
    : rptq::impl::TestAssignPermsPassBase<TestAssignPermsPass> {
  using TestAssignPermsPassBase::TestAssignPermsPassBase;

  void runOnOperation() override {
    bool ok = true;
    getOperation().walk([&](QuantPointOp qp) {
      int64_t l = qp.getLayerAttr().getInt();
      if (qp.getPerm() || (layer >= 0 && l != layer) ||
          (!points.empty() && !llvm::is_contained(points, qp.getPoint().str())))
        return;
      int64_t group = groupOf(qp.getPoint());
      auto type = qp.getType().cast<RankedTensorType>();
      int64_t n = type.getDimSize(type.getRank() - 1);
      int64_t block = n;
      if (group == 1 || group == 2) {
        AttentionOp att = adjacentAttention(qp);
        if (!att) {
          qp.emitError("no rptq.attention next to this point to take the "
                       "head size from");
          ok = false;
          return;
        }
        block = n / att.getNumHeadsAttr().getInt();
      }
      qp.setPermAttr(DenseI64ArrayAttr::get(
          &getContext(), makePerm(n, block, seed, l, group)));
    });
    if (!ok)
      signalPassFailure();
  }
};

} // namespace
