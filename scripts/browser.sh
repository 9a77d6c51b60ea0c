#!/usr/bin/env bash
# A headless browser for the MLflow UI test (tests/test_ui.py, in the `-m system` group):
# Debian's chromium and chromium-driver, driven through selenium (nnexp's test extra).
#
#   bash scripts/browser.sh install  # installs both (apt-get, as root); nothing if present
#
# No browser is downloaded by selenium or playwright: the test uses /usr/bin/chromium and
# /usr/bin/chromedriver.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { echo "browser.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

CHROMIUM=/usr/bin/chromium
DRIVER=/usr/bin/chromedriver

installed() { [ -x "$CHROMIUM" ] && [ -x "$DRIVER" ]; }

install_browser() {
  if installed; then return; fi
  [ "$(id -u)" = 0 ] || die "chromium is not installed; as root: apt-get install -y --no-install-recommends chromium chromium-driver"
  say "installing Debian's chromium and chromium-driver"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    chromium chromium-driver >/dev/null
  installed || die "no $CHROMIUM or $DRIVER after installing chromium and chromium-driver"
}

case "${1:-}" in
  install)
    install_browser
    say "$("$CHROMIUM" --version 2>/dev/null || echo chromium), $("$DRIVER" --version 2>/dev/null | cut -d' ' -f1-2)"
    ;;
  *)
    echo "usage: bash scripts/browser.sh install" >&2; exit 2 ;;
esac
