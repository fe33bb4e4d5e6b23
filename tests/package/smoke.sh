#!/usr/bin/env bash
# Installs a built .deb the way a user does (apt-get resolves its dependencies), checks what
# it put on the system, runs the installed /usr/bin/countersign through the end-to-end
# harness (window opens, queue shows, an xdg-open'ed countersign:// link opens its
# approval), and removes the package again, also when a check fails.
#   tests/package/smoke.sh path/to/countersign.deb
# As root (CI) or with sudo. Needs the e2e tools (tests/e2e/run.sh installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."
DEB=$(realpath "$1")
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive

# xdg-utils: xdg-open; desktop-file-utils: its dpkg trigger indexes the scheme handler
# (mimeinfo.cache) and desktop-file-validate; appstream: appstreamcli validate; man-db.
need=()
for p in xdg-utils desktop-file-utils appstream man-db; do
  dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq "${need[@]}"
fi

PKG=$(dpkg-deb -f "$DEB" Package)
cleanup() { $SUDO apt-get remove -y -qq "$PKG" >/dev/null 2>&1 || true; }
trap cleanup EXIT

echo "package: installing $DEB ($PKG)"
dpkg-deb -f "$DEB" Depends
$SUDO apt-get install -y -qq "$DEB"

fail=0
check() { # description, command...
  local what=$1
  shift
  if "$@" >/tmp/countersign-pkg-check.log 2>&1; then
    echo "ok   $what"
  else
    echo "FAIL $what"
    cat /tmp/countersign-pkg-check.log
    fail=1
  fi
}

DESKTOP=/usr/share/applications/Countersign.desktop
METAINFO=/usr/share/metainfo/app.countersign.desktop.metainfo.xml
check "countersign is on PATH as /usr/bin/countersign" test "$(command -v countersign)" = /usr/bin/countersign
check "countersign --version names the version" bash -c \
  '/usr/bin/countersign --version | grep -qx "countersign $(dpkg-deb -f "$0" Version)"' "$DEB"
check "the CLI answers without a window" bash -c '/usr/bin/countersign --help | grep -q "approve"'
check ".desktop entry is valid" desktop-file-validate "$DESKTOP"
check ".desktop entry registers countersign:// links" grep -qx 'MimeType=x-scheme-handler/countersign;' "$DESKTOP"
check ".desktop entry passes the link on (%u)" grep -qx 'Exec=countersign %u' "$DESKTOP"
check "the system knows the scheme handler" bash -c \
  'grep -q "x-scheme-handler/countersign=.*Countersign.desktop" /usr/share/applications/mimeinfo.cache'
check "AppStream metainfo is valid" appstreamcli validate --no-net "$METAINFO"
for size in 16x16 32x32 48x48 64x64 128x128 256x256 512x512; do
  check "icon $size" test -s "/usr/share/icons/hicolor/$size/apps/countersign.png"
done
check "man page" bash -c 'man -w countersign && man -w countersign-approve && MANWIDTH=80 man countersign 2>/dev/null | grep -q "countersign-approve"'
check "bash completion" bash -c \
  'source /usr/share/bash-completion/completions/countersign && complete -p countersign'
check "zsh completion" test -s /usr/share/zsh/vendor-completions/_countersign
check "fish completion" grep -q "complete -c countersign" /usr/share/fish/vendor_completions.d/countersign.fish
check "runtime libraries all resolve" bash -c '! ldd /usr/bin/countersign | grep -q "not found"'

# The installed binary in the end-to-end harness; links go through xdg-open and the
# installed .desktop entry.
CS_E2E_APP=/usr/bin/countersign CS_E2E_XDG_OPEN=1 tests/e2e/run.sh \
  first_launch_offers_demo_and_settings_sign_in \
  queue_shows_its_rows \
  a_link_opens_the_approval_in_the_running_app \
  a_link_starts_the_app_on_that_approval || fail=1

cleanup
trap - EXIT
check "the package removes cleanly" test ! -e /usr/bin/countersign
exit $fail
