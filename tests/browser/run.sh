#!/usr/bin/env bash
# Runs the browser journey against a running stack (BASE_URL and the rest
# are set by tests/tests/browser.rs, which starts the stack).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
bash "$ROOT/tests/browser/setup.sh"
exec "$ROOT/target/browser-venv/bin/python" "$ROOT/tests/browser/journey.py" "$@"
