#include "hf/json_file.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include "rptq/error.h"

namespace rptq::hf {

std::string read_small_file(const std::string& path, const std::string& what) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail(path, "is a directory, not a " + what + " file");
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(path, "cannot open " + what + " file");
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) fail(path, "cannot read " + what + " file");
  return ss.str();
}

nlohmann::json read_json_file(const std::string& path, const std::string& what) {
  const std::string text = read_small_file(path, what);
  try {
    return nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    fail(path, std::string("not valid JSON: ") + e.what());
  }
}

}  // namespace rptq::hf
