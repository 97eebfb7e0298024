#!/usr/bin/env bash
# Install (first time) and run every test, the slow end-to-end ones included.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`.
source "$(dirname "$0")/venv.sh"
cd "$ROOT"
exec python -m pytest tests "$@"
