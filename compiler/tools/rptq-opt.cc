// rptq-opt: parse, verify, transform and print IR of the rptq dialect.
// The registry holds the rptq and func dialects, plus MLIR's generic passes
// (canonicalize, cse, ...) and the RPTQ channel-reorder passes.

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"
#include "passes/rptq_passes.h"
#include "rptq/Dialect/RptqDialect.h"

int main(int argc, char **argv) {
  mlir::registerTransformsPasses();
  rptq::registerRptqPasses();
  mlir::DialectRegistry registry;
  registry.insert<rptq::RptqDialect, mlir::func::FuncDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "rptq optimizer driver\n", registry));
}
