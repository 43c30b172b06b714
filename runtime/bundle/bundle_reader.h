// A verified, read-only view of an rptq bundle (docs/bundle.md). Opening checks everything the
// runtime relies on—header, checksums, the flatbuffer, every span, tensor and index—so code that
// holds a LoadedBundle can index tensors and buffers without further bounds checks. Any defect is
// a BundleError (an rptq::Error) naming the file (or the name given to from_memory) and the
// problem; no input makes it crash or read outside the bytes it was given.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <type_traits>

#include "bundle/bundle_format.h"
#include "bundle/dtype.h"
#include "rptq/error.h"
#include "schema/bundle_generated.h"

namespace rptq::bundle {

// Everything the reader throws about a bundle: the file (or from_memory's name) and the problem.
// io() tells a file that could not be read at all from one that is not a valid bundle.
class BundleError : public Error {
 public:
  BundleError(const std::string& where, std::string problem, bool io)
      : Error(where, problem), problem_(std::move(problem)), io_(io) {}
  bool io() const { return io_; }
  const std::string& problem() const { return problem_; }  // the message without the name

 private:
  std::string problem_;
  bool io_;
};

struct ByteView {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

// Immutable once opened; share it (and the pointers it hands out) freely between threads.
class LoadedBundle {
 public:
  // Maps the file read-only; the mapping lives as long as the LoadedBundle.
  // check_segment_checksums: hashing the segments reads every byte of the file. Skipping it (huge,
  // trusted bundles) keeps every structural check; only bit rot inside tensor data goes unnoticed.
  static std::shared_ptr<const LoadedBundle> open(const std::string& path, bool check_segment_checksums = true);
  // Reads a bundle already in memory. The bytes are borrowed: they must stay alive and unchanged
  // while the LoadedBundle (or any pointer obtained from it) is in use. Memory that is not
  // 64-byte aligned is copied first, because tensor data is handed out as typed pointers.
  static std::shared_ptr<const LoadedBundle> from_memory(const void* data, size_t size,
                                                         const std::string& name = "<memory>",
                                                         bool check_segment_checksums = true);
  LoadedBundle(const LoadedBundle&) = delete;
  LoadedBundle& operator=(const LoadedBundle&) = delete;

  // The verified metadata (runtime/schema/bundle.fbs).
  const Bundle* root() const { return root_; }
  const Bundle& meta() const { return *root_; }
  const FileHeader& header() const { return header_; }
  const std::string& name() const { return name_; }
  bool segment_checksums_verified() const { return checksums_verified_; }
  // The data segment, header().data_size bytes, 64-byte aligned; every Span of the bundle is inside.
  const uint8_t* data_segment() const { return data_; }

  // Bytes of a span of the data segment. Throws if it lies outside (no span of this bundle does).
  ByteView span(const Span& s) const;
  // Throws on an index outside Bundle.tensors.
  const Tensor& tensor(int32_t index) const;
  ByteView tensor_bytes(int32_t index) const { return span(*tensor(index).data()); }
  // Typed data; throws unless the tensor's dtype stores T: float F32, uint16_t F16 (raw halves),
  // uint8_t U8 or packed U4, int32_t I32, int64_t I64.
  template <class T>
  const T* tensor_data(int32_t index) const {
    using std::is_same_v;
    static_assert(is_same_v<T, float> || is_same_v<T, uint16_t> || is_same_v<T, uint8_t> || is_same_v<T, int32_t> ||
                      is_same_v<T, int64_t>,
                  "no bundle dtype stores this type");
    constexpr DType a = is_same_v<T, float>      ? DType::F32
                        : is_same_v<T, uint16_t> ? DType::F16
                        : is_same_v<T, uint8_t>  ? DType::U8
                        : is_same_v<T, int32_t>  ? DType::I32
                                                 : DType::I64;
    return static_cast<const T*>(typed_data(index, a, is_same_v<T, uint8_t> ? DType::U4 : a));
  }
  // The first kernel section built for `target`, or nullptr.
  const KernelSection* kernel_section(Target target) const;

 private:
  LoadedBundle() = default;
  static std::shared_ptr<const LoadedBundle> load(std::shared_ptr<const void> owner, const uint8_t* base, size_t size,
                                                  const std::string& name, bool check_segment_checksums);
  const void* typed_data(int32_t index, DType a, DType b) const;

  std::shared_ptr<const void> owner_;  // keeps the mapping (or the aligned copy) alive
  std::string name_;
  FileHeader header_{};
  const uint8_t* data_ = nullptr;  // the data segment
  const Bundle* root_ = nullptr;
  bool checksums_verified_ = false;
};

// Model lookups shared by the verifier, the inspector and the runtime; nullptr when absent
// (layer out of range, optional linear or norm not present).
const QuantLinear* find_linear(const Model& model, int32_t layer, LinearId id);
const LayerNorm* find_norm(const Model& model, int32_t layer, uint8_t norm);  // 0 attn, 1 ffn, 2 final
const ActQuant* find_act(const Model& model, int32_t layer, int32_t point);

}  // namespace rptq::bundle
