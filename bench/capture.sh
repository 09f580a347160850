#!/usr/bin/env bash
# The capture benchmark: public form submissions (new leads, updates of
# existing ones) and page views per second, each checked against the rows
# stored, on PostgreSQL (and SQLite when asked).
#
#   bash bench/capture.sh
#   BENCH_BACKENDS="postgres sqlite" BENCH_CONNECTIONS="16 64" bash bench/capture.sh
#
# For each backend: start the release server on a fresh database (form rate
# limits raised above the load), sign up one tenant (`promohub-bench seed`),
# restart the server, run `promohub-bench capture`. Prints a Markdown report
# and writes it to bench/results/capture-latest.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

CONNECTIONS=${BENCH_CONNECTIONS:-64}
BACKENDS=${BENCH_BACKENDS:-postgres}
RUNS=${BENCH_CAPTURE_RUNS:-page-views form-new form-update}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-1}
TIMEOUT=${BENCH_TIMEOUT:-35}
POOL_POSTGRES=${BENCH_POOL_POSTGRES:-16}
POOL_SQLITE=${BENCH_POOL_SQLITE:-10}
TARGET_VIEWS=${BENCH_TARGET_VIEWS:-5000}
SETTLE=${BENCH_SETTLE:-2}
THREADS=${BENCH_THREADS:-1}
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
PG_HOST=127.0.0.1
PG_PORT=${BENCH_PG_PORT:-5432}
PG_USER=${BENCH_PG_USER:-postgres}

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER=$TARGET_DIR/release/promohub
LOADGEN=$TARGET_DIR/release/promohub-bench
RESULTS_DIR=$ROOT/bench/results
REPORT=$RESULTS_DIR/capture-latest.md
JSONL=$RESULTS_DIR/capture-latest.jsonl

WORK=$(mktemp -d "${TMPDIR:-/tmp}/promohub-capture.XXXXXX")
SERVER_PID=""
SAMPLER_PID=""
LOADGEN_PID=""
PG_DB=""
PG_STARTED_BY_US=""
SQLITE_FILE=""

# shellcheck source=bench/lib.sh
source "$ROOT/bench/lib.sh"

cleanup() {
    if [[ -n $LOADGEN_PID ]]; then
        kill -TERM "$LOADGEN_PID" 2>/dev/null || true
        wait "$LOADGEN_PID" 2>/dev/null || true
    fi
    stop_sampler
    stop_server
    drop_pg_db
    [[ -z $SQLITE_FILE ]] || rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
    stop_pg_if_started
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted (SIGINT)"; exit 130' INT
trap 'log "terminated (SIGTERM)"; exit 143' TERM


ROWS=()   # "| backend | run | connections | rps | p50 | p99 | errors | ok | stored | lost |"
RSS_ROWS=()
NOTES=()
FAILED=0

bench_backend() {
    local backend=$1 db_url pool
    case $backend in
    sqlite)
        SQLITE_FILE=${TMPDIR:-/tmp}/promohub-capture-$$.db
        rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
        db_url="sqlite://$SQLITE_FILE?mode=rwc"
        pool=$POOL_SQLITE
        ;;
    postgres)
        local why name
        if ! why=$(postgres_available); then
            NOTES+=("postgres: skipped ($why)")
            return 0
        fi
        name="promohub_capture_$$_$(date +%s)"
        create_pg_db "$name" || return 1
        db_url=$(pg_url "$PG_DB")
        pool=$POOL_POSTGRES
        ;;
    *)
        log "unknown backend $backend"
        return 1
        ;;
    esac
    local server_log=$WORK/server-$backend.log
    log "$backend: starting server (migrations)"
    start_server "$db_url" "$pool" "$server_log" \
        PROMOHUB_FORM_SUBMISSIONS_PER_IP=100000000 PROMOHUB_FORM_SUBMISSIONS_PER_FORM=100000000 || return 1
    local env_file=$WORK/seed-$backend.env seed_out=$WORK/seed-$backend.json
    BENCH_URL="http://127.0.0.1:$PORT/graphql" loadgen "$seed_out" seed \
        --database-url "$db_url" --tenants 1 --leads 1000 --companies 100 \
        --slug-prefix cap --env-file "$env_file" || {
        log "$backend: seeding failed"
        return 1
    }
    # shellcheck disable=SC1090 # written by `promohub-bench seed`
    source "$env_file"
    stop_server
    log "$backend: restarting the server (pool $pool)"
    start_server "$db_url" "$pool" "$server_log" \
        PROMOHUB_FORM_SUBMISSIONS_PER_IP=100000000 PROMOHUB_FORM_SUBMISSIONS_PER_FORM=100000000 || return 1
    sleep "$SETTLE"
    local idle_kb
    idle_kb=$(proc_kb "$SERVER_PID" VmRSS)
    start_sampler "$SERVER_PID" "$WORK/peak-$backend"
    local out=$WORK/capture-$backend.txt
    if ! BENCH_TOKEN=$BENCH_TOKEN loadgen "$out" capture \
        --url "http://127.0.0.1:$PORT/graphql" --database-url "$db_url" \
        --connections "$(comma "$CONNECTIONS")" --runs "$(comma "$RUNS")" \
        --duration "$DURATION" --warmup "$WARMUP" --timeout "$TIMEOUT" \
        --threads "$THREADS" --label "$backend"; then
        FAILED=1
        NOTES+=("$backend: the capture benchmark FAILED; see the log above")
    fi
    grep '^{' "$out" >>"$JSONL" || true
    local line
    while IFS= read -r line; do
        local run c rps errors lost
        run=$(json_str "$line" scenario)
        c=$(json_num "$line" connections)
        rps=$(json_num "$line" rps)
        errors=$(json_num "$line" errors)
        lost=$(json_num "$line" lost)
        ROWS+=("| $backend | $run | $c | $rps | $(json_num "$line" p50_ms) | $(json_num "$line" p99_ms) | $errors | $(json_num "$line" ok_total) | $(json_num "$line" stored) | $lost |")
        if ((errors > 0 || lost != 0)); then
            FAILED=1
            NOTES+=("$backend: $run x$c: $errors error(s), $lost answered but not stored; first error: $(json_str "$line" first_error | cut -c1-200)")
        fi
        if [[ $backend == postgres && $run == page-views && $c == 64 ]]; then
            if awk -v r="$rps" -v t="$TARGET_VIEWS" 'BEGIN { exit !(r >= t) }' && ((lost == 0 && errors == 0)); then
                NOTES+=("target met: page views on postgres at 64 connections, $rps/s >= $TARGET_VIEWS, every answered view stored")
            else
                NOTES+=("target MISSED: page views on postgres at 64 connections, $rps/s (target $TARGET_VIEWS; lost $lost, errors $errors)")
            fi
        fi
    done < <(grep '"kind":"capture"' "$out" || true)
    stop_sampler
    RSS_ROWS+=("| $backend | $(mib "$idle_kb") | $(mib "$(cat "$WORK/peak-$backend")") |")
    if grep -q '"level":"ERROR"' "$server_log"; then
        NOTES+=("$backend: the server logged errors (first: $(grep -m 1 '"level":"ERROR"' "$server_log" | cut -c1-300))")
    fi
    stop_server
    drop_pg_db
}

if [[ $SKIP_BUILD != 1 ]]; then
    log "building release binaries (cargo build --release -p promohub -p promohub-bench)"
    cargo build --release -p promohub -p promohub-bench
fi
mkdir -p "$RESULTS_DIR"
: >"$JSONL"
for backend in $BACKENDS; do
    bench_backend "$backend" || { FAILED=1; NOTES+=("$backend: FAILED"); }
done

{
    echo "# Capture benchmark ($(date -u +%Y-%m-%d))"
    echo
    echo "Machine: $(machine_line). Runs of ${DURATION} s after ${WARMUP} s of warm-up."
    echo
    echo "| backend | run | connections | req/s | p50 ms | p99 ms | errors | ok (incl. warm-up) | stored | lost |"
    echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "| backend | idle RSS MiB | peak RSS MiB |"
    echo "| --- | --- | --- |"
    printf '%s\n' "${RSS_ROWS[@]}"
    echo
    for note in "${NOTES[@]}"; do echo "- $note"; done
} | tee "$REPORT"
exit "$FAILED"
