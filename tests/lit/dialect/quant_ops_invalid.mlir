// Verifier checks of rptq.quant_point, rptq.reorder and the row_perm/col_perm of
// rptq.weight.
// RUN: rptq-opt %s -split-input-file -verify-diagnostics

func.func @qp_rank0(%x: tensor<f32>) {
  // expected-error @+1 {{'rptq.quant_point' op expects a tensor with a static last (channel) dimension, got 'tensor<f32>'}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query"} : tensor<f32>
  return
}

// -----

func.func @qp_dynamic_channels(%x: tensor<4x?xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op expects a tensor with a static last (channel) dimension, got 'tensor<4x?xf32>'}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query"} : tensor<4x?xf32>
  return
}

// -----

func.func @qp_missing_point(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op requires attribute 'point'}}
  %r = rptq.quant_point %x {layer = 0 : i64} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_negative_layer(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op layer must be non-negative, got -1}}
  %r = rptq.quant_point %x {layer = -1 : i64, point = "query"} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_unknown_point(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op unknown point "fc2_out", expected one of attn_norm_out query key value attn_out ffn_norm_out fc1_out}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "fc2_out"} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_kv_cache_on_query(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op kv_cache is only valid on key and value points, not on query}}
  %r = rptq.quant_point %x {kv_cache, layer = 0 : i64, point = "query"} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_perm_size(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op perm has 3 entries, expected 4}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", perm = array<i64: 0, 1, 2>} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_perm_range(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op perm entry 4 is out of range [0, 4)}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", perm = array<i64: 0, 1, 2, 4>} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_perm_repeat(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op perm is not a permutation: 1 appears twice}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", perm = array<i64: 0, 1, 1, 2>} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_cluster_zero(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op cluster sizes must be positive, got 0}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", cluster_sizes = array<i64: 4, 0>} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_cluster_sum(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op cluster sizes sum to 3, expected 4 channels}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", cluster_sizes = array<i64: 1, 2>} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_bits_low(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op bits must be in [2, 16], got 1}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", bits = 1 : i64} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_bits_high(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op bits must be in [2, 16], got 17}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", bits = 17 : i64} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_scales_count(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op has 1 scales, expected 2 (one per cluster)}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", cluster_sizes = array<i64: 2, 2>, scales = array<f32: 1.0>} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_scales_per_tensor(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op has 2 scales, expected 1 (one per cluster)}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", scales = array<f32: 1.0, 2.0>} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_scale_zero(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op scales must be positive, got 0.000000e+00}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", scales = array<f32: 0.0>} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_zero_points_count(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op has 3 zero points, expected 2 (one per cluster)}}
  %r = rptq.quant_point %x {layer = 0 : i64, point = "query", cluster_sizes = array<i64: 1, 3>, zero_points = array<i64: 0, 0, 0>} : tensor<?x4xf32>
  return
}

// -----

func.func @qp_type_mismatch(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.quant_point' op failed to verify that all of {input, result} have same type}}
  %r = "rptq.quant_point"(%x) {layer = 0 : i64, point = "query"} : (tensor<?x4xf32>) -> tensor<?x4xf16>
  return
}

// -----

func.func @reorder_dim_range(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.reorder' op dim 2 is out of range for 'tensor<?x4xf32>'}}
  %r = rptq.reorder %x dim = 2 perm = [0, 1, 2, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @reorder_dim_negative(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.reorder' op dim -1 is out of range for 'tensor<?x4xf32>'}}
  %r = rptq.reorder %x dim = -1 perm = [0, 1, 2, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @reorder_dynamic_dim(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.reorder' op dim 0 of 'tensor<?x4xf32>' must be static}}
  %r = rptq.reorder %x dim = 0 perm = [0] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @reorder_perm_size(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.reorder' op perm has 2 entries, expected 4}}
  %r = rptq.reorder %x dim = 1 perm = [0, 1] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @reorder_not_perm(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.reorder' op perm is not a permutation: 3 appears twice}}
  %r = rptq.reorder %x dim = 1 perm = [3, 1, 3, 0] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @reorder_type(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.reorder' op result type 'tensor<4x4xf32>' does not match input type 'tensor<?x4xf32>'}}
  %r = rptq.reorder %x dim = 1 perm = [0, 1, 2, 3] : (tensor<?x4xf32>) -> tensor<4x4xf32>
  return
}

// -----

func.func @weight_row_perm_size() {
  // expected-error @+1 {{'rptq.weight' op row_perm has 2 entries, expected 3}}
  %r = rptq.weight "w" row_perm = [0, 1] : tensor<3x4xf32>
  return
}

// -----

func.func @weight_row_perm_range() {
  // expected-error @+1 {{'rptq.weight' op row_perm entry 3 is out of range [0, 3)}}
  %r = rptq.weight "w" row_perm = [0, 1, 3] : tensor<3x4xf32>
  return
}

// -----

func.func @weight_col_perm_repeat() {
  // expected-error @+1 {{'rptq.weight' op col_perm is not a permutation: 0 appears twice}}
  %r = rptq.weight "w" col_perm = [0, 0, 1, 2] : tensor<3x4xf32>
  return
}

// -----

func.func @weight_col_perm_1d() {
  // expected-error @+1 {{'rptq.weight' op col_perm needs a 2-D weight, got 'tensor<3xf32>'}}
  %r = rptq.weight "b" col_perm = [0, 1, 2] : tensor<3xf32>
  return
}

// -----

func.func @weight_row_perm_3d() {
  // expected-error @+1 {{'rptq.weight' op row_perm needs a 1-D or 2-D weight, got 'tensor<2x2x2xf32>'}}
  %r = rptq.weight "t" row_perm = [1, 0] : tensor<2x2x2xf32>
  return
}
