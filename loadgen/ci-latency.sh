#!/usr/bin/env bash
# Issue 12, latency mode, briefly: the local stack on DynamoDB and SQS
# (moto, serialised by tests/moto_server.py) behind a proxy that adds a
# fixed delay to every cloud call and counts the calls. Prints the calls
# per order by operation and the sequential round trips of each critical
# path. Fails only on errors (a race without exactly one winner, an order
# that never settles), never on speed.
#
# Usage: bash loadgen/ci-latency.sh [extra loadgen flags]
# Env: DELAY_MS (default 50), ORDERS (per phase, default 6), STORES
# (default 40), PROFILE (cargo profile, default dev: the round-trip counts
# do not depend on it, and CI has built the workspace in dev already).
# Reuses target/moto-venv as tests/run-all.sh installs it (installs it if
# missing) and starts its own moto on a free port.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DELAY_MS=${DELAY_MS:-50}
ORDERS=${ORDERS:-6}
STORES=${STORES:-40}
PROFILE=${PROFILE:-dev}

# shellcheck source=tests/moto.sh
source "$ROOT/tests/moto.sh"
moto_install
MOTO_PORT=$(free_port)
PROXY_PORT=$(free_port)
moto_start "$MOTO_PORT" "$ROOT/target/moto-latency.log"

# The stack's SDK talks to the proxy (which loadgen serves at
# AWS_ENDPOINT_URL); the proxy forwards to moto.
export AWS_ENDPOINT_URL="http://127.0.0.1:$PROXY_PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true

# A small town: STORES stores in 3 x 3 km, so every order finds 4.
cargo run --locked -q -p loadgen --profile "$PROFILE" -- \
  --backend endpoint --upstream "http://127.0.0.1:$MOTO_PORT" --delay-ms "$DELAY_MS" \
  --stores "$STORES" --city-km 3 --latency-orders "$ORDERS" --warmup 2 "$@"
