#!/usr/bin/env bash
# End-to-end suite: the real `countersign` binary under Xvfb, driven through tauri-driver +
# WebKitWebDriver, against a real `countersign-server` on loopback, inside a private D-Bus
# session (dbus-run-session) where a recording notification daemon and a StatusNotifierWatcher run.
# CI runs this from a fresh clone as root: every tool it needs is installed here.
#   tests/e2e/run.sh [TEST_NAME...]   the suite (or some of its tests)
#   tests/e2e/run.sh --bench          start, idle memory and idle CPU against a hello-world
#                                     Tauri app (benches/hello), release builds
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD

SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
need=()
# fonts-noto-color-emoji: the status glyphs (⏳ ⌛) in screenshots; a desktop has an emoji font.
for p in xvfb xauth webkit2gtk-driver dbus dbus-x11 python3 python3-dbus python3-gi gir1.2-glib-2.0 fonts-noto-color-emoji; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "e2e: installing ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi
# axe-core (pinned in package.json) for the accessibility tests: injected into the app's
# page through WebDriver, never shipped with it.
if [ ! -f node_modules/axe-core/axe.min.js ]; then
  command -v npm >/dev/null || { $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nodejs npm; }
  npm ci --no-audit --no-fund --loglevel=error
fi
export PATH="$HOME/.cargo/bin:$PATH"
command -v tauri-driver >/dev/null || cargo install --locked tauri-driver

# `run.sh --bench` runs the start-up/memory/CPU benchmark on release binaries instead of the tests.
SCRIPT=tests/e2e/suite.py
PROFILE=debug
if [ "${1:-}" = "--bench" ]; then
  shift
  SCRIPT=tests/e2e/bench.py
  PROFILE=release
fi
# CS_E2E_APP: test that binary (e.g. an installed package's /usr/bin/countersign) instead
# of building one; the server is still built from this tree.
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
if [ -z "${CS_E2E_NO_BUILD:-}" ]; then
  pkgs=(-p countersign-server)
  [ -n "${CS_E2E_APP:-}" ] || pkgs+=(-p countersign)
  if [ "$PROFILE" = release ]; then
    # Built together, so the hello-world floor links the very same compiled Tauri.
    [ -n "${CS_E2E_APP:-}" ] || pkgs+=(-p countersign-hello)
    cargo build --release "${pkgs[@]}"
  else
    cargo build "${pkgs[@]}"
  fi
fi
export CS_APP="${CS_E2E_APP:-$TARGET_DIR/$PROFILE/countersign}"
export CS_SERVER="$TARGET_DIR/$PROFILE/countersign-server"
export CS_HELLO="$TARGET_DIR/$PROFILE/countersign-hello"

# A free X display.
d=90
while [ -e "/tmp/.X$d-lock" ] || [ -e "/tmp/.X11-unix/X$d" ]; do d=$((d + 1)); done
Xvfb ":$d" -screen 0 1440x900x24 -nolisten tcp >/tmp/countersign-e2e-xvfb.log 2>&1 &
XVFB=$!
trap 'kill $XVFB 2>/dev/null || true' EXIT
export DISPLAY=":$d"
for _ in $(seq 50); do [ -e "/tmp/.X11-unix/X$d" ] && break; sleep 0.1; done

# Debian's python3 carries python3-dbus; a pyenv/venv python on PATH would not.
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
dbus-run-session -- "$PY" "$SCRIPT" "$@"
