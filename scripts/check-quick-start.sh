#!/usr/bin/env bash
# The README's quick start, as a new user runs it: scripts/run.sh in the background, then the
# README's send, flush and stats, then SIGTERM. It runs on a temporary socket and outbox
# (PLTRACKD_SOCKET, PLTRACKD_OUTBOX), so it never meets a daemon already running here.
#
#   scripts/check-quick-start.sh       (scripts/test.sh runs it after building)
#
# Prints one line per check and, last, "quick start: N passed, M failed"; exits 1 on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."

work="$(mktemp -d /tmp/pltrackd-quick-start.XXXXXX)"
export PLTRACKD_SOCKET="$work/pltrackd.sock"
export PLTRACKD_OUTBOX="$work/pltrackd-outbox.jsonl"
export PLTRACKD_DEAD_LETTER="$work/pltrackd-dead-letters.jsonl"
# The embedded default, as on a fresh machine: no key, no spool, no systemd.
unset PROMPTLAYER_API_KEY PLTRACKD_API_KEY_FILE PLTRACKD_SPOOL_DIR STATE_DIRECTORY CREDENTIALS_DIRECTORY \
    NOTIFY_SOCKET LISTEN_FDS LISTEN_PID JOURNAL_STREAM WATCHDOG_USEC
pltrackd=.build/debug/pltrackd

source scripts/checks.sh
daemon=""
cleanup() {
    if [ -n "$daemon" ] && kill -0 "$daemon" 2>/dev/null; then kill -KILL "$daemon" 2>/dev/null; fi
    rm -rf "$work"
}
trap cleanup EXIT

scripts/run.sh >"$work/daemon.log" 2>&1 &
daemon=$!
# run.sh builds first (nothing to do after scripts/test.sh's build), then execs the daemon.
for _ in $(seq 1 1200); do
    kill -0 "$daemon" 2>/dev/null || break
    timeout 10 "$pltrackd" send '{"type":"ping"}' >/dev/null 2>&1 && break
    sleep 0.1
done
if timeout 60 "$pltrackd" send '{"type":"ping"}' >/dev/null 2>&1; then
    pass "scripts/run.sh serves on $PLTRACKD_SOCKET"
else
    fail "scripts/run.sh serves on $PLTRACKD_SOCKET" "$(cat "$work/daemon.log")"
    finish "quick start"
fi

check "send a track.prompt" timeout 60 "$pltrackd" send \
    '{"type":"track.prompt","prompt_name":"welcome","request_id":42,"prompt_input_variables":{"name":"Ada"}}'
check "send a flush" timeout 60 "$pltrackd" send '{"type":"flush"}'
expected='{"path":"/rest/track-prompt","body":{"prompt_name":"welcome","request_id":42,"prompt_input_variables":{"name":"Ada"}}}'
check "the outbox holds the call as the README shows it" \
    sh -c '[ "$(cat "$1")" = "$2" ] || { cat "$1"; exit 1; }' outbox "$PLTRACKD_OUTBOX" "$expected"
check "stats shows it delivered" sh -c \
    'out="$(timeout 60 "$1" stats)" && printf "%s\n" "$out" | grep -Eq "^ *delivered +1( |$)" || { printf "%s\n" "$out"; exit 1; }' \
    stats "$pltrackd"

kill -TERM "$daemon"
wait "$daemon"
status=$?
daemon=""
if [ "$status" -eq 0 ]; then pass "SIGTERM stops it (exit 0)"; else fail "SIGTERM stops it (exit $status)" "$(cat "$work/daemon.log")"; fi
check "the socket file is removed" test ! -e "$PLTRACKD_SOCKET"

finish "quick start"
