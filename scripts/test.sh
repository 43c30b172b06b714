#!/usr/bin/env bash
# The test command: installs dependencies (idempotent), builds the `ci` preset and runs every test
# with ctest, then rebuilds the checkpoint readers and runtime under ASan/UBSan and runs the unit
# tests (which feed them truncated and corrupt files) there too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/install-deps.sh
cmake --preset ci
cmake --build --preset ci
ctest --preset ci --parallel 2

cmake --preset asan
cmake --build --preset asan
ctest --test-dir build/asan -L unit --output-on-failure
