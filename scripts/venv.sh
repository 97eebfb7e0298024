# Sourced by demo.sh and test.sh: make sure .venv holds this checkout's install.
# TFX 1.16 installs on Python 3.10 only; pyenv machines have it without putting it on PATH.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"

find_python310() {
  if [ -n "${PETSEG_PYTHON:-}" ]; then echo "$PETSEG_PYTHON"; return; fi
  if python3.10 --version >/dev/null 2>&1; then command -v python3.10; return; fi
  local root candidate
  root="$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"
  candidate="$(ls -d "$root"/versions/3.10*/bin/python3.10 2>/dev/null | sort -V | tail -n 1)"
  if [ -n "$candidate" ]; then echo "$candidate"; return; fi
  echo "error: Python 3.10 not found (TFX 1.16 cannot install on 3.11+); set PETSEG_PYTHON" >&2
  return 1
}

# Reinstall only when what decides the install changed.
stamp="$(cat "$ROOT/setup.py" "$ROOT/constraints.txt" | sha256sum | cut -d' ' -f1)"
if [ "$(cat "$VENV/.install-stamp" 2>/dev/null)" != "$stamp" ]; then
  python="$(find_python310)"
  echo "Installing petseg into $VENV with $python (first time: about 5 minutes)" >&2
  "$python" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip setuptools wheel
  "$VENV/bin/pip" install --quiet -c "$ROOT/constraints.txt" -e "$ROOT[test]"
  echo "$stamp" > "$VENV/.install-stamp"
fi
export PATH="$VENV/bin:$PATH"
# TFT and TFMA need Keras 2; this must be set before TensorFlow is first imported.
export TF_USE_LEGACY_KERAS=1
