#!/usr/bin/env bash
# Installs what the tests need, builds everything and runs the whole suite: the Swift tests
# (last, so their summary closes the output) and the packaging checks (systemd units,
# the Debian package built, linted, installed and purged). CI runs exactly this (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-packages.sh
need=(libsystemd-dev pkg-config systemd ca-certificates)
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v node >/dev/null 2>&1 || need+=(nodejs)
ensure_packages "${need[@]}"

swift build --build-tests

echo "== packaging: units, Debian package =="
packaging/verify-units.sh
packaging/build-deb.sh .build/deb
if dpkg-query -W -f='${Status}' pltrackd 2>/dev/null | grep -q "install ok installed"; then
    echo "check-deb: skipped, pltrackd is installed on this machine (the check purges it)"
else
    packaging/check-deb.sh .build/deb/pltrackd_*.deb
fi

echo "== Swift tests =="
swift test --skip-build
