#!/usr/bin/env bash
# Measures each function's cold start locally: wall time from spawning the
# bare release binary to its first request for an event on a stand-in Lambda
# Runtime API (infra/runtime_api_standin.py), with and without init priming
# (shared::wiring::prime; NO_INIT_PRIMING switches it off), against a moto
# server so the priming call succeeds. Native x86_64 builds: the deployed
# arm64 binaries do not run here. Prints min/median per function, then the
# zip sizes if infra/build.sh has made them.
#   bash infra/coldstart.sh            # 5 runs each
#   RUNS=10 bash infra/coldstart.sh
# Needs Rust and python3; installs moto (PyPI, pinned as in
# tests/run-all.sh) into target/moto-venv. Stops everything it starts.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
RUNS="${RUNS:-5}"
MOTO_VERSION=5.2.5
CRATES=(http-api ws-api offer-timer ws-authorizer)

# As infra/build.sh: no jitter entropy in aws-lc (it costs ~50 ms of init).
export AWS_LC_SYS_NO_JITTER_ENTROPY=1
packages=()
for crate in "${CRATES[@]}"; do
  packages+=(--package "$crate")
done
echo "== building release (native $(uname -m))" >&2
cargo build --release --locked "${packages[@]}" >&2

WORK=$(mktemp -d)
MOTO_PID=
JWKS_PID=
cleanup() {
  if [ -n "$JWKS_PID" ]; then
    kill "$JWKS_PID" 2>/dev/null || true
    wait "$JWKS_PID" 2>/dev/null || true
  fi
  if [ -n "$MOTO_PID" ]; then
    kill "$MOTO_PID" 2>/dev/null || true
    wait "$MOTO_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

echo "== moto server (moto[server]==$MOTO_VERSION)" >&2
VENV="$ROOT/target/moto-venv"
if ! "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$VENV/bin/python" "$ROOT/tests/moto_server.py" 127.0.0.1 "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
up=
for _ in $(seq 1 100); do
  if "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$PORT/moto-api/')" 2>/dev/null; then
    up=1
    break
  fi
  kill -0 "$MOTO_PID" 2>/dev/null || break
  sleep 0.2
done
[ -n "$up" ] || { echo "moto did not start:" >&2; cat "$WORK/moto.log" >&2; exit 1; }

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
export TABLE_NAME=coldstart
export TIMER_QUEUE_URL="$AWS_ENDPOINT_URL/123456789012/coldstart-timers"
export WS_MANAGEMENT_ENDPOINT="https://example.execute-api.us-east-1.amazonaws.com/prod"
export JWT_ISSUER="https://example.execute-api.us-east-1.amazonaws.com"
export RUST_LOG=warn
"$VENV/bin/python" - <<'EOF'
import boto3
boto3.client("dynamodb").create_table(
    TableName="coldstart",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
    BillingMode="PAY_PER_REQUEST",
)
EOF

# A throwaway signing secret in moto, as in infra/README.md step 2 (the HTTP
# function reads it at init), and its public JWKS served over HTTP for the
# WebSocket authorizer (which fetches it at init).
cargo run --quiet --locked -p ops -- init-signing-key --secret-id coldstart-jwt-signing-key >&2
JWKS_PORT=$("$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$WORK/jwks"
cargo run --quiet --locked -p ops -- print-jwks --issuer "$JWT_ISSUER" \
  | python3 -c 'import json, sys; print(json.dumps(json.load(sys.stdin)["jwks"]))' >"$WORK/jwks/jwks.json"
python3 -m http.server --bind 127.0.0.1 --directory "$WORK/jwks" "$JWKS_PORT" >/dev/null 2>&1 &
JWKS_PID=$!
for _ in $(seq 1 50); do
  python3 -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$JWKS_PORT/jwks.json')" 2>/dev/null && break
  sleep 0.1
done

measure() { # crate, label, extra env...
  local crate=$1 label=$2
  shift 2
  local line
  line=$(env "$@" python3 infra/runtime_api_standin.py "$crate" "$RUNS" "$TARGET/release/$crate")
  read -r _ min median runs <<<"$line"
  printf '%-14s %-11s %8s %8s   %s\n' "$crate" "$label" "$min" "$median" "$runs"
}

echo "== cold start: spawn to first /invocation/next, ms ($RUNS runs)"
printf '%-14s %-11s %8s %8s   %s\n' function priming min median runs
for crate in "${CRATES[@]}"; do
  extra=()
  [ "$crate" = http-api ] && extra=("JWT_SIGNING_SECRET_ID=coldstart-jwt-signing-key")
  [ "$crate" = ws-authorizer ] && extra=("JWT_JWKS_URL=http://127.0.0.1:$JWKS_PORT/jwks.json")
  if [ "$crate" = ws-authorizer ]; then
    measure "$crate" "n/a" "${extra[@]}"
  else
    measure "$crate" "on" "${extra[@]}"
    measure "$crate" "off" NO_INIT_PRIMING=1 "${extra[@]}"
  fi
done

echo "== sizes, bytes"
printf '%-14s %12s %16s\n' function "x86_64 binary" "arm64 zip"
for crate in "${CRATES[@]}"; do
  zip="$TARGET/lambda/$crate/bootstrap.zip"
  zip_size="(none: bash infra/build.sh)"
  [ -f "$zip" ] && zip_size=$(stat -c %s "$zip")
  printf '%-14s %12s %16s\n' "$crate" "$(stat -c %s "$TARGET/release/$crate")" "$zip_size"
done
