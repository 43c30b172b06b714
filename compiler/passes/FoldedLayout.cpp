//===- FoldedLayout.cpp - reading the folded permutations back ------------===//
//
// The numeric driver builds permuted weights from what the IR decided, so the
// answer must be complete (no reorder or unmaterialized perm left) and
// unambiguous (one layout per stored tensor unless the caller can cope).
//
//===----------------------------------------------------------------------===//

#include "Permutations.h"
#include "passes/rptq_passes.h"

#include "mlir/IR/Diagnostics.h"

#include <algorithm>

using namespace mlir;

namespace rptq {
namespace {

using Perms = FoldedLayout::Perms;

std::vector<int64_t> toVector(std::optional<ArrayRef<int64_t>> p) {
  if (!p || perm::isIdentity(*p))
    return {};
  return std::vector<int64_t>(p->begin(), p->end());
}

bool samePerms(const Perms &a, const Perms &b) {
  return a.row_perm == b.row_perm && a.col_perm == b.col_perm;
}

bool isIdentity(const Perms &p) {
  return p.row_perm.empty() && p.col_perm.empty();
}

struct Layout {
  Perms perms;
  WeightOp op; // the first op read in this layout, for diagnostics
};

LogicalResult checkFullyFolded(ModuleOp module) {
  bool ok = true;
  module.walk([&](Operation *op) {
    if (isa<ReorderOp>(op)) {
      op->emitError("reorder left in the module; the layout is incomplete "
                    "until foldChannelReorders succeeds");
      ok = false;
    } else if (auto qp = dyn_cast<QuantPointOp>(op); qp && qp.getPerm()) {
      qp.emitError("quant point still has a perm; run foldChannelReorders "
                   "before reading the layout");
      ok = false;
    }
  });
  return success(ok);
}

LogicalResult collectWeights(ModuleOp module, bool allowMultiLayout,
                             FoldedLayout &out) {
  std::map<std::string, std::vector<Layout>> byName;
  module.walk([&](WeightOp w) {
    Layout l{{toVector(w.getRowPerm()), toVector(w.getColPerm())}, w};
    std::vector<Layout> &seen = byName[w.getName().str()];
    if (std::none_of(seen.begin(), seen.end(), [&](const Layout &s) {
          return samePerms(s.perms, l.perms);
        }))
      seen.push_back(l);
  });
  bool ok = true;
  for (auto &[name, layouts] : byName) {
    if (layouts.size() == 1) {
      if (!isIdentity(layouts[0].perms))
        out.weights[name] = layouts[0].perms;
      continue;
    }
    if (allowMultiLayout) {
      std::vector<Perms> &all = out.multi_layout_weights[name];
      for (const Layout &l : layouts)
        all.push_back(l.perms);
      continue;
    }
    InFlightDiagnostic d = layouts[1].op.emitError()
                           << "weight '" << name << "' is read in "
                           << layouts.size()
                           << " different layouts; one permuted copy cannot "
                              "serve them all";
    d.attachNote(layouts[0].op.getLoc()) << "first layout here";
    ok = false;
  }
  return success(ok);
}

LogicalResult collectWriteIndices(ModuleOp module, FoldedLayout &out) {
  bool ok = true;
  module.walk([&](LayerNormOp ln) {
    std::vector<int64_t> index = toVector(ln.getWriteIndex());
    if (index.empty())
      return;
    bool feedsPoint = false;
    for (Operation *user : ln->getUsers()) {
      auto qp = dyn_cast<QuantPointOp>(user);
      if (!qp)
        continue;
      feedsPoint = true;
      auto key = std::make_pair(qp.getLayerAttr().getInt(),
                                qp.getPoint().str());
      auto [it, inserted] = out.norm_write_index.emplace(key, index);
      if (!inserted && it->second != index) {
        qp.emitError() << "quant point (" << key.first << ", " << key.second
                       << ") is fed by layer norms with different write "
                          "indices";
        ok = false;
      }
    }
    if (!feedsPoint) {
      ln.emitError("layer norm with a write_index feeds no quant point");
      ok = false;
    }
  });
  return success(ok);
}

} // namespace

QuantPointOp findQuantPoint(ModuleOp module, int64_t layer, StringRef point) {
  QuantPointOp found;
  module.walk([&](QuantPointOp qp) {
    if (qp.getLayerAttr().getInt() == layer && qp.getPoint() == point) {
      found = qp;
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return found;
}

FailureOr<FoldedLayout> extractFoldedLayout(ModuleOp module,
                                            bool allowMultiLayout) {
  FoldedLayout out;
  if (failed(checkFullyFolded(module)) ||
      failed(collectWeights(module, allowMultiLayout, out)) ||
      failed(collectWriteIndices(module, out)))
    return failure();
  return out;
}

} // namespace rptq
