#!/usr/bin/env bash
# Builds pltrackd and runs the daemon in the foreground. Without PROMPTLAYER_API_KEY it runs
# on the embedded default: every call is appended to ./pltrackd-outbox.jsonl.
# Arguments are passed to 'pltrackd run' (see: scripts/run.sh --help).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/ensure-packages.sh
ensure_packages libsystemd-dev pkg-config ca-certificates
swift build --product pltrackd >&2
exec .build/debug/pltrackd run "$@"
