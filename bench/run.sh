#!/usr/bin/env bash
# Benchmark promohub's authenticated `me` query on SQLite and PostgreSQL.
#
#   bash bench/run.sh          # the `me` suite (this file)
#   bash bench/run.sh crm      # the CRM suite: seeded leads (bench/crm.sh)
#   bash bench/run.sh messaging  # sending, tracking, fan-out (bench/messaging.sh)
#
# For each backend: start the release server on a free loopback port with a
# fresh database, log in as the demo owner, sample idle RSS, run the load
# generator at each connection count while sampling RSS every 100 ms, stop
# the server and remove the database. Prints a Markdown report and writes it
# to bench/results/latest.md. See bench/README.md for the knobs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

case ${1:-me} in
me) ;;
crm) shift; exec bash "$ROOT/bench/crm.sh" "$@" ;;
messaging) shift; exec bash "$ROOT/bench/messaging.sh" "$@" ;;
*)
    echo "usage: bash bench/run.sh [me|crm|messaging]" >&2
    exit 2
    ;;
esac

DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
CONNECTIONS=${BENCH_CONNECTIONS:-16 64}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
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
REPORT=$RESULTS_DIR/latest.md

# --- state touched by cleanup -------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/promohub-bench.XXXXXX")
SERVER_PID=""
SAMPLER_PID=""
LOADGEN_PID=""
PG_DB=""
PG_STARTED_BY_US=""

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
    stop_pg_if_started
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted (SIGINT)"; exit 130' INT
trap 'log "terminated (SIGTERM)"; exit 143' TERM

# --- one backend -----------------------------------------------------------------

ROWS=()      # "| backend | connections | rps | p50 | p99 | errors |"
RSS_ROWS=()  # "| backend | idle | peak | hwm |"
NOTES=()
FAILED=0
TOTAL_ERRORS=0

bench_backend() {
    local backend=$1 db_url
    case $backend in
    sqlite)
        mkdir -p "$WORK/sqlite"
        db_url="sqlite://$WORK/sqlite/bench.db?mode=rwc"
        ;;
    postgres)
        local why
        if ! why=$(postgres_available); then
            NOTES+=("postgres: skipped ($why)")
            log "${NOTES[-1]}"
            return 0
        fi
        local name
        name="promohub_bench_$$_$(date +%s)"
        create_pg_db "$name" || {
            NOTES+=("postgres: could not create database $name")
            return 1
        }
        db_url=$(pg_url "$PG_DB")
        ;;
    *)
        log "unknown backend $backend (expected sqlite or postgres)"
        return 1
        ;;
    esac

    local port server_log
    port=$(free_port) || { log "no free port"; return 1; }
    server_log=$WORK/server-$backend.log
    log "$backend: starting server on 127.0.0.1:$port"
    DATABASE_URL=$db_url \
        PROMOHUB_LOG_FORMAT=json \
        RUST_LOG=${RUST_LOG:-warn} \
        PROMOHUB_ACCESS_TOKEN_TTL=${PROMOHUB_ACCESS_TOKEN_TTL:-3600} \
        "$SERVER" serve --port "$port" --host 127.0.0.1 >"$server_log" 2>&1 &
    SERVER_PID=$!

    if ! wait_ready "$port"; then
        log "$backend: server did not become ready; last log lines:"
        tail -n 20 "$server_log" >&2 || true
        stop_server
        return 1
    fi

    local url="http://127.0.0.1:$port/graphql" token
    token=$("$LOADGEN" --url "$url" --print-token) || {
        log "$backend: login failed"
        tail -n 20 "$server_log" >&2 || true
        stop_server
        return 1
    }

    sleep "$SETTLE"
    local idle_kb
    idle_kb=$(proc_kb "$SERVER_PID" VmRSS)
    log "$backend: idle RSS $(mib "$idle_kb") MiB"

    start_sampler "$SERVER_PID" "$WORK/peak-$backend"

    local c out line
    for c in $CONNECTIONS; do
        log "$backend: $c connections, ${WARMUP}s warm-up + ${DURATION}s"
        out=$WORK/run-$backend-$c.txt
        # In the background so that Ctrl-C/SIGTERM is handled at once.
        BENCH_TOKEN=$token "$LOADGEN" --url "$url" --scenario me \
            --connections "$c" --duration "$DURATION" --warmup "$WARMUP" \
            --threads "$THREADS" --label "$backend" >"$out" &
        LOADGEN_PID=$!
        local status=0
        wait "$LOADGEN_PID" || status=$?
        LOADGEN_PID=""
        if ((status != 0)); then
            log "$backend: load generator failed at $c connections"
            FAILED=1
            continue
        fi
        sed -n '2,$p' "$out" >&2
        line=$(grep -m 1 '^{' "$out")
        echo "$line" >>"$RESULTS_DIR/latest.jsonl"
        local errors
        errors=$(json_num "$line" errors)
        TOTAL_ERRORS=$((TOTAL_ERRORS + errors))
        ROWS+=("| $backend | $c | $(json_num "$line" rps) | $(json_num "$line" p50_ms) | $(json_num "$line" p99_ms) | $errors |")
    done

    stop_sampler
    local peak_kb hwm_kb
    peak_kb=$(cat "$WORK/peak-$backend")
    hwm_kb=$(proc_kb "$SERVER_PID" VmHWM)
    RSS_ROWS+=("| $backend | $(mib "$idle_kb") | $(mib "$peak_kb") | $(mib "$hwm_kb") |")

    if grep -q '"level":"ERROR"' "$server_log"; then
        NOTES+=("$backend: the server logged errors during the run (see below)")
        grep -m 5 '"level":"ERROR"' "$server_log" >&2 || true
    fi
    stop_server
    drop_pg_db
    rm -rf "$WORK/sqlite"
}

# --- main ----------------------------------------------------------------------

if [[ $SKIP_BUILD != 1 ]]; then
    log "building release binaries (cargo build --release)"
    # One invocation: both use sea-orm, and features unify only within a build.
    cargo build --release -p promohub -p promohub-bench
fi
for bin in "$SERVER" "$LOADGEN"; do
    [[ -x $bin ]] || { log "missing $bin (build it or unset BENCH_SKIP_BUILD)"; exit 1; }
done

mkdir -p "$RESULTS_DIR"
: >"$RESULTS_DIR/latest.jsonl"

for backend in $BACKENDS; do
    if ! bench_backend "$backend"; then
        FAILED=1
        NOTES+=("$backend: FAILED (see the log above)")
    fi
done

{
    echo "# promohub benchmark: authenticated \`me\` query"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git describe --always --dirty 2>/dev/null || echo none)"
    echo "- machine: $(machine_line)"
    echo "- per run: ${WARMUP} s warm-up + ${DURATION} s measured; closed loop, one keep-alive HTTP/1.1 connection per worker; generator threads: $THREADS"
    echo "- server: release build, RUST_LOG=${RUST_LOG:-warn}, DB pool ${PROMOHUB_DB_POOL_SIZE:-server default}; the generator runs on the same cores, so these are lower bounds"
    echo
    echo "| backend | connections | rps | p50 ms | p99 ms | errors |"
    echo "|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "| backend | idle RSS MiB | peak RSS MiB (sampled under load) | VmHWM MiB (lifetime) |"
    echo "|---|---:|---:|---:|"
    printf '%s\n' "${RSS_ROWS[@]}"
    if ((${#NOTES[@]})); then
        echo
        printf -- '- %s\n' "${NOTES[@]}"
    fi
} >"$REPORT"

echo
cat "$REPORT"
log "report written to ${REPORT#"$ROOT"/} (raw JSON lines: bench/results/latest.jsonl)"

if ((FAILED)); then
    exit 1
fi
if ((TOTAL_ERRORS > 0)); then
    log "$TOTAL_ERRORS request(s) failed"
    exit 1
fi
