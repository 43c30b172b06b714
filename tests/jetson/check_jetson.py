"""Jetson (label `jetson`): the runtime cross-compiled for aarch64 (cmake/toolchains/jetson-aarch64.cmake)
and run under qemu-aarch64 gives what the x86-64 build gives.

  1. configures and builds the runtime, the samples and the runtime's unit tests for aarch64 into
     --cross-build, and runs those unit tests under qemu (CMAKE_CROSSCOMPILING_EMULATOR);
  2. compiles one model with the host's rptq-compile for --target x86-64,aarch64 (a bundle with
     AVX-512/AVX2 and NEON dot-product kernel sections);
  3. checks that the aarch64 runtime loads the NEON code, that its perplexity equals the x86-64
     one to 3 significant digits (the issue's bar; in practice they agree to ~1e-6: integer sums
     are exact and the float code is contraction-free on both) and equals its own generic kernels',
     and that greedy generation gives the same first 32 tokens on both;
  4. reports the stripped size of the aarch64 runtime library and of the bundle.
"""
import argparse
import os
import shutil
import re
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "oracle"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "runtime"))
from check_runtime import model_dir  # noqa: E402  (the runtime test's model)
from tally import Tally  # noqa: E402

CROSS_TARGETS = ["rptq_runtime", "rptq-perplexity", "rptq-generate", "rptq-embed-c", "rptq-inspect",
                 "cpu_kernels_test", "bundle_test", "bundle_corruption_test", "tokenizer_test"]
UNIT_TESTS = ["cpu_kernels_test", "bundle_test", "bundle_corruption_test", "tokenizer_test"]


def run(cmd, timeout=1800, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, **kw)


def perplexity(r):
    m = re.search(r"perplexity ([0-9.e+]+)", r.stdout)
    return float(m.group(1)) if r.returncode == 0 and m else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True)
    ap.add_argument("--bin", required=True, help="the host build's bin directory (rptq-compile, ...)")
    ap.add_argument("--cross-build", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared", required=True)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    t = Tally()
    sysroot = "/usr/aarch64-linux-gnu"
    qemu = ["qemu-aarch64", "-L", sysroot]

    r = run(["cmake", "-S", a.source, "-B", a.cross_build, "-G", "Ninja", "-DCMAKE_BUILD_TYPE=Release",
             "-DRPTQ_WITH_MLIR=OFF", "-DCMAKE_TOOLCHAIN_FILE=" + os.path.join(a.source, "cmake", "toolchains",
                                                                              "jetson-aarch64.cmake")])
    t.check(r.returncode == 0, f"configure the aarch64 build: {r.stderr.strip()[-400:]}")
    r = run(["cmake", "--build", a.cross_build, "-j2", "--target"] + CROSS_TARGETS, timeout=3000)
    t.check(r.returncode == 0, f"cross-compile the runtime, samples and unit tests: {r.stdout.strip()[-600:]}")
    if r.returncode != 0:
        sys.exit(t.finish())
    cross_bin = os.path.join(a.cross_build, "bin")
    for name in UNIT_TESTS:
        r = run(qemu + [os.path.join(cross_bin, name)], cwd=a.cross_build)
        last = (r.stdout.strip().splitlines() or [""])[-1]
        t.check(r.returncode == 0 and "passed" in last, f"{name} under qemu-aarch64: {last}")

    model = model_dir(a.work, a.shared)
    calib = os.path.join(a.shared, "data", "wikitext-2-raw", "original", "wiki.valid.raw")
    test = os.path.join(a.shared, "data", "wikitext-2-raw", "wiki.test.raw")
    bundle = os.path.join(a.work, "model-W4A8.rptq")
    # jetson-orin: the NEON code and, where nvcc is installed, sm_87 CUDA code.
    nvcc = shutil.which(os.environ.get("RPTQ_NVCC", "nvcc")) or os.path.exists("/usr/local/cuda/bin/nvcc")
    targets = "x86-64,jetson-orin" if nvcc else "x86-64,aarch64"
    r = run([os.path.join(a.bin, "rptq-compile"), model, "--calib", calib, "--calib-samples", "16", "--calib-seqlen",
             "128", "--clusters", "8", "--max-tokens", "64", "--wbits", "4", "--abits", "8", "--target",
             targets, "-o", bundle])
    t.check(r.returncode == 0, f"rptq-compile --target {targets}: {r.stderr.strip()[-300:]}")
    if r.returncode != 0:
        sys.exit(t.finish())
    info = run([os.path.join(a.bin, "rptq-inspect"), bundle]).stdout
    t.check("CpuAarch64 elf-shared-object abi 1 isa neon-dotprod" in info, "the bundle has an aarch64 NEON section")
    if nvcc:
        t.check("CudaSm87 fatbin" in info and "sm_87 cubin (ELF: sm_87)" in info,
                "the bundle has Orin's sm_87 CUDA code (cubin header checked)")
    else:
        print("note: no nvcc here, so the bundle carries no sm_87 code (the cuda.bundle test says the same)")

    windows = ["--max-windows", "4"]
    x86 = perplexity(run([os.path.join(a.bin, "rptq-perplexity"), bundle, test] + windows))
    arm = perplexity(run(qemu + [os.path.join(cross_bin, "rptq-perplexity"), bundle, test] + windows))
    arm_generic = perplexity(run(qemu + [os.path.join(cross_bin, "rptq-perplexity"), bundle, test, "--generic-kernels"]
                                 + windows))
    t.check(abs(arm - x86) <= 5e-4 * x86, f"aarch64 perplexity {arm:.6f} equals x86-64's {x86:.6f} (3 digits)")
    t.check(arm == arm_generic, f"aarch64 native and generic kernels agree: {arm:.6f} vs {arm_generic:.6f}")

    prompt = ["The history of the city", "-n", "32"]
    g_x86 = run([os.path.join(a.bin, "rptq-generate"), bundle] + prompt)
    g_arm = run(qemu + [os.path.join(cross_bin, "rptq-generate"), bundle] + prompt + ["--stats"])
    t.check("backend cpu native (neon-dotprod" in g_arm.stderr, f"aarch64 runs the NEON code: {g_arm.stderr.strip()[-150:]}")
    t.check(g_x86.returncode == 0 and g_arm.returncode == 0 and g_x86.stdout == g_arm.stdout,
            f"greedy generation, first 32 tokens, same on both: {g_arm.stdout.strip()[:80]!r}")

    lib = os.path.realpath(os.path.join(a.cross_build, "runtime", "api", "librptq_runtime.so"))
    stripped = os.path.join(a.work, "librptq_runtime.aarch64.so")
    r = run(["aarch64-linux-gnu-strip", "--strip-unneeded", "-o", stripped, lib])
    size = os.path.getsize(stripped) if r.returncode == 0 else 1 << 30
    t.check(size <= 1 << 20, f"aarch64 runtime library is {size / 1024:.0f} KiB stripped (<= 1024 KiB); "
                             f"the W4A8 bundle is {os.path.getsize(bundle) / 2**20:.1f} MiB")
    sys.exit(t.finish())


if __name__ == "__main__":
    main()
