// A valid bundle of a toy OPT (2 layers, hidden 8) with random tensors, written through the real
// BundleWriter. Shared by the bundle unit tests and the fuzzer's seed corpus; header-only so that
// only the files that use it compile it. Byte-level edits of bundles are in bundle_edit.h.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "bundle/bundle_format.h"
#include "bundle/bundle_writer.h"
#include "bundle/dtype.h"
#include "bundle_edit.h"

namespace rptq::test {

namespace fb = flatbuffers;
using namespace rptq::bundle;

struct ToyOptions {
  bool projections = false;  // word_embed_proj_dim 4 != hidden 8: project_in / project_out
  bool kernels = true;       // two kernel blobs, one between the tensors of layer 0 and layer 1
  uint64_t seed = 1;
  // Token embeddings from the LM head's codes (schema 2): kNone keeps an F32 table and a float
  // head; kShared an 8-bit head and no table; the last two are the verifier's refusals.
  enum class EmbedFromHead { kNone, kShared, kTableToo, kFloatHead };
  EmbedFromHead embed_from_head = EmbedFromHead::kNone;
};

struct ToyTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

struct ToyKernel {
  Target target;
  std::string format, isa;
  int32_t abi_version;
  std::vector<std::string> entry_points;
  std::string bytes;
};

// What write_toy_bundle wrote, for tests to compare against what they read.
struct ToyBundle {
  static constexpr int64_t kVocab = 16, kHidden = 8, kHeads = 2, kFfn = 16, kMaxPositions = 8, kLayers = 2;
  static constexpr int64_t kMaxTokens = 4;
  int64_t proj = kHidden;
  std::vector<ToyTensor> tensors;  // by index
  std::vector<ToyKernel> kernels;  // by index
  std::vector<std::string> vocab, merges;
  size_t plan_ops = 0;
  std::vector<std::string> buffers;
};

namespace detail {

// splitmix64: the same bytes on every platform (std distributions are implementation-defined).
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed) {}
  uint64_t next() {
    uint64_t z = (s_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  float uniform() { return static_cast<float>(next() >> 40) / static_cast<float>(1 << 24) * 2.0f - 1.0f; }

 private:
  uint64_t s_;
};

class ToyWriter {
 public:
  ToyWriter(BundleWriter& w, ToyBundle& out, uint64_t seed) : w_(w), fbb_(w.builder()), out_(out), rng_(seed) {}

  int32_t tensor(const std::string& name, DType dtype, std::vector<int64_t> shape) {
    std::string bytes(*tensor_byte_size(dtype, shape), '\0');
    if (dtype == DType::F32) {
      for (size_t i = 0; i < bytes.size(); i += 4) {
        const float f = rng_.uniform();
        std::memcpy(&bytes[i], &f, 4);
      }
    } else {
      for (char& b : bytes) b = static_cast<char>(rng_.next());
    }
    return add(name, dtype, std::move(shape), std::move(bytes));
  }

  int32_t add(const std::string& name, DType dtype, std::vector<int64_t> shape, std::string bytes) {
    const int32_t i = w_.add_tensor(name, dtype, shape, bytes.data(), bytes.size());
    out_.tensors.push_back({name, dtype, std::move(shape), std::move(bytes)});
    return i;
  }

  void kernel(Target target, const std::string& format, const std::string& isa, size_t size) {
    ToyKernel k{target, format, isa, 1, {"rptq_linear", "rptq_attention"}, std::string(size, '\0')};
    for (char& b : k.bytes) b = static_cast<char>(rng_.next());
    w_.add_kernel_blob(k.target, k.format, k.abi_version, k.isa, k.entry_points, k.bytes.data(), k.bytes.size());
    out_.kernels.push_back(std::move(k));
  }

  fb::Offset<QuantLinear> linear(const std::string& name, int64_t out, int64_t in, int bits, int64_t group) {
    int32_t codes = -1, scale = -1, zero = -1, weight = -1;
    if (bits == 16) {
      weight = tensor(name + ".weight", DType::F32, {out, in});
    } else {
      codes = tensor(name + ".codes", bits <= 4 ? DType::U4 : DType::U8, {out, in});
      scale = tensor(name + ".scale", DType::F32, {out, in / group});
      zero = tensor(name + ".zero", DType::U8, {out, in / group});
    }
    const int32_t bias = name == "lm_head" ? -1 : tensor(name + ".bias", DType::F32, {out});
    const auto n = fbb_.CreateString(name);
    return CreateQuantLinear(fbb_, n, out, in, bits, bits == 16 ? in : group, codes, scale, zero, weight, bias);
  }

  fb::Offset<LayerNorm> norm(const std::string& name, int64_t hidden) {
    const int32_t gamma = tensor(name + ".weight", DType::F32, {hidden});
    const int32_t beta = tensor(name + ".bias", DType::F32, {hidden});
    std::string perm(static_cast<size_t>(hidden) * 4, '\0');  // a rotation: a permutation, not the identity
    for (int32_t c = 0; c < hidden; ++c) {
      const int32_t col = static_cast<int32_t>((c + 3) % hidden);
      std::memcpy(&perm[static_cast<size_t>(c) * 4], &col, 4);
    }
    const int32_t write_index = add(name + ".write_index", DType::I32, {hidden}, perm);
    return CreateLayerNorm(fbb_, gamma, beta, write_index);
  }

  fb::Offset<ActQuant> act(int layer, ActPoint point, int bits, std::vector<int32_t> cluster_end) {
    std::vector<float> scale;
    std::vector<int32_t> zero;
    for (size_t i = 0; i < cluster_end.size(); ++i) {
      scale.push_back(0.01f * static_cast<float>(i + 1));
      zero.push_back(static_cast<int32_t>(rng_.next() % (1u << (bits < 16 ? bits : 8))));
    }
    std::vector<int32_t> order;
    for (int32_t c = cluster_end.empty() ? 0 : cluster_end.back(); c-- > 0;) order.push_back(c);
    const auto o = fbb_.CreateVector(order);
    const auto e = fbb_.CreateVector(cluster_end);
    const auto s = fbb_.CreateVector(scale);
    const auto z = fbb_.CreateVector(zero);
    return CreateActQuant(fbb_, layer, point, bits, o, e, s, z);
  }

 private:
  BundleWriter& w_;
  fb::FlatBufferBuilder& fbb_;
  ToyBundle& out_;
  Rng rng_;
};

}  // namespace detail

// Writes a valid toy bundle to `path` and returns what it holds.
inline ToyBundle write_toy_bundle(const std::string& path, const ToyOptions& opt = {}) {
  using T = ToyBundle;
  ToyBundle out;
  out.proj = opt.projections ? 4 : T::kHidden;
  const int64_t H = T::kHidden, F = T::kFfn, V = T::kVocab, P = out.proj;
  BundleWriter w(path);
  auto& fbb = w.builder();
  detail::ToyWriter t(w, out, opt.seed);

  using E = ToyOptions::EmbedFromHead;
  const bool shared = opt.embed_from_head != E::kNone;
  const int32_t embed_tokens = !shared || opt.embed_from_head == E::kTableToo
                                   ? t.tensor("embed_tokens", DType::F32, {V, P})
                                   : -1;
  const int32_t embed_positions = t.tensor("embed_positions", DType::F32, {T::kMaxPositions + 2, H});
  fb::Offset<QuantLinear> project_in, project_out;
  if (opt.projections) {
    project_in = t.linear("project_in", H, P, 16, 0);
    project_out = t.linear("project_out", P, H, 16, 0);
  }
  std::vector<fb::Offset<DecoderLayer>> layers;
  for (int l = 0; l < T::kLayers; ++l) {
    const std::string p = "decoder.layers." + std::to_string(l) + ".";
    const auto attn_norm = t.norm(p + "self_attn_layer_norm", H);
    const auto q = t.linear(p + "self_attn.q_proj", H, H, l == 0 ? 4 : 3, 4);
    const auto k = t.linear(p + "self_attn.k_proj", H, H, 4, 8);
    const auto v = t.linear(p + "self_attn.v_proj", H, H, 4, 4);
    const auto o = t.linear(p + "self_attn.out_proj", H, H, 8, 8);
    const auto ffn_norm = t.norm(p + "final_layer_norm", H);
    const auto fc1 = t.linear(p + "fc1", F, H, 4, 4);
    const auto fc2 = t.linear(p + "fc2", H, F, 8, 16);
    std::vector<fb::Offset<ActQuant>> acts = {
        t.act(l, ActPoint::AttnNormOut, 8, {3, 8}), t.act(l, ActPoint::Query, 16, {}),
        t.act(l, ActPoint::Key, 8, {4, 8}),         t.act(l, ActPoint::Value, 8, {8}),
        t.act(l, ActPoint::AttnOut, 8, {2, 5, 8}),  t.act(l, ActPoint::FfnNormOut, 4, {8}),
        t.act(l, ActPoint::Fc1Out, 8, {4, 16})};
    const auto acts_vec = fbb.CreateVector(acts);
    layers.push_back(CreateDecoderLayer(fbb, attn_norm, q, k, v, o, ffn_norm, fc1, fc2, acts_vec));
    if (l == 0 && opt.kernels) t.kernel(Target::CpuX86_64, "elf-shared-object", "avx512vnni", 200);
  }
  const auto final_norm = t.norm("decoder.final_layer_norm", H);
  const bool head_codes = shared && opt.embed_from_head != E::kFloatHead;
  const auto lm_head = t.linear("lm_head", V, P, head_codes ? 8 : 16, head_codes ? P : 0);
  // Not referenced by the model: a U4 row of odd length and an empty tensor.
  t.tensor("extra.u4_odd", DType::U4, {3, 5});
  t.tensor("extra.empty", DType::F32, {0, 4});
  if (opt.kernels) t.kernel(Target::CudaSm87, "cubin", "sm_87", 100);

  const auto config = CreateModelConfig(fbb, V, H, T::kLayers, T::kHeads, F, T::kMaxPositions, P,
                                        /*pre_layer_norm=*/true, /*final_layer_norm=*/true, /*enable_bias=*/true,
                                        /*layer_norm_affine=*/true, 1e-5f, 2, 2, 1);
  const auto layers_vec = fbb.CreateVector(layers);
  const auto model =
      CreateModel(fbb, config, embed_tokens, embed_positions, project_in, project_out, final_norm, lm_head, layers_vec,
                  shared);

  for (int i = 0; i < 12; ++i) out.vocab.push_back("t" + std::to_string(i));
  out.merges = {"t 1", "t1 0"};
  const auto vocab = fbb.CreateVectorOfStrings(out.vocab);
  const auto merges = fbb.CreateVectorOfStrings(out.merges);
  const auto special = fbb.CreateVectorOfStrings(std::vector<std::string>{"</s>"});
  const auto tokenizer = CreateTokenizer(fbb, vocab, merges, special, 2, 2, 1);

  // Buffers: 0 hidden, 1 normed codes, 2-4 q/k/v, 5 attention codes, 6 fc1 codes, 7 final norm,
  // 8 fc1's float rows before quantization, 9 project_out output. Logits go to the caller.
  struct B {
    const char* name;
    DType dtype;
    int64_t elems;
  };
  std::vector<B> bufs = {{"hidden", DType::F32, H}, {"normed", DType::U8, H}, {"q", DType::F32, H},
                         {"k", DType::F32, H},      {"v", DType::F32, H},     {"attn", DType::U8, H},
                         {"fc1", DType::U8, F},     {"final", DType::F32, H}, {"fc1_scratch", DType::F32, F}};
  if (opt.projections) bufs.push_back({"projected", DType::F32, P});
  std::vector<fb::Offset<Buffer>> buffers;
  uint64_t arena = 0;
  for (const B& b : bufs) {
    const auto name = fbb.CreateString(b.name);
    buffers.push_back(CreateBuffer(fbb, name, b.dtype, b.elems, arena));
    arena += (*row_byte_size(b.dtype, b.elems) * T::kMaxTokens + 63) / 64 * 64;
    out.buffers.push_back(b.name);
  }
  const auto buffers_vec = fbb.CreateVector(buffers);
  const auto memory = CreateMemoryPlan(fbb, T::kMaxTokens, arena, buffers_vec, 2 * T::kLayers * H * 1);

  std::vector<fb::Offset<Op>> ops;
  auto op = [&](OpKind kind, int layer, LinearId linear, uint8_t norm, int act, int out_act, OpFlags flags,
                std::vector<int32_t> in, std::vector<int32_t> o) {
    const auto iv = fbb.CreateVector(in);
    const auto ov = fbb.CreateVector(o);
    ops.push_back(CreateOp(fbb, kind, layer, linear, norm, act, out_act, flags, iv, ov));
  };
  const auto none = static_cast<OpFlags>(0);
  auto lin = [&](int l, LinearId id, ActPoint act, OpFlags flags, int32_t in, int32_t o) {
    op(OpKind::Linear, l, id, 0, static_cast<int>(act), -1, flags, {in}, {o});
  };
  op(OpKind::Embed, -1, LinearId::QProj, 0, -1, -1, none, {}, {0});
  for (int l = 0; l < T::kLayers; ++l) {
    op(OpKind::NormQuant, l, LinearId::QProj, 0, static_cast<int>(ActPoint::AttnNormOut), -1, none, {0}, {1});
    lin(l, LinearId::QProj, ActPoint::AttnNormOut, none, 1, 2);
    lin(l, LinearId::KProj, ActPoint::AttnNormOut, none, 1, 3);
    lin(l, LinearId::VProj, ActPoint::AttnNormOut, none, 1, 4);
    op(OpKind::Attention, l, LinearId::QProj, 0, -1, -1, none, {2, 3, 4}, {5});
    lin(l, LinearId::OutProj, ActPoint::AttnOut, OpFlags::Accumulate, 5, 0);
    op(OpKind::NormQuant, l, LinearId::QProj, 1, static_cast<int>(ActPoint::FfnNormOut), -1, none, {0}, {1});
    op(OpKind::Linear, l, LinearId::Fc1, 0, static_cast<int>(ActPoint::FfnNormOut), static_cast<int>(ActPoint::Fc1Out),
       OpFlags::Relu | OpFlags::QuantizeOutput, {1}, {6, 8});
    lin(l, LinearId::Fc2, ActPoint::Fc1Out, OpFlags::Accumulate, 6, 0);
  }
  op(OpKind::NormQuant, -1, LinearId::QProj, 2, -1, -1, none, {0}, {7});
  if (opt.projections) op(OpKind::Linear, -1, LinearId::ProjectOut, 0, -1, -1, none, {7}, {9});
  op(OpKind::LmHead, -1, LinearId::QProj, 0, -1, -1, none, {opt.projections ? 9 : 7}, {});
  out.plan_ops = ops.size();
  const auto plan = fbb.CreateVector(ops);

  BundleRoot root;
  root.compiler_version = "0.1.0-test";
  root.settings = "W4A8";
  root.method = "rptq";
  root.source = "toy-opt";
  root.model = model;
  root.tokenizer = tokenizer;
  root.plan = plan;
  root.memory = memory;
  root.simulated_perplexity = 12.5;
  w.commit(root);
  return out;
}

}  // namespace rptq::test
