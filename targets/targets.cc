#include "targets/targets.h"

#include <algorithm>
#include <climits>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "rptq/error.h"

namespace rptq::targets {
namespace {

struct EmbeddedFile {
  const char* name;
  std::string_view bytes;
};
#include "devices.inc"  // kEmbeddedFiles: targets/devices/*.json (targets/CMakeLists.txt)

using nlohmann::json;

// One device file's fields; every error names the file and the field.
class DeviceFile {
 public:
  explicit DeviceFile(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void bad(const std::string& field, const std::string& problem) const {
    fail(file_, "'" + field + "' " + problem);
  }
  // Refuses anything but an object with (a subset of) these keys, so that a misspelt field is an error.
  void only(const json& obj, const std::string& field, std::initializer_list<std::string_view> keys) const {
    if (!obj.is_object() && field.empty()) fail(file_, "must hold a JSON object");
    if (!obj.is_object()) bad(field, "must be an object");
    for (const auto& [key, value] : obj.items())
      if (std::find(keys.begin(), keys.end(), key) == keys.end())
        bad(field.empty() ? key : field + "." + key, "is not a device field");
  }
  // obj's member for the dotted `field` ("cuda.sm"), or nullptr when it is absent and optional.
  const json* get(const json& obj, const std::string& field, bool required = true) const {
    const auto it = obj.find(field.substr(field.rfind('.') + 1));
    if (it != obj.end()) return &*it;
    if (required) bad(field, "is missing");
    return nullptr;
  }
  std::string string(const json& obj, const std::string& field) const {
    const json& v = *get(obj, field);
    if (!v.is_string() || v.get_ref<const std::string&>().empty()) bad(field, "must be a non-empty string");
    return v.get<std::string>();
  }
  std::vector<std::string> strings(const json& obj, const std::string& field) const {
    const json& v = *get(obj, field);
    if (!v.is_array() || v.empty()) bad(field, "must be a non-empty list of strings");
    std::vector<std::string> out;
    for (const json& s : v) {
      if (!s.is_string() || s.get_ref<const std::string&>().empty()) bad(field, "must be a non-empty list of strings");
      out.push_back(s.get<std::string>());
    }
    return out;
  }
  long long positive_integer(const json& obj, const std::string& field, long long max) const {
    const json& v = *get(obj, field);
    if (!v.is_number_integer() || v.get<long long>() <= 0 || v.get<long long>() > max)
      bad(field, "must be a positive integer (at most " + std::to_string(max) + ")");
    return v.get<long long>();
  }
  double number(const json& obj, const std::string& field, bool required) const {
    const json* v = get(obj, field, required);
    if (!v) return 0;
    if (!v->is_number() || v->get<double>() < 0) bad(field, "must be a number >= 0");
    return v->get<double>();
  }
  bool boolean(const json& obj, const std::string& field, bool fallback) const {
    const json* v = get(obj, field, false);
    if (!v) return fallback;
    if (!v->is_boolean()) bad(field, "must be true or false");
    return v->get<bool>();
  }

  TargetInfo read(std::string_view bytes) const {
    json doc;
    try {
      doc = json::parse(bytes);
    } catch (const json::exception& e) {
      fail(file_, std::string("not valid JSON: ") + e.what());
    }
    only(doc, "", {"name", "description", "cpu", "cuda", "memory_bandwidth_gbs", "source"});
    TargetInfo t;
    t.name = string(doc, "name");
    const std::string stem = file_.substr(file_.rfind('/') + 1);
    if (t.name + ".json" != stem) bad("name", "is '" + t.name + "' but the file is " + stem);
    t.description = string(doc, "description");
    if (const json* cpu = get(doc, "cpu", false)) {
      only(*cpu, "cpu", {"arch", "isas"});
      const std::string arch = string(*cpu, "cpu.arch");
      if (arch == "x86-64")
        t.code = CodeKind::CpuX86_64;
      else if (arch == "aarch64")
        t.code = CodeKind::CpuAarch64;
      else
        bad("cpu.arch", "is '" + arch + "', not x86-64 or aarch64");
      t.isas = strings(*cpu, "cpu.isas");
    }
    if (const json* cuda = get(doc, "cuda", false)) {
      only(*cuda, "cuda", {"sm", "ptx", "sm_count", "shared_memory_per_block", "mma_shapes", "int8_tops"});
      t.cuda.sm = static_cast<int>(positive_integer(*cuda, "cuda.sm", 1000));
      t.cuda.ptx = boolean(*cuda, "cuda.ptx", true);
      t.cuda.sm_count = static_cast<int>(positive_integer(*cuda, "cuda.sm_count", INT_MAX));
      t.cuda.shared_memory_per_block = positive_integer(*cuda, "cuda.shared_memory_per_block", LLONG_MAX);
      t.cuda.mma_shapes = strings(*cuda, "cuda.mma_shapes");
      t.cuda.int8_tops = number(*cuda, "cuda.int8_tops", true);
    }
    t.memory_bandwidth_gbs = number(doc, "memory_bandwidth_gbs", false);
    return t;
  }

 private:
  std::string file_;
};

}  // namespace

const std::vector<TargetInfo>& all_targets() {
  static const std::vector<TargetInfo> targets = [] {
    std::vector<TargetInfo> out;
    for (const EmbeddedFile& f : kEmbeddedFiles) out.push_back(DeviceFile(f.name).read(f.bytes));
    std::sort(out.begin(), out.end(), [](const TargetInfo& a, const TargetInfo& b) { return a.name < b.name; });
    return out;
  }();
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
      if (t.cuda.sm == found->cuda.sm && t.cuda.sm != 0)
        fail("--target", "'" + t.name + "' and '" + name + "' both ask for the same CUDA code (sm_" +
                             std::to_string(t.cuda.sm) + ")");
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
