#include "targets/targets.h"

#include <sstream>

#include "rptq/error.h"

namespace rptq::targets {

const std::vector<TargetInfo>& all_targets() {
  static const std::vector<TargetInfo> targets = {
      {"x86-64", "x86-64 CPU: model-specialized kernels for AVX-512 VNNI and AVX2, picked at load", CodeKind::CpuX86_64,
       {"avx512vnni", "avx2"}, 0},
      {"aarch64", "aarch64 CPU (armv8.2-a + dotprod): model-specialized NEON kernels", CodeKind::CpuAarch64,
       {"neon-dotprod"}, 0},
      // Orin's CPU code; its sm_87 CUDA code comes with the CUDA code generator (issue 5).
      {"jetson-orin", "Jetson Orin (Cortex-A78AE CPU): model-specialized NEON kernels", CodeKind::CpuAarch64,
       {"neon-dotprod"}, 204.8},
      {"generic", "no native code: the runtime's generic kernels on any CPU", CodeKind::None, {}, 0},
  };
  return targets;
}

std::vector<TargetInfo> parse_targets(const std::string& list) {
  std::vector<TargetInfo> out;
  std::stringstream in(list);
  std::string name;
  while (std::getline(in, name, ',')) {
    const TargetInfo* found = nullptr;
    for (const TargetInfo& t : all_targets())
      if (t.name == name) found = &t;
    if (!found) {
      std::string known;
      for (const TargetInfo& t : all_targets()) known += (known.empty() ? "" : ", ") + t.name;
      fail("--target", "unknown target '" + name + "' (this compiler builds for: " + known + ")");
    }
    for (const TargetInfo& t : out) {
      if (t.name == name) fail("--target", "'" + name + "' is listed twice");
      if (t.code == found->code && t.code != CodeKind::None)
        fail("--target", "'" + t.name + "' and '" + name + "' both ask for the same CPU code");
    }
    out.push_back(*found);
  }
  if (out.empty()) fail("--target", "no target given");
  return out;
}

std::string default_targets() {
#if defined(__x86_64__)
  return "x86-64";
#else
  return "generic";
#endif
}

}  // namespace rptq::targets
