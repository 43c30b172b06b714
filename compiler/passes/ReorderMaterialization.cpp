//===- ReorderMaterialization.cpp - --rptq-materialize-reorders -----------===//
//
// Makes the clustering order of each quant point explicit: the point then
// sees its channels in that order, and the reorder pair around it is an
// identity that --rptq-fold-reorders moves into the neighbouring weights.
//
//===----------------------------------------------------------------------===//

#include "PassDetail.h"
#include "Permutations.h"

#include "mlir/IR/Builders.h"

namespace rptq {
#define GEN_PASS_DEF_MATERIALIZEREORDERSPASS
#include "Passes.h.inc"
} // namespace rptq

using namespace mlir;
using namespace rptq;

namespace {

void materialize(QuantPointOp qp) {
  SmallVector<int64_t> p(*qp.getPerm());
  int64_t dim = qp.getType().cast<RankedTensorType>().getRank() - 1;
  OpBuilder b(qp);
  auto in = b.create<ReorderOp>(qp.getLoc(), qp.getInput(), dim, p);
  qp.getInputMutable().assign(in.getResult());
  qp.removePermAttr();
  b.setInsertionPointAfter(qp);
  auto out = b.create<ReorderOp>(qp.getLoc(), qp.getResult(), dim,
                                 perm::inverse(p));
  qp.getResult().replaceAllUsesExcept(out.getResult(), out);
}

struct MaterializeReordersPass
    : rptq::impl::MaterializeReordersPassBase<MaterializeReordersPass> {
  void runOnOperation() override {
    getOperation().walk([](QuantPointOp qp) {
      if (qp.getPerm())
        materialize(qp);
    });
  }
};

} // namespace
