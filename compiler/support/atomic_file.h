// Output files appear whole or not at all: bytes go to a temporary file in the destination's
// directory, are flushed to disk, and the file is renamed over the destination.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace rptq {

// The whole file in one call.
void write_file_atomically(const std::string& path, std::string_view bytes);

// The same, streamed: for outputs too large to hold in memory (bundles). The temporary file is
// created beside `path` (same directory, so the rename cannot cross file systems) with a unique
// name; destroying the object before commit() removes it and leaves `path` untouched. Every
// failure is an rptq::Error naming `path`.
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void append(const void* data, size_t size);
  void append_zeros(size_t size);
  // Overwrites bytes already written (a header filled in last).
  void write_at(uint64_t offset, const void* data, size_t size);
  uint64_t size() const { return size_; }

  // Flushes to disk without publishing: the temporary file can still be read back and checked.
  void flush();
  // flush(), then renames the temporary file over `path` and flushes the directory entry.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }

 private:
  [[noreturn]] void fail_errno(const char* what) const;
  std::string path_;
  std::string tmp_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool flushed_ = false;
};

}  // namespace rptq
