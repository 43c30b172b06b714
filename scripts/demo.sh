#!/usr/bin/env bash
# The main job: install dependencies, build, take the sample OPT model, import it into the rptq
# MLIR dialect and generate text from it with the fp32 reference executor.
#
# The sample model is the first trained checkpoint in ../shared/models when there is one; until
# then a small random-init OPT with outlier channels is written by the transformers oracle (its
# text is gibberish: the weights are random).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SHARED="$(cd .. && pwd)/shared"

scripts/install-deps.sh
cmake --preset dev >/dev/null
cmake --build --preset dev

MODEL=""
if [ -d "$SHARED/models" ]; then
  MODEL=$(find "$SHARED/models" -mindepth 2 -maxdepth 2 -name config.json -printf '%h\n' | sort | head -n1)
fi
if [ -z "$MODEL" ]; then
  MODEL=build/dev/sample-model
  if [ ! -f "$MODEL/config.json" ]; then
    build/venv/bin/python tests/oracle/opt_oracle.py "$MODEL" --hidden 256 --layers 4 --heads 8 --ffn 1024 \
      --max-positions 512
  fi
fi
for f in vocab.json merges.txt; do
  [ -f "$MODEL/$f" ] || cp "$SHARED/data/opt-tokenizer/$f" "$MODEL/"
done

echo "== importing $MODEL into the rptq dialect"
build/dev/bin/rptq-compile "$MODEL" --emit mlir -o build/dev/sample-model.mlir
head -n 12 build/dev/sample-model.mlir
echo "== generating with the fp32 reference executor"
build/dev/bin/rptq-float-generate "$MODEL" --prompt "The capital of France is" --max-new-tokens 24
