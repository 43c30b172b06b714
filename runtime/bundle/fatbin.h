// NVIDIA fatbin containers, as nvcc -fatbin writes them and bundles carry them (CudaSm87 /
// CudaSm90 sections): enough to list what a section holds and to check, without NVIDIA's tools,
// that its cubins are for the architecture the section claims. NVIDIA does not document the
// container; this layout was measured on nvcc 13.0's output (sm_75..sm_121, PTX and cubins,
// compressed or not) and agrees with public reverse-engineered descriptions. Little-endian:
//
//   container header, 16 bytes:
//     +0 u32 magic 0xBA55ED50   +4 u16 version 1   +6 u16 header size 16
//     +8 u64 size of the entries that follow (the container ends there; nothing terminates it)
//   entry header (64 bytes; 80 for PTX, 112 for sm_100+ cubins: extra bytes we do not read):
//     +0 u16 kind (1 PTX, 2 ELF cubin)   +2 u16 0x0101   +4 u32 header size (payload starts there)
//     +8 u64 payload size, padded to 8 (the next entry follows it)
//     +16 u32 compressed size before padding (0 when not compressed)   +20 u32 0 or 0x40
//     +24 u16 minor, u16 major: the code's version (ELF 1.8, PTX ISA 9.0 from nvcc 13)
//     +28 u32 SM (87, 90, 100, ...; compute_<SM> for PTX)   +32 u32, +36 u32: 0
//     +40 u64 flags: 0x11 always seen; bit 15 (0x8000) compressed; bit 20 set for sm_90a-style
//         arch-specific code (whose ELF header is identical to sm_90's)
//     +48 u64 0   +56 u64 size after decompression (0 when not compressed)
//
// nvcc 13 compresses PTX by default and cubins only with -Xfatbin -compress-all; bundles are
// built with the default, so their cubins can be checked.
//
// A cubin is an ELF64 file (e_ident OS/ABI 0x41, ABI version 8) with e_machine 190 (EM_CUDA) whose
// e_flags (ELF header byte 48) hold the SM in bits 8..15: readelf -h shows 0x6005704 for sm_87,
// 0x6005a04 for sm_90 and sm_90a, 0x6006402 for sm_100, 0x6007802 for sm_120.
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
  // A compressed payload (zstd) is opaque here: for a compressed cubin, cubin_sm() cannot check
  // the ELF header and only the entry's own `sm` is known.
  bool compressed = false;
  bool arch_specific = false;  // sm_90a-style code (flags bit 20): runs on exactly that architecture
  const uint8_t* data = nullptr;  // the payload, inside the parsed bytes
  size_t size = 0;
};

// The entries of one container; throws rptq::Error at `where` for anything that is not a whole,
// well-formed container (never reads outside [data, data + size)). Bytes after the container are
// ignored (sections may be padded).
std::vector<FatbinEntry> parse_fatbin(const uint8_t* data, size_t size, const std::string& where);

// The SM an uncompressed cubin's ELF header declares (87, 90, ...); throws rptq::Error at `where`
// when it is not a CUDA ELF64 file (a compressed payload is not).
int cubin_sm(const uint8_t* data, size_t size, const std::string& where);

}  // namespace rptq::bundle
