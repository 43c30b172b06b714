// rptq-opt: parse, verify, transform and print IR of the rptq dialect.
// The registry holds the rptq and func dialects; passes are added as they land.

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "rptq/Dialect/RptqDialect.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<rptq::RptqDialect, mlir::func::FuncDialect>();
  return mlir::asMainReturnCode(
      mlir::MlirOptMain(argc, argv, "rptq optimizer driver\n", registry));
}
