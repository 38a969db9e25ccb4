#!/usr/bin/env bash
# Runs the Swift test suite under a sanitizer: the test bundle and the pltrackd executable the
# tests start are both built with it, in a scratch directory of their own.
#
#   scripts/sanitize.sh address     # AddressSanitizer
#   scripts/sanitize.sh thread      # ThreadSanitizer
#
# A finding stops the process that made it (halt_on_error), so the test that met it fails;
# LeakSanitizer checks every process at exit. The daemons started through
# systemd-socket-activate get the sanitizers' defaults (it passes no environment): leaks are
# reported there too, and a finding makes the daemon exit non-zero. The bulk test sends 20,000
# calls instead of 100,000 (PLTRACKD_BULK_MESSAGES), because sanitized code is several times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer="${1:?usage: scripts/sanitize.sh address|thread}"
scratch=".build/sanitize-$sanitizer"
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1"
export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:second_deadlock_stack=1"
export PLTRACKD_BULK_MESSAGES="${PLTRACKD_BULK_MESSAGES:-20000}"
swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
swift test --skip-build --sanitize="$sanitizer" --scratch-path "$scratch"
