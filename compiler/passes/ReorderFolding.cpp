//===- ReorderFolding.cpp - --rptq-fold-reorders --------------------------===//
//
// Rewrites that move every rptq.reorder into something that can absorb a
// channel permutation for free: weight row_perm/col_perm and layer norm
// write_index. Reorders travel up through producers (linear, relu,
// layer_norm, weight) and down into consumers (linear, lm_head, attention),
// never the other way, so the greedy driver cannot cycle; reorder(reorder)
// composes by ReorderOp::fold. Notation: reorder by P means y[j] = x[P[j]].
//
//===----------------------------------------------------------------------===//

#include "PassDetail.h"
#include "Permutations.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <string>

namespace rptq {
#define GEN_PASS_DEF_FOLDREORDERSPASS
#include "Passes.h.inc"
} // namespace rptq

using namespace mlir;
using namespace rptq;

namespace {

/// The activation (rank-2) feature dimension, the one reorders permute.
constexpr int64_t kFeatureDim = 1;

bool reordersFeatures(ReorderOp r) {
  return r.getDimAttr().getInt() == kFeatureDim &&
         r.getType().cast<RankedTensorType>().getRank() == 2;
}

Value reorder(PatternRewriter &rewriter, Location loc, Value v, int64_t dim,
              ArrayRef<int64_t> p) {
  return rewriter.create<ReorderOp>(loc, v, dim, p).getResult();
}

DenseI64ArrayAttr permAttr(MLIRContext *ctx, ArrayRef<int64_t> p) {
  return perm::isIdentity(p) ? DenseI64ArrayAttr()
                             : DenseI64ArrayAttr::get(ctx, p);
}

// reorder(linear(x, W, b), P) -> linear(x, reorder(W, 0, P), reorder(b, 0, P))
// since out[:, P[j]] = x · W[P[j], :] + b[P[j]]. Only for a linear read by
// the reorder alone: a shared one would have to be computed twice.
struct FoldIntoLinearRows : OpRewritePattern<ReorderOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReorderOp r,
                                PatternRewriter &rewriter) const override {
    auto linear = r.getInput().getDefiningOp<LinearOp>();
    if (!linear || !reordersFeatures(r) || !linear->hasOneUse())
      return failure();
    Location loc = linear.getLoc();
    Value w = reorder(rewriter, loc, linear.getWeight(), 0, r.getPerm());
    Value b = linear.getBias()
                  ? reorder(rewriter, loc, linear.getBias(), 0, r.getPerm())
                  : Value();
    rewriter.replaceOpWithNewOp<LinearOp>(r, r.getType(), linear.getInput(), w,
                                          b);
    return success();
  }
};

// reorder(relu(x), P) -> relu(reorder(x, P)).
struct ReorderAboveRelu : OpRewritePattern<ReorderOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReorderOp r,
                                PatternRewriter &rewriter) const override {
    auto relu = r.getInput().getDefiningOp<ReluOp>();
    if (!relu || !relu->hasOneUse())
      return failure();
    Value x = reorder(rewriter, r.getLoc(), relu.getInput(),
                      r.getDimAttr().getInt(), r.getPerm());
    rewriter.replaceOpWithNewOp<ReluOp>(r, x);
    return success();
  }
};

// reorder(layer_norm(x, g, b, w), P) -> layer_norm(x, g', b', w').
// The old result has column j = n[w⁻¹[j]]·g[j] + b[j] (n: normalized x);
// reordered, column j is column P[j] of it, so w'⁻¹ = w⁻¹∘P, i.e.
// w'[c] = P⁻¹[w[c]], and g' = reorder(g, P), b' = reorder(b, P) keep gamma and
// beta in output order. Other users keep the old layer norm (post-LN: the
// residual stream), so it is cloned rather than changed.
struct FoldIntoLayerNorm : OpRewritePattern<ReorderOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReorderOp r,
                                PatternRewriter &rewriter) const override {
    auto ln = r.getInput().getDefiningOp<LayerNormOp>();
    if (!ln || !reordersFeatures(r))
      return failure();
    ArrayRef<int64_t> p = r.getPerm();
    SmallVector<int64_t> w = ln.getWriteIndex()
                                 ? SmallVector<int64_t>(*ln.getWriteIndex())
                                 : perm::identity(p.size());
    SmallVector<int64_t> pInv = perm::inverse(p);
    SmallVector<int64_t> newW(w.size());
    for (size_t c = 0; c < w.size(); ++c)
      newW[c] = pInv[w[c]];
    Location loc = ln.getLoc();
    Value g = ln.getGamma() ? reorder(rewriter, loc, ln.getGamma(), 0, p)
                            : Value();
    Value b = ln.getBeta() ? reorder(rewriter, loc, ln.getBeta(), 0, p)
                           : Value();
    rewriter.replaceOpWithNewOp<LayerNormOp>(
        r, ln.getType(), ln.getInput(), g, b, ln.getEpsAttr(),
        permAttr(getContext(), newW));
    return success();
  }
};

// reorder(weight{R, C}, 0, P) -> weight{R∘P, C}; on dim 1 -> weight{R, C∘P},
// since result[i][j] = stored[R[i]][C[j]]. A new op: other users (a tied
// embedding, the layer norm a post-LN clone came from) keep the old layout.
struct FoldIntoWeight : OpRewritePattern<ReorderOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(ReorderOp r,
                                PatternRewriter &rewriter) const override {
    auto weight = r.getInput().getDefiningOp<WeightOp>();
    if (!weight)
      return failure();
    auto type = weight.getType().cast<RankedTensorType>();
    int64_t dim = r.getDimAttr().getInt();
    if (type.getRank() > 2)
      return failure();
    auto current = [&](std::optional<ArrayRef<int64_t>> p, int64_t d) {
      return p ? SmallVector<int64_t>(*p) : perm::identity(type.getDimSize(d));
    };
    SmallVector<int64_t> rows = current(weight.getRowPerm(), 0);
    SmallVector<int64_t> cols;
    if (type.getRank() == 2)
      cols = current(weight.getColPerm(), 1);
    SmallVector<int64_t> &target = dim == 0 ? rows : cols;
    target = perm::compose(target, r.getPerm());
    rewriter.replaceOpWithNewOp<WeightOp>(
        r, type, weight.getNameAttr(), permAttr(getContext(), rows),
        type.getRank() == 2 ? permAttr(getContext(), cols)
                            : DenseI64ArrayAttr());
    return success();
  }
};

// op(reorder(x, P), W, ...) -> op(x, reorder(W, 1, P⁻¹), ...) for y = x·Wᵀ:
// Σ_j x[P[j]]·W[:, j] = Σ_k x[k]·W[:, P⁻¹[k]].
template <typename MatmulOp>
struct FoldIntoColumns : OpRewritePattern<MatmulOp> {
  using OpRewritePattern<MatmulOp>::OpRewritePattern;
  LogicalResult matchAndRewrite(MatmulOp op,
                                PatternRewriter &rewriter) const override {
    auto r = op.getInput().template getDefiningOp<ReorderOp>();
    if (!r || !reordersFeatures(r))
      return failure();
    Value w = reorder(rewriter, op.getLoc(), op.getWeight(), 1,
                      perm::inverse(r.getPerm()));
    rewriter.updateRootInPlace(op, [&] {
      op.getInputMutable().assign(r.getInput());
      op.getWeightMutable().assign(w);
    });
    return success();
  }
};

/// Channels per head of an attention op.
int64_t headDim(AttentionOp att) {
  return att.getType().template cast<RankedTensorType>().getDimSize(1) /
         att.getNumHeadsAttr().getInt();
}

ReorderOp featureReorder(Value v) {
  auto r = v.getDefiningOp<ReorderOp>();
  return r && reordersFeatures(r) ? r : ReorderOp();
}

// attention(reorder(q, A), reorder(k, A), v) -> attention(q, k, v) when A
// keeps every channel in its head: each head's q·kᵀ sums the same products.
struct DropQueryKeyReorders : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionOp att,
                                PatternRewriter &rewriter) const override {
    ReorderOp q = featureReorder(att.getQuery());
    ReorderOp k = featureReorder(att.getKey());
    if (!q || !k || q.getPerm() != k.getPerm() ||
        perm::firstBlockCrossing(q.getPerm(), headDim(att)) >= 0)
      return failure();
    rewriter.updateRootInPlace(att, [&] {
      att.getQueryMutable().assign(q.getInput());
      att.getKeyMutable().assign(k.getInput());
    });
    return success();
  }
};

// attention(q, k, reorder(v, A)) -> reorder(attention(q, k, v), A) when A
// keeps every channel in its head: a head's output channel j is the
// attention-weighted sum of value channel j of that head.
struct ValueReorderBelowAttention : OpRewritePattern<AttentionOp> {
  using OpRewritePattern::OpRewritePattern;
  LogicalResult matchAndRewrite(AttentionOp att,
                                PatternRewriter &rewriter) const override {
    ReorderOp v = featureReorder(att.getValue());
    if (!v || perm::firstBlockCrossing(v.getPerm(), headDim(att)) >= 0)
      return failure();
    auto plain = rewriter.create<AttentionOp>(
        att.getLoc(), att.getType(), att.getQuery(), att.getKey(),
        v.getInput(), att.getNumHeadsAttr(), att.getScaleAttr(),
        att.getCausalAttr());
    rewriter.replaceOpWithNewOp<ReorderOp>(att, att.getType(), plain,
                                           v.getDimAttr(), v.getPermAttr());
    return success();
  }
};

/// Why `r` survived, for the diagnostic.
std::string whyStuck(ReorderOp r) {
  std::string why;
  llvm::raw_string_ostream os(why);
  for (Operation *user : r->getUsers()) {
    auto att = dyn_cast<AttentionOp>(user);
    if (!att || !reordersFeatures(r))
      continue;
    int64_t hd = headDim(att);
    int64_t j = perm::firstBlockCrossing(r.getPerm(), hd);
    if (j >= 0) {
      int64_t c = r.getPerm()[j];
      os << "it moves channel " << c << " of head " << c / hd
         << " to position " << j << " in head " << j / hd
         << " of 'rptq.attention' (a permutation must stay within heads)";
      return why;
    }
    if (att.getQuery() == r.getResult() || att.getKey() == r.getResult()) {
      os << "the query and key of 'rptq.attention' are not reordered by the "
            "same permutation";
      return why;
    }
  }
  if (Operation *def = r.getInput().getDefiningOp()) {
    if (isa<AttentionOp>(def)) {
      os << "it is the value order coming out of 'rptq.attention', which "
            "only the out_proj can absorb (value and attn_out must share "
            "one order)";
      return why;
    }
    os << "its producer '" << def->getName() << "'";
    if (isa<LinearOp, ReluOp>(def) && !def->hasOneUse())
      os << " has other users";
    else
      os << " cannot absorb a permutation";
  } else {
    os << "its input is a block argument";
  }
  os << ", and no user absorbs it";
  return why;
}

struct FoldReordersPass : rptq::impl::FoldReordersPassBase<FoldReordersPass> {
  void runOnOperation() override {
    MLIRContext *ctx = &getContext();
    RewritePatternSet patterns(ctx);
    patterns.add<FoldIntoLinearRows, ReorderAboveRelu, FoldIntoLayerNorm,
                 FoldIntoWeight, FoldIntoColumns<LinearOp>,
                 FoldIntoColumns<LmHeadOp>, DropQueryKeyReorders,
                 ValueReorderBelowAttention>(ctx);
    if (failed(applyPatternsAndFoldGreedily(getOperation(),
                                            std::move(patterns)))) {
      emitError(getOperation().getLoc(), "folding reorders did not converge");
      return signalPassFailure();
    }
    bool stuck = false;
    getOperation().walk([&](ReorderOp r) {
      r.emitError()
          << "reorder could not be folded into its producer or consumers: "
          << whyStuck(r);
      stuck = true;
    });
    if (stuck)
      signalPassFailure();
  }
};

} // namespace
