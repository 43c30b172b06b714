// Running an external compiler (the host C++ compiler for native CPU code, nvcc for CUDA code) in
// a private temporary directory: what host_compiler.cc and nvcc.cc share.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace rptq::codegen {

struct EmbeddedFile {
  const char* name;
  std::string_view bytes;
};

// A directory under $TMPDIR (or /tmp), removed with everything in it on destruction unless
// RPTQ_KEEP_NATIVE_BUILD=1 (for inspecting the sources, headers and compiler log).
class TempDir {
 public:
  explicit TempDir(const std::string& prefix);
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

void write_file(const std::filesystem::path& p, std::string_view bytes);
std::string read_file(const std::filesystem::path& p);

// Runs argv with stdout and stderr into `log`; returns the exit status (127: could not start).
int run_tool(const std::vector<std::string>& argv, const std::filesystem::path& log);

// Runs argv and returns the bytes of `output`; on failure throws rptq::Error at `where` quoting
// the tool's messages, with `missing_hint` when the tool could not be started at all.
std::vector<uint8_t> build_with_tool(const std::vector<std::string>& argv, const std::filesystem::path& output,
                                     const std::filesystem::path& log, const std::string& where,
                                     const std::string& missing_hint);

}  // namespace rptq::codegen
