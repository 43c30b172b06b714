#!/usr/bin/env bash
# The main job: install dependencies, build, compile the sample OPT model into an RPTQ W4A8 bundle
# (calibrated on WikiText-2) and generate text from the bundle with the runtime.
#
# The sample model is the first trained checkpoint in ../shared/models when there is one; until
# then a tiny OPT trained here on WikiText-2 valid (tests/oracle/train_tiny_opt.py: about 8 minutes
# on 2 cores, once; its text is WikiText-flavoured but far from fluent).
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
  build/venv/bin/python tests/oracle/train_tiny_opt.py "$MODEL" --shared "$SHARED"
fi
for f in vocab.json merges.txt; do
  [ -f "$MODEL/$f" ] || cp "$SHARED/data/opt-tokenizer/$f" "$MODEL/"
done

CALIB="$SHARED/data/wikitext-2-raw/wiki.train.raw"
[ -f "$CALIB" ] || CALIB="$SHARED/data/wikitext-2-raw/original/wiki.valid.raw"
echo "== compiling $MODEL to an RPTQ W4A8 bundle"
build/dev/bin/rptq-compile "$MODEL" --calib "$CALIB" --wbits 4 --abits 8 \
  --eval "$SHARED/data/wikitext-2-raw/wiki.test.raw" --max-windows 40 --report build/dev/sample-model.html \
  -o build/dev/sample-model.rptq
build/dev/bin/rptq-inspect build/dev/sample-model.rptq | head -n 8
echo "== generating from the bundle"
build/dev/bin/rptq-generate build/dev/sample-model.rptq "The history of the city" --max-new-tokens 40 --stats
