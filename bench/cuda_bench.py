"""GPU speed of rptq bundles against Hugging Face transformers fp16 and the roofline, on one machine
in one run (the CUDA issue's bench). Runs on the GPU machine from build/device
(tests/cuda/prepare_device_run.sh also copies rptq-synth-bundle there), with that machine's python3
(PyTorch + transformers):

    python3 bench/cuda_bench.py --bin build/device/bin --tokenizer build/device/tokenizer \
        --text build/device/wiki.test.raw --shapes 125m,1.3b,6.7b --out $OUT/cuda_bench.json

Per shape and setting (random weights: speed does not depend on values): a bundle made by
rptq-synth-bundle for h100 (sm_90; all bundles are built at once, on all CPUs, while the GEMM table
runs), then rptq-bench-runtime's decode latency at batch 1 (128 tokens after a 512-token prompt)
and prefill tokens/s at 512 and 2047 tokens (2047 + 1 fills the 2048 context). The peers, on the
same shapes: OPTForCausalLM in fp16, eager and compiled: prefill is the forward over the same
lengths (torch.compile(model) for compiled), decode is generate() after a 512-token prompt, timed
from the first new token to the last (compiled: generate() with the static cache, for which
transformers compiles the decoding forward). The roofline: weight bytes per token / HBM bandwidth
measured here (a device-to-device copy, bytes read + written). Each figure is the best of
--repeat runs; the JSON (rewritten after each part) holds every figure and the commands.

The GEMM table ("gemm"): rptq-bench-cuda-kernels times the generated linear kernels on the
shapes' layers (W4A8 and W4A4, rows 1, 8, 512, 2048; the prefill rows again on wgmma), next to
cuBLASLt's int8 GEMM (torch._int_mm: int8 x int8 -> int32, the cublasLt IMMA path) and cuBLAS fp16
(torch.matmul) on the same [rows, in] x [in, out], in TOPS.
"""
import argparse
import json
import os
import subprocess
import time


def run_json(cmd, env=None):
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()[-500:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def hbm_bandwidth(torch):
    x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    y = torch.empty_like(x)
    best = 0.0
    for _ in range(10):
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        y.copy_(x)
        torch.cuda.synchronize()
        best = max(best, 2 * x.numel() / (time.perf_counter() - t0) / 1e9)
    return best


SHAPES = {"125m": (768, 12, 12, 3072), "1.3b": (2048, 24, 32, 8192), "6.7b": (4096, 32, 32, 16384)}


def transformers_model(torch, shape, device="cuda"):
    """OPTForCausalLM of `shape` in fp16, built on `device`: initialized there in fp16 (an fp32
    init on the CPU takes minutes for 6.7b, which a GPU machine's lease cannot spare)."""
    from transformers import OPTConfig, OPTForCausalLM
    hidden, layers, heads, ffn = SHAPES[shape]
    cfg = OPTConfig(vocab_size=50272, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                    ffn_dim=ffn, max_position_embeddings=2048, word_embed_proj_dim=hidden)
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float16)
    try:
        with torch.device(device):
            model = OPTForCausalLM(cfg)
    finally:
        torch.set_default_dtype(default)
    return model.eval()


class _TokenClock:
    """A generate() streamer that notes when each token comes out. generate() hands put() the
    prompt, then each new token after copying it to the host (so the GPU has finished it)."""

    def __init__(self):
        self.times = []

    def put(self, value):
        self.times.append(time.perf_counter())

    def end(self):
        pass


def transformers_speed(torch, shape, repeat, device="cuda", new_tokens=129):
    """transformers fp16 on `shape`, eager and compiled, as its users run it. Prefill: the model's
    forward over 512 and 2047 tokens (compiled: torch.compile(model)). Decode: generate() after a
    512-token prompt, greedy, timed per token between the first and the last new token (so the
    prompt is not counted); compiled: generate() with the static cache, which makes transformers
    compile the decoding forward (on CUDA). Best of `repeat` runs after a warm-up (which compiles)."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    model = transformers_model(torch, shape, device)
    out = {}
    with torch.no_grad():
        for compiled in (False, True):
            key = "transformers_fp16_compiled" if compiled else "transformers_fp16_eager"
            try:
                out[key] = _transformers_variant(torch, model, compiled, repeat, device, sync, new_tokens)
            except Exception as e:  # a failed peer is reported, not fatal
                out[key] = {"error": f"{type(e).__name__}: {str(e)[-300:]}"}
    del model
    if device == "cuda":
        torch.cuda.empty_cache()
    return out


def _transformers_variant(torch, model, compiled, repeat, device, sync, new_tokens):
    fwd = torch.compile(model) if compiled else model
    r = {}
    for n in (512, 2047):
        ids = torch.randint(4, 50000, (1, n), device=device)
        best = 1e30
        for _ in range(repeat + 1):
            sync()
            t0 = time.perf_counter()
            fwd(ids, use_cache=False)
            sync()
            best = min(best, time.perf_counter() - t0)
        r[f"prefill_{n}_tokens_per_s"] = n / best
    ids = torch.randint(4, 50000, (1, 512), device=device)
    options = dict(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, pad_token_id=1,
                   attention_mask=torch.ones_like(ids))
    if compiled:
        options["cache_implementation"] = "static"
    best = 1e30
    for _ in range(repeat + 1):
        clock = _TokenClock()
        model.generate(ids, streamer=clock, **options)
        assert len(clock.times) == new_tokens + 1, "one put() for the prompt, one per new token"
        best = min(best, (clock.times[-1] - clock.times[1]) / (new_tokens - 1))
    r["decode_ms_per_token"] = 1e3 * best
    r["decode_how"] = "generate(), " + ("static cache (transformers compiles the forward)"
                                        if compiled else "dynamic cache")
    return r


def cublas_tops(torch, m, k, n, repeat):
    """TOPS of cuBLASLt int8 (torch._int_mm) and cuBLAS fp16 on [m, k] x [k, n]; None where refused."""
    out = {}
    a8 = torch.randint(-128, 127, (m, k), dtype=torch.int8, device="cuda")
    b8 = torch.randint(-128, 127, (n, k), dtype=torch.int8, device="cuda").t()  # column-major B: the TN layout
    a16, b16 = a8.half(), b8.half()
    for key, fn in (("cublaslt_int8", lambda: torch._int_mm(a8, b8)), ("cublas_fp16", lambda: a16 @ b16)):
        try:
            fn()
            best = 1e30
            for _ in range(repeat):
                start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(20):
                    fn()
                stop.record()
                stop.synchronize()
                best = min(best, start.elapsed_time(stop) / 1e3 / 20)
            out[key] = 2.0 * m * k * n / best / 1e12
        except Exception as e:  # _int_mm refuses m <= 16 and odd shapes
            out[key] = None
            out[key + "_error"] = str(e)[-200:]
    return out


def gemm_table(torch, a):
    path = os.path.join(a.work, "gemm.json")
    cmd = [os.path.join(a.bin, "rptq-bench-cuda-kernels"), "--shapes", a.shapes, "--out", path]
    subprocess.run(cmd, check=True)
    with open(path) as f:
        ours = json.load(f)["results"]
    # The prefill rows again with the tensor-core linear on wgmma (rptq-compile --cuda-wgmma).
    wg_cmd = cmd + ["--rows", "512,2048", "--wgmma"]
    subprocess.run(wg_cmd, check=True)
    with open(path) as f:
        ours += [dict(r, kernel_path="wgmma") for r in json.load(f)["results"]]
    rows = []
    for r in ours:
        peers = cublas_tops(torch, r["rows"], r["in"], r["out"], a.repeat) if not a.no_peers else {}
        row = dict(r, **peers)
        if peers.get("cublaslt_int8"):
            row["vs_cublaslt_int8"] = r["tops"] / peers["cublaslt_int8"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    return {"commands": [" ".join(cmd), " ".join(wg_cmd)], "results": rows}


def start_synthesis(a, pool):
    """Every (shape, setting) bundle, started at once on the pool: nvcc is single-threaded and a
    6.7b bundle takes minutes of it, so one after another would spend most of the GPU machine's
    time compiling; meanwhile the GEMM table runs (its kernels are timed with events on the GPU).
    Returns {(shape, setting): future of (bundle, command, seconds)}."""
    jobs = {}
    for shape in a.shapes.split(","):
        for setting in a.settings.split(","):
            # "W4A8", plus "-align32" (LayerNorm / fc1 clusters in multiples of 32 channels:
            # rptq-compile --cluster-align) and / or "-wgmma" (rptq-compile --cuda-wgmma).
            bits, *options = setting.split("-")
            wbits, abits = bits[1:].split("A")
            align = next((o[len("align"):] for o in options if o.startswith("align")), "1")
            bundle = os.path.join(a.work, f"opt-{shape}-{setting}.rptq")
            jobs[(shape, setting)] = (bundle, [os.path.join(a.bin, "rptq-synth-bundle"), "--shape", shape, "--wbits",
                                               wbits, "--abits", abits, "--cluster-align", align, "--target",
                                               "h100", "--tokenizer", a.tokenizer, "-o", bundle] +
                                      (["--cuda-wgmma"] if "wgmma" in options else []))

    def make(job):
        bundle, cmd = job
        t0 = time.perf_counter()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()[-500:]}")
        return bundle, " ".join(cmd), time.perf_counter() - t0

    return {key: pool.submit(make, job) for key, job in jobs.items()}


def write_json(path, value):
    """Written after every part, atomically: a run cut short by the machine's time limit still
    leaves what it measured."""
    with open(path + ".tmp", "w") as f:
        json.dump(value, f, indent=1)
    os.replace(path + ".tmp", path)


def rptq_run(a, bundle, hbm_gb_s, peers):
    runtime_bench = [os.path.join(a.bin, "rptq-bench-runtime"), bundle, "--text", a.text]
    bench = runtime_bench + ["--repeat", str(a.repeat)]
    decode = run_json(bench + ["--prefill", "512", "--decode", "128"])
    long = run_json(bench + ["--prefill", "2047", "--decode", "0"])
    # Where the time goes: each step timed (one stream, no graph, so slower than the above). Only
    # the CUDA backend writes it: a run that fell back to the CPU (see "backend") has none.
    profile_path = os.path.join(a.work, "profile.json")
    if os.path.exists(profile_path):
        os.remove(profile_path)
    run_json(runtime_bench + ["--repeat", "1", "--prefill", "512", "--decode", "32"],
             env=dict(os.environ, RPTQ_CUDA_PROFILE=profile_path))
    profile = None
    if os.path.exists(profile_path):
        with open(profile_path) as f:
            profile = json.load(f)["steps"]
    roofline_ms = decode["weight_bytes_per_token"] / (hbm_gb_s * 1e9) * 1e3
    run = {"backend": decode["backend"], "bundle_bytes": os.path.getsize(bundle),
           "decode_ms_per_token": decode["decode_ms_per_token"],
           "prefill_512_tokens_per_s": decode["prefill_tokens_per_s"],
           "prefill_2047_tokens_per_s": long["prefill_tokens_per_s"],
           "weight_bytes_per_token": decode["weight_bytes_per_token"], "roofline_ms_per_token": roofline_ms,
           "decode_vs_roofline": decode["decode_ms_per_token"] / roofline_ms, "peers": peers,
           "profile_ms_per_kind_of_step": profile, "commands": [" ".join(bench)]}
    for key, p in peers.items():
        if "error" not in p:
            run[f"decode_speedup_vs_{key}"] = p["decode_ms_per_token"] / decode["decode_ms_per_token"]
            for n in (512, 2047):
                run[f"prefill_{n}_speedup_vs_{key}"] = run[f"prefill_{n}_tokens_per_s"] / p[f"prefill_{n}_tokens_per_s"]
    return run


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tokenizer", required=True, help="directory with the OPT vocab.json and merges.txt")
    ap.add_argument("--text", required=True)
    ap.add_argument("--shapes", default="125m,1.3b,6.7b")
    ap.add_argument("--settings", default="W4A8,W4A4",
                    help="WxAy, with -alignN (clusters in multiples of N) and / or -wgmma (--cuda-wgmma)")
    ap.add_argument("--work", default="/tmp/rptq-cuda-bench")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-peers", action="store_true", help="skip transformers and cuBLAS (rptq only)")
    ap.add_argument("--no-gemm", action="store_true", help="skip the GEMM table")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import torch
    from concurrent.futures import ThreadPoolExecutor
    os.makedirs(a.work, exist_ok=True)
    result = {"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "runs": []}
    if not a.no_peers:
        import transformers
        result["transformers"] = transformers.__version__
    jobs = len(a.shapes.split(",")) * len(a.settings.split(","))
    with ThreadPoolExecutor(max_workers=min(jobs, os.cpu_count() or 1)) as pool:
        bundles = start_synthesis(a, pool)
        result["hbm_gb_s"] = hbm_bandwidth(torch)
        if not a.no_gemm:
            try:
                result["gemm"] = gemm_table(torch, a)
            except Exception as e:  # the end-to-end runs below still run (and say why they fail, if they do)
                result["gemm"] = {"error": f"{type(e).__name__}: {str(e)[-500:]}"}
            write_json(a.out, result)
        # The peers and our runs only once every bundle is made: eager transformers is bound by
        # the CPU's launches, which the compiles would slow down.
        made = {key: f.result() for key, f in bundles.items()}
    for shape in a.shapes.split(","):
        peers = {} if a.no_peers else transformers_speed(torch, shape, a.repeat)
        for setting in a.settings.split(","):
            bundle, synth, made_s = made[(shape, setting)]
            run = {"shape": shape, "setting": setting, "synth_s_concurrent": made_s}
            try:
                run.update(rptq_run(a, bundle, result["hbm_gb_s"], peers))
                run["commands"].insert(0, synth)
            except Exception as e:  # one setting's failure (a kernel the GPU refuses) leaves the others
                run.update(error=f"{type(e).__name__}: {str(e)[-500:]}", commands=[synth])
            print(json.dumps(run), flush=True)
            result["runs"].append(run)
            write_json(a.out, result)
            os.remove(bundle)


if __name__ == "__main__":
    main()
