// --rptq-fold-reorders, one rewrite at a time, with the expected permutations
// worked out by hand. Convention: reorder by P means y[j] = x[P[j]]; weight
// row_perm R / col_perm C mean result[i][j] = stored[R[i]][C[j]].
// RUN: rptq-opt %s --split-input-file --rptq-fold-reorders | FileCheck %s

// Rows: out[:, P[j]] = x·W[P[j], :] + b[P[j]], so W and b get row_perm P.
// CHECK-LABEL: func.func @linear_rows
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-DAG: %[[W:.*]] = rptq.weight "w" row_perm = [2, 0, 1] : tensor<3x4xf32>
// CHECK-DAG: %[[B:.*]] = rptq.weight "b" row_perm = [2, 0, 1] : tensor<3xf32>
// CHECK: %[[Y:.*]] = rptq.linear %[[X]], %[[W]], %[[B]]
// CHECK-NEXT: return %[[Y]]
func.func @linear_rows(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %w = rptq.weight "w" : tensor<3x4xf32>
  %b = rptq.weight "b" : tensor<3xf32>
  %y = rptq.linear %x, %w, %b : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %r = rptq.reorder %y dim = 1 perm = [2, 0, 1] : (tensor<?x3xf32>) -> tensor<?x3xf32>
  return %r : tensor<?x3xf32>
}

// -----

// Composition with a weight that is already permuted: R = [1, 0, 2] then
// P = [2, 0, 1] gives R'[i] = R[P[i]] = [R[2], R[0], R[1]] = [2, 1, 0]; the
// col_perm stays. Two stacked reorders compose first:
// A = [1, 2, 0], B = [0, 2, 1] -> A[B[j]] = [1, 0, 2] on the bias.
// CHECK-LABEL: func.func @weight_composition
// CHECK-DAG: %[[W:.*]] = rptq.weight "w" row_perm = [2, 1, 0] col_perm = [3, 2, 1, 0] : tensor<3x4xf32>
// CHECK-DAG: %[[B:.*]] = rptq.weight "b" row_perm = [1, 0, 2] : tensor<3xf32>
// CHECK: return %[[W]], %[[B]]
func.func @weight_composition() -> (tensor<3x4xf32>, tensor<3xf32>) {
  %w = rptq.weight "w" row_perm = [1, 0, 2] col_perm = [3, 2, 1, 0] : tensor<3x4xf32>
  %r = rptq.reorder %w dim = 0 perm = [2, 0, 1] : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %b = rptq.weight "b" : tensor<3xf32>
  %b1 = rptq.reorder %b dim = 0 perm = [1, 2, 0] : (tensor<3xf32>) -> tensor<3xf32>
  %b2 = rptq.reorder %b1 dim = 0 perm = [0, 2, 1] : (tensor<3xf32>) -> tensor<3xf32>
  return %r, %b2 : tensor<3x4xf32>, tensor<3xf32>
}

// -----

// A permutation that undoes the stored one leaves a plain weight; columns
// compose the same way: C = [1, 2, 3, 0], P = [3, 0, 1, 2] -> C[P[j]] = id.
// CHECK-LABEL: func.func @weight_back_to_identity
// CHECK: %[[W:.*]] = rptq.weight "w" : tensor<3x4xf32>
// CHECK-NEXT: return %[[W]]
func.func @weight_back_to_identity() -> tensor<3x4xf32> {
  %w = rptq.weight "w" col_perm = [1, 2, 3, 0] : tensor<3x4xf32>
  %r = rptq.reorder %w dim = 1 perm = [3, 0, 1, 2] : (tensor<3x4xf32>) -> tensor<3x4xf32>
  return %r : tensor<3x4xf32>
}

// -----

// Relu commutes with the reorder, which then reaches fc1's rows.
// CHECK-LABEL: func.func @relu
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK: %[[W:.*]] = rptq.weight "fc1" row_perm = [4, 2, 0, 5, 1, 3] : tensor<6x4xf32>
// CHECK-NEXT: %[[Y:.*]] = rptq.linear %[[X]], %[[W]]
// CHECK-NEXT: %[[R:.*]] = rptq.relu %[[Y]]
// CHECK-NEXT: return %[[R]]
func.func @relu(%x: tensor<?x4xf32>) -> tensor<?x6xf32> {
  %w = rptq.weight "fc1" : tensor<6x4xf32>
  %y = rptq.linear %x, %w : (tensor<?x4xf32>, tensor<6x4xf32>) -> tensor<?x6xf32>
  %r = rptq.relu %y : tensor<?x6xf32>
  %p = rptq.reorder %r dim = 1 perm = [4, 2, 0, 5, 1, 3] : (tensor<?x6xf32>) -> tensor<?x6xf32>
  return %p : tensor<?x6xf32>
}

// -----

// Layer norm without gamma/beta: column j must hold normalized channel P[j],
// so channel c goes to column P⁻¹[c]: P = [2, 0, 3, 1] -> write_index =
// P⁻¹ = [1, 3, 0, 2].
// CHECK-LABEL: func.func @layer_norm_plain
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-NEXT: %[[Y:.*]] = rptq.layer_norm %[[X]] eps = {{.*}} write_index = [1, 3, 0, 2]
// CHECK-NEXT: return %[[Y]]
func.func @layer_norm_plain(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %y = rptq.layer_norm %x eps = 1.0e-5 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %r = rptq.reorder %y dim = 1 perm = [2, 0, 3, 1] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

// With gamma/beta (output order): gamma'[j] = gamma[P[j]], i.e. row_perm P.
// CHECK-LABEL: func.func @layer_norm_affine
// CHECK-DAG: %[[G:.*]] = rptq.weight "g" row_perm = [2, 0, 3, 1] : tensor<4xf32>
// CHECK-DAG: %[[B:.*]] = rptq.weight "b" row_perm = [2, 0, 3, 1] : tensor<4xf32>
// CHECK: rptq.layer_norm %{{.*}} gamma(%[[G]]) beta(%[[B]]) eps = {{.*}} write_index = [1, 3, 0, 2]
func.func @layer_norm_affine(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %g = rptq.weight "g" : tensor<4xf32>
  %b = rptq.weight "b" : tensor<4xf32>
  %y = rptq.layer_norm %x gamma(%g) beta(%b) eps = 1.0e-5 : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r = rptq.reorder %y dim = 1 perm = [2, 0, 3, 1] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

// An existing write_index w = [1, 2, 3, 0] (gamma already in its output
// order, row_perm [3, 0, 1, 2] = w⁻¹) reordered by P = [2, 0, 3, 1]
// (P⁻¹ = [1, 3, 0, 2]): w'[c] = P⁻¹[w[c]] = [P⁻¹[1], P⁻¹[2], P⁻¹[3], P⁻¹[0]]
// = [3, 0, 2, 1]; gamma row_perm G[P[j]] = [G[2], G[0], G[3], G[1]]
// = [1, 3, 2, 0] (= w'⁻¹ again).
// CHECK-LABEL: func.func @layer_norm_twice
// CHECK-DAG: %[[G:.*]] = rptq.weight "g" row_perm = [1, 3, 2, 0] : tensor<4xf32>
// CHECK: rptq.layer_norm %{{.*}} gamma(%[[G]]) beta(%{{.*}}) eps = {{.*}} write_index = [3, 0, 2, 1]
func.func @layer_norm_twice(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %g = rptq.weight "g" row_perm = [3, 0, 1, 2] : tensor<4xf32>
  %b = rptq.weight "b" row_perm = [3, 0, 1, 2] : tensor<4xf32>
  %y = rptq.layer_norm %x gamma(%g) beta(%b) eps = 1.0e-5 write_index = [1, 2, 3, 0] : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r = rptq.reorder %y dim = 1 perm = [2, 0, 3, 1] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

// Reordering by w itself undoes a write_index: no attribute left.
// CHECK-LABEL: func.func @layer_norm_back_to_identity
// CHECK: rptq.layer_norm %{{.*}} eps = {{[^ ]*}} :
func.func @layer_norm_back_to_identity(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %y = rptq.layer_norm %x eps = 1.0e-5 write_index = [1, 2, 3, 0] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %r = rptq.reorder %y dim = 1 perm = [1, 2, 3, 0] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %r : tensor<?x4xf32>
}

// -----

// A layer norm with another user (post-LN: the residual stream) is cloned;
// the original and its gamma keep the model order.
// CHECK-LABEL: func.func @layer_norm_shared
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-DAG: %[[G:.*]] = rptq.weight "g" : tensor<4xf32>
// CHECK-DAG: %[[GP:.*]] = rptq.weight "g" row_perm = [2, 0, 3, 1] : tensor<4xf32>
// CHECK-DAG: %[[Y:.*]] = rptq.layer_norm %[[X]] gamma(%[[G]]) beta(%{{.*}}) eps = {{[^ ]*}} :
// CHECK-DAG: %[[YP:.*]] = rptq.layer_norm %[[X]] gamma(%[[GP]]) beta(%{{.*}}) eps = {{.*}} write_index = [1, 3, 0, 2]
// CHECK: return %[[Y]], %[[YP]]
func.func @layer_norm_shared(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %g = rptq.weight "g" : tensor<4xf32>
  %b = rptq.weight "b" : tensor<4xf32>
  %y = rptq.layer_norm %x gamma(%g) beta(%b) eps = 1.0e-5 : (tensor<?x4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %r = rptq.reorder %y dim = 1 perm = [2, 0, 3, 1] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %y, %r : tensor<?x4xf32>, tensor<?x4xf32>
}

// -----

// Columns: Σ_j x[P[j]]·W[:, j] = Σ_k x[k]·W[:, P⁻¹[k]], so W gets
// col_perm P⁻¹ = [1, 3, 0, 2] for P = [2, 0, 3, 1]; the bias is untouched.
// CHECK-LABEL: func.func @linear_columns
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-DAG: %[[W:.*]] = rptq.weight "w" col_perm = [1, 3, 0, 2] : tensor<3x4xf32>
// CHECK-DAG: %[[B:.*]] = rptq.weight "b" : tensor<3xf32>
// CHECK: rptq.linear %[[X]], %[[W]], %[[B]]
func.func @linear_columns(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %w = rptq.weight "w" : tensor<3x4xf32>
  %b = rptq.weight "b" : tensor<3xf32>
  %r = rptq.reorder %x dim = 1 perm = [2, 0, 3, 1] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = rptq.linear %r, %w, %b : (tensor<?x4xf32>, tensor<3x4xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  return %y : tensor<?x3xf32>
}

// -----

// A materialized point between a layer norm and a projection: the layer norm
// writes in P order, the projection reads its columns in P order
// (col_perm (P⁻¹)⁻¹ = P), the residual value is untouched.
// CHECK-LABEL: func.func @norm_point_projection
// CHECK-DAG: %[[W:.*]] = rptq.weight "w" col_perm = [2, 0, 3, 1] : tensor<3x4xf32>
// CHECK-DAG: %[[Y:.*]] = rptq.layer_norm %{{.*}} eps = {{.*}} write_index = [1, 3, 0, 2]
// CHECK-DAG: %[[Q:.*]] = rptq.quant_point %[[Y]] {layer = 0 : i64, point = "attn_norm_out"}
// CHECK: rptq.linear %[[Q]], %[[W]]
func.func @norm_point_projection(%x: tensor<?x4xf32>) -> tensor<?x3xf32> {
  %y = rptq.layer_norm %x eps = 1.0e-5 : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %r1 = rptq.reorder %y dim = 1 perm = [2, 0, 3, 1] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %q = rptq.quant_point %r1 {layer = 0 : i64, point = "attn_norm_out"} : tensor<?x4xf32>
  %r2 = rptq.reorder %q dim = 1 perm = [1, 3, 0, 2] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %w = rptq.weight "w" : tensor<3x4xf32>
  %o = rptq.linear %r2, %w : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
  return %o : tensor<?x3xf32>
}

// -----

// Query and key reordered by the same within-head permutation (2 heads of 3:
// A = [1, 2, 0, 5, 3, 4]) cancel in QKᵀ.
// CHECK-LABEL: func.func @attention_query_key
// CHECK-SAME: (%[[Q:.*]]: tensor<?x6xf32>, %[[K:.*]]: tensor<?x6xf32>, %[[V:.*]]: tensor<?x6xf32>)
// CHECK-NEXT: %[[A:.*]] = rptq.attention %[[Q]], %[[K]], %[[V]]
// CHECK-NEXT: return %[[A]]
func.func @attention_query_key(%q: tensor<?x6xf32>, %k: tensor<?x6xf32>, %v: tensor<?x6xf32>) -> tensor<?x6xf32> {
  %rq = rptq.reorder %q dim = 1 perm = [1, 2, 0, 5, 3, 4] : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %rk = rptq.reorder %k dim = 1 perm = [1, 2, 0, 5, 3, 4] : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %a = rptq.attention %rq, %rk, %v num_heads = 2 scale = 0.5 causal : (tensor<?x6xf32>, tensor<?x6xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  return %a : tensor<?x6xf32>
}

// -----

// A within-head value order A = [1, 2, 0, 3, 5, 4] comes out of attention
// unchanged, then reaches out_proj's columns as A⁻¹ = [2, 0, 1, 3, 5, 4].
// CHECK-LABEL: func.func @attention_value
// CHECK-SAME: (%[[Q:.*]]: tensor<?x6xf32>, %[[K:.*]]: tensor<?x6xf32>, %[[V:.*]]: tensor<?x6xf32>)
// CHECK-DAG: %[[W:.*]] = rptq.weight "out_proj" col_perm = [2, 0, 1, 3, 5, 4] : tensor<6x6xf32>
// CHECK-DAG: %[[A:.*]] = rptq.attention %[[Q]], %[[K]], %[[V]]
// CHECK: rptq.linear %[[A]], %[[W]]
func.func @attention_value(%q: tensor<?x6xf32>, %k: tensor<?x6xf32>, %v: tensor<?x6xf32>) -> tensor<?x6xf32> {
  %rv = rptq.reorder %v dim = 1 perm = [1, 2, 0, 3, 5, 4] : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %a = rptq.attention %q, %k, %rv num_heads = 2 scale = 0.5 causal : (tensor<?x6xf32>, tensor<?x6xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  %w = rptq.weight "out_proj" : tensor<6x6xf32>
  %o = rptq.linear %a, %w : (tensor<?x6xf32>, tensor<6x6xf32>) -> tensor<?x6xf32>
  return %o : tensor<?x6xf32>
}

// -----

// The value point materialized next to the attn_out point with the same
// order: the reorder pushed out of attention cancels against attn_out's.
// A = [1, 2, 0, 5, 3, 4], A⁻¹ = [2, 0, 1, 4, 5, 3]: v_proj rows A, out_proj
// columns A.
// CHECK-LABEL: func.func @value_attn_out
// CHECK-DAG: %[[VW:.*]] = rptq.weight "v_proj" row_perm = [1, 2, 0, 5, 3, 4] : tensor<6x6xf32>
// CHECK-DAG: %[[OW:.*]] = rptq.weight "out_proj" col_perm = [1, 2, 0, 5, 3, 4] : tensor<6x6xf32>
// CHECK-DAG: %[[V:.*]] = rptq.linear %{{.*}}, %[[VW]]
// CHECK-DAG: %[[VP:.*]] = rptq.quant_point %[[V]] {kv_cache, layer = 0 : i64, point = "value"}
// CHECK-DAG: %[[A:.*]] = rptq.attention %{{.*}}, %{{.*}}, %[[VP]]
// CHECK-DAG: %[[AP:.*]] = rptq.quant_point %[[A]] {layer = 0 : i64, point = "attn_out"}
// CHECK: rptq.linear %[[AP]], %[[OW]]
func.func @value_attn_out(%x: tensor<?x6xf32>, %q: tensor<?x6xf32>, %k: tensor<?x6xf32>) -> tensor<?x6xf32> {
  %vw = rptq.weight "v_proj" : tensor<6x6xf32>
  %v = rptq.linear %x, %vw : (tensor<?x6xf32>, tensor<6x6xf32>) -> tensor<?x6xf32>
  %v1 = rptq.reorder %v dim = 1 perm = [1, 2, 0, 5, 3, 4] : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %vp = rptq.quant_point %v1 {kv_cache, layer = 0 : i64, point = "value"} : tensor<?x6xf32>
  %v2 = rptq.reorder %vp dim = 1 perm = [2, 0, 1, 4, 5, 3] : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %a = rptq.attention %q, %k, %v2 num_heads = 2 scale = 0.5 causal : (tensor<?x6xf32>, tensor<?x6xf32>, tensor<?x6xf32>) -> tensor<?x6xf32>
  %a1 = rptq.reorder %a dim = 1 perm = [1, 2, 0, 5, 3, 4] : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %ap = rptq.quant_point %a1 {layer = 0 : i64, point = "attn_out"} : tensor<?x6xf32>
  %a2 = rptq.reorder %ap dim = 1 perm = [2, 0, 1, 4, 5, 3] : (tensor<?x6xf32>) -> tensor<?x6xf32>
  %ow = rptq.weight "out_proj" : tensor<6x6xf32>
  %o = rptq.linear %a2, %ow : (tensor<?x6xf32>, tensor<6x6xf32>) -> tensor<?x6xf32>
  return %o : tensor<?x6xf32>
}

// -----

// The tied embedding: lm_head reads a permuted copy (col_perm P⁻¹ =
// [1, 3, 0, 2]) while the lookup keeps the stored table.
// CHECK-LABEL: func.func @tied_embedding
// CHECK-DAG: %[[E:.*]] = rptq.weight "decoder.embed_tokens.weight" : tensor<8x4xf32>
// CHECK-DAG: %[[EP:.*]] = rptq.weight "decoder.embed_tokens.weight" col_perm = [1, 3, 0, 2] : tensor<8x4xf32>
// CHECK-DAG: rptq.embedding %{{.*}}, %[[E]]
// CHECK-DAG: rptq.lm_head %{{.*}}, %[[EP]]
func.func @tied_embedding(%ids: tensor<?xi32>, %x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x8xf32>) {
  %e = rptq.weight "decoder.embed_tokens.weight" : tensor<8x4xf32>
  %t = rptq.embedding %ids, %e : (tensor<?xi32>, tensor<8x4xf32>) -> tensor<?x4xf32>
  %r = rptq.reorder %x dim = 1 perm = [2, 0, 3, 1] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %l = rptq.lm_head %r, %e : (tensor<?x4xf32>, tensor<8x4xf32>) -> tensor<?x8xf32>
  return %t, %l : tensor<?x4xf32>, tensor<?x8xf32>
}
