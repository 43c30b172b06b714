// Every verifier check of the rptq ops rejects bad IR with a diagnostic.
// RUN: rptq-opt %s -split-input-file -verify-diagnostics

// -----
// rptq.weight

func.func @weight_empty_name() {
  // expected-error @+1 {{'rptq.weight' op weight name must not be empty}}
  %w = rptq.weight "" : tensor<4x4xf32>
  return
}

// -----

func.func @weight_dynamic_shape() {
  // expected-error @+1 {{'rptq.weight' op weight must have a static shape, got 'tensor<?x4xf32>'}}
  %w = rptq.weight "w" : tensor<?x4xf32>
  return
}

// -----

func.func @weight_unranked() {
  // expected-error @+1 {{'rptq.weight' op result #0 must be ranked tensor of any type values, but got 'tensor<*xf32>'}}
  %w = rptq.weight "w" : tensor<*xf32>
  return
}

// -----
// rptq.embedding

func.func @embedding_ids_rank(%ids: tensor<2x3xi32>) {
  %t = rptq.weight "t" : tensor<10x4xf32>
  // expected-error @+1 {{'rptq.embedding' op ids must be a rank-1 tensor, got 'tensor<2x3xi32>'}}
  %e = rptq.embedding %ids, %t : (tensor<2x3xi32>, tensor<10x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @embedding_ids_i64(%ids: tensor<?xi64>) {
  %t = rptq.weight "t" : tensor<10x4xf32>
  // expected-error @+1 {{'rptq.embedding' op operand #0 must be tensor of 32-bit signless integer values, but got 'tensor<?xi64>'}}
  %e = rptq.embedding %ids, %t : (tensor<?xi64>, tensor<10x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @embedding_table_dynamic(%ids: tensor<?xi32>, %t: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.embedding' op table must be a static rank-2 tensor, got 'tensor<?x4xf32>'}}
  %e = rptq.embedding %ids, %t : (tensor<?xi32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @embedding_dim_mismatch(%ids: tensor<?xi32>) {
  %t = rptq.weight "t" : tensor<10x4xf32>
  // expected-error @+1 {{'rptq.embedding' op result feature dimension 8 does not match table dimension 4}}
  %e = rptq.embedding %ids, %t : (tensor<?xi32>, tensor<10x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @embedding_element_type(%ids: tensor<?xi32>) {
  %t = rptq.weight "t" : tensor<10x4xf32>
  // expected-error @+1 {{'rptq.embedding' op result element type 'f16' does not match table element type 'f32'}}
  %e = rptq.embedding %ids, %t : (tensor<?xi32>, tensor<10x4xf32>) -> tensor<?x4xf16>
  return
}

// -----

func.func @embedding_sequence(%ids: tensor<3xi32>) {
  %t = rptq.weight "t" : tensor<10x4xf32>
  // expected-error @+1 {{'rptq.embedding' op result sequence dimension 5 does not match ids length 3}}
  %e = rptq.embedding %ids, %t : (tensor<3xi32>, tensor<10x4xf32>) -> tensor<5x4xf32>
  return
}

// -----

func.func @embedding_result_rank(%ids: tensor<?xi32>) {
  %t = rptq.weight "t" : tensor<10x4xf32>
  // expected-error @+1 {{'rptq.embedding' op result must be a rank-2 tensor <seq x features>, got 'tensor<?x1x4xf32>'}}
  %e = rptq.embedding %ids, %t : (tensor<?xi32>, tensor<10x4xf32>) -> tensor<?x1x4xf32>
  return
}

// -----
// rptq.position_embedding

func.func @position_negative_offset(%pos: tensor<?xi32>) {
  %t = rptq.weight "t" : tensor<10x4xf32>
  // expected-error @+1 {{'rptq.position_embedding' op offset must be non-negative, got -1}}
  %p = rptq.position_embedding %pos, %t offset = -1 : (tensor<?xi32>, tensor<10x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @position_dim_mismatch(%pos: tensor<?xi32>) {
  %t = rptq.weight "t" : tensor<10x4xf32>
  // expected-error @+1 {{'rptq.position_embedding' op result feature dimension 6 does not match table dimension 4}}
  %p = rptq.position_embedding %pos, %t offset = 2 : (tensor<?xi32>, tensor<10x4xf32>) -> tensor<?x6xf32>
  return
}

// -----

func.func @position_missing_offset(%pos: tensor<?xi32>, %t: tensor<10x4xf32>) {
  // expected-error @+1 {{requires attribute 'offset'}}
  %p = "rptq.position_embedding"(%pos, %t) : (tensor<?xi32>, tensor<10x4xf32>) -> tensor<?x4xf32>
  return
}

// -----
// rptq.layer_norm

func.func @layer_norm_gamma_size(%x: tensor<?x4xf32>) {
  %g = rptq.weight "g" : tensor<5xf32>
  // expected-error @+1 {{'rptq.layer_norm' op gamma size 5 does not match feature dimension 4}}
  %y = rptq.layer_norm %x gamma(%g) eps = 1.0e-5 : (tensor<?x4xf32>, tensor<5xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @layer_norm_beta_size(%x: tensor<?x4xf32>) {
  %g = rptq.weight "g" : tensor<4xf32>
  %b = rptq.weight "b" : tensor<3xf32>
  // expected-error @+1 {{'rptq.layer_norm' op beta size 3 does not match feature dimension 4}}
  %y = rptq.layer_norm %x gamma(%g) beta(%b) eps = 1.0e-5 : (tensor<?x4xf32>, tensor<4xf32>, tensor<3xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @layer_norm_gamma_rank(%x: tensor<?x4xf32>) {
  %g = rptq.weight "g" : tensor<1x4xf32>
  // expected-error @+1 {{'rptq.layer_norm' op gamma must be a static rank-1 tensor, got 'tensor<1x4xf32>'}}
  %y = rptq.layer_norm %x gamma(%g) eps = 1.0e-5 : (tensor<?x4xf32>, tensor<1x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @layer_norm_gamma_element_type(%x: tensor<?x4xf32>) {
  %g = rptq.weight "g" : tensor<4xf16>
  // expected-error @+1 {{'rptq.layer_norm' op gamma element type 'f16' does not match input element type 'f32'}}
  %y = rptq.layer_norm %x gamma(%g) eps = 1.0e-5 : (tensor<?x4xf32>, tensor<4xf16>) -> tensor<?x4xf32>
  return
}

// -----

func.func @layer_norm_result_type(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.layer_norm' op result type 'tensor<?x8xf32>' does not match input type 'tensor<?x4xf32>'}}
  %y = rptq.layer_norm %x eps = 1.0e-5 : (tensor<?x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @layer_norm_input_rank(%x: tensor<2x?x4xf32>) {
  // expected-error @+1 {{'rptq.layer_norm' op input must be a rank-2 tensor <seq x features>, got 'tensor<2x?x4xf32>'}}
  %y = rptq.layer_norm %x eps = 1.0e-5 : (tensor<2x?x4xf32>) -> tensor<2x?x4xf32>
  return
}

// -----

func.func @layer_norm_dynamic_features(%x: tensor<?x?xf32>) {
  // expected-error @+1 {{'rptq.layer_norm' op input must have a static feature dimension, got 'tensor<?x?xf32>'}}
  %y = rptq.layer_norm %x eps = 1.0e-5 : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return
}

// -----

func.func @layer_norm_eps(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.layer_norm' op eps must be positive}}
  %y = rptq.layer_norm %x eps = 0.0 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @write_index_size(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.layer_norm' op write_index has 3 entries, expected 4}}
  %y = rptq.layer_norm %x eps = 1.0e-5 write_index = [0, 1, 2] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @write_index_range(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.layer_norm' op write_index entry 4 is out of range [0, 4)}}
  %y = rptq.layer_norm %x eps = 1.0e-5 write_index = [0, 1, 2, 4] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @write_index_negative(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.layer_norm' op write_index entry -1 is out of range [0, 4)}}
  %y = rptq.layer_norm %x eps = 1.0e-5 write_index = [0, 1, -1, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @write_index_duplicate(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.layer_norm' op write_index is not a permutation: 1 appears twice}}
  %y = rptq.layer_norm %x eps = 1.0e-5 write_index = [0, 1, 1, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----
// rptq.linear

func.func @linear_in_features(%x: tensor<?x768xf32>) {
  %w = rptq.weight "w" : tensor<3072x512xf32>
  // expected-error @+1 {{'rptq.linear' op weight in_features 512 does not match input features 768}}
  %y = rptq.linear %x, %w : (tensor<?x768xf32>, tensor<3072x512xf32>) -> tensor<?x3072xf32>
  return
}

// -----

func.func @linear_bias_size(%x: tensor<?x768xf32>) {
  %w = rptq.weight "w" : tensor<3072x768xf32>
  %b = rptq.weight "b" : tensor<768xf32>
  // expected-error @+1 {{'rptq.linear' op bias size 768 does not match weight out_features 3072}}
  %y = rptq.linear %x, %w, %b : (tensor<?x768xf32>, tensor<3072x768xf32>, tensor<768xf32>) -> tensor<?x3072xf32>
  return
}

// -----

func.func @linear_bias_rank(%x: tensor<?x768xf32>) {
  %w = rptq.weight "w" : tensor<3072x768xf32>
  %b = rptq.weight "b" : tensor<1x3072xf32>
  // expected-error @+1 {{'rptq.linear' op bias must be a static rank-1 tensor, got 'tensor<1x3072xf32>'}}
  %y = rptq.linear %x, %w, %b : (tensor<?x768xf32>, tensor<3072x768xf32>, tensor<1x3072xf32>) -> tensor<?x3072xf32>
  return
}

// -----

func.func @linear_out_features(%x: tensor<?x768xf32>) {
  %w = rptq.weight "w" : tensor<3072x768xf32>
  // expected-error @+1 {{'rptq.linear' op result features 768 do not match weight out_features 3072}}
  %y = rptq.linear %x, %w : (tensor<?x768xf32>, tensor<3072x768xf32>) -> tensor<?x768xf32>
  return
}

// -----

func.func @linear_sequence(%x: tensor<5x768xf32>) {
  %w = rptq.weight "w" : tensor<3072x768xf32>
  // expected-error @+1 {{'rptq.linear' op result sequence dimension 3 does not match input sequence dimension 5}}
  %y = rptq.linear %x, %w : (tensor<5x768xf32>, tensor<3072x768xf32>) -> tensor<3x3072xf32>
  return
}

// -----

func.func @linear_weight_dynamic(%x: tensor<?x768xf32>, %w: tensor<?x768xf32>) {
  // expected-error @+1 {{'rptq.linear' op weight must be a static rank-2 tensor, got 'tensor<?x768xf32>'}}
  %y = rptq.linear %x, %w : (tensor<?x768xf32>, tensor<?x768xf32>) -> tensor<?x3072xf32>
  return
}

// -----

func.func @linear_element_type(%x: tensor<?x768xf32>) {
  %w = rptq.weight "w" : tensor<3072x768xf16>
  // expected-error @+1 {{'rptq.linear' op weight element type 'f16' does not match input element type 'f32'}}
  %y = rptq.linear %x, %w : (tensor<?x768xf32>, tensor<3072x768xf16>) -> tensor<?x3072xf32>
  return
}

// -----
// rptq.relu / rptq.add

func.func @relu_integer(%x: tensor<?x4xi32>) {
  // expected-error @+1 {{'rptq.relu' op expects a floating-point tensor, got 'tensor<?x4xi32>'}}
  %y = rptq.relu %x : tensor<?x4xi32>
  return
}

// -----

func.func @relu_type_mismatch(%x: tensor<?x4xf32>) {
  // expected-error @+1 {{'rptq.relu' op failed to verify that all of {input, result} have same type}}
  %y = "rptq.relu"(%x) : (tensor<?x4xf32>) -> tensor<3x4xf32>
  return
}

// -----

func.func @add_type_mismatch(%a: tensor<?x4xf32>, %b: tensor<?x8xf32>) {
  // expected-error @+1 {{'rptq.add' op failed to verify that all of {lhs, rhs, result} have same type}}
  %y = "rptq.add"(%a, %b) : (tensor<?x4xf32>, tensor<?x8xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @add_custom_form_mismatch(%a: tensor<?x4xf32>, %b: tensor<?x8xf32>) {
  // expected-note @-1 {{prior use here}}
  // expected-error @+1 {{use of value '%b' expects different type than prior uses: 'tensor<?x4xf32>' vs 'tensor<?x8xf32>'}}
  %y = rptq.add %a, %b : tensor<?x4xf32>
  return
}

// -----

func.func @add_integer(%a: tensor<?x4xi32>) {
  // expected-error @+1 {{'rptq.add' op expects floating-point tensors, got 'tensor<?x4xi32>'}}
  %y = rptq.add %a, %a : tensor<?x4xi32>
  return
}

// -----
// rptq.attention

func.func @attention_heads_divide(%q: tensor<?x768xf32>) {
  // expected-error @+1 {{'rptq.attention' op feature dimension 768 is not divisible by num_heads 10}}
  %o = rptq.attention %q, %q, %q num_heads = 10 scale = 0.125 : (tensor<?x768xf32>, tensor<?x768xf32>, tensor<?x768xf32>) -> tensor<?x768xf32>
  return
}

// -----

func.func @attention_heads_positive(%q: tensor<?x768xf32>) {
  // expected-error @+1 {{'rptq.attention' op num_heads must be positive, got 0}}
  %o = rptq.attention %q, %q, %q num_heads = 0 scale = 0.125 : (tensor<?x768xf32>, tensor<?x768xf32>, tensor<?x768xf32>) -> tensor<?x768xf32>
  return
}

// -----

func.func @attention_feature_mismatch(%q: tensor<?x768xf32>, %k: tensor<?x512xf32>) {
  // expected-error @+1 {{'rptq.attention' op query, key and value must have the same feature dimension, got 768, 512, 768}}
  %o = rptq.attention %q, %k, %q num_heads = 12 scale = 0.125 : (tensor<?x768xf32>, tensor<?x512xf32>, tensor<?x768xf32>) -> tensor<?x768xf32>
  return
}

// -----

func.func @attention_kv_length(%q: tensor<1x768xf32>, %k: tensor<9x768xf32>, %v: tensor<8x768xf32>) {
  // expected-error @+1 {{'rptq.attention' op key and value sequence dimensions differ: 9 vs 8}}
  %o = rptq.attention %q, %k, %v num_heads = 12 scale = 0.125 : (tensor<1x768xf32>, tensor<9x768xf32>, tensor<8x768xf32>) -> tensor<1x768xf32>
  return
}

// -----

func.func @attention_result_type(%q: tensor<?x768xf32>) {
  // expected-error @+1 {{'rptq.attention' op result type 'tensor<?x64xf32>' does not match query type 'tensor<?x768xf32>'}}
  %o = rptq.attention %q, %q, %q num_heads = 12 scale = 0.125 : (tensor<?x768xf32>, tensor<?x768xf32>, tensor<?x768xf32>) -> tensor<?x64xf32>
  return
}

// -----

func.func @attention_element_type(%q: tensor<?x768xf32>, %v: tensor<?x768xf16>) {
  // expected-error @+1 {{'rptq.attention' op value element type 'f16' does not match query element type 'f32'}}
  %o = rptq.attention %q, %q, %v num_heads = 12 scale = 0.125 : (tensor<?x768xf32>, tensor<?x768xf32>, tensor<?x768xf16>) -> tensor<?x768xf32>
  return
}

// -----
// rptq.lm_head

func.func @lm_head_hidden(%x: tensor<?x768xf32>) {
  %w = rptq.weight "w" : tensor<50272x512xf32>
  // expected-error @+1 {{'rptq.lm_head' op weight hidden size 512 does not match input features 768}}
  %l = rptq.lm_head %x, %w : (tensor<?x768xf32>, tensor<50272x512xf32>) -> tensor<?x50272xf32>
  return
}

// -----

func.func @lm_head_vocab(%x: tensor<?x768xf32>) {
  %w = rptq.weight "w" : tensor<50272x768xf32>
  // expected-error @+1 {{'rptq.lm_head' op result vocabulary size 50000 does not match weight vocabulary size 50272}}
  %l = rptq.lm_head %x, %w : (tensor<?x768xf32>, tensor<50272x768xf32>) -> tensor<?x50000xf32>
  return
}
