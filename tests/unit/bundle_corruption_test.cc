// Every way a bundle can be damaged or lie must be an rptq::Error that names the file and the
// problem—never a crash or a read outside the file. Metadata edits are resealed (checksums
// recomputed) so that the check under test, not a checksum, is what catches them.
#include <catch2/catch.hpp>
#include <functional>

#include "bundle/bundle_reader.h"
#include "bundle_fixture.h"
#include "rptq/error.h"
#include "test_util.h"

using namespace rptq::bundle;
using rptq::test::mutable_root;
using rptq::test::reseal;

namespace {

// A valid toy bundle's bytes, written once.
const std::string& toy_file() {
  static const std::string bytes = [] {
    rptq::test::TempDir dir;
    rptq::test::write_toy_bundle(dir.file("toy.rptq"));
    return rptq::test::read_file(dir.file("toy.rptq"));
  }();
  return bytes;
}

FileHeader header_of(const std::string& file) {
  return rptq::test::read_header(reinterpret_cast<const uint8_t*>(file.data()));
}

// Both entry points must reject `bytes` with a message holding the name and `needle`.
void expect_error(const std::string& bytes, const std::string& needle) {
  rptq::test::TempDir dir;
  const std::string path = dir.file("bad.rptq");
  rptq::test::write_file(path, bytes);
  try {
    LoadedBundle::open(path);
    FAIL("expected an error containing '" << needle << "'");
  } catch (const BundleError& e) {
    INFO(e.what());
    CHECK_FALSE(e.io());
    CHECK(std::string(e.what()).rfind(path + ": ", 0) == 0);
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
  try {
    LoadedBundle::from_memory(bytes.data(), bytes.size(), "<memory>");
    FAIL("expected an error containing '" << needle << "'");
  } catch (const BundleError& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).rfind("<memory>: ", 0) == 0);
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}

// Edits the metadata of a copy of the toy bundle in place, reseals it and expects `needle`.
void expect_meta_error(const std::function<void(Bundle&)>& edit, const std::string& needle) {
  std::string file = toy_file();
  edit(*mutable_root(file));
  reseal(file);
  expect_error(file, needle);
}

QuantLinear& fc1(Bundle& b, uint32_t layer) {
  return *b.mutable_model()->mutable_layers()->GetMutableObject(layer)->mutable_fc1();
}

}  // namespace

TEST_CASE("bundle corruption: the toy bundle itself is valid", "[bundle]") {
  const std::string& file = toy_file();
  CHECK_NOTHROW(LoadedBundle::from_memory(file.data(), file.size()));
}

TEST_CASE("bundle corruption: a file that cannot be read is an I/O error", "[bundle][bad-input]") {
  rptq::test::TempDir dir;
  const std::string path = dir.file("missing.rptq");
  try {
    LoadedBundle::open(path);
    FAIL("expected an error");
  } catch (const BundleError& e) {
    CHECK(e.io());
    CHECK(std::string(e.what()).rfind(path + ": cannot open: ", 0) == 0);
    CHECK(e.problem().rfind("cannot open: ", 0) == 0);
  }
  CHECK_THROWS_WITH(LoadedBundle::open(dir.path()), Catch::Contains("not a regular file"));
}

TEST_CASE("bundle corruption: truncation at any length", "[bundle][bad-input]") {
  const std::string& file = toy_file();
  const FileHeader h = header_of(file);
  for (size_t n : {size_t{0}, size_t{1}, size_t{127}}) {
    INFO("length " << n);
    expect_error(file.substr(0, n), "truncated: " + std::to_string(n) + " bytes, shorter than the 128-byte header");
  }
  for (uint64_t n : {uint64_t{128}, uint64_t{4095}, h.data_offset + h.data_size / 2, h.meta_offset,
                     h.meta_offset + h.meta_size / 2, h.file_size - 1}) {
    INFO("length " << n);
    expect_error(file.substr(0, n),
                 "truncated: " + std::to_string(n) + " bytes, the header says " + std::to_string(h.file_size));
  }
  expect_error(file + "x", "(trailing bytes)");
}

TEST_CASE("bundle corruption: bit flips are caught by the checksums", "[bundle][bad-input]") {
  const FileHeader h = header_of(toy_file());
  auto flipped = [](uint64_t offset) {
    std::string f = toy_file();
    f[offset] = static_cast<char>(f[offset] ^ 0x04);
    return f;
  };
  expect_error(flipped(offsetof(FileHeader, data_size)), "header checksum mismatch");
  expect_error(flipped(offsetof(FileHeader, reserved) + 3), "header checksum mismatch");
  expect_error(flipped(h.data_offset + 70), "segment 'tensors' checksum mismatch");
  const Bundle* b = rptq::test::root_of(toy_file());
  const Span& last_code = *b->kernels()->Get(1)->code();
  expect_error(flipped(h.data_offset + last_code.offset() + last_code.size() - 1),
               "segment 'kernels/CudaSm87.1' checksum mismatch");
  expect_error(flipped(h.meta_offset + h.meta_size / 2), "metadata checksum mismatch");
  expect_error(flipped(h.file_size - 1), "metadata checksum mismatch");
}

TEST_CASE("bundle corruption: foreign files and other versions", "[bundle][bad-input]") {
  std::string file = toy_file();
  file[0] = 'X';
  expect_error(file, "not an rptq bundle (bad magic)");
  expect_error(std::string(200, '\0'), "not an rptq bundle (bad magic)");

  file = toy_file();
  const uint32_t next = rptq::bundle::kSchemaVersion + 1;
  const std::string message = "schema version " + std::to_string(next) + ", this runtime reads " +
                              std::to_string(rptq::bundle::kSchemaVersion);
  std::memcpy(&file[offsetof(FileHeader, schema_version)], &next, 4);
  expect_error(file, message);
  reseal(file);
  expect_error(file, message);
}

TEST_CASE("bundle corruption: header fields that lie, checksums recomputed", "[bundle][bad-input]") {
  auto with_header = [](const std::function<void(FileHeader&)>& edit) {
    std::string f = toy_file();
    FileHeader h = header_of(f);
    edit(h);
    std::memcpy(&f[0], &h, sizeof(h));
    reseal(f);
    return f;
  };
  expect_error(with_header([](FileHeader& h) { h.header_size = 64; }), "header_size is 64, expected 128");
  expect_error(with_header([](FileHeader& h) { h.reserved[7] = 1; }), "reserved header bytes are not zero");
  expect_error(with_header([](FileHeader& h) { std::memset(h.compiler_version, 'x', 16); }), "not NUL-terminated");
  expect_error(with_header([](FileHeader& h) { h.data_offset = 2048; }), "data_offset 2048 is not a multiple of 4096");
  expect_error(with_header([](FileHeader& h) { h.data_size = UINT64_MAX - 100; }), "data segment");
  expect_error(with_header([](FileHeader& h) { h.data_size += 64; }), "must be 8-aligned and after the data segment");
  expect_error(with_header([](FileHeader& h) { h.meta_size = UINT64_MAX; }), "exceeds the file");
  expect_error(with_header([](FileHeader& h) { h.meta_size -= 8; }), "not a valid schema-" + std::to_string(rptq::bundle::kSchemaVersion) + " flatbuffer");
  expect_error(with_header([](FileHeader& h) { h.meta_offset += 4; }), "8-aligned");

  std::string file = toy_file();
  FileHeader h = header_of(file);
  h.meta_xxh64 ^= 1;
  h.header_xxh64 = header_checksum(h);  // not reseal(): that would fix meta_xxh64 again
  std::memcpy(&file[0], &h, sizeof(h));
  expect_error(file, "metadata checksum mismatch");

  file = toy_file();
  file[1000] = 1;
  expect_error(file, "bytes between the header and the data segment are not zero");
}

TEST_CASE("bundle corruption: garbage metadata with a valid checksum", "[bundle][bad-input]") {
  std::string file = toy_file();
  const FileHeader h = header_of(file);
  SECTION("random bytes") {
    rptq::test::detail::Rng rng(7);
    for (uint64_t i = h.meta_offset; i < h.file_size; ++i) file[i] = static_cast<char>(rng.next());
    std::memcpy(&file[h.meta_offset + 4], "RPTQ", 4);
    reseal(file);
    expect_error(file, "not a valid schema-" + std::to_string(rptq::bundle::kSchemaVersion) + " flatbuffer");
  }
  SECTION("wrong file identifier") {
    std::memcpy(&file[h.meta_offset + 4], "ABCD", 4);
    reseal(file);
    expect_error(file, "lacks the \"RPTQ\" file identifier");
  }
  SECTION("root offset past the end") {
    const uint32_t huge = 0x7fffff00;
    std::memcpy(&file[h.meta_offset], &huge, 4);
    reseal(file);
    expect_error(file, "not a valid schema-" + std::to_string(rptq::bundle::kSchemaVersion) + " flatbuffer");
  }
}

TEST_CASE("bundle corruption: a misaligned [long] vector, which flatbuffers 2.0 lets through", "[bundle][bad-input]") {
  // Moves tensor 0's shape vector 4 bytes on: its length now reads from the first element and
  // its 8-byte elements sit at a 4 mod 8 address (found by the fuzzer: a UBSan misaligned load).
  expect_meta_error(
      [](Bundle& b) {
        auto* table = reinterpret_cast<flatbuffers::Table*>(b.mutable_tensors()->GetMutableObject(0));
        uint8_t* field = table->GetAddressOf(Tensor::VT_SHAPE);
        flatbuffers::WriteScalar<uint32_t>(field, flatbuffers::ReadScalar<uint32_t>(field) + 4);
      },
      "tensor 0 'embed_tokens': shape vector is misaligned");
}

TEST_CASE("bundle corruption: spans outside the data segment or misaligned", "[bundle][bad-input]") {
  const uint64_t data_size = header_of(toy_file()).data_size;
  expect_meta_error(
      [&](Bundle& b) { b.mutable_tensors()->GetMutableObject(3)->mutable_data()->mutate_offset(data_size); },
      "tensor 3 'decoder.layers.0.self_attn_layer_norm.bias': bytes [" + std::to_string(data_size) +
          ", +32) exceed the data segment");
  expect_meta_error(
      [](Bundle& b) { b.mutable_tensors()->GetMutableObject(0)->mutable_data()->mutate_offset(UINT64_MAX - 7); },
      "exceed the data segment");
  expect_meta_error(
      [](Bundle& b) { b.mutable_tensors()->GetMutableObject(0)->mutable_data()->mutate_size(UINT64_MAX); },
      "exceed the data segment");
  expect_meta_error([](Bundle& b) { b.mutable_tensors()->GetMutableObject(1)->mutable_data()->mutate_offset(8); },
                    "tensor 1 'embed_positions': offset 8 is not 64-byte aligned");
  expect_meta_error(
      [&](Bundle& b) { b.mutable_kernels()->GetMutableObject(1)->mutable_code()->mutate_offset(data_size); },
      "kernel section 1: bytes");
  expect_meta_error(
      [&](Bundle& b) { b.mutable_segments()->GetMutableObject(0)->mutable_span()->mutate_size(data_size + 1); },
      "segment 0 'tensors': bytes");
  // A segment that no longer covers its tensors leaves them unchecked: refused.
  expect_meta_error([](Bundle& b) { b.mutable_segments()->GetMutableObject(0)->mutable_span()->mutate_size(64); },
                    "tensor 0 'embed_tokens': bytes [0, +512) are not covered by a checksummed segment");
}

TEST_CASE("bundle corruption: tensors whose dtype or shape disagree", "[bundle][bad-input]") {
  expect_meta_error([](Bundle& b) { b.mutable_tensors()->GetMutableObject(0)->mutable_shape()->Mutate(1, 9); },
                    "tensor 0 'embed_tokens': holds 512 bytes but dtype F32 x shape [16, 9] needs 576");
  expect_meta_error([](Bundle& b) { b.mutable_tensors()->GetMutableObject(0)->mutable_shape()->Mutate(0, -16); },
                    "invalid shape [-16, 8]");
  // Same byte count, different meaning: U4 codes relabelled as U8 with half the columns.
  expect_meta_error(
      [](Bundle& b) {
        Tensor* codes = b.mutable_tensors()->GetMutableObject(static_cast<uint32_t>(fc1(b, 1).codes()));
        codes->mutate_dtype(DType::U8);
        codes->mutable_shape()->Mutate(1, 4);
      },
      "layer 1 fc1.codes: tensor");
  expect_meta_error(
      [](Bundle& b) {
        Tensor* codes = b.mutable_tensors()->GetMutableObject(static_cast<uint32_t>(fc1(b, 1).codes()));
        codes->mutate_dtype(DType::U8);
        codes->mutable_shape()->Mutate(1, 4);
      },
      "has dtype U8, expected U4");
  // (F32 is the default, so an F32 tensor has no dtype field to edit; tensor 4 is I32.)
  expect_meta_error([](Bundle& b) { b.mutable_tensors()->GetMutableObject(4)->mutate_dtype(static_cast<DType>(42)); },
                    "tensor 4 'decoder.layers.0.self_attn_layer_norm.write_index': unknown dtype DType(42)");
}

TEST_CASE("bundle corruption: model references out of range or of the wrong kind", "[bundle][bad-input]") {
  expect_meta_error([](Bundle& b) { fc1(b, 0).mutate_codes(9999); },
                    "layer 0 fc1.codes: tensor index 9999 out of range");
  expect_meta_error([](Bundle& b) { fc1(b, 0).mutate_codes(-5); }, "layer 0 fc1.codes: tensor index -5 out of range");
  expect_meta_error([](Bundle& b) { fc1(b, 0).mutate_codes(-1); }, "layer 0 fc1.codes: missing");
  expect_meta_error([](Bundle& b) { fc1(b, 0).mutate_codes(fc1(b, 0).scale()); }, "layer 0 fc1.codes: tensor ");
  expect_meta_error([](Bundle& b) { fc1(b, 0).mutate_scale(fc1(b, 0).zero()); }, "layer 0 fc1.scale: tensor");
  expect_meta_error([](Bundle& b) { fc1(b, 1).mutate_bits(7); }, "layer 1 fc1.codes");  // 7 bits: U8 codes expected
  expect_meta_error([](Bundle& b) { fc1(b, 1).mutate_bits(1); }, "layer 1 fc1: bits = 1, expected 2..8 or 16");
  expect_meta_error([](Bundle& b) { fc1(b, 1).mutate_group_size(3); }, "group_size 3 does not divide in_features 8");
  expect_meta_error([](Bundle& b) { fc1(b, 1).mutate_in_features(9); }, "layer 1 fc1: is [16, 9], expected [16, 8]");
  expect_meta_error([](Bundle& b) { b.mutable_model()->mutate_embed_tokens(1); },
                    "embed_tokens: tensor 1 'embed_positions' has shape [10, 8], expected [16, 8]");
  expect_meta_error([](Bundle& b) { b.mutable_model()->mutable_config()->mutate_num_layers(3); },
                    "model has 2 layers but config.num_layers is 3");
  expect_meta_error([](Bundle& b) { b.mutable_model()->mutable_config()->mutate_hidden_size(-8); },
                    "config.hidden_size = -8 is out of range");
  expect_meta_error([](Bundle& b) { b.mutable_model()->mutable_config()->mutate_final_layer_norm(false); },
                    "final_norm: present although config.final_layer_norm is false");
  expect_meta_error([](Bundle& b) { b.mutable_model()->mutable_config()->mutate_bos_token_id(16); },
                    "config.bos_token_id 16 out of range");
}

TEST_CASE("bundle corruption: activation quantizers", "[bundle][bad-input]") {
  auto act = [](Bundle& b, uint32_t layer, ActPoint p) -> ActQuant& {
    return *b.mutable_model()->mutable_layers()->GetMutableObject(layer)->mutable_acts()->GetMutableObject(
        static_cast<uint32_t>(p));
  };
  expect_meta_error([&](Bundle& b) { act(b, 1, ActPoint::AttnOut).mutable_cluster_end()->Mutate(1, 2); },
                    "layer 1 act AttnOut: cluster_end is not strictly ascending from 1 (2 after 2)");
  expect_meta_error([&](Bundle& b) { act(b, 1, ActPoint::AttnOut).mutable_cluster_end()->Mutate(2, 7); },
                    "layer 1 act AttnOut: cluster_end ends at 7, expected the channel count 8");
  expect_meta_error([&](Bundle& b) { act(b, 0, ActPoint::Fc1Out).mutable_cluster_end()->Mutate(1, 8); },
                    "layer 0 act Fc1Out: cluster_end ends at 8, expected the channel count 16");
  expect_meta_error([&](Bundle& b) { act(b, 0, ActPoint::Key).mutable_cluster_end()->Mutate(0, 0); },
                    "not strictly ascending from 1");
  expect_meta_error([&](Bundle& b) { act(b, 0, ActPoint::Key).mutable_zero_point()->Mutate(0, 256); },
                    "layer 0 act Key: cluster 0 zero_point 256 outside 0..255");
  expect_meta_error([&](Bundle& b) { act(b, 0, ActPoint::Key).mutable_scale()->Mutate(1, -1.0f); },
                    "cluster 1 scale is not positive");
  expect_meta_error([&](Bundle& b) { act(b, 0, ActPoint::Key).mutate_bits(9); }, "bits = 9");
  expect_meta_error([&](Bundle& b) { act(b, 1, ActPoint::Value).mutate_point(ActPoint::Key); },
                    "layer 1 act Value: entry says layer 1 point 2");
  expect_meta_error([&](Bundle& b) { act(b, 0, ActPoint::Value).mutable_order()->Mutate(0, 8); },
                    "layer 0 act Value: order holds channel 8, out of range");
}

TEST_CASE("bundle corruption: index tensors are checked by value", "[bundle][bad-input]") {
  std::string file = toy_file();
  const FileHeader h = header_of(file);
  const Bundle* b = mutable_root(file);
  const Tensor* w = b->tensors()->Get(static_cast<uint32_t>(b->model()->final_norm()->write_index()));
  const int32_t dup = 0;  // column 0 twice: not a permutation
  std::memcpy(&file[h.data_offset + w->data()->offset() + 4], &dup, 4);
  std::memcpy(&file[h.data_offset + w->data()->offset()], &dup, 4);
  rptq::test::rehash_segments(file);
  expect_error(file, "final_norm.write_index: not a permutation of 0..7");
}

TEST_CASE("bundle corruption: plan and memory plan", "[bundle][bad-input]") {
  auto op = [](Bundle& b, uint32_t i) -> Op& { return *b.mutable_plan()->GetMutableObject(i); };
  auto buffer = [](Bundle& b, uint32_t i) -> Buffer& {
    return *b.mutable_memory()->mutable_buffers()->GetMutableObject(i);
  };
  expect_meta_error([&](Bundle& b) { op(b, 2).mutable_inputs()->Mutate(0, 99); },
                    "plan op 2 (Linear): input buffer 99 out of range (9 buffers)");
  expect_meta_error([&](Bundle& b) { op(b, 5).mutable_inputs()->Mutate(2, -1); },
                    "plan op 5 (Attention): input buffer -1 out of range");
  expect_meta_error([&](Bundle& b) { op(b, 2).mutable_outputs()->Mutate(0, 6); },
                    "plan op 2 (Linear): output buffer 6 'fc1' holds 16 x U8 per row, expected 8 x F32");
  expect_meta_error([&](Bundle& b) { op(b, 8).mutable_outputs()->Mutate(1, 7); },
                    "plan op 8 (Linear): scratch buffer 7 'final' holds 8 x F32 per row, expected 16 x F32");
  expect_meta_error([&](Bundle& b) { op(b, 2).mutate_layer(5); }, "plan op 2 (Linear): layer 5 out of range");
  // (Fields equal to their default are not stored: op 3 is KProj, op 7 the FFN NormQuant, op 6 accumulates.)
  expect_meta_error([&](Bundle& b) { op(b, 3).mutate_linear(static_cast<LinearId>(12)); }, "unknown linear 12");
  expect_meta_error([&](Bundle& b) { op(b, 3).mutate_linear(LinearId::ProjectOut); },
                    "ProjectOut is absent from the model");
  expect_meta_error([&](Bundle& b) { op(b, 2).mutate_act(7); }, "plan op 2 (Linear): act 7 out of range");
  expect_meta_error([&](Bundle& b) { op(b, 7).mutate_norm(3); }, "plan op 7 (NormQuant): norm 3");
  expect_meta_error([&](Bundle& b) { op(b, 1).mutate_kind(static_cast<OpKind>(9)); }, "unknown op kind 9");
  expect_meta_error([&](Bundle& b) { op(b, 6).mutate_flags(static_cast<OpFlags>(64)); }, "unknown flag bits");
  expect_meta_error([&](Bundle& b) { op(b, 5).mutate_kind(OpKind::Linear); },
                    "plan op 5 (Linear): 3 inputs and 1 outputs, expected 1 and 1");
  expect_meta_error([&](Bundle& b) { buffer(b, 8).mutate_offset(1u << 20); },
                    "buffer 8 'fc1_scratch': 256 bytes at offset");
  expect_meta_error([&](Bundle& b) { buffer(b, 8).mutate_offset(8); }, "offset 8 is not 64-byte aligned");
  expect_meta_error([&](Bundle& b) { buffer(b, 1).mutate_row_elems(INT64_MAX); }, "row_elems");
  expect_meta_error([&](Bundle& b) { b.mutable_memory()->mutate_max_tokens(0); }, "max_tokens = 0 is out of range");
  expect_meta_error([&](Bundle& b) { buffer(b, 1).mutate_dtype(static_cast<DType>(200)); }, "unknown dtype DType(200)");
}

TEST_CASE("bundle corruption: tokenizer ids beyond the embedding", "[bundle][bad-input]") {
  expect_meta_error([](Bundle& b) { b.mutable_tokenizer()->mutate_eos_id(12); },
                    "tokenizer.eos_id 12 out of range (12 tokens)");
}
