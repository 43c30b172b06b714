// Runs the bundle fuzz target over files or directories of inputs without libFuzzer, so a
// corpus or a crash file can be replayed with the project's own compiler (and its sanitizers).
//   bundle_loader_replay FILE_OR_DIR...
#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void replay(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<uint8_t> input(bytes.begin(), bytes.end());  // exactly `size` bytes: ASan sees overreads
  LLVMFuzzerTestOneInput(input.data(), input.size());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: bundle_loader_replay FILE_OR_DIR...\n";
    return 2;
  }
  size_t count = 0;
  for (int i = 1; i < argc; ++i) {
    const std::filesystem::path p = argv[i];
    if (std::filesystem::is_directory(p)) {
      std::vector<std::filesystem::path> files;
      for (const auto& e : std::filesystem::directory_iterator(p)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
      std::sort(files.begin(), files.end());
      for (const auto& f : files) replay(f), ++count;
    } else if (std::filesystem::is_regular_file(p)) {
      replay(p), ++count;
    } else {
      std::cerr << "bundle_loader_replay: " << p.string() << ": no such file or directory\n";
      return 2;
    }
  }
  std::cout << "replayed " << count << " inputs without a crash\n";
  return count > 0 ? 0 : 1;
}
