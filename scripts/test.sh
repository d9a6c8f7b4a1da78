#!/usr/bin/env bash
# Runs every test: formatting, unit tests, the store's deterministic simulation (CI seed count)
# and the real-process cluster tests. Run as root (tests start daemons on 127.x addresses).
set -euo pipefail
cd "$(dirname "$0")/.."
# A one-shot build gains nothing from incremental state, which is most of a debug target's size
# (a full disk made the linker die with SIGBUS in CI once).
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
./scripts/install-deps.sh
cargo fmt --all -- --check
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast
else
  cargo test --workspace --no-fail-fast
fi
