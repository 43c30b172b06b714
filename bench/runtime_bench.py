"""Benchmark (issue 4): prefill and decode speed of W4A8 and W4A4 bundles against the fp32
reference executor and Hugging Face transformers (fp32, PyTorch CPU) on the same model, in one run,
plus the decode figure against the memory-bandwidth bound, peak RSS, bundle and runtime sizes, and
the compile cost (wall time, peak memory) of each bundle.

The model is an opt-125m-shaped checkpoint (random weights are fine for speed; until trained
checkpoints are in ../shared/models). Bundles are calibrated on random token ids, which changes
nothing about speed. Writes <out>/runtime_speed.json and prints a Markdown table.

    build/venv/bin/python bench/runtime_bench.py --bin build/ci/bin --shared ../shared --out build/ci/bench
"""
import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import float_reference  # noqa: E402


def compile_bundle(tool, model, out, flags, samples):
    cmd = [tool, model, "--calib-random", "--calib-samples", str(samples), "--calib-seqlen", "512"] + flags + ["-o", out]
    r = subprocess.run(cmd, capture_output=True, text=True, check=True)
    m = re.search(r"rptq-compile: ([0-9.]+) s, peak resident ([0-9]+) MiB \(private memory at most ([0-9]+) MiB", r.stderr)
    return dict(command=" ".join(cmd), seconds=float(m.group(1)), peak_rss_mib=int(m.group(2)),
                peak_private_mib=int(m.group(3)), bundle_bytes=os.path.getsize(out))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--shape", default="125m", choices=sorted(float_reference.SHAPES))
    ap.add_argument("--prefill", type=int, default=512)
    ap.add_argument("--decode", type=int, default=64)
    ap.add_argument("--calib-samples", type=int, default=16)
    a = ap.parse_args()
    os.makedirs(a.out, exist_ok=True)
    tool = lambda name: os.path.join(a.bin, name)  # noqa: E731
    model = float_reference.ensure_model(os.path.join(a.out, "models", f"opt-{a.shape}-random"), a.shape, a.shared)
    float_reference.ensure_tokenizer(model, a.shared)
    text_path = os.path.join(a.shared, "data", "wikitext-2-raw", "wiki.test.raw")

    result = dict(benchmark="runtime_speed", model=os.path.basename(model),
                  machine=dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count()),
                  prefill_tokens=a.prefill, decode_tokens=a.decode, bundles={})
    for setting, flags in (("W4A8", ["--wbits", "4", "--abits", "8"]), ("W4A4", ["--wbits", "4", "--abits", "4"])):
        path = os.path.join(a.out, f"{result['model']}-{setting}.rptq")
        compiled = compile_bundle(tool("rptq-compile"), model, path, flags, a.calib_samples)
        # --compare-generic: the same bundle on the runtime's generic kernels too, runs interleaved, so
        # the ratio shows what the model-specialized code buys under the same machine conditions.
        run = json.loads(subprocess.run([tool("rptq-bench-runtime"), path, "--text", text_path, "--prefill",
                                         str(a.prefill), "--decode", str(a.decode), "--compare-generic"],
                                        capture_output=True, text=True, check=True).stdout)
        result["bundles"][setting] = dict(compile=compiled, run=run)

    # The fp32 reference executor and transformers, same model, same window.
    ref = json.loads(subprocess.run([tool("rptq-bench-float"), model, "--text", text_path, "--window",
                                     str(a.prefill), "--max-windows", "1", "--decode-tokens", str(a.decode)],
                                    capture_output=True, text=True, check=True).stdout)
    with open(text_path, encoding="utf-8", newline="") as f:
        hf = float_reference.hf_run(model, f.read(), a.prefill, 1, a.decode)
    result["rptq_fp32_reference"] = ref
    result["transformers_fp32"] = hf

    lib = os.path.join(os.path.dirname(a.bin.rstrip("/")), "runtime", "api", "librptq_runtime.so")
    with tempfile.TemporaryDirectory() as tmp:
        stripped = os.path.join(tmp, "lib.so")
        shutil.copy(os.path.realpath(lib), stripped)
        subprocess.run(["strip", "--strip-unneeded", stripped], check=True)
        result["runtime_library_bytes_stripped"] = os.path.getsize(stripped)
    for s, b in result["bundles"].items():
        r = b["run"]
        b["decode_vs_transformers"] = r["decode_tokens_per_s"] / hf["decode_tokens_per_s"]
        b["prefill_vs_transformers"] = r["prefill_tokens_per_s"] / hf["prefill_tokens_per_s"]
        b["decode_vs_fp32_reference"] = r["decode_tokens_per_s"] / ref["decode_tokens_per_s"]
        b["prefill_vs_fp32_reference"] = r["prefill_tokens_per_s"] / ref["prefill_tokens_per_s"]
        b["decode_fraction_of_bandwidth_bound"] = r["decode_tokens_per_s"] / r["decode_bound_tokens_per_s"]
        b["native_vs_generic"] = dict(prefill=r["prefill_tokens_per_s"] / r["generic_prefill_tokens_per_s"],
                                      decode=r["decode_tokens_per_s"] / r["generic_decode_tokens_per_s"])
    result["reproduce"] = " ".join([sys.executable] + sys.argv)
    with open(os.path.join(a.out, "runtime_speed.json"), "w") as f:
        json.dump(result, f, indent=2)

    print(f"| {result['model']}, {result['machine']['cores']} cores | prefill tok/s ({a.prefill}) | "
          f"decode tok/s | decode vs transformers | decode / bandwidth bound | peak RSS MiB | bundle MiB |")
    print("|---|---|---|---|---|---|---|")
    for s, b in result["bundles"].items():
        r = b["run"]
        print(f"| rptq {s} ({r['backend']}) | {r['prefill_tokens_per_s']:.1f} | {r['decode_tokens_per_s']:.1f} | "
              f"{b['decode_vs_transformers']:.2f}x | {b['decode_fraction_of_bandwidth_bound']:.0%} of "
              f"{r['decode_bound_tokens_per_s']:.0f} | {r['peak_rss_bytes'] / 2**20:.0f} | "
              f"{b['compile']['bundle_bytes'] / 2**20:.1f} |")
    for s, b in result["bundles"].items():
        r = b["run"]
        print(f"| rptq {s}, generic kernels | {r['generic_prefill_tokens_per_s']:.1f} | "
              f"{r['generic_decode_tokens_per_s']:.1f} | "
              f"{r['generic_decode_tokens_per_s'] / hf['decode_tokens_per_s']:.2f}x | | | |")
    print(f"| rptq fp32 reference | {ref['prefill_tokens_per_s']:.1f} | {ref['decode_tokens_per_s']:.1f} | "
          f"{ref['decode_tokens_per_s'] / hf['decode_tokens_per_s']:.2f}x | | | |")
    print(f"| transformers fp32 | {hf['prefill_tokens_per_s']:.1f} | {hf['decode_tokens_per_s']:.1f} | 1.00x | | | |")
    print(f"runtime library {result['runtime_library_bytes_stripped'] / 1024:.0f} KiB stripped; compile: " +
          ", ".join(f"{s} {b['compile']['seconds']:.0f} s / {b['compile']['peak_rss_mib']} MiB peak"
                    for s, b in result["bundles"].items()))
    print(f"reproduce: {result['reproduce']}")


if __name__ == "__main__":
    main()
