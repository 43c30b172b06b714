#!/usr/bin/env bash
# The GPU checks, on the GPU machine, from build/device (tests/cuda/prepare_device_run.sh):
#   1. every generated kernel against the CPU kernels on random inputs (cuda_kernels_test);
#   2. the bundle on the GPU vs the CPU: perplexity to 3 significant digits, 32 greedy tokens (and
#      the same bundle built with --cuda-wgmma);
#   3. cuobjdump's listing of the bundle's code, and the runtime's speed on the test bundle (three
#      streams, then one, then each step's time).
# The speed on OPT shapes, with the GEMM table, is bench/cuda_bench.py's (a second call).
# Prints everything; exits non-zero if a check failed.
set -u
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
D="$ROOT/build/device"
export LD_LIBRARY_PATH="$D/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
status=0
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv || true
echo "== kernels vs CPU"
"$D/bin/cuda_kernels_test" || status=1
echo "== bundle: GPU vs CPU"
mkdir -p "$D/shared/data/wikitext-2-raw"
ln -sf "$D/wiki.test.raw" "$D/shared/data/wikitext-2-raw/wiki.test.raw"
python3 "$ROOT/tests/cuda/check_cuda.py" --part gpu --bin "$D/bin" --work /tmp/rptq-cuda-work \
  --shared "$D/shared" --bundle "$D/model-cuda.rptq" || status=1
echo "== the same with the prefill linear on wgmma (--cuda-wgmma)"
python3 "$ROOT/tests/cuda/check_cuda.py" --part gpu --bin "$D/bin" --work /tmp/rptq-cuda-work-wgmma \
  --shared "$D/shared" --bundle "$D/model-cuda-wgmma.rptq" || status=1
echo "== what the bundle carries"
"$D/bin/rptq-inspect" "$D/model-cuda.rptq" | grep -A6 '^targets'
if command -v cuobjdump >/dev/null; then
  python3 - "$D/model-cuda.rptq" <<'PY'
import struct, subprocess, sys, tempfile
data = open(sys.argv[1], "rb").read()
for off in range(0, len(data) - 16, 64):
    if struct.unpack_from("<I", data, off)[0] == 0xBA55ED50:
        size = struct.unpack_from("<Q", data, off + 8)[0] + 16
        with tempfile.NamedTemporaryFile(suffix=".fatbin") as f:
            f.write(data[off:off + size]); f.flush()
            print(subprocess.run(["cuobjdump", "--list-elf", "--list-ptx", f.name], capture_output=True, text=True).stdout)
PY
fi
echo "== speed on the test bundle (tiny model: launch-bound, not a product figure)"
"$D/bin/rptq-bench-runtime" "$D/model-cuda.rptq" --text "$D/wiki.test.raw" --prefill 60 --decode 60 --repeat 3 || status=1
echo "== the same on one stream (RPTQ_CUDA_STREAMS=1; above: Q, K and V on three)"
RPTQ_CUDA_STREAMS=1 "$D/bin/rptq-bench-runtime" "$D/model-cuda.rptq" --text "$D/wiki.test.raw" --prefill 60 --decode 60 \
  --repeat 3 || status=1
echo "== where the time goes (RPTQ_CUDA_PROFILE: one stream, no graph, every step timed)"
RPTQ_CUDA_PROFILE=/tmp/rptq-cuda-profile.json "$D/bin/rptq-bench-runtime" "$D/model-cuda.rptq" --text "$D/wiki.test.raw" \
  --prefill 60 --decode 60 --repeat 1 >/dev/null && cat /tmp/rptq-cuda-profile.json || status=1
exit $status
