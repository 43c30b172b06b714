// XXH64 (seed 0), the bundle's one checksum: of the header, the metadata and each data segment.
// xxHash is compiled into checksum.cc only (XXH_INLINE_ALL), so nothing links libxxhash.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

namespace rptq::bundle {

struct FileHeader;

uint64_t xxh64(const void* data, size_t size);

// Of the header's bytes before its header_xxh64 field.
uint64_t header_checksum(const FileHeader& header);

// XXH64 over bytes that arrive in pieces (the writer streams segments to disk).
class Xxh64Stream {
 public:
  Xxh64Stream();
  ~Xxh64Stream();
  Xxh64Stream(Xxh64Stream&&) noexcept;
  Xxh64Stream& operator=(Xxh64Stream&&) noexcept;

  void reset();
  void update(const void* data, size_t size);
  uint64_t digest() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace rptq::bundle
