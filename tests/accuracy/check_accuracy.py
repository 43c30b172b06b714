"""The accuracy table (issue 3): WikiText-2 perplexity of the float model and of each setting for
RPTQ and both baselines, with quantization simulated exactly as the kernels compute it. Writes
build/<preset>/bench/accuracy.json and checks the bars:

  - folding alone (every permutation folded, nothing quantized) leaves the logits unchanged:
    max |Δlogit| / max |logit| <= 1e-5 (fp32 GEMMs reassociate; a wrong permutation is O(1));
  - RPTQ W4A8 within 5% of the float perplexity;
  - RPTQ better than both baselines at A4 and below (W4A4, W4A4KV, W4A3KV): at least --margin
    (default 1%) lower perplexity than the better baseline. Both are evaluated on the same tokens,
    so the comparison is paired; on the tiny trained model with planted outliers RPTQ leads the
    no-reorder baseline by about 2% and the per-tensor one by far more (bench/README.md).

The model is the smallest trained checkpoint under ../shared/models when there is one; until
then a tiny OPT trained here on WikiText-2 valid (tests/oracle/train_tiny_opt.py) with
function-preserving outlier channels. Calibration text is WikiText-2 train when shared/ has it,
else WikiText-2 valid; evaluation is always WikiText-2 test.
"""
import argparse
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "oracle"))
from tally import Tally  # noqa: E402

SETTINGS = ["W4A16", "W4A8", "W4A4", "W4A4KV", "W4A3KV"]
METHODS = ["rptq", "per_tensor", "no_reorder"]


def pick_model(shared, work, python):
    models = os.path.join(shared, "models")
    if os.path.isdir(models):
        found = []
        for name in sorted(os.listdir(models)):
            d = os.path.join(models, name)
            if os.path.exists(os.path.join(d, "config.json")):
                found.append((sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d)), d))
        if found:
            return min(found)[1], "shared"
    d = os.path.join(work, "models", "opt-tiny-wikitext")
    subprocess.run([python, os.path.join(os.path.dirname(__file__), "..", "oracle", "train_tiny_opt.py"), d,
                    "--shared", shared], check=True)
    return d, "trained here (tests/oracle/train_tiny_opt.py)"


def calibration_text(shared):
    for rel in ("wikitext-2-raw/wiki.train.raw", "wikitext-2-raw/original/wiki.train.raw",
                "wikitext-2-raw/original/wiki.valid.raw"):
        p = os.path.join(shared, "data", rel)
        if os.path.exists(p):
            return p
    raise SystemExit("no calibration text under " + shared)


def table(result):
    head = "| method | float | " + " | ".join(SETTINGS) + " |"
    lines = [head, "|" + "---|" * (len(SETTINGS) + 2)]
    for m in METHODS:
        cells = [f"{result['settings'][s][m]:.2f}" for s in SETTINGS]
        lines.append(f"| {m} | {result['float']:.2f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", required=True, help="accuracy.json")
    ap.add_argument("--work", required=True)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--calib-samples", type=int, default=128)
    ap.add_argument("--max-windows", type=int, default=100, help="0: the whole test set")
    ap.add_argument("--margin", type=float, default=0.01)
    a = ap.parse_args()

    model, origin = pick_model(a.shared, a.work, a.python)
    with open(os.path.join(model, "config.json")) as f:
        context = json.load(f)["max_position_embeddings"]
    cmd = [a.tool, model, "--calib", calibration_text(a.shared),
           "--eval", os.path.join(a.shared, "data", "wikitext-2-raw", "wiki.test.raw"), "--out", a.out,
           "--settings", ",".join(SETTINGS), "--methods", ",".join(METHODS),
           "--calib-samples", str(a.calib_samples), "--calib-seqlen", str(min(512, context)),
           "--max-windows", str(a.max_windows)]
    ptb = os.path.join(a.shared, "data", "ptb", "ptb.test.txt")
    if os.path.exists(ptb):
        cmd += ["--also-eval", ptb]
    print("+ " + " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)
    with open(a.out) as f:
        r = json.load(f)
    r["model_origin"] = origin
    r["command"] = " ".join(cmd)
    with open(a.out, "w") as f:
        json.dump(r, f, indent=2)
    print(f"\nmodel {r['model']} ({origin}), WikiText-2 test perplexity:\n" + table(r) + "\n", flush=True)
    for path, other in r.get("other_datasets", {}).items():
        print(f"{os.path.basename(path)}:\n" + table(other) + "\n", flush=True)

    t = Tally()
    t.check(r["fold_logits_error"] <= 1e-5,
            f"folding alone leaves the logits unchanged: {r['fold_logits_error']:.2e} <= 1e-5")
    t.check(r["max_fold_error"] <= 1e-5, f"every folded layer matches the float layer: {r['max_fold_error']:.2e}")
    w4a8 = r["settings"]["W4A8"]["rptq"]
    t.check(w4a8 <= 1.05 * r["float"], f"RPTQ W4A8 {w4a8:.2f} within 5% of float {r['float']:.2f}")
    for s in ("W4A4", "W4A4KV", "W4A3KV"):
        row = r["settings"][s]
        best = min(row["per_tensor"], row["no_reorder"])
        t.check(row["rptq"] <= (1 - a.margin) * best,
                f"{s}: RPTQ {row['rptq']:.2f} at least {a.margin:.0%} below the better baseline {best:.2f} "
                f"(per_tensor {row['per_tensor']:.2f}, no_reorder {row['no_reorder']:.2f})")
    sys.exit(t.finish())


if __name__ == "__main__":
    main()
