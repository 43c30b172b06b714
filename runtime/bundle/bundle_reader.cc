#include "bundle/bundle_reader.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "bundle/checksum.h"
#include "bundle/verify.h"
#include "rptq/error.h"
#include "rptq/mapped_file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "bundles are little-endian and read in place: a big-endian reader would need byte swapping"
#endif

namespace rptq::bundle {

namespace {

std::string n(uint64_t v) { return std::to_string(v); }

[[noreturn]] void bad(const std::string& where, const std::string& problem) {
  throw BundleError(where, problem, false);
}

// Header fields and the file layout they describe, before anything they point at is read.
FileHeader check_header(const uint8_t* base, size_t size, const std::string& where) {
  if (size < sizeof(FileHeader)) {
    bad(where, "truncated: " + n(size) + " bytes, shorter than the " + n(sizeof(FileHeader)) + "-byte header");
  }
  FileHeader h;
  std::memcpy(&h, base, sizeof(h));
  if (std::memcmp(h.magic, kMagic, sizeof(kMagic)) != 0) bad(where, "not an rptq bundle (bad magic)");
  // Before the checksum: another version may lay the header out differently.
  if (h.schema_version != kSchemaVersion) {
    bad(where, "schema version " + n(h.schema_version) + ", this runtime reads " + n(kSchemaVersion));
  }
  if (h.header_size != sizeof(FileHeader)) {
    bad(where, "header_size is " + n(h.header_size) + ", expected " + n(sizeof(FileHeader)));
  }
  if (header_checksum(h) != h.header_xxh64) bad(where, "header checksum mismatch: the header is corrupt");
  if (h.file_size != size) {
    bad(where, size < h.file_size ? "truncated: " + n(size) + " bytes, the header says " + n(h.file_size)
                                  : n(size) + " bytes, the header says " + n(h.file_size) + " (trailing bytes)");
  }
  for (uint8_t r : h.reserved) {
    if (r != 0) bad(where, "reserved header bytes are not zero");
  }
  if (std::memchr(h.compiler_version, 0, sizeof(h.compiler_version)) == nullptr) {
    bad(where, "header compiler_version is not NUL-terminated");
  }
  if (h.data_offset < sizeof(FileHeader) || h.data_offset % kDataAlignment != 0) {
    bad(where, "data_offset " + n(h.data_offset) + " is not a multiple of " + n(kDataAlignment) + " after the header");
  }
  if (h.data_offset > size || h.data_size > size - h.data_offset) {
    bad(where,
        "data segment [" + n(h.data_offset) + ", +" + n(h.data_size) + ") exceeds the file (" + n(size) + " bytes)");
  }
  // The gap is not checksummed: requiring zeros keeps every byte of a valid file meaningful.
  for (uint64_t i = sizeof(FileHeader); i < h.data_offset; ++i) {
    if (base[i] != 0) bad(where, "bytes between the header and the data segment are not zero");
  }
  if (h.meta_offset < h.data_offset + h.data_size || h.meta_offset % 8 != 0) {
    bad(where, "meta_offset " + n(h.meta_offset) + " must be 8-aligned and after the data segment");
  }
  if (h.meta_offset > size || h.meta_size > size - h.meta_offset) {
    bad(where, "metadata [" + n(h.meta_offset) + ", +" + n(h.meta_size) + ") exceeds the file (" + n(size) + " bytes)");
  }
  if (h.meta_size >= FLATBUFFERS_MAX_BUFFER_SIZE) bad(where, "metadata larger than 2 GiB");
  return h;
}

const Bundle* check_metadata(const uint8_t* meta, size_t size, uint64_t expected_xxh64, const std::string& where) {
  if (xxh64(meta, size) != expected_xxh64) bad(where, "metadata checksum mismatch: the metadata is corrupt");
  if (size < 8 || !BundleBufferHasIdentifier(meta)) bad(where, "metadata lacks the \"RPTQ\" file identifier");
  flatbuffers::Verifier verifier(meta, size);
  if (!VerifyBundleBuffer(verifier)) {
    bad(where, "metadata is not a valid schema-" + n(kSchemaVersion) + " flatbuffer (bad offsets or missing fields)");
  }
  return GetBundle(meta);
}

struct FreeDeleter {
  void operator()(const void* p) const { std::free(const_cast<void*>(p)); }
};

}  // namespace

std::shared_ptr<const LoadedBundle> LoadedBundle::open(const std::string& path, bool check_segment_checksums) {
  std::shared_ptr<const MappedFile> file;
  try {
    file = MappedFile::open(path);
  } catch (const Error& e) {  // "<path>: <problem>" from MappedFile: same message, marked as I/O
    const std::string msg = e.what();
    throw BundleError(path, msg.substr(std::min(msg.size(), e.where().size() + 2)), /*io=*/true);
  }
  const uint8_t* base = file->data();
  const size_t size = file->size();
  return load(std::move(file), base, size, path, check_segment_checksums);
}

std::shared_ptr<const LoadedBundle> LoadedBundle::from_memory(const void* data, size_t size, const std::string& name,
                                                              bool check_segment_checksums) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  if (size == 0 || reinterpret_cast<uintptr_t>(bytes) % kTensorAlignment == 0) {
    return load(nullptr, bytes, size, name, check_segment_checksums);
  }
  const size_t rounded = (size + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
  void* copy = std::aligned_alloc(kTensorAlignment, rounded);
  if (!copy) throw std::bad_alloc();
  std::shared_ptr<const void> owner(copy, FreeDeleter());
  std::memcpy(copy, bytes, size);
  return load(std::move(owner), static_cast<const uint8_t*>(copy), size, name, check_segment_checksums);
}

std::shared_ptr<const LoadedBundle> LoadedBundle::load(std::shared_ptr<const void> owner, const uint8_t* base,
                                                       size_t size, const std::string& name,
                                                       bool check_segment_checksums) {
  std::shared_ptr<LoadedBundle> b(new LoadedBundle);
  b->header_ = check_header(base, size, name);
  b->root_ = check_metadata(base + b->header_.meta_offset, b->header_.meta_size, b->header_.meta_xxh64, name);
  b->owner_ = std::move(owner);
  b->name_ = name;
  b->data_ = base + b->header_.data_offset;

  const MetaCheck check(b->name_, *b->root_, b->data_, b->header_.data_size);
  verify_spans(check);
  verify_model(check);
  verify_plan(check);
  // Last: the structural checks above are cheap and give the more precise message.
  if (check_segment_checksums) verify_segment_checksums(check);
  b->checksums_verified_ = check_segment_checksums;
  return b;
}

ByteView LoadedBundle::span(const Span& s) const {
  const uint64_t data_size = header_.data_size;
  if (s.offset() > data_size || s.size() > data_size - s.offset()) {
    fail(name_, "span [" + n(s.offset()) + ", +" + n(s.size()) + ") lies outside the data segment");
  }
  return {data_ + s.offset(), static_cast<size_t>(s.size())};
}

const Tensor& LoadedBundle::tensor(int32_t index) const {
  const auto* tensors = root_->tensors();
  if (index < 0 || static_cast<uint32_t>(index) >= tensors->size()) {
    fail(name_, "tensor index " + std::to_string(index) + " out of range (" + n(tensors->size()) + " tensors)");
  }
  return *tensors->Get(static_cast<uint32_t>(index));
}

const void* LoadedBundle::typed_data(int32_t index, DType a, DType b) const {
  const Tensor& t = tensor(index);
  if (t.dtype() != a && t.dtype() != b) {
    fail(name_, "tensor " + std::to_string(index) + " '" + printable(t.name()) + "' has dtype " +
                    dtype_name(t.dtype()) + ", not " + dtype_name(a));
  }
  return span(*t.data()).data;
}

const KernelSection* LoadedBundle::kernel_section(Target target) const {
  if (!root_->kernels()) return nullptr;
  for (const KernelSection* k : *root_->kernels()) {
    if (k->target() == target) return k;
  }
  return nullptr;
}

const QuantLinear* find_linear(const Model& model, int32_t layer, LinearId id) {
  if (id == LinearId::ProjectOut) return model.project_out();
  if (layer < 0 || static_cast<uint32_t>(layer) >= model.layers()->size()) return nullptr;
  const DecoderLayer* l = model.layers()->Get(static_cast<uint32_t>(layer));
  switch (id) {
    case LinearId::QProj: return l->q_proj();
    case LinearId::KProj: return l->k_proj();
    case LinearId::VProj: return l->v_proj();
    case LinearId::OutProj: return l->out_proj();
    case LinearId::Fc1: return l->fc1();
    case LinearId::Fc2: return l->fc2();
    case LinearId::ProjectOut: break;
  }
  return nullptr;
}

const LayerNorm* find_norm(const Model& model, int32_t layer, uint8_t norm) {
  if (norm == 2) return model.final_norm();
  if (layer < 0 || static_cast<uint32_t>(layer) >= model.layers()->size()) return nullptr;
  const DecoderLayer* l = model.layers()->Get(static_cast<uint32_t>(layer));
  return norm == 0 ? l->attn_norm() : norm == 1 ? l->ffn_norm() : nullptr;
}

const ActQuant* find_act(const Model& model, int32_t layer, int32_t point) {
  if (layer < 0 || static_cast<uint32_t>(layer) >= model.layers()->size()) return nullptr;
  const auto* acts = model.layers()->Get(static_cast<uint32_t>(layer))->acts();
  if (point < 0 || static_cast<uint32_t>(point) >= acts->size()) return nullptr;
  return acts->Get(static_cast<uint32_t>(point));
}

}  // namespace rptq::bundle
