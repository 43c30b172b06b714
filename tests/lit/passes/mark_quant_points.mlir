// --rptq-mark-quant-points on hand-written layers: which values get which
// point, which uses are redirected (only the projections'), the layer taken
// from the weight names, idempotence, and the errors.
// RUN: rptq-opt %s --split-input-file --rptq-mark-quant-points | FileCheck %s
// RUN: rptq-opt %s --split-input-file --rptq-mark-quant-points -o %t.once
// RUN: rptq-opt %t.once --split-input-file --rptq-mark-quant-points -o %t.twice
// RUN: diff %t.once %t.twice

// A pre-LN decoder layer (layer 3): hidden 4, 2 heads, ffn 6.
// CHECK-LABEL: func.func @pre_ln
// CHECK-SAME: (%[[H0:.*]]: tensor<?x4xf32>)
func.func @pre_ln(%h0: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // CHECK: %[[X1:.*]] = rptq.layer_norm %[[H0]]
  // CHECK-NEXT: %[[P1:.*]] = rptq.quant_point %[[X1]] {layer = 3 : i64, point = "attn_norm_out"} : tensor<?x4xf32>
  %x1 = rptq.layer_norm %h0 eps = 1.0e-5 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %qw = rptq.weight "decoder.layers.3.self_attn.q_proj.weight" : tensor<4x4xf32>
  %kw = rptq.weight "decoder.layers.3.self_attn.k_proj.weight" : tensor<4x4xf32>
  %vw = rptq.weight "decoder.layers.3.self_attn.v_proj.weight" : tensor<4x4xf32>
  %ow = rptq.weight "decoder.layers.3.self_attn.out_proj.weight" : tensor<4x4xf32>
  // CHECK: %[[Q:.*]] = rptq.linear %[[P1]]
  // CHECK-NEXT: %[[QP:.*]] = rptq.quant_point %[[Q]] {layer = 3 : i64, point = "query"}
  // CHECK-NEXT: %[[K:.*]] = rptq.linear %[[P1]]
  // CHECK-NEXT: %[[KP:.*]] = rptq.quant_point %[[K]] {kv_cache, layer = 3 : i64, point = "key"}
  // CHECK-NEXT: %[[V:.*]] = rptq.linear %[[P1]]
  // CHECK-NEXT: %[[VP:.*]] = rptq.quant_point %[[V]] {kv_cache, layer = 3 : i64, point = "value"}
  %q = rptq.linear %x1, %qw : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %k = rptq.linear %x1, %kw : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %v = rptq.linear %x1, %vw : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // CHECK-NEXT: %[[A:.*]] = rptq.attention %[[QP]], %[[KP]], %[[VP]]
  // CHECK-NEXT: %[[AP:.*]] = rptq.quant_point %[[A]] {layer = 3 : i64, point = "attn_out"}
  // CHECK-NEXT: %[[O:.*]] = rptq.linear %[[AP]]
  %a = rptq.attention %q, %k, %v num_heads = 2 scale = 0.7 causal : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %o = rptq.linear %a, %ow : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // CHECK-NEXT: %[[H1:.*]] = rptq.add %[[H0]], %[[O]]
  %h1 = rptq.add %h0, %o : tensor<?x4xf32>
  // CHECK-NEXT: %[[X2:.*]] = rptq.layer_norm %[[H1]]
  // CHECK-NEXT: %[[P2:.*]] = rptq.quant_point %[[X2]] {layer = 3 : i64, point = "ffn_norm_out"}
  %x2 = rptq.layer_norm %h1 eps = 1.0e-5 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %f1w = rptq.weight "decoder.layers.3.fc1.weight" : tensor<6x4xf32>
  %f2w = rptq.weight "decoder.layers.3.fc2.weight" : tensor<4x6xf32>
  // CHECK: %[[F1:.*]] = rptq.linear %[[P2]]
  // CHECK-NEXT: %[[R:.*]] = rptq.relu %[[F1]]
  // CHECK-NEXT: %[[RP:.*]] = rptq.quant_point %[[R]] {layer = 3 : i64, point = "fc1_out"} : tensor<?x6xf32>
  // CHECK-NEXT: %[[F2:.*]] = rptq.linear %[[RP]]
  // CHECK-NEXT: rptq.add %[[H1]], %[[F2]]
  %f1 = rptq.linear %x2, %f1w : (tensor<?x4xf32>, tensor<6x4xf32>) -> tensor<?x6xf32>
  %r = rptq.relu %f1 : tensor<?x6xf32>
  %f2 = rptq.linear %r, %f2w : (tensor<?x6xf32>, tensor<4x6xf32>) -> tensor<?x4xf32>
  %h2 = rptq.add %h1, %f2 : tensor<?x4xf32>
  // CHECK-NOT: rptq.quant_point
  return %h2 : tensor<?x4xf32>
}

// -----

// Post-LN (opt-350m): the projections read the residual stream itself, so
// only their uses go through the points; the residual adds keep the raw
// values. The layer's attention input is a block argument here.
// CHECK-LABEL: func.func @post_ln
// CHECK-SAME: (%[[H0:.*]]: tensor<?x4xf32>)
// CHECK-NEXT: %[[P1:.*]] = rptq.quant_point %[[H0]] {layer = 0 : i64, point = "attn_norm_out"}
func.func @post_ln(%h0: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %qw = rptq.weight "model.decoder.layers.0.self_attn.q_proj.weight" : tensor<4x4xf32>
  %ow = rptq.weight "model.decoder.layers.0.self_attn.out_proj.weight" : tensor<4x4xf32>
  // CHECK: %[[Q:.*]] = rptq.linear %[[P1]]
  // CHECK-NEXT: %[[QP:.*]] = rptq.quant_point %[[Q]] {layer = 0 : i64, point = "query"}
  // CHECK-NEXT: %[[KP:.*]] = rptq.quant_point %[[Q]] {kv_cache, layer = 0 : i64, point = "key"}
  // CHECK-NEXT: %[[VP:.*]] = rptq.quant_point %[[Q]] {kv_cache, layer = 0 : i64, point = "value"}
  // CHECK-NEXT: rptq.attention %[[QP]], %[[KP]], %[[VP]]
  // One projection serving q, k and v still gets three points.
  %q = rptq.linear %h0, %qw : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %a = rptq.attention %q, %q, %q num_heads = 2 scale = 0.7 : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %o = rptq.linear %a, %ow : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // CHECK: %[[H1:.*]] = rptq.add %[[H0]]
  // CHECK-NEXT: %[[LN:.*]] = rptq.layer_norm %[[H1]]
  // CHECK-NEXT: %[[P2:.*]] = rptq.quant_point %[[LN]] {layer = 0 : i64, point = "ffn_norm_out"}
  %h1 = rptq.add %h0, %o : tensor<?x4xf32>
  %ln = rptq.layer_norm %h1 eps = 1.0e-5 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %f1w = rptq.weight "model.decoder.layers.0.fc1.weight" : tensor<6x4xf32>
  %f2w = rptq.weight "model.decoder.layers.0.fc2.weight" : tensor<4x6xf32>
  // CHECK: rptq.linear %[[P2]]
  // CHECK: rptq.add %[[LN]], %{{.*}}
  %f1 = rptq.linear %ln, %f1w : (tensor<?x4xf32>, tensor<6x4xf32>) -> tensor<?x6xf32>
  %r = rptq.relu %f1 : tensor<?x6xf32>
  %f2 = rptq.linear %r, %f2w : (tensor<?x6xf32>, tensor<4x6xf32>) -> tensor<?x4xf32>
  %h2 = rptq.add %ln, %f2 : tensor<?x4xf32>
  return %h2 : tensor<?x4xf32>
}

// -----

// A relu that feeds no linear is not the FFN activation.
// CHECK-LABEL: func.func @lone_relu
// CHECK-NOT: rptq.quant_point
func.func @lone_relu(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %r = rptq.relu %x : tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}
