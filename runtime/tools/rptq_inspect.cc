// rptq-inspect: what a compiled bundle holds, after verifying it as the runtime would.
//
//   rptq-inspect model.rptq [--json] [--tensors] [--no-segment-checksums]
//
// Exit status 1 with the reader's message ("<file>: <problem>") for a file that does not verify.
#include <CLI/CLI.hpp>
#include <iostream>

#include "bundle/bundle_reader.h"
#include "rptq/error.h"
#include "tools/bundle_summary.h"

int main(int argc, char** argv) {
  CLI::App app{"Verify an rptq bundle and describe what it holds"};
  std::string path;
  bool as_json = false, tensors = false, skip_segments = false;
  app.add_option("bundle", path, "bundle file (.rptq)")->required();
  app.add_flag("--json", as_json, "print the summary as JSON");
  app.add_flag("--tensors", tensors, "list every tensor");
  app.add_flag("--no-segment-checksums", skip_segments,
               "skip hashing the data segment (huge bundles); every structural check still runs");
  CLI11_PARSE(app, argc, argv);
  try {
    const auto bundle = rptq::bundle::LoadedBundle::open(path, !skip_segments);
    const nlohmann::json summary = rptq::bundle::summarize_bundle(*bundle, tensors);
    std::cout << (as_json ? rptq::bundle::summary_json(summary) : rptq::bundle::summary_text(summary));
  } catch (const rptq::Error& e) {
    std::cerr << "rptq-inspect: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
