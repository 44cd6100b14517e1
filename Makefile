# Convenience targets around SwiftPM and scripts/install.sh.
#   make build     release build of all products
#   make test      the whole test suite
#   make install   build and install (PREFIX=/usr/local, DESTDIR= honoured; root creates the user)
#   make check-unit  systemd-analyze verify and security on the unit
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

install: build
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" sh scripts/install.sh --no-build

check-unit:
	systemd-analyze security --offline=true systemd/stafettd.service

clean:
	$(SWIFT) package clean
