"""Numeric check of the reorder folding: evaluates rptq modules (generic form, as printed by
`rptq-opt --mlir-print-op-generic`) in float64 with random weights drawn per weight NAME, so two
modules that read the same checkpoint tensors under different permutations can be compared.

    eval_rptq.py REFERENCE.mlir CANDIDATE.mlir [--tokens N]

Prints the maximum of |candidate - reference| / max|reference| over the logits and `OK` when it is
below 1e-9 (float64: an exact refactoring of the computation), `MISMATCH` otherwise. A weight's
row_perm/col_perm and a layer norm's write_index follow the rptq dialect's definitions, which is
what this checks: the folded module must compute the float model's function.
"""

import argparse
import re
import sys
import zlib

import numpy as np

OP_RE = re.compile(r'^\s*(?:(%[\w#]+) = )?"([\w.]+)"\(([^)]*)\)(.*)$')


def split_top(s, sep=","):
    """Splits at `sep` outside brackets and quotes."""
    parts, depth, cur, quoted, i = [], 0, [], False, 0
    while i < len(s):
        c = s[i]
        if quoted:
            cur.append(c)
            if c == "\\":
                cur.append(s[i + 1])
                i += 1
            elif c == '"':
                quoted = False
        elif c == '"':
            quoted = True
            cur.append(c)
        elif c in "<[({":
            depth += 1
            cur.append(c)
        elif c in ">])}":
            depth -= 1
            cur.append(c)
        elif c == sep and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
        else:
            cur.append(c)
        i += 1
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


def parse_value(v):
    m = re.fullmatch(r"array<i\d+(?::\s*(.*))?>", v)
    if m:
        return [int(x) for x in m.group(1).split(",")] if m.group(1) else []
    m = re.fullmatch(r'"(.*)"', v)
    if m:
        return m.group(1).encode().decode("unicode_escape")
    m = re.fullmatch(r"(\S+) : [if]\d+", v)
    if m:
        return float(m.group(1)) if "." in m.group(1) or "E" in m.group(1) else int(m.group(1))
    return v


def parse_attrs(rest):
    """The attribute dictionary that follows the operand list, if any."""
    rest = rest.strip()
    if not rest.startswith("{"):
        return {}
    depth = 0
    for i, c in enumerate(rest):
        depth += c in "{<[("
        depth -= c in "}>])"
        if depth == 0:
            body = rest[1:i]
            break
    attrs = {}
    for item in split_top(body):
        if " = " in item:
            k, v = item.split(" = ", 1)
            attrs[k.strip()] = parse_value(v.strip())
        else:
            attrs[item.strip()] = True
    return attrs


def load_ops(path):
    ops = []
    with open(path) as f:
        for line in f:
            m = OP_RE.match(line)
            if not m or not (m.group(2).startswith("rptq.") or m.group(2) == "func.return"):
                continue
            operands = [o.strip() for o in m.group(3).split(",") if o.strip()]
            ops.append((m.group(1), m.group(2), operands, parse_attrs(m.group(4)), line))
    return ops


def result_shape(line):
    m = re.search(r"-> tensor<([^>]*)>\s*$", line)
    return [int(d) for d in m.group(1).split("x")[:-1]]


def stored(name, shape, cache={}):
    if name not in cache:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        cache[name] = rng.standard_normal(shape) * 0.5 + (1.0 if name.endswith("layer_norm.weight") else 0.0)
    return cache[name]


def layer_norm(x, gamma, beta, eps, write_index):
    n = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + eps)
    y = np.empty_like(n)
    w = np.arange(x.shape[-1]) if write_index is None else np.asarray(write_index)
    y[:, w] = n  # column write_index[c] gets normalized channel c
    if gamma is not None:
        y = y * gamma + beta  # gamma/beta are in output-column order
    return y


def attention(q, k, v, heads, scale, causal):
    sq, d = q.shape
    sk = k.shape[0]
    hd = d // heads
    out = np.empty_like(q)
    for h in range(heads):
        sl = slice(h * hd, (h + 1) * hd)
        s = scale * q[:, sl] @ k[:, sl].T
        if causal:
            s = np.where(np.arange(sk)[None, :] <= np.arange(sq)[:, None] + (sk - sq), s, -np.inf)
        p = np.exp(s - s.max(-1, keepdims=True))
        out[:, sl] = (p / p.sum(-1, keepdims=True)) @ v[:, sl]
    return out


def run(path, ids, positions):
    env = {"%arg0": ids, "%arg1": positions}
    for res, name, operands, a, line in load_ops(path):
        x = [env[o] for o in operands]
        op = name[len("rptq."):]
        if name == "func.return":
            return x[0]
        if op == "weight":
            t = stored(a["name"], result_shape(line))
            if "row_perm" in a:
                t = t[np.asarray(a["row_perm"])]
            if "col_perm" in a:
                t = t[:, np.asarray(a["col_perm"])]
            y = t
        elif op == "embedding":
            y = x[1][x[0]]
        elif op == "position_embedding":
            y = x[1][x[0] + a["offset"]]
        elif op == "layer_norm":
            seg = a["operand_segment_sizes"]
            gamma = x[1] if seg[1] else None
            beta = x[1 + seg[1]] if seg[2] else None
            y = layer_norm(x[0], gamma, beta, a["eps"], a.get("write_index"))
        elif op == "linear":
            y = x[0] @ x[1].T + (x[2] if len(x) > 2 else 0.0)
        elif op == "lm_head":
            y = x[0] @ x[1].T
        elif op == "relu":
            y = np.maximum(x[0], 0.0)
        elif op == "add":
            y = x[0] + x[1]
        elif op == "attention":
            y = attention(x[0], x[1], x[2], a["num_heads"], a["scale"], "causal" in a)
        elif op == "quant_point":
            y = x[0]
        elif op == "reorder":
            y = np.take(x[0], np.asarray(a["perm"]), axis=a["dim"])
        else:
            sys.exit("eval_rptq.py: unknown op " + name)
        env[res] = y
    sys.exit("eval_rptq.py: no func.return in " + path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("reference")
    ap.add_argument("candidate")
    ap.add_argument("--tokens", type=int, default=7)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    ids = rng.integers(0, 50000, args.tokens)
    positions = np.arange(args.tokens)
    want = run(args.reference, ids, positions)
    got = run(args.candidate, ids, positions)
    err = float(np.abs(got - want).max() / np.abs(want).max())
    print("max relative error: %.3g" % err)
    print("OK" if err < 1e-9 else "MISMATCH")


if __name__ == "__main__":
    main()
