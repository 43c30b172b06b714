#include "engine/model_binding.h"

#include "engine/cuda_backend.h"
#include "rptq/error.h"

namespace rptq::engine {
namespace {

using bundle::LoadedBundle;

OptConfig read_config(const bundle::ModelConfig& b) {
  OptConfig c;
  c.vocab_size = b.vocab_size();
  c.hidden_size = b.hidden_size();
  c.num_layers = b.num_layers();
  c.num_heads = b.num_heads();
  c.ffn_dim = b.ffn_dim();
  c.max_positions = b.max_positions();
  c.word_embed_proj_dim = b.word_embed_proj_dim();
  c.pre_layer_norm = b.pre_layer_norm();
  c.final_layer_norm = b.final_layer_norm();
  c.enable_bias = b.enable_bias();
  c.layer_norm_affine = b.layer_norm_affine();
  c.layer_norm_eps = b.layer_norm_eps();
  c.bos_token_id = b.bos_token_id();
  c.eos_token_id = b.eos_token_id();
  c.pad_token_id = b.pad_token_id();
  return c;
}

class Binder {
 public:
  explicit Binder(const LoadedBundle& b) : b_(b) {}

  ModelBinding bind(bool allow_native, bool allow_gpu) {
    const bundle::Model& model = *b_.meta().model();
    ModelBinding m;
    m.config = read_config(*model.config());
    if (!m.config.pre_layer_norm)
      fail(b_.name(), "post-LayerNorm OPT (opt-350m) bundles are not supported by this runtime");
    if (!model.embed_from_lm_head()) m.embed_tokens = b_.tensor_data<float>(model.embed_tokens());
    m.embed_positions = b_.tensor_data<float>(model.embed_positions());
    if (m.config.has_projections()) {
      m.project_in = linear(*model.project_in());
      m.project_out = linear(*model.project_out());
    }
    m.lm_head = linear(*model.lm_head());
    if (model.final_norm()) m.final_norm = norm(*model.final_norm());
    for (const bundle::DecoderLayer* L : *model.layers()) m.layers.push_back(layer(*L));
    plan(m);
    // On a GPU the weights stay in the bundle's layout: no CPU packing, no native CPU code.
    std::string gpu_why = "GPU not allowed by the caller";
    if (allow_gpu) {
      m.cuda = load_cuda_model(b_, m, &gpu_why);
      if (m.cuda) {
        m.backend = cuda_backend_name(*m.cuda);
        return m;
      }
    }
    const bool has_cuda_code =
        b_.kernel_section(bundle::Target::CudaSm90) || b_.kernel_section(bundle::Target::CudaSm87);
    auto pack = [&](cpu::LinearParams& p, const cpu::ActQuantParams& input) {
      if (auto packed = cpu::pack_weights(p, input)) {
        p.packed = packed.get();
        m.packed.push_back(std::move(packed));
      }
    };
    // Each layer linear is packed with the quantizer of the activations its plan step feeds it,
    // so that the weight sums the integer path needs per (cluster ∩ group) span are taken once.
    for (size_t l = 0; l < m.layers.size(); ++l) {
      LayerBinding& L = m.layers[l];
      for (size_t i = 0; i < L.linear.size(); ++i) pack(L.linear[i], input_quant(m, static_cast<int>(l), i));
    }
    pack(m.lm_head, {});
    if (m.config.has_projections()) {
      pack(m.project_in, {});
      pack(m.project_out, {});
    }
    const std::string generic = std::string("cpu generic (") + cpu::active_isa() + ")";
    std::string why = "native code not allowed by the caller";
    if (allow_native) m.native = NativeModule::load(b_, m, &why);
    if (m.native)
      m.backend = "cpu native (" + m.native->isa() + ", " + std::to_string(m.native->steps_run_natively()) + " of " +
                  std::to_string(m.plan.size()) + " steps; the rest " + generic + ")";
    else
      m.backend = generic + ": " + why;
    if (has_cuda_code) m.backend += "; the bundle's CUDA code is not used: " + gpu_why;
    return m;
  }

 private:
  cpu::LinearParams linear(const bundle::QuantLinear& q) {
    cpu::LinearParams p;
    p.out = q.out_features();
    p.in = q.in_features();
    p.bits = q.bits();
    p.group_size = q.group_size();
    if (q.bias() >= 0) p.bias = b_.tensor_data<float>(q.bias());
    if (p.bits == 16) {
      p.weight = b_.tensor_data<float>(q.weight());
    } else {
      p.codes = b_.tensor_data<uint8_t>(q.codes());
      p.scale = b_.tensor_data<float>(q.scale());
      p.zero = b_.tensor_data<uint8_t>(q.zero());
    }
    return p;
  }

  NormBinding norm(const bundle::LayerNorm& n) {
    NormBinding b;
    if (n.gamma() >= 0) b.gamma = b_.tensor_data<float>(n.gamma());
    if (n.beta() >= 0) b.beta = b_.tensor_data<float>(n.beta());
    if (n.write_index() >= 0) b.write_index = b_.tensor_data<int32_t>(n.write_index());
    return b;
  }

  static cpu::ActQuantParams act(const bundle::ActQuant& a) {
    cpu::ActQuantParams p;
    p.bits = a.bits();
    if (p.bits >= 16) return p;
    p.num_clusters = static_cast<int32_t>(a.cluster_end()->size());
    p.cluster_end = a.cluster_end()->data();
    p.scale = a.scale()->data();
    p.zero = a.zero_point()->data();
    return p;
  }

  LayerBinding layer(const bundle::DecoderLayer& L) {
    LayerBinding b;
    b.attn_norm = norm(*L.attn_norm());
    b.ffn_norm = norm(*L.ffn_norm());
    const bundle::QuantLinear* linears[] = {L.q_proj(), L.k_proj(), L.v_proj(), L.out_proj(), L.fc1(), L.fc2()};
    for (size_t i = 0; i < b.linear.size(); ++i) b.linear[i] = linear(*linears[i]);
    for (uint32_t i = 0; i < b.act.size(); ++i) b.act[i] = act(*L.acts()->Get(i));
    return b;
  }

  // The activation quantizer of the first plan step running linear `id` of layer `l` (float: none).
  static cpu::ActQuantParams input_quant(const ModelBinding& m, int l, size_t id) {
    for (const PlanStep& s : m.plan)
      if (s.kind == bundle::OpKind::Linear && s.layer == l && static_cast<size_t>(s.linear) == id)
        return s.act >= 0 ? m.layers[static_cast<size_t>(l)].act[static_cast<size_t>(s.act)] : cpu::ActQuantParams{};
    return {};
  }

  void plan(ModelBinding& m) {
    const bundle::MemoryPlan& mem = *b_.meta().memory();
    m.max_tokens = mem.max_tokens();
    m.arena_bytes = mem.arena_bytes();
    for (const bundle::Buffer* b : *mem.buffers()) m.buffers.push_back({b->dtype(), b->row_elems(), b->offset()});
    for (const bundle::Op* op : *b_.meta().plan()) {
      PlanStep s;
      s.kind = op->kind();
      s.layer = op->layer();
      s.linear = op->linear();
      s.norm = op->norm();
      s.act = op->act();
      s.out_act = op->out_act();
      s.flags = static_cast<uint32_t>(op->flags());
      if (op->inputs()) s.inputs.assign(op->inputs()->begin(), op->inputs()->end());
      if (op->outputs()) s.outputs.assign(op->outputs()->begin(), op->outputs()->end());
      m.plan.push_back(std::move(s));
    }
  }

  const LoadedBundle& b_;
};

}  // namespace

ModelBinding bind_model(const bundle::LoadedBundle& bundle, bool allow_native, bool allow_gpu) {
  return Binder(bundle).bind(allow_native, allow_gpu);
}

}  // namespace rptq::engine
