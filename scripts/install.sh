#!/bin/sh
# Installs Stafett: the stafett and stafettd binaries, their man pages and bash completion,
# the systemd unit, an example
# configuration and the follow-up rules (each only if none exists), the node's journal
# secret (32 random bytes, only if none exists and not with --destdir), the stafett
# system user, the groups stafett-intake, stafett-inbox and stafett-operators, and the
# directories shared with them (the same table as the Debian package's postinst).
# Idempotent: running it again upgrades the binaries and unit and changes nothing else.
#
# Usage: scripts/install.sh [options]
#   --prefix DIR      binaries go to DIR/bin (default /usr/local, or $PREFIX)
#   --destdir DIR     stage everything under DIR (default $DESTDIR); implies --no-user
#   --unit-dir DIR    where the unit goes (default /etc/systemd/system)
#   --bin-dir DIR     take already built binaries from DIR instead of building
#   --no-build        do not run swift build (binaries must be in --bin-dir or .build/release)
#   --no-user         do not create the user or groups or change owners (packaging, tests)
#   -h, --help        this text
set -eu

PREFIX=${PREFIX:-/usr/local}
DESTDIR=${DESTDIR:-}
UNIT_DIR=/etc/systemd/system
BIN_DIR=
BUILD=yes
MAKE_USER=yes
USER_NAME=stafett
INTAKE_GROUP=stafett-intake
INBOX_GROUP=stafett-inbox
OPERATORS_GROUP=stafett-operators
SPOOL=/var/spool/stafett
STATE=/var/lib/stafett
CONF_DIR=/etc/stafett

die() { echo "install.sh: $*" >&2; exit 1; }
say() { echo "install.sh: $*"; }

while [ $# -gt 0 ]; do
    case $1 in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; PREFIX=$2; shift 2 ;;
        --destdir) [ $# -ge 2 ] || die "--destdir needs a directory"; DESTDIR=$2; shift 2 ;;
        --unit-dir) [ $# -ge 2 ] || die "--unit-dir needs a directory"; UNIT_DIR=$2; shift 2 ;;
        --bin-dir) [ $# -ge 2 ] || die "--bin-dir needs a directory"; BIN_DIR=$2; BUILD=no; shift 2 ;;
        --no-build) BUILD=no; shift ;;
        --no-user) MAKE_USER=no; shift ;;
        # The comment block at the top, up to the first line of code, whatever its length.
        -h|--help) sed -n '2,/^[^#]/s/^# \{0,1\}//p' "$0"; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
done

# A staged install never touches the running system's users.
[ -n "$DESTDIR" ] && MAKE_USER=no
case $PREFIX in /*) ;; *) die "--prefix must be an absolute path" ;; esac

HERE=$(cd "$(dirname "$0")/.." && pwd)

if [ "$BUILD" = yes ]; then
    command -v swift >/dev/null 2>&1 || die "swift is not on PATH (or use --bin-dir with prebuilt binaries)"
    say "building release binaries"
    # The Swift runtime linked in, so the binaries run where no toolchain is installed.
    (cd "$HERE" && swift build -c release --static-swift-stdlib --product stafett &&
        swift build -c release --static-swift-stdlib --product stafettd)
fi
if [ -z "$BIN_DIR" ]; then
    BIN_DIR=$(cd "$HERE" && swift build -c release --show-bin-path 2>/dev/null) || BIN_DIR=$HERE/.build/release
fi
for b in stafett stafettd; do
    [ -x "$BIN_DIR/$b" ] || die "$BIN_DIR/$b is missing: build first (swift build -c release) or pass --bin-dir"
done

if [ "$MAKE_USER" = yes ]; then
    [ "$(id -u)" -eq 0 ] || die "run as root to create the $USER_NAME user (or pass --no-user)"
    if ! getent passwd "$USER_NAME" >/dev/null 2>&1; then
        say "creating system user $USER_NAME"
        if command -v adduser >/dev/null 2>&1 && adduser --help 2>&1 | grep -q -- --system; then
            adduser --system --group --home "$STATE" --no-create-home --shell /usr/sbin/nologin \
                --gecos "Stafett daemon" "$USER_NAME" >/dev/null
        else
            useradd --system --user-group --home-dir "$STATE" --no-create-home \
                --shell /usr/sbin/nologin --comment "Stafett daemon" "$USER_NAME"
        fi
    fi
    for group in "$INTAKE_GROUP" "$INBOX_GROUP" "$OPERATORS_GROUP"; do
        if ! getent group "$group" >/dev/null 2>&1; then
            say "creating group $group"
            groupadd --system "$group"
        fi
    done
    # The daemon reads what case workers drop into the outbox: their files belong to the intake
    # group (the setgid outbox gives it), readable by that group only.
    usermod -a -G "$INTAKE_GROUP" "$USER_NAME"
fi

# dir MODE OWNER:GROUP PATH: create one directory with its mode and owner. An existing one is
# left as it is: the operator may have changed it on purpose, and an upgrade must not undo that.
dir() {
    [ -d "$DESTDIR$3" ] && return 0
    install -d -m "$1" "$DESTDIR$3"
    if [ "$MAKE_USER" = yes ]; then chown "$2" "$DESTDIR$3"; fi
    # After chown, which may clear the setgid bit.
    chmod "$1" "$DESTDIR$3"
}

say "installing binaries to $DESTDIR$PREFIX/bin"
install -d -m 0755 "$DESTDIR$PREFIX/bin"
for b in stafett stafettd; do
    # Copy then rename, so a running stafettd keeps its old inode and never sees a half-written file.
    install -m 0755 "$BIN_DIR/$b" "$DESTDIR$PREFIX/bin/.$b.new"
    mv -f "$DESTDIR$PREFIX/bin/.$b.new" "$DESTDIR$PREFIX/bin/$b"
done

say "installing the man pages and bash completion under $DESTDIR$PREFIX/share"
for page in stafett.1 stafett.conf.5 stafettd.8; do
    install -d -m 0755 "$DESTDIR$PREFIX/share/man/man${page##*.}"
    install -m 0644 "$HERE/packaging/man/$page" "$DESTDIR$PREFIX/share/man/man${page##*.}/$page"
done
install -d -m 0755 "$DESTDIR$PREFIX/share/bash-completion/completions"
install -m 0644 "$HERE/packaging/bash-completion/stafett" "$DESTDIR$PREFIX/share/bash-completion/completions/stafett"
ln -sf stafett "$DESTDIR$PREFIX/share/bash-completion/completions/stafettd"

say "installing the unit to $DESTDIR$UNIT_DIR"
install -d -m 0755 "$DESTDIR$UNIT_DIR"
sed "s|/usr/local/bin/stafettd|$PREFIX/bin/stafettd|" "$HERE/systemd/stafettd.service" > "$DESTDIR$UNIT_DIR/.stafettd.service.new"
chmod 0644 "$DESTDIR$UNIT_DIR/.stafettd.service.new"
mv -f "$DESTDIR$UNIT_DIR/.stafettd.service.new" "$DESTDIR$UNIT_DIR/stafettd.service"

dir 0750 "root:$USER_NAME" "$CONF_DIR"
dir 0750 "root:$USER_NAME" "$CONF_DIR/tls"
# config_file NAME WHAT: installs Config/NAME into the configuration directory (0640, group
# stafett) unless it is there already: an operator's edits survive upgrades.
config_file() {
    if [ -e "$DESTDIR$CONF_DIR/$1" ]; then
        say "keeping existing $DESTDIR$CONF_DIR/$1"
    else
        say "installing $2 to $DESTDIR$CONF_DIR/$1"
        install -m 0640 "$HERE/Config/$1" "$DESTDIR$CONF_DIR/$1"
        if [ "$MAKE_USER" = yes ]; then chown "root:$USER_NAME" "$DESTDIR$CONF_DIR/$1"; fi
    fi
}
config_file stafett.conf "example configuration (edit it)"
# `stafett followup` reads the rules from here.
config_file followup.rules "the follow-up rules"
# The key under which personnummer enter the journal. Never replaced: a new one would make
# every earlier record unfindable by personnummer. Not made for a staged install, which would
# give every machine installed from that package the same secret.
if [ -n "$DESTDIR" ]; then
    say "not creating $CONF_DIR/journal.secret in a staged install: create it on each node"
elif [ -e "$CONF_DIR/journal.secret" ]; then
    say "keeping existing $CONF_DIR/journal.secret"
else
    say "creating $CONF_DIR/journal.secret (32 random bytes; back it up, never change it)"
    # Written under a umask that leaves no moment where others could read it, then renamed.
    (umask 0077 && head -c 32 /dev/urandom > "$CONF_DIR/.journal.secret.new")
    [ "$(wc -c < "$CONF_DIR/.journal.secret.new")" -eq 32 ] || die "could not read 32 bytes from /dev/urandom"
    if [ "$MAKE_USER" = yes ]; then chown "root:$USER_NAME" "$CONF_DIR/.journal.secret.new"; fi
    chmod 0640 "$CONF_DIR/.journal.secret.new"
    mv "$CONF_DIR/.journal.secret.new" "$CONF_DIR/journal.secret"
fi

# DESIGN's "Who may touch what", as the package's postinst and stafettd (SpoolLayout) make it.
# The daemon creates the same tree at start; creating it here lets the operator see it
# and lets ProtectSystem=strict find the ReadWritePaths.
dir 0755 "$USER_NAME:$USER_NAME" "$SPOOL"
# Case systems write here; setgid keeps their files in the intake group, which the daemon is in.
dir 2770 "$USER_NAME:$INTAKE_GROUP" "$SPOOL/outbox"
dir 2750 "$USER_NAME:$INTAKE_GROUP" "$SPOOL/outbox/accepted"
dir 2750 "$USER_NAME:$INTAKE_GROUP" "$SPOOL/outbox/failed"
dir 2750 "$USER_NAME:$OPERATORS_GROUP" "$SPOOL/queue"
# The local system reads and removes received messages: it needs write on the directory.
dir 2770 "$USER_NAME:$INBOX_GROUP" "$SPOOL/inbox"
dir 2750 "$USER_NAME:$OPERATORS_GROUP" "$SPOOL/archive"
dir 2750 "$USER_NAME:$OPERATORS_GROUP" "$STATE"
dir 2750 "$USER_NAME:$OPERATORS_GROUP" "$STATE/journal"

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload
    say "done: edit $CONF_DIR/stafett.conf, put keys in $CONF_DIR/tls, then: systemctl enable --now stafettd"
    say "give access: adduser USER $OPERATORS_GROUP (journal, queue, archive), $INTAKE_GROUP (outbox), $INBOX_GROUP (inbox)"
else
    say "done (staged in ${DESTDIR:-/}; systemd not reloaded)"
fi
