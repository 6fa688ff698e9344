#!/usr/bin/env bash
# Package the six library crates and build each from its packaged files
# (`cargo package --workspace` verifies them against each other through a
# temporary local registry).
#
# Cargo extracts the crates of that temporary registry under
# $CARGO_HOME/registry/src/-<hash>/<name>-<version> and never re-extracts a
# directory that exists, so a second run on the same machine would verify
# against the sources of the first one (same name and version). Those
# extracted copies are removed first; the directories whose names start
# with "-" belong only to such temporary registries, never to crates.io.
set -euo pipefail
cd "$(dirname "$0")/.."
crates="mail-proto mail-sasl mail-tls mail-smtp-submit mail-pop3 mail-imap-min"
src="${CARGO_HOME:-$HOME/.cargo}/registry/src"
for crate in $crates; do
  rm -rf "$src"/-*/"$crate"-[0-9]*
done
cargo package --workspace --exclude mail-examples --exclude mail-benches --quiet
echo "package-check: $crates packaged and built from their packaged files"
