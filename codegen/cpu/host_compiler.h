// Builds a bundle's native CPU code (native_source.h) into a shared object with the host's C++
// compiler. The headers it needs travel inside rptq-compile (cmake/EmbedFiles.cmake), so this
// works from an installed compiler without the source tree.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rptq::codegen {

// Instruction sets native code is built for on x86-64, best first.
const std::vector<std::string>& native_x86_isas();

// The stripped shared object of `source` for `isa` ("avx512vnni", "avx2" or, with an aarch64
// compiler, "neon-dotprod"), built in a private
// temporary directory that is removed afterwards. Same source, flags and compiler: same bytes.
// Throws rptq::Error naming the compiler and quoting its messages when it fails or is missing.
std::vector<uint8_t> build_native_object(const std::string& source, const std::string& isa, const std::string& cxx);

// The compiler to use when the caller names none: $RPTQ_HOST_CXX, else $CXX, else "c++".
std::string default_host_compiler();
// For aarch64 code: $RPTQ_AARCH64_CXX, else the host's on an aarch64 host, else Debian's cross
// compiler aarch64-linux-gnu-g++.
std::string default_aarch64_compiler();

}  // namespace rptq::codegen
