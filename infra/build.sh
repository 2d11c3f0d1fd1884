#!/usr/bin/env bash
# Builds every Lambda function for arm64 as cargo-lambda zips, where
# infra/template.yaml's CodeUris point: target/lambda/<crate>/bootstrap.zip.
# Installs cargo-lambda (PyPI, pinned, with its Zig toolchain) into
# target/cargo-lambda-venv, then prints each zip's size.
#   bash infra/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
CARGO_LAMBDA_VERSION=1.9.2
VENV="$ROOT/target/cargo-lambda-venv"

if ! "$VENV/bin/cargo-lambda" lambda --version 2>/dev/null | grep -q " $CARGO_LAMBDA_VERSION"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "cargo-lambda==$CARGO_LAMBDA_VERSION"
fi
export PATH="$VENV/bin:$PATH"
# The arm64 standard library, from the toolchain's own distribution.
if ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
  rustup target add aarch64-unknown-linux-gnu
fi
# aws-lc's jitter entropy source costs about 50 ms of cold start.
export AWS_LC_SYS_NO_JITTER_ENTROPY=1

mapfile -t crates < <(find functions -mindepth 2 -maxdepth 2 -name Cargo.toml -printf '%h\n' | xargs -n1 basename | sort)
packages=()
for crate in "${crates[@]}"; do
  packages+=(--package "$crate")
done

cargo lambda build --release --arm64 --output-format zip \
  --lambda-dir "$ROOT/target/lambda" --locked "${packages[@]}"

echo "arm64 zips (infra/template.yaml CodeUri):"
for crate in "${crates[@]}"; do
  zip="target/lambda/$crate/bootstrap.zip"
  [ -f "$zip" ] || { echo "missing $zip" >&2; exit 1; }
  printf '  %-16s %8d bytes  %s\n' "$crate" "$(stat -c %s "$zip")" "$zip"
done
