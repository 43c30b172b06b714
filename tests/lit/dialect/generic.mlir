// The generic form of every rptq op: what --mlir-print-op-generic prints, and
// that it parses back into the custom form.
// RUN: rptq-opt %s --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC
// RUN: rptq-opt %s --mlir-print-op-generic | rptq-opt | FileCheck %s --check-prefix=CUSTOM

func.func @all(%ids: tensor<?xi32>, %x: tensor<?x4xf32>) -> (tensor<?x4xf32>, tensor<?x10xf32>) {
  // GENERIC: "rptq.weight"() {name = "t"} : () -> tensor<10x4xf32>
  %t = rptq.weight "t" : tensor<10x4xf32>
  %p = rptq.weight "p" : tensor<12x4xf32>
  %g = rptq.weight "g" : tensor<4xf32>
  %w = rptq.weight "w" : tensor<4x4xf32>
  // GENERIC: "rptq.embedding"(%{{.*}}, %{{.*}}) : (tensor<?xi32>, tensor<10x4xf32>) -> tensor<?x4xf32>
  %e = rptq.embedding %ids, %t : (tensor<?xi32>, tensor<10x4xf32>) -> tensor<?x4xf32>
  // GENERIC: "rptq.position_embedding"(%{{.*}}, %{{.*}}) {offset = 2 : i64} : (tensor<?xi32>, tensor<12x4xf32>) -> tensor<?x4xf32>
  %pe = rptq.position_embedding %ids, %p offset = 2 : (tensor<?xi32>, tensor<12x4xf32>) -> tensor<?x4xf32>
  // GENERIC: "rptq.add"(%{{.*}}, %{{.*}}) : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %h = rptq.add %e, %pe : tensor<?x4xf32>
  // GENERIC: "rptq.layer_norm"(%{{.*}}, %{{.*}}) {eps = 9.99999974E-6 : f32, operand_segment_sizes = array<i32: 1, 0, 1>, write_index = array<i64: 3, 2, 1, 0>} : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // CUSTOM: rptq.layer_norm %{{.*}} beta(%{{.*}}) eps = 9.99999974E-6 write_index = [3, 2, 1, 0] : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %n = rptq.layer_norm %h beta(%g) eps = 1.0e-5 write_index = [3, 2, 1, 0] : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // GENERIC: "rptq.linear"(%{{.*}}, %{{.*}}) : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // CUSTOM: rptq.linear %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %l = rptq.linear %n, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // GENERIC: "rptq.linear"(%{{.*}}, %{{.*}}, %{{.*}}) : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // CUSTOM: rptq.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %lb = rptq.linear %l, %w, %g : (tensor<?x4xf32>, tensor<4x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  // GENERIC: "rptq.relu"(%{{.*}}) : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %r = rptq.relu %lb : tensor<?x4xf32>
  // GENERIC: "rptq.attention"(%{{.*}}, %{{.*}}, %{{.*}}) {causal, num_heads = 2 : i64, scale = 0.707106769 : f32} : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // CUSTOM: rptq.attention %{{.*}}, %{{.*}}, %{{.*}} num_heads = 2 scale = 0.707106769 causal : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  %a = rptq.attention %r, %r, %r num_heads = 2 scale = 0.70710678 causal : (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x4xf32>
  // GENERIC: "rptq.lm_head"(%{{.*}}, %{{.*}}) : (tensor<?x4xf32>, tensor<10x4xf32>) -> tensor<?x10xf32>
  %o = rptq.lm_head %a, %t : (tensor<?x4xf32>, tensor<10x4xf32>) -> tensor<?x10xf32>
  return %a, %o : tensor<?x4xf32>, tensor<?x10xf32>
}

// Hand-written generic IR parses and prints in the custom form.
// CUSTOM-LABEL: func.func @from_generic
func.func @from_generic(%x: tensor<?x4xf32>) -> tensor<?x4xf32> {
  %g = "rptq.weight"() {name = "g"} : () -> tensor<4xf32>
  // CUSTOM: rptq.layer_norm %{{.*}} gamma(%{{.*}}) eps = 5.000000e-01 : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  %n = "rptq.layer_norm"(%x, %g) {eps = 0.5 : f32, operand_segment_sizes = array<i32: 1, 1, 0>} : (tensor<?x4xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return %n : tensor<?x4xf32>
}
