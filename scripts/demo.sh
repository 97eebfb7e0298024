#!/usr/bin/env bash
# Install (first time) and run the whole pipeline on a generated Oxford-layout sample.
# The training settings suit 64 small images on a CPU (about 1.5 minutes of training).
source "$(dirname "$0")/venv.sh"
OUT="${1:-$ROOT/demo-output}"
petseg make-sample-data "$OUT/data"
petseg run --dataset oxford_pets --data-dir "$OUT/data" --output-dir "$OUT/run" \
  --image-size 96 --epochs 30 --batch-size 8 --learning-rate 0.002
