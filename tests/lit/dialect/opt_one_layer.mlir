// A one-layer OPT-125m-shaped decoder (pre-LN, do_layer_norm_before=True) as
// the importer produces it: weights by Hugging Face name, Q/K/V/out
// projections as rptq.linear, residual adds, final layer norm and a tied
// lm_head. It verifies, round-trips, and survives the generic form.
// RUN: rptq-opt %s | rptq-opt | FileCheck %s
// RUN: rptq-opt %s --mlir-print-op-generic | rptq-opt | FileCheck %s

// CHECK: module attributes {rptq.config = {ffn_dim = 3072 : i64, hidden_size = 768 : i64, model_type = "opt", num_attention_heads = 12 : i64, num_hidden_layers = 1 : i64, vocab_size = 50272 : i64}}
module attributes {rptq.config = {model_type = "opt", hidden_size = 768 : i64, num_attention_heads = 12 : i64, ffn_dim = 3072 : i64, num_hidden_layers = 1 : i64, vocab_size = 50272 : i64}} {
  // CHECK-LABEL: func.func @forward
  // CHECK-SAME: (%[[IDS:.*]]: tensor<?xi32>, %[[POS:.*]]: tensor<?xi32>) -> tensor<?x50272xf32>
  func.func @forward(%ids: tensor<?xi32>, %pos: tensor<?xi32>) -> tensor<?x50272xf32> {
    // Embeddings.
    // CHECK: %[[TOK:.*]] = rptq.weight "decoder.embed_tokens.weight" : tensor<50272x768xf32>
    %tok_w = rptq.weight "decoder.embed_tokens.weight" : tensor<50272x768xf32>
    // CHECK: %[[POSW:.*]] = rptq.weight "decoder.embed_positions.weight" : tensor<2050x768xf32>
    %pos_w = rptq.weight "decoder.embed_positions.weight" : tensor<2050x768xf32>
    // CHECK: %[[E:.*]] = rptq.embedding %[[IDS]], %[[TOK]]
    %tok = rptq.embedding %ids, %tok_w : (tensor<?xi32>, tensor<50272x768xf32>) -> tensor<?x768xf32>
    // CHECK: %[[P:.*]] = rptq.position_embedding %[[POS]], %[[POSW]] offset = 2
    %posemb = rptq.position_embedding %pos, %pos_w offset = 2 : (tensor<?xi32>, tensor<2050x768xf32>) -> tensor<?x768xf32>
    // CHECK: %[[H0:.*]] = rptq.add %[[E]], %[[P]] : tensor<?x768xf32>
    %h0 = rptq.add %tok, %posemb : tensor<?x768xf32>

    // Layer 0: self-attention block.
    %ln1_g = rptq.weight "decoder.layers.0.self_attn_layer_norm.weight" : tensor<768xf32>
    %ln1_b = rptq.weight "decoder.layers.0.self_attn_layer_norm.bias" : tensor<768xf32>
    // CHECK: %[[X1:.*]] = rptq.layer_norm %[[H0]] gamma(%{{.*}}) beta(%{{.*}}) eps = 9.99999974E-6
    %x1 = rptq.layer_norm %h0 gamma(%ln1_g) beta(%ln1_b) eps = 1.0e-5 : (tensor<?x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    %q_w = rptq.weight "decoder.layers.0.self_attn.q_proj.weight" : tensor<768x768xf32>
    %q_b = rptq.weight "decoder.layers.0.self_attn.q_proj.bias" : tensor<768xf32>
    %k_w = rptq.weight "decoder.layers.0.self_attn.k_proj.weight" : tensor<768x768xf32>
    %k_b = rptq.weight "decoder.layers.0.self_attn.k_proj.bias" : tensor<768xf32>
    %v_w = rptq.weight "decoder.layers.0.self_attn.v_proj.weight" : tensor<768x768xf32>
    %v_b = rptq.weight "decoder.layers.0.self_attn.v_proj.bias" : tensor<768xf32>
    %o_w = rptq.weight "decoder.layers.0.self_attn.out_proj.weight" : tensor<768x768xf32>
    %o_b = rptq.weight "decoder.layers.0.self_attn.out_proj.bias" : tensor<768xf32>
    // CHECK: %[[Q:.*]] = rptq.linear %[[X1]], %{{.*}}, %{{.*}} : (tensor<?x768xf32>, tensor<768x768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    %q = rptq.linear %x1, %q_w, %q_b : (tensor<?x768xf32>, tensor<768x768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    // CHECK: %[[K:.*]] = rptq.linear %[[X1]]
    %k = rptq.linear %x1, %k_w, %k_b : (tensor<?x768xf32>, tensor<768x768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    // CHECK: %[[V:.*]] = rptq.linear %[[X1]]
    %v = rptq.linear %x1, %v_w, %v_b : (tensor<?x768xf32>, tensor<768x768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    // CHECK: %[[A:.*]] = rptq.attention %[[Q]], %[[K]], %[[V]] num_heads = 12 scale = 1.250000e-01 causal
    %attn = rptq.attention %q, %k, %v num_heads = 12 scale = 0.125 causal : (tensor<?x768xf32>, tensor<?x768xf32>, tensor<?x768xf32>) -> tensor<?x768xf32>
    // CHECK: %[[O:.*]] = rptq.linear %[[A]]
    %o = rptq.linear %attn, %o_w, %o_b : (tensor<?x768xf32>, tensor<768x768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    // CHECK: %[[H1:.*]] = rptq.add %[[H0]], %[[O]] : tensor<?x768xf32>
    %h1 = rptq.add %h0, %o : tensor<?x768xf32>

    // Layer 0: feed-forward block.
    %ln2_g = rptq.weight "decoder.layers.0.final_layer_norm.weight" : tensor<768xf32>
    %ln2_b = rptq.weight "decoder.layers.0.final_layer_norm.bias" : tensor<768xf32>
    // CHECK: %[[X2:.*]] = rptq.layer_norm %[[H1]] gamma(%{{.*}}) beta(%{{.*}})
    %x2 = rptq.layer_norm %h1 gamma(%ln2_g) beta(%ln2_b) eps = 1.0e-5 : (tensor<?x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    %fc1_w = rptq.weight "decoder.layers.0.fc1.weight" : tensor<3072x768xf32>
    %fc1_b = rptq.weight "decoder.layers.0.fc1.bias" : tensor<3072xf32>
    %fc2_w = rptq.weight "decoder.layers.0.fc2.weight" : tensor<768x3072xf32>
    %fc2_b = rptq.weight "decoder.layers.0.fc2.bias" : tensor<768xf32>
    // CHECK: %[[F1:.*]] = rptq.linear %[[X2]], %{{.*}}, %{{.*}} : (tensor<?x768xf32>, tensor<3072x768xf32>, tensor<3072xf32>) -> tensor<?x3072xf32>
    %f1 = rptq.linear %x2, %fc1_w, %fc1_b : (tensor<?x768xf32>, tensor<3072x768xf32>, tensor<3072xf32>) -> tensor<?x3072xf32>
    // CHECK: %[[R:.*]] = rptq.relu %[[F1]] : tensor<?x3072xf32>
    %r = rptq.relu %f1 : tensor<?x3072xf32>
    // CHECK: %[[F2:.*]] = rptq.linear %[[R]], %{{.*}}, %{{.*}} : (tensor<?x3072xf32>, tensor<768x3072xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    %f2 = rptq.linear %r, %fc2_w, %fc2_b : (tensor<?x3072xf32>, tensor<768x3072xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    // CHECK: %[[H2:.*]] = rptq.add %[[H1]], %[[F2]] : tensor<?x768xf32>
    %h2 = rptq.add %h1, %f2 : tensor<?x768xf32>

    // Final layer norm and the tied lm_head.
    %lnf_g = rptq.weight "decoder.final_layer_norm.weight" : tensor<768xf32>
    %lnf_b = rptq.weight "decoder.final_layer_norm.bias" : tensor<768xf32>
    // CHECK: %[[HF:.*]] = rptq.layer_norm %[[H2]]
    %hf = rptq.layer_norm %h2 gamma(%lnf_g) beta(%lnf_b) eps = 1.0e-5 : (tensor<?x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    // CHECK: %[[LOGITS:.*]] = rptq.lm_head %[[HF]], %[[TOK]] : (tensor<?x768xf32>, tensor<50272x768xf32>) -> tensor<?x50272xf32>
    %logits = rptq.lm_head %hf, %tok_w : (tensor<?x768xf32>, tensor<50272x768xf32>) -> tensor<?x50272xf32>
    // CHECK: return %[[LOGITS]] : tensor<?x50272xf32>
    return %logits : tensor<?x50272xf32>
  }
}
