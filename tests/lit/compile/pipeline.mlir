// rptq-compile end to end on a tiny checkpoint: --dump-ir-after shows each stage, and the final
// IR carries the folded permutations and each quantization point's clusters and scales with no
// reorder left.
// REQUIRES: rptq-compile
// RUN: rm -rf %t && %python %oracle %t --variant preln-f32-st > /dev/null
// RUN: cp %shared/data/opt-tokenizer/vocab.json %shared/data/opt-tokenizer/merges.txt %t/
// RUN: rptq-compile %t --calib %shared/data/wikitext-2-raw/original/wiki.valid.raw --calib-samples 4 \
// RUN:   --calib-seqlen 64 --wbits 4 --abits 4 --clusters 4 --head-clusters 2 \
// RUN:   --dump-ir-after mark-quant-points -o %t/out.mlir 2> %t/marked.txt
// RUN: FileCheck %s --check-prefix=MARK < %t/marked.txt
// RUN: FileCheck %s --check-prefix=OUT < %t/out.mlir
// RUN: rptq-opt %t/out.mlir > /dev/null
// RUN: rptq-compile %t --calib %shared/data/wikitext-2-raw/original/wiki.valid.raw --calib-samples 4 \
// RUN:   --calib-seqlen 64 --wbits 4 --abits 4 --clusters 4 --head-clusters 2 \
// RUN:   --dump-ir-after fold-reorders -o %t/out2.mlir 2> %t/folded.txt
// RUN: FileCheck %s --check-prefix=FOLD < %t/folded.txt
// RUN: cmp %t/out.mlir %t/out2.mlir

// Marked, nothing chosen yet: seven points per layer, no clusters.
// MARK: IR after mark-quant-points
// MARK: rptq.quant_point %{{.*}} {layer = 0 : i64, point = "attn_norm_out"}
// MARK: rptq.quant_point %{{.*}} {layer = 0 : i64, point = "query"}
// MARK: rptq.quant_point %{{.*}} {kv_cache, layer = 0 : i64, point = "key"}
// MARK: rptq.quant_point %{{.*}} {kv_cache, layer = 0 : i64, point = "value"}
// MARK: rptq.quant_point %{{.*}} {layer = 0 : i64, point = "attn_out"}
// MARK: rptq.quant_point %{{.*}} {layer = 0 : i64, point = "ffn_norm_out"}
// MARK: rptq.quant_point %{{.*}} {layer = 0 : i64, point = "fc1_out"}
// MARK-NOT: rptq.reorder

// Folded: the LayerNorm writes in cluster order, weights read permuted, no reorder op remains.
// FOLD: IR after fold-reorders
// FOLD-NOT: rptq.reorder
// FOLD: rptq.layer_norm {{.*}}write_index
// FOLD: rptq.weight "decoder.layers.0.self_attn.q_proj.weight" {{.*}}col_perm
// FOLD-NOT: rptq.reorder

// Final: every point has 4-bit clusters with one scale and zero point each.
// OUT-NOT: rptq.reorder
// OUT: rptq.quant_point {{.*}}bits = 4 : i64, cluster_sizes = array<i64: {{[0-9, ]+}}>{{.*}}point = "attn_norm_out", scales = array<f32: {{.*}}>, zero_points = array<i64: {{.*}}>
// OUT: rptq.quant_point {{.*}}point = "query"
// OUT: rptq.quant_point {{.*}}kv_cache{{.*}}point = "key"
// OUT-NOT: rptq.reorder
