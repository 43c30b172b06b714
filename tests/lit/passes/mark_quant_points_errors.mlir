// --rptq-mark-quant-points rejects graphs it cannot read.
// RUN: rptq-opt %s --split-input-file --rptq-mark-quant-points -verify-diagnostics

func.func @no_layer_in_name(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = rptq.weight "q_proj.weight" : tensor<4x4xf32>
  // expected-note @+1 {{that linear}}
  %q = rptq.linear %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // expected-error @+1 {{cannot tell the decoder layer of quant point 'attn_norm_out': the weight of the adjacent rptq.linear is not an rptq.weight named 'decoder.layers.N.*'}}
  %a = rptq.attention %q, %q, %q num_heads = 2 scale = 0.7 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

func.func @weight_not_a_weight_op(%x: tensor<?x4xf32>, %w: tensor<4x4xf32>) -> tensor<?x4xf32> {
  %w1 = rptq.weight "decoder.layers.0.fc1.weight" : tensor<4x4xf32>
  %f1 = rptq.linear %x, %w1 : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // expected-error @+1 {{cannot tell the decoder layer of quant point 'fc1_out'}}
  %r = rptq.relu %f1 : tensor<?x4xf32>
  // expected-note @+1 {{that linear}}
  %f2 = rptq.linear %r, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  return %f2 : tensor<?x4xf32>
}

// -----

func.func @query_not_projected(%q: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // expected-error @+1 {{the query of rptq.attention is not produced by an rptq.linear projection}}
  %a = rptq.attention %q, %q, %q num_heads = 2 scale = 0.7 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

func.func @qkv_inputs_differ(%x: tensor<?x4xf32>, %y: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = rptq.weight "decoder.layers.0.self_attn.q_proj.weight" : tensor<4x4xf32>
  %q = rptq.linear %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %k = rptq.linear %y, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // expected-error @+1 {{the q/k/v projections of rptq.attention do not share an input}}
  %a = rptq.attention %q, %k, %k num_heads = 2 scale = 0.7 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

func.func @attention_without_out_proj(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = rptq.weight "decoder.layers.0.self_attn.q_proj.weight" : tensor<4x4xf32>
  %q = rptq.linear %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // expected-error @+1 {{the result of rptq.attention feeds no rptq.linear (out_proj)}}
  %a = rptq.attention %q, %q, %q num_heads = 2 scale = 0.7 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  return %a : tensor<?x4xf32>
}

// -----

func.func @relu_not_after_linear(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %w = rptq.weight "decoder.layers.0.fc2.weight" : tensor<4x4xf32>
  // expected-error @+1 {{the input of an rptq.relu that feeds an rptq.linear (fc2) is not produced by an rptq.linear (fc1)}}
  %r = rptq.relu %x : tensor<?x4xf32>
  %f2 = rptq.linear %r, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  return %f2 : tensor<?x4xf32>
}
