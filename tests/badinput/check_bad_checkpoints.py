"""Broken checkpoint directories: each must make the tool exit non-zero with one clear error line
naming the file and the problem, and never crash (no signal, no sanitizer report)."""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "oracle"))
import opt_oracle  # noqa: E402
from tally import Tally  # noqa: E402
import torch  # noqa: E402
from safetensors.torch import load_file, save_file  # noqa: E402


def variant(base, name):
    d = os.path.join(base, name)
    shutil.rmtree(d, ignore_errors=True)
    return d


def build_cases(work):
    good = os.path.join(work, "good")
    if not os.path.exists(os.path.join(good, "model.safetensors")):
        opt_oracle.save(opt_oracle.make_model({}, seed=3), good)
    good_bin = os.path.join(work, "good-bin-sharded")
    if not os.path.exists(os.path.join(good_bin, "pytorch_model.bin.index.json")):
        opt_oracle.save(opt_oracle.make_model({}, seed=3), good_bin, fmt="bin", shard="300KB")
    st = os.path.join(good, "model.safetensors")
    cases = []

    def copy(name):
        d = variant(work, name)
        shutil.copytree(good, d)
        return d

    d = copy("no-config"); os.remove(os.path.join(d, "config.json"))
    cases.append((d, os.path.join(d, "config.json"), "missing"))

    d = copy("no-weights"); os.remove(os.path.join(d, "model.safetensors"))
    cases.append((d, d, "no weights found"))

    size = os.path.getsize(st)
    for frac in (0.0, 0.001, 0.5, 0.999):
        d = copy(f"truncated-{frac}")
        with open(os.path.join(d, "model.safetensors"), "r+b") as f:
            f.truncate(int(size * frac))
        cases.append((d, os.path.join(d, "model.safetensors"), ""))

    d = copy("header-lies")
    with open(os.path.join(d, "model.safetensors"), "rb") as f:
        n = int.from_bytes(f.read(8), "little")
        header = json.loads(f.read(n))
        data = f.read()
    key = next(k for k in header if k != "__metadata__")
    b, e = header[key]["data_offsets"]
    header[key]["data_offsets"] = [b, e + 10**9]
    raw = json.dumps(header).encode()
    with open(os.path.join(d, "model.safetensors"), "wb") as f:
        f.write(len(raw).to_bytes(8, "little") + raw + data)
    cases.append((d, os.path.join(d, "model.safetensors"), "data_offsets"))

    tensors = load_file(st)
    d = copy("wrong-shape")
    t = dict(tensors)
    k = "model.decoder.layers.0.fc1.weight"
    t[k] = t[k][:-1].contiguous()
    save_file(t, os.path.join(d, "model.safetensors"))
    cases.append((d, os.path.join(d, "model.safetensors"), "expected [256, 64]"))

    d = copy("wrong-dtype")
    t = dict(tensors)
    t[k] = t[k].to(torch.int32)
    save_file(t, os.path.join(d, "model.safetensors"))
    cases.append((d, os.path.join(d, "model.safetensors"), "I32"))

    d = copy("missing-tensor")
    t = dict(tensors)
    del t["model.decoder.layers.1.fc2.bias"]
    save_file(t, os.path.join(d, "model.safetensors"))
    cases.append((d, d, "decoder.layers.1.fc2.bias"))

    d = copy("not-opt")
    cfg = json.load(open(os.path.join(d, "config.json")))
    cfg["model_type"] = "gpt2"
    json.dump(cfg, open(os.path.join(d, "config.json"), "w"))
    cases.append((d, os.path.join(d, "config.json"), "gpt2"))

    d = copy("config-not-json")
    open(os.path.join(d, "config.json"), "w").write("{\"model_type\": \"opt\",")
    cases.append((d, os.path.join(d, "config.json"), "not valid JSON"))

    d = variant(work, "index-missing-shard")
    shutil.copytree(good_bin, d)
    shards = sorted(f for f in os.listdir(d) if f.startswith("pytorch_model-"))
    os.remove(os.path.join(d, shards[-1]))
    cases.append((d, os.path.join(d, "pytorch_model.bin.index.json"), shards[-1]))

    d = variant(work, "bin-truncated")
    shutil.copytree(good_bin, d)
    with open(os.path.join(d, shards[0]), "r+b") as f:
        f.truncate(os.path.getsize(os.path.join(good_bin, shards[0])) // 2)
    cases.append((d, os.path.join(d, shards[0]), ""))

    cases.append((os.path.join(work, "does-not-exist"), os.path.join(work, "does-not-exist"), "not a directory"))
    return cases


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", required=True)
    ap.add_argument("--work")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="rptq-bad-")
    os.makedirs(work, exist_ok=True)
    tally = Tally()
    for model_dir, must_name, must_say in build_cases(work):
        p = subprocess.run([a.tool, model_dir, "--tokens", "2,5,6", "--out", os.path.join(work, "out.f32")],
                           capture_output=True, text=True, timeout=60)
        err = p.stderr.strip()
        ok = (p.returncode == 1 and must_name in err and must_say in err and "Sanitizer" not in err
              and len(err.splitlines()) == 1)
        tally.check(ok, f"{os.path.basename(model_dir)}: exit {p.returncode}: {err[:300]}")
    return tally.finish()


if __name__ == "__main__":
    sys.exit(main())
