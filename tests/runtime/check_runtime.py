"""End to end through the runtime (label `runtime`): compile small checkpoints into bundles, then
check with the public tools and the C API only that

  - the bundle's perplexity (samples/perplexity) equals the compiler's simulation of the same
    quantized model to 4 significant digits, for W4A8, W4A4, W4A16, W4A4KV and W8A8 (the kernels
    compute the simulation's integer arithmetic exactly; only float summation order differs);
  - compiles are deterministic, and a bundle streamed layer by layer (no evaluation) is the same
    model as one written after evaluation;
  - rptq-generate streams text and greedy generation is deterministic;
  - the ~30-line C sample (samples/embed-c) runs;
  - sessions on one model generate concurrently on several threads exactly as they do alone;
  - bad requests (empty prompt, prompt past the context, missing file, corrupt bundle) give a
    clear error and a non-zero exit, never a crash;
  - the runtime library is small (<= 1 MiB stripped) and links only the C/C++ runtime.
"""
import argparse
import os
import platform
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "oracle"))
import opt_oracle  # noqa: E402
from tally import Tally  # noqa: E402

SETTINGS = [("W4A8", []), ("W4A4", ["--wbits", "4", "--abits", "4"]), ("W4A16", ["--wbits", "4", "--abits", "16"]),
            ("W4A4KV", ["--wbits", "4", "--abits", "16", "--kv-bits", "4"]), ("W8A8", ["--wbits", "8", "--abits", "8"])]
ALLOWED_LIBS = ("libc.so", "libstdc++.so", "libm.so", "libgcc_s.so", "ld-linux", "linux-vdso",
                "libdl.so", "libpthread.so")


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, **kw)


def model_dir(work, shared):
    d = os.path.join(work, "model")
    if not os.path.exists(os.path.join(d, "model.safetensors")):
        opt_oracle.save(opt_oracle.make_model({"max_position_embeddings": 256}, seed=11), d)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(shared, "data", "opt-tokenizer", f), d)
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="directory with rptq-compile, rptq-perplexity, ...")
    ap.add_argument("--runtime-lib", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    tool = lambda name: os.path.join(a.bin, name)  # noqa: E731
    model = model_dir(a.work, a.shared)
    calib = os.path.join(a.shared, "data", "wikitext-2-raw", "original", "wiki.valid.raw")
    test = os.path.join(a.shared, "data", "wikitext-2-raw", "wiki.test.raw")
    t = Tally()

    # Native code is built for x86-64 with AVX2 or AVX-512 VNNI; elsewhere the generic kernels run.
    cpu_flags = open("/proc/cpuinfo").read() if os.path.exists("/proc/cpuinfo") else ""
    native_host = platform.machine() == "x86_64" and " avx2" in cpu_flags
    bundles = {}
    for name, flags in SETTINGS:
        out = os.path.join(a.work, f"model-{name}.rptq")
        r = run([tool("rptq-compile"), model, "--calib", calib, "--calib-samples", "16", "--calib-seqlen", "128",
                 "--clusters", "8", "--eval", test, "--max-windows", "8", "--max-tokens", "64", "-o", out]
                + (flags or ["--wbits", "4", "--abits", "8"]))
        m = re.search(r"perplexity float ([0-9.e+]+), \S+ ([0-9.e+]+)", r.stderr)
        ok = r.returncode == 0 and m is not None and os.path.exists(out)
        t.check(ok, f"{name}: rptq-compile writes a bundle ({r.stderr.strip()[-300:] if r.returncode else out})")
        if not ok:
            continue
        simulated = float(m.group(2))
        bundles[name] = out
        wbits = re.match(r"W(\d+)", name).group(1)
        info = run([tool("rptq-inspect"), out]).stdout
        t.check(f"q_proj W{wbits} " in info and f"settings {name}," in info,
                f"{name}: rptq-inspect shows {wbits}-bit weights and the setting")
        r = run([tool("rptq-perplexity"), out, test, "--max-windows", "8"])
        got = re.search(r"perplexity ([0-9.e+]+)", r.stdout)
        ppl = float(got.group(1)) if got else float("nan")
        t.check(r.returncode == 0 and abs(ppl - simulated) <= 1e-4 * simulated,
                f"{name}: bundle perplexity {ppl:.6g} equals the compiler's simulation {simulated:.6g} (4 digits)")
        # The bundle's native code and the runtime's generic kernels compute the same numbers.
        r2 = run([tool("rptq-perplexity"), out, test, "--max-windows", "8", "--generic-kernels"])
        got2 = re.search(r"perplexity ([0-9.e+]+)", r2.stdout)
        t.check(got and got2 and got.group(1) == got2.group(1),
                f"{name}: native and generic kernels give the same perplexity "
                f"({got.group(1) if got else r.stderr} vs {got2.group(1) if got2 else r2.stderr})")
        backend = run([tool("rptq-generate"), out, "Hi", "-n", "1", "--stats"]).stderr
        # Native code runs every step on codes: W4A16 has none (float activations and cache).
        codes = name != "W4A16"
        if native_host:
            t.check(("backend cpu native" in backend) == codes,
                    f"{name}: {'native code runs' if codes else 'no native code (weight-only)'}: "
                    f"{backend.strip()[-160:]}")

    bundle = bundles.get("W4A8")
    if bundle:
        # Without --eval the compiler streams each layer into the bundle and releases it: the
        # result must be the same model, and compiles must be deterministic.
        streamed = [os.path.join(a.work, f"streamed-{i}.rptq") for i in range(2)]
        for path in streamed:
            run([tool("rptq-compile"), model, "--calib", calib, "--calib-samples", "16", "--calib-seqlen", "128",
                 "--clusters", "8", "--max-tokens", "64", "--wbits", "4", "--abits", "8", "-o", path])
        same = all(os.path.exists(p) for p in streamed) and open(streamed[0], "rb").read() == open(streamed[1], "rb").read()
        t.check(same, "two compiles with the same inputs and flags give identical bundle bytes")
        r1 = run([tool("rptq-perplexity"), streamed[0], test, "--max-windows", "8"])
        r2 = run([tool("rptq-perplexity"), bundle, test, "--max-windows", "8"])
        p1, p2 = (re.search(r"perplexity ([0-9.e+]+)", r.stdout) for r in (r1, r2))
        t.check(p1 is not None and p2 is not None and p1.group(1) == p2.group(1),
                f"a bundle streamed layer by layer equals one emitted after evaluation: "
                f"{p1.group(1) if p1 else r1.stderr} vs {p2.group(1) if p2 else r2.stderr}")
        gen = [tool("rptq-generate"), bundle, "The history of the city", "-n", "24"]
        r1, r2 = run(gen), run(gen)
        t.check(r1.returncode == 0 and len(r1.stdout) > len("The history of the city") and r1.stdout == r2.stdout,
                f"greedy generation streams text and is deterministic: {r1.stdout.strip()[:80]!r}")
        r3 = run(gen + ["--generic-kernels"])
        t.check(r3.returncode == 0 and r3.stdout == r1.stdout,
                f"native and generic kernels generate the same tokens: {r3.stdout.strip()[:80]!r}")
        # A bundle without code for this host runs on the generic kernels, with the same tokens.
        plain = os.path.join(a.work, "generic.rptq")
        run([tool("rptq-compile"), model, "--calib", calib, "--calib-samples", "16", "--calib-seqlen", "128",
             "--clusters", "8", "--max-tokens", "64", "--wbits", "4", "--abits", "8", "--target", "generic",
             "-o", plain])
        info = run([tool("rptq-inspect"), plain]).stdout
        r4 = run(gen[:1] + [plain] + gen[2:] + ["--stats"])
        t.check("targets: none" in info and r4.returncode == 0 and r4.stdout == r1.stdout
                and "no native code for this host" in r4.stderr,
                f"--target generic: no kernel sections, generic kernels, same tokens: {r4.stderr.strip()[-120:]}")
        r = run(gen[:2] + ["A story", "-n", "16", "--temperature", "0.8", "--top-k", "40", "--top-p", "0.9",
                           "--seed", "3"])
        r2 = run(gen[:2] + ["A story", "-n", "16", "--temperature", "0.8", "--top-k", "40", "--top-p", "0.9",
                            "--seed", "3"])
        t.check(r.returncode == 0 and r.stdout == r2.stdout, "sampling with a seed is reproducible")
        r = run([tool("rptq-test-concurrent-sessions"), bundle])
        t.check(r.returncode == 0, f"concurrent sessions on one model: {r.stdout.strip()} {r.stderr.strip()}")
        r = run([tool("rptq-embed-c"), bundle, "Hello"])
        t.check(r.returncode == 0 and len(r.stdout.strip()) > 0,
                f"the C embedding sample runs: {r.stdout.strip()[:60]!r} {r.stderr.strip()[-200:]}")

        r = run([tool("rptq-generate"), bundle, ""])
        t.check(r.returncode == 1 and "empty" in r.stderr, f"empty prompt: {r.stderr.strip()}")
        r = run([tool("rptq-generate"), bundle, "word" + " word" * 249, "-n", "20", "--ignore-eos"])
        t.check(r.returncode == 0 and "context is full" in r.stderr,
                f"generation that reaches the end of the context stops cleanly: rc={r.returncode} {r.stderr.strip()}")
        r = run([tool("rptq-generate"), bundle, "word " * 400])
        t.check(r.returncode == 1 and "positions" in r.stderr, f"prompt past the context: {r.stderr.strip()}")
        r = run([tool("rptq-generate"), os.path.join(a.work, "missing.rptq"), "Hi"])
        t.check(r.returncode == 1 and "missing.rptq" in r.stderr, f"missing bundle: {r.stderr.strip()}")
        data = bytearray(open(bundle, "rb").read())
        for name, mutate in (("truncated", lambda b: b[: len(b) // 2]),
                             ("bit flip in the weights", lambda b: b[:5000] + bytes([b[5000] ^ 1]) + b[5001:])):
            bad = os.path.join(a.work, "bad.rptq")
            with open(bad, "wb") as f:
                f.write(mutate(bytes(data)))
            r = run([tool("rptq-generate"), bad, "Hi"])
            t.check(r.returncode == 1 and "bad.rptq" in r.stderr and "error" in r.stderr,
                    f"{name} bundle: {r.stderr.strip()}")

    stripped = os.path.join(a.work, "librptq_runtime.stripped.so")
    shutil.copy(a.runtime_lib, stripped)
    subprocess.run(["strip", "--strip-unneeded", stripped], check=True)
    size = os.path.getsize(stripped)
    t.check(size <= 1 << 20, f"runtime library is {size / 1024:.0f} KiB stripped (<= 1024 KiB)")
    deps = [line.split()[0] for line in run(["ldd", a.runtime_lib]).stdout.splitlines() if line.strip()]
    t.check(all(any(d.startswith(p) or p in d for p in ALLOWED_LIBS) for d in deps),
            f"runtime links only the C/C++ runtime: {deps}")
    sys.exit(t.finish())


if __name__ == "__main__":
    main()
