#include "bundle/fatbin.h"

#include <cstring>

#include "rptq/error.h"

namespace rptq::bundle {
namespace {

constexpr uint32_t kMagic = 0xBA55ED50u;
constexpr uint16_t kKindPtx = 1, kKindElf = 2;
constexpr uint64_t kCompressedFlag = 1ull << 15;
constexpr uint64_t kArchSpecificFlag = 1ull << 20;
constexpr size_t kEntryHeaderMin = 64;  // the fields read here end at 48; nvcc writes 64 or more
constexpr uint16_t kEmCuda = 190;

template <class T>
T read(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

}  // namespace

std::vector<FatbinEntry> parse_fatbin(const uint8_t* data, size_t size, const std::string& where) {
  if (size < 16 || read<uint32_t>(data) != kMagic) fail(where, "not a fatbin (bad magic)");
  const uint16_t version = read<uint16_t>(data + 4), header = read<uint16_t>(data + 6);
  const uint64_t body = read<uint64_t>(data + 8);
  if (version != 1) fail(where, "fatbin version " + std::to_string(version) + " is not 1");
  if (header < 16 || header > size || body > size - header) fail(where, "fatbin sizes run past its end");
  std::vector<FatbinEntry> entries;
  size_t at = header;
  const size_t end = header + static_cast<size_t>(body);
  while (at < end) {
    if (end - at < kEntryHeaderMin) fail(where, "truncated fatbin entry header at byte " + std::to_string(at));
    const uint8_t* e = data + at;
    const uint16_t kind = read<uint16_t>(e);
    const uint32_t entry_header = read<uint32_t>(e + 4);
    const uint64_t payload = read<uint64_t>(e + 8);
    if (kind != kKindPtx && kind != kKindElf)
      fail(where, "fatbin entry at byte " + std::to_string(at) + " has unknown kind " + std::to_string(kind));
    if (entry_header < kEntryHeaderMin || entry_header > end - at || payload > end - at - entry_header)
      fail(where, "fatbin entry at byte " + std::to_string(at) + " runs past the container");
    FatbinEntry out;
    out.kind = kind == kKindPtx ? FatbinEntry::Ptx : FatbinEntry::Elf;
    out.sm = static_cast<int>(read<uint32_t>(e + 28));
    const uint64_t flags = read<uint64_t>(e + 40);
    out.compressed = (flags & kCompressedFlag) != 0;
    out.arch_specific = (flags & kArchSpecificFlag) != 0;
    out.data = e + entry_header;
    out.size = static_cast<size_t>(payload);
    entries.push_back(out);
    at += entry_header + static_cast<size_t>(payload);
  }
  if (entries.empty()) fail(where, "the fatbin has no entries");
  return entries;
}

int cubin_sm(const uint8_t* data, size_t size, const std::string& where) {
  if (size < 64 || std::memcmp(data, "\x7f" "ELF", 4) != 0 || data[4] != 2)
    fail(where, "the cubin is not an ELF64 file");
  if (read<uint16_t>(data + 18) != kEmCuda) fail(where, "the ELF file is not CUDA code (e_machine is not EM_CUDA)");
  return static_cast<int>((read<uint32_t>(data + 48) >> 8) & 0xFF);  // e_flags bits 8..15
}

}  // namespace rptq::bundle
