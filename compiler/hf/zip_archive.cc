// Zip layout (APPNOTE.TXT): [local header + data]* central-directory [zip64 EOCD record]
// [zip64 EOCD locator] EOCD [comment]. Every offset and length read from the file is untrusted and
// checked against the buffer before use; all arithmetic is on uint64_t with explicit overflow checks.
#include "hf/zip_archive.h"

#include <algorithm>

#include "rptq/error.h"

namespace rptq::hf {
namespace {

constexpr uint32_t kLocalSig = 0x04034b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr size_t kEocdSize = 22;
constexpr size_t kZip64LocatorSize = 20;
constexpr size_t kZip64EocdSize = 56;
constexpr size_t kCentralSize = 46;
constexpr size_t kLocalSize = 30;

uint16_t u16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
uint32_t u32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) | (static_cast<uint32_t>(p[2]) << 16) |
         (static_cast<uint32_t>(p[3]) << 24);
}
uint64_t u64(const uint8_t* p) { return static_cast<uint64_t>(u32(p)) | (static_cast<uint64_t>(u32(p + 4)) << 32); }

// True if [off, off + len) lies inside a buffer of `size` bytes.
bool in_bounds(uint64_t off, uint64_t len, uint64_t size) { return off <= size && len <= size - off; }

std::string printable(const std::string& s) {
  std::string out;
  for (char c : s.substr(0, 200)) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      static const char* hex = "0123456789abcdef";
      out += "\\x";
      out += hex[u >> 4];
      out += hex[u & 15];
    }
  }
  if (s.size() > 200) out += "...";
  return out;
}

}  // namespace

void ZipArchive::bad(const std::string& problem) const { fail(where_, "zip archive: " + problem); }

ZipArchive::ZipArchive(const uint8_t* data, size_t size, std::string where)
    : data_(data), size_(size), where_(std::move(where)) {
  if (size_ < kEocdSize)
    bad("file is too small (" + std::to_string(size_) + " bytes) to be a zip archive (truncated?)");

  // End of central directory: the last 22 + up to 65535 (comment) bytes. Scan backwards for a
  // signature whose comment length is consistent with the file end.
  const size_t lowest = size_ > kEocdSize + 0xffff ? size_ - kEocdSize - 0xffff : 0;
  size_t eocd = SIZE_MAX;
  for (size_t pos = size_ - kEocdSize + 1; pos-- > lowest;) {
    if (u32(data_ + pos) != kEocdSig) continue;
    if (pos + kEocdSize + u16(data_ + pos + 20) <= size_) {
      eocd = pos;
      break;
    }
  }
  if (eocd == SIZE_MAX) bad("no end-of-central-directory record found (not a zip file, or truncated)");

  const uint8_t* e = data_ + eocd;
  uint64_t disk = u16(e + 4), cd_disk = u16(e + 6);
  uint64_t n_disk_entries = u16(e + 8), n_entries = u16(e + 10);
  uint64_t cd_size = u32(e + 12), cd_offset = u32(e + 16);
  uint64_t cd_limit = eocd;  // the central directory ends before this

  // ZIP64: locator immediately before the EOCD, pointing at the zip64 EOCD record.
  if (eocd >= kZip64LocatorSize && u32(data_ + eocd - kZip64LocatorSize) == kZip64LocatorSig) {
    const uint8_t* loc = data_ + eocd - kZip64LocatorSize;
    uint64_t rec = u64(loc + 8);
    if (!in_bounds(rec, kZip64EocdSize, eocd - kZip64LocatorSize))
      bad("ZIP64 end-of-central-directory record offset " + std::to_string(rec) + " lies outside the file");
    const uint8_t* r = data_ + rec;
    if (u32(r) != kZip64EocdSig) bad("bad ZIP64 end-of-central-directory record signature");
    disk = u32(r + 16);
    cd_disk = u32(r + 20);
    n_disk_entries = u64(r + 24);
    n_entries = u64(r + 32);
    cd_size = u64(r + 40);
    cd_offset = u64(r + 48);
    cd_limit = rec;
  } else if (n_entries == 0xffff || cd_size == 0xffffffffu || cd_offset == 0xffffffffu) {
    bad("end-of-central-directory needs ZIP64 fields but there is no ZIP64 locator");
  }
  if (disk != 0 || cd_disk != 0 || n_disk_entries != n_entries) bad("multi-disk (split) archives are not supported");
  if (!in_bounds(cd_offset, cd_size, cd_limit))
    bad("central directory (offset " + std::to_string(cd_offset) + ", " + std::to_string(cd_size) +
        " bytes) lies outside the file (truncated?)");
  if (n_entries > cd_size / kCentralSize)
    bad("central directory claims " + std::to_string(n_entries) + " entries but holds only " +
        std::to_string(cd_size) + " bytes");

  entries_.reserve(static_cast<size_t>(n_entries));
  uint64_t pos = cd_offset;
  const uint64_t cd_end = cd_offset + cd_size;
  for (uint64_t i = 0; i < n_entries; ++i) {
    const std::string which = "central directory entry " + std::to_string(i);
    if (!in_bounds(pos, kCentralSize, cd_end)) bad(which + " runs past the end of the central directory");
    const uint8_t* c = data_ + pos;
    if (u32(c) != kCentralSig) bad(which + " has a bad signature (corrupt central directory)");
    ZipEntry z;
    z.flags = u16(c + 8);
    z.method = u16(c + 10);
    z.csize = u32(c + 20);
    z.size = u32(c + 24);
    const uint64_t name_len = u16(c + 28), extra_len = u16(c + 30), comment_len = u16(c + 32);
    uint64_t entry_disk = u16(c + 34);
    z.header_offset = u32(c + 42);
    if (!in_bounds(pos + kCentralSize, name_len + extra_len + comment_len, cd_end))
      bad(which + " name/extra/comment run past the end of the central directory");
    z.name.assign(reinterpret_cast<const char*>(c + kCentralSize), static_cast<size_t>(name_len));

    // ZIP64 extended information: 8-byte values for exactly those fields saturated above.
    const uint8_t* x = c + kCentralSize + name_len;
    const uint8_t* x_end = x + extra_len;
    while (x_end - x >= 4) {
      const uint16_t id = u16(x), len = u16(x + 2);
      const uint8_t* body = x + 4;
      if (static_cast<uint64_t>(x_end - body) < len) bad(which + " ('" + printable(z.name) + "') has a truncated extra field");
      if (id == 0x0001) {
        const uint8_t* f = body;
        const uint8_t* f_end = body + len;
        auto take = [&](uint64_t& v) {
          if (f_end - f < 8) bad(which + " ('" + printable(z.name) + "') has a short ZIP64 extra field");
          v = u64(f);
          f += 8;
        };
        if (z.size == 0xffffffffu) take(z.size);
        if (z.csize == 0xffffffffu) take(z.csize);
        if (z.header_offset == 0xffffffffu) take(z.header_offset);
        if (entry_disk == 0xffff) {
          if (f_end - f < 4) bad(which + " ('" + printable(z.name) + "') has a short ZIP64 extra field");
          entry_disk = u32(f);
        }
      }
      x = body + len;
    }
    if (entry_disk != 0) bad(which + " ('" + printable(z.name) + "') lies on another disk (split archive)");

    // Local header: its own name/extra lengths decide where the data starts.
    const std::string what = "entry '" + printable(z.name) + "'";
    if (!in_bounds(z.header_offset, kLocalSize, size_))
      bad(what + ": local header offset " + std::to_string(z.header_offset) + " lies outside the file (truncated?)");
    const uint8_t* l = data_ + z.header_offset;
    if (u32(l) != kLocalSig) bad(what + ": bad local header signature (corrupt archive)");
    const uint64_t l_name = u16(l + 26), l_extra = u16(l + 28);
    z.data_offset = z.header_offset + kLocalSize + l_name + l_extra;
    if (!in_bounds(z.data_offset, z.csize, size_))
      bad(what + ": data (offset " + std::to_string(z.data_offset) + ", " + std::to_string(z.csize) +
          " bytes) runs past the end of the file (" + std::to_string(size_) + " bytes; truncated?)");

    by_name_.emplace(z.name, entries_.size());
    entries_.push_back(std::move(z));
    pos += kCentralSize + name_len + extra_len + comment_len;
  }
}

const ZipEntry* ZipArchive::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : &entries_[it->second];
}

const uint8_t* ZipArchive::stored_data(const ZipEntry& entry) const {
  if (entry.flags & 1) bad("entry '" + printable(entry.name) + "' is encrypted");
  if (entry.method != 0)
    bad("entry '" + printable(entry.name) + "' is compressed (method " + std::to_string(entry.method) +
        "); only stored entries, as torch.save writes them, are supported");
  if (entry.csize != entry.size)
    bad("stored entry '" + printable(entry.name) + "' has compressed size " + std::to_string(entry.csize) +
        " != size " + std::to_string(entry.size));
  return data_ + entry.data_offset;
}

}  // namespace rptq::hf
