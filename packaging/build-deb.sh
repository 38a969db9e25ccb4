#!/usr/bin/env bash
# Builds the Debian package pltrackd_VERSION_ARCH.deb from this checkout.
#
#   packaging/build-deb.sh [OUTPUT_DIR]        (default: .build/deb/)
#
# Environment:
#   PLTRACKD_BINARY     an already-built release binary to package; skips the Swift build
#   SWIFT_SCRATCH_PATH  swift build --scratch-path (default: .build)
#   SOURCE_DATE_EPOCH   timestamp of every file in the package (default: the last commit)
#   DEB_MAINTAINER      the Maintainer field (default below)
#
# The binary is built with the Swift standard library linked in, so the package needs no
# Swift runtime; Depends is computed by dpkg-shlibdeps from the libraries it still links.
# Installs what it needs with apt-get when missing (dpkg-dev for dpkg-shlibdeps, binutils).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(dirname "$here")"
cd "$repo"
source scripts/ensure-packages.sh

output="${1:-.build/deb}"
output="${output%/}"
maintainer="${DEB_MAINTAINER:-pltrackd maintainers <maintainers@users.noreply.r-seed-ad8cb03a.example>}"

say() { printf 'build-deb: %s\n' "$*" >&2; }

needed=(dpkg-dev binutils gzip)
if [ -z "${PLTRACKD_BINARY:-}" ]; then
    needed+=(libsystemd-dev pkg-config)
fi
ensure_packages "${needed[@]}"

# --- The binary ---------------------------------------------------------------------------
if [ -n "${PLTRACKD_BINARY:-}" ]; then
    binary="$PLTRACKD_BINARY"
    say "packaging the given binary $binary"
else
    command -v swift >/dev/null || { say "swift is not on PATH (or set PLTRACKD_BINARY)"; exit 1; }
    scratch="${SWIFT_SCRATCH_PATH:-.build}"
    # Full RELRO: -z now makes the GOT read-only after start-up (lintian: hardening-no-bindnow).
    build=(swift build -c release --static-swift-stdlib --product pltrackd --scratch-path "$scratch"
        -Xlinker -z -Xlinker relro -Xlinker -z -Xlinker now)
    say "building the release binary: ${build[*]}"
    "${build[@]}" >&2
    binary="$("${build[@]}" --show-bin-path)/pltrackd"
fi
[ -x "$binary" ] || { say "not an executable: $binary"; exit 1; }
if ldd "$binary" | grep -q 'libswift\|libFoundation\|libdispatch\|libBlocksRuntime'; then
    say "$binary links the Swift runtime dynamically; build it with --static-swift-stdlib"
    ldd "$binary" | grep 'swift\|Foundation\|dispatch\|Blocks' >&2
    exit 1
fi

version="$("$binary" --version)"
[[ "$version" =~ ^[0-9][0-9A-Za-z.+~]*$ ]] || { say "unexpected version from $binary --version: $version"; exit 1; }
arch="$(dpkg --print-architecture)"
package="pltrackd_${version}_${arch}.deb"
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"

# --- The tree -----------------------------------------------------------------------------
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
root="$work/root"
doc="$root/usr/share/doc/pltrackd"
install -d -m 0755 "$root/DEBIAN" "$root/usr/bin" "$root/usr/lib/systemd/system" "$root/usr/lib/sysusers.d" \
    "$root/etc/pltrackd" "$root/usr/share/man/man8" "$doc"

# Stripped as dh_strip does (lintian: unstripped-binary-or-object).
strip --remove-section=.comment --remove-section=.note --strip-unneeded -o "$root/usr/bin/pltrackd" "$binary"
chmod 0755 "$root/usr/bin/pltrackd"

install -m 0644 packaging/pltrackd.service packaging/pltrackd.socket packaging/pltrackd-control.socket \
    "$root/usr/lib/systemd/system/"
install -m 0644 packaging/pltrackd.sysusers "$root/usr/lib/sysusers.d/pltrackd.conf"
install -m 0644 packaging/pltrackd.toml "$root/etc/pltrackd/pltrackd.toml"
gzip -9n -c packaging/pltrackd.8 > "$root/usr/share/man/man8/pltrackd.8.gz"
install -m 0644 README.md protocol/SPEC.md "$doc/"

install -m 0644 packaging/copyright "$doc/copyright"

# A native package (the version has no Debian revision), so the changelog is changelog.gz.
cat > "$work/changelog" <<EOF
pltrackd ($version) unstable; urgency=medium

  * Release $version: the PromptLayer tracking sidecar with socket-activated,
    sandboxed systemd units, an example configuration and a manual page.

 -- $maintainer  $(date -u -R -d "@$SOURCE_DATE_EPOCH")
EOF
gzip -9n -c "$work/changelog" > "$doc/changelog.gz"

# --- Control files ------------------------------------------------------------------------
printf '%s\n' /etc/pltrackd/pltrackd.toml > "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$root/DEBIAN/$script"
done

# Depends: what the binary links (dpkg-shlibdeps, from the installed libraries' shlibs and
# symbols files), plus what the package uses at run time: the CA certificates for HTTPS,
# systemd-sysusers and deb-systemd-helper in the maintainer scripts.
mkdir -p "$work/shlibs/debian"
printf 'Source: pltrackd\n\nPackage: pltrackd\nArchitecture: any\n' > "$work/shlibs/debian/control"
shlibs="$(cd "$work/shlibs" && dpkg-shlibdeps -O -e"$root/usr/bin/pltrackd" 2> >(grep -v 'binaries to analyze should already be installed' >&2))"
shlibs="${shlibs#shlibs:Depends=}"
[ -n "$shlibs" ] || { say "dpkg-shlibdeps found no dependencies"; exit 1; }
depends="$shlibs, ca-certificates, systemd | systemd-standalone-sysusers | systemd-sysusers, init-system-helpers (>= 1.54~)"

installed_size="$(du -sk --exclude=DEBIAN "$root" | cut -f1)"
cat > "$root/DEBIAN/control" <<EOF
Package: pltrackd
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_size
Depends: $depends
Section: net
Priority: optional
Description: local sidecar that delivers PromptLayer tracking calls
 Applications in any language hand pltrackd their PromptLayer tracking calls
 as length-prefixed JSON frames over a Unix socket. It validates them,
 coalesces calls for the same request, and delivers them to the PromptLayer
 REST API through a bounded pool of keep-alive workers, retrying failures with
 backoff; calls refused for good go to a dead-letter file.
 .
 The package runs it as a socket-activated, sandboxed systemd service.
 Members of the pltrackd group may connect to /run/pltrackd/pltrackd.sock.
 Without an API key in /etc/pltrackd/api-key, it appends every call to an
 outbox file instead of sending it.
EOF

(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) \
    > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
find "$root" -type d -exec chmod 0755 {} +
find "$root" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

mkdir -p "$output"
dpkg-deb --root-owner-group -Zxz --build "$root" "$output/$package" >&2
say "Depends: $depends"
echo "$output/$package"
