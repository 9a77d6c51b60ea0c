#!/usr/bin/env bash
# Set up (scripts/setup.sh), run the static checks (scripts/lint.sh: ruff and mypy; NNEXP_LINT=0
# skips them) and the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
if [ "${NNEXP_LINT:-1}" != "0" ]; then
  bash scripts/lint.sh
fi
exec "${NNEXP_VENV:-.venv}/bin/python" -m pytest "$@"
