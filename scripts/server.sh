#!/usr/bin/env bash
# A tracking server for a team's runs and sweeps: PostgreSQL + `mlflow server`, on 127.0.0.1 only.
#
#   bash scripts/server.sh start    # prints the tracking.uri to use (and an export line)
#   bash scripts/server.sh status   # what runs, and the tracking.uri
#   bash scripts/server.sh stop     # stops both (the data stays in the server directory)
#   bash scripts/server.sh install  # only installs PostgreSQL and the driver (as start does)
#
# start installs Debian's postgresql package if missing (apt-get, as root; no cluster or
# system service is created), creates a database cluster in $NNEXP_SERVER_DIR/pg (initdb,
# then pg_ctl as the postgres user when run as root), and starts
#   mlflow server --backend-store-uri postgresql+psycopg://... --artifacts-destination DIR/artifacts
# so runs go to PostgreSQL and artifacts are proxied by the server into the server directory.
# The driver comes with nnexp's extra: start installs it into the venv (`pip install 'nnexp[server]'`).
#
# Settings (environment):
#   NNEXP_SERVER_DIR    where everything lives (default: .nnexp-server in the project)
#   NNEXP_MLFLOW_PORT   the tracking server's port (default 5055)
#   NNEXP_PG_PORT       PostgreSQL's port (default 5433)
#   NNEXP_MLFLOW_WORKERS  the server's worker processes (default 2)
#   NNEXP_VENV          the venv with nnexp (default .venv; made by scripts/setup.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
PROJECT=$(pwd)
DIR=$(realpath -m "${NNEXP_SERVER_DIR:-.nnexp-server}")
VENV=$(realpath -m "${NNEXP_VENV:-.venv}")
MLFLOW_PORT=${NNEXP_MLFLOW_PORT:-5055}
PG_PORT=${NNEXP_PG_PORT:-5433}
WORKERS=${NNEXP_MLFLOW_WORKERS:-2}
HOST=127.0.0.1
URI="http://$HOST:$MLFLOW_PORT"

say() { echo "server.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

pg_bin() {  # the directory of pg_ctl/initdb (Debian keeps them out of PATH)
  local found
  found=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -z "$found" ] && command -v pg_ctl >/dev/null; then found=$(dirname "$(command -v pg_ctl)"); fi
  echo "$found"
}

install_postgres() {
  [ "$(id -u)" = 0 ] || die "PostgreSQL is not installed; as root: apt-get install -y postgresql"
  say "installing Debian's postgresql package (no cluster, no service)"
  mkdir -p /etc/postgresql-common
  # The package would create and start a system cluster on port 5432: not wanted here.
  grep -qs '^create_main_cluster' /etc/postgresql-common/createcluster.conf \
    || echo "create_main_cluster = false" >> /etc/postgresql-common/createcluster.conf
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

as_pg() {  # PostgreSQL refuses to run as root: root runs it as the postgres user
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_data() {  # the cluster's directory: DIR/pg, unless the postgres user cannot reach DIR
  # (a parent directory such as /root is closed to it); the choice is kept in DIR/pgdata.
  if [ -f "$DIR/pgdata" ]; then cat "$DIR/pgdata"; return; fi
  mkdir -p "$DIR"
  local data="$DIR/pg"
  if [ "$(id -u)" = 0 ] && ! runuser -u postgres -- test -x "$DIR"; then
    data="/var/tmp/nnexp-server-$(echo "$DIR" | sha256sum | cut -c1-12)/pg"
  fi
  echo "$data" | tee "$DIR/pgdata"
}

ensure_driver() {
  [ -x "$VENV/bin/python" ] || NNEXP_EXTRAS="${NNEXP_EXTRAS:-server}" bash scripts/setup.sh
  if ! "$VENV/bin/python" -c "import psycopg" 2>/dev/null; then
    say "installing the PostgreSQL driver: pip install 'nnexp[server]'"
    "$VENV/bin/python" -m pip install -q -e "$PROJECT[server]"
  fi
}

start_postgres() {
  local bin data password
  bin=$(pg_bin); [ -n "$bin" ] || { install_postgres; bin=$(pg_bin); }
  [ -x "$bin/pg_ctl" ] || die "no pg_ctl found after installing postgresql"
  data=$(pg_data)
  mkdir -p "$DIR" "$(dirname "$data")"
  [ -f "$DIR/password" ] || (umask 077; head -c 18 /dev/urandom | base64 | tr -d '/+=' > "$DIR/password")
  password=$(cat "$DIR/password")
  if [ ! -f "$data/PG_VERSION" ]; then
    say "creating the database cluster in $data"
    mkdir -p "$data"; [ "$(id -u)" = 0 ] && chown postgres "$data"
    local pwfile; pwfile=$(mktemp); echo "$password" > "$pwfile"
    [ "$(id -u)" = 0 ] && chown postgres "$pwfile"
    as_pg "$bin/initdb" -D "$data" -U nnexp --pwfile="$pwfile" -A scram-sha-256 -E UTF8 >/dev/null
    rm -f "$pwfile"
  fi
  if ! as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    touch "$DIR/postgres.log"; [ "$(id -u)" = 0 ] && chown postgres "$DIR/postgres.log"
    as_pg "$bin/pg_ctl" -D "$data" -l "$DIR/postgres.log" -w -t 60 start \
      -o "-c listen_addresses=$HOST -p $PG_PORT -c unix_socket_directories=''" >/dev/null \
      || die "PostgreSQL did not start; see $DIR/postgres.log"
  fi
  PGPASSWORD=$password "$bin/psql" -h $HOST -p "$PG_PORT" -U nnexp -d postgres -qtAc \
    "SELECT 1 FROM pg_database WHERE datname = 'mlflow'" | grep -q 1 \
    || PGPASSWORD=$password "$bin/createdb" -h $HOST -p "$PG_PORT" -U nnexp mlflow
}

mlflow_running() { [ -f "$DIR/mlflow.pid" ] && kill -0 "$(cat "$DIR/mlflow.pid")" 2>/dev/null; }

healthy() { "$VENV/bin/python" - "$URI/health" <<'EOF' 2>/dev/null
import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=2)
EOF
}

start_mlflow() {
  if mlflow_running; then say "mlflow server already running (pid $(cat "$DIR/mlflow.pid"))"; return; fi
  local store="postgresql+psycopg://nnexp:$(cat "$DIR/password")@$HOST:$PG_PORT/mlflow"
  mkdir -p "$DIR/artifacts"
  # Its own session, so stop can end the server and its workers as one process group.
  MLFLOW_TRACKING_URI="" setsid "$VENV/bin/python" -m mlflow server --host $HOST --port "$MLFLOW_PORT" \
    --backend-store-uri "$store" --artifacts-destination "$DIR/artifacts" --workers "$WORKERS" \
    > "$DIR/mlflow.log" 2>&1 < /dev/null &
  echo $! > "$DIR/mlflow.pid"
  for _ in $(seq 240); do
    healthy && return
    mlflow_running || die "mlflow server exited; see $DIR/mlflow.log"
    sleep 0.5
  done
  die "mlflow server not answering at $URI after 120 s; see $DIR/mlflow.log"
}

stop_mlflow() {
  mlflow_running || { rm -f "$DIR/mlflow.pid"; return; }
  local pid; pid=$(cat "$DIR/mlflow.pid")
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL -- "-$pid" 2>/dev/null || true
  rm -f "$DIR/mlflow.pid"
}

stop_postgres() {
  [ -f "$DIR/pgdata" ] || return 0
  local bin data; bin=$(pg_bin); data=$(cat "$DIR/pgdata")
  [ -n "$bin" ] && [ -f "$data/PG_VERSION" ] || return 0
  as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1 || return 0
  as_pg "$bin/pg_ctl" -D "$data" -m fast -w stop >/dev/null
}

case "${1:-}" in
  install)
    ensure_driver
    [ -n "$(pg_bin)" ] || install_postgres
    [ -n "$(pg_bin)" ] || die "no pg_ctl found after installing postgresql"
    ;;
  start)
    ensure_driver
    start_postgres
    start_mlflow
    say "PostgreSQL on $HOST:$PG_PORT, mlflow server on $URI (artifacts in $DIR/artifacts)"
    echo "tracking.uri=$URI"
    echo "export MLFLOW_TRACKING_URI=$URI"
    ;;
  stop)
    stop_mlflow
    stop_postgres
    say "stopped (the runs stay in $DIR)"
    ;;
  status)
    if mlflow_running && healthy; then echo "mlflow server: running at $URI"; else echo "mlflow server: stopped"; fi
    bin=$(pg_bin); data=$(cat "$DIR/pgdata" 2>/dev/null || true)
    if [ -n "$bin" ] && [ -n "$data" ] && [ -f "$data/PG_VERSION" ] && as_pg "$bin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
      echo "postgresql: running on $HOST:$PG_PORT ($data)"
    else
      echo "postgresql: stopped"
    fi
    if mlflow_running && healthy; then echo "tracking.uri=$URI"; fi
    ;;
  *)
    echo "usage: bash scripts/server.sh start|stop|status|install" >&2; exit 2 ;;
esac
