// rptq::extractFoldedLayout (through --rptq-test-print-folded-layout) never
// reads an incomplete fold.
// RUN: rptq-opt %s --split-input-file --rptq-test-print-folded-layout -verify-diagnostics -o /dev/null

func.func @reorder_left(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{reorder left in the module; the layout is incomplete until foldChannelReorders succeeds}}
  %r = rptq.reorder %x dim = 1 perm = [1, 0, 2, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

func.func @perm_not_materialized(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{quant point still has a perm; run foldChannelReorders before reading the layout}}
  %q = rptq.quant_point %x {layer = 0 : i64, point = "query", perm = array<i64: 1, 0, 2, 3>} : tensor<?x4xf32>
  return %q : tensor<?x4xf32>
}

// -----

func.func @write_index_without_point(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{layer norm with a write_index feeds no quant point}}
  %y = rptq.layer_norm %x eps = 1.0e-5 write_index = [1, 0, 2, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}
