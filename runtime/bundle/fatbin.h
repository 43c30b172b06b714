// NVIDIA fatbin containers, as nvcc -fatbin writes them and bundles carry them (CudaSm87 /
// CudaSm90 sections): enough to list what a section holds and to check, without NVIDIA's tools,
// that its cubins are for the architecture the section claims. Layout, little-endian (measured on
// nvcc 13.0's output; the container format is not documented by NVIDIA):
//
//   header, 16 bytes:  u32 magic 0xBA55ED50, u16 version 1, u16 header size (16), u64 size of the
//                      entries that follow
//   entry header:      u16 kind (1 PTX, 2 ELF cubin), u16 0x0101, u32 header size (from the entry's
//                      start to its payload), u64 payload size, u32 0, u32 ..., u32 ..., u32 SM
//                      (e.g. 90) at byte 28, ..., u64 flags at byte 40 (bit 15: compressed)
//
// A cubin is an ELF64 file with e_machine 190 (EM_CUDA) whose e_flags hold the SM in bits 8..15
// (0x5a = sm_90, 0x57 = sm_87; readelf -h shows e.g. 0x6005a04).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rptq::bundle {

struct FatbinEntry {
  enum Kind { Ptx, Elf };
  Kind kind = Elf;
  int sm = 0;               // the SM the entry is for (compute_<sm> for PTX)
  bool compressed = false;  // compressed payloads cannot be checked here
  const uint8_t* data = nullptr;  // the payload, inside the parsed bytes
  size_t size = 0;
};

// The entries of one container; throws rptq::Error at `where` for anything that is not a whole,
// well-formed container (never reads outside [data, data + size)). Bytes after the container are
// ignored (sections may be padded).
std::vector<FatbinEntry> parse_fatbin(const uint8_t* data, size_t size, const std::string& where);

// The SM an uncompressed cubin's ELF header declares; throws rptq::Error at `where` when it is not
// a CUDA ELF64 file.
int cubin_sm(const uint8_t* data, size_t size, const std::string& where);

}  // namespace rptq::bundle
