"""The machine code (SASS) of CUDA kernels, read with cuobjdump, for the checks that need no GPU:
tests/cuda/check_cuda.py (what the bundle's kernels are made of) and bench/sass_report.py (what a
tensor-core kernel's k-step costs in instructions)."""
import collections
import os
import re
import shutil
import subprocess
import sysconfig


def sass_tool():
    """cuobjdump (with nvdisasm beside it): on PATH as on the GPU machine, else from NVIDIA's
    nvidia-cuda-cuobjdump / nvidia-cuda-nvdisasm wheels in this venv. Returns (path, env) or None."""
    wheels = os.path.join(sysconfig.get_paths()["purelib"], "nvidia", "cu13", "bin")
    path = os.environ.get("PATH", "") + os.pathsep + wheels
    exe = shutil.which("cuobjdump", path=path)
    return (exe, dict(os.environ, PATH=path)) if exe and shutil.which("nvdisasm", path=path) else None


def disassemble(path, tool):
    """{(arch, kernel): [(address, instruction), ...]} of every cubin in a cubin or fatbin file."""
    exe, env = tool
    text = subprocess.run([exe, "-sass", path], capture_output=True, text=True, env=env, timeout=600).stdout
    kernels = {}
    for arch, body in re.findall(r"code for (sm_\w+)\n(.*?)(?=\n\s*code for |\Z)", text, re.S):
        for name, code in re.findall(r"Function : (\S+)\n(.*?)(?=\n\s*Function : |\Z)", body, re.S):
            kernels[(arch, name)] = [(int(at, 16), " ".join(ins.split()))
                                     for at, ins in re.findall(r"/\*([0-9a-f]{4,})\*/\s+([^;]*);", code)]
    return kernels


def opcode(ins):
    """The mnemonic's first part ("IMMA" of "@P1 IMMA.16832.U8.U8 ...")."""
    words = ins.split(" ")
    return (words[1] if words[0].startswith("@") and len(words) > 1 else words[0]).split(".")[0]


def branch_target(ins):
    m = re.search(r"BRA (0x[0-9a-f]+)", ins)
    return int(m.group(1), 16) if m else None


def is_mma(ins):
    return opcode(ins) in ("IMMA", "IGMMA", "HMMA")


def serializing_waits(code):
    """Full wgmma waits (WARPGROUP.DEPBAR.LE gsb0, 0x0) right before a backward branch that closes a
    loop issuing wgmma: that loop's stages cannot overlap."""
    found = []
    for i, (at, ins) in enumerate(code):
        if "WARPGROUP.DEPBAR.LE gsb0, 0x0" not in ins:
            continue
        for branch_at, branch in code[i + 1:i + 4]:
            target = branch_target(branch)
            if target is not None and any(target <= a < branch_at and "GMMA" in op for a, op in code):
                found.append(hex(at))
                break
    return found


def mma_loops(code):
    """The loops (first, last address) whose bodies hold tensor-core instructions, innermost first."""
    mma = [a for a, op in code if is_mma(op)]
    return sorted(((branch_target(op), a) for a, op in code
                   if branch_target(op) is not None and branch_target(op) < a
                   and any(branch_target(op) <= m <= a for m in mma)), key=lambda lo_hi: lo_hi[1] - lo_hi[0])


def loop_body(code, loop):
    """Counter of the opcodes in a loop's body (every path, each instruction once) and its length."""
    body = [op for a, op in code if loop[0] <= a <= loop[1]]
    return collections.Counter(opcode(op) for op in body), len(body)


def whole_step_path(code):
    """The instructions one warp issues for a k-step that lies inside one segment: from the head of
    the loop over k-steps (the second-innermost loop around the tensor-core instructions; the
    innermost one walks a step's parts), along the fall-through and unconditional jumps, through
    the first group of tensor-core instructions, to the branch after it. Flushes branch off that
    path. Returns a Counter of opcodes and the path's length."""
    loops = mma_loops(code)
    if len(loops) < 2:
        return collections.Counter(), 0
    index = {a: i for i, (a, _) in enumerate(code)}
    i, path, seen_mma = index[loops[1][0]], [], False
    while i < len(code) and len(path) < 10000:
        _, op = code[i]
        path.append(op)
        seen_mma = seen_mma or is_mma(op)
        target = branch_target(op)
        if target is not None and seen_mma and not any(is_mma(o) for _, o in code[i + 1:i + 3]):
            break
        i = index[target] if target is not None and not op.startswith("@") else i + 1
    return collections.Counter(opcode(op) for op in path), len(path)
