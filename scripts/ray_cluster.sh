#!/usr/bin/env bash
# A local Ray cluster for sweeps (hydra/launcher=ray_cluster), on 127.0.0.1 only.
#
#   bash scripts/ray_cluster.sh start    # `ray start --head`; prints the address to use
#   bash scripts/ray_cluster.sh status
#   bash scripts/ray_cluster.sh stop     # ends what start started (never another Ray), and
#                                        # removes its files (/tmp/nnexp-ray-PORT)
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
# Ray's own files (sockets: a short path), and the pid of the process group start made.
TMP="/tmp/nnexp-ray-$PORT"
PIDFILE="$TMP/cluster.pid"
# Ray turns --node-ip-address=127.0.0.1 into the machine's address and listens on every
# interface; its single-machine mode (this switch, named for macOS/Windows where it is the
# default) keeps every server on 127.0.0.1. The driver sets it too (nnexp's Ray launcher).
export RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0

running() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }
up() { "$RAY" status --address "$ADDRESS" >/dev/null 2>&1; }

case "${1:-}" in
  start)
    [ -x "$VENV/bin/python" ] || NNEXP_EXTRAS="${NNEXP_EXTRAS:-ray}" bash scripts/setup.sh
    if ! "$VENV/bin/python" -c "import ray, hydra_plugins.hydra_ray_launcher" 2>/dev/null; then
      echo "ray_cluster.sh: installing Ray: pip install 'nnexp[ray]'" >&2
      "$VENV/bin/python" -m pip install -q -e ".[ray]"
    fi
    if running; then echo "ray_cluster.sh: already running at $ADDRESS" >&2; else
      cpus=()
      [ -n "${NNEXP_RAY_CPUS:-}" ] && cpus=(--num-cpus "$NNEXP_RAY_CPUS")
      mkdir -p "$TMP"
      # --block in a session of its own: stop ends exactly this cluster's process group.
      # The workers run this venv's python.
      PATH="$VENV/bin:$PATH" setsid "$RAY" start --head --block --port="$PORT" --temp-dir="$TMP" \
        --include-dashboard=false --disable-usage-stats "${cpus[@]}" > "$TMP/start.log" 2>&1 < /dev/null &
      echo $! > "$PIDFILE"
      for _ in $(seq 120); do
        up && break
        running || { cat "$TMP/start.log" >&2; echo "ray_cluster.sh: error: Ray did not start" >&2; exit 1; }
        sleep 1
      done
      up || { echo "ray_cluster.sh: error: Ray not up after 120 s; see $TMP/start.log" >&2; exit 1; }
    fi
    echo "hydra/launcher=ray_cluster hydra.launcher.ray.init.address=$ADDRESS"
    echo "export RAY_ADDRESS=$ADDRESS"
    ;;
  status)
    if running && up; then "$RAY" status --address "$ADDRESS"; else echo "ray cluster: stopped"; fi ;;
  stop)
    if running; then
      pid=$(cat "$PIDFILE")
      kill -TERM -- "-$pid" 2>/dev/null || true
      for _ in $(seq 60); do kill -0 -- "-$pid" 2>/dev/null || break; sleep 0.5; done
      kill -KILL -- "-$pid" 2>/dev/null || true
    fi
    rm -rf "$TMP"  # Ray's sockets, session files and logs
    echo "ray_cluster.sh: stopped" >&2
    ;;
  *) echo "usage: bash scripts/ray_cluster.sh start|stop|status" >&2; exit 2 ;;
esac
