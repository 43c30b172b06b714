// Folding on a post-LN import (opt-350m style): a layer norm that also feeds
// the residual stream is cloned for the reordered use (the residual keeps
// the model order), and the folded model computes the same logits. Layer 0's
// attn_norm_out reads the embedding sum, which nothing can absorb.
// REQUIRES: rptq-compile
// RUN: rm -rf %t && %python %oracle %t --variant postln-proj-f32-bin > /dev/null
// RUN: rptq-compile %t --emit mlir -o - | rptq-opt --rptq-mark-quant-points --mlir-print-op-generic -o %t.marked.mlir
// RUN: rptq-opt %t.marked.mlir --rptq-test-assign-perms="seed=5 layer=1" --rptq-test-assign-perms="seed=5 layer=0 points=query,key,value,attn_out,ffn_norm_out,fc1_out" --rptq-fold-channel-reorders --mlir-print-op-generic -o %t.folded.mlir
// RUN: %python %S/eval_rptq.py %t.marked.mlir %t.folded.mlir | FileCheck %s --check-prefix=SAME
// SAME: OK
// RUN: rptq-opt %t.folded.mlir | FileCheck %s --implicit-check-not=rptq.reorder

// The layer 0 final layer norm, twice: plain for the residual add, permuted
// (with its own gamma/beta copies) for layer 1's projections.
// CHECK-DAG: %[[G:.*]] = rptq.weight "decoder.layers.0.final_layer_norm.weight" : tensor<64xf32>
// CHECK-DAG: %[[GP:.*]] = rptq.weight "decoder.layers.0.final_layer_norm.weight" row_perm = [{{.*}}] : tensor<64xf32>
// CHECK-DAG: %[[LN:.*]] = rptq.layer_norm %[[H:.*]] gamma(%[[G]]) beta(%{{.*}}) eps = {{[^ ]*}} :
// CHECK-DAG: %[[LNP:.*]] = rptq.layer_norm %[[H]] gamma(%[[GP]]) beta(%{{.*}}) eps = {{.*}} write_index = [{{.*}}]
// CHECK-DAG: rptq.quant_point %[[LNP]] {layer = 1 : i64, point = "attn_norm_out"}
// CHECK-DAG: rptq.add %[[LN]], %{{.*}}

// The layout reader refuses the doubled gamma unless told to accept it.
// RUN: not rptq-opt %t.folded.mlir --rptq-test-print-folded-layout -o /dev/null 2>&1 | FileCheck %s --check-prefix=MULTI
// MULTI: error: weight 'decoder.layers.0.final_layer_norm.weight' is read in 2 different layouts
// RUN: rptq-opt %t.folded.mlir --rptq-test-print-folded-layout=allow-multi-layout=1 -o /dev/null | FileCheck %s --check-prefix=ALLOW
// ALLOW: multi-layout weight "decoder.layers.0.final_layer_norm.weight" {row_perm = [] col_perm = []} {row_perm = [{{.*}}] col_perm = []}
// ALLOW: write_index (1, attn_norm_out) = [

// RUN: not rptq-opt %t.marked.mlir --rptq-test-assign-perms="layer=0 points=attn_norm_out" --rptq-fold-channel-reorders -o /dev/null 2>&1 | FileCheck %s --check-prefix=EMBED
// EMBED: error: reorder could not be folded into its producer or consumers: its producer 'rptq.add' cannot absorb a permutation, and no user absorbs it
