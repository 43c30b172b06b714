// Importing a post-LN OPT with project_in/out (opt-350m style, fp32 pytorch_model.bin): LayerNorm
// after each residual add, no final LayerNorm, and projections around the decoder stack.
// REQUIRES: rptq-compile
// RUN: rm -rf %t && %python %oracle %t --variant postln-proj-f32-bin > /dev/null
// RUN: rptq-compile %t --emit mlir -o - | FileCheck %s

// CHECK: pre_layer_norm = false
// CHECK: rptq.embedding {{.*}} -> tensor<?x48xf32>
// CHECK: rptq.weight "decoder.project_in.weight" : tensor<64x48xf32>
// CHECK: rptq.linear %{{.*}}, %{{.*}} : (tensor<?x48xf32>, tensor<64x48xf32>) -> tensor<?x64xf32>
// CHECK: %[[H:.*]] = rptq.add
// CHECK-NOT: rptq.layer_norm
// CHECK: rptq.attention
// CHECK: %[[R1:.*]] = rptq.add %[[H]]
// CHECK-NEXT: rptq.weight "decoder.layers.0.self_attn_layer_norm.weight"
// CHECK-NEXT: rptq.weight "decoder.layers.0.self_attn_layer_norm.bias"
// CHECK-NEXT: rptq.layer_norm %[[R1]]
// CHECK: rptq.weight "decoder.project_out.weight" : tensor<48x64xf32>
// CHECK-NOT: decoder.final_layer_norm
// CHECK: rptq.lm_head {{.*}} -> tensor<?x50272xf32>
