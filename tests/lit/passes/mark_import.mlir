// --rptq-mark-quant-points on imported checkpoints: seven points per layer
// in dataflow order, for pre-LN (opt-125m style) and post-LN with
// project_in/out (opt-350m style); marking twice changes nothing.
// REQUIRES: rptq-compile
// RUN: rm -rf %t.pre %t.post
// RUN: %python %oracle %t.pre --variant preln-f32-st > /dev/null
// RUN: %python %oracle %t.post --variant postln-proj-f32-bin > /dev/null
// RUN: rptq-compile %t.pre --emit mlir -o - | rptq-opt --rptq-mark-quant-points -o %t.pre.once
// RUN: FileCheck %s --check-prefix=PRE < %t.pre.once
// RUN: rptq-opt %t.pre.once --rptq-mark-quant-points -o %t.pre.twice
// RUN: diff %t.pre.once %t.pre.twice
// RUN: rptq-compile %t.post --emit mlir -o - | rptq-opt --rptq-mark-quant-points | FileCheck %s --check-prefix=POST

// PRE: %[[LN:.*]] = rptq.layer_norm
// PRE-NEXT: %[[X:.*]] = rptq.quant_point %[[LN]] {layer = 0 : i64, point = "attn_norm_out"} : tensor<?x64xf32>
// PRE: rptq.linear %[[X]]
// PRE-NEXT: %[[Q:.*]] = rptq.quant_point {{.*}} {layer = 0 : i64, point = "query"}
// PRE: rptq.linear %[[X]]
// PRE-NEXT: %[[K:.*]] = rptq.quant_point {{.*}} {kv_cache, layer = 0 : i64, point = "key"}
// PRE: rptq.linear %[[X]]
// PRE-NEXT: %[[V:.*]] = rptq.quant_point {{.*}} {kv_cache, layer = 0 : i64, point = "value"}
// PRE-NEXT: %[[A:.*]] = rptq.attention %[[Q]], %[[K]], %[[V]]
// PRE-NEXT: %[[AO:.*]] = rptq.quant_point %[[A]] {layer = 0 : i64, point = "attn_out"}
// PRE: rptq.linear %[[AO]]
// PRE: %[[LN2:.*]] = rptq.layer_norm
// PRE-NEXT: %[[F:.*]] = rptq.quant_point %[[LN2]] {layer = 0 : i64, point = "ffn_norm_out"}
// PRE: rptq.linear %[[F]]
// PRE-NEXT: %[[R:.*]] = rptq.relu
// PRE-NEXT: %[[RO:.*]] = rptq.quant_point %[[R]] {layer = 0 : i64, point = "fc1_out"} : tensor<?x256xf32>
// PRE: rptq.linear %[[RO]]
// PRE-COUNT-7: rptq.quant_point {{.*}} {{{.*}}layer = 1 : i64
// PRE-NOT: rptq.quant_point
// PRE: rptq.lm_head

// Post-LN: layer 0 quantizes the embedding sum (after project_in) for the
// projections only; the residual add still reads the sum itself. From then
// on the points sit on the layer norms, which also feed the residual adds.
// POST: %[[H:.*]] = rptq.add
// POST-NEXT: %[[X:.*]] = rptq.quant_point %[[H]] {layer = 0 : i64, point = "attn_norm_out"}
// POST: rptq.linear %[[X]]
// POST: rptq.add %[[H]], %{{.*}}
// POST: %[[LN:.*]] = rptq.layer_norm
// POST-NEXT: rptq.quant_point %[[LN]] {layer = 0 : i64, point = "ffn_norm_out"}
// POST: rptq.add %[[LN]], %{{.*}}
// POST: %[[LN2:.*]] = rptq.layer_norm
// POST-NEXT: rptq.quant_point %[[LN2]] {layer = 1 : i64, point = "attn_norm_out"}
// POST-COUNT-6: rptq.quant_point {{.*}} {{{.*}}layer = 1 : i64
// POST-NOT: rptq.quant_point
// POST: rptq.weight "decoder.project_out.weight"
