"""Trains a tiny OPT on real text and plants outlier channels without changing its function.

Until trained checkpoints land in ../shared/models, the accuracy test needs a model whose
perplexity means something: a random-init OPT predicts WikiText no better than chance, so no
quantization method can be told from another by its perplexity. A few minutes of CPU training on
WikiText-2 valid gets a small OPT well below chance on WikiText-2 test.

Trained OPT models (125m and up) have a few activation channels with ranges tens of times wider
than the rest; that is what makes per-tensor activation quantization fail and RPTQ's reordering
pay. A tiny model trained for minutes has none, so we plant them with scalings that leave the
float model's function unchanged (up to rounding):
  - LayerNorm outputs: gain and bias of channel c times s, the columns c of the consuming
    projections (q/k/v, fc1) divided by s;
  - Q/K: row c of q_proj (and its bias) times s, row c of k_proj divided by s (QKᵀ unchanged);
  - V / attention output: row c of v_proj times s, column c of out_proj divided by s
    (attention mixes tokens, not channels);
  - fc1 output: row c of fc1 times s, column c of fc2 divided by s (ReLU is positively
    homogeneous).
Each scaled channel gets s in [20, 60], as ../shared/README.md describes for the gains.

    train_tiny_opt.py OUT_DIR --shared ../shared [--steps N] [--seed S]

Deterministic for a given seed, thread count and torch build; writes config.json,
model.safetensors, vocab.json, merges.txt and training.json (loss curve, time).
"""
import argparse
import json
import math
import os
import shutil
import time

import torch
from transformers import GPT2TokenizerFast, OPTConfig, OPTForCausalLM

SHAPE = dict(hidden_size=192, num_hidden_layers=3, num_attention_heads=4, ffn_dim=768,
             max_position_embeddings=256, word_embed_proj_dim=192)


def load_tokens(shared, tokenizer):
    path = os.path.join(shared, "data", "wikitext-2-raw", "original", "wiki.valid.raw")
    with open(path, encoding="utf-8") as f:
        return torch.tensor(tokenizer(f.read())["input_ids"], dtype=torch.long)


@torch.no_grad()
def plant_outliers(model, seed, per_point=3):
    g = torch.Generator().manual_seed(seed + 7)

    def pick(n):
        idx = torch.randperm(n, generator=g)[:per_point]
        return idx, torch.empty(per_point).uniform_(20.0, 60.0, generator=g)

    for layer in model.model.decoder.layers:
        att = layer.self_attn
        for norm, consumers in ((layer.self_attn_layer_norm, (att.q_proj, att.k_proj, att.v_proj)),
                                (layer.final_layer_norm, (layer.fc1,))):
            idx, s = pick(norm.weight.numel())
            norm.weight[idx] *= s
            norm.bias[idx] *= s
            for lin in consumers:
                lin.weight[:, idx] /= s
        for producer, consumer_rows, consumer_cols in ((att.q_proj, att.k_proj, None),
                                                       (att.v_proj, None, att.out_proj),
                                                       (layer.fc1, None, layer.fc2)):
            idx, s = pick(producer.weight.shape[0])
            producer.weight[idx, :] *= s[:, None]
            producer.bias[idx] *= s
            if consumer_rows is not None:
                consumer_rows.weight[idx, :] /= s[:, None]
                consumer_rows.bias[idx] /= s
            if consumer_cols is not None:
                consumer_cols.weight[:, idx] /= s


def restricted_loss(model, x, vocab, remap):
    h = model.model.decoder(input_ids=x).last_hidden_state[:, :-1]
    logits = h @ model.lm_head.weight[vocab].T
    return torch.nn.functional.cross_entropy(logits.reshape(-1, vocab.numel()), remap[x[:, 1:]].reshape(-1))


@torch.no_grad()
def mean_nll(model, tokens, seqlen, windows):
    total, count = 0.0, 0
    for i in range(windows):
        x = tokens[i * seqlen:(i + 1) * seqlen][None]
        out = model(x, labels=x)
        total += out.loss.item() * (seqlen - 1)
        count += seqlen - 1
    return total / count


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--shared", required=True)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--full-steps", type=int, default=60, help="final steps with the full softmax")
    ap.add_argument("--seqlen", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()

    if os.path.exists(os.path.join(a.out_dir, "training.json")):
        print(json.dumps({"reused": a.out_dir}))
        return
    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    tok_dir = os.path.join(a.shared, "data", "opt-tokenizer")
    tokenizer = GPT2TokenizerFast(vocab_file=os.path.join(tok_dir, "vocab.json"),
                                  merges_file=os.path.join(tok_dir, "merges.txt"))
    tokens = load_tokens(a.shared, tokenizer)
    config = OPTConfig(vocab_size=50272, dropout=0.0, attention_dropout=0.0, pad_token_id=1,
                       bos_token_id=2, eos_token_id=2, **SHAPE)
    model = OPTForCausalLM(config)
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01)
    g = torch.Generator().manual_seed(a.seed)
    held_out = 8  # last windows of the training text, for the loss curve only
    train = tokens[:-held_out * a.seqlen]
    heldout = tokens[-held_out * a.seqlen:]
    # The softmax over the 50k vocabulary dominates the cost of such a small model; restricting it
    # to the ~18k ids the training text uses is 3x cheaper and exact for those ids' gradients.
    vocab = torch.unique(train)
    remap = torch.full((config.vocab_size,), -1, dtype=torch.long)
    remap[vocab] = torch.arange(vocab.numel())
    start, curve = time.time(), []
    model.train()
    for step in range(a.steps):
        lr = a.lr * min(1.0, (step + 1) / 50) * max(0.1, 0.5 * (1 + math.cos(math.pi * step / a.steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        offs = torch.randint(0, train.numel() - a.seqlen, (a.batch,), generator=g)
        x = torch.stack([train[o:o + a.seqlen] for o in offs.tolist()])
        # The last steps use the full softmax so the ids the text never uses get low logits
        # (otherwise their ~32k untrained rows keep a large share of the probability mass).
        full = step >= a.steps - a.full_steps
        loss = model(x, labels=x).loss if full else restricted_loss(model, x, vocab, remap)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 100 == 0 or step + 1 == a.steps:
            curve.append({"step": step, "loss": round(loss.item(), 4)})
            print(f"step {step}: loss {loss.item():.3f} ({time.time() - start:.0f} s)", flush=True)
    model.eval()
    before = mean_nll(model, heldout, a.seqlen, held_out)
    plant_outliers(model, a.seed)
    after = mean_nll(model, heldout, a.seqlen, held_out)
    if abs(after - before) > 1e-3 * abs(before):
        raise SystemExit(f"planting outliers changed the model: held-out NLL {before} -> {after}")

    os.makedirs(a.out_dir, exist_ok=True)
    model.save_pretrained(a.out_dir, safe_serialization=True)
    for f in ("vocab.json", "merges.txt"):
        shutil.copy(os.path.join(tok_dir, f), a.out_dir)
    info = {"shape": SHAPE, "steps": a.steps, "full_softmax_steps": a.full_steps, "batch": a.batch, "seqlen": a.seqlen, "seed": a.seed,
            "train_tokens": int(train.numel()), "heldout_ppl": math.exp(after),
            "heldout_ppl_before_outliers": math.exp(before), "seconds": round(time.time() - start, 1),
            "curve": curve}
    with open(os.path.join(a.out_dir, "training.json"), "w") as f:
        json.dump(info, f, indent=1)
    print(json.dumps({k: info[k] for k in ("heldout_ppl", "seconds")}))


if __name__ == "__main__":
    main()
