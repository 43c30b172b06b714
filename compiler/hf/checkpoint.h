// An OPT checkpoint directory in Hugging Face layout: config.json plus weights as
// model.safetensors, sharded safetensors (model.safetensors.index.json), pytorch_model.bin or
// sharded bins (pytorch_model.bin.index.json). Weights stay memory-mapped.
#pragma once

#include <string>
#include <vector>

#include "hf/tensor_ref.h"
#include "rptq/opt_config.h"

namespace rptq::hf {

class Checkpoint {
 public:
  // Throws rptq::Error naming the file and the problem for anything missing or malformed, including
  // any expected OPT parameter that is absent or has the wrong shape.
  static Checkpoint open(const std::string& dir);

  const std::string& dir() const { return dir_; }
  // The directory's last path component (e.g. "opt-125m"), for reports and bundle metadata.
  std::string name() const;
  const OptConfig& config() const { return config_; }
  const std::vector<std::string>& weight_files() const { return files_; }

  // Parameters by canonical name ("decoder.layers.0.fc1.weight", "lm_head.weight"); the
  // "model." prefix HF writes is accepted, and a missing lm_head resolves to the tied embedding.
  bool has(const std::string& canonical) const;
  const TensorRef& get(const std::string& canonical) const;
  // Canonical names and shapes of every parameter the architecture needs, in model order.
  std::vector<std::pair<std::string, std::vector<int64_t>>> expected_parameters() const;

 private:
  const TensorRef* find(const std::string& canonical) const;
  std::string dir_;
  OptConfig config_;
  std::vector<std::string> files_;
  TensorMap tensors_;
};

}  // namespace rptq::hf
