#!/usr/bin/env bash
# Old code against new, alternately, through the real CLI: wall seconds of `nnexp ARGS...`
# with OLD (another checkout of this repository, e.g. `git worktree add /tmp/old <commit>`)
# first on PYTHONPATH, then this checkout, N times each, in fresh directories whose SQLite
# store a first untimed run created. For a change whose effect is smaller than the shared
# machine's swings: each pair runs under about the same load (printed beside it).
#
#   OLD=/tmp/old N=2 bash benchmarks/ab_cli.sh -m +experiment=xor 'seed=range(8)'
set -euo pipefail
: "${OLD:?set OLD to another checkout of this repository}"
NEW="$(cd "$(dirname "$0")/.." && pwd)"
NNEXP="${NNEXP_VENV:-$NEW/.venv}/bin/nnexp"
for _ in $(seq "${N:-3}"); do
  for side in old new; do
    code="$NEW"; [ "$side" = old ] && code="$OLD"
    dir="$(mktemp -d)"
    (cd "$dir" && PYTHONPATH="$code" "$NNEXP" +experiment=xor trainer.epochs=1 tracking.plot=false >/dev/null 2>&1)
    start=$(date +%s.%N)
    (cd "$dir" && PYTHONPATH="$code" "$NNEXP" "$@" >/dev/null 2>&1) || echo "$side: nnexp $* failed"
    end=$(date +%s.%N)
    printf '%-4s %7.2f s  load %s\n' "$side" "$(awk "BEGIN{print $end - $start}")" "$(cut -d' ' -f1 /proc/loadavg)"
    rm -rf "$dir"
  done
done
