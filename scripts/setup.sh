#!/usr/bin/env bash
# Create .venv (if needed) and install nnexp with its test extras and the plugin packages in
# plugins/. Idempotent: reinstalls only when a pyproject.toml changed.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NNEXP_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
stamp="$VENV/.nnexp-installed"
want=$(cat pyproject.toml plugins/*/pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  plugin_args=()
  for p in plugins/*/; do [ -f "$p/pyproject.toml" ] && plugin_args+=(-e "$p"); done
  "$VENV/bin/python" -m pip install -q -e ".[test]" "${plugin_args[@]}"
  echo "$want" > "$stamp"
fi
