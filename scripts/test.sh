#!/usr/bin/env bash
# Install (first time) and run every test, the slow end-to-end ones included, in two worker
# processes (tests/conftest.py keeps the tests that share a pipeline run in one).
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -m "not slow"`, or `-n 0` for
# one process.
source "$(dirname "$0")/venv.sh"
cd "$ROOT"
# The registry page's test opens it in headless Chromium: Debian's, installed where we may.
if ! command -v chromium >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "Installing Chromium for the registry page's test" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
    >/dev/null 2>&1 || echo "Chromium did not install: that test will be skipped" >&2
fi
exec python -m pytest tests -n 2 --dist loadgroup "$@"
