#include "cpu/host_compiler.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string_view>

#include "rptq/error.h"

namespace rptq::codegen {
namespace {

namespace fs = std::filesystem;

struct EmbeddedFile {
  const char* name;
  std::string_view bytes;
};
#include "cpu/native_headers.inc"

// Flags that change no result: the same -std as the runtime (which also keeps float contraction
// off, as -ffp-contract=off states explicitly), no fast-math, hidden symbols but the entry point.
// -frandom-seed and -s keep the object free of anything that varies between runs or directories.
std::vector<std::string> isa_flags(const std::string& isa) {
  if (isa == "avx512vnni")
    return {"-DRPTQ_NATIVE_ISA_AVX512VNNI", "-mavx2", "-mfma", "-mavx512f", "-mavx512bw", "-mavx512vl", "-mavx512dq",
            "-mavx512vnni"};
  if (isa == "avx2") return {"-DRPTQ_NATIVE_ISA_AVX2", "-mavx2", "-mfma"};
  if (isa == "neon-dotprod") return {"-DRPTQ_NATIVE_ISA_NEON_DOTPROD", "-march=armv8.2-a+dotprod"};
  fail("native code", "unknown instruction set '" + isa + "'");
}

class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/rptq-native-XXXXXX";
    if (!::mkdtemp(tmpl.data())) fail("native code", "cannot create a temporary directory under " + tmpl);
    path_ = tmpl;
  }
  // RPTQ_KEEP_NATIVE_BUILD=1 keeps the directory (source, headers, compiler log) for inspection.
  ~TempDir() {
    const char* keep = std::getenv("RPTQ_KEEP_NATIVE_BUILD");
    if (keep && *keep == '1') return;
    std::error_code ignored;
    fs::remove_all(path_, ignored);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

void write_file(const fs::path& p, std::string_view bytes) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!f) fail(p.string(), "cannot write");
}

std::string read_text(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Runs argv with stdout and stderr into `log`; returns the exit status (127: could not start).
// Everything the child needs is prepared before fork(): between fork and exec a multithreaded
// process may only make async-signal-safe calls (no allocation).
int run(const std::vector<std::string>& argv, const fs::path& log) {
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

}  // namespace

const std::vector<std::string>& native_x86_isas() {
  static const std::vector<std::string> isas = {"avx512vnni", "avx2"};
  return isas;
}

std::string default_host_compiler() {
  for (const char* var : {"RPTQ_HOST_CXX", "CXX"})
    if (const char* v = std::getenv(var); v && *v) return v;
  return "c++";
}

std::string default_aarch64_compiler() {
  if (const char* v = std::getenv("RPTQ_AARCH64_CXX"); v && *v) return v;
#if defined(__aarch64__)
  return default_host_compiler();
#else
  return "aarch64-linux-gnu-g++";  // Debian's g++-aarch64-linux-gnu
#endif
}

std::vector<uint8_t> build_native_object(const std::string& source, const std::string& isa, const std::string& cxx) {
  const TempDir dir;
  for (const EmbeddedFile& f : kEmbeddedFiles) write_file(dir.path() / f.name, f.bytes);
  const fs::path src = dir.path() / "model_kernels.cc", obj = dir.path() / "model_kernels.so",
                 log = dir.path() / "compiler.log";
  write_file(src, source);
  std::vector<std::string> argv = {cxx, "-std=c++17", "-O3", "-fPIC", "-shared", "-fvisibility=hidden",
                                   "-ffp-contract=off", "-fno-ident", "-frandom-seed=rptq", "-s", "-w"};
  for (const std::string& f : isa_flags(isa)) argv.push_back(f);
  argv.insert(argv.end(), {"-I", dir.path().string(), src.string(), "-o", obj.string()});
  const int status = run(argv, log);
  if (status != 0) {
    std::string messages = read_text(log);
    if (messages.size() > 2000) messages = messages.substr(0, 2000) + "\n...";
    fail("native code (" + isa + ")",
         status == 127 ? "cannot run the C++ compiler '" + cxx + "' (set --host-cxx / --aarch64-cxx, or --target generic)"
                       : "'" + cxx + "' failed (exit " + std::to_string(status) + "):\n" + messages);
  }
  const std::string bytes = read_text(obj);
  if (bytes.empty()) fail("native code (" + isa + ")", "'" + cxx + "' wrote no shared object");
  return std::vector<uint8_t>(bytes.begin(), bytes.end());
}

}  // namespace rptq::codegen
