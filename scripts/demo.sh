#!/usr/bin/env bash
# Install (first time) and run the whole pipeline on a generated Oxford-layout sample:
# ingest, validate, transform, train (about 1.5 minutes on a CPU), evaluate, and push the
# model if it passes the release gate; then predict masks for a few images with it.
set -euo pipefail
source "$(dirname "$0")/venv.sh"
OUT="${1:-$ROOT/demo-output}"
petseg make-sample-data "$OUT/data"
petseg run --dataset oxford_pets --data-dir "$OUT/data" --output-dir "$OUT/run" \
  --image-size 96 --epochs 30 --batch-size 8 --learning-rate 0.002
petseg predict --model-dir "$OUT/run/serving" "$OUT"/data/images/*_1.jpg \
  --output-dir "$OUT/predictions"
