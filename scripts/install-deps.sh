#!/usr/bin/env bash
# Installs everything rptq needs to build and test on Debian 12 (bookworm).
# Idempotent: re-running only installs what is missing.
#
#   scripts/install-deps.sh [--venv DIR]
#
# System packages come from Debian; the Python oracle (transformers, tokenizers,
# safetensors) goes into a virtualenv that sees Debian's python3-torch, so no
# multi-GB CUDA wheels are pulled from PyPI.
set -euo pipefail

VENV=""
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) VENV="$2"; shift 2 ;;
    *) echo "install-deps.sh: unknown argument '$1'" >&2; exit 2 ;;
  esac
done
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/build/venv}"

APT_PACKAGES=(
  build-essential cmake ninja-build pkg-config
  llvm-16-dev llvm-16-tools libmlir-16-dev mlir-16-tools clang-16 libclang-rt-16-dev
  libflatbuffers-dev flatbuffers-compiler libcli11-dev catch2 libxxhash-dev
  libeigen3-dev libopenblas-dev nlohmann-json3-dev
  g++-aarch64-linux-gnu qemu-user
  python3 python3-venv python3-pip python3-torch python3-numpy
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  echo "install-deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The oracle venv uses Debian's interpreter so that python3-torch is visible.
PY=/usr/bin/python3
if [ ! -x "$VENV/bin/python" ]; then
  echo "install-deps: creating oracle virtualenv at $VENV"
  "$PY" -m venv --system-site-packages "$VENV"
fi
# transformers 4.38 is the newest line that still supports Debian 12's torch 1.13. NVIDIA's
# cuobjdump and nvdisasm wheels (6 MB; the toolkit here has neither) let the cuda tests read the
# machine code of the bundles' CUDA kernels (tests/cuda/check_cuda.py).
PIP_PACKAGES=("transformers==4.38.2" "tokenizers==0.15.2" "safetensors==0.4.2" "lit==16.0.6"
              "nvidia-cuda-cuobjdump==13.5.37" "nvidia-cuda-nvdisasm==13.5.37")
if ! "$VENV/bin/python" - "${PIP_PACKAGES[@]}" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
for spec in sys.argv[1:]:
    name, want = spec.split("==")
    if version(name) != want:
        sys.exit(1)
PYEOF
then
  echo "install-deps: installing ${PIP_PACKAGES[*]} into $VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi
echo "install-deps: done"
