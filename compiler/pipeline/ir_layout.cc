#include "pipeline/ir_layout.h"

#include <mlir/IR/Diagnostics.h>
#include <mlir/Pass/PassManager.h>

#include "passes/rptq_passes.h"
#include "pipeline/layer_tensors.h"
#include "rptq/error.h"

namespace rptq::pipeline {
namespace {

// Collects the passes' diagnostics so a failure becomes one rptq::Error with their text.
class DiagnosticsToError {
 public:
  explicit DiagnosticsToError(mlir::MLIRContext* ctx)
      : handler_(ctx, [this](mlir::Diagnostic& d) {
          if (d.getSeverity() == mlir::DiagnosticSeverity::Error) {
            if (!text_.empty()) text_ += "; ";
            text_ += d.str();
          }
          return mlir::success();
        }) {}
  [[noreturn]] void raise(const std::string& what) const {
    fail("IR", what + (text_.empty() ? std::string() : ": " + text_));
  }

 private:
  std::string text_;
  mlir::ScopedDiagnosticHandler handler_;
};

mlir::DenseI64ArrayAttr i64_array(mlir::MLIRContext* ctx, const std::vector<int64_t>& v) {
  return mlir::DenseI64ArrayAttr::get(ctx, v);
}

QuantPointOp point_op(mlir::ModuleOp module, int64_t layer, size_t p) {
  const char* name = activation_point_name(static_cast<ActivationPoint>(p));
  QuantPointOp qp = findQuantPoint(module, layer, name);
  if (!qp)
    fail("IR", "layer " + std::to_string(layer) + " has no quantization point '" + name +
                   "' (was --rptq-mark-quant-points run?)");
  return qp;
}

}  // namespace

void mark_quant_points(mlir::ModuleOp module) {
  DiagnosticsToError diags(module.getContext());
  mlir::PassManager pm(module.getContext());
  pm.addPass(createMarkQuantPointsPass());
  if (mlir::failed(pm.run(module))) diags.raise("marking quantization points failed");
}

LayerLayout fold_layer_orders(mlir::ModuleOp module, int64_t layer,
                              const std::array<std::vector<int64_t>, kNumActivationPoints>& orders) {
  DiagnosticsToError diags(module.getContext());
  for (size_t p = 0; p < kNumActivationPoints; ++p)
    if (!orders[p].empty()) point_op(module, layer, p).setPermAttr(i64_array(module.getContext(), orders[p]));
  if (mlir::failed(foldChannelReorders(module)))
    diags.raise("layer " + std::to_string(layer) + ": the channel orders cannot be folded");
  mlir::FailureOr<FoldedLayout> folded = extractFoldedLayout(module);
  if (mlir::failed(folded)) diags.raise("layer " + std::to_string(layer) + ": reading the folded layout failed");

  LayerLayout out;
  const std::string prefix = layer_prefix(layer);
  for (auto& [name, perms] : folded->weights)
    if (name.compare(0, prefix.size(), prefix) == 0) out.weights[name] = {perms.row_perm, perms.col_perm};
  auto norm_index = [&](ActivationPoint p) {
    auto it = folded->norm_write_index.find({layer, activation_point_name(p)});
    return it == folded->norm_write_index.end() ? std::vector<int64_t>{} : it->second;
  };
  out.attn_norm_write_index = norm_index(ActivationPoint::kAttnNormOut);
  out.ffn_norm_write_index = norm_index(ActivationPoint::kFfnNormOut);
  return out;
}

void annotate_quant_points(mlir::ModuleOp module, int64_t layer,
                           const std::array<quant::ActQuantSpec, kNumActivationPoints>& specs) {
  mlir::MLIRContext* ctx = module.getContext();
  for (size_t p = 0; p < kNumActivationPoints; ++p) {
    const quant::ActQuantSpec& s = specs[p];
    if (!s.enabled()) continue;
    QuantPointOp qp = point_op(module, layer, p);
    std::vector<float> scales;
    std::vector<int64_t> zeros;
    for (const AffineQuant& q : s.clusters) {
      scales.push_back(q.scale);
      zeros.push_back(q.zero);
    }
    qp.setClusterSizesAttr(i64_array(ctx, s.cluster_sizes));
    qp.setBitsAttr(mlir::IntegerAttr::get(mlir::IntegerType::get(ctx, 64), s.bits));
    qp.setScalesAttr(mlir::DenseF32ArrayAttr::get(ctx, scales));
    qp.setZeroPointsAttr(i64_array(ctx, zeros));
  }
}

}  // namespace rptq::pipeline
