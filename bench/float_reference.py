"""Benchmark: the fp32 reference executor vs Hugging Face transformers on the same checkpoint.

WikiText-2 test perplexity (non-overlapping windows of the model's context, as the RPTQ and GPTQ
papers evaluate) and tokens/s of both on this machine, in one run. Writes
<out>/float_reference.json and prints a Markdown table with the command that reproduces it.
"""
import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "oracle"))
import opt_oracle  # noqa: E402
from transformers import GPT2TokenizerFast  # noqa: E402

SHAPES = {  # (hidden, layers, heads, ffn, max_positions)
    "tiny": (64, 2, 4, 256, 128),
    "125m": (768, 12, 12, 3072, 2048),
}


def ensure_model(path, shape, shared):
    if os.path.exists(os.path.join(path, "config.json")):
        return path
    hidden, layers, heads, ffn, pos = SHAPES[shape]
    base = dict(opt_oracle.BASE, hidden_size=hidden, word_embed_proj_dim=hidden, num_hidden_layers=layers,
                num_attention_heads=heads, ffn_dim=ffn, max_position_embeddings=pos)
    opt_oracle.save(opt_oracle.make_model({}, seed=0, base=base), path)
    return path


def ensure_tokenizer(model_dir, shared):
    for f in ("vocab.json", "merges.txt"):
        if not os.path.exists(os.path.join(model_dir, f)):
            shutil.copy(os.path.join(shared, "data", "opt-tokenizer", f), model_dir)


@torch.no_grad()
def hf_run(model_dir, text, window, max_windows, decode_tokens):
    tok = GPT2TokenizerFast(vocab_file=os.path.join(model_dir, "vocab.json"),
                            merges_file=os.path.join(model_dir, "merges.txt"))
    ids = [2] + tok(text, add_special_tokens=False).input_ids
    model = opt_oracle.load_fp32(model_dir)
    windows = len(ids) // window
    if max_windows:
        windows = min(windows, max_windows)
    enc = torch.tensor(ids, dtype=torch.long)
    nll, t0 = 0.0, time.perf_counter()
    for w in range(windows):
        x = enc[w * window:(w + 1) * window].unsqueeze(0)
        logits = model(x).logits.double()
        nll += torch.nn.functional.cross_entropy(logits[0, :-1], x[0, 1:], reduction="sum").item()
    prefill_s = time.perf_counter() - t0
    prompt = min(16, window - decode_tokens)
    out = model(enc[:prompt].unsqueeze(0), use_cache=True)
    past = out.past_key_values
    t1 = time.perf_counter()
    for i in range(decode_tokens):
        out = model(enc[prompt + i:prompt + i + 1].unsqueeze(0), past_key_values=past, use_cache=True)
        past = out.past_key_values
    decode_s = time.perf_counter() - t1
    return dict(perplexity=math.exp(nll / (windows * (window - 1))), text_tokens=len(ids), windows=windows,
                window=window, prefill_tokens_per_s=windows * window / prefill_s,
                decode_tokens_per_s=decode_tokens / decode_s)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--tool", required=True, help="rptq-bench-float")
    ap.add_argument("--shared", required=True)
    ap.add_argument("--model", help="checkpoint dir (default: a random-init model of --shape)")
    ap.add_argument("--shape", default="125m", choices=sorted(SHAPES))
    ap.add_argument("--max-windows", type=int, default=4)
    ap.add_argument("--decode-tokens", type=int, default=32)
    ap.add_argument("--out", required=True, help="directory for float_reference.json")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="max relative perplexity difference")
    a = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    os.makedirs(a.out, exist_ok=True)
    model_dir = a.model or ensure_model(os.path.join(a.out, "models", f"opt-{a.shape}-random"), a.shape, a.shared)
    ensure_tokenizer(model_dir, a.shared)
    text_path = os.path.join(a.shared, "data", "wikitext-2-raw", "wiki.test.raw")
    with open(text_path, encoding="utf-8", newline="") as f:  # the same bytes our tool reads
        text = f.read()

    cmd = [a.tool, model_dir, "--text", text_path, "--max-windows", str(a.max_windows),
           "--decode-tokens", str(a.decode_tokens)]
    ours = json.loads(subprocess.run(cmd, check=True, capture_output=True, text=True).stdout)
    ref = hf_run(model_dir, text, ours["window"], a.max_windows, a.decode_tokens)

    rel = abs(ours["perplexity"] - ref["perplexity"]) / ref["perplexity"]
    result = dict(
        benchmark="float_reference", model=os.path.basename(model_dir.rstrip("/")), text=text_path,
        machine=dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count()),
        rptq_reference=ours, transformers=ref, perplexity_rel_diff=rel,
        prefill_speed_ratio=ours["prefill_tokens_per_s"] / ref["prefill_tokens_per_s"],
        decode_speed_ratio=ours["decode_tokens_per_s"] / ref["decode_tokens_per_s"],
        reproduce=" ".join([sys.executable] + sys.argv))
    with open(os.path.join(a.out, "float_reference.json"), "w") as f:
        json.dump(result, f, indent=2)

    print(f"| {result['model']} | WikiText-2 ppl | prefill tok/s | decode tok/s |")
    print("|---|---|---|---|")
    for name, r in (("rptq fp32 reference", ours), ("transformers fp32", ref)):
        print(f"| {name} | {r['perplexity']:.4f} | {r['prefill_tokens_per_s']:.1f} | {r['decode_tokens_per_s']:.1f} |")
    print(f"windows: {ours['windows']} x {ours['window']} tokens; text tokens ours {ours['text_tokens']} "
          f"vs HF {ref['text_tokens']}; ppl rel diff {rel:.2e} (tol {a.tolerance})")
    print(f"reproduce: {result['reproduce']}")
    ok = rel <= a.tolerance and ours["text_tokens"] == ref["text_tokens"]
    print(f"{int(ok)} passed, {int(not ok)} failed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
