# Countersign — build, run and test on a fresh Debian/Ubuntu machine.
#   make run    installs missing system packages, builds, starts the app in demo mode
#   make test   the whole suite (unit, integration, the CLI built without the desktop
#               feature, end-to-end under Xvfb + D-Bus)
#   make cli    the command-line-only `countersign` (no GTK/WebKit), for headless boxes
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
APT_TEST := xvfb xauth webkit2gtk-driver dbus dbus-x11 dbus-bin ca-certificates
SUDO := $(shell [ "$$(id -u)" = 0 ] && echo "" || (command -v sudo >/dev/null && echo sudo))

.PHONY: all build cli run server server-trickle test test-unit test-cli-headless test-e2e bench lint deps deps-build deps-test fmt clean

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

# The same `countersign` binary without the desktop app: every CLI command, no GUI library
# (target/release/countersign).
cli:
	$(CARGO) build --release --no-default-features --bin countersign

run: build
	$(CARGO) run --bin countersign -- --demo

server:
	$(CARGO) run -p countersign-server -- --demo --addr 127.0.0.1:8000

# Same, plus a new pending request every 30 s (to see desktop notifications arrive).
server-trickle:
	$(CARGO) run -p countersign-server -- --demo --addr 127.0.0.1:8000 --demo-trickle 30s

test: deps-test lint test-unit test-cli-headless test-e2e

test-unit:
	$(CARGO) test --workspace --all-targets

# The CLI built without the `desktop` feature: it must link no GTK/WebKit library and
# pass the CLI tests (which run the binary cargo built for them, this feature set's).
TARGET_DIR = $${CARGO_TARGET_DIR:-target}
test-cli-headless:
	$(CARGO) test --no-default-features -p countersign --bins --test 'cli_*'
	@if ldd "$(TARGET_DIR)/debug/countersign" | grep -Ei 'webkit|gtk|javascriptcore|soup'; then \
	  echo "the no-default-features countersign links GUI libraries (above)"; exit 1; \
	else echo "countersign without the desktop feature links no GUI library"; fi

test-e2e:
	@if [ -x tests/e2e/run.sh ]; then tests/e2e/run.sh; else echo "no end-to-end suite yet"; fi

# Server (decisions/s, latency, changes feed) and core (sync, query, outbox drain) benches,
# then the desktop app's cold start and idle memory under Xvfb (release build).
bench: deps-test
	$(CARGO) bench --workspace
	tests/e2e/run.sh --bench

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p countersign --no-default-features --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
