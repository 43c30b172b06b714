//===- Passes.td - rptq channel-reorder passes -------------*- tablegen -*-===//
//
// The IR side of RPTQ's channel reordering: mark the quantized activations,
// turn their clustering orders into explicit reorders, and fold those into
// weight permutations and LayerNorm write indices.
//
//===----------------------------------------------------------------------===//

#ifndef RPTQ_PASSES_TD
#define RPTQ_PASSES_TD

include "mlir/Pass/PassBase.td"

def MarkQuantPointsPass : Pass<"rptq-mark-quant-points", "mlir::ModuleOp"> {
  let summary = "Insert rptq.quant_point ops at RPTQ's quantized activations";
  let description = [{
    Per `rptq.attention`: `attn_norm_out` on the common input of the q/k/v
    projections (only those uses), `query`, `key` and `value` (the last two
    with `kv_cache`) on its operands, `attn_out` on its result where the
    out_proj reads it. Per `rptq.relu` that feeds an `rptq.linear` (fc2):
    `fc1_out` on its result, `ffn_norm_out` on fc1's input. The layer comes
    from the `decoder.layers.N.` weight name of the adjacent projection.
    Running it again changes nothing.
  }];
}

def MaterializeReordersPass
    : Pass<"rptq-materialize-reorders", "mlir::ModuleOp"> {
  let summary = "Turn quant_point perms into explicit rptq.reorder ops";
  let description = [{
    `y = quant_point(x) {perm = P}` becomes
    `y = reorder(quant_point(reorder(x, P)), inverse(P))`; the point keeps its
    other attributes, which now describe the reordered channels.
  }];
}

def FoldReordersPass : Pass<"rptq-fold-reorders", "mlir::ModuleOp"> {
  let summary = "Fold rptq.reorder ops into weights and layer norms";
  let description = [{
    Pushes reorders up into producers (linear rows, relu, layer_norm
    write_index, weight row_perm/col_perm) and down into consumers (linear
    and lm_head columns, attention with head-preserving permutations), then
    fails on any reorder left.
  }];
}

def TestAssignPermsPass : Pass<"rptq-test-assign-perms", "mlir::ModuleOp"> {
  let summary = "Test only: give quant points deterministic perms";
  let description = [{
    Sets `perm` on quant points that have none, the way the clustering would:
    one order per `attn_norm_out`, `ffn_norm_out` and `fc1_out`, one
    head-preserving order shared by `query`/`key` and one by
    `value`/`attn_out`. `seed = 0` rotates (group g of the five by g + 1,
    within heads for the attention groups); other seeds shuffle.
  }];
  let options = [
    Option<"seed", "seed", "uint64_t", "0",
           "0: rotations; otherwise the seed of the shuffles">,
    Option<"layer", "layer", "int64_t", "-1", "only this layer (-1: all)">,
    ListOption<"points", "points", "std::string",
               "only these points (default: all)">
  ];
}

def TestSetPermPass : Pass<"rptq-test-set-perm", "mlir::ModuleOp"> {
  let summary = "Test only: set the perm of one quant point";
  let description = [{
    Finds the quant point (`layer`, `point`) with rptq::findQuantPoint, as
    the numeric driver does, and sets its `perm`; fails if there is none.
  }];
  let options = [
    Option<"layer", "layer", "int64_t", "0", "decoder layer">,
    Option<"point", "point", "std::string", "", "quant point name">,
    ListOption<"perm", "perm", "int64_t", "the channel order">
  ];
}

def TestPrintFoldedLayoutPass
    : Pass<"rptq-test-print-folded-layout", "mlir::ModuleOp"> {
  let summary = "Test only: print rptq::extractFoldedLayout's answer";
  let options = [
    Option<"allowMultiLayout", "allow-multi-layout", "bool", "false",
           "report names read in several layouts instead of failing">
  ];
}

#endif // RPTQ_PASSES_TD
