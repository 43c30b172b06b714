//===- rptq_passes.h - RPTQ channel-reorder passes and their API -*- C++ -*-===//
//
// The IR side of RPTQ's channel reordering (library RptqPasses). A numeric
// driver marks the quantized activations once, then per layer sets the
// clustering orders on that layer's quant points, folds them, and reads back
// the weight permutations and LayerNorm write indices it must apply:
//
//   registerRptqPasses();                        // rptq-opt only
//   mark (createMarkQuantPointsPass) once;
//   findQuantPoint(m, l, "query").setPermAttr(...);   // for each point
//   if (failed(foldChannelReorders(m))) ...      // diagnostics were emitted
//   FailureOr<FoldedLayout> layout = extractFoldedLayout(m);
//
// Conventions (all exact):
//   quant_point perm P, reorder perm P: position j holds channel P[j],
//     y[..., j] = x[..., P[j]].
//   weight row_perm R / col_perm C: result[i][j] = stored[R[i]][C[j]].
//   layer_norm write_index w: normalized input channel c goes to column w[c];
//     gamma/beta are in column (output) order. Reordering a layer norm's
//     output by P gives w = inverse(P) and gamma/beta with row_perm P.
//   A linear reading an activation reordered by P gets col_perm P; a linear
//   (and its bias) whose output is reordered by P gets row_perm P.
//
// Diagnostics go to the MLIRContext's handler (install a
// ScopedDiagnosticHandler to collect them). Built with -fno-exceptions; it
// never throws, so it may be called from code that uses exceptions.
//
//===----------------------------------------------------------------------===//

#ifndef RPTQ_PASSES_RPTQ_PASSES_H
#define RPTQ_PASSES_RPTQ_PASSES_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Support/LogicalResult.h"
#include "rptq/Dialect/RptqOps.h"
#include "llvm/ADT/StringRef.h"

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace rptq {

/// Registers the passes below and the pipeline --rptq-fold-channel-reorders
/// (materialize + fold) with the global pass registry.
void registerRptqPasses();

/// --rptq-mark-quant-points (idempotent).
std::unique_ptr<mlir::Pass> createMarkQuantPointsPass();
/// --rptq-materialize-reorders.
std::unique_ptr<mlir::Pass> createMaterializeReordersPass();
/// --rptq-fold-reorders: fails if a reorder cannot be folded.
std::unique_ptr<mlir::Pass> createFoldReordersPass();
/// Lit tests only: --rptq-test-assign-perms, --rptq-test-set-perm,
/// --rptq-test-print-folded-layout.
std::unique_ptr<mlir::Pass> createTestAssignPermsPass();
std::unique_ptr<mlir::Pass> createTestSetPermPass();
std::unique_ptr<mlir::Pass> createTestPrintFoldedLayoutPass();

/// The quant point of decoder layer `layer` named `point` ("attn_norm_out",
/// "query", ...), or a null op if the module has none.
QuantPointOp findQuantPoint(mlir::ModuleOp module, int64_t layer,
                            llvm::StringRef point);

/// Verifies the module, then materializes every quant point's perm and folds
/// the reorders away. Fails, with diagnostics emitted, if the module does not
/// verify or a reorder remains (e.g. a head-crossing query/key order); the
/// module then still holds the reorders that could not be folded and should
/// be discarded. Quant points without a perm and earlier folds are left as
/// they are, so it can run once per layer.
mlir::LogicalResult foldChannelReorders(mlir::ModuleOp module);

/// What the folding made of the channel orders, for building permuted
/// weights. Permutations use the conventions above; empty means identity.
struct FoldedLayout {
  struct Perms {
    std::vector<int64_t> row_perm, col_perm;
  };
  /// Every weight name read in exactly one layout that is not the identity.
  std::map<std::string, Perms> weights;
  /// Names read in several layouts (each distinct layout once, identity
  /// included, in IR order): e.g. a tied embedding whose lm_head use was
  /// permuted, or the gamma of a post-LN layer norm that had to be cloned.
  /// Only filled with allowMultiLayout; a single permuted copy cannot serve
  /// such a name.
  std::map<std::string, std::vector<Perms>> multi_layout_weights;
  /// write_index of each layer norm that has a non-identity one, keyed by the
  /// (layer, point) of the quant point its result feeds.
  std::map<std::pair<int64_t, std::string>, std::vector<int64_t>>
      norm_write_index;
};

/// Reads the folded layout of the whole module. Fails (with diagnostics) if a
/// reorder or an unmaterialized perm remains, if a layer norm with a
/// write_index feeds no quant point, or, unless allowMultiLayout, if a weight
/// name is read in two different layouts.
mlir::FailureOr<FoldedLayout> extractFoldedLayout(mlir::ModuleOp module,
                                                  bool allowMultiLayout = false);

} // namespace rptq

#endif // RPTQ_PASSES_RPTQ_PASSES_H
