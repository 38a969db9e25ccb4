#!/usr/bin/env bash
# Runs the Swift test suite under a sanitizer: the test bundle and the pltrackd executable the
# tests start are both built with it, in a scratch directory of their own.
#
#   scripts/sanitize.sh address     # AddressSanitizer
#   scripts/sanitize.sh thread      # ThreadSanitizer
#
# A finding stops the process that made it (halt_on_error), so the test that met it fails.
# LeakSanitizer checks every daemon the tests start when it exits (a leak makes it exit
# non-zero), less what scripts/lsan-suppressions.txt names; not the test runner, whose own
# leaks are Foundation's and XCTest's, and test doubles left waiting. The daemons started
# through systemd-socket-activate get the sanitizers' defaults (it passes no environment).
# AddressSanitizer skips what scripts/asan-suppressions.txt names: an over-read inside Foundation;
# ThreadSanitizer what scripts/tsan-suppressions.txt names: a race the Concurrency runtime's
# continuations show it, in no frame of pltrackd's.
# The bulk test sends 20,000 calls instead of 100,000 (PLTRACKD_BULK_MESSAGES): sanitized code
# is several times slower.
set -euo pipefail
cd "$(dirname "$0")/.."
sanitizer="${1:?usage: scripts/sanitize.sh address|thread}"
scratch=".build/sanitize-$sanitizer"
asan_suppressions="suppressions=$PWD/scripts/asan-suppressions.txt"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:$asan_suppressions"
export PLTRACKD_CHILD_ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:$asan_suppressions"
export LSAN_OPTIONS="suppressions=$PWD/scripts/lsan-suppressions.txt:print_suppressions=0"
export TSAN_OPTIONS="halt_on_error=1:abort_on_error=1:second_deadlock_stack=1:suppressions=$PWD/scripts/tsan-suppressions.txt"
# The sanitizer prints its own report; the Swift runtime's backtracer would only slow the abort.
export SWIFT_BACKTRACE="enable=no"
export PLTRACKD_BULK_MESSAGES="${PLTRACKD_BULK_MESSAGES:-20000}"
swift build --build-tests --sanitize="$sanitizer" --scratch-path "$scratch"
# The suite is Swift Testing only; XCTest's own runner leaks at exit, which LeakSanitizer reports.
swift test --skip-build --disable-xctest --sanitize="$sanitizer" --scratch-path "$scratch"
