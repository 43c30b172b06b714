// The safetensors reader against well-formed files built byte by byte, and against every way a
// header can lie: each must give an rptq::Error naming the file, never a crash or a wild read.
#include <catch2/catch.hpp>
#include <cstring>

#include "hf/tensor_ref.h"
#include "rptq/error.h"
#include "test_util.h"

using rptq::hf::DType;
using rptq::hf::TensorMap;

namespace {

std::string safetensors(const std::string& header, const std::string& data) {
  std::string out(8, '\0');
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + header + data;
}

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

void expect_error(const std::string& bytes, const std::string& needle) {
  rptq::test::TempDir dir;
  const std::string path = dir.file("model.safetensors");
  rptq::test::write_file(path, bytes);
  TensorMap m;
  try {
    rptq::hf::read_safetensors(path, m);
    FAIL("expected an error containing '" << needle << "'");
  } catch (const rptq::Error& e) {
    INFO(e.what());
    CHECK(std::string(e.what()).find(path) != std::string::npos);
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}

}  // namespace

TEST_CASE("safetensors: reads f32, f16 and bf16 tensors", "[safetensors]") {
  // 1.5 in f16 is 0x3e00; in bf16 0x3fc0. -2 in f16 is 0xc000; in bf16 0xc000.
  std::string data = floats({1.0f, 2.0f, 3.0f, 4.0f, 5.0f, 6.0f});
  data += std::string("\x00\x3e\x00\xc0", 4) + std::string("\xc0\x3f\x00\xc0", 4);
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},)"
      R"("h":{"dtype":"F16","shape":[2],"data_offsets":[24,28]},)"
      R"("b":{"dtype":"BF16","shape":[2],"data_offsets":[28,32]},"__metadata__":{"format":"pt"}})";
  rptq::test::TempDir dir;
  rptq::test::write_file(dir.file("m.safetensors"), safetensors(header, data));
  TensorMap m;
  rptq::hf::read_safetensors(dir.file("m.safetensors"), m);
  REQUIRE(m.size() == 3);
  CHECK(m.at("a").shape == std::vector<int64_t>{2, 3});
  CHECK(rptq::hf::to_f32(m.at("a")) == std::vector<float>{1, 2, 3, 4, 5, 6});
  CHECK(rptq::hf::to_f32(m.at("h")) == std::vector<float>{1.5f, -2.0f});
  CHECK(rptq::hf::to_f32(m.at("b")) == std::vector<float>{1.5f, -2.0f});
}

TEST_CASE("safetensors: unsupported dtypes load but refuse conversion", "[safetensors]") {
  const std::string header = R"({"ids":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})";
  rptq::test::TempDir dir;
  rptq::test::write_file(dir.file("m.safetensors"), safetensors(header, std::string(16, '\0')));
  TensorMap m;
  rptq::hf::read_safetensors(dir.file("m.safetensors"), m);
  CHECK(m.at("ids").dtype == DType::Unsupported);
  CHECK_THROWS_WITH(rptq::hf::to_f32(m.at("ids")), Catch::Contains("I64"));
}

TEST_CASE("safetensors: lying or broken headers are errors naming the file", "[safetensors][bad-input]") {
  const std::string good_header = R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  const std::string data = floats({1.0f, 2.0f});
  expect_error("", "truncated");
  expect_error(std::string("\x05\x00\x00", 3), "truncated");
  expect_error(safetensors(good_header, data).substr(0, 20), "exceeds the file size");
  expect_error(safetensors("{not json", data), "not valid JSON");
  expect_error(safetensors("[1,2]", data), "not a JSON object");
  expect_error(safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,800]}})", data), "past the data section");
  expect_error(safetensors(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", data), "needs 12");
  expect_error(safetensors(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", data), "> end");
  expect_error(safetensors(R"({"a":{"dtype":"F99","shape":[2],"data_offsets":[0,8]}})", data), "unknown dtype");
  expect_error(safetensors(R"({"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", data), "non-negative");
  expect_error(safetensors(R"({"a":{"dtype":"F32","shape":[2]}})", data), "data_offsets");
  expect_error(safetensors(R"({"a":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", data),
               "overflow");
  expect_error(safetensors(R"({"a":5})", data), "not an object");
}

TEST_CASE("safetensors: a missing file is an error naming it", "[safetensors][bad-input]") {
  TensorMap m;
  CHECK_THROWS_WITH(rptq::hf::read_safetensors("/nonexistent/model.safetensors", m),
                    Catch::Contains("/nonexistent/model.safetensors") && Catch::Contains("cannot open"));
}

TEST_CASE("safetensors: every truncation of a valid file is rejected or read in bounds", "[safetensors][bad-input]") {
  const std::string header = R"({"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
  const std::string full = safetensors(header, floats({1, 2, 3, 4}));
  rptq::test::TempDir dir;
  for (size_t len = 0; len < full.size(); ++len) {
    rptq::test::write_file(dir.file("t.safetensors"), full.substr(0, len));
    TensorMap m;
    CHECK_THROWS_AS(rptq::hf::read_safetensors(dir.file("t.safetensors"), m), rptq::Error);
  }
}
