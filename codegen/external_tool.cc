#include "external_tool.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>

#include "rptq/error.h"

namespace rptq::codegen {

namespace fs = std::filesystem;

TempDir::TempDir(const std::string& prefix) {
  const char* base = std::getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") + "/" + prefix + "-XXXXXX";
  if (!::mkdtemp(tmpl.data())) fail(prefix, "cannot create a temporary directory under " + tmpl);
  path_ = tmpl;
}

TempDir::~TempDir() {
  const char* keep = std::getenv("RPTQ_KEEP_NATIVE_BUILD");
  if (keep && *keep == '1') return;
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

void write_file(const fs::path& p, std::string_view bytes) {
  if (p.has_parent_path()) fs::create_directories(p.parent_path());  // "" (a bare file name) is refused
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail(p.string(), "cannot write");
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Everything the child needs is prepared before fork(): between fork and exec a multithreaded
// process may only make async-signal-safe calls (no allocation).
int run_tool(const std::vector<std::string>& argv, const fs::path& log) {
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return 127;
  if (pid == 0) {
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd >= 0) {
      ::dup2(fd, 1);
      ::dup2(fd, 2);
    }
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

std::vector<uint8_t> build_with_tool(const std::vector<std::string>& argv, const fs::path& output,
                                     const fs::path& log, const std::string& where, const std::string& missing_hint) {
  const int status = run_tool(argv, log);
  if (status != 0) {
    std::string messages = read_file(log);
    if (messages.size() > 2000) messages = messages.substr(0, 2000) + "\n...";
    fail(where, status == 127 ? "cannot run '" + argv[0] + "' (" + missing_hint + ")"
                              : "'" + argv[0] + "' failed (exit " + std::to_string(status) + "):\n" + messages);
  }
  const std::string bytes = read_file(output);
  if (bytes.empty()) fail(where, "'" + argv[0] + "' wrote no " + output.filename().string());
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace rptq::codegen
