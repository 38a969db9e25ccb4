#!/usr/bin/env bash
# Checks the Debian package end to end: lintian, install, every file in place, the units
# verified, the binary runs, then purge and nothing left behind (of what was not there before
# the install: such a path is named in a note and not counted). Needs root (dpkg -i);
# installs what it needs with apt-get when missing. Refuses to run when pltrackd is
# already installed, since the purge at the end would remove its configuration and state.
#
#   packaging/check-deb.sh [PACKAGE.deb]     (default: the newest .build/deb/pltrackd_*.deb)
#
# Prints one line per check and, last, "deb: N passed, M failed"; exits 1 on any failure.
# Where systemd is running (/run/systemd/system), it also starts the sockets and talks to
# the daemon through both of them.
set -uo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"

if [ "$(id -u)" -ne 0 ]; then
    exec sudo -E "$0" "$@"
fi

deb="${1:-}"
if [ -z "$deb" ]; then
    deb="$(ls -t "$repo"/.build/deb/pltrackd_*.deb 2>/dev/null | head -1)"
fi
if [ -z "$deb" ] || [ ! -f "$deb" ]; then
    echo "check-deb: no package given and none in $repo/.build/deb/ (run packaging/build-deb.sh)" >&2
    exit 2
fi
deb="$(cd "$(dirname "$deb")" && pwd)/$(basename "$deb")"

source "$repo/scripts/checks.sh"

if dpkg-query -W -f='${Status}' pltrackd 2>/dev/null | grep -q 'installed\|config-files'; then
    echo "check-deb: pltrackd is already installed; purge it first (dpkg --purge pltrackd)" >&2
    exit 2
fi

# --- What the checks and the package need -------------------------------------------------
source "$repo/scripts/ensure-packages.sh"
set +e  # ensure-packages.sh turns it on; here every check runs and is counted
# The first alternative of each dependency of the package, without its version.
mapfile -t package_depends < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/|.*//; s/(.*)//; s/[[:space:]]//g' | grep -v '^$')
ensure_packages lintian man-db groff-base systemd "${package_depends[@]}"

version="$(dpkg-deb -f "$deb" Version)"
echo "check-deb: $(basename "$deb") (version $version)"

# --- lintian ------------------------------------------------------------------------------
lintian_output="$(lintian --display-level '>=info' --show-overrides "$deb" 2>&1)"
lintian_status=$?
lintian_output="$(printf '%s\n' "$lintian_output" | grep -v '^running with root privileges is not recommended!$')"
echo "lintian:"
if [ -n "$lintian_output" ]; then printf '%s\n' "$lintian_output" | sed 's/^/      /'; else echo "      (no tags)"; fi
# With --show-overrides lintian exits 2 for an overridden error too (shown as O:), so the
# verdict is the E: lines; exit status 1 means lintian itself failed.
if [ "$lintian_status" -ne 1 ] && ! printf '%s\n' "$lintian_output" | grep -q '^E: '; then
    pass "lintian reports no errors"
else
    fail "lintian reports no errors" "$(printf '%s\n' "$lintian_output" | grep '^E: ')"
fi

# --- Install ------------------------------------------------------------------------------
mapfile -t entries < <(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./|/|; s|/$||' | grep -v '^\.\?$')
purged=no
purge() {
    if [ "$purged" = no ]; then
        purged=yes
        DEBIAN_FRONTEND=noninteractive dpkg --purge pltrackd >/dev/null 2>&1 || true
    fi
}
trap purge EXIT

# What the package, its scripts and the daemon create outside the package's own files; after
# the purge none of it may be left.
created_paths=(/etc/pltrackd /var/lib/pltrackd /var/lib/private/pltrackd /run/pltrackd
    /etc/systemd/system/sockets.target.wants/pltrackd.socket
    /etc/systemd/system/sockets.target.wants/pltrackd-control.socket
    /var/lib/systemd/deb-systemd-helper-enabled/pltrackd.socket.dsh-also
    /var/lib/systemd/deb-systemd-helper-enabled/pltrackd-control.socket.dsh-also
    /var/lib/systemd/deb-systemd-helper-masked/pltrackd.socket
    /var/lib/systemd/deb-systemd-helper-masked/pltrackd-control.socket)
# A path that is there before the install (say /run/pltrackd from running the daemon by hand
# as root) is not the package's to remove: noted, and not counted as left behind.
declare -A preexisting=()
for path in "${entries[@]}" "${created_paths[@]}"; do
    if [ -d "$path" ] && [ ! -L "$path" ] && dpkg -S "$path" >/dev/null 2>&1; then
        continue  # a directory of other packages: never counted
    fi
    if [ -e "$path" ] || [ -L "$path" ]; then preexisting["$path"]=1; fi
done
if [ "${#preexisting[@]}" -gt 0 ]; then
    echo "note  there before the install, so not checked for removal: ${!preexisting[*]}"
fi

if output="$(DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" 2>&1)"; then
    pass "dpkg -i $(basename "$deb")"
else
    fail "dpkg -i $(basename "$deb")" "$output"
    finish deb
fi

missing=()
for entry in "${entries[@]}"; do
    [ -e "$entry" ] || missing+=("$entry")
done
if [ "${#missing[@]}" -eq 0 ]; then
    pass "all ${#entries[@]} paths of the package exist"
else
    fail "all ${#entries[@]} paths of the package exist" "missing: ${missing[*]}"
fi
check "dpkg --verify pltrackd (checksums)" dpkg --verify pltrackd
check "/etc/pltrackd/pltrackd.toml is a registered conffile" \
    sh -c "dpkg-query -W -f='\${Conffiles}' pltrackd | grep -q '^ /etc/pltrackd/pltrackd.toml '"
check "group pltrackd exists (systemd-sysusers)" getent group pltrackd
check "pltrackd.socket enabled" test -L /etc/systemd/system/sockets.target.wants/pltrackd.socket
check "pltrackd-control.socket enabled" test -L /etc/systemd/system/sockets.target.wants/pltrackd-control.socket
check "man pltrackd finds the page" man -w pltrackd
check "man page renders without warnings" \
    sh -c 'out="$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l /usr/share/man/man8/pltrackd.8.gz 2>&1 >/dev/null)"; [ -z "$out" ] || { echo "$out"; exit 1; }'

# --- The units ----------------------------------------------------------------------------
units=(/usr/lib/systemd/system/pltrackd.service /usr/lib/systemd/system/pltrackd.socket /usr/lib/systemd/system/pltrackd-control.socket)
# verify exits 0 on some warnings (an unknown key, say), so any output is a failure too.
check "systemd-analyze verify (installed units)" \
    sh -c 'out="$(systemd-analyze verify "$@" 2>&1)" && [ -z "$out" ] || { echo "$out"; exit 1; }' verify "${units[@]}"
security="$(systemd-analyze security --offline=true --no-pager /usr/lib/systemd/system/pltrackd.service 2>&1)"
score="$(printf '%s\n' "$security" | sed -n 's/.*Overall exposure level for pltrackd.service: \([0-9.]*\).*/\1/p')"
if [ -n "$score" ] && awk -v s="$score" 'BEGIN { exit !(s <= 2.0) }'; then
    pass "systemd-analyze security: exposure $score (at most 2.0)"
else
    fail "systemd-analyze security: exposure ${score:-unknown} (at most 2.0)" "$(printf '%s\n' "$security" | grep -E '✗|Overall')"
fi

# --- The binary ---------------------------------------------------------------------------
check "pltrackd --version is $version" sh -c "[ \"\$(pltrackd --version)\" = '$version' ] || { pltrackd --version; exit 1; }"
check "pltrackd check-config accepts the packaged configuration" pltrackd check-config --config /etc/pltrackd/pltrackd.toml
check "no Swift runtime libraries needed" sh -c '! ldd /usr/bin/pltrackd | grep -E "libswift|libFoundation|libdispatch|not found"'

# --- Under a running systemd: activation through both sockets ------------------------------
if [ -d /run/systemd/system ]; then
    # postinst starts the sockets through deb-systemd-invoke, which obeys policy-rc.d; where
    # that forbids starting services (exit 101, as in container images), start them here.
    if [ -x /usr/sbin/policy-rc.d ]; then
        /usr/sbin/policy-rc.d pltrackd.socket start >/dev/null 2>&1
        if [ $? -eq 101 ]; then
            echo "note  policy-rc.d forbids starting services, so postinst did not; starting the sockets here"
            systemctl start pltrackd.socket pltrackd-control.socket
            started_here=yes
        fi
    fi
    check "pltrackd.socket is listening" systemctl is-active pltrackd.socket
    check "pltrackd-control.socket is listening" systemctl is-active pltrackd-control.socket
    check "ping through the tracking socket starts the service" \
        timeout 60 pltrackd send --socket /run/pltrackd/pltrackd.sock '{"type":"ping"}'
    check "pltrackd.service is active" systemctl is-active pltrackd.service
    check "stats through the control socket" timeout 60 pltrackd stats --socket /run/pltrackd/control.sock
    check "a tracking call and a flush land in the outbox (no API key)" sh -c '
        timeout 60 pltrackd send --socket /run/pltrackd/pltrackd.sock \
            "{\"type\":\"track.prompt\",\"prompt_name\":\"check-deb\",\"request_id\":1}" "{\"type\":\"flush\"}" &&
        grep -q "\"prompt_name\":\"check-deb\"" /var/lib/pltrackd/pltrackd-outbox.jsonl'
    check "the control socket refuses tracking calls (forbidden)" sh -c '
        timeout 60 pltrackd send --socket /run/pltrackd/control.sock "{\"type\":\"track.prompt\",\"prompt_name\":\"x\",\"request_id\":1}" 2>&1 |
            grep -q "\"code\":\"forbidden\""'
    check "systemctl reload pltrackd" systemctl reload pltrackd.service
    check "pltrackd.service is still active, never restarted" sh -c '
        systemctl is-active pltrackd.service && [ "$(systemctl show -p NRestarts --value pltrackd.service)" = 0 ] ||
            { journalctl -u pltrackd.service -n 30 --no-pager -o cat; exit 1; }'
else
    echo "skip  activation checks: systemd is not running here"
fi

# --- Purge --------------------------------------------------------------------------------
# What an administrator and the daemon add, which purge must remove too.
install -m 0600 /dev/null /etc/pltrackd/api-key
if [ ! -e /var/lib/pltrackd ]; then
    install -d -m 0700 /var/lib/private/pltrackd
    ln -s private/pltrackd /var/lib/pltrackd
    : > /var/lib/private/pltrackd/pltrackd-outbox.jsonl
fi

# policy-rc.d keeps prerm from stopping what it kept postinst from starting: stop it here.
if [ "${started_here:-no}" = yes ]; then
    systemctl stop pltrackd.service pltrackd.socket pltrackd-control.socket
fi
purged=yes
if output="$(DEBIAN_FRONTEND=noninteractive dpkg --purge pltrackd 2>&1)"; then
    pass "dpkg --purge pltrackd"
else
    fail "dpkg --purge pltrackd" "$output"
fi
check "the package is gone from dpkg" sh -c '! dpkg-query -W -f="\${Status}" pltrackd 2>/dev/null | grep -q .'

left=()
for entry in "${entries[@]}"; do
    # Directories shared with other packages stay; everything else must be gone.
    if [ -d "$entry" ] && [ ! -L "$entry" ] && dpkg -S "$entry" >/dev/null 2>&1; then
        continue
    fi
    [ -n "${preexisting[$entry]:-}" ] && continue
    [ -e "$entry" ] || [ -L "$entry" ] && left+=("$entry")
done
for path in "${created_paths[@]}"; do
    [ -n "${preexisting[$path]:-}" ] && continue
    if [ -e "$path" ] || [ -L "$path" ]; then left+=("$path"); fi
done
if [ "${#preexisting[@]}" -gt 0 ]; then
    echo "note  not counted, since they were there before the package was installed: ${!preexisting[*]}"
fi
if [ "${#left[@]}" -eq 0 ]; then
    pass "nothing left behind after purge"
else
    fail "nothing left behind after purge" "left: ${left[*]}"
fi

finish deb
