#!/usr/bin/env bash
# The CRM benchmark: lead lists, filters, analytics and search over a seeded
# dataset, on SQLite and PostgreSQL.
#
#   bash bench/crm.sh            (or: bash bench/run.sh crm)
#   BENCH_LEADS=5000 BENCH_COMPANIES=500 BENCH_DURATION=3 bash bench/crm.sh   # smoke test
#
# For each backend: start the release server on a fresh database, sign up the
# bench tenants through the API and fill them with companies, leads and tags
# (`promohub-bench seed`), restart the server, then for each scenario measure
# the SQL statements per request (sequential requests, /metrics before and
# after) and run the closed-loop load at each connection count. Prints a
# Markdown report and writes it to bench/results/crm-latest.md. See
# bench/README.md for what is measured and the knobs.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

LEADS=${BENCH_LEADS:-100000}
COMPANIES=${BENCH_COMPANIES:-10000}
TENANTS_POSTGRES=${BENCH_TENANTS_POSTGRES:-10}
TENANTS_SQLITE=${BENCH_TENANTS_SQLITE:-1}
SCENARIOS=${BENCH_SCENARIOS:-leads-page leads-nested leads-filtered lead-analytics leads-search leads-search-no-total}
CONNECTIONS=${BENCH_CONNECTIONS:-16 32 64}
BACKENDS=${BENCH_BACKENDS:-postgres sqlite}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
SQL_SAMPLE=${BENCH_SQL_SAMPLE:-10}
# Above the server's own 30 s request timeout, so a slow request shows up as
# the server's 408 rather than the generator giving up first.
TIMEOUT=${BENCH_TIMEOUT:-35}
# The server's own default on PostgreSQL (2 x cores; see Config::pool_size).
POOL_POSTGRES=${BENCH_POOL_POSTGRES:-$((2 * $(nproc)))}
POOL_SQLITE=${BENCH_POOL_SQLITE:-10}
SEARCH=${BENCH_SEARCH:-ovela}
# Dynamic segments created before the scenarios (stage + vip + score +
# engaged in 30 days; bench/segments.py): what `segment-count` counts and
# what segment upkeep keeps current while `update-lead` runs. 0: none.
DYNAMIC_SEGMENTS=${BENCH_DYNAMIC_SEGMENTS:-1}
STAGE=${BENCH_STAGE:-Qualified}
TARGET_P99_MS=${BENCH_TARGET_P99_MS:-25}
SETTLE=${BENCH_SETTLE:-2}
THREADS=${BENCH_THREADS:-1}
SKIP_BUILD=${BENCH_SKIP_BUILD:-0}
KEEP_DB=${BENCH_KEEP_DB:-0}
PG_HOST=127.0.0.1
PG_PORT=${BENCH_PG_PORT:-5432}
PG_USER=${BENCH_PG_USER:-postgres}

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
SERVER=$TARGET_DIR/release/promohub
LOADGEN=$TARGET_DIR/release/promohub-bench
RESULTS_DIR=$ROOT/bench/results
REPORT=$RESULTS_DIR/crm-latest.md
JSONL=$RESULTS_DIR/crm-latest.jsonl

# --- state touched by cleanup -------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/promohub-crm.XXXXXX")
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
    if [[ $KEEP_DB == 1 ]]; then
        [[ -z $PG_DB ]] || log "kept database postgres://$PG_USER@$PG_HOST:$PG_PORT/$PG_DB (drop it by hand)"
        [[ -z $SQLITE_FILE ]] || log "kept database $SQLITE_FILE (delete it by hand)"
    else
        drop_pg_db
        [[ -z $SQLITE_FILE ]] || rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
    fi
    stop_pg_if_started
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'log "interrupted (SIGINT)"; exit 130' INT
trap 'log "terminated (SIGTERM)"; exit 143' TERM

# Starts the server on $1 (database URL) with pool size $2 on a free port;
# sets PORT. The log goes to $3.
# Runs the load generator in the background (so Ctrl-C is handled at once);
# its stdout goes to $1, its stderr to $1.err (copied to the terminal at the
# end), or straight to the terminal with LOADGEN_LIVE_STDERR=1.
loadgen() {
    local out=$1 err=$1.err
    shift
    if [[ ${LOADGEN_LIVE_STDERR:-0} == 1 ]]; then
        "$LOADGEN" "$@" >"$out" &
    else
        "$LOADGEN" "$@" >"$out" 2>"$err" &
    fi
    LOADGEN_PID=$!
    local status=0
    wait "$LOADGEN_PID" || status=$?
    LOADGEN_PID=""
    [[ ! -s $err ]] || cat "$err" >&2
    return "$status"
}

# utime + stime of process $1, in clock ticks.
cpu_ticks() {
    local stat fields
    stat=$(<"/proc/$1/stat") || return 1
    # shellcheck disable=SC2206 # split on spaces after the command name
    fields=(${stat##*) })
    echo $((fields[11] + fields[12]))
}

# Busy CPU ticks of the whole machine (all cores), from /proc/stat.
machine_ticks() {
    local _cpu user nice system _idle _iowait irq softirq steal _rest
    read -r _cpu user nice system _idle _iowait irq softirq steal _rest </proc/stat
    echo $((user + nice + system + irq + softirq + steal))
}

# CPU ticks of the PostgreSQL backends connected to the bench database.
pg_backend_ticks() {
    local total=0 f pid stat fields
    [[ -n $PG_DB ]] || { echo 0; return; }
    local comm title
    for f in /proc/[0-9]*/comm; do
        pid=${f#/proc/}
        pid=${pid%/comm}
        { read -r comm <"$f"; } 2>/dev/null || continue
        [[ $comm == postgres ]] || continue
        # Backends are titled "postgres: <cluster>: <user> <database> <client> <state>".
        { IFS= read -r -d '' title <"/proc/$pid/cmdline"; } 2>/dev/null || true
        [[ $title == "postgres: "*" $PG_DB "* ]] || continue
        { stat=$(<"/proc/$pid/stat"); } 2>/dev/null || continue
        # shellcheck disable=SC2206 # split on spaces after the command name
        fields=(${stat##*) })
        total=$((total + fields[11] + fields[12]))
    done
    echo "$total"
}

# Average cores used: ticks $1 (1/100 s) over $2 seconds of wall time.
cores() { awk -v t="$1" -v s="$2" 'BEGIN { printf "%.2f", (s > 0 ? t / 100 / s : 0) }'; }

# Waits until the previous run has really ended: a request the client gave
# up on may still be running in the server or in PostgreSQL and would steal
# CPU from the next run. Idle: no statement active in the bench database
# (PostgreSQL) and the server process under ~3 % of a core over a second;
# at most BENCH_QUIESCE_MAX seconds. Then, with BENCH_WAIT_QUIET=1, waits up
# to BENCH_QUIET_MAX seconds for the rest of the machine (other jobs) to use
# under 0.2 cores, since the benchmark shares the machine.
quiesce() {
    local backend=$1 start=$SECONDS active p0 s0 m0 p1 s1 m1 other quiet_since=""
    while :; do
        active=0
        if [[ $backend == postgres ]]; then
            active=$(psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$PG_DB" -qAt -c \
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND state = 'active' AND pid <> pg_backend_pid()") || active=0
        fi
        p0=$(pg_backend_ticks) s0=$(cpu_ticks "$SERVER_PID") m0=$(machine_ticks) || return 0
        sleep 1
        m1=$(machine_ticks) s1=$(cpu_ticks "$SERVER_PID") p1=$(pg_backend_ticks) || return 0
        other=$(((m1 - m0) - (s1 - s0) - (p1 - p0)))
        if ((active == 0 && s1 - s0 <= 3)); then
            [[ -n $quiet_since ]] || quiet_since=$SECONDS
            if [[ ${BENCH_WAIT_QUIET:-1} != 1 ]] || ((other <= 20)); then
                return 0
            fi
            if ((SECONDS - quiet_since >= ${BENCH_QUIET_MAX:-60})); then
                log "$backend: other processes still use $(cores "$other" 1) cores; measuring anyway"
                return 0
            fi
        elif ((SECONDS - start >= ${BENCH_QUIESCE_MAX:-180})); then
            log "$backend: server still busy after ${BENCH_QUIESCE_MAX:-180} s; measuring anyway"
            NOTES+=("$backend: the server was still busy with earlier requests when a run started")
            return 0
        fi
        if (((SECONDS - start) % 15 == 14)); then
            log "$backend: waiting ($active active statement(s), server $((s1 - s0))%, other jobs $(cores "$other" 1) cores)"
        fi
    done
}

ROWS=()      # "| backend | scenario | connections | rps | p50 | p99 | errors | SQL/request |"
SEED_ROWS=() # "| backend | tenants | leads | companies | tags | size | sign-up | data | stats | total |"
RSS_ROWS=()  # "| backend | idle | peak | hwm |"
SHAPES=()    # "| backend | scenario | edges | totalCount | SQL/request | serial ms |"
CPU_ROWS=()  # "| backend | scenario | connections | server | postgres | generator | other |"
NOTES=()
FAILED=0
TOTAL_ERRORS=0

bench_backend() {
    local backend=$1 db_url tenants pool
    case $backend in
    sqlite)
        SQLITE_FILE=${TMPDIR:-/tmp}/promohub-crm-$$.db
        rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
        db_url="sqlite://$SQLITE_FILE?mode=rwc"
        tenants=$TENANTS_SQLITE
        pool=$POOL_SQLITE
        ;;
    postgres)
        local why name
        if ! why=$(postgres_available); then
            NOTES+=("postgres: skipped ($why)")
            log "${NOTES[-1]}"
            return 0
        fi
        name="promohub_crm_$$_$(date +%s)"
        create_pg_db "$name" || {
            NOTES+=("postgres: could not create database $name")
            return 1
        }
        db_url=$(pg_url "$PG_DB")
        tenants=$TENANTS_POSTGRES
        pool=$POOL_POSTGRES
        ;;
    *)
        log "unknown backend $backend (expected sqlite or postgres)"
        return 1
        ;;
    esac

    local server_log=$WORK/server-$backend.log
    log "$backend: starting server (migrations)"
    start_server "$db_url" "$pool" "$server_log" || return 1

    log "$backend: seeding $tenants tenant(s) x $LEADS leads / $COMPANIES companies"
    local env_file=$WORK/seed-$backend.env seed_out=$WORK/seed-$backend.json
    BENCH_URL="http://127.0.0.1:$PORT/graphql" LOADGEN_LIVE_STDERR=1 loadgen "$seed_out" seed \
        --database-url "$db_url" --tenants "$tenants" --leads "$LEADS" \
        --companies "$COMPANIES" --stage "$STAGE" --search "$SEARCH" \
        --env-file "$env_file" || {
        log "$backend: seeding failed"
        stop_server
        return 1
    }
    local seed_line
    seed_line=$(grep -m 1 '^{' "$seed_out")
    echo "$seed_line" >>"$JSONL"
    # shellcheck disable=SC1090 # written by `promohub-bench seed`
    source "$env_file"
    SEED_ROWS+=("| $backend | $SEED_TENANTS | $SEED_LEADS | $SEED_COMPANIES | $SEED_LEAD_TAGS | $SEED_DB_MIB | $SEED_SIGNUP_S | $SEED_DATA_S | $SEED_ANALYZE_S | $SEED_TOTAL_S |")
    NOTES+=("$backend: filtered scenario uses stage \"$BENCH_STAGE_NAME\" ($SEED_STAGES stages); tenant 1 has $SEED_TENANT1_STAGE_VIP_LEADS vip leads in it and $SEED_TENANT1_SEARCH_MATCHES leads whose name/email contain \"$SEARCH\"")

    # A fresh process for the measurement: no caches or prepared statements
    # from sign-up and seeding.
    stop_server
    log "$backend: restarting the server (pool $pool)"
    start_server "$db_url" "$pool" "$server_log" || return 1
    local url="http://127.0.0.1:$PORT/graphql"

    BENCH_SEGMENT_ID=""
    if ((DYNAMIC_SEGMENTS > 0)); then
        local segments_line
        log "$backend: creating $DYNAMIC_SEGMENTS dynamic segment(s), waiting for their upkeep"
        segments_line=$(python3 "$ROOT/bench/segments.py" "$url" "$BENCH_TOKEN" "$BENCH_STAGE_ID" "$DYNAMIC_SEGMENTS") || {
            log "$backend: creating the segments failed"
            return 1
        }
        BENCH_SEGMENT_ID=$(json_str "$segments_line" segment_id)
        NOTES+=("$backend: $DYNAMIC_SEGMENTS dynamic segment(s) (stage $BENCH_STAGE_NAME + vip + score + engaged in 30 days); the first counts $(json_num "$segments_line" count) leads; upkeep's first whole re-check moved $(json_num "$segments_line" members_moved) memberships in $(json_num "$segments_line" recheck_secs) s")
        log "${NOTES[-1]}"
    fi

    sleep "$SETTLE"
    local idle_kb
    idle_kb=$(proc_kb "$SERVER_PID" VmRSS)
    log "$backend: idle RSS $(mib "$idle_kb") MiB"
    start_sampler "$SERVER_PID" "$WORK/peak-$backend"

    local scenario c out line errors sql first why attempt retries other cpu_row
    for scenario in $SCENARIOS; do
        first=1
        for c in $CONNECTIONS; do
            retries=${BENCH_RETRY_DISTURBED:-2}
            for ((attempt = 0; ; attempt++)); do
                quiesce "$backend"
                log "$backend: $scenario, $c connections, ${WARMUP}s warm-up + ${DURATION}s"
                out=$WORK/run-$backend-$scenario-$c.txt
                local sample=()
                if ((first)) && ((SQL_SAMPLE > 0)); then
                    sample=(--sql-sample "$SQL_SAMPLE")
                fi
                local t0 m0 s0 p0 t1 m1 s1 p1
                p0=$(pg_backend_ticks) s0=$(cpu_ticks "$SERVER_PID") m0=$(machine_ticks) t0=$EPOCHREALTIME
                if ! BENCH_TOKEN=$BENCH_TOKEN BENCH_STAGE_ID=$BENCH_STAGE_ID BENCH_SEGMENT_ID=$BENCH_SEGMENT_ID loadgen "$out" \
                    --url "$url" --scenario "$scenario" --search "$SEARCH" "${sample[@]}" \
                    --connections "$c" --duration "$DURATION" --warmup "$WARMUP" \
                    --timeout "$TIMEOUT" --threads "$THREADS" --label "$backend"; then
                    line=""
                    break
                fi
                t1=$EPOCHREALTIME m1=$(machine_ticks) s1=$(cpu_ticks "$SERVER_PID") p1=$(pg_backend_ticks)
                # Backends that ended during the run take their ticks with them;
                # the pool keeps its connections, so that is rare.
                sed -n '2,$p' "$out" >&2
                line=$(grep -m 1 '^{' "$out")
                local wall gen_ticks other_ticks
                wall=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
                gen_ticks=$(awk -v c="$(json_num "$line" generator_cpu_s)" 'BEGIN { printf "%d", c * 100 }')
                other_ticks=$(((m1 - m0) - (s1 - s0) - (p1 - p0) - gen_ticks))
                ((other_ticks > 0)) || other_ticks=0
                other=$(cores "$other_ticks" "$wall")
                cpu_row="| $backend | $scenario | $c | $(cores $((s1 - s0)) "$wall") | $(cores $((p1 - p0)) "$wall") | $(cores "$gen_ticks" "$wall") | $other |"
                if awk -v o="$other" 'BEGIN { exit !(o > 0.25) }'; then
                    if ((attempt < retries)); then
                        log "$backend: other processes used $other cores during the run; repeating it"
                        continue
                    fi
                    NOTES+=("$backend: $scenario x$c was disturbed: other processes used $other cores on average during the run (after $attempt repeat(s))")
                fi
                break
            done
            if [[ -z $line ]]; then
                why=$(grep -m 1 '^Error: ' "$out.err" | cut -c8-300)
                log "$backend: load generator failed ($scenario, $c connections)"
                FAILED=1
                ROWS+=("| $backend | $scenario | $c | FAILED | | | | |")
                if [[ $why == "probe request failed"* ]]; then
                    # The single probe request already failed: the other
                    # connection counts would only repeat it.
                    NOTES+=("$backend: $scenario FAILED, not run at any connection count: $why")
                    break
                fi
                NOTES+=("$backend: $scenario x$c FAILED: ${why:-see the log}")
                continue
            fi
            echo "$line" >>"$JSONL"
            CPU_ROWS+=("$cpu_row")
            if ((first)); then
                sql=$(json_num "$line" sql_per_request)
                SHAPES+=("| $backend | $scenario | $(json_num "$line" edges) | $(json_num "$line" total_count) | ${sql:-n/a} | $(json_num "$line" serial_mean_ms) |")
                first=0
            fi
            errors=$(json_num "$line" errors)
            TOTAL_ERRORS=$((TOTAL_ERRORS + errors))
            if ((errors > 0)); then
                NOTES+=("$backend: $scenario x$c: $errors error(s); first: $(grep -m 1 '^first error: ' "$out.err" | cut -c14-250)")
            fi
            ROWS+=("| $backend | $scenario | $c | $(json_num "$line" rps) | $(json_num "$line" p50_ms) | $(json_num "$line" p99_ms) | $errors | ${sql:-n/a} |")
            if [[ $backend == postgres && $scenario == leads-page && $c == 32 ]]; then
                local p99
                p99=$(json_num "$line" p99_ms)
                if awk -v p="$p99" -v t="$TARGET_P99_MS" 'BEGIN { exit !(p < t) }'; then
                    NOTES+=("target met: leads-page on postgres at 32 connections, p99 $p99 ms < $TARGET_P99_MS ms")
                else
                    NOTES+=("target MISSED: leads-page on postgres at 32 connections, p99 $p99 ms >= $TARGET_P99_MS ms ($(awk -v p="$p99" -v t="$TARGET_P99_MS" 'BEGIN { printf "%.1f ms or %.0f%% over", p - t, (p - t) * 100 / t }'))")
                fi
            fi
        done
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
    if [[ $KEEP_DB != 1 ]]; then
        drop_pg_db
        if [[ -n $SQLITE_FILE ]]; then
            rm -f "$SQLITE_FILE" "$SQLITE_FILE-wal" "$SQLITE_FILE-shm"
            SQLITE_FILE=""
        fi
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

mkdir -p "$RESULTS_DIR"
: >"$JSONL"

for backend in $BACKENDS; do
    if ! bench_backend "$backend"; then
        FAILED=1
        NOTES+=("$backend: FAILED (see the log above)")
    fi
done

{
    echo "# promohub benchmark: CRM suite"
    echo
    echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit: $(git describe --always --dirty 2>/dev/null || echo none)"
    echo "- machine: $(machine_line)"
    echo "- PostgreSQL connection: $(pg_transport)"
    echo "- dataset: $LEADS leads and $COMPANIES companies per tenant; $TENANTS_POSTGRES tenant(s) on PostgreSQL, $TENANTS_SQLITE on SQLite; requests as the owner of tenant 1"
    echo "- per run: ${WARMUP} s warm-up + ${DURATION} s measured; closed loop, one keep-alive HTTP/1.1 connection per worker; generator threads: $THREADS"
    echo "- server: release build, RUST_LOG=${RUST_LOG:-warn}, DB pool $POOL_POSTGRES (PostgreSQL) / $POOL_SQLITE (SQLite); the generator and PostgreSQL share the same cores"
    echo "- SQL statements/request: increase of promohub_sql_statements_total (GET /metrics) over $SQL_SAMPLE sequential requests, divided by $SQL_SAMPLE; it counts every statement the server runs, including the tenant binding on PostgreSQL (app_lane_enter on a read lane, set_config in a transaction), but not BEGIN/COMMIT"
    echo
    echo "| backend | scenario | connections | rps | p50 ms | p99 ms | errors | SQL statements/request |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${ROWS[@]}"
    echo
    echo "What each scenario returned (probe request) and its cost unloaded:"
    echo
    echo "| backend | scenario | edges | totalCount | SQL statements/request | ms/request, one at a time |"
    echo "|---|---|---:|---:|---:|---:|"
    printf '%s\n' "${SHAPES[@]}"
    echo
    echo "CPU during each run, in cores (the machine has $(nproc)), averaged over the whole generator invocation (probe, SQL sample, warm-up, measurement): the server process, the PostgreSQL backends of the bench database, the generator, and everything else on the machine (other PostgreSQL processes, other jobs; high values there mean the run was disturbed):"
    echo
    echo "| backend | scenario | connections | server | postgres backends | generator | other |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    printf '%s\n' "${CPU_ROWS[@]}"
    echo
    echo "Seeding (s = seconds; sign-up = tenants through the API, data = SQL inserts, stats = VACUUM ANALYZE/ANALYZE + checkpoint):"
    echo
    echo "| backend | tenants | leads | companies | lead_tags | DB MiB | sign-up s | data s | stats s | total s |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    printf '%s\n' "${SEED_ROWS[@]}"
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
log "report written to ${REPORT#"$ROOT"/} (raw JSON lines: ${JSONL#"$ROOT"/})"

if ((FAILED)); then
    exit 1
fi
if ((TOTAL_ERRORS > 0)); then
    log "$TOTAL_ERRORS request(s) failed"
    exit 1
fi
