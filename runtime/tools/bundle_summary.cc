#include "tools/bundle_summary.h"

#include <cinttypes>
#include <cstdio>
#include <sstream>

#include "bundle/fatbin.h"
#include "bundle/printable.h"

namespace rptq::bundle {

using nlohmann::json;

namespace {

std::string str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

// What a fatbin section holds, each cubin's architecture read from its own ELF header.
json fatbin_contents(const LoadedBundle& bundle, const KernelSection& k) {
  json out = json::array();
  try {
    const ByteView code = bundle.span(*k.code());
    for (const FatbinEntry& e : parse_fatbin(code.data, code.size, "fatbin")) {
      const std::string arch = std::to_string(e.sm) + (e.arch_specific ? "a" : "");
      std::string d = e.kind == FatbinEntry::Ptx ? "compute_" + arch + " ptx" : "sm_" + arch + " cubin";
      if (e.compressed) {
        d += " (compressed)";  // opaque without zstd: a compressed cubin's ELF header goes unchecked
      } else if (e.kind == FatbinEntry::Elf) {
        const int elf_sm = cubin_sm(e.data, e.size, "cubin");
        d += " (ELF: sm_" + std::to_string(elf_sm) + (elf_sm == e.sm ? ")" : ", mismatch)");
      }
      out.push_back(d);
    }
  } catch (const Error& e) {
    out.push_back(std::string("unreadable: ") + e.what());
  }
  return out;
}

template <class E, class F>
std::string enum_name(E e, F name_of) {
  const char* n = name_of(e);
  return n && *n ? n : "?" + std::to_string(static_cast<unsigned>(e));
}

json act_name(int32_t act) {
  if (act < 0) return nullptr;
  return enum_name(static_cast<ActPoint>(act), EnumNameActPoint);
}

json linear_summary(const std::string& name, const QuantLinear* q) {
  return {
      {"name", name},           {"bits", q->bits()},     {"group_size", q->group_size()}, {"out", q->out_features()},
      {"in", q->in_features()}, {"bias", q->bias() >= 0}};
}

json config_summary(const ModelConfig& c) {
  return {{"vocab_size", c.vocab_size()},
          {"hidden_size", c.hidden_size()},
          {"num_layers", c.num_layers()},
          {"num_heads", c.num_heads()},
          {"ffn_dim", c.ffn_dim()},
          {"max_positions", c.max_positions()},
          {"word_embed_proj_dim", c.word_embed_proj_dim()},
          {"pre_layer_norm", c.pre_layer_norm()},
          {"final_layer_norm", c.final_layer_norm()},
          {"enable_bias", c.enable_bias()},
          {"layer_norm_affine", c.layer_norm_affine()},
          {"layer_norm_eps", c.layer_norm_eps()},
          {"bos_token_id", c.bos_token_id()},
          {"eos_token_id", c.eos_token_id()},
          {"pad_token_id", c.pad_token_id()}};
}

json layer_summary(const DecoderLayer& l, uint32_t index) {
  json acts = json::array();
  for (const ActQuant* a : *l.acts()) {
    acts.push_back({{"point", enum_name(a->point(), EnumNameActPoint)},
                    {"bits", a->bits()},
                    {"clusters", a->bits() < 16 && a->cluster_end() ? a->cluster_end()->size() : 0}});
  }
  json linears = json::array({linear_summary("q_proj", l.q_proj()), linear_summary("k_proj", l.k_proj()),
                              linear_summary("v_proj", l.v_proj()), linear_summary("out_proj", l.out_proj()),
                              linear_summary("fc1", l.fc1()), linear_summary("fc2", l.fc2())});
  return {{"layer", index}, {"acts", acts}, {"linears", linears}};
}

json op_summary(const Op& op) {
  json flags = json::array();
  const auto bits = static_cast<uint32_t>(op.flags());
  for (uint32_t bit = 1; bit != 0; bit <<= 1) {
    if (bits & bit) flags.push_back(enum_name(static_cast<OpFlags>(bit), EnumNameOpFlags));
  }
  json j = {
      {"kind", enum_name(op.kind(), EnumNameOpKind)},
      {"layer", op.layer()},
      {"inputs", op.inputs() ? json(std::vector<int32_t>(op.inputs()->begin(), op.inputs()->end())) : json::array()},
      {"outputs",
       op.outputs() ? json(std::vector<int32_t>(op.outputs()->begin(), op.outputs()->end())) : json::array()},
      {"act", act_name(op.act())},
      {"flags", flags}};
  if (op.kind() == OpKind::Linear) j["linear"] = enum_name(op.linear(), EnumNameLinearId);
  if (op.kind() == OpKind::NormQuant) j["norm"] = op.norm() == 0 ? "attn" : op.norm() == 1 ? "ffn" : "final";
  if (op.out_act() >= 0) j["out_act"] = act_name(op.out_act());
  return j;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

}  // namespace

json summarize_bundle(const LoadedBundle& bundle, bool list_tensors) {
  const Bundle& b = bundle.meta();
  const FileHeader& h = bundle.header();
  const Model& m = *b.model();
  json s;
  s["file"] = bundle.name();
  s["header"] = {{"schema_version", h.schema_version},
                 {"compiler_version", std::string(h.compiler_version)},
                 {"file_size", h.file_size},
                 {"data_offset", h.data_offset},
                 {"data_size", h.data_size},
                 {"meta_offset", h.meta_offset},
                 {"meta_size", h.meta_size}};
  s["compiler_version"] = str(b.compiler_version());
  s["settings"] = str(b.settings());
  s["method"] = str(b.method());
  s["source"] = str(b.source());
  s["simulated_perplexity"] = b.simulated_perplexity() >= 0 ? json(b.simulated_perplexity()) : json(nullptr);
  s["config"] = config_summary(*m.config());
  s["embeddings"] = m.embed_from_lm_head() ? "lm_head codes" : "f32";

  if (const Tokenizer* t = b.tokenizer()) {
    s["tokenizer"] = {{"vocab", t->vocab()->size()},
                      {"merges", t->merges()->size()},
                      {"special_tokens", t->special_tokens() ? t->special_tokens()->size() : 0},
                      {"bos_id", t->bos_id()},
                      {"eos_id", t->eos_id()},
                      {"pad_id", t->pad_id()}};
  } else {
    s["tokenizer"] = nullptr;
  }

  json layers = json::array();
  for (uint32_t i = 0; i < m.layers()->size(); ++i) layers.push_back(layer_summary(*m.layers()->Get(i), i));
  s["layers"] = layers;
  json outer = json::array();
  if (m.project_in()) outer.push_back(linear_summary("project_in", m.project_in()));
  if (m.project_out()) outer.push_back(linear_summary("project_out", m.project_out()));
  outer.push_back(linear_summary("lm_head", m.lm_head()));
  s["model_linears"] = outer;

  json targets = json::array();
  if (b.kernels()) {
    for (const KernelSection* k : *b.kernels()) {
      json entry_points = json::array();
      if (k->entry_points()) {
        for (const auto* e : *k->entry_points()) entry_points.push_back(e->str());
      }
      targets.push_back({{"target", enum_name(k->target(), EnumNameTarget)},
                         {"format", str(k->format())},
                         {"abi_version", k->abi_version()},
                         {"isa", str(k->isa())},
                         {"bytes", k->code()->size()},
                         {"entry_points", entry_points}});
      if (str(k->format()) == "fatbin") targets.back()["contents"] = fatbin_contents(bundle, *k);
    }
  }
  s["targets"] = targets;

  const MemoryPlan& mem = *b.memory();
  json buffers = json::array();
  for (const Buffer* buf : *mem.buffers()) {
    buffers.push_back({{"name", str(buf->name())},
                       {"dtype", dtype_name(buf->dtype())},
                       {"row_elems", buf->row_elems()},
                       {"offset", buf->offset()}});
  }
  s["memory"] = {{"max_tokens", mem.max_tokens()},
                 {"arena_bytes", mem.arena_bytes()},
                 {"kv_cache_bytes_per_token", mem.kv_cache_bytes_per_token()},
                 {"buffers", buffers}};

  json plan = json::array();
  for (const Op* op : *b.plan()) plan.push_back(op_summary(*op));
  s["plan"] = plan;

  uint64_t tensor_bytes = 0;
  json list = json::array();
  for (const Tensor* t : *b.tensors()) {
    tensor_bytes += t->data()->size();
    if (list_tensors) {
      list.push_back({{"name", str(t->name())},
                      {"dtype", dtype_name(t->dtype())},
                      {"shape", std::vector<int64_t>(t->shape()->begin(), t->shape()->end())},
                      {"offset", t->data()->offset()},
                      {"bytes", t->data()->size()}});
    }
  }
  s["tensors"] = {{"count", b.tensors()->size()}, {"bytes", tensor_bytes}};
  if (list_tensors) s["tensors"]["list"] = list;

  json segments = json::array();
  for (const Segment* seg : *b.segments()) {
    segments.push_back({{"name", str(seg->name())},
                        {"offset", seg->span()->offset()},
                        {"size", seg->span()->size()},
                        {"xxh64", hex64(seg->xxh64())}});
  }
  s["segments"] = segments;
  s["checksums"] = bundle.segment_checksums_verified() ? "verified" : "segments not checked";
  return s;
}

std::string summary_json(const json& summary) {
  return summary.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

namespace {

std::string text(const json& j) { return j.is_string() ? printable(j.get<std::string>(), 200) : j.dump(); }

std::string list(const json& a) {
  std::string s = "[";
  for (size_t i = 0; i < a.size(); ++i) s += (i ? "," : "") + a[i].dump();
  return s + "]";
}

void render_linear(std::ostringstream& o, const json& l) {
  o << " " << text(l["name"]) << " W" << l["bits"].get<int>();
  if (l["bits"].get<int>() < 16 && l["group_size"] != l["in"]) o << "g" << l["group_size"].get<int64_t>();
}

}  // namespace

std::string summary_text(const json& s) {
  std::ostringstream o;
  const json& h = s["header"];
  o << text(s["file"]) << ": rptq bundle, schema " << h["schema_version"] << ", compiled by rptq "
    << text(s["compiler_version"]) << "\n";
  o << "  " << h["file_size"] << " bytes: data " << h["data_size"] << " at " << h["data_offset"] << ", metadata "
    << h["meta_size"] << " at " << h["meta_offset"] << "\n";
  o << "  settings " << text(s["settings"]) << ", method " << text(s["method"]) << ", source " << text(s["source"]);
  if (!s["simulated_perplexity"].is_null()) o << ", simulated perplexity " << s["simulated_perplexity"].get<double>();
  o << "\n";

  const json& c = s["config"];
  o << "model: " << c["num_layers"] << " layers, hidden " << c["hidden_size"] << ", " << c["num_heads"]
    << " heads, ffn " << c["ffn_dim"] << ", vocab " << c["vocab_size"] << ", " << c["max_positions"]
    << " positions, embed dim " << c["word_embed_proj_dim"]
    << (c["pre_layer_norm"].get<bool>() ? ", pre-LN" : ", post-LN")
    << (c["final_layer_norm"].get<bool>() ? ", final LN" : "")
    << (s["embeddings"] == "lm_head codes" ? ", token embeddings = LM head codes" : "") << "\n";
  if (s["tokenizer"].is_null()) {
    o << "tokenizer: none\n";
  } else {
    o << "tokenizer: " << s["tokenizer"]["vocab"] << " tokens, " << s["tokenizer"]["merges"] << " merges, "
      << s["tokenizer"]["special_tokens"] << " special\n";
  }

  o << "layers: activation bits/clusters; linears W<bits>[g<group size>]\n";
  for (const json& l : s["layers"]) {
    o << "  " << l["layer"] << ":";
    for (const json& a : l["acts"]) {
      o << " " << text(a["point"]) << " " << a["bits"];
      if (a["bits"].get<int>() < 16) o << "/" << a["clusters"];
    }
    o << " |";
    for (const json& lin : l["linears"]) render_linear(o, lin);
    o << "\n";
  }
  o << "  model:";
  for (const json& lin : s["model_linears"]) render_linear(o, lin);
  o << "\n";

  o << "targets: "
    << (s["targets"].empty() ? std::string("none (generic CPU kernels)") : std::to_string(s["targets"].size())) << "\n";
  for (const json& t : s["targets"]) {
    o << "  " << text(t["target"]) << " " << text(t["format"]) << " abi " << t["abi_version"] << " isa "
      << text(t["isa"]) << ": " << t["bytes"] << " bytes, " << t["entry_points"].size() << " entry points";
    if (t.contains("contents"))
      for (size_t i = 0; i < t["contents"].size(); ++i) o << (i ? ", " : "; ") << text(t["contents"][i]);
    o << "\n";
  }

  const json& mem = s["memory"];
  o << "memory: max_tokens " << mem["max_tokens"] << ", arena " << mem["arena_bytes"] << " bytes, KV cache "
    << mem["kv_cache_bytes_per_token"] << " bytes/token, " << mem["buffers"].size() << " buffers\n";
  for (size_t i = 0; i < mem["buffers"].size(); ++i) {
    const json& b = mem["buffers"][i];
    o << "  " << i << " " << text(b["name"]) << " " << text(b["dtype"]) << " x" << b["row_elems"] << " @" << b["offset"]
      << "\n";
  }

  o << "plan: " << s["plan"].size() << " ops\n";
  for (size_t i = 0; i < s["plan"].size(); ++i) {
    const json& op = s["plan"][i];
    o << "  " << i << " " << text(op["kind"]);
    if (op["layer"].get<int>() >= 0) o << " L" << op["layer"];
    if (op.contains("linear")) o << " " << text(op["linear"]);
    if (op.contains("norm")) o << " " << text(op["norm"]);
    if (!op["act"].is_null()) o << " act=" << text(op["act"]);
    if (op.contains("out_act")) o << " out_act=" << text(op["out_act"]);
    for (const json& f : op["flags"]) o << " +" << text(f);
    o << " " << list(op["inputs"]) << " -> " << list(op["outputs"]) << "\n";
  }

  o << "tensors: " << s["tensors"]["count"] << ", " << s["tensors"]["bytes"] << " bytes\n";
  if (s["tensors"].contains("list")) {
    for (const json& t : s["tensors"]["list"]) {
      o << "  " << text(t["name"]) << " " << text(t["dtype"]) << " " << list(t["shape"]) << " " << t["bytes"]
        << " bytes @" << t["offset"] << "\n";
    }
  }
  o << "checksums: header, metadata" << (s["checksums"] == "verified" ? " and " : "; not checked: ")
    << s["segments"].size() << " segments" << (s["checksums"] == "verified" ? " verified" : "") << "\n";
  return o.str();
}

}  // namespace rptq::bundle
