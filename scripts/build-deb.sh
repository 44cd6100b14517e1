#!/bin/sh
# Builds the Debian package stafett_<version>_<arch>.deb from the static release build
# (make build), with dpkg-deb: no debhelper. The binaries go to /usr/bin, the unit to
# /usr/lib/systemd/system, the configuration to /etc/stafett as conffiles, the man pages and
# the bash completion to /usr/share; packaging/debian holds the maintainer scripts.
#
# Usage: scripts/build-deb.sh [options]
#   --bin-dir DIR     the release binaries (default .build/release, where make build leaves them)
#   --out DIR         where the .deb goes (default: the directory above --bin-dir's release/)
#   -h, --help        this text
set -eu

HERE=$(cd "$(dirname "$0")/.." && pwd)
BIN_DIR=$HERE/.build/release
OUT_DIR=

die() { echo "build-deb.sh: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
    case $1 in
        --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a directory"; BIN_DIR=$2; shift 2 ;;
        --out) [ $# -ge 2 ] || die "--out needs a directory"; OUT_DIR=$2; shift 2 ;;
        -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done

[ -n "$OUT_DIR" ] || OUT_DIR=$(dirname "$BIN_DIR")
for b in stafett stafettd; do
    [ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing: make build first"
done
command -v dpkg-deb >/dev/null 2>&1 || die "dpkg-deb is not installed (apt-get install dpkg)"
# A binary that still needs the toolchain's runtime would fail on a server without /opt/swift.
if ldd "$BIN_DIR/stafettd" "$BIN_DIR/stafett" | grep -E 'libswift|libFoundation|libdispatch|libBlocksRuntime' >&2; then
    die "the binaries link the Swift runtime dynamically: build with --static-swift-stdlib (make build)"
fi

VERSION=$("$BIN_DIR/stafett" --version | sed -n 's/^stafett //p')
[ -n "$VERSION" ] || die "could not read the version from $BIN_DIR/stafett --version"
ARCH=$(dpkg --print-architecture)

STAGE=$(mktemp -d)
trap 'rm -rf "$STAGE"' EXIT
ROOT=$STAGE/stafett
PKG=$HERE/packaging

# Stripped copies: the symbol tables would double the package, and a crash report from the
# Swift runtime is symbolicated against the unstripped build that stays in BIN_DIR.
install -d -m 0755 "$ROOT/usr/bin"
for b in stafett stafettd; do
    install -m 0755 "$BIN_DIR/$b" "$ROOT/usr/bin/$b"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$ROOT/usr/bin/$b"
done

# The repository's unit names /usr/local/bin (make install); the package's names /usr/bin.
install -d -m 0755 "$ROOT/usr/lib/systemd/system"
sed -e 's|/usr/local/bin/stafettd|/usr/bin/stafettd|' \
    -e 's|^# Installed by scripts/install.sh.|# Installed by the stafett package.|' \
    "$HERE/systemd/stafettd.service" > "$ROOT/usr/lib/systemd/system/stafettd.service"
chmod 0644 "$ROOT/usr/lib/systemd/system/stafettd.service"
grep -q '^ExecStart=/usr/bin/stafettd ' "$ROOT/usr/lib/systemd/system/stafettd.service" \
    || die "the unit's ExecStart does not name /usr/bin/stafettd"

# Readable by everyone: they name paths and peers, no secrets (the keys and journal.secret
# live beside them with their own modes), and operators' CLI reads the configuration.
install -d -m 0755 "$ROOT/etc/stafett"
install -m 0644 "$HERE/Config/stafett.conf" "$ROOT/etc/stafett/stafett.conf"
install -m 0644 "$HERE/Config/followup.rules" "$ROOT/etc/stafett/followup.rules"

for page in stafett.1 stafett.conf.5 stafettd.8; do
    section=${page##*.}
    install -d -m 0755 "$ROOT/usr/share/man/man$section"
    gzip -9n < "$PKG/man/$page" > "$ROOT/usr/share/man/man$section/$page.gz"
    chmod 0644 "$ROOT/usr/share/man/man$section/$page.gz"
done

# bash-completion loads a command's completion by the command's name.
install -d -m 0755 "$ROOT/usr/share/bash-completion/completions"
install -m 0644 "$PKG/bash-completion/stafett" "$ROOT/usr/share/bash-completion/completions/stafett"
ln -s stafett "$ROOT/usr/share/bash-completion/completions/stafettd"

install -d -m 0755 "$ROOT/usr/share/doc/stafett"
install -m 0644 "$PKG/debian/copyright" "$ROOT/usr/share/doc/stafett/copyright"
install -d -m 0755 "$ROOT/usr/share/lintian/overrides"
install -m 0644 "$PKG/debian/lintian-overrides" "$ROOT/usr/share/lintian/overrides/stafett"
gzip -9n < "$PKG/debian/changelog" > "$ROOT/usr/share/doc/stafett/changelog.gz"
chmod 0644 "$ROOT/usr/share/doc/stafett/changelog.gz"

install -d -m 0755 "$ROOT/DEBIAN"
for s in postinst prerm postrm; do
    install -m 0755 "$PKG/debian/$s" "$ROOT/DEBIAN/$s"
done
printf '%s\n' /etc/stafett/stafett.conf /etc/stafett/followup.rules > "$ROOT/DEBIAN/conffiles"
chmod 0644 "$ROOT/DEBIAN/conffiles"

# Depends from what the binaries really link (dpkg-shlibdeps, from dpkg-dev), else the list
# it computed on Debian 12. adduser makes the user and groups in postinst.
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
    mkdir -p "$STAGE/debian"
    printf 'Source: stafett\n\nPackage: stafett\nArchitecture: any\n' > "$STAGE/debian/control"
    SHLIBS=$(cd "$STAGE" && dpkg-shlibdeps -O "$ROOT/usr/bin/stafett" "$ROOT/usr/bin/stafettd" | sed -n 's/^shlibs:Depends=//p')
    [ -n "$SHLIBS" ] || die "dpkg-shlibdeps computed no dependencies"
else
    echo "build-deb.sh: dpkg-shlibdeps (dpkg-dev) is not installed: using the Debian 12 list" >&2
    SHLIBS="libc6 (>= 2.35), libgcc-s1 (>= 3.3.1), libssl3 (>= 3.0.0), libstdc++6 (>= 12), libxml2 (>= 2.9.0)"
fi
DEPENDS="adduser, $SHLIBS"
SIZE=$(du -sk --exclude=DEBIAN "$ROOT" | cut -f1)
sed -e "s|@VERSION@|$VERSION|" -e "s|@ARCH@|$ARCH|" -e "s|@SIZE@|$SIZE|" -e "s|@DEPENDS@|$DEPENDS|" \
    "$PKG/debian/control.in" > "$ROOT/DEBIAN/control"
(cd "$ROOT" && find . -type f ! -path './DEBIAN/*' -printf '%P\0' | LC_ALL=C sort -z | xargs -0 md5sum) > "$ROOT/DEBIAN/md5sums"
chmod 0644 "$ROOT/DEBIAN/control" "$ROOT/DEBIAN/md5sums"

mkdir -p "$OUT_DIR"
DEB=$OUT_DIR/stafett_${VERSION}_$ARCH.deb
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$DEB" >/dev/null
echo "build-deb.sh: built $DEB"
echo "build-deb.sh: Depends: $DEPENDS"
