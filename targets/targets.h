// The devices rptq-compile can build code for (`--target`): what each one's native code is and the
// facts the code generators and the benches read. Each device is one file, targets/devices/<name>.json,
// embedded into the compiler at build time; adding a device is adding a file.
#pragma once

#include <string>
#include <vector>

namespace rptq::targets {

enum class CodeKind { None, CpuX86_64, CpuAarch64 };

// A device's GPU, when it has one the compiler builds CUDA code for.
struct CudaInfo {
  int sm = 0;                          // compute capability x 10: 90 (H100), 87 (Jetson Orin); 0: none
  bool ptx = true;                     // also embed PTX (compute_<sm>) for forward compatibility
  int sm_count = 0;                    // streaming multiprocessors
  long long shared_memory_per_block = 0;  // bytes a block may opt in to
  std::vector<std::string> mma_shapes;    // tensor-core shapes the kernels may use: "m16n8k32.s8", ...
  double int8_tops = 0;                // dense int8 tensor-core peak, for the prefill roofline
};

struct TargetInfo {
  std::string name;         // as given to --target
  std::string description;
  CodeKind code = CodeKind::None;
  std::vector<std::string> isas;  // CPU: instruction sets to build for, best first
  CudaInfo cuda;                  // cuda.sm == 0: no CUDA code
  double memory_bandwidth_gbs = 0;  // for the cost model and the benches' roofline; 0: measure
};

const std::vector<TargetInfo>& all_targets();

// The targets of a comma-separated list ("h100,x86-64"); throws rptq::Error naming the flag and
// the known targets for an unknown or duplicated name, or for two targets asking for the same code.
std::vector<TargetInfo> parse_targets(const std::string& list);

// What a compile without --target builds: this host's native code where the compiler can make it.
std::string default_targets();

}  // namespace rptq::targets
