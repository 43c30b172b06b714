// Streams an rptq bundle (docs/bundle.md) to disk: tensor and kernel bytes go to the file as they
// are added, so the compiler never holds every tensor in memory; the metadata and the header are
// written by commit(). The file appears at `path` whole and verified, or not at all.
//
//   BundleWriter w("model.rptq");
//   int32_t emb = w.add_tensor("embed_tokens", DType::F32, {vocab, dim}, data, bytes);
//   ... build Model, Tokenizer, plan and MemoryPlan with w.builder(), referring to tensor indices ...
//   BundleRoot root;
//   root.compiler_version = "0.1.0"; root.model = model; root.plan = plan; root.memory = memory;
//   w.commit(root);
//
// Same calls, same bytes: nothing depends on time, addresses or uninitialized memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bundle/checksum.h"
#include "schema/bundle_generated.h"

namespace rptq {
class AtomicFile;
}

namespace rptq::bundle {

// The caller's part of the root table. The writer adds tensors, kernels and segments.
struct BundleRoot {
  std::string compiler_version;              // also stored in the file header: at most 15 bytes
  std::string settings;                      // e.g. "W4A8"
  std::string method;                        // "rptq", "per_tensor", "no_reorder"
  std::string source;                        // model directory name
  flatbuffers::Offset<Model> model;          // required
  flatbuffers::Offset<Tokenizer> tokenizer;  // optional
  flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<Op>>> plan;  // required
  flatbuffers::Offset<MemoryPlan> memory;                                  // required
  double simulated_perplexity = -1;                                        // -1: not measured
};

class BundleWriter {
 public:
  // Creates a temporary file beside `path`. Throws rptq::Error naming `path` on I/O failures.
  explicit BundleWriter(std::string path);
  // Without a successful commit(): removes the temporary file; `path` is untouched.
  ~BundleWriter();
  BundleWriter(const BundleWriter&) = delete;
  BundleWriter& operator=(const BundleWriter&) = delete;

  // For the caller's tables (Model, Tokenizer, Op, MemoryPlan...). Don't call add_* or commit()
  // while a table is under construction.
  flatbuffers::FlatBufferBuilder& builder() { return fbb_; }

  // Writes the bytes now, 64-byte aligned; returns the index in Bundle.tensors. `size` must equal
  // what dtype × shape needs (U4: ceil(last_dim / 2) bytes per row).
  int32_t add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape, const void* data,
                     size_t size);
  template <class T>
  int32_t add_tensor(const std::string& name, DType dtype, const std::vector<int64_t>& shape,
                     const std::vector<T>& values) {
    return add_tensor(name, dtype, shape, values.data(), values.size() * sizeof(T));
  }

  // Native code for one target, in a checksummed segment of its own; returns the index in
  // Bundle.kernels.
  int32_t add_kernel_blob(Target target, const std::string& format, int32_t abi_version, const std::string& isa,
                          const std::vector<std::string>& entry_points, const void* data, size_t size);

  // Writes the metadata and the header, verifies the file as the runtime will (all but the segment
  // hashes, which were computed while streaming), flushes it to disk and renames it over `path`.
  // A bundle that does not verify is an error naming `path` and nothing is published.
  void commit(const BundleRoot& root);

  const std::string& path() const { return path_; }

 private:
  struct PendingTensor;
  struct PendingKernel;
  struct PendingSegment;

  uint64_t append_blob(const void* data, size_t size, bool tensor);
  void close_segment();
  void check_open() const;

  std::string path_;
  std::unique_ptr<AtomicFile> file_;
  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<PendingTensor> tensors_;
  std::vector<PendingKernel> kernels_;
  std::vector<PendingSegment> segments_;
  uint64_t data_end_ = 0;  // relative to the data segment's start

  // The segment being streamed: [open_start_, data_end_), hashed so far by open_hash_.
  bool segment_open_ = false;
  bool open_is_tensors_ = false;
  std::string open_name_;
  uint64_t open_start_ = 0;
  Xxh64Stream open_hash_;
  int tensor_runs_ = 0;
  bool committed_ = false;
};

}  // namespace rptq::bundle
