//===- RptqOps.td - rptq dialect operations ----------------*- tablegen -*-===//
//
// Conventions: an "activation" is a rank-2 ranked tensor `tensor<SxD>` whose
// feature dimension D is static (S is usually dynamic). Each op's verifier
// checks ranks, static dimensions, element types and that the dimensions of
// operands and results agree. Sequence dimensions only have to be compatible
// (equal, or at least one of them dynamic).
//
//===----------------------------------------------------------------------===//

#ifndef RPTQ_OPS_TD
#define RPTQ_OPS_TD

include "IR/RptqDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// rptq.weight
//===----------------------------------------------------------------------===//

def Rptq_WeightOp : Rptq_Op<"weight", [Pure]> {
  let summary = "reference to a named tensor in the external weight store";
  let description = [{
    Produces the tensor stored under `name` in the weight store (Hugging Face
    parameter names, e.g. `decoder.layers.0.fc1.weight`). The result must have
    a static shape.

    The optional `row_perm` and `col_perm` (permutations of the sizes of
    dimensions 0 and 1) are channel reorders folded into the weight:
    `result[i, j] = stored[row_perm[i], col_perm[j]]` (an absent one is the
    identity). A 1-D tensor (bias, LayerNorm gamma/beta) only takes `row_perm`:
    `result[i] = stored[row_perm[i]]`.

    ```mlir
    %w = rptq.weight "decoder.layers.0.fc1.weight" : tensor<3072x768xf32>
    %q = rptq.weight "decoder.layers.0.self_attn.q_proj.weight"
        row_perm = [1, 0, 2, 3] col_perm = [3, 2, 1, 0] : tensor<4x4xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name,
                       OptionalAttr<DenseI64ArrayAttr>:$row_perm,
                       OptionalAttr<DenseI64ArrayAttr>:$col_perm);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $name (`row_perm` `=` $row_perm^)? (`col_perm` `=` $col_perm^)? attr-dict
    `:` type($result)
  }];
  let builders = [
    // An unpermuted weight.
    OpBuilder<(ins "::mlir::Type":$type, "::llvm::StringRef":$name), [{
      build($_builder, $_state, type, name, ::mlir::DenseI64ArrayAttr(),
            ::mlir::DenseI64ArrayAttr());
    }]>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// rptq.embedding / rptq.position_embedding
//===----------------------------------------------------------------------===//

def Rptq_EmbeddingOp : Rptq_Op<"embedding", [Pure]> {
  let summary = "token embedding lookup";
  let description = [{
    `result[i, :] = table[ids[i], :]` for `ids : tensor<Sxi32>` and
    `table : tensor<VxD>`; the result is `tensor<SxD>`.

    ```mlir
    %e = rptq.embedding %ids, %table
        : (tensor<?xi32>, tensor<50272x768xf32>) -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins TensorOf<[I32]>:$ids, AnyRankedTensor:$table);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $ids `,` $table attr-dict `:` functional-type(operands, results)
  }];
  let builders = [
    // Infers the result type tensor<?xD> from the table.
    OpBuilder<(ins "::mlir::Value":$ids, "::mlir::Value":$table)>
  ];
  let hasVerifier = 1;
}

def Rptq_PositionEmbeddingOp : Rptq_Op<"position_embedding", [Pure]> {
  let summary = "learned position embedding lookup";
  let description = [{
    `result[i, :] = table[positions[i] + offset, :]` for
    `positions : tensor<Sxi32>` (0-based positions of the tokens) and
    `table : tensor<PxD>`. OPT uses `offset = 2`.

    ```mlir
    %p = rptq.position_embedding %pos, %table offset = 2
        : (tensor<?xi32>, tensor<2050x768xf32>) -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins TensorOf<[I32]>:$positions, AnyRankedTensor:$table,
                       I64Attr:$offset);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $positions `,` $table `offset` `=` $offset attr-dict `:`
    functional-type(operands, results)
  }];
  let builders = [
    // Infers the result type tensor<?xD> from the table.
    OpBuilder<(ins "::mlir::Value":$positions, "::mlir::Value":$table,
                   "int64_t":$offset)>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// rptq.layer_norm
//===----------------------------------------------------------------------===//

def Rptq_LayerNormOp : Rptq_Op<"layer_norm", [Pure, AttrSizedOperandSegments]> {
  let summary = "layer normalization over the feature dimension";
  let description = [{
    `y = (x - mean(x)) / sqrt(var(x) + eps) * gamma + beta` over the last
    dimension of `x : tensor<SxD>`; `gamma` and `beta` (`tensor<D>`) are
    optional. The optional `write_index` (a permutation of `[0, D)`) fuses the
    RPTQ channel reorder into the layer norm: normalized input channel `c` is
    written to column `write_index[c]` of the result, and `gamma`/`beta` are
    given in result-column order:

    `result[:, write_index[c]] = (x[:, c] - mean) / sqrt(var + eps)
                                 * gamma[write_index[c]] + beta[write_index[c]]`

    so a layer norm followed by `rptq.reorder ... perm = P` is the layer norm
    with `write_index = inverse(P)` and gamma/beta reordered by `P`.

    ```mlir
    %y = rptq.layer_norm %x gamma(%g) beta(%b) eps = 1.000000e-05
        : (tensor<?x768xf32>, tensor<768xf32>, tensor<768xf32>) -> tensor<?x768xf32>
    %z = rptq.layer_norm %x eps = 1.000000e-05 write_index = [1, 0, 3, 2]
        : (tensor<?x4xf32>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       Optional<AnyRankedTensor>:$gamma,
                       Optional<AnyRankedTensor>:$beta,
                       F32Attr:$eps,
                       OptionalAttr<DenseI64ArrayAttr>:$write_index);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input (`gamma` `(` $gamma^ `)`)? (`beta` `(` $beta^ `)`)?
    `eps` `=` $eps (`write_index` `=` $write_index^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let builders = [
    // Result type = input type. gamma/beta may be null.
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$gamma,
                   "::mlir::Value":$beta, "float":$eps,
                   CArg<"::llvm::ArrayRef<int64_t>", "{}">:$writeIndex)>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// rptq.linear
//===----------------------------------------------------------------------===//

def Rptq_LinearOp : Rptq_Op<"linear", [Pure]> {
  let summary = "fully connected layer, y = x W^T + b";
  let description = [{
    The Hugging Face `nn.Linear` convention: `x : tensor<SxK>`,
    `weight : tensor<NxK>`, optional `bias : tensor<N>`, result `tensor<SxN>`.

    ```mlir
    %y = rptq.linear %x, %w, %b : (tensor<?x768xf32>, tensor<3072x768xf32>,
        tensor<3072xf32>) -> tensor<?x3072xf32>
    %z = rptq.linear %x, %w : (tensor<?x768xf32>, tensor<3072x768xf32>)
        -> tensor<?x3072xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight,
                       Optional<AnyRankedTensor>:$bias);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let builders = [
    // Infers the result type tensor<SxN> from input and weight; bias may be
    // null.
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$weight,
                   CArg<"::mlir::Value", "{}">:$bias)>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Elementwise
//===----------------------------------------------------------------------===//

def Rptq_ReluOp : Rptq_Op<"relu",
    [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "elementwise max(x, 0)";
  let description = [{
    ```mlir
    %y = rptq.relu %x : tensor<?x3072xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let builders = [
    // Result type = input type.
    OpBuilder<(ins "::mlir::Value":$input), [{
      build($_builder, $_state, input.getType(), input);
    }]>
  ];
  let hasVerifier = 1;
}

def Rptq_AddOp : Rptq_Op<"add",
    [Pure, Commutative, AllTypesMatch<["lhs", "rhs", "result"]>]> {
  let summary = "elementwise addition (residual connection)";
  let description = [{
    ```mlir
    %y = rptq.add %a, %b : tensor<?x768xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$lhs, AnyRankedTensor:$rhs);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
  let builders = [
    // Result type = lhs type.
    OpBuilder<(ins "::mlir::Value":$lhs, "::mlir::Value":$rhs), [{
      build($_builder, $_state, lhs.getType(), lhs, rhs);
    }]>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// rptq.attention
//===----------------------------------------------------------------------===//

def Rptq_AttentionOp : Rptq_Op<"attention", [Pure]> {
  let summary = "multi-head scaled dot-product attention";
  let description = [{
    `q : tensor<SqxD>`, `k, v : tensor<SkxD>` are split into `num_heads`
    heads of `D / num_heads` channels; per head
    `softmax(scale * q k^T [+ causal mask]) v`, heads concatenated back to
    `tensor<SqxD>`. With `causal`, query `i` sees keys `j <= i + (Sk - Sq)`.
    The Q/K/V/out projections are separate `rptq.linear` ops; the KV cache is
    a runtime concern.

    ```mlir
    %o = rptq.attention %q, %k, %v num_heads = 12 scale = 1.250000e-01 causal
        : (tensor<?x768xf32>, tensor<?x768xf32>, tensor<?x768xf32>)
        -> tensor<?x768xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$query, AnyRankedTensor:$key,
                       AnyRankedTensor:$value, I64Attr:$num_heads,
                       F32Attr:$scale, UnitAttr:$causal);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `num_heads` `=` $num_heads `scale` `=` $scale
    (`causal` $causal^)? attr-dict `:` functional-type(operands, results)
  }];
  let builders = [
    // Result type = query type.
    OpBuilder<(ins "::mlir::Value":$query, "::mlir::Value":$key,
                   "::mlir::Value":$value, "int64_t":$numHeads,
                   "float":$scale, "bool":$causal)>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// rptq.lm_head
//===----------------------------------------------------------------------===//

def Rptq_LmHeadOp : Rptq_Op<"lm_head", [Pure]> {
  let summary = "output projection to vocabulary logits, y = x W^T";
  let description = [{
    `x : tensor<SxD>`, `weight : tensor<VxD>` (OPT ties it to the token
    embedding table), result `tensor<SxV>`.

    ```mlir
    %logits = rptq.lm_head %x, %w
        : (tensor<?x768xf32>, tensor<50272x768xf32>) -> tensor<?x50272xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, AnyRankedTensor:$weight);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `,` $weight attr-dict `:` functional-type(operands, results)
  }];
  let builders = [
    // Infers the result type tensor<SxV>.
    OpBuilder<(ins "::mlir::Value":$input, "::mlir::Value":$weight)>
  ];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// rptq.quant_point
//===----------------------------------------------------------------------===//

// No traits on purpose: an op without memory effects would be merged by CSE
// when two points read the same value, and erased by the greedy rewriter once
// its result is unused; each point carries its own quantization parameters.
def Rptq_QuantPointOp : Rptq_Op<"quant_point",
    [AllTypesMatch<["input", "result"]>]> {
  let summary = "an activation quantized before it feeds a matrix multiply";
  let description = [{
    Identity on values; marks an activation that RPTQ quantizes. `layer` is
    the decoder layer and `point` one of `attn_norm_out`, `query`, `key`,
    `value`, `attn_out`, `ffn_norm_out`, `fc1_out`. The channels are those of
    the last dimension (size `C`, static).

    - `perm`: the channel order chosen by clustering, a permutation of
      `[0, C)`: channel `j` of the reordered tensor is input channel
      `perm[j]`. `--rptq-materialize-reorders` turns it into `rptq.reorder`
      ops around the point, which then sees its input in this order.
    - `cluster_sizes`: positive sizes of contiguous clusters of channels, in
      the order the point sees them, summing to `C`.
    - `bits` (2..16), `scales` and `zero_points` (one per cluster; one in all
      without `cluster_sizes`): the asymmetric uniform quantizer of each
      cluster.
    - `kv_cache`: the point is a key or value that goes into the KV cache.

    ```mlir
    %q = rptq.quant_point %x {layer = 0 : i64, point = "attn_norm_out"}
        : tensor<?x768xf32>
    %k = rptq.quant_point %y {kv_cache, layer = 0 : i64, point = "key",
        cluster_sizes = array<i64: 2, 2>, bits = 4 : i64,
        scales = array<f32: 0.5, 0.25>, zero_points = array<i64: 7, 8>}
        : tensor<?x4xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input,
                       I64Attr:$layer,
                       StrAttr:$point,
                       OptionalAttr<DenseI64ArrayAttr>:$perm,
                       OptionalAttr<DenseI64ArrayAttr>:$cluster_sizes,
                       OptionalAttr<I64Attr>:$bits,
                       OptionalAttr<DenseF32ArrayAttr>:$scales,
                       OptionalAttr<DenseI64ArrayAttr>:$zero_points,
                       UnitAttr:$kv_cache);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let builders = [
    // Result type = input type; no perm or quantization parameters yet.
    OpBuilder<(ins "::mlir::Value":$input, "int64_t":$layer,
                   "::llvm::StringRef":$point, "bool":$kvCache), [{
      build($_builder, $_state, input.getType(), input,
            $_builder.getI64IntegerAttr(layer), $_builder.getStringAttr(point),
            ::mlir::DenseI64ArrayAttr(), ::mlir::DenseI64ArrayAttr(),
            ::mlir::IntegerAttr(), ::mlir::DenseF32ArrayAttr(),
            ::mlir::DenseI64ArrayAttr(),
            kvCache ? $_builder.getUnitAttr() : ::mlir::UnitAttr());
    }]>
  ];
  let extraClassDeclaration = [{
    /// The names `point` may take, in the order of the layer's dataflow.
    static ::llvm::ArrayRef<::llvm::StringRef> pointNames();
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// rptq.reorder
//===----------------------------------------------------------------------===//

def Rptq_ReorderOp : Rptq_Op<"reorder", [Pure]> {
  let summary = "permutation of one dimension";
  let description = [{
    `result` is `input` with dimension `dim` indexed by `perm` (a permutation
    of that dimension's static size): `result[..., j, ...] =
    input[..., perm[j], ...]`. Reorders exist between
    `--rptq-materialize-reorders` and `--rptq-fold-reorders`, which folds them
    into weights (`row_perm`/`col_perm`) and layer norms (`write_index`).
    `reorder(reorder(x, A), B)` on one dimension is `reorder(x, C)` with
    `C[j] = A[B[j]]`; an identity reorder folds to its input.

    ```mlir
    %y = rptq.reorder %x dim = 1 perm = [2, 0, 1, 3]
        : (tensor<?x4xf32>) -> tensor<?x4xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, I64Attr:$dim,
                       DenseI64ArrayAttr:$perm);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = [{
    $input `dim` `=` $dim `perm` `=` $perm attr-dict `:`
    functional-type(operands, results)
  }];
  let builders = [
    // Result type = input type.
    OpBuilder<(ins "::mlir::Value":$input, "int64_t":$dim,
                   "::llvm::ArrayRef<int64_t>":$perm), [{
      build($_builder, $_state, input.getType(), input,
            $_builder.getI64IntegerAttr(dim),
            $_builder.getDenseI64ArrayAttr(perm));
    }]>
  ];
  let hasVerifier = 1;
  let hasFolder = 1;
}

#endif // RPTQ_OPS_TD
