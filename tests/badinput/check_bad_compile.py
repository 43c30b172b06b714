"""Bad calibration data, flags and models given to rptq-compile: each must exit non-zero with a
clear error naming the file or flag and the problem, never crash, and leave no output file (nor a
temporary one) behind. A good compile in the same directory checks that the cases fail for the
stated reason and not for a broken setup."""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "oracle"))
import opt_oracle  # noqa: E402
from tally import Tally  # noqa: E402


def tiny_model(work, shared):
    d = os.path.join(work, "model")
    if not os.path.exists(os.path.join(d, "model.safetensors")):
        opt_oracle.save(opt_oracle.make_model({}, seed=5), d)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(shared, "data", "opt-tokenizer", f), d)
    return d


def unsupported_model(work, good):
    d = os.path.join(work, "unsupported")
    shutil.rmtree(d, ignore_errors=True)
    shutil.copytree(good, d)
    with open(os.path.join(d, "config.json")) as f:
        cfg = json.load(f)
    cfg["activation_function"] = "gelu"
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f)
    return d


def write(path, data):
    with open(path, "wb") as f:
        f.write(data)
    return path


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    model = tiny_model(a.work, a.shared)
    text = open(os.path.join(a.shared, "data", "wikitext-2-raw", "original", "wiki.valid.raw"), "rb").read()
    good_calib = write(os.path.join(a.work, "calib.txt"), text[:200_000])
    empty = write(os.path.join(a.work, "empty.txt"), b"")
    short = write(os.path.join(a.work, "short.txt"), b"A sentence far shorter than one calibration sample.\n")
    latin1 = write(os.path.join(a.work, "latin1.txt"), text[:5000] + "caf\xe9 na\xefve".encode("latin-1") + text[5000:20000])
    bad_ids = write(os.path.join(a.work, "ids.txt"), b"1 2 3 999999 5\n")
    shape = ["--calib-samples", "2", "--calib-seqlen", "64"]
    small = shape + ["--wbits", "4", "--abits", "4"]

    # (name, arguments, text the error must contain)
    cases = [
        ("empty calibration file", [model, "--calib", empty] + small, empty),
        ("calibration text shorter than one sample", [model, "--calib", short] + small, short),
        ("calibration text not UTF-8", [model, "--calib", latin1] + small, latin1),
        ("calibration file missing", [model, "--calib", os.path.join(a.work, "nope.txt")] + small, "nope.txt"),
        ("token id outside the vocabulary", [model, "--calib-ids", bad_ids] + small, "999999"),
        ("--clusters 0", [model, "--calib", good_calib, "--clusters", "0"] + small, "--clusters"),
        ("--clusters -3", [model, "--calib", good_calib, "--clusters", "-3"] + small, "--clusters"),
        ("--clusters above the channel count", [model, "--calib", good_calib, "--clusters", "100000"] + small,
         "--clusters"),
        ("--head-clusters above the head size", [model, "--calib", good_calib, "--head-clusters", "17"] + small,
         "--head-clusters"),
        ("--cluster-align 0", [model, "--calib", good_calib, "--cluster-align", "0"] + small, "--cluster-align"),
        ("--cluster-align not dividing the channels", [model, "--calib", good_calib, "--cluster-align", "48"] + small,
         "--cluster-align 48"),
        ("--wbits 1", [model, "--calib", good_calib] + shape + ["--wbits", "1"], "weight bits"),
        ("--wbits 9", [model, "--calib", good_calib] + shape + ["--wbits", "9"], "weight bits"),
        ("--abits 1", [model, "--calib", good_calib] + shape + ["--abits", "1"], "activation bits"),
        ("--kv-bits 12", [model, "--calib", good_calib] + small + ["--kv-bits", "12"], "KV-cache bits"),
        ("--calib-seqlen past the context", [model, "--calib", good_calib, "--calib-samples", "2",
                                             "--calib-seqlen", "100000"], "context"),
        ("--calib-samples 0", [model, "--calib", good_calib, "--calib-samples", "0", "--calib-seqlen", "64"],
         "samples"),
        ("unsupported model (gelu)", [unsupported_model(a.work, model), "--calib", good_calib] + small, "gelu"),
        ("model directory missing", [os.path.join(a.work, "no-model"), "--calib", good_calib] + small, "no-model"),
        ("unknown --target", [model, "--calib", good_calib, "--target", "x86-64,tpu"] + small, "tpu"),
    ]

    t = Tally()
    out = os.path.join(a.work, "out.mlir")

    def leftovers():
        return sorted(f for f in os.listdir(a.work) if f.startswith("out.mlir") or f.startswith("report.html"))

    for name, args, needle in cases:
        for f in leftovers():
            os.remove(os.path.join(a.work, f))
        r = subprocess.run([a.tool] + args + ["-o", out, "--report", os.path.join(a.work, "report.html"),
                                               "--eval", good_calib, "--max-windows", "1"],
                           capture_output=True, text=True, timeout=600)
        err = r.stderr.strip()
        lines = err.splitlines()
        ok = (r.returncode == 1 and len(lines) >= 1 and "error" in lines[-1] and needle in lines[-1]
              and not leftovers())
        t.check(ok, f"{name}: rc={r.returncode}, leftovers={leftovers()}, stderr: {lines[-1] if lines else ''}")

    # The native kernels are built last, after every layer was streamed into the bundle's temporary
    # file: a missing host compiler must still leave nothing behind.
    bundle = os.path.join(a.work, "out.rptq")
    r = subprocess.run([a.tool, model, "--calib", good_calib] + small + ["--target", "x86-64", "--host-cxx",
                       os.path.join(a.work, "no-such-c++"), "-o", bundle], capture_output=True, text=True, timeout=600)
    lines = r.stderr.strip().splitlines()
    left = sorted(f for f in os.listdir(a.work) if f.startswith("out.rptq"))
    t.check(r.returncode == 1 and lines and "no-such-c++" in lines[-1] and not left,
            f"missing host compiler: rc={r.returncode}, leftovers={left}, stderr: {lines[-1] if lines else ''}")

    r = subprocess.run([a.tool, model, "--calib", good_calib] + small + ["-o", out], capture_output=True,
                       text=True, timeout=600)
    t.check(r.returncode == 0 and os.path.exists(out) and "rptq.quant_point" in open(out).read(),
            f"the same flags with good input compile: rc={r.returncode} {r.stderr.strip()[-300:]}")

    # --cluster-align: the LayerNorm and fc1 outputs' clusters in multiples of it; per-head ones free.
    r = subprocess.run([a.tool, model, "--calib", good_calib] + small + ["--cluster-align", "16", "-o", out],
                       capture_output=True, text=True, timeout=600)
    sizes = {}
    if r.returncode == 0:
        for m in re.finditer(r'cluster_sizes = array<i64: ([0-9, ]+)>.*?point = "(\w+)"', open(out).read()):
            sizes.setdefault(m.group(2), []).extend(int(v) for v in m.group(1).split(","))
    aligned = ("attn_norm_out", "ffn_norm_out", "fc1_out")
    t.check(r.returncode == 0 and all(sizes.get(p) for p in aligned) and
            all(v % 16 == 0 for p in aligned for v in sizes[p]) and any(v % 16 for v in sizes.get("attn_out", [])),
            f"--cluster-align 16: rc={r.returncode}, cluster sizes {sizes} {r.stderr.strip()[-300:]}")
    sys.exit(t.finish())


if __name__ == "__main__":
    main()
