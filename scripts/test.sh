#!/usr/bin/env bash
# Tells whether a checkout works. Installs what the tests need, builds, runs the README's quick
# start (scripts/check-quick-start.sh: scripts/run.sh, send, flush, stats, SIGTERM) and the
# Swift suite once, the client packages' own checks included: 2 to 3 minutes here after
# scripts/run.sh has built the daemon (the README gives the figures).
#
#   scripts/test.sh          # the checkout works: build, quick start, the Swift suite
#   scripts/test.sh --all    # and the long checks; CI runs this (.ci/run), about 37 minutes
#
# --all adds, before the plain suite: the systemd units (systemd-analyze verify and security),
# the Debian package (built from a release build, linted, installed, checked and purged), the
# benchmark's short mode (its table; nothing asserted about speed), a short libFuzzer run
# (scripts/fuzz.sh) and the Swift suite under AddressSanitizer and ThreadSanitizer
# (scripts/sanitize.sh). The plain suite runs last, so its summary closes the output.
set -euo pipefail
cd "$(dirname "$0")/.."

all=false
case "${1:-}" in
    "") ;;
    --all) all=true ;;
    -h | --help)
        sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
        exit 0
        ;;
    *)
        echo "scripts/test.sh: unknown option '$1' (expected --all or --help)" >&2
        exit 2
        ;;
esac

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

if $all; then
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
fi

echo "== Swift tests =="
swift test --skip-build
