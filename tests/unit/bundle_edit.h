// Precise corruption of bundle bytes for tests and the fuzzer: edit a valid bundle, then make its
// checksums agree again, so that the check under test is the one that must catch the edit.
// Header-only and free of the writer, so the clang-built fuzzer can include it.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "bundle/bundle_format.h"
#include "bundle/checksum.h"
#include "schema/bundle_generated.h"

namespace rptq::test {

using namespace rptq::bundle;

inline FileHeader read_header(const uint8_t* file) {
  FileHeader h;
  std::memcpy(&h, file, sizeof(h));
  return h;
}

// Recomputes the metadata and header checksums (when the header's ranges allow it).
inline void reseal(uint8_t* file, size_t size) {
  if (size < sizeof(FileHeader)) return;
  FileHeader h = read_header(file);
  if (h.meta_offset <= size && h.meta_size <= size - h.meta_offset)
    h.meta_xxh64 = xxh64(file + h.meta_offset, h.meta_size);
  h.header_xxh64 = header_checksum(h);
  std::memcpy(file, &h, sizeof(h));
}
inline void reseal(std::string& file) { reseal(reinterpret_cast<uint8_t*>(file.data()), file.size()); }

// The root table of a valid bundle's bytes, for in-place edits (fields present in the buffer only).
inline Bundle* mutable_root(std::string& file) {
  const FileHeader h = read_header(reinterpret_cast<const uint8_t*>(file.data()));
  return GetMutableBundle(file.data() + h.meta_offset);
}

inline const Bundle* root_of(const std::string& file) {
  const FileHeader h = read_header(reinterpret_cast<const uint8_t*>(file.data()));
  return GetBundle(file.data() + h.meta_offset);
}

// Segment checksums live in the metadata: recompute them after editing data bytes.
inline void rehash_segments(std::string& file) {
  const FileHeader h = read_header(reinterpret_cast<const uint8_t*>(file.data()));
  Bundle* b = mutable_root(file);
  for (uint32_t i = 0; i < b->segments()->size(); ++i) {
    Segment* s = b->mutable_segments()->GetMutableObject(i);
    s->mutate_xxh64(xxh64(file.data() + h.data_offset + s->span()->offset(), s->span()->size()));
  }
  reseal(file);
}

}  // namespace rptq::test
