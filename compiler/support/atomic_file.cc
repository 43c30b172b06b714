#include "support/atomic_file.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rptq/error.h"

namespace rptq {

void write_file_atomically(const std::string& path, std::string_view bytes) {
  AtomicFile f(path);
  f.append(bytes.data(), bytes.size());
  f.commit();
}

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(path_ + ".tmp-XXXXXX") {
  fd_ = ::mkstemp(tmp_.data());
  if (fd_ < 0) fail(path_, std::string("cannot create a temporary file beside it: ") + std::strerror(errno));
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) {
    ::close(fd_);
    ::unlink(tmp_.c_str());
  }
}

void AtomicFile::fail_errno(const char* what) const {
  fail(path_, std::string(what) + ": " + std::strerror(errno));
}

void AtomicFile::append(const void* data, size_t size) {
  write_at(size_, data, size);
}

void AtomicFile::append_zeros(size_t size) {
  static const char zeros[4096] = {};
  while (size > 0) {
    const size_t n = size < sizeof(zeros) ? size : sizeof(zeros);
    append(zeros, n);
    size -= n;
  }
}

void AtomicFile::write_at(uint64_t offset, const void* data, size_t size) {
  if (fd_ < 0) fail(path_, "write after commit");
  const char* p = static_cast<const char*>(data);
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::pwrite(fd_, p + done, size - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      fail_errno("cannot write");
    }
    done += static_cast<size_t>(n);
  }
  if (offset + size > size_) size_ = offset + size;
  flushed_ = false;
}

void AtomicFile::flush() {
  if (fd_ < 0) fail(path_, "flush after commit");
  if (::fchmod(fd_, 0644) != 0 || ::fsync(fd_) != 0) fail_errno("cannot flush");
  flushed_ = true;
}

void AtomicFile::commit() {
  if (!flushed_) flush();
  const int fd = fd_;
  fd_ = -1;  // from here on the destructor must not unlink: we do it ourselves on failure
  if (::close(fd) != 0) {
    ::unlink(tmp_.c_str());
    fail(path_, "cannot close the temporary file");
  }
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp_.c_str());
    fail(path_, std::string("cannot rename the temporary file into place: ") + std::strerror(e));
  }
  // The rename is durable only once the directory is flushed too. Best effort: some file
  // systems refuse fsync on directories, and the data itself is already safe.
  const size_t slash = path_.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : (slash == 0 ? "/" : path_.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

}  // namespace rptq
