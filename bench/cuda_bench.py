"""GPU speed of rptq bundles against Hugging Face transformers fp16 and the roofline, on one machine
in one run (the CUDA issue's bench). Runs on the GPU machine from build/device
(tests/cuda/prepare_device_run.sh also copies rptq-synth-bundle there), with that machine's python3
(PyTorch + transformers):

    python3 bench/cuda_bench.py --bin build/device/bin --tokenizer build/device/tokenizer \
        --text build/device/wiki.test.raw --shapes 125m,1.3b,6.7b --out $OUT/cuda_bench.json

Per shape and setting (random weights: speed does not depend on values): a bundle made by
rptq-synth-bundle for h100 (sm_90; all bundles are built at once, on all CPUs, before anything is
timed), then rptq-bench-runtime's decode latency at batch 1 (128
tokens after a 512-token prompt) and prefill tokens/s at 512 and 2047 tokens (2047 + 1 fills the
2048 context). The peers, on the same shapes: OPTForCausalLM in fp16, eager and torch.compile'd,
prefill of the same lengths and decode with its KV cache. The roofline: weight bytes per token /
HBM bandwidth measured here (a device-to-device copy, bytes read + written). Each figure is the
best of --repeat runs; the JSON holds every figure and the commands.

The GEMM table ("gemm"): rptq-bench-cuda-kernels times the generated linear kernels on the
shapes' layers (W4A8 and W4A4, rows 1, 8, 512, 2048), next to cuBLASLt's int8 GEMM (torch._int_mm:
int8 x int8 -> int32, the cublasLt IMMA path) and cuBLAS fp16 (torch.matmul) on the same
[rows, in] x [in, out], in TOPS.
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


def transformers_speed(torch, shape, compiled, repeat):
    from transformers import OPTConfig, OPTForCausalLM
    hidden, layers, heads, ffn = SHAPES[shape]
    cfg = OPTConfig(vocab_size=50272, hidden_size=hidden, num_hidden_layers=layers, num_attention_heads=heads,
                    ffn_dim=ffn, max_position_embeddings=2048, word_embed_proj_dim=hidden)
    model = OPTForCausalLM(cfg).half().cuda().eval()
    fwd = torch.compile(model) if compiled else model
    out = {}
    with torch.no_grad():
        for n in (512, 2047):
            ids = torch.randint(4, 50000, (1, n), device="cuda")
            best = 1e30
            for _ in range(repeat + 1):  # the first run warms up (and compiles)
                torch.cuda.synchronize()
                t0 = time.perf_counter()
                fwd(ids, use_cache=False)
                torch.cuda.synchronize()
                best = min(best, time.perf_counter() - t0)
            out[f"prefill_{n}_tokens_per_s"] = n / best
        ids = torch.randint(4, 50000, (1, 512), device="cuda")
        best = 1e30
        for _ in range(repeat):
            past = fwd(ids, use_cache=True).past_key_values
            tok = ids[:, -1:]
            torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(128):
                r = fwd(tok, past_key_values=past, use_cache=True)
                past = r.past_key_values
                tok = r.logits[:, -1:].argmax(-1)
            torch.cuda.synchronize()
            best = min(best, (time.perf_counter() - t0) / 128)
        out["decode_ms_per_token"] = 1e3 * best
    del model, fwd
    torch.cuda.empty_cache()
    return out


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


def synthesize_all(a):
    """Every (shape, setting) bundle, built at once before anything is timed: nvcc is single-threaded
    and a 6.7b bundle takes minutes of it, so one after another would spend most of the GPU
    machine's time compiling. Returns {(shape, setting): (bundle, command, seconds)}."""
    from concurrent.futures import ThreadPoolExecutor
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
        subprocess.run(cmd, check=True, capture_output=True)
        return bundle, " ".join(cmd), time.perf_counter() - t0

    with ThreadPoolExecutor(max_workers=min(len(jobs), os.cpu_count() or 1)) as pool:
        done = {key: pool.submit(make, job) for key, job in jobs.items()}
        return {key: f.result() for key, f in done.items()}


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
    ap.add_argument("--no-peers", action="store_true", help="skip transformers (rptq only)")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    import torch
    os.makedirs(a.work, exist_ok=True)
    bundles = synthesize_all(a)
    result = {"gpu": torch.cuda.get_device_name(), "hbm_gb_s": hbm_bandwidth(torch), "runs": []}
    result["gemm"] = gemm_table(torch, a)
    for shape in a.shapes.split(","):
        peers = {}
        if not a.no_peers:
            for compiled in (False, True):
                key = "transformers_fp16_compiled" if compiled else "transformers_fp16_eager"
                try:
                    peers[key] = transformers_speed(torch, shape, compiled, a.repeat)
                except Exception as e:  # a failed peer is reported, not fatal
                    peers[key] = {"error": str(e)[-300:]}
        for setting in a.settings.split(","):
            bundle, synth, made_s = bundles[(shape, setting)]
            runtime_bench = [os.path.join(a.bin, "rptq-bench-runtime"), bundle, "--text", a.text]
            bench = runtime_bench + ["--repeat", str(a.repeat)]
            decode = run_json(bench + ["--prefill", "512", "--decode", "128"])
            long = run_json(bench + ["--prefill", "2047", "--decode", "0"])
            # Where the time goes: each step timed (one stream, no graph, so slower than the above).
            profile_path = os.path.join(a.work, "profile.json")
            run_json(runtime_bench + ["--repeat", "1", "--prefill", "512", "--decode", "32"],
                     env=dict(os.environ, RPTQ_CUDA_PROFILE=profile_path))
            with open(profile_path) as f:
                profile = json.load(f)["steps"]
            roofline_ms = decode["weight_bytes_per_token"] / (result["hbm_gb_s"] * 1e9) * 1e3
            run = {"shape": shape, "setting": setting, "backend": decode["backend"], "bundle_bytes":
                   os.path.getsize(bundle), "synth_s_concurrent": made_s, "decode_ms_per_token": decode["decode_ms_per_token"],
                   "prefill_512_tokens_per_s": decode["prefill_tokens_per_s"],
                   "prefill_2047_tokens_per_s": long["prefill_tokens_per_s"],
                   "weight_bytes_per_token": decode["weight_bytes_per_token"], "roofline_ms_per_token": roofline_ms,
                   "decode_vs_roofline": decode["decode_ms_per_token"] / roofline_ms, "peers": peers,
                   "profile_ms_per_kind_of_step": profile,
                   "commands": [synth, " ".join(bench)]}
            for key, p in peers.items():
                if "error" not in p:
                    run[f"decode_speedup_vs_{key}"] = p["decode_ms_per_token"] / decode["decode_ms_per_token"]
                    run[f"prefill_2047_speedup_vs_{key}"] = long["prefill_tokens_per_s"] / p["prefill_2047_tokens_per_s"]
            print(json.dumps(run), flush=True)
            result["runs"].append(run)
            os.remove(bundle)
    with open(a.out, "w") as f:
        json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
