#!/usr/bin/env python3
"""Measure the official RPTQ implementation on our checkpoint, calibration and evaluation data.

The official code (github.com/hahnyuan/RPTQ4LLM, fake-quant PyTorch) is NOT part of this
repository: pass a checkout of it with --rptq-dir (patched to run on CPU, see
bench/rptq4llm_comparison.md). This script only imports it and supplies what its main.py would
have fetched from the hub (model, calibration windows, test stream):

  * the official settings come from the official main.py itself: its argument parser is built
    from main.py's own statements (so every default — 128 samples, ema_minmax, GPTQ, R1..R5
    clusters — is the official one) and its `args.*_quant_params = {...}` assignments are
    evaluated from main.py's source, so the WxAy → quantizer mapping is the official one;
  * quantization is the official `opt_reorder_quantize(lm, args, dataloader, n_clusters, reorder)`
    followed by `set_quant_state(weight, act)` on every layer, as main.py does;
  * calibration: --calib-samples windows of the model's context drawn from the --calib text
    (no BOS) with std::mt19937_64(--seed), start = rng() % (n - seqlen + 1) — the same windows
    rptq-compile / rptq-accuracy draw (compiler/pipeline/calibration_data.cc);
  * evaluation: the --eval text as one stream with a single BOS (id 2) prepended, consecutive
    non-overlapping context windows, the first --max-windows of them; perplexity =
    exp(mean NLL over all predicted tokens, window-1 per window), as rptq-accuracy computes it.

Variants (all labelled in the output; only "official" is the unmodified official method):
  official       the official defaults for the setting
  no_p           attention probabilities not quantized (p_quant_params n_bits := 16)
  w_per_channel  weights quantized per output channel only: the official code also splits each
                 weight row by the activation clusters of its input (one scale per
                 (row, cluster)); this disables that (monkeypatch of QuantLinear.set_ic_cluster_counts)
  ln_abits       LayerNorm outputs quantized at abits (official: max(8, abits)); no-op for the
                 KV-only settings
Combine with '+', e.g. no_p+w_per_channel+ln_abits.

Example:
  PYTHONPATH=/tmp/rptq_deps build/venv/bin/python bench/run_rptq4llm.py --rptq-dir /tmp/rptq4llm \\
    --model /tmp/m/t2 --calib ../shared/data/wikitext-2-raw/original/wiki.valid.raw \\
    --eval ../shared/data/wikitext-2-raw/wiki.test.raw --settings W4A8,W4A4 --variants official,no_p \\
    --out /tmp/rptq_results.json
"""
import argparse
import ast
import json
import math
import os
import random
import sys
import time
import types

SETTINGS = {  # name → (wbits, abits, only_quant_kv), as the official README's commands spell them
    "W4A16": (4, 16, False),
    "W4A8": (4, 8, False),
    "W4A4": (4, 4, False),
    "W4A4KV": (4, 4, True),
    "W4A3KV": (4, 3, True),
}
VARIANT_PARTS = ("official", "no_p", "w_per_channel", "ln_abits")


class MT19937_64:
    """std::mt19937_64 (C++11 [rand.predef]), to draw the same calibration windows as our C++ tool."""

    _MASK = (1 << 64) - 1

    def __init__(self, seed):
        self.mt = [seed & self._MASK]
        for i in range(1, 312):
            prev = self.mt[-1]
            self.mt.append((6364136223846793005 * (prev ^ (prev >> 62)) + i) & self._MASK)
        self.index = 312

    def _twist(self):
        mt, upper, lower = self.mt, 0xFFFFFFFF80000000, 0x7FFFFFFF
        for i in range(312):
            x = (mt[i] & upper) | (mt[(i + 1) % 312] & lower)
            xa = x >> 1
            if x & 1:
                xa ^= 0xB5026F5AA96619E9
            mt[i] = mt[(i + 156) % 312] ^ xa
        self.index = 0

    def __call__(self):
        if self.index >= 312:
            self._twist()
        y = self.mt[self.index]
        self.index += 1
        y ^= (y >> 29) & 0x5555555555555555
        y ^= (y << 17) & 0x71D67FFFEDA60000
        y ^= (y << 37) & 0xFFF7EEE000000000
        y ^= y >> 43
        return y & self._MASK


def _check_mt():
    r = MT19937_64(5489)
    for _ in range(9999):
        r()
    assert r() == 9981545732273789042, "mt19937_64 self-check failed"


def read_text(path):
    with open(path, encoding="utf-8", newline="") as f:  # the same bytes our C++ tools read
        return f.read()


def official_args(rptq_dir, wbits, abits, only_kv):
    """The official main.py's argparse namespace and quantizer parameters for one setting."""
    src_path = os.path.join(rptq_dir, "main.py")
    tree = ast.parse(read_text(src_path), src_path)
    main_fn = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "main")
    net_choices = next(n for n in tree.body if isinstance(n, ast.Assign) and
                       getattr(n.targets[0], "id", None) == "net_choices")
    ns = {}
    exec(compile(ast.Module(body=[net_choices], type_ignores=[]), src_path, "exec"), ns)
    # main.py's statements up to `args = parser.parse_args()` build the parser.
    stop = next(i for i, st in enumerate(main_fn.body) if isinstance(st, ast.Assign) and
                isinstance(st.value, ast.Call) and getattr(st.value.func, "attr", None) == "parse_args")
    exec(compile(ast.Module(body=main_fn.body[:stop], type_ignores=[]), src_path, "exec"), ns)
    argv = [ns["net_choices"][0], "--wbits", str(wbits), "--abits", str(abits)]
    if only_kv:
        argv.append("--only_quant_kv")
    args = ns["parser"].parse_args(argv)
    args.batch_size = 1
    # main.py's `args.X_quant_params = {...}` assignments, evaluated as written.
    found = []
    for st in main_fn.body:
        if (isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Attribute) and
                getattr(st.targets[0].value, "id", None) == "args" and st.targets[0].attr.endswith("_quant_params")):
            value = eval(compile(ast.Expression(body=st.value), src_path, "eval"), {"args": args})
            setattr(args, st.targets[0].attr, value)
            found.append(st.targets[0].attr)
    expected = {"weight_quant_params", "act_quant_params", "q_quant_params", "k_quant_params",
                "v_quant_params", "layer_norm_out_quant_params", "p_quant_params"}
    assert expected <= set(found), f"main.py no longer sets {expected - set(found)}"
    n_clusters = {f"R{i}": getattr(args, f"R{i}_clusters") for i in range(1, 6)}
    return args, n_clusters


def evaluate(model, ids, window, max_windows):
    import torch
    import torch.nn.functional as F
    windows = min(len(ids) // window, max_windows) if max_windows else len(ids) // window
    enc = torch.tensor(ids[:windows * window], dtype=torch.long).view(windows, window)
    use_cache = model.config.use_cache
    model.config.use_cache = False
    nll = 0.0
    with torch.no_grad():
        for w in range(windows):
            x = enc[w:w + 1]
            hidden = model.model.decoder(x)[0]
            logits = model.lm_head(hidden).double()
            nll += F.cross_entropy(logits[0, :-1], x[0, 1:], reduction="sum").item()
    model.config.use_cache = use_cache
    return math.exp(nll / (windows * (window - 1))), windows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rptq-dir", required=True, help="checkout of hahnyuan/RPTQ4LLM (CPU-patched)")
    ap.add_argument("--model", required=True, help="OPT checkpoint dir (config.json, model.safetensors, vocab.json, merges.txt)")
    ap.add_argument("--calib", required=True, help="calibration text (UTF-8)")
    ap.add_argument("--eval", required=True, help="evaluation text (UTF-8)")
    ap.add_argument("--settings", default=",".join(SETTINGS))
    ap.add_argument("--variants", default="official", help="comma-separated; see the module docstring")
    ap.add_argument("--calib-samples", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0, help="calibration-window seed (our tools' --seed)")
    ap.add_argument("--max-windows", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--skip-float", action="store_true")
    ap.add_argument("--out", required=True, help="JSON results (merged into if it exists)")
    a = ap.parse_args()

    sys.path.insert(0, os.path.abspath(a.rptq_dir))
    import numpy as np
    import torch
    from transformers import GPT2TokenizerFast, OPTForCausalLM
    from quantize.opt_reorder_quantize import opt_reorder_quantize
    from quantize.int_linear import QuantLinear

    torch.set_num_threads(a.threads)
    _check_mt()
    variants = [v.strip() for v in a.variants.split(",") if v.strip()]
    for v in variants:
        bad = [p for p in v.split("+") if p not in VARIANT_PARTS]
        if bad:
            ap.error(f"unknown variant part(s) {bad}; known: {VARIANT_PARTS}")
    settings = [s.strip() for s in a.settings.split(",") if s.strip()]
    for s in settings:
        if s not in SETTINGS:
            ap.error(f"unknown setting {s}; known: {list(SETTINGS)}")

    tok = GPT2TokenizerFast(vocab_file=os.path.join(a.model, "vocab.json"),
                            merges_file=os.path.join(a.model, "merges.txt"))
    calib_ids = tok(read_text(a.calib), add_special_tokens=False).input_ids
    eval_ids = [2] + tok(read_text(a.eval), add_special_tokens=False).input_ids

    def load_model():
        m = OPTForCausalLM.from_pretrained(a.model, torch_dtype=torch.float32)
        m.eval()
        return m

    seqlen = load_model().config.max_position_embeddings
    rng = MT19937_64(a.seed)
    n = len(calib_ids)
    starts = [rng() % (n - seqlen + 1) for _ in range(a.calib_samples)]
    dataloader = []
    for s in starts:  # the official loaders' (input, target) pairs; only the input is used
        inp = torch.tensor(calib_ids[s:s + seqlen], dtype=torch.long).unsqueeze(0)
        tar = inp.clone()
        tar[:, :-1] = -100
        dataloader.append((inp, tar))

    results = {}
    if os.path.exists(a.out):
        with open(a.out) as f:
            results = json.load(f)
    results["eval"] = {"file": os.path.abspath(a.eval), "tokens_with_bos": len(eval_ids), "window": seqlen,
                       "windows": min(len(eval_ids) // seqlen, a.max_windows) if a.max_windows else len(eval_ids) // seqlen,
                       "bos": 2}
    results["calibration"] = {"file": os.path.abspath(a.calib), "tokens": n, "samples": a.calib_samples,
                              "seqlen": seqlen, "seed": a.seed, "rng": "std::mt19937_64, start = rng() % (n - seqlen + 1)",
                              "first_starts": starts[:8]}
    results.setdefault("runs", {})

    def save():
        with open(a.out, "w") as f:
            json.dump(results, f, indent=1)

    if not a.skip_float:
        t0, c0 = time.perf_counter(), time.process_time()
        ppl, windows = evaluate(load_model(), eval_ids, seqlen, a.max_windows)
        results["float"] = {"ppl": ppl, "windows": windows, "eval_s": time.perf_counter() - t0,
                            "eval_cpu_s": time.process_time() - c0}
        print(f"float ppl {ppl:.4f} ({windows} windows)", flush=True)
        save()

    orig_set_ic = QuantLinear.set_ic_cluster_counts

    def per_channel_set_ic(self, counts, w_dim=1, a_dim=2):
        orig_set_ic(self, counts, w_dim=w_dim, a_dim=a_dim)
        self.weight_quantizer.cluster_dim = None
        self.weight_quantizer.cluster_counts = None

    for setting in settings:
        wbits, abits, only_kv = SETTINGS[setting]
        for variant in variants:
            parts = set(variant.split("+"))
            args, n_clusters = official_args(a.rptq_dir, wbits, abits, only_kv)
            args.nsamples = a.calib_samples
            if "no_p" in parts:
                args.p_quant_params["n_bits"] = 16
            if "ln_abits" in parts and not only_kv:
                args.layer_norm_out_quant_params["n_bits"] = abits
            QuantLinear.set_ic_cluster_counts = per_channel_set_ic if "w_per_channel" in parts else orig_set_ic
            random.seed(args.seed)  # as main.py seeds
            np.random.seed(args.seed)
            torch.manual_seed(args.seed)

            model = load_model()
            lm = types.SimpleNamespace(model=model, device=torch.device("cpu"), _device="cpu", seqlen=seqlen)
            t0, c0 = time.perf_counter(), time.process_time()
            opt_reorder_quantize(lm, args, dataloader, n_clusters, args.reorder)
            for layer in model.model.decoder.layers:
                if hasattr(layer, "set_quant_state"):
                    layer.set_quant_state(not args.disable_w_quant, not args.disable_a_quant)
            quant_s, quant_cpu = time.perf_counter() - t0, time.process_time() - c0
            t0, c0 = time.perf_counter(), time.process_time()
            ppl, windows = evaluate(model, eval_ids, seqlen, a.max_windows)
            eval_s, eval_cpu = time.perf_counter() - t0, time.process_time() - c0
            key = f"{setting}/{variant}"
            results["runs"][key] = {
                "ppl": ppl, "quantize_s": quant_s, "quantize_cpu_s": quant_cpu, "eval_s": eval_s,
                "eval_cpu_s": eval_cpu, "windows": windows,
                "bits": {k: v["n_bits"] for k, v in vars(args).items() if k.endswith("_quant_params")},
                "weight_groups": "per output channel" if "w_per_channel" in parts else
                                 "per (output channel, input cluster) — official",
                "n_clusters": n_clusters, "reorder": args.reorder, "metric": args.metric,
                "w_quantizer": args.w_quantizer, "percdamp": args.percdamp,
            }
            print(f"{key}: ppl {ppl:.4f}  quantize {quant_s:.1f}s  eval {eval_s:.1f}s  bits "
                  f"{results['runs'][key]['bits']}", flush=True)
            save()
            del model, lm
    QuantLinear.set_ic_cluster_counts = orig_set_ic


if __name__ == "__main__":
    main()
