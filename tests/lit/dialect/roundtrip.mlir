// Custom assembly of every rptq op (including all optional operand/attribute
// combinations) survives print -> parse -> print, both through the custom form
// and through the generic form.
// RUN: rptq-opt %s | rptq-opt | FileCheck %s
// RUN: rptq-opt %s --mlir-print-op-generic | rptq-opt | FileCheck %s

// CHECK-LABEL: func.func @weights
func.func @weights() -> (tensor<3072x768xf32>, tensor<3072xf32>, tensor<768xf32>) {
  // CHECK: rptq.weight "decoder.layers.0.fc1.weight" : tensor<3072x768xf32>
  %w = rptq.weight "decoder.layers.0.fc1.weight" : tensor<3072x768xf32>
  // CHECK: rptq.weight "decoder.layers.0.fc1.bias" : tensor<3072xf32>
  %b = rptq.weight "decoder.layers.0.fc1.bias" : tensor<3072xf32>
  // Weight names are arbitrary strings.
  // CHECK: rptq.weight "name with \22quotes\22 and spaces" : tensor<768xf32>
  %s = rptq.weight "name with \"quotes\" and spaces" : tensor<768xf32>
  return %w, %b, %s : tensor<3072x768xf32>, tensor<3072xf32>, tensor<768xf32>
}

// CHECK-LABEL: func.func @embeddings
// CHECK-SAME: (%[[IDS:.*]]: tensor<?xi32>, %[[POS:.*]]: tensor<?xi32>)
func.func @embeddings(%ids: tensor<?xi32>, %pos: tensor<?xi32>) -> (tensor<?x768xf32>, tensor<?x768xf32>, tensor<5x768xf32>) {
  // CHECK: %[[TOK:.*]] = rptq.weight "decoder.embed_tokens.weight"
  %tok = rptq.weight "decoder.embed_tokens.weight" : tensor<50272x768xf32>
  // CHECK: %[[PT:.*]] = rptq.weight "decoder.embed_positions.weight"
  %pt = rptq.weight "decoder.embed_positions.weight" : tensor<2050x768xf32>
  // CHECK: rptq.embedding %[[IDS]], %[[TOK]] : (tensor<?xi32>, tensor<50272x768xf32>) -> tensor<?x768xf32>
  %e = rptq.embedding %ids, %tok : (tensor<?xi32>, tensor<50272x768xf32>) -> tensor<?x768xf32>
  // CHECK: rptq.position_embedding %[[POS]], %[[PT]] offset = 2 : (tensor<?xi32>, tensor<2050x768xf32>) -> tensor<?x768xf32>
  %p = rptq.position_embedding %pos, %pt offset = 2 : (tensor<?xi32>, tensor<2050x768xf32>) -> tensor<?x768xf32>
  // Static sequence lengths are allowed and must agree.
  // CHECK: rptq.position_embedding %{{.*}}, %[[PT]] offset = 0 : (tensor<5xi32>, tensor<2050x768xf32>) -> tensor<5x768xf32>
  %five = rptq.weight "five_positions" : tensor<5xi32>
  %q = rptq.position_embedding %five, %pt offset = 0 : (tensor<5xi32>, tensor<2050x768xf32>) -> tensor<5x768xf32>
  return %e, %p, %q : tensor<?x768xf32>, tensor<?x768xf32>, tensor<5x768xf32>
}

// CHECK-LABEL: func.func @layer_norms
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
func.func @layer_norms(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) {
  // CHECK: %[[G:.*]] = rptq.weight "ln.weight"
  %g = rptq.weight "ln.weight" : tensor<4xf32>
  // CHECK: %[[B:.*]] = rptq.weight "ln.bias"
  %b = rptq.weight "ln.bias" : tensor<4xf32>
  // CHECK: rptq.layer_norm %[[X]] gamma(%[[G]]) beta(%[[B]]) eps = 9.99999974E-6 : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %0 = rptq.layer_norm %x gamma(%g) beta(%b) eps = 1.0e-5 : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // CHECK: rptq.layer_norm %[[X]] gamma(%[[G]]) eps = 1.000000e-03 : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %1 = rptq.layer_norm %x gamma(%g) eps = 1.0e-3 : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // CHECK: rptq.layer_norm %[[X]] beta(%[[B]]) eps = 1.000000e-03 : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %2 = rptq.layer_norm %x beta(%b) eps = 1.0e-3 : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // CHECK: rptq.layer_norm %[[X]] eps = 1.000000e-03 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %3 = rptq.layer_norm %x eps = 1.0e-3 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: rptq.layer_norm %[[X]] gamma(%[[G]]) beta(%[[B]]) eps = 1.000000e-03 write_index = [2, 0, 3, 1] : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %4 = rptq.layer_norm %x gamma(%g) beta(%b) eps = 1.0e-3 write_index = [2, 0, 3, 1] : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return %0, %1, %2, %3, %4 : tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>
}

// CHECK-LABEL: func.func @linears
// CHECK-SAME: (%[[X:.*]]: tensor<?x768xf32>)
func.func @linears(%x: tensor<?x768xf32>) -> (tensor<?x3072xf32>, tensor<?x3072xf32>, tensor<7x3072xf32>) {
  // CHECK: %[[W:.*]] = rptq.weight "decoder.layers.0.fc1.weight"
  %w = rptq.weight "decoder.layers.0.fc1.weight" : tensor<3072x768xf32>
  // CHECK: %[[B:.*]] = rptq.weight "decoder.layers.0.fc1.bias"
  %b = rptq.weight "decoder.layers.0.fc1.bias" : tensor<3072xf32>
  // CHECK: rptq.linear %[[X]], %[[W]], %[[B]] : (tensor<?x768xf32>, tensor<3072x768xf32>, tensor<3072xf32>) -> tensor<?x3072xf32>
  %0 = rptq.linear %x, %w, %b : (tensor<?x768xf32>, tensor<3072x768xf32>, tensor<3072xf32>) -> tensor<?x3072xf32>
  // CHECK: rptq.linear %[[X]], %[[W]] : (tensor<?x768xf32>, tensor<3072x768xf32>) -> tensor<?x3072xf32>
  %1 = rptq.linear %x, %w : (tensor<?x768xf32>, tensor<3072x768xf32>) -> tensor<?x3072xf32>
  // A static sequence length on the result is compatible with a dynamic input.
  // CHECK: rptq.linear %[[X]], %[[W]], %[[B]] : (tensor<?x768xf32>, tensor<3072x768xf32>, tensor<3072xf32>) -> tensor<7x3072xf32>
  %2 = rptq.linear %x, %w, %b : (tensor<?x768xf32>, tensor<3072x768xf32>, tensor<3072xf32>) -> tensor<7x3072xf32>
  return %0, %1, %2 : tensor<?x3072xf32>, tensor<?x3072xf32>, tensor<7x3072xf32>
}

// CHECK-LABEL: func.func @elementwise
// CHECK-SAME: (%[[A:.*]]: tensor<?x768xf32>, %[[B:.*]]: tensor<?x768xf32>)
func.func @elementwise(%a: tensor<?x768xf32>, %b: tensor<?x768xf32>) -> tensor<?x768xf32> {
  // CHECK: %[[R:.*]] = rptq.relu %[[A]] : tensor<?x768xf32>
  %r = rptq.relu %a : tensor<?x768xf32>
  // CHECK: rptq.add %[[R]], %[[B]] : tensor<?x768xf32>
  %s = rptq.add %r, %b : tensor<?x768xf32>
  return %s : tensor<?x768xf32>
}

// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:.*]]: tensor<?x768xf32>, %[[K:.*]]: tensor<?x768xf32>, %[[V:.*]]: tensor<?x768xf32>)
func.func @attention(%q: tensor<?x768xf32>, %k: tensor<?x768xf32>, %v: tensor<?x768xf32>) -> (tensor<?x768xf32>, tensor<?x768xf32>, tensor<1x768xf32>) {
  // CHECK: rptq.attention %[[Q]], %[[K]], %[[V]] num_heads = 12 scale = 1.250000e-01 causal : (tensor<?x768xf32>, tensor<?x768xf32>, tensor<?x768xf32>) -> tensor<?x768xf32>
  %0 = rptq.attention %q, %k, %v num_heads = 12 scale = 0.125 causal : (tensor<?x768xf32>, tensor<?x768xf32>, tensor<?x768xf32>) -> tensor<?x768xf32>
  // CHECK: rptq.attention %[[Q]], %[[K]], %[[V]] num_heads = 12 scale = 1.250000e-01 : (tensor<?x768xf32>, tensor<?x768xf32>, tensor<?x768xf32>) -> tensor<?x768xf32>
  %1 = rptq.attention %q, %k, %v num_heads = 12 scale = 0.125 : (tensor<?x768xf32>, tensor<?x768xf32>, tensor<?x768xf32>) -> tensor<?x768xf32>
  // Decode step: one query row against a longer key/value sequence.
  // CHECK: rptq.attention %{{.*}}, %{{.*}}, %{{.*}} num_heads = 12 scale = 1.250000e-01 causal : (tensor<1x768xf32>, tensor<9x768xf32>, tensor<9x768xf32>) -> tensor<1x768xf32>
  %q1 = rptq.weight "q1" : tensor<1x768xf32>
  %k9 = rptq.weight "k9" : tensor<9x768xf32>
  %v9 = rptq.weight "v9" : tensor<9x768xf32>
  %2 = rptq.attention %q1, %k9, %v9 num_heads = 12 scale = 0.125 causal : (tensor<1x768xf32>, tensor<9x768xf32>, tensor<9x768xf32>) -> tensor<1x768xf32>
  return %0, %1, %2 : tensor<?x768xf32>, tensor<?x768xf32>, tensor<1x768xf32>
}

// CHECK-LABEL: func.func @lm_head
// CHECK-SAME: (%[[X:.*]]: tensor<?x768xf32>)
func.func @lm_head(%x: tensor<?x768xf32>) -> tensor<?x50272xf32> {
  // CHECK: %[[W:.*]] = rptq.weight "decoder.embed_tokens.weight"
  %w = rptq.weight "decoder.embed_tokens.weight" : tensor<50272x768xf32>
  // CHECK: rptq.lm_head %[[X]], %[[W]] : (tensor<?x768xf32>, tensor<50272x768xf32>) -> tensor<?x50272xf32>
  %l = rptq.lm_head %x, %w : (tensor<?x768xf32>, tensor<50272x768xf32>) -> tensor<?x50272xf32>
  return %l : tensor<?x50272xf32>
}
