// Writes the seed corpus of the bundle fuzzer: valid toy bundles (the fuzzer learns the format
// from them) and a few damaged ones that each stop at a different check.
//   bundle_fuzz_seeds OUT_DIR
#include <filesystem>
#include <fstream>
#include <iostream>

#include "bundle_fixture.h"
#include "rptq/error.h"

namespace {

using namespace rptq::test;

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_all(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: bundle_fuzz_seeds OUT_DIR\n";
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  try {
    std::filesystem::remove_all(dir);
    std::filesystem::create_directories(dir);
    write_toy_bundle((dir / "valid.rptq").string());
    ToyOptions proj;
    proj.projections = true;
    proj.kernels = false;
    proj.seed = 3;
    write_toy_bundle((dir / "valid_projections.rptq").string(), proj);

    const std::string valid = read_all((dir / "valid.rptq").string());
    const FileHeader h = read_header(reinterpret_cast<const uint8_t*>(valid.data()));
    write_all(dir / "truncated_meta.rptq", valid.substr(0, h.meta_offset + h.meta_size / 2));

    std::string f = valid;
    mutable_root(f)->mutable_tensors()->GetMutableObject(1)->mutable_data()->mutate_offset(h.data_size);
    reseal(f);
    write_all(dir / "span_past_end.rptq", f);

    f = valid;
    mutable_root(f)->mutable_model()->mutable_layers()->GetMutableObject(0)->mutable_fc1()->mutate_codes(1000);
    reseal(f);
    write_all(dir / "bad_tensor_index.rptq", f);

    f = valid;
    mutable_root(f)->mutable_plan()->GetMutableObject(2)->mutable_inputs()->Mutate(0, 77);
    reseal(f);
    write_all(dir / "bad_buffer_index.rptq", f);
  } catch (const std::exception& e) {
    std::cerr << "bundle_fuzz_seeds: " << e.what() << "\n";
    return 1;
  }
  std::cout << "bundle_fuzz_seeds: wrote " << dir.string() << "\n";
  return 0;
}
