#include "emit/bundle_emitter.h"

#include <algorithm>
#include <future>
#include <map>
#include <mutex>

#include "bundle/bundle_writer.h"
#include "cpu/host_compiler.h"
#include "cpu/native_source.h"
#include "cuda/cuda_source.h"
#include "cuda/nvcc.h"
#include "engine/device_steps.h"
#include "engine/native_steps.h"
#include "kernels/cuda/abi.h"
#include "kernels/native/abi.h"
#include "pipeline/layer_tensors.h"
#include "plan/execution_plan.h"
#include "rptq/error.h"

namespace rptq::codegen {
namespace {

namespace fb = flatbuffers;
using bundle::DType;
using pipeline::QuantizedLayer;
using pipeline::QuantizedModel;

// Two codes per byte, even column in the low nibble (bundle.fbs, DType.U4).
std::vector<uint8_t> pack_u4(const std::vector<uint8_t>& codes, int64_t rows, int64_t cols) {
  const int64_t row_bytes = (cols + 1) / 2;
  std::vector<uint8_t> out(static_cast<size_t>(rows * row_bytes), 0);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c)
      out[static_cast<size_t>(r * row_bytes + c / 2)] |=
          static_cast<uint8_t>(codes[static_cast<size_t>(r * cols + c)] << ((c & 1) * 4));
  return out;
}

// What native code generation needs of one layer, kept after the layer's tensors are written
// (and its weights released): shapes, bits and the activation quantizers.
struct LayerFacts {
  std::array<std::vector<int32_t>, 7> end, zero;
  std::array<std::vector<float>, 7> scale;
  engine::LayerBinding binding;  // pointers into the vectors above; no weight data
};

// native_steps() reads only whether a bias or norm parameter is present, never its values.
const float kPresent[1] = {0.0f};
const int32_t kPresentIndex[1] = {0};

}  // namespace

class BundleEmitter::Impl {
 public:
  Impl(const std::string& path, const OptWeights& W, const EmitOptions& o) : w_(path), c_(W.config), options_(o) {
    const int64_t D = c_.hidden_size;
    // Tensors stream to the file as they are added; tables are built from their indices. The
    // token embeddings wait for finish(): they may turn out to be the quantized head's rows.
    positions_ =
        f32("decoder.embed_positions.weight", W.embed_positions, {c_.max_positions + OptConfig::kPositionOffset, D});
    if (c_.has_projections()) {
      project_in_ = float_linear("decoder.project_in", W.project_in);
      project_out_ = float_linear("decoder.project_out", W.project_out);
    }
  }

  void add_layer(int64_t l, const QuantizedLayer& ql, const OptLayerWeights& L) {
    if (l != static_cast<int64_t>(layers_.size())) fail("emit", "layers must be added in order");
    layers_.push_back(layer(l, ql, L));
    facts_.push_back(layer_facts(l, ql, L));
    LayerActBits b{};
    for (size_t p = 0; p < b.size(); ++p) b[p] = ql.act[p].enabled() ? ql.act[p].bits : 16;
    act_bits_.push_back(b);
  }

  void finish(const QuantizedModel& qm, const BpeTokenizerSpec& tok, double simulated_perplexity) {
    const OptWeights& W = *qm.weights;
    const int64_t E = c_.word_embed_proj_dim, V = c_.vocab_size;
    if (static_cast<int64_t>(layers_.size()) != c_.num_layers)
      fail("emit", std::to_string(layers_.size()) + " of " + std::to_string(c_.num_layers) + " layers were emitted");
    fb::Offset<bundle::LayerNorm> final_norm;
    if (c_.final_layer_norm) final_norm = norm("decoder.final_layer_norm", W.final_norm);
    // Token embeddings: the quantized head's rows when tied to it, else their own F32 tensor.
    if (qm.embed_from_lm_head && qm.lm_head.empty()) fail("emit", "embeddings from an LM head that is not quantized");
    int32_t embed = -1;
    if (!qm.embed_from_lm_head) embed = f32("decoder.embed_tokens.weight", W.embed_tokens, {V, E});
    // A float head that is tied to the embedding shares its bytes.
    fb::Offset<bundle::QuantLinear> lm_head;
    if (!qm.lm_head.empty()) {
      QuantizedLayer head;
      head.linears = qm.lm_head;
      lm_head = linear("lm_head", LinearWeights{W.lm_head, nullptr, V, E}, head);
    } else {
      const int32_t head = W.lm_head == W.embed_tokens ? embed : f32("lm_head.weight", W.lm_head, {V, E});
      lm_head = bundle::CreateQuantLinearDirect(fbb(), "lm_head", V, E, 16, E, -1, -1, -1, head, -1);
    }
    auto config = bundle::CreateModelConfig(fbb(), V, c_.hidden_size, c_.num_layers, c_.num_heads, c_.ffn_dim,
                                            c_.max_positions, E, c_.pre_layer_norm, c_.final_layer_norm,
                                            c_.enable_bias, c_.layer_norm_affine, c_.layer_norm_eps,
                                            static_cast<int32_t>(c_.bos_token_id), static_cast<int32_t>(c_.eos_token_id),
                                            static_cast<int32_t>(c_.pad_token_id));
    auto model = bundle::CreateModelDirect(fbb(), config, embed, positions_, project_in_, project_out_, final_norm,
                                           lm_head, &layers_, qm.embed_from_lm_head);
    bundle::BundleRoot root;
    root.compiler_version = options_.compiler_version;
    root.settings = qm.settings.name();
    root.method = pipeline::granularity_name(qm.settings.granularity);
    root.source = options_.source;
    root.model = model;
    root.tokenizer = tokenizer(tok);
    const ExecutionPlan ep = plan(std::min(options_.max_tokens, c_.max_positions), root);
    model_code(binding_facts(ep, qm));
    root.simulated_perplexity = simulated_perplexity;
    w_.commit(root);
  }

 private:
  fb::FlatBufferBuilder& fbb() { return w_.builder(); }

  int32_t f32(const std::string& name, const float* data, std::vector<int64_t> shape) {
    int64_t n = 1;
    for (int64_t d : shape) n *= d;
    return w_.add_tensor(name, DType::F32, shape, data, static_cast<size_t>(n) * sizeof(float));
  }

  fb::Offset<bundle::QuantLinear> float_linear(const std::string& name, const LinearWeights& lw) {
    const int32_t weight = f32(name + ".weight", lw.weight, {lw.out, lw.in});
    const int32_t bias = lw.bias ? f32(name + ".bias", lw.bias, {lw.out}) : -1;
    return bundle::CreateQuantLinearDirect(fbb(), name.c_str(), lw.out, lw.in, 16, lw.in, -1, -1, -1, weight, bias);
  }

  fb::Offset<bundle::QuantLinear> linear(const std::string& name, const LinearWeights& lw, const QuantizedLayer& ql) {
    auto q = std::find_if(ql.linears.begin(), ql.linears.end(),
                          [&](const pipeline::QuantizedLinear& x) { return x.name == name + ".weight"; });
    if (q == ql.linears.end()) return float_linear(name, lw);
    const quant::QuantizedWeight& qw = q->weight;
    if (qw.out != lw.out || qw.in != lw.in) fail(name, "quantized weight shape differs from the model's");
    const int64_t groups = qw.in / qw.group_size;
    const int32_t codes = qw.bits <= 4
                              ? w_.add_tensor(name + ".codes", DType::U4, {qw.out, qw.in}, pack_u4(qw.codes, qw.out, qw.in))
                              : w_.add_tensor(name + ".codes", DType::U8, {qw.out, qw.in}, qw.codes);
    const int32_t scale = w_.add_tensor(name + ".scale", DType::F32, {qw.out, groups}, qw.scales);
    std::vector<uint8_t> zeros(qw.zeros.size());
    for (size_t i = 0; i < zeros.size(); ++i) {
      if (qw.zeros[i] < 0 || qw.zeros[i] > 255) fail(name, "zero point outside 0..255");
      zeros[i] = static_cast<uint8_t>(qw.zeros[i]);
    }
    const int32_t zero = w_.add_tensor(name + ".zero", DType::U8, {qw.out, groups}, zeros);
    const int32_t bias = lw.bias ? f32(name + ".bias", lw.bias, {lw.out}) : -1;
    return bundle::CreateQuantLinearDirect(fbb(), name.c_str(), qw.out, qw.in, qw.bits, qw.group_size, codes, scale,
                                           zero, -1, bias);
  }

  fb::Offset<bundle::LayerNorm> norm(const std::string& name, const LayerNormWeights& n) {
    const int64_t D = c_.hidden_size;
    const int32_t gamma = n.gamma ? f32(name + ".weight", n.gamma, {D}) : -1;
    const int32_t beta = n.beta ? f32(name + ".bias", n.beta, {D}) : -1;
    int32_t write_index = -1;
    if (n.write_index) {
      std::vector<int32_t> wi(n.write_index, n.write_index + D);
      write_index = w_.add_tensor(name + ".write_index", DType::I32, {D}, wi);
    }
    return bundle::CreateLayerNorm(fbb(), gamma, beta, write_index);
  }

  fb::Offset<bundle::ActQuant> act(int64_t l, size_t p, const quant::ActQuantSpec& s) {
    std::vector<int32_t> order(s.order.begin(), s.order.end()), end, zero;
    std::vector<float> scale;
    if (s.enabled()) {
      int32_t at = 0;
      for (int64_t size : s.cluster_sizes) end.push_back(at += static_cast<int32_t>(size));
      for (const AffineQuant& q : s.clusters) {
        scale.push_back(q.scale);
        zero.push_back(q.zero);
      }
    }
    return bundle::CreateActQuantDirect(fbb(), static_cast<int32_t>(l), static_cast<bundle::ActPoint>(p),
                                        s.enabled() ? s.bits : 16, &order, &end, &scale, &zero);
  }

  fb::Offset<bundle::DecoderLayer> layer(int64_t l, const QuantizedLayer& ql, const OptLayerWeights& L) {
    const std::string p = pipeline::layer_prefix(l);
    auto attn_norm = norm(p + "self_attn_layer_norm", L.attn_norm);
    auto q = linear(p + "self_attn.q_proj", L.q, ql);
    auto k = linear(p + "self_attn.k_proj", L.k, ql);
    auto v = linear(p + "self_attn.v_proj", L.v, ql);
    auto out = linear(p + "self_attn.out_proj", L.out, ql);
    auto ffn_norm = norm(p + "final_layer_norm", L.ffn_norm);
    auto fc1 = linear(p + "fc1", L.fc1, ql);
    auto fc2 = linear(p + "fc2", L.fc2, ql);
    std::vector<fb::Offset<bundle::ActQuant>> acts;
    for (size_t i = 0; i < ql.act.size(); ++i) acts.push_back(act(l, i, ql.act[i]));
    return bundle::CreateDecoderLayerDirect(fbb(), attn_norm, q, k, v, out, ffn_norm, fc1, fc2, &acts);
  }

  fb::Offset<bundle::Tokenizer> tokenizer(const BpeTokenizerSpec& t) {
    std::vector<std::string> vocab(t.vocab.size());
    std::vector<bool> seen(t.vocab.size(), false);
    for (const auto& [text, id] : t.vocab) {
      if (id < 0 || static_cast<size_t>(id) >= vocab.size() || seen[static_cast<size_t>(id)])
        fail("tokenizer", "vocabulary ids are not exactly 0.." + std::to_string(vocab.size() - 1));
      vocab[static_cast<size_t>(id)] = text;
      seen[static_cast<size_t>(id)] = true;
    }
    if (static_cast<int64_t>(vocab.size()) > c_.vocab_size)
      fail("tokenizer", "has " + std::to_string(vocab.size()) + " tokens, more than the model's vocabulary of " +
                            std::to_string(c_.vocab_size));
    std::vector<std::string> merges;
    merges.reserve(t.merges.size());
    for (const auto& [a, b] : t.merges) merges.push_back(a + " " + b);
    auto v = fbb().CreateVectorOfStrings(vocab);
    auto m = fbb().CreateVectorOfStrings(merges);
    auto s = fbb().CreateVectorOfStrings(t.special_tokens);
    return bundle::CreateTokenizer(fbb(), v, m, s, t.bos_id, static_cast<int32_t>(c_.eos_token_id),
                                   static_cast<int32_t>(c_.pad_token_id));
  }

  // Shapes, bits and quantizers of a layer, bound as the runtime binds them (engine/model_binding.h).
  std::unique_ptr<LayerFacts> layer_facts(int64_t l, const QuantizedLayer& ql, const OptLayerWeights& L) {
    auto f = std::make_unique<LayerFacts>();
    engine::LayerBinding& b = f->binding;
    auto norm_facts = [](const LayerNormWeights& n, engine::NormBinding& nb) {
      nb.gamma = n.gamma ? kPresent : nullptr;
      nb.beta = n.beta ? kPresent : nullptr;
      nb.write_index = n.write_index ? kPresentIndex : nullptr;
    };
    norm_facts(L.attn_norm, b.attn_norm);
    norm_facts(L.ffn_norm, b.ffn_norm);
    const LinearWeights* lw[] = {&L.q, &L.k, &L.v, &L.out, &L.fc1, &L.fc2};
    const char* names[] = {"self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.out_proj", "fc1",
                           "fc2"};
    for (size_t i = 0; i < b.linear.size(); ++i) {
      cpu::LinearParams& p = b.linear[i];
      p.out = lw[i]->out;
      p.in = lw[i]->in;
      p.bias = lw[i]->bias ? kPresent : nullptr;
      p.bits = 16;
      p.group_size = p.in;
      const std::string name = pipeline::layer_prefix(l) + names[i] + ".weight";
      for (const pipeline::QuantizedLinear& q : ql.linears)
        if (q.name == name) {
          p.bits = q.weight.bits;
          p.group_size = q.weight.group_size;
        }
    }
    for (size_t p = 0; p < b.act.size(); ++p) {
      const quant::ActQuantSpec& s = ql.act[p];
      if (!s.enabled()) continue;
      int32_t at = 0;
      for (int64_t size : s.cluster_sizes) f->end[p].push_back(at += static_cast<int32_t>(size));
      for (const AffineQuant& q : s.clusters) {
        f->scale[p].push_back(q.scale);
        f->zero[p].push_back(q.zero);
      }
      cpu::ActQuantParams& a = b.act[p];
      a.bits = s.bits;
      a.num_clusters = static_cast<int32_t>(f->end[p].size());
      a.cluster_end = f->end[p].data();
      a.scale = f->scale[p].data();
      a.zero = f->zero[p].data();
    }
    return f;
  }

  // The model as the runtime will bind it, without weight data: what code generation reads.
  engine::ModelBinding binding_facts(const ExecutionPlan& ep, const QuantizedModel& qm) const {
    engine::ModelBinding m;
    m.config = c_;
    for (const auto& f : facts_) m.layers.push_back(f->binding);
    for (const PlanOp& op : ep.ops) {
      engine::PlanStep s;
      s.kind = op.kind;
      s.layer = op.layer;
      s.linear = op.linear;
      s.norm = op.norm;
      s.act = op.act;
      s.out_act = op.out_act;
      s.flags = static_cast<uint32_t>(op.flags);
      m.plan.push_back(s);
    }
    if (!qm.embed_from_lm_head) m.embed_tokens = kPresent;
    m.lm_head.out = c_.vocab_size;
    m.lm_head.in = c_.word_embed_proj_dim;
    m.lm_head.group_size = m.lm_head.in;
    if (!qm.lm_head.empty()) {
      m.lm_head.bits = qm.lm_head.front().weight.bits;
      m.lm_head.group_size = qm.lm_head.front().weight.group_size;
    }
    if (c_.final_layer_norm) {
      m.final_norm.gamma = qm.weights->final_norm.gamma ? kPresent : nullptr;
      m.final_norm.beta = qm.weights->final_norm.beta ? kPresent : nullptr;
    }
    return m;
  }

  // Builds the native CPU code for each requested instruction set and the CUDA code for each
  // requested GPU, each into a kernel section: one compiler process per section, side by side;
  // sections are added in a fixed order.
  void model_code(const engine::ModelBinding& m) {
    struct Pending {
      bundle::Target target;
      std::string format, isa;
      int abi;
      std::vector<std::string> entry_points;
      std::future<std::vector<uint8_t>> code;
    };
    std::mutex nvcc_turn;  // before `pending`, whose futures' destructors wait for the tasks using it
    std::vector<Pending> pending;
    const std::vector<engine::NativeStep> steps = engine::native_steps(m);
    // A model with no integer-path step (weight-only quantization) gains nothing from native code.
    const bool native = std::any_of(steps.begin(), steps.end(),
                                    [](const engine::NativeStep& s) { return s.op != engine::NativeOp::Generic; });
    for (const EmitOptions::NativeCode& code : options_.native)
      for (const std::string& isa : code.isas)
        if (native)
          pending.push_back({code.target, "elf-shared-object", isa, RPTQ_NATIVE_ABI_VERSION, {RPTQ_NATIVE_ENTRY_POINT},
                             std::async(std::launch::async, [&, isa] {
                               return build_native_object(native_kernel_source(steps, isa), isa, code.cxx);
                             })});
    std::string cuda_source;
    std::vector<std::string> kernels;
    if (!options_.cuda.empty()) {
      const std::vector<engine::DeviceStep> device = engine::device_steps(m);
      cuda_source = cuda_kernel_source(device, options_.cuda_wgmma);
      kernels = engine::device_kernel_names(device);
    }
    // The nvcc runs go one at a time (each still beside the CPU compilers): two at once gave a
    // different sm_90 fatbin in about one compile in five, one at a time did not. Not fully
    // explained: on 2026-12-07 an sm_90 build beside another process's sm_87 build differed once in
    // 10 (then 0 in 45): its cubin was identical, its compressed PTX entry 784 bytes longer, while
    // nvcc -ptx of the same source gave identical text 12 times out of 12 under the same load.
    for (const EmitOptions::CudaCode& code : options_.cuda)
      pending.push_back({code.target, "fatbin", "sm_" + std::to_string(code.sm), RPTQ_CUDA_ABI_VERSION, kernels,
                         std::async(std::launch::async, [&] {
                           const std::lock_guard<std::mutex> turn(nvcc_turn);
                           return build_cuda_fatbin(cuda_source, code.sm, code.ptx, code.nvcc,
                                                    options_.cuda_wgmma && code.sm == 90);
                         })});
    for (Pending& p : pending) {
      const std::vector<uint8_t> code = p.code.get();
      w_.add_kernel_blob(p.target, p.format, p.abi, p.isa, p.entry_points, code.data(), code.size());
    }
  }

  ExecutionPlan plan(int64_t max_tokens, bundle::BundleRoot& root) {
    const ExecutionPlan ep = build_execution_plan(c_, act_bits_, max_tokens);
    std::vector<fb::Offset<bundle::Op>> ops;
    for (const PlanOp& op : ep.ops)
      ops.push_back(bundle::CreateOpDirect(fbb(), op.kind, op.layer, op.linear, op.norm, op.act, op.out_act, op.flags,
                                           &op.inputs, &op.outputs));
    std::vector<fb::Offset<bundle::Buffer>> buffers;
    for (const PlanBuffer& b : ep.buffers)
      buffers.push_back(bundle::CreateBufferDirect(fbb(), b.name.c_str(), b.dtype, b.row_elems, b.offset));
    root.plan = fbb().CreateVector(ops);
    root.memory = bundle::CreateMemoryPlanDirect(fbb(), ep.max_tokens, ep.arena_bytes, &buffers,
                                                 ep.kv_cache_bytes_per_token);
    return ep;
  }

  bundle::BundleWriter w_;
  const OptConfig c_;
  const EmitOptions options_;
  int32_t positions_ = -1;
  fb::Offset<bundle::QuantLinear> project_in_, project_out_;
  std::vector<fb::Offset<bundle::DecoderLayer>> layers_;
  std::vector<LayerActBits> act_bits_;
  std::vector<std::unique_ptr<LayerFacts>> facts_;  // stable addresses: bindings point into them
};

void EmitOptions::add_targets(const std::vector<targets::TargetInfo>& list, const Compilers& compilers) {
  for (const targets::TargetInfo& t : list) {
    if (t.code == targets::CodeKind::CpuX86_64) native.push_back({bundle::Target::CpuX86_64, t.isas, compilers.host_cxx});
    if (t.code == targets::CodeKind::CpuAarch64)
      native.push_back({bundle::Target::CpuAarch64, t.isas, compilers.aarch64_cxx});
    if (t.cuda.sm == 90 || t.cuda.sm == 87)
      cuda.push_back({t.cuda.sm == 90 ? bundle::Target::CudaSm90 : bundle::Target::CudaSm87, t.cuda.sm, t.cuda.ptx,
                      compilers.nvcc});
    else if (t.cuda.sm != 0)
      fail("--target", t.name + ": the bundle format has no section for sm_" + std::to_string(t.cuda.sm));
  }
}

BundleEmitter::BundleEmitter(const std::string& path, const OptWeights& float_weights, const EmitOptions& options)
    : impl_(std::make_unique<Impl>(path, float_weights, options)) {}
BundleEmitter::~BundleEmitter() = default;

void BundleEmitter::add_layer(int64_t layer, const pipeline::QuantizedLayer& quantized, const OptLayerWeights& folded) {
  impl_->add_layer(layer, quantized, folded);
}

void BundleEmitter::finish(const pipeline::QuantizedModel& model, const BpeTokenizerSpec& tokenizer,
                           double simulated_perplexity) {
  impl_->finish(model, tokenizer, simulated_perplexity);
}

void emit_bundle(const std::string& path, const pipeline::QuantizedModel& model, const BpeTokenizerSpec& tokenizer,
                 const EmitOptions& options) {
  BundleEmitter e(path, *model.weights, options);
  for (size_t l = 0; l < model.layers.size(); ++l)
    e.add_layer(static_cast<int64_t>(l), model.layers[l], model.weights->layers[l]);
  e.finish(model, tokenizer, -1);
}

}  // namespace rptq::codegen
