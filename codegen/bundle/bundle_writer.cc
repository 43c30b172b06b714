#include "bundle/bundle_writer.h"

#include <cstdint>
#include <cstring>

#include "bundle/bundle_format.h"
#include "bundle/bundle_reader.h"
#include "bundle/dtype.h"
#include "rptq/error.h"
#include "support/atomic_file.h"

namespace rptq::bundle {

struct BundleWriter::PendingTensor {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  Span span;
};

struct BundleWriter::PendingKernel {
  Target target;
  std::string format;
  int32_t abi_version;
  std::string isa;
  std::vector<std::string> entry_points;
  Span span;
};

struct BundleWriter::PendingSegment {
  std::string name;
  Span span;
  uint64_t xxh64;
};

namespace {

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

BundleWriter::BundleWriter(std::string path) : path_(std::move(path)), file_(std::make_unique<AtomicFile>(path_)) {
  // The header is written last, over these zeros; the data segment starts on the next page.
  file_->append_zeros(kDataAlignment);
}

BundleWriter::~BundleWriter() = default;

void BundleWriter::check_open() const {
  if (committed_) fail(path_, "bundle writer used after commit");
}

void BundleWriter::close_segment() {
  if (!segment_open_) return;
  segments_.push_back({open_name_, Span(open_start_, data_end_ - open_start_), open_hash_.digest()});
  segment_open_ = false;
}

// Pads to the next 64-byte boundary and writes `data` there. Consecutive tensors share one
// segment (the padding between them is hashed with them); each kernel blob gets its own.
uint64_t BundleWriter::append_blob(const void* data, size_t size, bool tensor) {
  const uint64_t start = align_up(data_end_, kTensorAlignment);
  static const uint8_t zeros[kTensorAlignment] = {};
  const bool continues = segment_open_ && open_is_tensors_ && tensor;
  if (!continues) close_segment();
  file_->append_zeros(start - data_end_);
  if (continues) open_hash_.update(zeros, start - data_end_);
  if (!continues) {
    segment_open_ = true;
    open_is_tensors_ = tensor;
    open_start_ = start;
    open_hash_.reset();
    // Kernel segments are named by add_kernel_blob, which closes them at once.
    open_name_ = tensor ? (tensor_runs_++ == 0 ? "tensors" : "tensors." + std::to_string(tensor_runs_)) : "";
  }
  file_->append(data, size);
  open_hash_.update(data, size);
  data_end_ = start + size;
  return start;
}

int32_t BundleWriter::add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                                 const void* data, size_t size) {
  check_open();
  const auto expected = tensor_byte_size(dtype, shape);
  if (!expected || *expected != size) {
    fail(path_, "tensor '" + name + "': " + std::to_string(size) + " bytes given but dtype " + dtype_name(dtype) +
                    " x shape " + shape_string(shape.data(), shape.size()) + " needs " +
                    (expected ? std::to_string(*expected) : std::string("an invalid size")));
  }
  if (tensors_.size() >= static_cast<size_t>(INT32_MAX)) fail(path_, "too many tensors");
  const uint64_t offset = append_blob(data, size, true);
  tensors_.push_back({name, dtype, shape, Span(offset, size)});
  return static_cast<int32_t>(tensors_.size() - 1);
}

int32_t BundleWriter::add_kernel_blob(Target target, const std::string& format, int32_t abi_version,
                                      const std::string& isa, const std::vector<std::string>& entry_points,
                                      const void* data, size_t size) {
  check_open();
  if (target < Target::MIN || target > Target::MAX) {
    fail(path_, "kernel blob for unknown target " + std::to_string(static_cast<unsigned>(target)));
  }
  const uint64_t offset = append_blob(data, size, false);
  open_name_ = "kernels/" + std::string(EnumNameTarget(target)) + "." + std::to_string(kernels_.size());
  close_segment();
  kernels_.push_back({target, format, abi_version, isa, entry_points, Span(offset, size)});
  return static_cast<int32_t>(kernels_.size() - 1);
}

void BundleWriter::commit(const BundleRoot& root) {
  check_open();
  if (root.model.IsNull() || root.plan.IsNull() || root.memory.IsNull()) {
    fail(path_, "commit: the model, plan and memory plan are required");
  }
  if (root.compiler_version.size() >= sizeof(FileHeader::compiler_version)) {
    fail(path_, "compiler version '" + root.compiler_version + "' is longer than 15 bytes");
  }
  close_segment();
  const uint64_t data_size = align_up(data_end_, kTensorAlignment);
  file_->append_zeros(data_size - data_end_);

  // The writer's part of the metadata, then the root.
  auto& fbb = fbb_;
  std::vector<flatbuffers::Offset<Tensor>> tensors;
  tensors.reserve(tensors_.size());
  // One statement per child object: argument evaluation order is unspecified, and the bytes must
  // not depend on the compiler.
  for (const PendingTensor& t : tensors_) {
    const auto name = fbb.CreateString(t.name);
    const auto shape = fbb.CreateVector(t.shape);
    tensors.push_back(CreateTensor(fbb, name, t.dtype, shape, &t.span));
  }
  std::vector<flatbuffers::Offset<KernelSection>> kernels;
  for (const PendingKernel& k : kernels_) {
    const auto format = fbb.CreateString(k.format);
    const auto entry_points = fbb.CreateVectorOfStrings(k.entry_points);
    const auto isa = fbb.CreateString(k.isa);
    kernels.push_back(CreateKernelSection(fbb, k.target, format, k.abi_version, &k.span, entry_points, isa));
  }
  std::vector<flatbuffers::Offset<Segment>> segments;
  for (const PendingSegment& s : segments_) {
    const auto name = fbb.CreateString(s.name);
    segments.push_back(CreateSegment(fbb, name, &s.span, s.xxh64));
  }
  const auto tensors_vec = fbb.CreateVector(tensors);
  const auto kernels_vec = fbb.CreateVector(kernels);
  const auto segments_vec = fbb.CreateVector(segments);
  const auto version = fbb.CreateString(root.compiler_version);
  const auto settings = fbb.CreateString(root.settings);
  const auto method = fbb.CreateString(root.method);
  const auto source = fbb.CreateString(root.source);
  FinishBundleBuffer(fbb, CreateBundle(fbb, version, settings, method, source, root.model, tensors_vec, root.tokenizer,
                                       root.plan, root.memory, kernels_vec, segments_vec, root.simulated_perplexity));

  FileHeader h{};
  std::memcpy(h.magic, kMagic, sizeof(kMagic));
  h.schema_version = kSchemaVersion;
  h.header_size = sizeof(FileHeader);
  std::memcpy(h.compiler_version, root.compiler_version.data(), root.compiler_version.size());
  h.data_offset = kDataAlignment;
  h.data_size = data_size;
  h.meta_offset = kDataAlignment + data_size;  // 64-aligned, so 8-aligned as the flatbuffer needs
  h.meta_size = fbb.GetSize();
  h.meta_xxh64 = xxh64(fbb.GetBufferPointer(), fbb.GetSize());
  h.file_size = h.meta_offset + h.meta_size;
  h.header_xxh64 = header_checksum(h);
  file_->append(fbb.GetBufferPointer(), fbb.GetSize());
  file_->write_at(0, &h, sizeof(h));
  file_->flush();

  // The compiler must never publish a bundle the runtime would reject.
  try {
    LoadedBundle::open(file_->temp_path(), /*check_segment_checksums=*/false);
  } catch (const BundleError& e) {
    fail(path_, "the written bundle does not verify: " + e.problem());
  }
  file_->commit();
  committed_ = true;
}

}  // namespace rptq::bundle
