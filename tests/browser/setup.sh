#!/usr/bin/env bash
# What the browser journey needs, installed if missing: Debian's chromium
# and a Bangla font (fonts-noto-core) with apt-get (as root, as CI runs),
# and Playwright for Python and axe-core (axe-playwright-python bundles it;
# both pinned, from PyPI) in target/browser-venv. Playwright drives the
# system's Chromium: no browser is downloaded.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PLAYWRIGHT_VERSION=1.65.2
AXE_VERSION=0.1.8
VENV="$ROOT/target/browser-venv"

# Two scenarios may start at once: one installs, the other waits.
mkdir -p "$ROOT/target"
exec 9>"$ROOT/target/browser-setup.lock"
flock 9

missing=()
command -v chromium >/dev/null || missing+=(chromium)
fc-list 2>/dev/null | grep -q "Noto Sans Bengali" || missing+=(fonts-noto-core)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    echo "missing ${missing[*]}: install with apt-get install ${missing[*]} (as root)" >&2
    exit 1
  fi
fi

if ! "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('playwright') != '$PLAYWRIGHT_VERSION' or m.version('axe-playwright-python') != '$AXE_VERSION')" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "playwright==$PLAYWRIGHT_VERSION" "axe-playwright-python==$AXE_VERSION"
fi
