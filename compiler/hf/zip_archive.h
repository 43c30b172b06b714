// A minimal, bounds-checked reader of zip archives held in memory (a mapped file).
// Enough for torch.save output: end-of-central-directory search, ZIP64 (multi-GB shards),
// central directory, local headers. Only STORED (uncompressed) entries can be read; their bytes
// are handed out as pointers into the mapped buffer, never copied.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace rptq::hf {

struct ZipEntry {
  std::string name;
  uint16_t method = 0;       // 0 = stored
  uint16_t flags = 0;
  uint64_t size = 0;         // uncompressed size
  uint64_t csize = 0;        // compressed size (== size for stored entries)
  uint64_t header_offset = 0;  // local file header
  uint64_t data_offset = 0;    // first data byte; valid (data_offset + csize <= file size) once parsed
};

class ZipArchive {
 public:
  // Parses the central directory and every local header of `data[0, size)`. Throws rptq::Error
  // naming `where` (the file path) on anything malformed or pointing outside the buffer.
  ZipArchive(const uint8_t* data, size_t size, std::string where);

  const std::vector<ZipEntry>& entries() const { return entries_; }
  // nullptr if absent. With duplicate names, the first central-directory entry wins.
  const ZipEntry* find(const std::string& name) const;
  // Bytes of a STORED entry (pointer into the buffer; `entry.size` bytes, all in bounds).
  // Throws rptq::Error for compressed or encrypted entries.
  const uint8_t* stored_data(const ZipEntry& entry) const;

 private:
  [[noreturn]] void bad(const std::string& problem) const;
  const uint8_t* data_;
  size_t size_;
  std::string where_;
  std::vector<ZipEntry> entries_;
  std::unordered_map<std::string, size_t> by_name_;
};

}  // namespace rptq::hf
