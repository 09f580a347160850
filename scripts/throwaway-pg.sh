#!/usr/bin/env bash
# A throwaway PostgreSQL server of its own, for tests and benches that
# restart the database or kill its backends (never the shared cluster that
# other test runs use at the same time).
#
# Usage: scripts/throwaway-pg.sh start DIR PORT | restart DIR [DOWN] | stop DIR
#   start   initdb into DIR (trust auth, socket in DIR) and start on PORT
#   restart stop (-m fast: the server drops every connection), stay down
#           DOWN seconds (default 0), start again
#   stop    stop and remove DIR
# As root, the server runs as the `postgres` user (initdb refuses root).
set -euo pipefail

cmd="$1"
dir="$2"
bin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"

as_owner() {
    if [ "$(id -u)" = 0 ]; then
        su postgres -s /bin/bash -c "$*"
    else
        bash -c "$*"
    fi
}

case "$cmd" in
start)
    port="$3"
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres "$dir"
    as_owner "'$bin/initdb' -D '$dir/data' -U postgres -A trust >'$dir/initdb.log' 2>&1"
    echo "-p $port -k '$dir' -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off" >"$dir/options"
    as_owner "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -o \"$(cat "$dir/options")\" start >/dev/null"
    ;;
restart)
    as_owner "'$bin/pg_ctl' -D '$dir/data' -m fast -w stop >/dev/null"
    sleep "${3:-0}"
    as_owner "'$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -o \"$(cat "$dir/options")\" start >/dev/null"
    ;;
stop)
    as_owner "'$bin/pg_ctl' -D '$dir/data' -m immediate -w stop >/dev/null" || true
    rm -rf "$dir"
    ;;
*)
    echo "usage: $0 start DIR PORT | restart DIR | stop DIR" >&2
    exit 2
    ;;
esac
