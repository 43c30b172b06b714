// rptq.quant_point, rptq.reorder and the permuted form of rptq.weight: custom
// assembly round-trips (also through the generic form); reorder folds; quant
// points survive canonicalize and cse even when unused or identical.
// RUN: rptq-opt %s | rptq-opt | FileCheck %s
// RUN: rptq-opt %s --mlir-print-op-generic | rptq-opt | FileCheck %s
// RUN: rptq-opt %s --canonicalize --cse | FileCheck %s --check-prefix=CANON

// CHECK-LABEL: func.func @quant_points
// CANON-LABEL: func.func @quant_points
func.func @quant_points(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  // CHECK: %[[A:.*]] = rptq.quant_point %{{.*}} {layer = 0 : i64, point = "attn_norm_out"} : tensor<?x4xf32>
  %a = rptq.quant_point %x {layer = 0 : i64, point = "attn_norm_out"} : tensor<?x4xf32>
  // CHECK: rptq.quant_point %[[A]] {bits = 4 : i64, cluster_sizes = array<i64: 1, 3>, kv_cache, layer = 3 : i64, perm = array<i64: 3, 1, 0, 2>, point = "key", scales = array<f32: 5.000000e-01, 2.500000e-01>, zero_points = array<i64: 7, 0>} : tensor<?x4xf32>
  %k = rptq.quant_point %a {layer = 3 : i64, point = "key", kv_cache, perm = array<i64: 3, 1, 0, 2>, cluster_sizes = array<i64: 1, 3>, bits = 4 : i64, scales = array<f32: 0.5, 0.25>, zero_points = array<i64: 7, 0>} : tensor<?x4xf32>
  // A per-tensor quantizer: one scale without cluster_sizes.
  // CHECK: rptq.quant_point %{{.*}} {bits = 8 : i64, layer = 0 : i64, point = "value", scales = array<f32: 1.000000e+00>, zero_points = array<i64: 128>}
  %v = rptq.quant_point %x {layer = 0 : i64, point = "value", bits = 8 : i64, scales = array<f32: 1.0>, zero_points = array<i64: 128>} : tensor<?x4xf32>
  // Two points on one value with the same attributes stay two, and an unused
  // one stays: each stands for a quantizer of its own.
  // CANON-COUNT-2: rptq.quant_point %{{.*}} {layer = 1 : i64, point = "fc1_out"}
  %f1 = rptq.quant_point %x {layer = 1 : i64, point = "fc1_out"} : tensor<?x4xf32>
  %f2 = rptq.quant_point %x {layer = 1 : i64, point = "fc1_out"} : tensor<?x4xf32>
  // CANON: rptq.quant_point %{{.*}} {layer = 2 : i64, point = "attn_out"}
  %unused = rptq.quant_point %x {layer = 2 : i64, point = "attn_out"} : tensor<?x4xf32>
  %s = rptq.add %f1, %f2 : tensor<?x4xf32>
  return %s : tensor<?x4xf32>
}

// CHECK-LABEL: func.func @reorders
func.func @reorders(%x: tensor<?x4xf32>, %w: tensor<3x4xf32>) -> (tensor<?x4xf32>, tensor<3x4xf32>) {
  // CHECK: rptq.reorder %{{.*}} dim = 1 perm = [2, 0, 1, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %y = rptq.reorder %x dim = 1 perm = [2, 0, 1, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  // CHECK: rptq.reorder %{{.*}} dim = 0 perm = [1, 2, 0] : (tensor<3x4xf32>) -> tensor<3x4xf32>
  %v = rptq.reorder %w dim = 0 perm = [1, 2, 0] : (tensor<3x4xf32>) -> tensor<3x4xf32>
  return %y, %v : tensor<?x4xf32>, tensor<3x4xf32>
}

// CHECK-LABEL: func.func @permuted_weights
func.func @permuted_weights() -> (tensor<3x4xf32>, tensor<3xf32>, tensor<3x4xf32>) {
  // CHECK: rptq.weight "w" row_perm = [2, 0, 1] col_perm = [3, 2, 1, 0] : tensor<3x4xf32>
  %w = rptq.weight "w" row_perm = [2, 0, 1] col_perm = [3, 2, 1, 0] : tensor<3x4xf32>
  // CHECK: rptq.weight "b" row_perm = [1, 2, 0] : tensor<3xf32>
  %b = rptq.weight "b" row_perm = [1, 2, 0] : tensor<3xf32>
  // CHECK: rptq.weight "c" col_perm = [1, 0, 2, 3] : tensor<3x4xf32>
  %c = rptq.weight "c" col_perm = [1, 0, 2, 3] : tensor<3x4xf32>
  return %w, %b, %c : tensor<3x4xf32>, tensor<3xf32>, tensor<3x4xf32>
}

// reorder(reorder(x, A), B) = reorder(x, C) with C[j] = A[B[j]]:
// A = [2, 0, 1, 3], B = [1, 3, 0, 2] -> C = [A[1], A[3], A[0], A[2]] = [0, 3, 2, 1].
// CANON-LABEL: func.func @compose
// CANON-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CANON-NEXT: %[[R:.*]] = rptq.reorder %[[X]] dim = 1 perm = [0, 3, 2, 1]
// CANON-NEXT: return %[[R]]
func.func @compose(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %a = rptq.reorder %x dim = 1 perm = [2, 0, 1, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %b = rptq.reorder %a dim = 1 perm = [1, 3, 0, 2] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  return %b : tensor<?x4xf32>
}

// A reorder followed by its inverse, and an identity reorder, vanish;
// reorders of different dimensions do not compose.
// CANON-LABEL: func.func @cancel
// CANON-SAME: (%[[X:.*]]: tensor<?x4xf32>, %[[W:.*]]: tensor<3x3xf32>)
// CANON-NEXT: %[[R0:.*]] = rptq.reorder %[[W]] dim = 0 perm = [1, 2, 0]
// CANON-NEXT: %[[R1:.*]] = rptq.reorder %[[R0]] dim = 1 perm = [1, 2, 0]
// CANON-NEXT: return %[[X]], %[[X]], %[[R1]]
func.func @cancel(%x: tensor<?x4xf32>, %w: tensor<3x3xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<3x3xf32>) {
  %a = rptq.reorder %x dim = 1 perm = [2, 0, 1, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %b = rptq.reorder %a dim = 1 perm = [1, 2, 0, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %i = rptq.reorder %x dim = 1 perm = [0, 1, 2, 3] : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %r = rptq.reorder %w dim = 0 perm = [1, 2, 0] : (tensor<3x3xf32>) -> tensor<3x3xf32>
  %c = rptq.reorder %r dim = 1 perm = [1, 2, 0] : (tensor<3x3xf32>) -> tensor<3x3xf32>
  return %b, %i, %c : tensor<?x4xf32>, tensor<?x4xf32>, tensor<3x3xf32>
}
