//===- TestLayoutPasses.cpp - the driver's API, from rptq-opt -------------===//
//
// Lit reaches rptq::findQuantPoint and rptq::extractFoldedLayout through
// these passes, the way the numeric driver calls them.
//
//===----------------------------------------------------------------------===//

#include "PassDetail.h"

#include "llvm/Support/raw_ostream.h"

namespace rptq {
#define GEN_PASS_DEF_TESTSETPERMPASS
#define GEN_PASS_DEF_TESTPRINTFOLDEDLAYOUTPASS
#include "Passes.h.inc"
} // namespace rptq

using namespace mlir;
using namespace rptq;

namespace {

struct TestSetPermPass : rptq::impl::TestSetPermPassBase<TestSetPermPass> {
  using TestSetPermPassBase::TestSetPermPassBase;

  void runOnOperation() override {
    int64_t l = layer;
    std::string name = point;
    QuantPointOp qp = findQuantPoint(getOperation(), l, name);
    if (!qp) {
      // On the location only: an error on the module would print all of it.
      emitError(getOperation().getLoc())
          << "no quant point (" << l << ", " << name << ")";
      return signalPassFailure();
    }
    SmallVector<int64_t> p(perm.begin(), perm.end());
    qp.setPermAttr(DenseI64ArrayAttr::get(&getContext(), p));
  }
};

void printList(llvm::raw_ostream &os, const std::vector<int64_t> &v) {
  os << "[";
  llvm::interleaveComma(v, os);
  os << "]";
}

void printPerms(llvm::raw_ostream &os, const FoldedLayout::Perms &p) {
  os << "row_perm = ";
  printList(os, p.row_perm);
  os << " col_perm = ";
  printList(os, p.col_perm);
}

struct TestPrintFoldedLayoutPass
    : rptq::impl::TestPrintFoldedLayoutPassBase<TestPrintFoldedLayoutPass> {
  using TestPrintFoldedLayoutPassBase::TestPrintFoldedLayoutPassBase;

  void runOnOperation() override {
    FailureOr<FoldedLayout> layout =
        extractFoldedLayout(getOperation(), allowMultiLayout);
    if (failed(layout))
      return signalPassFailure();
    llvm::raw_ostream &os = llvm::outs();
    os << "folded layout:\n";
    for (const auto &[name, perms] : layout->weights) {
      os << "  weight \"" << name << "\" ";
      printPerms(os, perms);
      os << "\n";
    }
    for (const auto &[name, all] : layout->multi_layout_weights) {
      os << "  multi-layout weight \"" << name << "\"";
      for (const FoldedLayout::Perms &perms : all) {
        os << " {";
        printPerms(os, perms);
        os << "}";
      }
      os << "\n";
    }
    for (const auto &[key, index] : layout->norm_write_index) {
      os << "  write_index (" << key.first << ", " << key.second << ") = ";
      printList(os, index);
      os << "\n";
    }
    os << "end folded layout\n";
  }
};

} // namespace
