"""What the tensor-core linear kernels cost in instructions, read from their machine code (no GPU):
    build/venv/bin/python bench/sass_report.py --bin build/ci/bin --shapes 6.7b \
        --out build/ci/bench/sass/6.7b.json
rptq-bench-cuda-kernels --emit-source writes the GEMM table's module (each shape's linears, W4A8
and W4A4, clusters as the bench draws them), nvcc builds it for sm_90 (mma.sync), sm_90a (wgmma,
--cuda-wgmma) and sm_87 (Orin: int4 mma for W4A4) with the product's flags, cuobjdump (NVIDIA's
wheels in the venv) disassembles it. Per `_mma` kernel: the instructions one warp issues for a
k-step inside one segment (sass.whole_step_path: flushes and segment splits excluded), how many
of them are tensor-core instructions, registers and spill bytes (ptxas). The tensor cores need
4 issue slots' time per m16n8k32 IMMA, and 64 per m64n128k32 IGMMA per warpgroup (H100, dense
int8), so the path's length against that says how far issue alone keeps the kernel from them.
With --source, another module instead (e.g. `cuda_kernels_test --emit-source k.cu`: every kind of
step); its tensor-core prefill attention kernels (`_prefill`) are reported too: the instructions of
one warp's loop over 64-key tiles (every path, so the causal diagonal's too) and its HMMAs (an
m16n8k16 f16 HMMA needs ~4 issue slots' time of the tensor core).
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tests", "cuda"))
from sass import disassemble, loop_body, mma_loops, sass_tool, whole_step_path  # noqa: E402

ARCHS = {"sm_90": ("90", False), "sm_90a": ("90a", True), "sm_87": ("87", False)}


def build(source, arch, nvcc, work):
    """(cubin path, {kernel: (registers, spill bytes)}) of `source` for one architecture."""
    number, wgmma = ARCHS[arch]
    cu = os.path.join(work, f"kernels_{arch}.cu")
    with open(cu, "w") as f:
        f.write(("#define RPTQ_WGMMA 1\n" if wgmma else "") + source)
    cubin = os.path.join(work, f"kernels_{arch}.cubin")
    # The flags of codegen/cuda/nvcc.cc, plus ptxas's report.
    r = subprocess.run([nvcc, "-cubin", "-std=c++17", "-O3", "-w", "-Xptxas", "-v", "-gencode",
                        f"arch=compute_{number},code=sm_{number}", "-I", os.path.join(ROOT, "codegen", "cuda"),
                        "-I", os.path.join(ROOT, "runtime"), cu, "-o", cubin], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"nvcc for {arch}: {r.stderr[-2000:]}")
    resources = {}
    for name, body in re.findall(r"Compiling entry function '(\w+)' for '\w+'\n(.*?)(?=ptxas info    : Compiling|\Z)",
                                 r.stderr, re.S):
        regs = re.search(r"Used (\d+) registers", body)
        spill = re.search(r"(\d+) bytes spill stores", body)
        resources[name] = (int(regs.group(1)) if regs else None, int(spill.group(1)) if spill else 0)
    return cubin, resources


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="directory with rptq-bench-cuda-kernels")
    ap.add_argument("--shapes", default="6.7b")
    ap.add_argument("--source", help="a module's CUDA source to read instead of the GEMM table's")
    ap.add_argument("--archs", default="sm_90,sm_90a,sm_87")
    ap.add_argument("--nvcc", default=os.environ.get("RPTQ_NVCC", "/usr/local/cuda/bin/nvcc"))
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    tool = sass_tool()
    if tool is None:
        sys.exit("no cuobjdump / nvdisasm: scripts/install-deps.sh puts NVIDIA's wheels in the venv")
    with tempfile.TemporaryDirectory() as work:
        source_path = a.source or os.path.join(work, "kernels.cu")
        if not a.source:
            subprocess.run([os.path.join(a.bin, "rptq-bench-cuda-kernels"), "--shapes", a.shapes, "--emit-source",
                            source_path], capture_output=True, text=True)
        if not os.path.exists(source_path):
            sys.exit("rptq-bench-cuda-kernels wrote no source")
        source = open(source_path).read()
        # Which step is which: the module's steps in the bench's order (shape, layer, A8/A4, aligned).
        steps = {}
        for n, body in re.findall(r"struct Step(\d+) \{\n(.*?)\n\};", source, re.S):
            dims = dict(re.findall(r"static constexpr \w+ (kIn|kOut|kInMax) = (\d+);", body))
            steps[f"rptq_step_{n}_mma"] = f"{dims.get('kIn')}->{dims.get('kOut')} A{int(dims.get('kInMax', 0)).bit_length()}"
        rows = []
        for arch in a.archs.split(","):
            cubin, resources = build(source, arch, a.nvcc, work)
            for (_, name), code in sorted(disassemble(cubin, tool).items()):
                regs, spill = resources.get(name, (None, None))
                loops = mma_loops(code) if name.endswith("_prefill") else []
                if loops:
                    ops, length = loop_body(code, loops[-1])
                    rows.append({"arch": arch, "kernel": name, "key_tile_loop_instructions": length,
                                 "tensor_core_instructions": ops["HMMA"], "registers": regs, "spill_bytes": spill,
                                 "opcodes": dict(ops.most_common())})
                    print(f"{arch:7} {name:18} {'attention':18} {length:4} instructions per key tile, "
                          f"{ops['HMMA']:3} HMMA, {regs} registers, {spill} bytes spilled")
                if not name.endswith("_mma"):
                    continue
                ops, length = whole_step_path(code)
                mma = ops["IMMA"] + ops["IGMMA"]
                row = {"arch": arch, "kernel": name, "step": steps.get(name), "whole_step_instructions": length,
                       "tensor_core_instructions": mma, "registers": regs, "spill_bytes": spill,
                       "opcodes": dict(ops.most_common())}
                rows.append(row)
                print(f"{arch:7} {name:18} {row['step'] or '':18} {length:4} instructions, {mma:2} mma, "
                      f"{regs} registers, {spill} bytes spilled")
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out, "w") as f:
        json.dump({"shapes": a.shapes, "command": " ".join(sys.argv), "kernels": rows}, f, indent=1)


if __name__ == "__main__":
    main()
