"""The CUDA targets end to end (label `cuda`), in two parts:

  --part bundle (any machine with nvcc; no GPU needed):
    - rptq-compile --target h100,jetson-orin,x86-64 builds a bundle whose CUDA sections hold an
      sm_90 and an sm_87 cubin (checked here by parsing the fatbin containers and the cubins' ELF
      headers: e_machine 190 = EM_CUDA, SM in bits 8..15 of e_flags) plus compute_90/compute_87
      PTX; cuobjdump must list the same;
    - the compile is deterministic (same bytes twice);
    - on a machine without a GPU or driver the bundle still runs, on the CPU, and says why;
    - the machine code is what the kernels were written for (cuobjdump -sass; NVIDIA's wheels in
      the venv where the toolkit has no cuobjdump): tensor-core instructions in the tensor-core
      kernels (mma.sync u8 on sm_90 and sm_87, int4 on sm_87 for W4A4, wgmma on sm_90a with
      --cuda-wgmma, and no full wgmma wait at a loop's back edge, which would serialize the
      stages), 16-byte weight loads and dp4a in the decode kernels, f16 mma in prefill attention,
      and no local memory (spills) anywhere.
  --part emulated (any machine with nvcc): the runtime's CUDA backend end to end without a GPU:
    the bundle loads through a stand-in libcuda (tests/cuda/fake_driver.cc) that runs the bundle's
    steps built for the CPU; perplexity (one 64-token window) and 16 greedy tokens must equal the
    CPU backend's as on a GPU, for W4A8 and for W3A6 with weight groups of 32. A model with a
    320-token byte-level vocabulary keeps the emulated LM head small.
  --part gpu (exits 77, ctest's skip code, without a GPU; --bundle runs it on a bundle compiled
  elsewhere, as on the GPU machine, which cannot run rptq-compile):
    - the CUDA bundle's WikiText-2 perplexity equals the CPU's to 3 significant digits;
    - greedy generation gives the same first 32 tokens on the GPU and the CPU for sample prompts.
"""
import argparse
import json
import os
import shutil
import re
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "oracle"))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "runtime"))
from tally import Tally  # noqa: E402
from sass import disassemble, opcode, sass_tool, serializing_waits  # noqa: E402

SKIP = 77
FATBIN_MAGIC = 0xBA55ED50
EM_CUDA = 190
PROMPTS = ["The history of the city", "In 1998, the band released", "The game was"]


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, timeout=1800, **kw)


def have_nvcc():
    """Whether rptq-compile will find nvcc (codegen/cuda/nvcc.cc: $RPTQ_NVCC, the toolkit, PATH)."""
    return bool(shutil.which(os.environ.get("RPTQ_NVCC", "nvcc"))) or os.path.exists("/usr/local/cuda/bin/nvcc")


def fatbins(data):
    """Every fatbin container in the bundle's bytes (sections are 64-byte aligned): a list of
    (offset, [(kind, sm, payload bytes)])."""
    found = []
    for off in range(0, len(data) - 16, 64):
        if struct.unpack_from("<I", data, off)[0] != FATBIN_MAGIC:
            continue
        _, version, header, size = struct.unpack_from("<IHHQ", data, off)
        if version != 1 or header != 16 or off + header + size > len(data):
            continue
        entries, at, end = [], off + header, off + header + size
        while at + 32 <= end:
            kind, _, entry_header, payload = struct.unpack_from("<HHIQ", data, at)
            sm = struct.unpack_from("<I", data, at + 28)[0]
            entries.append((kind, sm, data[at + entry_header:at + entry_header + payload]))
            at += entry_header + payload
        found.append((off, entries))
    return found


def elf_sm(payload):
    if payload[:4] != b"\x7fELF" or payload[4] != 2:
        return None
    machine = struct.unpack_from("<H", payload, 18)[0]
    flags = struct.unpack_from("<I", payload, 48)[0]
    return (flags >> 8) & 0xFF if machine == EM_CUDA else None


def fatbin_files(data):
    """Each fatbin container in the bundle's bytes as a temporary file: yields (offset, path)."""
    for off, _ in fatbins(data):
        size = struct.unpack_from("<Q", data, off + 8)[0] + 16
        with tempfile.NamedTemporaryFile(suffix=".fatbin") as f:
            f.write(data[off:off + size])
            f.flush()
            yield off, f.name


def sass(data, tool):
    """sass.disassemble of every fatbin in the bundle's bytes."""
    kernels = {}
    for _, path in fatbin_files(data):
        kernels.update(disassemble(path, tool))
    return kernels


def check_sass(t, kernels, label, arch, expect):
    """Every `arch` kernel without local memory; expect: [(which kernels, name test, instructions
    (leading mnemonic parts) each of them must have)]."""
    mine = {name: [op for _, op in code] for (a, name), code in kernels.items() if a == arch}
    t.check(mine, f"{label}: cuobjdump shows {arch} kernels (found {sorted({a for a, _ in kernels})})")
    local = sorted(n for n, code in mine.items() if any(opcode(op) in ("LDL", "STL") for op in code))
    t.check(not local, f"{label}: no {arch} kernel uses local memory (spills) ({len(mine)} kernels; these do: {local})")
    for which, test, needs in expect:
        named = sorted(n for n in mine if test(n, mine))
        for need in needs:
            lacking = [n for n in named if not any(re.match(r"(@\S+ )?" + re.escape(need), op) for op in mine[n])]
            t.check(named and not lacking, f"{label}: every {arch} {which} kernel ({len(named)}) has {need} "
                                           f"(these do not: {lacking})")


def compile_bundle(a, model, out, targets, setting=("--wbits", "4", "--abits", "8")):
    calib = os.path.join(a.shared, "data", "wikitext-2-raw", "original", "wiki.valid.raw")
    return run([os.path.join(a.bin, "rptq-compile"), model, "--calib", calib, "--calib-samples", "16",
                "--calib-seqlen", "128", "--clusters", "8", "--max-tokens", "64", *setting,
                "--target", targets, "-o", out])


def part_bundle(a, t, model):
    if not have_nvcc():
        print("SKIP: no nvcc on this machine: the CUDA kernels cannot be compiled")
        return SKIP
    bundle = os.path.join(a.work, "model-cuda.rptq")
    r = compile_bundle(a, model, bundle, "h100,jetson-orin,x86-64")
    t.check(r.returncode == 0, f"rptq-compile --target h100,jetson-orin,x86-64: {r.stderr.strip()[-600:]}")
    if r.returncode != 0:
        return t.finish()
    data = open(bundle, "rb").read()
    containers = fatbins(data)
    t.check(len(containers) == 2, f"the bundle holds two fatbins (found {len(containers)})")
    cubins = sorted(elf_sm(p) for _, entries in containers for kind, _, p in entries if kind == 2)
    ptx = sorted(sm for _, entries in containers for kind, sm, _ in entries if kind == 1)
    t.check(cubins == [87, 90], f"ELF cubins for sm_87 and sm_90 (headers say {cubins})")
    t.check(ptx == [87, 90], f"PTX for compute_87 and compute_90 (found {ptx})")
    info = run([os.path.join(a.bin, "rptq-inspect"), bundle]).stdout
    t.check("CudaSm90 fatbin" in info and "CudaSm87 fatbin" in info, "rptq-inspect lists both CUDA sections")
    check_machine_code(a, t, model, data)
    again = os.path.join(a.work, "model-cuda-again.rptq")
    r = compile_bundle(a, model, again, "h100,jetson-orin,x86-64")
    t.check(r.returncode == 0 and open(again, "rb").read() == data, "the CUDA compile is deterministic")

    gen = run([os.path.join(a.bin, "rptq-generate"), bundle, PROMPTS[0], "-n", "8", "--stats"])
    t.check(gen.returncode == 0, f"the CUDA bundle generates: {gen.stderr.strip()[-300:]}")
    backend = gen.stderr.strip().splitlines()[-1] if gen.stderr.strip() else ""
    if "backend cuda" not in backend:
        t.check("CUDA code is not used: " in backend, f"without a GPU it runs on the CPU and says why: {backend}")
    return t.finish()


def check_machine_code(a, t, model, data):
    tool = sass_tool()
    t.check(tool is not None, "cuobjdump and nvdisasm are on PATH or in the venv (scripts/install-deps.sh)")
    if tool is None:
        return
    for off, path in fatbin_files(data):
        listed = run([tool[0], "--list-elf", "--list-ptx", path], env=tool[1]).stdout
        t.check("sm_90" in listed or "sm_87" in listed, f"cuobjdump lists the fatbin at {off}: {listed.strip()}")

    def kind(suffix):
        return lambda name, _: name.endswith(suffix)

    def mma(name, _):
        return name.endswith("_mma")

    def integer_decode(name, names):  # the decode kernel of a step on activation codes (it has _mma)
        return name.endswith("_decode") and name[:-len("_decode")] + "_mma" in names

    tensor_cores = [("linear _mma", mma, ["IMMA.16832.U8.U8"]), ("linear _decode", kind("_decode"), ["LDG.E.128"]),
                    ("integer _decode", integer_decode, ["IDP.4A"]),
                    ("attention _prefill", kind("_prefill"), ["HMMA.16816.F32"])]
    kernels = sass(data, tool)
    for arch in ("sm_90", "sm_87"):
        check_sass(t, kernels, "W4A8", arch, tensor_cores)
    t.check(not any("GMMA" in op for (arch, _), code in kernels.items() for _, op in code),
            "W4A8: no wgmma without --cuda-wgmma")
    # W4A4 on Orin: int4 tensor cores. --cuda-wgmma on H100: wgmma, its stages overlapping.
    for label, targets, setting, arch, expect in (
            ("W4A4", "jetson-orin", ("--wbits", "4", "--abits", "4"), "sm_87",
             [("linear _mma", mma, ["IMMA.16864.U4.U4"])]),
            ("W4A8 --cuda-wgmma", "h100", ("--wbits", "4", "--abits", "8", "--cuda-wgmma"), "sm_90a",
             [("linear _mma", mma, ["IGMMA.64x128x32.U8.U8"])])):
        bundle = os.path.join(a.work, f"model-{arch}.rptq")
        r = compile_bundle(a, model, bundle, targets, setting)
        t.check(r.returncode == 0, f"{label}: rptq-compile --target {targets}: {r.stderr.strip()[-400:]}")
        if r.returncode != 0:
            continue
        kernels = sass(open(bundle, "rb").read(), tool)
        check_sass(t, kernels, label, arch, expect)
        if arch == "sm_90a":  # (multi-stage loops: here fc2's, whose input is 4 x 64 channels)
            waits = {name: w for (_, name), code in sorted(kernels.items()) if (w := serializing_waits(code))}
            t.check(not waits, f"{label}: no kernel closes a wgmma loop with a full wait ({waits})")


def perplexity(a, bundle, extra):
    out = os.path.join(a.work, "ppl.json")
    test = os.path.join(a.shared, "data", "wikitext-2-raw", "wiki.test.raw")
    r = run([os.path.join(a.bin, "rptq-perplexity"), bundle, test, "--max-windows", "8", "--json", out] + extra)
    if r.returncode != 0:
        return None, r.stderr.strip()
    j = json.load(open(out))
    return j["perplexity"], j["backend"]


def gpu_count():
    """CUDA devices the driver sees (0 without a driver), asked before anything is compiled."""
    import ctypes
    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    n = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(n)) != 0:
        return 0
    return n.value


def part_gpu(a, t, model):
    bundle = a.bundle or os.path.join(a.work, "model-cuda.rptq")
    if not a.bundle:
        r = compile_bundle(a, model, bundle, "h100,jetson-orin,x86-64")
        if r.returncode != 0:
            print(f"SKIP: cannot compile the CUDA bundle here: {r.stderr.strip()[-300:]}")
            return SKIP
    gpu, backend = perplexity(a, bundle, [])
    if gpu is None or not backend.startswith("cuda"):
        print(f"SKIP: no GPU run here ({backend})")
        return SKIP
    cpu, cpu_backend = perplexity(a, bundle, ["--cpu"])
    t.check(cpu is not None and abs(gpu - cpu) <= 5e-4 * cpu,
            f"perplexity on the GPU {gpu:.6f} equals the CPU's {cpu} (3 significant digits; {backend} vs "
            f"{cpu_backend})")
    for prompt in PROMPTS:
        cmd = [os.path.join(a.bin, "rptq-generate"), bundle, prompt, "-n", "32", "--ignore-eos"]
        g = subprocess.run(cmd, capture_output=True, timeout=1800)  # bytes: tokens need not be UTF-8
        c = subprocess.run(cmd + ["--cpu"], capture_output=True, timeout=1800)
        t.check(g.returncode == 0 and g.stdout == c.stdout,
                f"greedy, 32 tokens, GPU = CPU for {prompt!r}: {g.stdout.strip()[:60]!r} vs {c.stdout.strip()[:60]!r}")
    return t.finish()


def byte_level_model(work):
    """A random OPT whose vocabulary is the 256 byte symbols (GPT-2's byte-to-unicode alphabet) and
    the four specials, with no merges: every byte is a token."""
    import opt_oracle
    d = os.path.join(work, "model-bytes")
    if os.path.exists(os.path.join(d, "model.safetensors")):
        return d
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for c in cs:
        vocab[chr(c)] = len(vocab)
    opt_oracle.save(opt_oracle.make_model({"vocab_size": 320, "max_position_embeddings": 128}, seed=5), d)
    with open(os.path.join(d, "vocab.json"), "w") as f:
        json.dump(vocab, f)
    with open(os.path.join(d, "merges.txt"), "w") as f:
        f.write("#version: 0.2\n")
    return d


def part_emulated(a, t):
    fake, tool = os.environ.get("RPTQ_FAKE_CUDA_DRIVER"), os.environ.get("RPTQ_EMULATION_MODULE_TOOL")
    if not fake or not tool:
        print("SKIP: RPTQ_FAKE_CUDA_DRIVER / RPTQ_EMULATION_MODULE_TOOL not set (ctest sets them)")
        return SKIP
    if not have_nvcc():
        print("SKIP: no nvcc on this machine: no CUDA code to load")
        return SKIP
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "oracle"))
    model = byte_level_model(a.work)
    # W4A8 per output channel, and 3-bit weights in groups of 32 with 6-bit activations (U4 codes
    # with group scales, clusters cut at group boundaries in the tensor-core and decode kernels).
    for name, setting in (("W4A8", ("--wbits", "4", "--abits", "8")),
                          ("W3A6 g32", ("--wbits", "3", "--abits", "6", "--group-size", "32"))):
        emulated_setting(a, t, fake, tool, model, name, setting, profile=name == "W4A8")
    # The prefill linear on wgmma (--cuda-wgmma), emulated as generated, and on the int4 tensor cores
    # that sm_87 code uses for W4A4: perplexity only (a 64-token window is one prefill through it;
    # decode's kernels are the same as above).
    emulated_setting(a, t, fake, tool, model, "W4A8 wgmma", ("--wbits", "4", "--abits", "8", "--cuda-wgmma"),
                     variant="--wgmma")
    emulated_setting(a, t, fake, tool, model, "W4A4 int4 mma", ("--wbits", "4", "--abits", "4"), variant="--int4-mma")
    return t.finish()


def emulated_setting(a, t, fake, tool, model, name, setting, profile=False, variant=None):
    tag = name.replace(" ", "-")
    bundle = os.path.join(a.work, f"model-bytes-{tag}.rptq")
    r = compile_bundle(a, model, bundle, "h100,x86-64", setting)
    t.check(r.returncode == 0, f"{name}: rptq-compile --target h100,x86-64: {r.stderr.strip()[-400:]}")
    if r.returncode != 0:
        return
    module = os.path.join(a.work, f"model-bytes-{tag}-emulated.so")
    r = run([tool, bundle, module] + ([variant] if variant else []))
    t.check(r.returncode == 0, f"{name}: the bundle's CUDA steps built for the CPU: {r.stderr.strip()[-400:]}")
    if r.returncode != 0:
        return
    env = dict(os.environ, RPTQ_CUDA_DRIVER=fake, RPTQ_FAKE_CUDA_MODULE=module)
    test = os.path.join(a.shared, "data", "wikitext-2-raw", "wiki.test.raw")
    out = os.path.join(a.work, "ppl.json")
    ppl = {}
    for backend, extra in (("cuda", []), ("cpu", ["--cpu"])):
        r = run([os.path.join(a.bin, "rptq-perplexity"), bundle, test, "--window", "64", "--max-windows", "1",
                 "--json", out] + extra, env=env)
        t.check(r.returncode == 0, f"{name}: rptq-perplexity ({backend}): {r.stderr.strip()[-300:]}")
        if r.returncode == 0:
            ppl[backend] = json.load(open(out))
    if len(ppl) == 2:
        gpu, cpu = ppl["cuda"]["perplexity"], ppl["cpu"]["perplexity"]
        t.check(ppl["cuda"]["backend"].startswith("cuda sm_90 (emulated sm_90)"),
                f"{name}: the CUDA backend ran: {ppl['cuda']['backend']}")
        t.check(abs(gpu - cpu) <= 5e-4 * cpu, f"{name}: perplexity through the CUDA backend {gpu:.6f} equals the "
                                                f"CPU's {cpu:.6f} (3 significant digits)")
    if variant:
        return
    # 16 tokens: the emulated blocks cost ~2 s a token on 2 cores. The prompt (<s> and 23 bytes) is a
    # prefill of >= 16 rows (the tensor-core kernels), the tokens after it decode's kernels.
    cmd = [os.path.join(a.bin, "rptq-generate"), bundle, PROMPTS[0], "-n", "16", "--ignore-eos"]
    # Bytes, not text: a random model's tokens need not be valid UTF-8.
    g = subprocess.run(cmd, capture_output=True, env=env, timeout=1800)
    c = subprocess.run(cmd + ["--cpu"], capture_output=True, env=env, timeout=1800)
    t.check(g.returncode == 0 and g.stdout == c.stdout,
            f"{name}: greedy, 16 tokens (prefill, then the captured decode graph), CUDA backend = CPU: {g.stdout!r} "
            f"vs {c.stdout!r}")
    if profile:
        # RPTQ_CUDA_PROFILE: one stream, no graph, every step timed (the stand-in's times are 0);
        # the same tokens, and a profile with every kind of step that ran.
        path = os.path.join(a.work, "profile.json")
        p = subprocess.run(cmd, capture_output=True, env=dict(env, RPTQ_CUDA_PROFILE=path), timeout=1800)
        t.check(p.returncode == 0 and p.stdout == c.stdout, f"{name}: profiled (one stream, no graph): the same tokens")
        try:
            steps = json.load(open(path))["steps"]
        except (OSError, ValueError, KeyError) as e:
            steps = {}
            t.check(False, f"{name}: the profile is written as JSON: {e}")
        for key in ("embed prefill", "linear QProj prefill", "attention prefill", "linear Fc2 decode",
                    "attention decode", "lm_head decode"):
            t.check(steps.get(key, {}).get("calls", 0) > 0, f"{name}: the profile counts '{key}' calls: {sorted(steps)}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", choices=["bundle", "gpu", "emulated"], required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--shared", required=True)
    ap.add_argument("--bundle", help="--part gpu: a bundle compiled elsewhere (where rptq-compile cannot run)")
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)
    t = Tally()
    if a.part == "gpu" and gpu_count() == 0:
        print("SKIP: no CUDA driver or GPU on this machine")
        sys.exit(SKIP)
    if a.part == "emulated":
        sys.exit(part_emulated(a, t))
    model = None
    if not a.bundle:  # the oracle (torch, transformers) is needed only to make the model
        from check_runtime import model_dir
        model = model_dir(a.work, a.shared)
    sys.exit(part_bundle(a, t, model) if a.part == "bundle" else part_gpu(a, t, model))


if __name__ == "__main__":
    main()
