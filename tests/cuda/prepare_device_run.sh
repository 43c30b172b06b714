#!/usr/bin/env bash
# Builds, on the workstation, what the GPU machine runs (tests/cuda/device_run.sh): that machine
# has nvcc, a driver and Python with PyTorch, but not this project's build dependencies (MLIR 16,
# flatbuffers, ...), so it gets the runtime's tools, the kernel test and a compiled bundle instead
# of a build. Everything goes to build/device (well under the device tool's 64 MiB carry limit):
#   tests/cuda/prepare_device_run.sh [build dir, default build/ci]
# then, with the device tool and carry ["build/device"] (a lease has 15 minutes of device time,
# start included, and 10 per call):
#   1. "bash tests/cuda/device_run.sh" (timeout_s 300: the checks);
#   2. "python3 bench/cuda_bench.py --bin build/device/bin --tokenizer build/device/tokenizer
#      --text build/device/wiki.test.raw --shapes 6.7b --settings W4A8,W4A8-wgmma --repeat 2
#      --out $OUT/cuda_bench.json" (timeout_s 540; it writes the JSON after each part, so a cut
#      run still returns what it measured).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${1:-$ROOT/build/ci}"
OUT="$ROOT/build/device"
SHARED="$ROOT/../shared"
rm -rf "$OUT"
mkdir -p "$OUT/bin" "$OUT/lib"
for tool in rptq-perplexity rptq-generate rptq-bench-runtime rptq-inspect rptq-synth-bundle rptq-bench-cuda-kernels \
    cuda_kernels_test; do
  cp "$BUILD/bin/$tool" "$OUT/bin/"
done
cp -L "$BUILD"/runtime/api/librptq_runtime.so.0 "$OUT/lib/"  # real files: links may not travel
cp "$SHARED/data/wikitext-2-raw/wiki.test.raw" "$OUT/"
mkdir -p "$OUT/tokenizer" && cp "$SHARED"/data/opt-tokenizer/{vocab.json,merges.txt} "$OUT/tokenizer/"  # for bench/cuda_bench.py
# The cuda tests' own model (random OPT with outlier channels) and bundle, for h100 and Orin.
"$ROOT/build/venv/bin/python" - "$ROOT" "$OUT/model" "$SHARED" <<'PY'
import os, sys
root, out, shared = sys.argv[1:4]
sys.path.insert(0, os.path.join(root, "tests", "runtime"))
sys.path.insert(0, os.path.join(root, "tests", "oracle"))
from check_runtime import model_dir
print(model_dir(out, shared))
PY
"$BUILD/bin/rptq-compile" "$OUT/model/model" --calib "$SHARED/data/wikitext-2-raw/original/wiki.valid.raw" \
  --calib-samples 16 --calib-seqlen 128 --clusters 8 --max-tokens 64 --wbits 4 --abits 8 \
  --target h100,jetson-orin,x86-64 -o "$OUT/model-cuda.rptq"
# The same with the prefill linear on wgmma (--cuda-wgmma: an sm_90a cubin), until it is the default.
"$BUILD/bin/rptq-compile" "$OUT/model/model" --calib "$SHARED/data/wikitext-2-raw/original/wiki.valid.raw" \
  --calib-samples 16 --calib-seqlen 128 --clusters 8 --max-tokens 64 --wbits 4 --abits 8 \
  --target h100,x86-64 --cuda-wgmma -o "$OUT/model-cuda-wgmma.rptq"
rm -rf "$OUT/model"
du -sh "$OUT"
