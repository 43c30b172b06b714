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

    ```mlir
    %w = rptq.weight "decoder.layers.0.fc1.weight" : tensor<3072x768xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
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
    RPTQ channel reorder into the layer norm: channel `c` of the normalized
    output is written to column `write_index[c]` of the result.

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

#endif // RPTQ_OPS_TD
