// A whole pre-LN decoder layer (hidden 6, 2 heads of 3, ffn 4) whose quant
// points carry the clustering orders, materialized and folded: no reorder is
// left, the orders end up in layer norm write indices and weight rows and
// columns, out_proj/fc2 rows and the residual adds keep the model order, and
// the points keep their other attributes. The same answer read back through
// rptq::extractFoldedLayout.
// RUN: rptq-opt %s --rptq-fold-channel-reorders | FileCheck %s --implicit-check-not=rptq.reorder --implicit-check-not="perm = array"
// RUN: rptq-opt %s --rptq-materialize-reorders --rptq-fold-reorders | FileCheck %s --implicit-check-not=rptq.reorder --implicit-check-not="perm = array"
// RUN: rptq-opt %s --rptq-fold-channel-reorders --rptq-test-print-folded-layout -o /dev/null | FileCheck %s --check-prefix=LAYOUT
//
// Orders (position j holds channel P[j]) and their inverses:
//   P1 attn_norm_out      = [3, 0, 5, 1, 4, 2]   P1⁻¹ = [1, 3, 5, 0, 4, 2]
//   P2 query = key        = [2, 0, 1, 4, 5, 3]   (within heads)
//   P3 value = attn_out   = [1, 2, 0, 5, 3, 4]   (within heads)
//   P4 ffn_norm_out       = [5, 4, 0, 1, 2, 3]   P4⁻¹ = [2, 3, 4, 5, 1, 0]
//   P5 fc1_out            = [2, 3, 1, 0]
// Expected: a layer norm feeding P gets write_index P⁻¹ and gamma/beta
// row_perm P; a projection reading P gets col_perm P; one producing P gets
// row_perm P (bias too); the q/k and v/attn_out reorders cancel through
// attention.

// CHECK-LABEL: func.func @layer
// CHECK-SAME: (%[[H0:.*]]: tensor<?x6xf32>)
// CHECK-DAG: %[[G1:.*]] = rptq.weight "decoder.layers.0.self_attn_layer_norm.weight" row_perm = [3, 0, 5, 1, 4, 2] : tensor<6xf32>
// CHECK-DAG: %[[B1:.*]] = rptq.weight "decoder.layers.0.self_attn_layer_norm.bias" row_perm = [3, 0, 5, 1, 4, 2] : tensor<6xf32>
// CHECK-DAG: %[[X1:.*]] = rptq.layer_norm %[[H0]] gamma(%[[G1]]) beta(%[[B1]]) eps = {{.*}} write_index = [1, 3, 5, 0, 4, 2]
// CHECK-DAG: %[[P1:.*]] = rptq.quant_point %[[X1]] {bits = 4 : i64, cluster_sizes = array<i64: 2, 4>, layer = 0 : i64, point = "attn_norm_out"}
// CHECK-DAG: %[[QW:.*]] = rptq.weight "decoder.layers.0.self_attn.q_proj.weight" row_perm = [2, 0, 1, 4, 5, 3] col_perm = [3, 0, 5, 1, 4, 2] : tensor<6x6xf32>
// CHECK-DAG: %[[QB:.*]] = rptq.weight "decoder.layers.0.self_attn.q_proj.bias" row_perm = [2, 0, 1, 4, 5, 3] : tensor<6xf32>
// CHECK-DAG: %[[KW:.*]] = rptq.weight "decoder.layers.0.self_attn.k_proj.weight" row_perm = [2, 0, 1, 4, 5, 3] col_perm = [3, 0, 5, 1, 4, 2] : tensor<6x6xf32>
// CHECK-DAG: %[[KB:.*]] = rptq.weight "decoder.layers.0.self_attn.k_proj.bias" row_perm = [2, 0, 1, 4, 5, 3] : tensor<6xf32>
// CHECK-DAG: %[[VW:.*]] = rptq.weight "decoder.layers.0.self_attn.v_proj.weight" row_perm = [1, 2, 0, 5, 3, 4] col_perm = [3, 0, 5, 1, 4, 2] : tensor<6x6xf32>
// CHECK-DAG: %[[VB:.*]] = rptq.weight "decoder.layers.0.self_attn.v_proj.bias" row_perm = [1, 2, 0, 5, 3, 4] : tensor<6xf32>
// CHECK-DAG: %[[Q:.*]] = rptq.linear %[[P1]], %[[QW]], %[[QB]]
// CHECK-DAG: %[[K:.*]] = rptq.linear %[[P1]], %[[KW]], %[[KB]]
// CHECK-DAG: %[[V:.*]] = rptq.linear %[[P1]], %[[VW]], %[[VB]]
// CHECK-DAG: %[[QP:.*]] = rptq.quant_point %[[Q]] {layer = 0 : i64, point = "query"}
// CHECK-DAG: %[[KP:.*]] = rptq.quant_point %[[K]] {kv_cache, layer = 0 : i64, point = "key"}
// CHECK-DAG: %[[VP:.*]] = rptq.quant_point %[[V]] {kv_cache, layer = 0 : i64, point = "value"}
// CHECK-DAG: %[[A:.*]] = rptq.attention %[[QP]], %[[KP]], %[[VP]]
// CHECK-DAG: %[[AP:.*]] = rptq.quant_point %[[A]] {layer = 0 : i64, point = "attn_out"}
// CHECK-DAG: %[[OW:.*]] = rptq.weight "decoder.layers.0.self_attn.out_proj.weight" col_perm = [1, 2, 0, 5, 3, 4] : tensor<6x6xf32>
// CHECK-DAG: %[[OB:.*]] = rptq.weight "decoder.layers.0.self_attn.out_proj.bias" : tensor<6xf32>
// CHECK-DAG: %[[O:.*]] = rptq.linear %[[AP]], %[[OW]], %[[OB]]
// CHECK-DAG: %[[H1:.*]] = rptq.add %[[H0]], %[[O]]
// CHECK-DAG: %[[G2:.*]] = rptq.weight "decoder.layers.0.final_layer_norm.weight" row_perm = [5, 4, 0, 1, 2, 3] : tensor<6xf32>
// CHECK-DAG: %[[X2:.*]] = rptq.layer_norm %[[H1]] gamma(%[[G2]]) beta(%{{.*}}) eps = {{.*}} write_index = [2, 3, 4, 5, 1, 0]
// CHECK-DAG: %[[P2:.*]] = rptq.quant_point %[[X2]] {layer = 0 : i64, point = "ffn_norm_out"}
// CHECK-DAG: %[[F1W:.*]] = rptq.weight "decoder.layers.0.fc1.weight" row_perm = [2, 3, 1, 0] col_perm = [5, 4, 0, 1, 2, 3] : tensor<4x6xf32>
// CHECK-DAG: %[[F1B:.*]] = rptq.weight "decoder.layers.0.fc1.bias" row_perm = [2, 3, 1, 0] : tensor<4xf32>
// CHECK-DAG: %[[F1:.*]] = rptq.linear %[[P2]], %[[F1W]], %[[F1B]]
// CHECK-DAG: %[[R:.*]] = rptq.relu %[[F1]]
// CHECK-DAG: %[[RP:.*]] = rptq.quant_point %[[R]] {layer = 0 : i64, point = "fc1_out"}
// CHECK-DAG: %[[F2W:.*]] = rptq.weight "decoder.layers.0.fc2.weight" col_perm = [2, 3, 1, 0] : tensor<6x4xf32>
// CHECK-DAG: %[[F2B:.*]] = rptq.weight "decoder.layers.0.fc2.bias" : tensor<6xf32>
// CHECK-DAG: %[[F2:.*]] = rptq.linear %[[RP]], %[[F2W]], %[[F2B]]
// CHECK-DAG: %[[H2:.*]] = rptq.add %[[H1]], %[[F2]]
// CHECK: return %[[H2]]

// LAYOUT:      folded layout:
// LAYOUT-NEXT:   weight "decoder.layers.0.fc1.bias" row_perm = [2, 3, 1, 0] col_perm = []
// LAYOUT-NEXT:   weight "decoder.layers.0.fc1.weight" row_perm = [2, 3, 1, 0] col_perm = [5, 4, 0, 1, 2, 3]
// LAYOUT-NEXT:   weight "decoder.layers.0.fc2.weight" row_perm = [] col_perm = [2, 3, 1, 0]
// LAYOUT-NEXT:   weight "decoder.layers.0.final_layer_norm.bias" row_perm = [5, 4, 0, 1, 2, 3] col_perm = []
// LAYOUT-NEXT:   weight "decoder.layers.0.final_layer_norm.weight" row_perm = [5, 4, 0, 1, 2, 3] col_perm = []
// LAYOUT-NEXT:   weight "decoder.layers.0.self_attn.k_proj.bias" row_perm = [2, 0, 1, 4, 5, 3] col_perm = []
// LAYOUT-NEXT:   weight "decoder.layers.0.self_attn.k_proj.weight" row_perm = [2, 0, 1, 4, 5, 3] col_perm = [3, 0, 5, 1, 4, 2]
// LAYOUT-NEXT:   weight "decoder.layers.0.self_attn.out_proj.weight" row_perm = [] col_perm = [1, 2, 0, 5, 3, 4]
// LAYOUT-NEXT:   weight "decoder.layers.0.self_attn.q_proj.bias" row_perm = [2, 0, 1, 4, 5, 3] col_perm = []
// LAYOUT-NEXT:   weight "decoder.layers.0.self_attn.q_proj.weight" row_perm = [2, 0, 1, 4, 5, 3] col_perm = [3, 0, 5, 1, 4, 2]
// LAYOUT-NEXT:   weight "decoder.layers.0.self_attn.v_proj.bias" row_perm = [1, 2, 0, 5, 3, 4] col_perm = []
// LAYOUT-NEXT:   weight "decoder.layers.0.self_attn.v_proj.weight" row_perm = [1, 2, 0, 5, 3, 4] col_perm = [3, 0, 5, 1, 4, 2]
// LAYOUT-NEXT:   weight "decoder.layers.0.self_attn_layer_norm.bias" row_perm = [3, 0, 5, 1, 4, 2] col_perm = []
// LAYOUT-NEXT:   weight "decoder.layers.0.self_attn_layer_norm.weight" row_perm = [3, 0, 5, 1, 4, 2] col_perm = []
// LAYOUT-NEXT:   write_index (0, attn_norm_out) = [1, 3, 5, 0, 4, 2]
// LAYOUT-NEXT:   write_index (0, ffn_norm_out) = [2, 3, 4, 5, 1, 0]
// LAYOUT-NEXT: end folded layout

func.func @layer(%h0: tensor<?x6xf32>) -> tensor<?x6xf32> {
  %g1 = rptq.weight "decoder.layers.0.self_attn_layer_norm.weight" : tensor<6xf32>
  %b1 = rptq.weight "decoder.layers.0.self_attn_layer_norm.bias" : tensor<6xf32>
  %x1 = rptq.layer_norm %h0 gamma(%g1) beta(%b1) eps = 1.0e-5 : (tensor<?x6xf32>, tensor<6xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  %p1 = rptq.quant_point %x1 {layer = 0 : i64, point = "attn_norm_out", perm = array<i64: 3, 0, 5, 1, 4, 2>, cluster_sizes = array<i64: 2, 4>, bits = 4 : i64} : tensor<?x6xf32>
  %qw = rptq.weight "decoder.layers.0.self_attn.q_proj.weight" : tensor<6x6xf32>
  %qb = rptq.weight "decoder.layers.0.self_attn.q_proj.bias" : tensor<6xf32>
  %kw = rptq.weight "decoder.layers.0.self_attn.k_proj.weight" : tensor<6x6xf32>
  %kb = rptq.weight "decoder.layers.0.self_attn.k_proj.bias" : tensor<6xf32>
  %vw = rptq.weight "decoder.layers.0.self_attn.v_proj.weight" : tensor<6x6xf32>
  %vb = rptq.weight "decoder.layers.0.self_attn.v_proj.bias" : tensor<6xf32>
  %ow = rptq.weight "decoder.layers.0.self_attn.out_proj.weight" : tensor<6x6xf32>
  %ob = rptq.weight "decoder.layers.0.self_attn.out_proj.bias" : tensor<6xf32>
  %q = rptq.linear %p1, %qw, %qb : (tensor<?x6xf32>, tensor<6x6xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  %qp = rptq.quant_point %q {layer = 0 : i64, point = "query", perm = array<i64: 2, 0, 1, 4, 5, 3>} : tensor<?x6xf32>
  %k = rptq.linear %p1, %kw, %kb : (tensor<?x6xf32>, tensor<6x6xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  %kp = rptq.quant_point %k {layer = 0 : i64, point = "key", kv_cache, perm = array<i64: 2, 0, 1, 4, 5, 3>} : tensor<?x6xf32>
  %v = rptq.linear %p1, %vw, %vb : (tensor<?x6xf32>, tensor<6x6xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  %vp = rptq.quant_point %v {layer = 0 : i64, point = "value", kv_cache, perm = array<i64: 1, 2, 0, 5, 3, 4>} : tensor<?x6xf32>
  %a = rptq.attention %qp, %kp, %vp num_heads = 2 scale = 0.57735 causal : (tensor<?x6xf32>, tensor<?x6xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  %ap = rptq.quant_point %a {layer = 0 : i64, point = "attn_out", perm = array<i64: 1, 2, 0, 5, 3, 4>} : tensor<?x6xf32>
  %o = rptq.linear %ap, %ow, %ob : (tensor<?x6xf32>, tensor<6x6xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  %h1 = rptq.add %h0, %o : tensor<?x6xf32>
  %g2 = rptq.weight "decoder.layers.0.final_layer_norm.weight" : tensor<6xf32>
  %b2 = rptq.weight "decoder.layers.0.final_layer_norm.bias" : tensor<6xf32>
  %x2 = rptq.layer_norm %h1 gamma(%g2) beta(%b2) eps = 1.0e-5 : (tensor<?x6xf32>, tensor<6xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  %p2 = rptq.quant_point %x2 {layer = 0 : i64, point = "ffn_norm_out", perm = array<i64: 5, 4, 0, 1, 2, 3>} : tensor<?x6xf32>
  %f1w = rptq.weight "decoder.layers.0.fc1.weight" : tensor<4x6xf32>
  %f1b = rptq.weight "decoder.layers.0.fc1.bias" : tensor<4xf32>
  %f2w = rptq.weight "decoder.layers.0.fc2.weight" : tensor<6x4xf32>
  %f2b = rptq.weight "decoder.layers.0.fc2.bias" : tensor<6xf32>
  %f1 = rptq.linear %p2, %f1w, %f1b : (tensor<?x6xf32>, tensor<4x6xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r = rptq.relu %f1 : tensor<?x4xf32>
  %rp = rptq.quant_point %r {layer = 0 : i64, point = "fc1_out", perm = array<i64: 2, 3, 1, 0>} : tensor<?x4xf32>
  %f2 = rptq.linear %rp, %f2w, %f2b : (tensor<?x4xf32>, tensor<6x4xf32>, tensor<6xf32>) -> tensor<?x6xf32>
  %h2 = rptq.add %h1, %f2 : tensor<?x6xf32>
  return %h2 : tensor<?x6xf32>
}
