#!/usr/bin/env bash
# Installs what the tests need, builds everything and runs the whole suite: the README's quick
# start (scripts/run.sh, send, flush, stats, SIGTERM), the packaging checks (systemd units, the
# Debian package built, linted, installed and purged), the benchmark's short mode (its table,
# no assertion on speed), a short libFuzzer run (scripts/fuzz.sh), the Swift suite under
# AddressSanitizer and ThreadSanitizer (scripts/sanitize.sh) and the Swift tests (last, so
# their summary closes the output). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-packages.sh
need=(libsystemd-dev pkg-config systemd ca-certificates bsdutils)  # bsdutils: script(1), a terminal for tests
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)  # the Node.js client is installed with npm in the tests
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || need+=(python3-venv)  # and the Python one with pip, in a venv
ensure_packages "${need[@]}"

swift build --build-tests

echo "== quick start: scripts/run.sh, then the README's send, flush and stats =="
scripts/check-quick-start.sh

echo "== packaging: units, Debian package =="
packaging/verify-units.sh
packaging/build-deb.sh .build/deb
if dpkg-query -W -f='${Status}' pltrackd 2>/dev/null | grep -q "install ok installed"; then
    echo "check-deb: skipped, pltrackd is installed on this machine (the check purges it)"
else
    packaging/check-deb.sh .build/deb/pltrackd_*.deb
fi

echo "== benchmark, short mode: figures beside syslog-ng; asserts nothing about speed =="
scripts/bench.sh --short --output .build/bench/results-short.json

echo "== fuzzing the frame decoder and the validators: 200,000 runs =="
scripts/fuzz.sh 200000

echo "== the Swift suite under AddressSanitizer (scripts/sanitize.sh address) =="
scripts/sanitize.sh address

echo "== the Swift suite under ThreadSanitizer (scripts/sanitize.sh thread) =="
scripts/sanitize.sh thread

echo "== Swift tests =="
swift test --skip-build
