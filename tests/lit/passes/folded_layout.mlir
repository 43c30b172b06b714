// rptq::extractFoldedLayout (through --rptq-test-print-folded-layout): a name
// read in two layouts is an error unless the caller accepts several; the
// model-order layout is no entry of its own.
// RUN: rptq-opt %s --split-input-file --rptq-test-print-folded-layout -verify-diagnostics -o /dev/null
// RUN: rptq-opt %s --split-input-file --rptq-test-print-folded-layout=allow-multi-layout=1 -o /dev/null | FileCheck %s

// The tied embedding after lm_head's input was reordered: the lookup reads
// the stored table, lm_head a column-permuted copy.
// CHECK: folded layout:
// CHECK-NEXT: multi-layout weight "decoder.embed_tokens.weight" {row_perm = [] col_perm = []} {row_perm = [] col_perm = [1, 3, 0, 2]}
// CHECK-NEXT: end folded layout
func.func @tied_embedding(%ids: tensor<?xi32>, %x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x8xf32>) {
  // expected-note @+1 {{first layout here}}
  %e = rptq.weight "decoder.embed_tokens.weight" : tensor<8x4xf32>
  %t = rptq.embedding %ids, %e : (tensor<?xi32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  // expected-error @+1 {{weight 'decoder.embed_tokens.weight' is read in 2 different layouts; one permuted copy cannot serve them all}}
  %ep = rptq.weight "decoder.embed_tokens.weight" col_perm = [1, 3, 0, 2] : tensor<8x4xf32>
  %l = rptq.lm_head %x, %ep : (tensor<?x4xf32>, tensor<8x4xf32>) -> tensor<?x8xf32>
  return %t, %l : tensor<?x4xf32>, tensor<?x8xf32>
}

// -----

// Identity permutations are no layout of their own, and names read once in
// the model order are not listed.
// CHECK: folded layout:
// CHECK-NEXT: end folded layout
func.func @identities() -> (tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>) {
  %a = rptq.weight "w" : tensor<2x3xf32>
  %b = rptq.weight "w" row_perm = [0, 1] col_perm = [0, 1, 2] : tensor<2x3xf32>
  %c = rptq.weight "b" : tensor<3xf32>
  return %a, %b, %c : tensor<2x3xf32>, tensor<2x3xf32>, tensor<3xf32>
}
