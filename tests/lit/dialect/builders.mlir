// The C++ builders of the rptq ops infer result types and produce IR that
// verifies and round-trips. (Skipped when rptq-builder-test was not built.)
// REQUIRES: rptq-builder-test
// RUN: rptq-builder-test | FileCheck %s
// RUN: rptq-builder-test | rptq-opt | FileCheck %s
// RUN: rptq-builder-test | FileCheck %s --check-prefix=ACCESS

// ACCESS: // heads=2 causal=1 scale=50/100

// CHECK-LABEL: func.func @forward
// CHECK-SAME: (%[[IDS:.*]]: tensor<?xi32>, %[[POS:.*]]: tensor<?xi32>) -> tensor<?x32xf32>
// CHECK: %[[TOK:.*]] = rptq.weight "decoder.embed_tokens.weight" : tensor<32x8xf32>
// CHECK: rptq.embedding %[[IDS]], %[[TOK]] : (tensor<?xi32>, tensor<32x8xf32>) -> tensor<?x8xf32>
// CHECK: rptq.position_embedding %[[POS]], %{{.*}} offset = 2 : (tensor<?xi32>, tensor<10x8xf32>) -> tensor<?x8xf32>
// CHECK: rptq.add %{{.*}}, %{{.*}} : tensor<?x8xf32>
// CHECK: rptq.layer_norm %{{.*}} gamma(%{{.*}}) beta(%{{.*}}) eps = 9.99999974E-6 : (tensor<?x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
// CHECK: rptq.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<8x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
// CHECK: rptq.linear %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
// CHECK: rptq.attention %{{.*}}, %{{.*}}, %{{.*}} num_heads = 2 scale = 5.000000e-01 causal : (tensor<?x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK: rptq.layer_norm %{{.*}} eps = 9.99999974E-6 write_index = [7, 6, 5, 4, 3, 2, 1, 0] : (tensor<?x8xf32>) -> tensor<?x8xf32>
// CHECK: rptq.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<?x16xf32>
// CHECK: rptq.relu %{{.*}} : tensor<?x16xf32>
// CHECK: rptq.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x16xf32>, tensor<8x16xf32>, tensor<8xf32>) -> tensor<?x8xf32>
// CHECK: %[[LOGITS:.*]] = rptq.lm_head %{{.*}}, %[[TOK]] : (tensor<?x8xf32>, tensor<32x8xf32>) -> tensor<?x32xf32>
// CHECK: return %[[LOGITS]] : tensor<?x32xf32>
