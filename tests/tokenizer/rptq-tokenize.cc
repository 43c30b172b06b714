// rptq-tokenize: encodes text files to token ids (one per line) or decodes ids to bytes, with the
// tokenizer of a model directory or of a vocab.json + merges.txt pair. Used by check_tokenizer.py.
//
//   rptq-tokenize (--dir DIR | --vocab VOCAB --merges MERGES) [--no-bos] [--time] FILE...
//   rptq-tokenize (--dir DIR | --vocab VOCAB --merges MERGES) --decode FILE...
//
// With several FILEs, each file's ids are preceded by a line "# FILE". --decode reads
// whitespace-separated ids and writes the bytes to stdout, or, with several FILEs, to FILE.bytes
// for each. --time reports the encode time of each file on stderr.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "hf/tokenizer_files.h"
#include "rptq/error.h"

namespace {

int usage() {
  std::cerr << "usage: rptq-tokenize (--dir DIR | --vocab VOCAB --merges MERGES) [--no-bos] [--time] FILE...\n"
               "       rptq-tokenize (--dir DIR | --vocab VOCAB --merges MERGES) --decode FILE...\n";
  return 2;
}

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) rptq::fail(path, "cannot open input file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir, vocab, merges;
  bool decode = false, add_bos = true, timing = false;
  std::vector<std::string> inputs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& dst) {
      if (i + 1 >= argc) return false;
      dst = argv[++i];
      return true;
    };
    if (a == "--dir") {
      if (!value(dir)) return usage();
    } else if (a == "--vocab") {
      if (!value(vocab)) return usage();
    } else if (a == "--merges") {
      if (!value(merges)) return usage();
    } else if (a == "--decode") {
      decode = true;
    } else if (a == "--no-bos") {
      add_bos = false;
    } else if (a == "--time") {
      timing = true;
    } else if (a == "-h" || a == "--help") {
      usage();
      return 0;
    } else if (!a.empty() && a[0] == '-' && a != "-") {
      std::cerr << "rptq-tokenize: unknown option " << a << "\n";
      return usage();
    } else {
      inputs.push_back(a);
    }
  }
  if (inputs.empty() || (dir.empty() == (vocab.empty() && merges.empty())) ||
      (dir.empty() && (vocab.empty() || merges.empty())))
    return usage();
  try {
    const rptq::BpeTokenizer tok = dir.empty() ? rptq::hf::load_tokenizer(vocab, merges) : rptq::hf::load_tokenizer(dir);
    if (decode) {
      for (const std::string& path : inputs) {
        std::istringstream in(slurp(path));
        std::vector<int32_t> ids;
        long long v;
        while (in >> v) {
          if (v < INT32_MIN || v > INT32_MAX) rptq::fail(path, "id " + std::to_string(v) + " out of range");
          ids.push_back(static_cast<int32_t>(v));
        }
        if (!in.eof()) rptq::fail(path, "not a list of integer ids");
        const std::string bytes = tok.decode(ids);
        if (inputs.size() == 1) {
          std::fwrite(bytes.data(), 1, bytes.size(), stdout);
        } else {
          std::ofstream out(path + ".bytes", std::ios::binary);
          out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
          if (!out) rptq::fail(path + ".bytes", "cannot write");
        }
      }
      return std::fflush(stdout) == 0 ? 0 : 1;
    }
    std::string out;
    for (const std::string& path : inputs) {
      const std::string text = slurp(path);
      const auto t0 = std::chrono::steady_clock::now();
      const std::vector<int32_t> ids = tok.encode(text, add_bos);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      if (timing)
        std::fprintf(stderr, "%s: %zu bytes -> %zu ids in %.3f s (%.1f MB/s)\n", path.c_str(), text.size(),
                     ids.size(), s, s > 0 ? text.size() / s / 1e6 : 0.0);
      if (inputs.size() > 1) out += "# " + path + "\n";
      for (int32_t id : ids) {
        out += std::to_string(id);
        out += '\n';
      }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return std::fflush(stdout) == 0 ? 0 : 1;
  } catch (const rptq::Error& e) {
    std::cerr << "rptq-tokenize: " << e.what() << "\n";
    return 1;
  }
}
