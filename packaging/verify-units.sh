#!/usr/bin/env bash
# Checks the systemd units in this folder without installing anything:
#   1. systemd-analyze verify, in a scratch root that holds the units, the systemd units
#      they refer to, /bin/kill and an executable at /usr/bin/pltrackd (PLTRACKD_BINARY,
#      else a stub: verify only checks that ExecStart= is executable), with the man page
#      on MANPATH so that Documentation=man:pltrackd(8) resolves. Any output is a failure,
#      since verify exits 0 on warnings such as an unknown key.
#   2. systemd-analyze security --offline=true: prints the table and fails above 2.0.
#
#   packaging/verify-units.sh
#
# Installs systemd and man-db with apt-get when missing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
source "$here/../scripts/ensure-packages.sh"
ensure_packages systemd man-db groff-base

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
root="$scratch/root"
mkdir -p "$root/usr/bin" "$root/usr/lib/systemd" "$scratch/man/man8"
ln -s usr/bin "$root/bin"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
cp /bin/kill "$root/usr/bin/kill"
if [ -n "${PLTRACKD_BINARY:-}" ]; then
    cp "$PLTRACKD_BINARY" "$root/usr/bin/pltrackd"
else
    printf '#!/bin/sh\nexit 0\n' > "$root/usr/bin/pltrackd"
fi
chmod 0755 "$root/usr/bin/pltrackd"
units=(pltrackd.service pltrackd.socket pltrackd-control.socket)
for unit in "${units[@]}"; do
    cp "$here/$unit" "$root/usr/lib/systemd/system/$unit"
done
cp "$here/pltrackd.8" "$scratch/man/man8/pltrackd.8"

status=0
echo "+ systemd-analyze verify --root=$root ${units[*]}"
if output="$(MANPATH="$scratch/man" systemd-analyze verify --root="$root" "${units[@]}" 2>&1)" && [ -z "$output" ]; then
    echo "verify: ok"
else
    printf '%s\n' "$output"
    echo "verify: FAILED"
    status=1
fi

echo "+ systemd-analyze security --offline=true $here/pltrackd.service"
security="$(systemd-analyze security --offline=true --no-pager "$here/pltrackd.service" 2>&1)" || true
printf '%s\n' "$security"
score="$(printf '%s\n' "$security" | sed -n 's/.*Overall exposure level for pltrackd.service: \([0-9.]*\).*/\1/p')"
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
    echo "security: $score (at most 2.0): ok"
else
    echo "security: ${score:-unknown}: FAILED (must be at most 2.0)"
    status=1
fi
exit "$status"
