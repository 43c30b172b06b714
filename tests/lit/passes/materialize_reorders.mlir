// --rptq-materialize-reorders: quant_point {perm = P} becomes
// reorder(P) -> quant_point -> reorder(inverse(P)); the point keeps its other
// attributes (they describe the reordered channels), points without a perm
// are left alone.
// RUN: rptq-opt %s --rptq-materialize-reorders | FileCheck %s

// P = [2, 0, 3, 1]; inverse: P[0] = 2 -> inv[2] = 0, P[1] = 0 -> inv[0] = 1,
// P[2] = 3 -> inv[3] = 2, P[3] = 1 -> inv[1] = 3: inv = [1, 3, 0, 2].
// CHECK-LABEL: func.func @materialize
// CHECK-SAME: (%[[X:.*]]: tensor<?x4xf32>)
// CHECK-NEXT: %[[R1:.*]] = rptq.reorder %[[X]] dim = 1 perm = [2, 0, 3, 1] : (tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %[[Q:.*]] = rptq.quant_point %[[R1]] {bits = 4 : i64, cluster_sizes = array<i64: 1, 3>, kv_cache, layer = 2 : i64, point = "key"} : tensor<?x4xf32>
// CHECK-NEXT: %[[R2:.*]] = rptq.reorder %[[Q]] dim = 1 perm = [1, 3, 0, 2] : (tensor<?x4xf32>) -> tensor<?x4xf32>
// CHECK-NEXT: %[[P:.*]] = rptq.quant_point %[[X]] {layer = 2 : i64, point = "query"}
// CHECK-NEXT: %[[S:.*]] = rptq.add %[[R2]], %[[R2]]
// CHECK-NEXT: return %[[S]], %[[P]]
func.func @materialize(%x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  %k = rptq.quant_point %x {layer = 2 : i64, point = "key", kv_cache, perm = array<i64: 2, 0, 3, 1>, cluster_sizes = array<i64: 1, 3>, bits = 4 : i64} : tensor<?x4xf32>
  %q = rptq.quant_point %x {layer = 2 : i64, point = "query"} : tensor<?x4xf32>
  %s = rptq.add %k, %k : tensor<?x4xf32>
  return %s, %q : tensor<?x4xf32>, tensor<?x4xf32>
}
