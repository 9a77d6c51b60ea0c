#!/usr/bin/env bash
# Static checks at the level configured in pyproject.toml ([tool.ruff], [tool.mypy]): ruff on
# the whole tree, mypy on nnexp and hydra_plugins. Uses the venv's tools (nnexp[lint], part of
# nnexp[test]: run scripts/setup.sh first). Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${NNEXP_VENV:-.venv}"
status=0
if "$VENV/bin/ruff" check --quiet .; then
  echo "lint: ruff: clean"
else
  status=1
fi
if out=$("$VENV/bin/mypy" --python-executable "$VENV/bin/python" 2>&1); then
  echo "lint: mypy: clean"
else
  echo "$out"
  status=1
fi
exit "$status"
