//===- RptqDialect.td - rptq dialect definition ------------*- tablegen -*-===//
//
// The `rptq` dialect models an OPT decoder-only transformer at the level of
// the RPTQ paper (reorder-based post-training quantization). Activations are
// builtin ranked tensors of rank 2, `tensor<SxD>`, with a (usually dynamic)
// sequence dimension S and a static feature dimension D. Token ids are
// `tensor<?xi32>`. Weights are not inlined; `rptq.weight` references them by
// name in an external weight store.
//
//===----------------------------------------------------------------------===//

#ifndef RPTQ_DIALECT_TD
#define RPTQ_DIALECT_TD

include "mlir/IR/OpBase.td"

def Rptq_Dialect : Dialect {
  let name = "rptq";
  let cppNamespace = "::rptq";
  let useFoldAPI = kEmitFoldAdaptorFolder;
  let summary = "OPT transformer operations for RPTQ quantization";
  let description = [{
    Operations of an OPT decoder-only transformer as imported from a Hugging
    Face checkpoint. Weights are referenced by name (`rptq.weight`), values are
    builtin tensors `tensor<?xD>`; functions use `func.func`/`func.return`.
  }];
}

class Rptq_Op<string mnemonic, list<Trait> traits = []>
    : Op<Rptq_Dialect, mnemonic, traits>;

#endif // RPTQ_DIALECT_TD
