#!/usr/bin/env bash
# Counting checks for the shell check scripts (packaging/check-deb.sh, scripts/check-quick-start.sh).
# Source it, then: pass NAME, fail NAME [DETAIL], check NAME COMMAND..., finish LABEL.

passed=0
failed=0
pass() { passed=$((passed + 1)); printf 'ok    %s\n' "$1"; }
fail() { failed=$((failed + 1)); printf 'FAIL  %s\n' "$1"; [ -z "${2:-}" ] || printf '%s\n' "$2" | sed 's/^/      /'; }
# check NAME COMMAND...: passes when the command succeeds; shows its output when it fails.
check() {
    local name="$1" output
    shift
    if output="$("$@" 2>&1)"; then pass "$name"; else fail "$name" "$output"; fi
}
# finish LABEL: prints "LABEL: N passed, M failed" and exits 1 if any check failed.
finish() {
    echo "$1: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
    exit
}
