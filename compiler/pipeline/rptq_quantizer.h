// The RPTQ driver: calibrates, clusters, folds and quantizes an OPT model one decoder layer at a
// time, each layer calibrated on the outputs of the already-quantized layers before it.
#pragma once

#include <array>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <mlir/IR/BuiltinOps.h>

#include "pipeline/calibration_data.h"
#include "pipeline/quant_settings.h"
#include "quant/act_quant.h"
#include "quant/weight_quant.h"
#include "reference/float_executor.h"

namespace rptq::pipeline {

struct QuantizedLinear {
  std::string name;              // checkpoint name of the weight, e.g. "decoder.layers.0.fc1.weight"
  quant::QuantizedWeight weight; // codes in the folded (permuted) row/column order
};

struct QuantizedLayer {
  std::array<quant::ActQuantSpec, kNumActivationPoints> act;  // by ActivationPoint
  std::array<quant::ChannelRange, kNumActivationPoints> range;  // calibration ranges, original order
  std::vector<QuantizedLinear> linears;
  // Relative quantization error of each point on the first calibration sample, with the chosen
  // clusters and with the two baselines' (for the report).
  std::array<double, kNumActivationPoints> error_chosen{}, error_no_reorder{}, error_per_tensor{};
};

struct QuantizedModel {
  QuantSettings settings;
  // The folded model with dequantized weights: what the kernels compute, runnable by the
  // reference executor together with simulator().
  std::shared_ptr<OptWeights> weights;
  std::vector<QuantizedLayer> layers;
  std::vector<QuantizedLinear> lm_head;  // empty: the head stays float
  bool embed_from_lm_head = false;        // token embeddings are the quantized head's rows (tied)
  double max_fold_error = 0;  // max over layers of the folded-vs-original float layer output error

  // Fake-quantizes every quantization point exactly as the kernels quantize it (integer codes,
  // per-cluster scale and zero point, channels in the folded order).
  ActivationObserver simulator() const;
};

struct QuantizeHooks {
  // Called as each stage starts a layer and once with done == total at the end.
  std::function<void(const std::string& stage, int64_t done, int64_t total)> progress;
  // Called with the module after "mark-quant-points", after the last layer's "fold-reorders" and
  // after "quantize" (the annotated result).
  std::function<void(const std::string& pass, mlir::ModuleOp module)> ir_after;
  // Called once per layer when it is final: its quantizers and codes, and its folded float
  // tensors (biases, LayerNorm parameters, unquantized weights). A bundle emitter streams them out.
  std::function<void(int64_t layer, const QuantizedLayer& quantized, const OptLayerWeights& folded)> layer_done;
  // false: each layer's folded/dequantized copies and codes are released after layer_done, so
  // compile memory holds one layer's; the returned model's `weights` then has empty layers and
  // cannot be evaluated, and its `layers` keep only the activation quantizers.
  bool keep_model = true;
};

// max |got - want| / max |want| (max |got - want| when want is all zero): how far a float result
// is from its reference, insensitive to entries near zero.
double max_relative_difference(const std::vector<float>& got, const std::vector<float>& want);

// `module` is the imported model; it is annotated in place (quantization points with their
// clusters and scales, weights and LayerNorms with their folded permutations).
QuantizedModel quantize_model(mlir::ModuleOp module, std::shared_ptr<const OptWeights> float_weights,
                              const QuantSettings& settings, const CalibrationSet& calibration,
                              const QuantizeHooks& hooks = {});

}  // namespace rptq::pipeline
