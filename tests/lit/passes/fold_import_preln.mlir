// The whole flow on imported checkpoints: import -> mark -> set the
// clustering orders -> materialize -> fold. No reorder may remain, and the
// folded float model must compute the same logits as the unfolded one
// (eval_rptq.py, float64 with random weights per name: exact to rounding).
// REQUIRES: rptq-compile
// RUN: rm -rf %t && %python %oracle %t --variant preln-f32-st > /dev/null
// RUN: rptq-compile %t --emit mlir -o - | rptq-opt --rptq-mark-quant-points --mlir-print-op-generic -o %t.marked.mlir

// Rotations (seed 0): group g of the five rotates by g + 1, the attention
// groups within each head of 16 channels. Layer 1 is checked in full.
// RUN: rptq-opt %t.marked.mlir --rptq-test-assign-perms --rptq-fold-channel-reorders | FileCheck %s --implicit-check-not=rptq.reorder
// CHECK: rptq.weight "decoder.layers.1.self_attn_layer_norm.weight" row_perm = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 0]
// CHECK: rptq.weight "decoder.layers.1.self_attn_layer_norm.bias" row_perm = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 0]
// CHECK: %[[LN1:.*]] = rptq.layer_norm {{.*}} write_index = [63, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62]
// CHECK-NEXT: rptq.quant_point %[[LN1]] {layer = 1 : i64, point = "attn_norm_out"}
// CHECK: rptq.weight "decoder.layers.1.self_attn.q_proj.bias" row_perm = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 16, 17, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 32, 33, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 48, 49] :
// CHECK: rptq.weight "decoder.layers.1.self_attn.q_proj.weight" row_perm = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 16, 17, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 32, 33, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 48, 49] col_perm = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 0] :
// CHECK: rptq.weight "decoder.layers.1.self_attn.k_proj.bias" row_perm = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 16, 17, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 32, 33, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 48, 49] :
// CHECK: rptq.weight "decoder.layers.1.self_attn.k_proj.weight" row_perm = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 16, 17, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 32, 33, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 48, 49] col_perm = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 0] :
// CHECK: rptq.weight "decoder.layers.1.self_attn.v_proj.bias" row_perm = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 16, 17, 18, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 32, 33, 34, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 48, 49, 50] :
// CHECK: rptq.weight "decoder.layers.1.self_attn.v_proj.weight" row_perm = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 16, 17, 18, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 32, 33, 34, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 48, 49, 50] col_perm = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 0] :
// CHECK: rptq.weight "decoder.layers.1.self_attn.out_proj.bias" : tensor<64xf32>
// CHECK: rptq.weight "decoder.layers.1.self_attn.out_proj.weight" col_perm = [3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0, 1, 2, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 16, 17, 18, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 32, 33, 34, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 48, 49, 50] :
// CHECK: rptq.weight "decoder.layers.1.final_layer_norm.weight" row_perm = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 0, 1, 2, 3]
// CHECK: %[[LN2:.*]] = rptq.layer_norm {{.*}} write_index = [60, 61, 62, 63, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59]
// CHECK-NEXT: rptq.quant_point %[[LN2]] {layer = 1 : i64, point = "ffn_norm_out"}
// CHECK: rptq.weight "decoder.layers.1.fc1.weight" row_perm = [5, 6, 7, {{.*}}, 254, 255, 0, 1, 2, 3, 4] col_perm = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63, 0, 1, 2, 3] :
// CHECK: rptq.weight "decoder.layers.1.fc1.bias" row_perm = [5, 6, 7, {{.*}}, 254, 255, 0, 1, 2, 3, 4] :
// CHECK: rptq.weight "decoder.layers.1.fc2.bias" : tensor<64xf32>
// CHECK: rptq.weight "decoder.layers.1.fc2.weight" col_perm = [5, 6, 7, {{.*}}, 254, 255, 0, 1, 2, 3, 4] :
// CHECK: rptq.layer_norm {{.*}} eps = {{[^ ]*}} :
// CHECK: rptq.lm_head

// Numerics: the rotations, two shuffles, and one layer at a time through
// rptq::findQuantPoint (--rptq-test-set-perm) as the driver does it.
// RUN: rptq-opt %t.marked.mlir --rptq-test-assign-perms --rptq-fold-channel-reorders --mlir-print-op-generic -o %t.rot.mlir
// RUN: %python %S/eval_rptq.py %t.marked.mlir %t.rot.mlir | FileCheck %s --check-prefix=SAME
// RUN: rptq-opt %t.marked.mlir --rptq-test-assign-perms=seed=7 --rptq-fold-channel-reorders --mlir-print-op-generic -o %t.s7.mlir
// RUN: %python %S/eval_rptq.py %t.marked.mlir %t.s7.mlir | FileCheck %s --check-prefix=SAME
// RUN: rptq-opt %t.marked.mlir --rptq-test-assign-perms="seed=11 layer=0" --rptq-fold-channel-reorders -o %t.l0.mlir
// RUN: rptq-opt %t.l0.mlir --rptq-test-assign-perms="seed=12 layer=1" --rptq-fold-channel-reorders --mlir-print-op-generic -o %t.l1.mlir
// RUN: %python %S/eval_rptq.py %t.marked.mlir %t.l1.mlir | FileCheck %s --check-prefix=SAME
// RUN: rptq-opt %t.marked.mlir --rptq-test-set-perm="layer=1 point=ffn_norm_out perm=63,0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62" --rptq-fold-channel-reorders --mlir-print-op-generic -o %t.one.mlir
// RUN: %python %S/eval_rptq.py %t.marked.mlir %t.one.mlir | FileCheck %s --check-prefix=SAME
// SAME: OK

// A head-crossing query/key order is refused, and so is one set on the query
// alone. The reorder that reaches attention is the inverse one materialized
// after the point (rotation by -8: channel 56 first).
// RUN: not rptq-opt %t.marked.mlir --rptq-test-set-perm="layer=0 point=query perm=8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,0,1,2,3,4,5,6,7" --rptq-test-set-perm="layer=0 point=key perm=8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,48,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,0,1,2,3,4,5,6,7" --rptq-fold-channel-reorders -o /dev/null 2>&1 | FileCheck %s --check-prefix=CROSS
// CROSS: error: reorder could not be folded into its producer or consumers: it moves channel 56 of head 3 to position 0 in head 0
// RUN: not rptq-opt %t.marked.mlir --rptq-test-set-perm="layer=0 point=query perm=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,0,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31,16,33,34,35,36,37,38,39,40,41,42,43,44,45,46,47,32,49,50,51,52,53,54,55,56,57,58,59,60,61,62,63,48" --rptq-fold-channel-reorders -o /dev/null 2>&1 | FileCheck %s --check-prefix=ALONE
// ALONE: error: reorder could not be folded into its producer or consumers: the query and key of 'rptq.attention' are not reordered by the same permutation
