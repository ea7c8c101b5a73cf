#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server for tests and benchmarks, in a directory of its own.
#
#   scripts/postgres.sh start DIR   initdb (first time) and start on a free 127.0.0.1 port;
#                                   prints the SQLAlchemy URL of database "gridderms"
#   scripts/postgres.sh stop DIR    stop the server (the directory is left for the caller)
#
# Runs the server as user `postgres` (we are root in CI; as another user it runs as yourself).
# Needs Debian's postgresql package: `scripts/setup.sh` installs it.
set -euo pipefail

PG_BIN="${PG_BIN:-/usr/lib/postgresql/15/bin}"
action="${1:-}"
dir="${2:-}"
if [ -z "$action" ] || [ -z "$dir" ]; then
  echo "usage: $0 start|stop DIR" >&2
  exit 2
fi
if [ ! -x "$PG_BIN/initdb" ]; then
  echo "postgres.sh: error: $PG_BIN/initdb not found: PostgreSQL 15 is not installed;" \
       "run scripts/setup.sh (installs the Debian package postgresql)" >&2
  exit 3
fi

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

case "$action" in
  start)
    mkdir -p "$dir"
    dir="$(cd "$dir" && pwd)"
    if [ "$(id -u)" = 0 ]; then chown postgres "$dir"; fi
    if [ ! -f "$dir/data/PG_VERSION" ]; then
      as_pg "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-sync >"$dir/initdb.log"
      as_pg mkdir -p "$dir/sock"
    fi
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off" >/dev/null
    as_pg "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -qAt \
      -c "CREATE DATABASE gridderms" >/dev/null
    echo "$port" >"$dir/port"
    echo "postgresql+psycopg://postgres@127.0.0.1:$port/gridderms"
    ;;
  stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
      as_pg "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null
    fi
    ;;
  *)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
