// The devices rptq-compile can build code for (`--target`): what each one's native code is and the
// facts the code generators read. One entry per device; adding a device is adding an entry.
#pragma once

#include <string>
#include <vector>

namespace rptq::targets {

enum class CodeKind { None, CpuX86_64, CpuAarch64 };

struct TargetInfo {
  std::string name;         // as given to --target
  std::string description;
  CodeKind code = CodeKind::None;
  std::vector<std::string> isas;  // CPU: instruction sets to build for, best first
  double memory_bandwidth_gbs = 0;  // for the cost model and the benches' roofline; 0: measure
};

const std::vector<TargetInfo>& all_targets();

// The targets of a comma-separated list ("x86-64", "generic"); throws rptq::Error naming the flag
// and the known targets for an unknown or duplicated name.
std::vector<TargetInfo> parse_targets(const std::string& list);

// What a compile without --target builds: this host's native code where the compiler can make it.
std::string default_targets();

}  // namespace rptq::targets
