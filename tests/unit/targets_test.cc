// --target: every device file under targets/devices parses, and target lists are checked.
#include <catch2/catch.hpp>

#include "rptq/error.h"
#include "targets/targets.h"

using namespace rptq::targets;

namespace {
const TargetInfo& target(const std::string& name) {
  for (const TargetInfo& t : all_targets())
    if (t.name == name) return t;
  throw rptq::Error(name, "not in all_targets()");
}
}  // namespace

TEST_CASE("every device file parses, sorted by name", "[targets]") {
  const std::vector<TargetInfo>& all = all_targets();
  std::vector<std::string> names;
  for (const TargetInfo& t : all) {
    names.push_back(t.name);
    CHECK(!t.description.empty());
    CHECK((t.code == CodeKind::None) == t.isas.empty());
    CHECK(parse_targets(t.name).front().name == t.name);
  }
  CHECK(names == std::vector<std::string>{"aarch64", "generic", "h100", "jetson-orin", "x86-64"});
  CHECK(&all_targets() == &all);  // parsed once
}

TEST_CASE("device facts", "[targets]") {
  const TargetInfo& h100 = target("h100");
  CHECK(h100.cuda.sm == 90);
  CHECK(h100.cuda.ptx);
  CHECK(h100.cuda.sm_count == 132);
  CHECK(h100.cuda.shared_memory_per_block == 232448);
  CHECK(h100.cuda.int8_tops == 1979);
  CHECK(h100.cuda.mma_shapes.size() == 3);
  CHECK(h100.code == CodeKind::None);
  CHECK(h100.isas.empty());
  CHECK(h100.memory_bandwidth_gbs == 3350);

  const TargetInfo& orin = target("jetson-orin");
  CHECK(orin.cuda.sm == 87);
  CHECK(orin.cuda.sm_count == 16);
  CHECK(orin.code == CodeKind::CpuAarch64);
  CHECK(orin.isas == std::vector<std::string>{"neon-dotprod"});
  CHECK(orin.memory_bandwidth_gbs == 204.8);

  CHECK(target("x86-64").code == CodeKind::CpuX86_64);
  CHECK(target("x86-64").isas == std::vector<std::string>{"avx512vnni", "avx2"});
  CHECK(target("x86-64").cuda.sm == 0);
  CHECK(target("aarch64").isas == std::vector<std::string>{"neon-dotprod"});
  CHECK(target("generic").code == CodeKind::None);
  CHECK(target("generic").cuda.sm == 0);
}

TEST_CASE("parse_targets keeps the order given", "[targets]") {
  const std::vector<TargetInfo> t = parse_targets("h100,jetson-orin,x86-64");
  REQUIRE(t.size() == 3);
  CHECK(t[0].name == "h100");
  CHECK(t[1].name == "jetson-orin");
  CHECK(t[2].name == "x86-64");
  CHECK(parse_targets(default_targets()).size() == 1);
}

TEST_CASE("parse_targets refuses bad lists naming the flag", "[targets][bad-input]") {
  using Catch::Contains;
  CHECK_THROWS_WITH(parse_targets("xavier"), Contains("--target") && Contains("unknown target 'xavier'") &&
                                                 Contains("h100") && Contains("jetson-orin"));
  CHECK_THROWS_WITH(parse_targets("h100,h100"), Contains("--target") && Contains("'h100' is listed twice"));
  CHECK_THROWS_WITH(parse_targets("aarch64,jetson-orin"),
                    Contains("--target") && Contains("'aarch64' and 'jetson-orin' both ask for the same CPU code"));
  CHECK_THROWS_WITH(parse_targets(""), Contains("--target") && Contains("no target given"));
  // No two shipped devices share a CUDA architecture, so the same-sm refusal is reached only by a
  // device file that duplicates one; it is checked in targets.cc next to the same-CPU-code one.
}
