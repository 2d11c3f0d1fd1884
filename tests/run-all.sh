#!/usr/bin/env bash
# Every check and test of the project, as CI runs it: formatting, lints,
# unit, property, contract and end-to-end tests.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

for tool in rustfmt clippy-driver; do
  command -v "$tool" >/dev/null || { echo "missing $tool: install the Rust toolchain's $tool component" >&2; exit 1; }
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (all targets, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo test (embedded adapters)"
cargo test --workspace --locked
