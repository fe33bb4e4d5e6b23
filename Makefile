# Countersign — build, run and test on a fresh Debian/Ubuntu machine.
#   make run    installs missing system packages, builds, starts the app in demo mode
#   make test   the whole suite (unit, integration, end-to-end under Xvfb + D-Bus)
#   make server the reference approvals server in demo mode on 127.0.0.1:8000
#               (make server-trickle: plus a new pending request every 30 s)
#   make bench  benchmarks (figures printed to stdout)
#   make lint   rustfmt + clippy, warnings are errors

SHELL := /bin/bash
CARGO ?= cargo

# Debian/Ubuntu packages: build (webkit2gtk 4.1, gtk, appindicator for the tray, rsvg, ssl)
# and test (Xvfb, WebKitWebDriver, a D-Bus session bus).
APT_BUILD := pkg-config build-essential libwebkit2gtk-4.1-dev libgtk-3-dev \
	libayatana-appindicator3-dev librsvg2-dev libssl-dev libsoup-3.0-dev libxdo-dev curl
APT_TEST := xvfb xauth webkit2gtk-driver dbus dbus-x11 dbus-bin
SUDO := $(shell [ "$$(id -u)" = 0 ] && echo "" || (command -v sudo >/dev/null && echo sudo))

.PHONY: all build run server server-trickle test test-unit test-e2e bench lint deps deps-build deps-test fmt clean

all: build

# Installs only what is missing, so a second run costs nothing.
deps-build:
	@missing=$$(for p in $(APT_BUILD); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing system packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v $(CARGO) >/dev/null || { echo "cargo not found: install Rust from https://rustup.rs"; exit 1; }

deps-test: deps-build
	@missing=$$(for p in $(APT_TEST); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing test packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi
	@command -v tauri-driver >/dev/null || [ -x "$$HOME/.cargo/bin/tauri-driver" ] || $(CARGO) install --locked tauri-driver

deps: deps-test

build: deps-build
	$(CARGO) build --workspace

run: build
	$(CARGO) run --bin countersign -- --demo

server:
	$(CARGO) run -p countersign-server -- --demo --addr 127.0.0.1:8000

# Same, plus a new pending request every 30 s (to see desktop notifications arrive).
server-trickle:
	$(CARGO) run -p countersign-server -- --demo --addr 127.0.0.1:8000 --demo-trickle 30s

test: deps-test lint test-unit test-e2e

test-unit:
	$(CARGO) test --workspace --all-targets

test-e2e:
	@if [ -x tests/e2e/run.sh ]; then tests/e2e/run.sh; else echo "no end-to-end suite yet"; fi

# Server (decisions/s, latency, changes feed) and core (sync, query, outbox drain) benches,
# then the desktop app under Xvfb (release builds) side by side with a hello-world Tauri app
# (benches/hello): spawn to first content, idle PSS, idle CPU per view.
bench: deps-test
	$(CARGO) bench --workspace
	tests/e2e/run.sh --bench

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
