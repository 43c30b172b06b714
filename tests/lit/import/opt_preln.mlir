// Importing a pre-LN OPT checkpoint (opt-125m style, fp32 safetensors): embeddings, two decoder
// layers with LayerNorm before attention and FFN, a final LayerNorm and the tied lm_head.
// REQUIRES: rptq-compile
// RUN: rm -rf %t && %python %oracle %t --variant preln-f32-st > /dev/null
// RUN: rptq-compile %t --emit mlir -o - | FileCheck %s
// RUN: rptq-compile %t --emit mlir -o - | rptq-opt | rptq-opt --mlir-print-op-generic | rptq-opt > /dev/null

// CHECK: module attributes {{{.*}}rptq.config = {{{.*}}hidden_size = 64 : i64{{.*}}pre_layer_norm = true
// CHECK: func.func @forward(%[[IDS:.*]]: tensor<?xi32> {rptq.name = "token_ids"}, %[[POS:.*]]: tensor<?xi32> {rptq.name = "positions"}) -> tensor<?x50272xf32>
// CHECK: %[[EMB:.*]] = rptq.weight "decoder.embed_tokens.weight" : tensor<50272x64xf32>
// CHECK: %[[TOK:.*]] = rptq.embedding %[[IDS]], %[[EMB]]
// CHECK: rptq.position_embedding %[[POS]], %{{.*}} offset = 2
// CHECK: %[[H0:.*]] = rptq.add %[[TOK]]
// CHECK: %[[LN:.*]] = rptq.layer_norm %[[H0]] gamma(%{{.*}}) beta(%{{.*}})
// CHECK: rptq.weight "decoder.layers.0.self_attn.q_proj.weight"
// CHECK: %[[Q:.*]] = rptq.linear %[[LN]]
// CHECK: %[[K:.*]] = rptq.linear %[[LN]]
// CHECK: %[[V:.*]] = rptq.linear %[[LN]]
// CHECK: %[[A:.*]] = rptq.attention %[[Q]], %[[K]], %[[V]] num_heads = 4 scale = 2.500000e-01 causal
// CHECK: %[[O:.*]] = rptq.linear %[[A]]
// CHECK: %[[H1:.*]] = rptq.add %[[H0]], %[[O]]
// CHECK: %[[LN2:.*]] = rptq.layer_norm %[[H1]]
// CHECK: %[[F1:.*]] = rptq.linear %[[LN2]], %{{.*}}, %{{.*}} : (tensor<?x64xf32>, tensor<256x64xf32>, tensor<256xf32>) -> tensor<?x256xf32>
// CHECK: %[[R:.*]] = rptq.relu %[[F1]]
// CHECK: %[[F2:.*]] = rptq.linear %[[R]]
// CHECK: rptq.add %[[H1]], %[[F2]]
// CHECK: rptq.weight "decoder.layers.1.fc2.weight"
// CHECK-NOT: decoder.layers.2
// CHECK: %[[FINAL:.*]] = rptq.layer_norm
// CHECK: %[[LOGITS:.*]] = rptq.lm_head %[[FINAL]], %[[EMB]] : (tensor<?x64xf32>, tensor<50272x64xf32>) -> tensor<?x50272xf32>
// CHECK: return %[[LOGITS]]
