#!/usr/bin/env bash
# Installs what is missing, builds hakube (release), installs it as /usr/local/bin/hakube and
# starts a local 3-node cluster with `hakube up`. Run as root from the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
cargo build --release -p hakube
install -m 0755 target/release/hakube /usr/local/bin/hakube
exec hakube up --nodes 3 --dir /var/lib/hakube-up "$@"
