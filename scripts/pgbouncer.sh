#!/usr/bin/env bash
# Starts PgBouncer in transaction pooling mode on 127.0.0.1:6432 in front of
# the local PostgreSQL, for the test group that runs through a pooler (as
# Supabase's or any PgBouncer deployment would stand in front of PromoHub).
#
# sqlx names every prepared statement, which a transaction-mode pooler
# carries only from PgBouncer 1.21 (`max_prepared_statements`). Debian
# bookworm packages 1.18, so this builds Debian's own 1.24 source (trixie's
# orig tarball, from the Debian archive) against bookworm's libraries.
#
# Usage: scripts/pgbouncer.sh DIR   (DIR holds the config, log and pid file)
set -euo pipefail

dir="$1"
version=1.24.1
prefix="${PGBOUNCER_PREFIX:-/opt/pgbouncer-$version}"
log() { echo "pgbouncer: $*" >&2; }

if ! "$prefix/bin/pgbouncer" --version >/dev/null 2>&1; then
    log "building PgBouncer $version from Debian's source"
    export DEBIAN_FRONTEND=noninteractive
    need=(libevent-dev libssl-dev pkg-config make gcc)
    if ! dpkg -s "${need[@]}" >/dev/null 2>&1; then
        apt-get install -y -q "${need[@]}" >/dev/null 2>&1 \
            || { apt-get update -q >/dev/null && apt-get install -y -q "${need[@]}" >/dev/null; }
    fi
    build="$(mktemp -d)"
    curl -fsSL -o "$build/src.tar.gz" \
        "http://deb.debian.org/debian/pool/main/p/pgbouncer/pgbouncer_${version}.orig.tar.gz"
    tar -xzf "$build/src.tar.gz" -C "$build"
    (
        cd "$build/pgbouncer-$version"
        ./configure --prefix="$prefix" --without-cares --without-pam --without-systemd >/dev/null
        make -j"$(nproc)" >/dev/null
        make install >/dev/null
    )
    rm -rf "$build"
fi

# Every test has a database of its own: server connections go back to
# PostgreSQL within a second of going idle, or the many per-test pools
# would hold all of PostgreSQL's connection slots.
mkdir -p "$dir"
cat >"$dir/pgbouncer.ini" <<INI
[databases]
* = host=127.0.0.1 port=5432 user=postgres

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = 6432
unix_socket_dir =
auth_type = any
pool_mode = transaction
max_client_conn = 2000
default_pool_size = 4
max_prepared_statements = 500
server_idle_timeout = 1
autodb_idle_timeout = 5
ignore_startup_parameters = extra_float_digits
logfile = ${dir}/pgbouncer.log
pidfile = ${dir}/pgbouncer.pid
INI
# pgbouncer refuses to run as root: it runs as postgres.
chown -R postgres "$dir"
"$prefix/bin/pgbouncer" -d -u postgres "$dir/pgbouncer.ini"
for _ in $(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 6432 && break; sleep 0.5; done
pg_isready -h 127.0.0.1 -p 6432
"$prefix/bin/pgbouncer" --version | head -n1
