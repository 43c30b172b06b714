// --rptq-fold-reorders leaves what it cannot fold and says why; the pass
// fails, so a driver never reads a half-folded layout.
// RUN: rptq-opt %s --split-input-file --rptq-fold-reorders -verify-diagnostics
// RUN: not rptq-opt %s --split-input-file --rptq-fold-reorders 2>&1 | FileCheck %s
// CHECK: error: reorder could not be folded into its producer or consumers: it moves channel 2 of head 1 to position 0 in head 0 of 'rptq.attention'

// A query/key order that crosses heads would change QKᵀ (2 heads of 2).
func.func @head_crossing(%q: tensor<?x4xf32>, %k: tensor<?x4xf32>, %v: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{reorder could not be folded into its producer or consumers: it moves channel 2 of head 1 to position 0 in head 0 of 'rptq.attention' (a permutation must stay within heads)}}
  %rq = rptq.reorder %q dim = 1 perm = [2, 1, 0, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // expected-error @+1 {{it moves channel 2 of head 1 to position 0 in head 0}}
  %rk = rptq.reorder %k dim = 1 perm = [2, 1, 0, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %a = rptq.attention %rq, %rk, %v num_heads = 2 scale = 0.5 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

// The same for the value: its order would leave its head.
func.func @value_head_crossing(%q: tensor<?x4xf32>, %v: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{it moves channel 3 of head 1 to position 1 in head 0}}
  %rv = rptq.reorder %v dim = 1 perm = [0, 3, 2, 1] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %a = rptq.attention %q, %q, %rv num_heads = 2 scale = 0.5 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

// A value order that attn_out does not undo comes out of attention and stops
// at the next quant point.
func.func @value_without_attn_out(%q: tensor<?x4xf32>, %v: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %rv = rptq.reorder %v dim = 1 perm = [1, 0, 2, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // expected-error @+1 {{it is the value order coming out of 'rptq.attention', which only the out_proj can absorb (value and attn_out must share one order)}}
  %a = rptq.attention %q, %q, %rv num_heads = 2 scale = 0.5 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %ap = rptq.quant_point %a {layer = 0 : i64, point = "attn_out"} : tensor<?x4xf32>
  return %ap : tensor<?x4xf32>
}

// -----

func.func @query_key_differ(%q: tensor<?x4xf32>, %k: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{the query and key of 'rptq.attention' are not reordered by the same permutation}}
  %rq = rptq.reorder %q dim = 1 perm = [1, 0, 2, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // expected-error @+1 {{the query and key of 'rptq.attention' are not reordered by the same permutation}}
  %rk = rptq.reorder %k dim = 1 perm = [1, 0, 3, 2] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %a = rptq.attention %rq, %rk, %k num_heads = 2 scale = 0.5 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

// The residual stream (post-LN layer 0: the embedding sum) cannot absorb one.
func.func @add_producer(%x: tensor<?x4xf32>, %y: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %s = rptq.add %x, %y : tensor<?x4xf32>
  // expected-error @+1 {{its producer 'rptq.add' cannot absorb a permutation, and no user absorbs it}}
  %r = rptq.reorder %s dim = 1 perm = [1, 0, 2, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

// A linear read elsewhere too is not recomputed in another order.
func.func @shared_linear(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %w = rptq.weight "w" : tensor<4x4xf32>
  %y = rptq.linear %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // expected-error @+1 {{its producer 'rptq.linear' has other users, and no user absorbs it}}
  %r = rptq.reorder %y dim = 1 perm = [1, 0, 2, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %y, %r : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

func.func @block_argument(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{its input is a block argument, and no user absorbs it}}
  %r = rptq.reorder %x dim = 1 perm = [1, 0, 2, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

// Sequence reorders of activations are not channel orders.
func.func @sequence_dim(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %y = rptq.layer_norm %x eps = 1.0e-5 : (tensor<3x4xf32>) -> tensor<3x4xf32>
  // expected-error @+1 {{its producer 'rptq.layer_norm' cannot absorb a permutation}}
  %r = rptq.reorder %y dim = 0 perm = [1, 0, 2] : (tensor<3x4xf32>) -> tensor<3x4xf32>
  return %r : tensor<3x4xf32>
}
