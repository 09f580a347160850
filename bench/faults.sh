#!/usr/bin/env bash
# Fault suite: the server against a throwaway PostgreSQL of its own
# (scripts/throwaway-pg.sh; never the shared cluster), under a steady load
# of open-pixel hits and authenticated GraphQL reads (bench/faults_load.py):
#
#   (a) PostgreSQL restarted mid-load (down RESTART_DOWN seconds): every
#       answered pixel hit must be stored (engagement events = 200s), and
#       the reads' statuses and latency are reported;
#   (b) every backend terminated (pg_terminate_backend) every 2 s: no
#       answered request may be a 5xx;
#   (c) the server SIGKILLed mid bulk send (SENDS messages, default 300,
#       to a slow local SMTP sink) and started again: no message received
#       twice, none marked sent that never arrived, none left queued or
#       failed; those whose outcome the crash hid are UNKNOWN;
#   (d) the server SIGKILLed while upsertLeads batches of 200 arrive one
#       after another: every batch is stored whole or not at all, and every
#       answered one is stored.
#
# Prints a figures table; exits non-zero when a check fails. Run by
# .ci/run; about a minute plus the build.
#
# Env: RATE (requests/s, half pixels, half reads; default 200), SECONDS_A
# (default 20), SECONDS_B (default 10), RESTART_DOWN (default 3),
# PG_PORT (default 55433), PROMOHUB_BIN (skip the build).
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-200}
SECONDS_A=${SECONDS_A:-20}
SECONDS_B=${SECONDS_B:-10}
RESTART_DOWN=${RESTART_DOWN:-3}
PG_PORT=${PG_PORT:-55433}
SENDS=${SENDS:-300}
WORK="$(mktemp -d /tmp/promohub-faults.XXXXXX)"
chmod 755 "$WORK"
PG_DIR="$WORK/pg"
SERVER_PID=""
log() { printf '==> %s\n' "$*" >&2; }

cleanup() {
    [[ -z $SERVER_PID ]] || { kill -TERM "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; }
    bash scripts/throwaway-pg.sh stop "$PG_DIR" || true
    rm -rf "$WORK"
}
trap cleanup EXIT

if [[ -z ${PROMOHUB_BIN:-} ]]; then
    log "building the server (cargo build -p promohub)"
    cargo build -q -p promohub
    PROMOHUB_BIN="${CARGO_TARGET_DIR:-target}/debug/promohub"
fi
# A copy: a build elsewhere must not replace the binary under the run.
cp "$PROMOHUB_BIN" "$WORK/promohub"

log "starting a throwaway PostgreSQL on port $PG_PORT"
bash scripts/throwaway-pg.sh start "$PG_DIR" "$PG_PORT"
psql_db() { psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d faults -qAt -v ON_ERROR_STOP=1 "$@"; }
psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAt -c "CREATE DATABASE faults"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$PORT"

start_server() {
    DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/faults" \
        PROMOHUB_DB_POOL_SIZE=10 PROMOHUB_PUBLIC_URL="$BASE" RUST_LOG="${RUST_LOG:-warn}" \
        PROMOHUB_JOB_LEASE_SECS=5 \
        "$WORK/promohub" serve --port "$PORT" --host 127.0.0.1 --no-demo >>"$WORK/server.log" 2>&1 &
    SERVER_PID=$!
    for _ in $(seq 300); do
        curl -fsS "$BASE/health" >/dev/null 2>&1 && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || { tail -20 "$WORK/server.log"; exit 1; }
        sleep 0.2
    done
}
log "starting the server on port $PORT"
start_server
python3 bench/faults_load.py setup "$BASE" "$WORK/state.json"
# Room for every lead and message the scenarios add (the basic plan holds
# 1,000 leads: a batch cut short by the plan would read as a partial batch).
psql_db -c "UPDATE tenants SET max_leads = 1000000, max_emails_per_day = 100000"
message=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["message"])' "$WORK/state.json")
opens() { psql_db -c "SELECT count(*) FROM engagement_events WHERE message_id = '$message' AND event_type = 'opened'"; }

failed=0
field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }

log "(a) $RATE req/s for ${SECONDS_A}s; PostgreSQL restarted at $((SECONDS_A / 3))s, down ${RESTART_DOWN}s"
before=$(opens)
a=$(python3 bench/faults_load.py load "$BASE" "$WORK/state.json" "$SECONDS_A" "$RATE" \
    "$((SECONDS_A / 3)):bash scripts/throwaway-pg.sh restart '$PG_DIR' $RESTART_DOWN")
sleep 2
stored=$(( $(opens) - before ))
answered=$(field "$a" "pixel['statuses'].get('200', 0)")
[[ $stored -eq $answered ]] || { log "FAIL (a): $answered pixel hits answered, $stored stored"; failed=1; }

log "(b) $RATE req/s for ${SECONDS_B}s; every backend terminated every 2 s"
kills=()
for t in $(seq 2 2 $((SECONDS_B - 1))); do
    kills+=("$t:psql -h 127.0.0.1 -p $PG_PORT -U postgres -d postgres -qAt -c \"SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'faults'\" >/dev/null")
done
before=$(opens)
b=$(python3 bench/faults_load.py load "$BASE" "$WORK/state.json" "$SECONDS_B" "$RATE" "${kills[@]}")
sleep 2
stored_b=$(( $(opens) - before ))
answered_b=$(field "$b" "pixel['statuses'].get('200', 0)")
fivexx=$(field "$b" "sum(v for k, v in list(pixel['statuses'].items()) + list(read['statuses'].items()) if k.startswith('5') or not k[0].isdigit())")
[[ $fivexx -eq 0 ]] || { log "FAIL (b): $fivexx requests answered 5xx or not at all"; failed=1; }
[[ $stored_b -eq $answered_b ]] || { log "FAIL (b): $answered_b pixel hits answered, $stored_b stored"; failed=1; }

log "(c) a bulk send of $SENDS to a slow SMTP sink, the server SIGKILLed mid-send"
SINK_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
python3 bench/faults_load.py sink "$SINK_PORT" "$WORK/sink.log" 60 &
sink_pid=$!
touch "$WORK/sink.log"
queued=$(field "$(python3 bench/faults_load.py bulk "$BASE" "$WORK/state.json" "$SINK_PORT" "$SENDS")" "queued")
for _ in $(seq 600); do
    [[ $(grep -c . "$WORK/sink.log" || true) -ge $((queued / 3)) ]] && break
    sleep 0.05
done
received_at_kill=$(grep -c . "$WORK/sink.log" || true)
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
start_server
# The killed worker's jobs come back when their lease (5 s) runs out.
bulk_status() { psql_db -c "SELECT status, count(*) FROM messages WHERE recipient LIKE '%@send.faults.example' GROUP BY status ORDER BY status"; }
for _ in $(seq 240); do
    bulk_status | grep -q '^queued|' || break
    sleep 0.5
done
statuses=$(bulk_status | tr '\n' ' ')
sent_ids="$WORK/sent_ids.txt"
psql_db -c "SELECT trim(both '<>' from message_id_header) FROM messages WHERE recipient LIKE '%@send.faults.example' AND status IN ('sent', 'delivered')" | sort >"$sent_ids"
psql_db -c "SELECT trim(both '<>' from message_id_header) FROM messages WHERE recipient LIKE '%@send.faults.example' AND status = 'unknown'" | sort >"$WORK/unknown_ids.txt"
sort "$WORK/sink.log" >"$WORK/sink_sorted.txt"
twice=$(uniq -d "$WORK/sink_sorted.txt" | grep -c . || true)
lost=$(comm -23 "$sent_ids" <(sort -u "$WORK/sink_sorted.txt") | grep -c . || true)
unknown=$(grep -c . "$WORK/unknown_ids.txt" || true)
unknown_arrived=$(comm -12 "$WORK/unknown_ids.txt" <(sort -u "$WORK/sink_sorted.txt") | grep -c . || true)
left=$({ grep -oE '(queued|failed)\|[0-9]+' <<<"$statuses" || true; } | cut -d'|' -f2 | awk '{ s += $1 } END { print s + 0 }')
kill "$sink_pid" 2>/dev/null || true
[[ $twice -eq 0 ]] || { log "FAIL (c): $twice messages received twice"; failed=1; }
[[ $lost -eq 0 ]] || { log "FAIL (c): $lost messages marked sent never arrived"; failed=1; }
[[ ${left:-0} -eq 0 ]] || { log "FAIL (c): messages left queued or failed: $statuses"; failed=1; }

log "(d) upsertLeads batches of 200, the server SIGKILLed after 3 s"
python3 bench/faults_load.py upserts "$BASE" "$WORK/state.json" 100000 200 >"$WORK/upserts.txt" &
upserter=$!
sleep 3
kill -KILL "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
wait "$upserter" || true
start_server
batches_answered=$(cat "$WORK/upserts.txt")
batch_counts=$(psql_db -c "SELECT count(*) FROM leads WHERE email LIKE '%.faults.test' GROUP BY split_part(email, '@', 2)")
batches_stored=$(grep -c . <<<"$batch_counts" || true)
partial=$(grep -vc '^200$' <<<"$batch_counts" || true)
[[ $partial -eq 0 ]] || { log "FAIL (d): $partial batches stored in part"; failed=1; }
[[ $batches_stored -ge $batches_answered ]] || { log "FAIL (d): $batches_answered batches answered, $batches_stored stored"; failed=1; }

row() { # scenario result
    local r=$2
    printf '| %s | %s | %s | %s | %s / %s / %s |\n' "$1" \
        "$(field "$r" "pixel['sent']")" "$(field "$r" "pixel['statuses']")" \
        "$(field "$r" "read['statuses']")" \
        "$(field "$r" "read['p50_ms']")" "$(field "$r" "read['p99_ms']")" "$(field "$r" "read['max_ms']")"
}
echo
echo "faults: $RATE req/s (half open pixels, half authenticated leads reads), debug build, throwaway PostgreSQL $(psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -qAt -c 'SHOW server_version')"
echo
echo "| scenario | pixel hits | pixel answers | read answers | read p50 / p99 / max ms |"
echo "|---|---|---|---|---|"
row "(a) restart, down ${RESTART_DOWN}s" "$a"
row "(b) backends killed every 2 s" "$b"
echo
echo "(a) pixel hits answered 200: $answered, stored: $stored"
echo "(b) pixel hits answered 200: $answered_b, stored: $stored_b; 5xx or unanswered: $fivexx"
echo "(d) upsertLeads batches answered before the SIGKILL: $batches_answered; stored whole: $((batches_stored - partial)); stored in part: $partial"
echo "(c) bulk send of $queued messages, server SIGKILLed after the sink took $received_at_kill: statuses $statuses; received twice: $twice; marked sent but never received: $lost; UNKNOWN: $unknown (of which the sink had received $unknown_arrived)"
lost=$(grep -c "hits_lost\|a hit was not recorded" "$WORK/server.log" || true)
echo "server log: $(grep -c '"level":"ERROR"\|ERROR' "$WORK/server.log" || true) error lines, $lost lost-hit lines"
exit "$failed"
