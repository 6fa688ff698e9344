#!/usr/bin/env bash
# The project's test command (README): installs the real peers the interop
# tests drive, then runs every test of the workspace with every feature.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
cargo test --workspace --all-features "$@"
