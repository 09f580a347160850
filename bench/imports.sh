#!/usr/bin/env bash
# The import benchmark: a CSV of BENCH_IMPORT_ROWS lead rows (5% bad, 10%
# duplicates) uploaded by `POST /imports` and imported by `startImport`, on
# PostgreSQL and SQLite: rows per second and the server's peak RSS, beside
# PostgreSQL's COPY of the same file into a plain table on the same machine.
#
#   bash bench/imports.sh
#   BENCH_IMPORT_ROWS="1000" BENCH_BACKENDS=sqlite bash bench/imports.sh   # smoke test
#
# Each size runs on a fresh database and a fresh server process, so the
# peak RSS of a small and a large file can be compared (memory should not
# grow with the file). Prints a Markdown report and writes it to
# bench/results/imports-latest.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

ROWS_LIST=${BENCH_IMPORT_ROWS:-10000 100000}
BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
PG_HOST=127.0.0.1
PG_PORT=${BENCH_PG_PORT:-5432}
PG_USER=${BENCH_PG_USER:-postgres}
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER=$TARGET_DIR/release/promohub
RESULTS_DIR=$ROOT/bench/results
REPORT=$RESULTS_DIR/imports-latest.md

WORK=$(mktemp -d "${TMPDIR:-/tmp}/promohub-imports.XXXXXX")
SERVER_PID=""
SAMPLER_PID=""
PG_DB=""
PG_STARTED_BY_US=""
SQLITE_FILE=""

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

cleanup() {
    stop_sampler
    stop_server
    drop_pg_db
    [[ -z $SQLITE_FILE ]] || rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
    stop_pg_if_started
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ $SKIP_BUILD != 1 ]]; then
    log "building the release server"
    cargo build --release --bin promohub >&2
fi

ROWS_OUT=()
COPY_OUT=()

for rows in $ROWS_LIST; do
    file=$WORK/import-$rows.csv
    python3 "$ROOT/bench/imports.py" make "$file" "$rows"
    for backend in $BACKENDS; do
        case $backend in
        sqlite)
            SQLITE_FILE=${TMPDIR:-/tmp}/promohub-imports-$$.db
            rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
            db_url="sqlite://$SQLITE_FILE?mode=rwc"
            ;;
        postgres)
            if ! why=$(postgres_available); then
                log "postgres skipped: $why"
                continue
            fi
            create_pg_db "promohub_imports_$$_$rows"
            db_url=$(pg_url "$PG_DB")
            ;;
        esac
        PORT=$(free_port)
        DATABASE_URL="$db_url" RUST_LOG=warn PROMOHUB_ACCESS_TOKEN_TTL=7200 \
            "$SERVER" serve --port "$PORT" --host 127.0.0.1 --no-demo >>"$WORK/server.log" 2>&1 &
        SERVER_PID=$!
        wait_ready "$PORT" || { tail -n 20 "$WORK/server.log" >&2; exit 1; }
        idle=$(proc_kb "$SERVER_PID" VmRSS)
        start_sampler "$SERVER_PID" "$WORK/peak"
        log "$backend: importing $rows rows"
        result=$(python3 "$ROOT/bench/imports.py" run "http://127.0.0.1:$PORT" "$file" "bench$rows$backend" "$db_url")
        stop_sampler
        peak=$(cat "$WORK/peak")
        log "$backend $rows: $result"
        ROWS_OUT+=("| $backend | $rows | $(json_num "$result" rows_per_sec) | $(json_num "$result" import_secs) | $(json_num "$result" upload_secs) | $(json_num "$result" created) / $(json_num "$result" skipped) / $(json_num "$result" failed) | $(mib "$idle") | $(mib "$peak") |")
        stop_server
        if [[ $backend == postgres ]]; then
            pg_copy() { psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -qAt -v ON_ERROR_STOP=1 "$@"; }
            pg_copy -c "CREATE TABLE copy_bench (email text, first_name text, last_name text, city text, company text, tags text)"
            started=$(date +%s.%N)
            pg_copy -c "\\copy copy_bench FROM '$file' WITH (FORMAT csv, HEADER true)"
            ended=$(date +%s.%N)
            secs=$(awk -v a="$started" -v b="$ended" 'BEGIN { printf "%.3f", b - a }')
            COPY_OUT+=("| $rows | $(awk -v r="$rows" -v s="$secs" 'BEGIN { printf "%.0f", r / s }') | $secs |")
            drop_pg_db
        else
            rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
        fi
    done
done

mkdir -p "$RESULTS_DIR"
{
    echo "# Import benchmark"
    echo
    echo "$(machine_line); $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
    echo
    echo "| backend | rows | rows/s | import s | upload s | created / duplicates skipped / failed | idle RSS MiB | peak RSS MiB |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${ROWS_OUT[@]}"
    echo
    echo "PostgreSQL \`\\copy\` of the same file into a plain table (no checks, no indexes):"
    echo
    echo "| rows | rows/s | s |"
    echo "| --- | --- | --- |"
    printf '%s\n' "${COPY_OUT[@]}"
} | tee "$REPORT"
