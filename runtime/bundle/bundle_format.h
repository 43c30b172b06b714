// The fixed-size file header of an rptq bundle and the layout constants (docs/bundle.md).
// Shared by the writer (codegen/bundle) and the reader (runtime/bundle).
#pragma once

#include <cstdint>

namespace rptq::bundle {

inline constexpr char kMagic[8] = {'R', 'P', 'T', 'Q', 'B', 'N', 'D', 'L'};
inline constexpr uint32_t kSchemaVersion = 2;  // of runtime/schema/bundle.fbs and this header
inline constexpr uint64_t kDataAlignment = 4096;  // data segment start: mmap-able pages
inline constexpr uint64_t kTensorAlignment = 64;  // every tensor / code blob inside it

// Little-endian, 128 bytes at offset 0.
struct FileHeader {
  char magic[8];                // kMagic
  uint32_t schema_version;      // kSchemaVersion
  uint32_t header_size;         // sizeof(FileHeader)
  char compiler_version[16];    // NUL-padded, e.g. "0.1.0"
  uint64_t data_offset;         // multiple of kDataAlignment
  uint64_t data_size;
  uint64_t meta_offset;         // the flatbuffer (runtime/schema/bundle.fbs), after the data, 8-aligned
  uint64_t meta_size;
  uint64_t meta_xxh64;          // XXH64 (seed 0) of the flatbuffer bytes
  uint64_t file_size;           // the whole file; a shorter file is truncated
  uint8_t reserved[40];         // zero
  uint64_t header_xxh64;        // XXH64 (seed 0) of the 120 bytes before it
};
static_assert(sizeof(FileHeader) == 128, "the header layout is part of the file format");

}  // namespace rptq::bundle
