"""Parity of the reference executor with Hugging Face transformers OPTForCausalLM.

For every checkpoint variant (and the trained checkpoints in ../shared/models when present) the
logits of rptq-logits must match transformers in fp32:

    max over positions of  max_j |ours - hf| / max_j |hf|   <=  1e-4

Relative to each position's largest logit rather than element-wise, because element-wise relative
error is meaningless for logits near zero; 1e-4 leaves room for a different (but correct) fp32
summation order in GEMMs and softmax over a few hundred terms, while any real bug (a wrong
position offset, a missing bias, pre/post-LN swapped) gives errors of order 1.

Incremental decoding through the KV cache must equal the full forward pass to the same bound.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "oracle"))
import opt_oracle  # noqa: E402
from tally import Tally  # noqa: E402

TOL = 1e-4


def rel_err(ours, ref):
    scale = np.maximum(np.abs(ref).max(axis=1), 1e-30)
    return float((np.abs(ours - ref).max(axis=1) / scale).max())


def run_tool(tool, model_dir, ids, prefill, vocab):
    with tempfile.NamedTemporaryFile(suffix=".f32") as f:
        cmd = [tool, model_dir, "--tokens", ",".join(map(str, ids)), "--out", f.name]
        if prefill:
            cmd += ["--prefill", str(prefill)]
        subprocess.run(cmd, check=True)
        return np.fromfile(f.name, dtype=np.float32).reshape(len(ids), vocab)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--work", help="directory for generated checkpoints (default: a temp dir)")
    a = ap.parse_args()

    work = a.work or tempfile.mkdtemp(prefix="rptq-parity-")
    models = []
    for name in sorted(opt_oracle.VARIANTS):
        d = os.path.join(work, name)
        if not os.path.exists(os.path.join(d, "config.json")):
            opt_oracle.write_variant(name, d, seed=len(models))
        models.append((name, d))
    shared_models = os.path.join(a.shared, "models")
    if os.path.isdir(shared_models):
        for name in sorted(os.listdir(shared_models)):
            d = os.path.join(shared_models, name)
            if os.path.exists(os.path.join(d, "config.json")):
                models.append(("shared/" + name, d))
    else:
        print(f"note: {shared_models} does not exist yet; parity runs on random-init checkpoints only")

    tally = Tally()
    rng = np.random.default_rng(1234)
    for name, d in models:
        model = opt_oracle.load_fp32(d)
        vocab = model.config.vocab_size
        n = min(40, model.config.max_position_embeddings)
        ids = [2] + rng.integers(4, vocab, size=n - 1).tolist()
        ref = opt_oracle.logits(model, ids)
        for mode, prefill in (("full", 0), ("incremental", n // 2)):
            try:
                ours = run_tool(a.tool, d, ids, prefill, vocab)
                err = rel_err(ours, ref)
                ok = err <= TOL
            except subprocess.CalledProcessError as e:
                err, ok = f"tool failed ({e.returncode})", False
            tally.check(ok, f"{name} {mode}: max rel err {err} (tol {TOL})")
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
