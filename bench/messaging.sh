#!/usr/bin/env bash
# The messaging benchmark: bulk rendering and queueing, open-pixel and click
# tracking with a stored-event check, and the latency of engagement events
# to many live GraphQL subscribers, on SQLite and PostgreSQL.
#
#   bash bench/messaging.sh          (or: bash bench/run.sh messaging)
#   BENCH_BACKENDS=sqlite BENCH_LEADS=1000 BENCH_BULK_SIZES=1000 BENCH_DURATION=3 \
#       BENCH_SUBSCRIBERS=100 BENCH_HIT_DURATION=3 bash bench/messaging.sh   # smoke test
#
# For each backend: start the release server on a fresh database, sign up one
# tenant and give it leads (`promohub-bench seed`), restart the server, then
# run `promohub-bench messaging` against it: an SMTP sink in the bench
# process takes the deliveries. Prints a Markdown report and writes it to
# bench/results/messaging-latest.md. See bench/README.md for what is
# measured and the knobs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

LEADS=${BENCH_LEADS:-10000}
COMPANIES=${BENCH_COMPANIES:-1000}
BULK_SIZES=${BENCH_BULK_SIZES:-10000 1000}
ROUTES=${BENCH_ROUTES-open click}
CONNECTIONS=${BENCH_CONNECTIONS:-16 64}
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-1}
# Above the server's own 30 s request timeout.
TIMEOUT=${BENCH_TIMEOUT:-35}
SUBSCRIBERS=${BENCH_SUBSCRIBERS:-1000}
HIT_RATE=${BENCH_HIT_RATE:-20}
HIT_DURATION=${BENCH_HIT_DURATION:-10}
DRAIN=${BENCH_DRAIN:-10}
POOL_POSTGRES=${BENCH_POOL_POSTGRES:-10}
POOL_SQLITE=${BENCH_POOL_SQLITE:-10}
WORKER_CONCURRENCY=${BENCH_WORKER_CONCURRENCY:-}
WORKER_POLL_MS=${BENCH_WORKER_POLL_MS:-}
DELIVERY_TIMEOUT=${BENCH_DELIVERY_TIMEOUT:-900}
MACHINE_WINDOW_MS=${BENCH_MACHINE_WINDOW_MS:-0}
TARGET_EVENTS=${BENCH_TARGET_EVENTS:-5000}
TARGET_FANOUT_P99_MS=${BENCH_TARGET_FANOUT_P99_MS:-100}
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
REPORT=$RESULTS_DIR/messaging-latest.md
JSONL=$RESULTS_DIR/messaging-latest.jsonl

# --- state touched by cleanup -------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/promohub-messaging.XXXXXX")
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

# 1,000 WebSocket connections need more than the usual 1,024 descriptors, in
# the bench process and in the server (which inherits this limit).
NOFILE_WANTED=$((SUBSCRIBERS + 1024))
if (($(ulimit -n) < NOFILE_WANTED)); then
    hard=$(ulimit -Hn)
    if [[ $hard == unlimited ]] || ((hard >= 65536)); then
        ulimit -n 65536 || true
    else
        ulimit -n "$hard" || true
    fi
fi
NOFILE=$(ulimit -n)

# String field $2 of the flat JSON object $1 (empty if absent).
json_str() { sed -n "s/.*\"$2\":\"\([^\"]*\)\".*/\1/p" <<<"$1"; }

# The server's settings beyond lib.sh's start_server.
server_settings() {
    [[ -z $WORKER_CONCURRENCY ]] || echo "PROMOHUB_WORKER_CONCURRENCY=$WORKER_CONCURRENCY"
    [[ -z $WORKER_POLL_MS ]] || echo "PROMOHUB_WORKER_POLL_MS=$WORKER_POLL_MS"
    echo "PROMOHUB_MACHINE_WINDOW_MS=$MACHINE_WINDOW_MS"
}


BULK_ROWS=()     # "| backend | call size | calls | queued | skipped | send s | per s | slowest | delivered | delivered/s | DATA ms |"
TRACK_ROWS=()    # "| backend | route | connections | rps | p50 | p99 | errors | ok | stored | lost | human |"
FANOUT_ROWS=()   # "| backend | connected | ready | hits | received/expected | missing | p50 | p99 | max | all p99 | hit p50 |"
FANOUT_RSS=()    # "| backend | before | connected | per connection | after events | closed |"
RSS_ROWS=()      # "| backend | idle | peak | hwm |"
NOTES=()
FAILED=0

bench_backend() {
    local backend=$1 db_url pool
    case $backend in
    sqlite)
        SQLITE_FILE=${TMPDIR:-/tmp}/promohub-messaging-$$.db
        rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
        db_url="sqlite://$SQLITE_FILE?mode=rwc"
        pool=$POOL_SQLITE
        ;;
    postgres)
        local why name
        if ! why=$(postgres_available); then
            NOTES+=("postgres: skipped ($why)")
            log "${NOTES[-1]}"
            return 0
        fi
        name="promohub_messaging_$$_$(date +%s)"
        create_pg_db "$name" || {
            NOTES+=("postgres: could not create database $name")
            return 1
        }
        db_url=$(pg_url "$PG_DB")
        pool=$POOL_POSTGRES
        ;;
    *)
        log "unknown backend $backend (expected sqlite or postgres)"
        return 1
        ;;
    esac

    local server_log=$WORK/server-$backend.log
    log "$backend: starting server (migrations)"
    # shellcheck disable=SC2046 # one VAR=value per word
    start_server "$db_url" "$pool" "$server_log" $(server_settings) || return 1

    log "$backend: seeding 1 tenant x $LEADS leads / $COMPANIES companies"
    local env_file=$WORK/seed-$backend.env seed_out=$WORK/seed-$backend.json
    BENCH_URL="http://127.0.0.1:$PORT/graphql" loadgen "$seed_out" seed \
        --database-url "$db_url" --tenants 1 --leads "$LEADS" \
        --companies "$COMPANIES" --slug-prefix msg --env-file "$env_file" || {
        log "$backend: seeding failed"
        stop_server
        return 1
    }
    grep -m 1 '^{' "$seed_out" >>"$JSONL" || true
    # shellcheck disable=SC1090 # written by `promohub-bench seed`
    source "$env_file"

    # A fresh process for the measurement.
    stop_server
    log "$backend: restarting the server (pool $pool)"
    # shellcheck disable=SC2046 # one VAR=value per word
    start_server "$db_url" "$pool" "$server_log" $(server_settings) || return 1
    local url="http://127.0.0.1:$PORT/graphql"

    sleep "$SETTLE"
    local idle_kb
    idle_kb=$(proc_kb "$SERVER_PID" VmRSS)
    log "$backend: idle RSS $(mib "$idle_kb") MiB"
    start_sampler "$SERVER_PID" "$WORK/peak-$backend"

    local out=$WORK/messaging-$backend.txt routes=()
    [[ -n ${ROUTES// /} ]] && routes=(--routes "$(comma "$ROUTES")") || routes=(--no-tracking)
    log "$backend: messaging: bulk sizes $BULK_SIZES, routes ${ROUTES:-none} x ${CONNECTIONS} connections, $SUBSCRIBERS subscribers"
    if ! BENCH_TOKEN=$BENCH_TOKEN loadgen "$out" messaging \
        --url "$url" --database-url "$db_url" --server-pid "$SERVER_PID" \
        --leads "$LEADS" --bulk-sizes "$(comma "$BULK_SIZES")" \
        --delivery-timeout "$DELIVERY_TIMEOUT" \
        "${routes[@]}" --connections "$(comma "$CONNECTIONS")" \
        --duration "$DURATION" --warmup "$WARMUP" --timeout "$TIMEOUT" \
        --subscribers "$SUBSCRIBERS" --hit-rate "$HIT_RATE" \
        --hit-duration "$HIT_DURATION" --drain "$DRAIN" \
        --threads "$THREADS" --label "$backend"; then
        log "$backend: the messaging benchmark failed"
        FAILED=1
        NOTES+=("$backend: the messaging benchmark FAILED after $(grep -c '^{' "$out" || true) result line(s); see the log above")
    fi
    grep '^{' "$out" >>"$JSONL" || true

    local line
    while IFS= read -r line; do
        local queued skipped
        queued=$(json_num "$line" queued)
        skipped=$(json_num "$line" skipped)
        BULK_ROWS+=("| $backend | $(json_num "$line" call_size) | $(json_num "$line" calls) | $queued | $skipped | $(json_num "$line" send_s) | $(json_num "$line" rendered_per_s) | $(json_num "$line" max_call_s) | $(json_num "$line" delivered) | $(json_num "$line" delivered_per_s) | $(json_num "$line" sink_data_ms) |")
        if ((skipped > 0)); then
            FAILED=1
            NOTES+=("$backend: bulk calls of $(json_num "$line" call_size) skipped $skipped lead(s); first: $(json_str "$line" first_skip | cut -c1-200)")
        fi
        if [[ $(json_num "$line" complete) != 1 ]]; then
            FAILED=1
            NOTES+=("$backend: deliveries of the round with calls of $(json_num "$line" call_size) did not complete: $(json_num "$line" delivered) of $queued reached the sink, $(json_num "$line" unsent) unsent, $(json_num "$line" failed_total) failed")
        fi
    done < <(grep '"kind":"bulk"' "$out" || true)

    while IFS= read -r line; do
        local route c rps errors lost
        route=$(json_str "$line" route)
        c=$(json_num "$line" connections)
        rps=$(json_num "$line" rps)
        errors=$(json_num "$line" errors)
        lost=$(json_num "$line" lost)
        TRACK_ROWS+=("| $backend | $route | $c | $rps | $(json_num "$line" p50_ms) | $(json_num "$line" p99_ms) | $errors | $(json_num "$line" ok_total) | $(json_num "$line" stored) | $lost | $(json_num "$line" stored_human) |")
        if ((errors > 0)); then
            FAILED=1
            NOTES+=("$backend: $route x$c: $errors error(s); first: $(json_str "$line" first_error | cut -c1-200)")
        fi
        if ((lost != 0)); then
            FAILED=1
            NOTES+=("$backend: $route x$c: $(json_num "$line" ok_total) successful responses but $(json_num "$line" stored) events stored (difference $lost)")
        fi
        if [[ $backend == postgres && $route == open-pixel && $c == 64 ]]; then
            if awk -v r="$rps" -v t="$TARGET_EVENTS" 'BEGIN { exit !(r >= t) }' && ((lost == 0 && errors == 0)); then
                NOTES+=("target met: open-pixel on postgres at 64 connections, $rps events/s >= $TARGET_EVENTS, all stored")
            else
                NOTES+=("target MISSED: open-pixel on postgres at 64 connections, $rps events/s (target $TARGET_EVENTS, all stored; lost $lost, errors $errors)")
            fi
        fi
    done < <(grep '"kind":"tracking"' "$out" || true)

    line=$(grep -m 1 '"kind":"fanout"' "$out" || true)
    if [[ -n $line ]]; then
        local connected missing p99 before_kb connected_kb per_conn
        connected=$(json_num "$line" connected)
        missing=$(json_num "$line" missing)
        p99=$(json_num "$line" p99_ms)
        FANOUT_ROWS+=("| $backend | $connected / $(json_num "$line" subscribers) | $(json_num "$line" ready) | $(json_num "$line" hits) | $(json_num "$line" received) / $(json_num "$line" expected) | $missing | $(json_num "$line" p50_ms) | $p99 | $(json_num "$line" max_ms) | $(json_num "$line" all_p99_ms) | $(json_num "$line" hit_p50_ms) |")
        before_kb=$(json_num "$line" rss_before_kb)
        connected_kb=$(json_num "$line" rss_connected_kb)
        per_conn=$(awk -v a="$before_kb" -v b="$connected_kb" -v n="$connected" 'BEGIN { if (n > 0 && a != "" && b != "") printf "%.1f", (b - a) / n; else printf "n/a" }')
        FANOUT_RSS+=("| $backend | $(mib "$before_kb") | $(mib "$connected_kb") | $per_conn | $(mib "$(json_num "$line" rss_after_kb)") | $(mib "$(json_num "$line" rss_closed_kb)") |")
        if ((missing > 0)) || [[ $connected != "$SUBSCRIBERS" ]] || (($(json_num "$line" hit_errors) > 0)); then
            FAILED=1
            NOTES+=("$backend: fan-out incomplete: $connected of $SUBSCRIBERS connected, $missing deliveries missing, $(json_num "$line" hit_errors) hit error(s), $(json_num "$line" ended_early) subscription(s) ended early; $(json_str "$line" first_connect_error | cut -c1-150) $(json_str "$line" first_early_end | cut -c1-150) $(json_str "$line" first_hit_error | cut -c1-150)")
        fi
        if awk -v p="$p99" -v t="$TARGET_FANOUT_P99_MS" 'BEGIN { exit !(p < t) }' && ((missing == 0)); then
            NOTES+=("target met: fan-out on $backend, p99 $p99 ms < $TARGET_FANOUT_P99_MS ms to $connected subscribers, none missing")
        else
            NOTES+=("target MISSED: fan-out on $backend, p99 $p99 ms (target < $TARGET_FANOUT_P99_MS ms), $missing missing")
        fi
    fi

    stop_sampler
    local peak_kb hwm_kb
    peak_kb=$(cat "$WORK/peak-$backend")
    hwm_kb=$(proc_kb "$SERVER_PID" VmHWM)
    RSS_ROWS+=("| $backend | $(mib "$idle_kb") | $(mib "$peak_kb") | $(mib "$hwm_kb") |")

    if grep -q '"level":"ERROR"' "$server_log"; then
        NOTES+=("$backend: the server logged errors (first: $(grep -m 1 '"level":"ERROR"' "$server_log" | cut -c1-300))")
        grep -m 5 '"level":"ERROR"' "$server_log" >&2 || true
    fi
    if grep -q '"level":"WARN"' "$server_log"; then
        NOTES+=("$backend: the server logged $(grep -c '"level":"WARN"' "$server_log") warning(s) (first: $(grep -m 1 '"level":"WARN"' "$server_log" | cut -c1-300))")
    fi
    stop_server
    drop_pg_db
    if [[ -n $SQLITE_FILE ]]; then
        rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
        SQLITE_FILE=""
    fi
}

# --- main ----------------------------------------------------------------------

if [[ $SKIP_BUILD != 1 ]]; then
    log "building release binaries (cargo build --release -p promohub -p promohub-bench)"
    cargo build --release -p promohub -p promohub-bench
fi
for bin in "$SERVER" "$LOADGEN"; do
    [[ -x $bin ]] || { log "missing $bin (build it or unset BENCH_SKIP_BUILD)"; exit 1; }
done
if ((NOFILE < NOFILE_WANTED)); then
    NOTES+=("open-file limit is $NOFILE (wanted $NOFILE_WANTED for $SUBSCRIBERS subscribers); the fan-out may fail")
fi

mkdir -p "$RESULTS_DIR"
: >"$JSONL"

for backend in $BACKENDS; do
    if ! bench_backend "$backend"; then
        FAILED=1
        NOTES+=("$backend: FAILED (see the log above)")
    fi
done

{
    echo "# promohub benchmark: messaging"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git describe --always --dirty 2>/dev/null || echo none)"
    echo "- machine: $(machine_line)"
    echo "- PostgreSQL connection: $(pg_transport)"
    echo "- dataset: one tenant with $LEADS leads and $COMPANIES companies; one template (2 tracked links, unsubscribe link, open pixel); deliveries go to an SMTP sink in the bench process"
    echo "- server: release build, RUST_LOG=${RUST_LOG:-warn}, DB pool $POOL_POSTGRES (PostgreSQL) / $POOL_SQLITE (SQLite), worker concurrency ${WORKER_CONCURRENCY:-server default}, worker poll ${WORKER_POLL_MS:-server default} ms, PROMOHUB_MACHINE_WINDOW_MS=$MACHINE_WINDOW_MS; generator threads: $THREADS; the generator and PostgreSQL share the same cores, so these are lower bounds"
    echo
    echo "## Rendering and queueing (\`sendBulkMessages\`)"
    echo
    echo "Messages rendered and queued per second = queued / wall time of the calls (made one after another). Delivered/s: messages that reached the SMTP sink over the time from the first call until the sink had them all (deliveries run during the calls). ms in DATA: mean time from the sink's 354 reply to the end of the message (about 40 ms is Nagle's algorithm on the sending side meeting delayed ACKs)."
    echo
    echo "| backend | leads per call | calls | queued | skipped | calls s | rendered+queued/s | slowest call s | delivered | delivered/s | ms in DATA per message |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${BULK_ROWS[@]}"
    echo
    echo "## Tracking (closed loop, ${WARMUP} s warm-up + ${DURATION} s)"
    echo
    echo "rps = events/s. Answered = successful responses (200 for the pixel, 302 for clicks) including the warm-up; stored = new \`engagement_events\` rows of the type; lost = answered − stored (0 means every answered event is stored)."
    echo
    echo "| backend | route | connections | rps | p50 ms | p99 ms | errors | answered | stored | lost | of them human |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${TRACK_ROWS[@]}"
    echo
    echo "## Fan-out to live subscribers"
    echo
    echo "$SUBSCRIBERS WebSocket subscriptions (\`engagementEvents\`); $HIT_RATE open-pixel hits/s for $HIT_DURATION s, one message each. Latency = arrival at a subscriber − send time of the hit; \"until all\" = per hit, until the last subscriber had it; hit = the pixel request's own response time."
    echo
    echo "| backend | connected | ready (canary) | hits | received / expected | missing | p50 ms | p99 ms | max ms | until all p99 ms | hit p50 ms |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${FANOUT_ROWS[@]}"
    echo
    echo "Server RSS (MiB) around the fan-out; per connection in KiB:"
    echo
    echo "| backend | before connecting | all connected | KiB per connection | after the events | 1 s after disconnecting |"
    echo "|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${FANOUT_RSS[@]}"
    echo
    echo "## Memory"
    echo
    echo "| backend | idle RSS MiB | peak RSS MiB (sampled every 100 ms) | VmHWM MiB (lifetime) |"
    echo "|---|---:|---:|---:|"
    printf '%s\n' "${RSS_ROWS[@]}"
    if ((${#NOTES[@]})); then
        echo
        echo "## Notes"
        echo
        printf -- '- %s\n' "${NOTES[@]}"
    fi
} >"$REPORT"

echo
cat "$REPORT"
log "report written to ${REPORT#"$ROOT"/} (raw JSON lines: ${JSONL#"$ROOT"/})"

if ((FAILED)); then
    exit 1
fi
