#!/usr/bin/env bash
# A local Ray cluster for sweeps (hydra/launcher=ray_cluster), on 127.0.0.1 only.
#
#   bash scripts/ray_cluster.sh start    # `ray start --head`; prints the address to use
#   bash scripts/ray_cluster.sh status
#   bash scripts/ray_cluster.sh stop     # `ray stop`: ends what start started
#
# Needs nnexp[ray] in the venv (start installs it: pip install 'nnexp[ray]').
# Settings: NNEXP_RAY_PORT (default 6380), NNEXP_RAY_CPUS (default: every core),
# NNEXP_VENV (default .venv).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=$(realpath -m "${NNEXP_VENV:-.venv}")
PORT=${NNEXP_RAY_PORT:-6380}
ADDRESS="127.0.0.1:$PORT"
RAY="$VENV/bin/ray"

case "${1:-}" in
  start)
    [ -x "$VENV/bin/python" ] || NNEXP_EXTRAS="${NNEXP_EXTRAS:-ray}" bash scripts/setup.sh
    if ! "$VENV/bin/python" -c "import ray, hydra_plugins.hydra_ray_launcher" 2>/dev/null; then
      echo "ray_cluster.sh: installing Ray: pip install 'nnexp[ray]'" >&2
      "$VENV/bin/python" -m pip install -q -e ".[ray]"
    fi
    cpus=()
    [ -n "${NNEXP_RAY_CPUS:-}" ] && cpus=(--num-cpus "$NNEXP_RAY_CPUS")
    # The workers run this venv's python. Ray turns --node-ip-address=127.0.0.1 into the
    # machine's address and listens on every interface; its single-machine mode (the switch
    # below, named for macOS/Windows where it is the default) keeps every server on 127.0.0.1.
    RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 PATH="$VENV/bin:$PATH" "$RAY" start --head --port="$PORT" \
      --include-dashboard=false --disable-usage-stats "${cpus[@]}" >&2
    echo "hydra/launcher=ray_cluster hydra.launcher.ray.init.address=$ADDRESS"
    echo "export RAY_ADDRESS=$ADDRESS"
    ;;
  status) RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 "$RAY" status --address "$ADDRESS" ;;
  stop) "$RAY" stop >&2 ;;
  *) echo "usage: bash scripts/ray_cluster.sh start|stop|status" >&2; exit 2 ;;
esac
