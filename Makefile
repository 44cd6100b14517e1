# Convenience targets around SwiftPM and scripts/install.sh.
#   make build     release build of all products
#   make test      the whole test suite
#   make install   install what `make build` built (PREFIX=/usr/local, DESTDIR= honoured; root creates
#                  the user): build first as yourself, then `sudo make install`
#   make check-unit  systemd-analyze verify (ExecStart pointed at the installed or built stafettd)
#                  and security on the unit
PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift

.PHONY: all build debug test install check-unit clean

all: build

build:
	$(SWIFT) build -c release

debug:
	$(SWIFT) build

test:
	$(SWIFT) test

# Not `install: build`: under sudo that would build as root, into root-owned .build files, with
# a PATH (sudo's secure_path) that usually has no swift.
install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" sh scripts/install.sh --no-build

# verify refuses a unit whose ExecStart program does not exist, so it checks a copy pointed at
# the installed stafettd, or else the built one.
check-unit:
	@command -v systemd-analyze >/dev/null 2>&1 || { echo "check-unit: systemd-analyze is not installed" >&2; exit 1; }
	@if [ -x "$(PREFIX)/bin/stafettd" ]; then bin="$(PREFIX)/bin"; \
	 else bin=$$($(SWIFT) build -c release --show-bin-path 2>/dev/null || echo .build/release); fi; \
	 [ -x "$$bin/stafettd" ] || { echo "check-unit: no stafettd in $(PREFIX)/bin or $$bin: make build first" >&2; exit 1; }; \
	 dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	 sed "s|/usr/local/bin/stafettd|$$bin/stafettd|" systemd/stafettd.service > "$$dir/stafettd.service" && \
	 echo "systemd-analyze verify (ExecStart=$$bin/stafettd)" && \
	 systemd-analyze verify "$$dir/stafettd.service" && echo "verify: ok"
	systemd-analyze security --offline=true systemd/stafettd.service

clean:
	$(SWIFT) package clean
