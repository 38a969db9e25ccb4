#!/usr/bin/env bash
# Benchmarks pltrackd beside syslog-ng on this machine and prints a table; the figures go to
# .build/bench/results.json (or --output PATH). Installs what it needs (nginx-light,
# syslog-ng-core, syslog-ng-mod-http, openssl), builds the release binaries, and starts and
# stops every daemon it uses in a temporary directory. What each row compares:
# scripts/bench/README.md.
#
#   scripts/bench.sh            # the full run (a few minutes after the build)
#   scripts/bench.sh --short    # small counts; the same table, asserting nothing about speed
#   scripts/bench.sh --rows ingest,latency --keep    # some rows; keep the logs and configs
#   scripts/bench.sh --repeats 5                      # five alternating pairs per paired row (default 3)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-packages.sh
need=(libsystemd-dev pkg-config ca-certificates nginx-light syslog-ng-core syslog-ng-mod-http openssl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
ensure_packages "${need[@]}"

echo "== building pltrackd and pltrackd-bench (release) ==" >&2
swift build -c release --product pltrackd >&2
swift build -c release --product pltrackd-bench >&2
bin=$(swift build -c release --show-bin-path)

export PYTHONDONTWRITEBYTECODE=1
exec python3 scripts/bench/bench.py --bin "$bin" "$@"
