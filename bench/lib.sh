# shellcheck shell=bash
# Helpers shared by bench/run.sh, bench/crm.sh and bench/messaging.sh;
# sourced, not run.
#
# The caller sets WORK (a private temp dir), PG_HOST, PG_PORT, PG_USER and
# the state variables SERVER_PID, SAMPLER_PID, PG_DB, PG_STARTED_BY_US
# (initially empty); `cleanup_common` undoes whatever is still running.

log() { printf '==> %s\n' "$*" >&2; }

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

# The URL the server and the seeder use for database $1: PostgreSQL's Unix
# socket when it is there (BENCH_PG_SOCKET_DIR, default /var/run/postgresql),
# as a server sharing its machine with the database would be deployed; TCP
# on PG_HOST:PG_PORT otherwise, or with BENCH_PG_SOCKET_DIR=none.
pg_url() {
    local dir=${BENCH_PG_SOCKET_DIR:-/var/run/postgresql}
    if [[ $dir != none && -S $dir/.s.PGSQL.$PG_PORT ]]; then
        echo "postgres://$PG_USER@localhost:$PG_PORT/$1?host=$dir"
    else
        echo "postgres://$PG_USER@$PG_HOST:$PG_PORT/$1"
    fi
}

# How pg_url connects, for the reports.
pg_transport() {
    local url
    url=$(pg_url x)
    if [[ $url == *"?host="* ]]; then
        echo "Unix socket ${url##*\?host=}"
    else
        echo "TCP $PG_HOST:$PG_PORT (no TLS on loopback)"
    fi
}

pg_admin() {
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d postgres -qAt -v ON_ERROR_STOP=1 "$@"
}

drop_pg_db() {
    local db=$PG_DB
    [[ -n $db ]] || return 0
    PG_DB=""
    pg_admin -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" >/dev/null ||
        log "could not drop database $db; drop it by hand"
}

stop_pg_if_started() {
    if [[ -n $PG_STARTED_BY_US ]]; then
        log "stopping the PostgreSQL cluster this script started"
        pg_ctlcluster --skip-systemctl-redirect "$PG_STARTED_BY_US" main stop || true
        PG_STARTED_BY_US=""
    fi
}

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

# Starts sample_rss for $1 in the background, seeded with its current RSS.
start_sampler() {
    local pid=$1 out=$2
    rm -f "$WORK/sampler.stop"
    proc_kb "$pid" VmRSS >"$out"
    sample_rss "$pid" "$out" &
    SAMPLER_PID=$!
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

# Waits up to 60 s for GET /ready on port $1 while SERVER_PID lives.
wait_ready() {
    local port=$1
    for _ in $(seq 600); do
        kill -0 "$SERVER_PID" 2>/dev/null || return 1
        ready "$port" 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# Numeric field $2 of the flat JSON object $1 (empty if absent or null).
json_num() { sed -n "s/.*\"$2\":\([-0-9.eE+]*\).*/\1/p" <<<"$1"; }
# String field $2 of the flat JSON object $1 (empty if absent).
json_str() { sed -n "s/.*\"$2\": *\"\([^\"]*\)\".*/\1/p" <<<"$1"; }

mib() { awk -v kb="$1" 'BEGIN { printf "%.1f", kb / 1024 }'; }

machine_line() {
    echo "$(nproc) cores ($(grep -m 1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
}

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

# Checks that psql/pg_isready exist and the server answers (starting the local
# cluster if needed). Prints the reason and fails otherwise.
postgres_available() {
    if ! command -v pg_isready >/dev/null || ! command -v psql >/dev/null; then
        echo "pg_isready/psql not installed"
        return 1
    fi
    if ! ensure_postgres; then
        echo "pg_isready -h $PG_HOST -p $PG_PORT fails"
        return 1
    fi
}

# Creates a fresh database named $1 and records it in PG_DB for cleanup.
create_pg_db() {
    pg_admin -c "CREATE DATABASE \"$1\"" >/dev/null || return 1
    PG_DB=$1
}

# Starts the release server ($SERVER) on database URL $1 with pool size $2
# on a free port, its log appended to $3; any further arguments are extra
# VAR=value settings. Sets PORT and SERVER_PID.
start_server() {
    local db_url=$1 pool=$2 server_log=$3
    shift 3
    PORT=$(free_port) || { log "no free port"; return 1; }
    env "$@" \
        DATABASE_URL="$db_url" \
        PROMOHUB_DB_POOL_SIZE="$pool" \
        PROMOHUB_PUBLIC_URL="http://127.0.0.1:$PORT" \
        PROMOHUB_LOG_FORMAT=json \
        RUST_LOG="${RUST_LOG:-warn}" \
        PROMOHUB_ACCESS_TOKEN_TTL="${PROMOHUB_ACCESS_TOKEN_TTL:-7200}" \
        "$SERVER" serve --port "$PORT" --host 127.0.0.1 --no-demo >>"$server_log" 2>&1 &
    SERVER_PID=$!
    if ! wait_ready "$PORT"; then
        log "server did not become ready; last log lines:"
        tail -n 20 "$server_log" >&2 || true
        stop_server
        return 1
    fi
}

# Runs the load generator ($LOADGEN) in the background (so Ctrl-C is
# handled at once); its stdout goes to $1, its stderr to the terminal.
loadgen() {
    local out=$1
    shift
    "$LOADGEN" "$@" >"$out" &
    LOADGEN_PID=$!
    local status=0
    wait "$LOADGEN_PID" || status=$?
    LOADGEN_PID=""
    return "$status"
}

# "a b c" -> "a,b,c"
comma() { tr -s ' ' ',' <<<"$*" | sed 's/^,//; s/,$//'; }
