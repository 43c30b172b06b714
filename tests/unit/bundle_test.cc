// The bundle writer and reader together: a toy model written through BundleWriter reads back
// field for field and byte for byte; writing is deterministic and atomic. Corrupt bundles are in
// bundle_corruption_test.cc.
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <stdexcept>

#include "bundle/bundle_reader.h"
#include "bundle/bundle_writer.h"
#include "bundle_fixture.h"
#include "rptq/error.h"
#include "test_util.h"

using namespace rptq::bundle;
using rptq::test::ToyBundle;

namespace {

std::string bytes_of(const ByteView& v) { return std::string(reinterpret_cast<const char*>(v.data), v.size); }

std::string str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

std::vector<std::string> dir_entries(const std::string& dir) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(dir)) names.push_back(e.path().filename().string());
  return names;
}

}  // namespace

TEST_CASE("bundle: dtype byte sizes", "[bundle]") {
  CHECK(tensor_byte_size(DType::F32, {2, 3}) == 24u);
  CHECK(tensor_byte_size(DType::U4, {3, 5}) == 9u);  // rows of 5 codes take 3 bytes
  CHECK(tensor_byte_size(DType::U4, {4}) == 2u);
  CHECK(tensor_byte_size(DType::F16, {}) == 2u);  // a scalar is one element
  CHECK(tensor_byte_size(DType::I64, {0, 7}) == 0u);
  CHECK_FALSE(tensor_byte_size(DType::F32, {-1, 2}));
  CHECK_FALSE(tensor_byte_size(DType::F32, {INT64_MAX, 2}));
  CHECK_FALSE(tensor_byte_size(static_cast<DType>(9), {1}));
  CHECK(dtype_name(static_cast<DType>(9)) == "DType(9)");
}

TEST_CASE("bundle: a written bundle reads back field for field and byte for byte", "[bundle]") {
  const bool projections = GENERATE(false, true);
  INFO("projections: " << projections);
  rptq::test::TempDir dir;
  const std::string path = dir.file("toy.rptq");
  rptq::test::ToyOptions opt;
  opt.projections = projections;
  const ToyBundle toy = rptq::test::write_toy_bundle(path, opt);
  CHECK(dir_entries(dir.path()) == std::vector<std::string>{"toy.rptq"});  // no temporary file left

  const auto bundle = LoadedBundle::open(path);
  const LoadedBundle& b = *bundle;
  CHECK(b.name() == path);
  CHECK(b.segment_checksums_verified());

  // Header and layout.
  const FileHeader& h = b.header();
  CHECK(std::string(h.compiler_version) == "0.1.0-test");
  CHECK(h.data_offset == kDataAlignment);
  CHECK(h.data_size % kTensorAlignment == 0);
  CHECK(h.meta_offset == h.data_offset + h.data_size);
  CHECK(h.file_size == std::filesystem::file_size(path));
  CHECK(h.meta_offset + h.meta_size == h.file_size);

  const Bundle& root = *b.root();
  CHECK(str(root.compiler_version()) == "0.1.0-test");
  CHECK(str(root.settings()) == "W4A8");
  CHECK(str(root.method()) == "rptq");
  CHECK(str(root.source()) == "toy-opt");
  CHECK(root.simulated_perplexity() == 12.5);

  // Tensors: names, dtypes, shapes, bytes, alignment.
  REQUIRE(root.tensors()->size() == toy.tensors.size());
  for (uint32_t i = 0; i < toy.tensors.size(); ++i) {
    const Tensor& t = b.tensor(static_cast<int32_t>(i));
    const auto& want = toy.tensors[i];
    INFO("tensor " << want.name);
    CHECK(str(t.name()) == want.name);
    CHECK(t.dtype() == want.dtype);
    CHECK(std::vector<int64_t>(t.shape()->begin(), t.shape()->end()) == want.shape);
    CHECK(t.data()->offset() % kTensorAlignment == 0);
    CHECK(bytes_of(b.tensor_bytes(static_cast<int32_t>(i))) == want.bytes);
    CHECK(reinterpret_cast<uintptr_t>(b.tensor_bytes(static_cast<int32_t>(i)).data) % kTensorAlignment == 0);
  }

  // Kernels, and the segments that cover them and the tensors.
  REQUIRE(root.kernels()->size() == toy.kernels.size());
  for (uint32_t i = 0; i < toy.kernels.size(); ++i) {
    const KernelSection& k = *root.kernels()->Get(i);
    const auto& want = toy.kernels[i];
    CHECK(k.target() == want.target);
    CHECK(str(k.format()) == want.format);
    CHECK(str(k.isa()) == want.isa);
    CHECK(k.abi_version() == want.abi_version);
    REQUIRE(k.entry_points()->size() == want.entry_points.size());
    CHECK(str(k.entry_points()->Get(0)) == want.entry_points[0]);
    CHECK(bytes_of(b.span(*k.code())) == want.bytes);
    CHECK(b.kernel_section(want.target) == &k);
  }
  CHECK(b.kernel_section(Target::CudaSm90) == nullptr);
  std::vector<std::string> segment_names;
  for (const Segment* s : *root.segments()) segment_names.push_back(str(s->name()));
  CHECK(segment_names == std::vector<std::string>{"tensors", "kernels/CpuX86_64.0", "tensors.2", "kernels/CudaSm87.1"});

  // Model.
  const Model& m = *root.model();
  const ModelConfig& cfg = *m.config();
  CHECK(cfg.vocab_size() == ToyBundle::kVocab);
  CHECK(cfg.hidden_size() == ToyBundle::kHidden);
  CHECK(cfg.num_layers() == ToyBundle::kLayers);
  CHECK(cfg.num_heads() == ToyBundle::kHeads);
  CHECK(cfg.ffn_dim() == ToyBundle::kFfn);
  CHECK(cfg.max_positions() == ToyBundle::kMaxPositions);
  CHECK(cfg.word_embed_proj_dim() == toy.proj);
  CHECK(cfg.pre_layer_norm());
  CHECK(cfg.final_layer_norm());
  CHECK(cfg.layer_norm_eps() == 1e-5f);
  CHECK(cfg.bos_token_id() == 2);
  CHECK(cfg.pad_token_id() == 1);
  CHECK(str(b.tensor(m.embed_tokens()).name()) == "embed_tokens");
  CHECK(str(b.tensor(m.embed_positions()).name()) == "embed_positions");
  CHECK((m.project_in() != nullptr) == projections);
  CHECK((m.project_out() != nullptr) == projections);
  CHECK(str(m.lm_head()->name()) == "lm_head");
  CHECK(m.lm_head()->bits() == 16);
  CHECK(m.lm_head()->bias() == -1);
  REQUIRE(m.layers()->size() == 2);
  const DecoderLayer& l1 = *m.layers()->Get(1);
  CHECK(l1.q_proj()->bits() == 3);
  CHECK(l1.k_proj()->group_size() == 8);
  CHECK(str(b.tensor(l1.fc1()->codes()).name()) == "decoder.layers.1.fc1.codes");
  CHECK(b.tensor(l1.fc1()->codes()).dtype() == DType::U4);
  CHECK(b.tensor(l1.out_proj()->codes()).dtype() == DType::U8);
  CHECK(find_linear(m, 1, LinearId::Fc2) == l1.fc2());
  CHECK(find_linear(m, 2, LinearId::Fc2) == nullptr);
  CHECK(find_norm(m, 0, 2) == m.final_norm());
  REQUIRE(l1.acts()->size() == 7);
  const ActQuant& attn_out = *l1.acts()->Get(static_cast<uint32_t>(ActPoint::AttnOut));
  CHECK(attn_out.bits() == 8);
  CHECK(std::vector<int32_t>(attn_out.cluster_end()->begin(), attn_out.cluster_end()->end()) ==
        std::vector<int32_t>{2, 5, 8});
  CHECK(find_act(m, 1, static_cast<int32_t>(ActPoint::AttnOut)) == &attn_out);

  // Typed access.
  const float* emb = b.tensor_data<float>(m.embed_tokens());
  float first;
  std::memcpy(&first, toy.tensors[static_cast<size_t>(m.embed_tokens())].bytes.data(), 4);
  CHECK(emb[0] == first);
  CHECK(b.tensor_data<int32_t>(m.final_norm()->write_index())[0] == 3);
  CHECK(b.tensor_data<uint8_t>(l1.fc1()->codes()) != nullptr);  // U4 reads as packed bytes
  CHECK_THROWS_WITH(b.tensor_data<float>(l1.fc1()->codes()), Catch::Contains(path) && Catch::Contains("has dtype U4"));
  CHECK_THROWS_WITH(b.tensor(9999), Catch::Contains("tensor index 9999 out of range"));
  CHECK_THROWS_WITH(b.span(Span(h.data_size, 1)), Catch::Contains("outside the data segment"));

  // Tokenizer, plan, memory plan.
  const Tokenizer& tok = *root.tokenizer();
  REQUIRE(tok.vocab()->size() == toy.vocab.size());
  CHECK(str(tok.vocab()->Get(11)) == "t11");
  CHECK(str(tok.merges()->Get(1)) == "t1 0");
  CHECK(str(tok.special_tokens()->Get(0)) == "</s>");
  CHECK(root.plan()->size() == toy.plan_ops);
  CHECK(root.plan()->Get(0)->kind() == OpKind::Embed);
  CHECK(root.plan()->Get(root.plan()->size() - 1)->kind() == OpKind::LmHead);
  const MemoryPlan& mem = *root.memory();
  CHECK(mem.max_tokens() == ToyBundle::kMaxTokens);
  REQUIRE(mem.buffers()->size() == toy.buffers.size());
  CHECK(str(mem.buffers()->Get(6)->name()) == "fc1");
  CHECK(mem.buffers()->Get(6)->row_elems() == ToyBundle::kFfn);
}

TEST_CASE("bundle: from_memory reads aligned and unaligned bytes alike", "[bundle]") {
  rptq::test::TempDir dir;
  rptq::test::write_toy_bundle(dir.file("toy.rptq"));
  const std::string file = rptq::test::read_file(dir.file("toy.rptq"));
  // At offset 1 of a 64-aligned buffer the reader must copy rather than hand out misaligned floats.
  const size_t n = file.size();
  std::unique_ptr<char, decltype(&std::free)> mem(static_cast<char*>(std::aligned_alloc(64, (n + 127) / 64 * 64)),
                                                  &std::free);
  for (size_t shift : {size_t{0}, size_t{1}}) {
    std::memcpy(mem.get() + shift, file.data(), n);
    const auto b = LoadedBundle::from_memory(mem.get() + shift, n);
    CHECK(b->name() == "<memory>");
    CHECK(reinterpret_cast<uintptr_t>(b->tensor_bytes(0).data) % 64 == 0);
    CHECK(b->root()->tensors()->size() > 10);
  }
}

TEST_CASE("bundle: the same calls write the same bytes", "[bundle]") {
  rptq::test::TempDir dir;
  rptq::test::write_toy_bundle(dir.file("a.rptq"));
  rptq::test::write_toy_bundle(dir.file("b.rptq"));
  const std::string a = rptq::test::read_file(dir.file("a.rptq"));
  CHECK(a.size() > kDataAlignment);
  CHECK(a == rptq::test::read_file(dir.file("b.rptq")));
  rptq::test::ToyOptions other;
  other.seed = 2;
  rptq::test::write_toy_bundle(dir.file("c.rptq"), other);
  CHECK(a != rptq::test::read_file(dir.file("c.rptq")));
}

TEST_CASE("bundle: an abandoned or failed write leaves the destination untouched", "[bundle]") {
  rptq::test::TempDir dir;
  const std::string path = dir.file("model.rptq");

  SECTION("exception while streaming tensors, no previous file") {
    try {
      BundleWriter w(path);
      const std::vector<float> v(1000, 1.0f);
      w.add_tensor("a", DType::F32, {1000}, v);
      throw std::runtime_error("compiler failed mid-way");
    } catch (const std::runtime_error&) {
    }
    CHECK(dir_entries(dir.path()).empty());
  }

  SECTION("exception while streaming tensors, previous file kept") {
    rptq::test::write_file(path, "previous bundle");
    try {
      BundleWriter w(path);
      w.add_tensor("a", DType::U8, {3}, "abc", 3);
      throw std::runtime_error("compiler failed mid-way");
    } catch (const std::runtime_error&) {
    }
    CHECK(dir_entries(dir.path()) == std::vector<std::string>{"model.rptq"});
    CHECK(rptq::test::read_file(path) == "previous bundle");
  }

  SECTION("commit without the required tables") {
    BundleWriter w(path);
    CHECK_THROWS_WITH(w.commit(BundleRoot{}), Catch::Contains(path) && Catch::Contains("required"));
  }

  SECTION("commit of a bundle the runtime would reject") {
    BundleWriter w(path);
    auto& fbb = w.builder();
    const auto config = CreateModelConfig(fbb, 16, 8, 0, 2, 16, 8, 8);  // num_layers 0: rejected
    const auto lm_head = CreateQuantLinear(fbb, fbb.CreateString("lm_head"), 16, 8, 16, 8);
    const auto layers = fbb.CreateVector(std::vector<flatbuffers::Offset<DecoderLayer>>{});
    const auto model = CreateModel(fbb, config, -1, -1, 0, 0, 0, lm_head, layers);
    const auto plan = fbb.CreateVector(std::vector<flatbuffers::Offset<Op>>{});
    const auto buffers = fbb.CreateVector(std::vector<flatbuffers::Offset<Buffer>>{});
    BundleRoot root;
    root.model = model;
    root.plan = plan;
    root.memory = CreateMemoryPlan(fbb, 1, 0, buffers);
    CHECK_THROWS_WITH(w.commit(root), Catch::Contains(path) && Catch::Contains("does not verify") &&
                                          Catch::Contains("config.num_layers = 0"));
  }
  CHECK(dir_entries(dir.path()).size() <= 1);
  for (const auto& name : dir_entries(dir.path())) CHECK(name == "model.rptq");
}

TEST_CASE("bundle: a destination that cannot be written is an error naming it", "[bundle]") {
  rptq::test::TempDir dir;
  const std::string path = dir.file("no-such-dir/m.rptq");
  CHECK_THROWS_WITH(BundleWriter(path), Catch::Contains(path + ": cannot create a temporary file beside it"));
}

TEST_CASE("bundle: the writer refuses tensors whose bytes disagree with dtype and shape", "[bundle]") {
  rptq::test::TempDir dir;
  BundleWriter w(dir.file("m.rptq"));
  const std::vector<float> v(6, 0.0f);
  CHECK_THROWS_WITH(w.add_tensor("w", DType::F32, {2, 4}, v), Catch::Contains(dir.file("m.rptq")) &&
                                                                  Catch::Contains("tensor 'w': 24 bytes given") &&
                                                                  Catch::Contains("needs 32"));
  CHECK(w.add_tensor("w", DType::F32, {2, 3}, v) == 0);
  CHECK(w.add_tensor("u4", DType::U4, {2, 3}, "abcd", 4) == 1);
}

TEST_CASE("bundle: segment checksums can be skipped for huge trusted bundles", "[bundle]") {
  rptq::test::TempDir dir;
  const std::string path = dir.file("toy.rptq");
  rptq::test::write_toy_bundle(path);
  std::string file = rptq::test::read_file(path);
  file[kDataAlignment + 5] ^= 0x10;  // inside the first tensor
  rptq::test::write_file(path, file);
  CHECK_THROWS_WITH(LoadedBundle::open(path), Catch::Contains("segment 'tensors' checksum mismatch"));
  CHECK_FALSE(LoadedBundle::open(path, /*check_segment_checksums=*/false)->segment_checksums_verified());
}

TEST_CASE("bundle: token embeddings from the LM head's codes (schema 2), and what the verifier refuses",
          "[bundle]") {
  rptq::test::TempDir dir;
  using E = rptq::test::ToyOptions::EmbedFromHead;
  rptq::test::ToyOptions o;
  o.embed_from_head = E::kShared;
  const std::string path = dir.file("shared.rptq");
  rptq::test::write_toy_bundle(path, o);
  const auto b = LoadedBundle::open(path);
  CHECK(b->meta().model()->embed_from_lm_head());
  CHECK(b->meta().model()->embed_tokens() == -1);
  CHECK(b->meta().model()->lm_head()->bits() == 8);

  // The writer verifies before publishing, so a bad combination is refused at write time.
  for (const auto& [mode, needle] : {std::pair{E::kTableToo, "embed_tokens: a tensor is given although"},
                                     std::pair{E::kFloatHead, "the LM head is float"}}) {
    o.embed_from_head = mode;
    const std::string bad = dir.file("bad.rptq");
    try {
      rptq::test::write_toy_bundle(bad, o);
      FAIL("the writer accepted an invalid embed_from_lm_head bundle");
    } catch (const rptq::Error& e) {
      INFO(e.what());
      CHECK(std::string(e.what()).find(needle) != std::string::npos);
    }
    CHECK_FALSE(std::filesystem::exists(bad));
  }
}
