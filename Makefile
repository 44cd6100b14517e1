# Convenience targets around SwiftPM and scripts/install.sh.
#   make build     release build of all products, the Swift runtime linked in statically (a server
#                  needs no toolchain); BUILD_PATH=.build-release builds into another directory
#   make deb       the Debian package from that build (scripts/build-deb.sh), in BUILD_PATH
#   make test      the whole test suite
#   make install   install what `make build` built (PREFIX=/usr/local, DESTDIR= honoured; root creates
#                  the user): build first as yourself, then `sudo make install`
#   make check-unit  systemd-analyze verify (ExecStart pointed at the installed or built stafettd)
#                  and security on the unit
PREFIX ?= /usr/local
DESTDIR ?=
SWIFT ?= swift
BUILD_PATH ?= .build
RELEASE_BIN = $(abspath $(BUILD_PATH)/release)
# The Swift runtime linked in, so a server needs no toolchain; every symbol bound at start, so
# the whole GOT is read-only after relocation (with the RELRO the linker already applies).
RELEASE_FLAGS = -c release --static-swift-stdlib -Xlinker -z -Xlinker now

.PHONY: all build deb debug test install check-unit clean

all: build

build:
	$(SWIFT) build $(RELEASE_FLAGS) --scratch-path "$(BUILD_PATH)"

deb: build
	sh scripts/build-deb.sh --bin-dir "$(RELEASE_BIN)"

debug:
	$(SWIFT) build

test:
	$(SWIFT) test

# Not `install: build`: under sudo that would build as root, into root-owned .build files, with
# a PATH (sudo's secure_path) that usually has no swift.
install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" sh scripts/install.sh --no-build --bin-dir "$(RELEASE_BIN)"

# verify refuses a unit whose ExecStart program does not exist, so it checks a copy pointed at
# the installed stafettd, or else the built one.
check-unit:
	@command -v systemd-analyze >/dev/null 2>&1 || { echo "check-unit: systemd-analyze is not installed" >&2; exit 1; }
	@if [ -x "$(PREFIX)/bin/stafettd" ]; then bin="$(PREFIX)/bin"; \
	 else bin="$(RELEASE_BIN)"; fi; \
	 [ -x "$$bin/stafettd" ] || { echo "check-unit: no stafettd in $(PREFIX)/bin or $$bin: make build first" >&2; exit 1; }; \
	 dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT && \
	 sed "s|/usr/local/bin/stafettd|$$bin/stafettd|" systemd/stafettd.service > "$$dir/stafettd.service" && \
	 echo "systemd-analyze verify (ExecStart=$$bin/stafettd)" && \
	 systemd-analyze verify --man=no "$$dir/stafettd.service" && echo "verify: ok"
	systemd-analyze security --offline=true systemd/stafettd.service

clean:
	$(SWIFT) package clean
