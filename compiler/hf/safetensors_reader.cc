// safetensors: u64 little-endian header length N, N bytes of JSON, then the data section.
// Every header field is untrusted: offsets, sizes, shapes and dtypes are all checked before a
// TensorRef is handed out.
#include <limits>
#include <nlohmann/json.hpp>

#include "hf/tensor_ref.h"
#include "rptq/error.h"

namespace rptq::hf {
namespace {

DType parse_dtype(const std::string& s) {
  if (s == "F32") return DType::F32;
  if (s == "F16") return DType::F16;
  if (s == "BF16") return DType::BF16;
  static const char* known[] = {"F64", "I64", "I32", "I16", "I8", "U8", "BOOL", "U16", "U32", "U64", "F8_E4M3", "F8_E5M2"};
  for (const char* k : known)
    if (s == k) return DType::Unsupported;
  return DType(-1);
}

size_t other_dtype_size(const std::string& s) {
  if (s == "F64" || s == "I64" || s == "U64") return 8;
  if (s == "I32" || s == "U32") return 4;
  if (s == "I16" || s == "U16") return 2;
  return 1;
}

}  // namespace

void read_safetensors(const std::string& path, TensorMap& out) {
  auto file = MappedFile::open(path);
  const uint8_t* base = file->data();
  const size_t size = file->size();
  if (size < 8) fail(path, "truncated safetensors file: " + std::to_string(size) + " bytes, no header length");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | base[i];
  if (header_len > size - 8)
    fail(path, "safetensors header length " + std::to_string(header_len) + " exceeds the file size " +
                   std::to_string(size) + " (truncated or corrupt file)");
  const uint64_t data_begin = 8 + header_len;
  const uint64_t data_size = size - data_begin;

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(base + 8, base + data_begin);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("safetensors header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail(path, "safetensors header is not a JSON object");

  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    if (name == "__metadata__") continue;
    const auto& info = it.value();
    auto bad = [&](const std::string& what) { fail(path, "tensor '" + name + "': " + what); };
    if (!info.is_object()) bad("header entry is not an object");
    if (!info.contains("dtype") || !info["dtype"].is_string()) bad("missing or non-string dtype");
    if (!info.contains("shape") || !info["shape"].is_array()) bad("missing or non-array shape");
    if (!info.contains("data_offsets") || !info["data_offsets"].is_array() || info["data_offsets"].size() != 2)
      bad("data_offsets must be an array [begin, end]");

    TensorRef t;
    t.name = name;
    t.dtype_text = info["dtype"].get<std::string>();
    t.dtype = parse_dtype(t.dtype_text);
    if (static_cast<int>(t.dtype) == -1) bad("unknown dtype '" + t.dtype_text + "'");
    const size_t es = t.dtype == DType::Unsupported ? other_dtype_size(t.dtype_text) : dtype_size(t.dtype);

    uint64_t numel = 1;
    for (const auto& d : info["shape"]) {
      if (!d.is_number_unsigned()) bad("shape entries must be non-negative integers");
      uint64_t v = d.get<uint64_t>();
      if (v != 0 && numel > std::numeric_limits<uint64_t>::max() / v) bad("shape overflows");
      numel *= v;
      t.shape.push_back(static_cast<int64_t>(v));
    }
    if (numel > (std::numeric_limits<uint64_t>::max() / 8)) bad("shape overflows");
    const auto& offs = info["data_offsets"];
    if (!offs[0].is_number_unsigned() || !offs[1].is_number_unsigned())
      bad("data_offsets must be non-negative integers");
    uint64_t begin = offs[0].get<uint64_t>(), end = offs[1].get<uint64_t>();
    if (begin > end) bad("data_offsets begin " + std::to_string(begin) + " > end " + std::to_string(end));
    if (end > data_size)
      bad("data_offsets end " + std::to_string(end) + " lies past the data section (" + std::to_string(data_size) +
          " bytes; truncated file?)");
    if (end - begin != numel * es)
      bad("data_offsets span " + std::to_string(end - begin) + " bytes but shape " + shape_text(t.shape) + " of " +
          t.dtype_text + " needs " + std::to_string(numel * es));
    t.strides = contiguous_strides(t.shape);
    t.data = base + data_begin + begin;
    t.file = file;
    if (!out.emplace(name, std::move(t)).second) fail(path, "tensor '" + name + "' appears in more than one file");
  }
}

}  // namespace rptq::hf
