#!/usr/bin/env python3
"""Independent GPTQ reference for tests/unit/gptq_test.cc.

A direct, unoptimised transcription of GPTQ (Frantar et al. 2022, `GPTQ.fasterquant` of the
reference code) in float64 numpy (torch would cost a second of import per run): H⁻¹ from a
Cholesky factorization (as torch.cholesky_inverse), then the upper Cholesky factor of H⁻¹; columns
quantized one at a time (no lazy batching), each rounding error pushed onto all later columns at
once. The C++ version uses a different but equivalent factorization and blocked updates, so
agreement checks both.

Quantizer: the project's asymmetric min-max one (runtime/include/rptq/quant_math.h), in float32 as
the C++ does it: range widened to include 0, scale = (max - min) / (2^b - 1) (1 when the range is
empty), zero = round(-min / scale) clamped, q = clamp(round(x / scale) + zero), x̂ = (q - zero) * scale,
round-half-to-even (np.round).

Choices shared with the C++ (documented in compiler/quant/weight_quant.h): dead columns (H_ii == 0)
are zeroed before any range is taken; act_order sorts by decreasing diag(H) with a stable sort;
act_order with groups uses static groups (ranges from the original weights of each group).

usage: gptq_reference.py W.f32 H.f64 OUT IN BITS GROUP_SIZE ACT_ORDER DAMP RESULT_DIR
  W: float32 [OUT, IN] row-major raw, H: float64 [IN, IN] row-major raw.
  Writes RESULT_DIR/codes.u8 and RESULT_DIR/dequantized.f32 ([OUT, IN], original column order).
"""
import os
import sys

import numpy as np


class MinMax:
    """Per-row quantizer of the columns it is given (float32 arithmetic, as AffineQuant)."""

    def __init__(self, x, bits):  # x: float64 [rows, cols]
        self.qmax = np.float32(2**bits - 1)
        lo = np.minimum(x.min(axis=1).astype(np.float32), np.float32(0))
        hi = np.maximum(x.max(axis=1).astype(np.float32), np.float32(0))
        scale = (hi - lo) / self.qmax
        scale[~(scale > 0) | ~np.isfinite(scale)] = np.float32(1)
        self.scale = scale.astype(np.float32)
        self.zero = np.clip(np.round(-lo / self.scale), 0, self.qmax).astype(np.float32)

    def codes(self, col):  # col: float64 [rows]
        v = np.round(col.astype(np.float32) / self.scale) + self.zero
        return np.clip(v, 0, self.qmax).astype(np.int32)

    def dequantize(self, codes):
        return ((codes - self.zero.astype(np.int32)).astype(np.float32) * self.scale).astype(np.float32)


def gptq(W, H, bits, groupsize, actorder, percdamp):
    rows, columns = W.shape
    W = W.astype(np.float64)
    H = 0.5 * (H + H.T)
    dead = np.diag(H) == 0
    H[dead, dead] = 1
    W[:, dead] = 0

    static = actorder and groupsize > 0
    if groupsize == 0:
        row_quant = MinMax(W, bits)
    if static:
        groups = [MinMax(W[:, i:i + groupsize], bits) for i in range(0, columns, groupsize)]

    perm = np.arange(columns)
    if actorder:
        perm = np.argsort(-np.diag(H), kind="stable")
        W = W[:, perm]
        H = H[perm][:, perm]
    invperm = np.argsort(perm)

    damp = percdamp * np.mean(np.diag(H))
    H[range(columns), range(columns)] += damp
    L = np.linalg.cholesky(H)
    Linv = np.linalg.inv(L)
    Hinv = np.linalg.cholesky(Linv.T @ Linv).T  # upper Cholesky factor of H⁻¹

    codes = np.zeros((rows, columns), dtype=np.int32)
    deq = np.zeros((rows, columns), dtype=np.float32)
    quant = row_quant if groupsize == 0 else None
    for j in range(columns):
        if groupsize > 0:
            if static:
                quant = groups[perm[j] // groupsize]
            elif j % groupsize == 0:
                quant = MinMax(W[:, j:j + groupsize], bits)
        c = quant.codes(W[:, j])
        q = quant.dequantize(c)
        codes[:, j] = c
        deq[:, j] = q
        err = (W[:, j] - q.astype(np.float64)) / Hinv[j, j]
        W[:, j:] -= np.outer(err, Hinv[j, j:])
    return codes[:, invperm], deq[:, invperm]


def main():
    w_path, h_path, out, inn, bits, group, act, damp, result = sys.argv[1:10]
    out, inn, bits, group = int(out), int(inn), int(bits), int(group)
    W = np.fromfile(w_path, dtype="<f4").reshape(out, inn)
    H = np.fromfile(h_path, dtype="<f8").reshape(inn, inn)
    codes, deq = gptq(W, H, bits, group, act == "1", float(damp))
    codes.astype(np.uint8).tofile(os.path.join(result, "codes.u8"))
    deq.astype("<f4").tofile(os.path.join(result, "dequantized.f32"))


if __name__ == "__main__":
    main()
