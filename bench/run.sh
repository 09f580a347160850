#!/usr/bin/env bash
# Benchmark promohub's authenticated `me` query on SQLite and PostgreSQL.
#
#   bash bench/run.sh
#
# For each backend: start the release server on a free loopback port with a
# fresh database, log in as the demo owner, sample idle RSS, run the load
# generator at each connection count while sampling RSS every 100 ms, stop
# the server and remove the database. Prints a Markdown report and writes it
# to bench/results/latest.md. See bench/README.md for the knobs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

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

log() { printf '==> %s\n' "$*" >&2; }

# --- state touched by cleanup -------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/promohub-bench.XXXXXX")
SERVER_PID=""
SAMPLER_PID=""
LOADGEN_PID=""
PG_DB=""
PG_STARTED_BY_US=""

stop_server() {
    local pid=$SERVER_PID
    [[ -n $pid ]] || return 0
    SERVER_PID=""
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            log "server $pid did not stop on SIGTERM; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    wait "$pid" 2>/dev/null || true
}

stop_sampler() {
    local pid=$SAMPLER_PID
    [[ -n $pid ]] || return 0
    SAMPLER_PID=""
    touch "$WORK/sampler.stop"
    wait "$pid" 2>/dev/null || true
}

drop_pg_db() {
    local db=$PG_DB
    [[ -n $db ]] || return 0
    PG_DB=""
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAt -v ON_ERROR_STOP=1 \
        -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null ||
        log "could not drop database $db; drop it by hand"
}

cleanup() {
    if [[ -n $LOADGEN_PID ]]; then
        kill -TERM "$LOADGEN_PID" 2>/dev/null || true
        wait "$LOADGEN_PID" 2>/dev/null || true
    fi
    stop_sampler
    stop_server
    drop_pg_db
    if [[ -n $PG_STARTED_BY_US ]]; then
        log "stopping the PostgreSQL cluster this script started"
        pg_ctlcluster --skip-systemctl-redirect "$PG_STARTED_BY_US" main stop || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- helpers -------------------------------------------------------------------

# A loopback port nobody is listening on.
free_port() {
    local port
    for _ in $(seq 100); do
        port=$((20000 + RANDOM % 40000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

# `field` of /proc/<pid>/status in kB (VmRSS, VmHWM), without forking.
proc_kb() {
    local pid=$1 field=$2 key value _
    while read -r key value _; do
        if [[ $key == "$field:" ]]; then
            echo "$value"
            return 0
        fi
    done <"/proc/$pid/status"
    return 1
}

# Samples VmRSS of $1 every 100 ms until $WORK/sampler.stop exists; keeps the
# maximum in $2.
sample_rss() {
    local pid=$1 out=$2 peak=0 rss
    while [[ ! -e $WORK/sampler.stop ]]; do
        rss=$(proc_kb "$pid" VmRSS 2>/dev/null) || break
        if ((rss > peak)); then
            peak=$rss
            echo "$peak" >"$out.tmp" && mv "$out.tmp" "$out"
        fi
        sleep 0.1
    done
}

# GET /ready over bash's /dev/tcp (no curl needed): succeeds on HTTP 200.
# Runs in a subshell so a refused connection cannot end the script.
ready() (
    port=$1
    exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
    printf 'GET /ready HTTP/1.0\r\nHost: 127.0.0.1:%s\r\n\r\n' "$port" >&3
    IFS= read -r -t 2 status <&3 || exit 1
    [[ $status == "HTTP/1."?" 200"* ]]
)

# Numeric field $2 of the flat JSON object $1.
json_num() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" <<<"$1"; }

mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

ensure_postgres() {
    if pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null; then
        return 0
    fi
    if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
        local version
        # shellcheck disable=SC2012 # cluster versions are plain numbers
        version=$(ls /etc/postgresql | sort -V | tail -n 1)
        if [[ -n $version ]]; then
            log "PostgreSQL is down; starting cluster $version/main"
            if pg_ctlcluster --skip-systemctl-redirect "$version" main start; then
                PG_STARTED_BY_US=$version
                for _ in $(seq 50); do
                    pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null && return 0
                    sleep 0.2
                done
            fi
        fi
    fi
    pg_isready -h "$PG_HOST" -p "$PG_PORT" -q 2>/dev/null
}

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
        if ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null; then
            NOTES+=("postgres: skipped (pg_isready/psql not installed)")
            log "${NOTES[-1]}"
            return 0
        fi
        if ! ensure_postgres; then
            NOTES+=("postgres: skipped (pg_isready -h $PG_HOST -p $PG_PORT fails)")
            log "${NOTES[-1]}"
            return 0
        fi
        PG_DB="promohub_bench_$$_$(date +%s)"
        psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAt -v ON_ERROR_STOP=1 \
            -c "CREATE DATABASE \"$PG_DB\"" >/dev/null || {
            NOTES+=("postgres: could not create database $PG_DB")
            PG_DB=""
            return 1
        }
        db_url="postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB"
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

    local up=""
    for _ in $(seq 600); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            break
        fi
        if ready "$port" 2>/dev/null; then
            up=1
            break
        fi
        sleep 0.1
    done
    if [[ -z $up ]]; then
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

    rm -f "$WORK/sampler.stop" "$WORK/peak-$backend"
    echo "$idle_kb" >"$WORK/peak-$backend"
    sample_rss "$SERVER_PID" "$WORK/peak-$backend" &
    SAMPLER_PID=$!

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
    cargo build --release -p promohub
    cargo build --release -p promohub-bench
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
    echo "- machine: $(nproc) cores ($(grep -m 1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "- per run: ${WARMUP} s warm-up + ${DURATION} s measured; closed loop, one keep-alive HTTP/1.1 connection per worker; generator threads: $THREADS"
    echo "- server: release build, RUST_LOG=${RUST_LOG:-warn}, DB pool ${PROMOHUB_DB_POOL_SIZE:-10}; the generator runs on the same cores, so these are lower bounds"
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
