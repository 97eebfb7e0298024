#!/usr/bin/env bash
# Install (first time) and run the whole pipeline on a generated Oxford-layout sample.
source "$(dirname "$0")/venv.sh"
OUT="${1:-$ROOT/demo-output}"
petseg make-sample-data "$OUT/data"
petseg run --dataset oxford_pets --data-dir "$OUT/data" --output-dir "$OUT/run"
