#include "hf/checkpoint.h"

#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "hf/json_file.h"
#include "hf/opt_config_json.h"
#include "rptq/error.h"

namespace fs = std::filesystem;

namespace rptq::hf {
namespace {

// Shard names from a *.index.json; each must exist beside the index.
std::vector<std::string> read_shard_index(const std::string& index_path) {
  const nlohmann::json j = read_json_file(index_path, "shard index");
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    fail(index_path, "shard index has no 'weight_map' object");
  std::set<std::string> shards;
  for (const auto& [tensor, file] : j["weight_map"].items()) {
    if (!file.is_string()) fail(index_path, "weight_map entry for '" + tensor + "' is not a file name");
    std::string name = file.get<std::string>();
    if (name.empty() || name.find('/') != std::string::npos || name == "..")
      fail(index_path, "weight_map names an invalid shard file '" + name + "'");
    shards.insert(name);
  }
  if (shards.empty()) fail(index_path, "weight_map is empty");
  std::vector<std::string> paths;
  const fs::path dir = fs::path(index_path).parent_path();
  for (const auto& s : shards) {
    fs::path p = dir / s;
    if (!fs::exists(p)) fail(index_path, "names shard '" + s + "', which does not exist");
    paths.push_back(p.string());
  }
  return paths;
}

}  // namespace

Checkpoint Checkpoint::open(const std::string& dir) {
  if (!fs::is_directory(dir)) fail(dir, "not a directory (expected a Hugging Face OPT checkpoint directory)");
  Checkpoint ck;
  ck.dir_ = dir;
  const fs::path d(dir);
  const fs::path config = d / "config.json";
  if (!fs::exists(config)) fail(config.string(), "missing: a checkpoint directory needs config.json");
  ck.config_ = read_opt_config(config.string());

  bool safetensors = true;
  if (fs::exists(d / "model.safetensors")) {
    ck.files_ = {(d / "model.safetensors").string()};
  } else if (fs::exists(d / "model.safetensors.index.json")) {
    ck.files_ = read_shard_index((d / "model.safetensors.index.json").string());
  } else if (fs::exists(d / "pytorch_model.bin")) {
    ck.files_ = {(d / "pytorch_model.bin").string()};
    safetensors = false;
  } else if (fs::exists(d / "pytorch_model.bin.index.json")) {
    ck.files_ = read_shard_index((d / "pytorch_model.bin.index.json").string());
    safetensors = false;
  } else {
    fail(dir, "no weights found (expected model.safetensors, model.safetensors.index.json, pytorch_model.bin or "
              "pytorch_model.bin.index.json)");
  }
  for (const auto& f : ck.files_) {
    if (safetensors)
      read_safetensors(f, ck.tensors_);
    else
      read_torch_bin(f, ck.tensors_);
  }

  for (const auto& [name, shape] : ck.expected_parameters()) {
    const TensorRef* t = ck.find(name);
    if (!t) fail(dir, "weights have no tensor '" + name + "' (expected shape " + shape_text(shape) + ")");
    const std::string where = t->file ? t->file->path() : dir;
    if (t->shape != shape)
      fail(where, "tensor '" + t->name + "' has shape " + shape_text(t->shape) + ", expected " + shape_text(shape));
    if (t->dtype == DType::Unsupported)
      fail(where, "tensor '" + t->name + "' has dtype " + t->dtype_text + "; only F32, F16 and BF16 are supported");
  }
  return ck;
}

const TensorRef* Checkpoint::find(const std::string& canonical) const {
  for (const std::string& prefix : {std::string("model."), std::string()}) {
    auto it = tensors_.find(prefix + canonical);
    if (it != tensors_.end()) return &it->second;
  }
  if (canonical == "lm_head.weight" && config_.tie_word_embeddings) return find("decoder.embed_tokens.weight");
  return nullptr;
}

bool Checkpoint::has(const std::string& canonical) const { return find(canonical) != nullptr; }

std::string Checkpoint::name() const {
  std::string d = dir_;
  while (d.size() > 1 && d.back() == '/') d.pop_back();
  const size_t slash = d.rfind('/');
  return slash == std::string::npos ? d : d.substr(slash + 1);
}

const TensorRef& Checkpoint::get(const std::string& canonical) const {
  const TensorRef* t = find(canonical);
  if (!t) fail(dir_, "weights have no tensor '" + canonical + "'");
  return *t;
}

std::vector<std::pair<std::string, std::vector<int64_t>>> Checkpoint::expected_parameters() const {
  const OptConfig& c = config_;
  std::vector<std::pair<std::string, std::vector<int64_t>>> p;
  const int64_t D = c.hidden_size, W = c.word_embed_proj_dim, F = c.ffn_dim;
  p.push_back({"decoder.embed_tokens.weight", {c.vocab_size, W}});
  p.push_back({"decoder.embed_positions.weight", {c.max_positions + OptConfig::kPositionOffset, D}});
  if (c.has_projections()) {
    p.push_back({"decoder.project_in.weight", {D, W}});
    p.push_back({"decoder.project_out.weight", {W, D}});
  }
  auto layer_norm = [&](const std::string& n, int64_t dim) {
    if (!c.layer_norm_affine) return;
    p.push_back({n + ".weight", {dim}});
    p.push_back({n + ".bias", {dim}});
  };
  auto linear = [&](const std::string& n, int64_t out, int64_t in) {
    p.push_back({n + ".weight", {out, in}});
    if (c.enable_bias) p.push_back({n + ".bias", {out}});
  };
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string pre = "decoder.layers." + std::to_string(l) + ".";
    linear(pre + "self_attn.q_proj", D, D);
    linear(pre + "self_attn.k_proj", D, D);
    linear(pre + "self_attn.v_proj", D, D);
    linear(pre + "self_attn.out_proj", D, D);
    layer_norm(pre + "self_attn_layer_norm", D);
    linear(pre + "fc1", F, D);
    linear(pre + "fc2", D, F);
    layer_norm(pre + "final_layer_norm", D);
  }
  if (c.final_layer_norm) layer_norm("decoder.final_layer_norm", D);
  p.push_back({"lm_head.weight", {c.vocab_size, W}});
  return p;
}

}  // namespace rptq::hf
