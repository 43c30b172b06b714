// rptq-compile: OPT checkpoint → compiled artefact. Today it runs the import stage and emits the
// `rptq` dialect module; calibration, clustering, GPTQ and bundle emission are the next stages.
//   rptq-compile MODEL_DIR --emit mlir -o model.mlir      (-o - writes to stdout)
#include <CLI/CLI.hpp>
#include <iostream>
#include <llvm/Support/raw_ostream.h>
#include <mlir/IR/MLIRContext.h>

#include "hf/checkpoint.h"
#include "import/opt_importer.h"
#include "support/atomic_file.h"
#include "rptq/error.h"

int main(int argc, char** argv) {
  CLI::App app{"rptq-compile: OPT checkpoint (Hugging Face layout) -> rptq"};
  std::string model, output, emit = "mlir";
  app.add_option("model", model, "OPT checkpoint directory")->required();
  app.add_option("--emit", emit, "what to emit")->check(CLI::IsMember({"mlir"}));
  app.add_option("-o,--output", output, "output file ('-' for stdout)")->required();
  CLI11_PARSE(app, argc, argv);
  try {
    auto ck = rptq::hf::Checkpoint::open(model);
    mlir::MLIRContext ctx;
    auto module = rptq::import::import_opt(ctx, ck);
    std::string text;
    llvm::raw_string_ostream os(text);
    module->print(os);
    os.flush();
    if (output == "-")
      std::cout << text;
    else
      rptq::write_file_atomically(output, text);
  } catch (const rptq::Error& e) {
    std::cerr << "rptq-compile: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
