#!/usr/bin/env bash
# Installs what the tests need (Python 3 and Node.js run the example clients), builds
# everything and runs the whole test suite. CI runs exactly this (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-packages.sh
need=()
command -v python3 >/dev/null 2>&1 || need+=(python3)
command -v node >/dev/null 2>&1 || need+=(nodejs)
ensure_packages ca-certificates "${need[@]}"
swift build --build-tests
swift test --skip-build
