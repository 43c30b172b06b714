//===- PassRegistration.cpp - registration and the fold entry point -------===//

#include "PassDetail.h"

#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Pass/PassRegistry.h"

using namespace mlir;

namespace rptq {
namespace gen {
// Inside a namespace of its own: the generated registerRptqGenPasses() is
// inline and would otherwise sit beside the public registerRptqPasses().
#define GEN_PASS_REGISTRATION
#include "Passes.h.inc"
} // namespace gen

namespace {
void addFoldPipeline(OpPassManager &pm) {
  pm.addPass(createMaterializeReordersPass());
  pm.addPass(createFoldReordersPass());
}
} // namespace

void registerRptqPasses() {
  gen::registerRptqGenPasses();
  PassPipelineRegistration<>(
      "rptq-fold-channel-reorders",
      "Materialize the quant points' perms and fold the reorders away "
      "(--rptq-materialize-reorders, then --rptq-fold-reorders)",
      addFoldPipeline);
}

LogicalResult foldChannelReorders(ModuleOp module) {
  if (failed(verify(module)))
    return failure();
  PassManager pm(module.getContext(), ModuleOp::getOperationName());
  addFoldPipeline(pm);
  return pm.run(module);
}

} // namespace rptq
