// The translation unit of a bundle's native CPU code: one class of constants per plan step that
// native code runs (engine/native_steps.h decides which), an instantiation of its template from
// native_kernels.h, and the step table the runtime loads (runtime/kernels/native/abi.h).
#pragma once

#include <string>
#include <vector>

#include "engine/native_steps.h"

namespace rptq::codegen {

// `isa` names the table's instruction set ("avx512vnni", "avx2"); the source itself is the same
// for both and selects its micro-kernels from a macro (host_compiler.h sets it).
// Deterministic: same steps, same text (floats are written as exact hexadecimal literals).
std::string native_kernel_source(const std::vector<engine::NativeStep>& steps, const std::string& isa);

}  // namespace rptq::codegen
