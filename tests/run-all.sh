#!/usr/bin/env bash
# Every check and test of the project, as CI runs it: formatting, lints,
# unit, property, contract and end-to-end tests, on the embedded adapters
# and again on the AWS adapters against a moto server that this script
# installs (PyPI, into target/moto-venv), starts on a free loopback port and
# stops. No internet beyond the package registries, no Docker, no AWS
# credentials: dummy ones are set here.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

# CI builds once from clean: incremental caches would only add gigabytes.
if [ -n "${CI:-}" ]; then export CARGO_INCREMENTAL=0; fi

step() { printf '\n==> %s (at %d s)\n' "$*" "$SECONDS"; }

# Every cargo test line goes here too, for the closing count.
RESULTS="$ROOT/target/test-results.log"
mkdir -p "$ROOT/target"
: >"$RESULTS"
run_tests() { "$@" 2>&1 | tee -a "$RESULTS"; }

for tool in cargo rustfmt clippy-driver python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets and features, warnings are errors)"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "browser: chromium, fonts-noto-core (apt-get), Playwright for Python and axe-core (PyPI)"
# The browser journey (tests/tests/browser.rs) runs inside cargo test below.
bash tests/browser/setup.sh

step "cargo test (embedded adapters)"
run_tests cargo test --workspace --locked

step "infra: cfn-lint and the template-matches-code check"
bash infra/check.sh

# shellcheck source=tests/moto.sh
source "$ROOT/tests/moto.sh"
step "moto server (moto[server]==$MOTO_VERSION)"
moto_install
PORT=$(free_port)
moto_start "$PORT" "$ROOT/target/moto.log"
echo "moto listening on 127.0.0.1:$PORT"

export AWS_ENDPOINT_URL="http://127.0.0.1:$PORT"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_SESSION_TOKEN=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true

step "contract and end-to-end tests again, on DynamoDB and SQS (moto)"
# Selected from the whole workspace, so cargo reuses the first build instead
# of resolving features for one package anew; only the targets that read
# E2E_BACKEND, as the unit tests would only repeat themselves (1.5 min).
E2E_BACKEND=endpoint run_tests cargo test --workspace --features e2e-tests/endpoint-tests --locked --test e2e --test logs

step "latency mode: cloud calls and sequential round trips per order (prints figures; fails only on errors)"
# Its own moto and a delaying, counting proxy; never judged on speed. A
# delay of 500 ms outweighs moto's own jitter (hundreds of ms with 50), so
# the round trips it prints are the critical paths' (about a minute).
DELAY_MS=500 ORDERS=5 bash loadgen/ci-latency.sh

echo
echo "test command: $SECONDS s"
# One closing line for the whole run.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "\nall tests: %d passed, %d failed\n", p, f }' "$RESULTS"
