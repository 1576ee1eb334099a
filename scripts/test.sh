#!/bin/sh
# Runs every test of the workspace: formatting, lints, unit, property and conformance tests.
# The conformance tests start their own private pcscd (root, own mount namespace) and never
# touch a system pcscd; they fail loudly when pcscd or vpcd is missing.
set -eu
cd "$(dirname "$0")/.."

scripts/install-deps.sh
# One build per run: incremental artifacts would only cost time and disk.
export CARGO_INCREMENTAL=0
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace --no-fail-fast
