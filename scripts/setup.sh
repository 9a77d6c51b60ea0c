#!/usr/bin/env bash
# Create .venv (if needed) and install nnexp with its test extras and the plugin packages in
# plugins/. Idempotent: reinstalls only when a pyproject.toml changed.
# NNEXP_WITH_TORCH=1 also installs PyTorch (torch==2.13.0) for the comparison tests;
# NNEXP_EXTRAS=server,ray,slurm also installs those extras of nnexp (see pyproject.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NNEXP_VENV:-.venv}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
fi
stamp="$VENV/.nnexp-installed"
extras="test${NNEXP_EXTRAS:+,$NNEXP_EXTRAS}"
want=$( (echo "$extras"; cat pyproject.toml plugins/*/pyproject.toml 2>/dev/null) | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  plugin_args=()
  for p in plugins/*/; do [ -f "$p/pyproject.toml" ] && plugin_args+=(-e "$p"); done
  "$VENV/bin/python" -m pip install -q -e ".[$extras]" "${plugin_args[@]}"
  echo "$want" > "$stamp"
fi
# Optional: PyTorch for the comparison tests and benchmarks (never a dependency of nnexp).
# Opt-in, since on most machines `pip install torch` downloads a multi-GB CUDA build.
if [ "${NNEXP_WITH_TORCH:-0}" = "1" ] && ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  "$VENV/bin/python" -m pip install -q "torch==${NNEXP_TORCH_VERSION:-2.13.0}" \
    || echo "setup: torch not installed; the PyTorch comparison tests will be skipped" >&2
fi
