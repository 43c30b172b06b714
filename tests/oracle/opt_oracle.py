"""The Python oracle: random-init OPT checkpoints written and evaluated by Hugging Face transformers.

Until trained checkpoints land in ../shared/models, tests build small OPT models here. Trained OPT
models have a few hidden channels whose LayerNorm gains are tens of times larger than the rest; we
mimic that by scaling a few gain channels by 20-60x, which is what makes activation quantization
hard and RPTQ's reordering worthwhile.
"""
import json
import os

import torch
from transformers import OPTConfig, OPTForCausalLM

# Every variant the importer and executor must handle. `fmt` is how the weights are written.
VARIANTS = {
    # pre-LN like opt-125m and up, fp32 safetensors
    "preln-f32-st": dict(cfg=dict(), dtype=torch.float32, fmt="safetensors"),
    # post-LN with project_in/out like opt-350m, fp32 pytorch_model.bin
    "postln-proj-f32-bin": dict(cfg=dict(do_layer_norm_before=False, word_embed_proj_dim=48),
                                dtype=torch.float32, fmt="bin"),
    # fp16 sharded safetensors
    "preln-f16-st-sharded": dict(cfg=dict(), dtype=torch.float16, fmt="safetensors", shard="300KB"),
    # bf16 sharded pytorch_model.bin, project_in/out with pre-LN
    "preln-proj-bf16-bin-sharded": dict(cfg=dict(word_embed_proj_dim=48), dtype=torch.bfloat16, fmt="bin",
                                        shard="300KB"),
    # no biases, no LayerNorm affine, final LayerNorm removed
    "preln-nobias-f32-st": dict(cfg=dict(enable_bias=False, layer_norm_elementwise_affine=False,
                                         _remove_final_layer_norm=True),
                                dtype=torch.float32, fmt="safetensors"),
}

BASE = dict(vocab_size=50272, hidden_size=64, num_hidden_layers=2, ffn_dim=256, num_attention_heads=4,
            max_position_embeddings=128, word_embed_proj_dim=64, dropout=0.0, attention_dropout=0.0,
            pad_token_id=1, bos_token_id=2, eos_token_id=2)


def make_model(cfg_overrides, seed=0, outliers=True, base=None):
    torch.manual_seed(seed)
    cfg = dict(base or BASE)
    cfg.update(cfg_overrides)
    config = OPTConfig(**cfg)
    model = OPTForCausalLM(config).eval()
    with torch.no_grad():
        # HF's init gives LayerNorm gain 1, bias 0 and tiny N(0, 0.02) weights: perturb them so
        # that every parameter matters to the logits, and plant outlier channels.
        g = torch.Generator().manual_seed(seed + 1)
        for name, p in model.named_parameters():
            if "layer_norm" in name and name.endswith("weight"):
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
                if outliers:
                    idx = torch.randperm(p.numel(), generator=g)[:3]
                    p[idx] *= torch.empty(3).uniform_(20.0, 60.0, generator=g)
            elif "layer_norm" in name and name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
            elif "embed" not in name:
                p.copy_(torch.randn(p.shape, generator=g) / (p.shape[-1] ** 0.5))
    return model


def save(model, out_dir, dtype=torch.float32, fmt="safetensors", shard=None):
    os.makedirs(out_dir, exist_ok=True)
    m = model.to(dtype)
    kwargs = dict(safe_serialization=(fmt == "safetensors"))
    if shard:
        kwargs["max_shard_size"] = shard
    m.save_pretrained(out_dir, **kwargs)
    model.to(torch.float32)


def load_fp32(model_dir):
    """The model as the oracle evaluates it: the stored weights, upcast to fp32."""
    return OPTForCausalLM.from_pretrained(model_dir, torch_dtype=torch.float32).eval()


@torch.no_grad()
def logits(model, ids):
    return model(torch.tensor([ids], dtype=torch.long)).logits[0].float().numpy()


def write_variant(name, out_dir, seed=0):
    v = VARIANTS[name]
    model = make_model(v["cfg"], seed=seed)
    save(model, out_dir, v["dtype"], v["fmt"], v.get("shard"))
    return out_dir


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="Write a random-init OPT checkpoint with outlier channels")
    ap.add_argument("out_dir")
    ap.add_argument("--variant", default="preln-f32-st", choices=sorted(VARIANTS))
    ap.add_argument("--hidden", type=int, help="override hidden size (and word_embed_proj_dim)")
    ap.add_argument("--layers", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--ffn", type=int)
    ap.add_argument("--max-positions", type=int)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    base = dict(BASE)
    if a.hidden:
        base.update(hidden_size=a.hidden, word_embed_proj_dim=a.hidden)
    if a.layers:
        base["num_hidden_layers"] = a.layers
    if a.heads:
        base["num_attention_heads"] = a.heads
    if a.ffn:
        base["ffn_dim"] = a.ffn
    if a.max_positions:
        base["max_position_embeddings"] = a.max_positions
    v = VARIANTS[a.variant]
    model = make_model(v["cfg"], seed=a.seed, base=base)
    save(model, a.out_dir, v["dtype"], v["fmt"], v.get("shard"))
    print(json.dumps({"written": a.out_dir, "variant": a.variant,
                      "parameters": sum(p.numel() for p in model.parameters())}))
