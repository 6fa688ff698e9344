#!/usr/bin/env bash
# Check the workspace's declared minimum Rust version (`rust-version` in
# Cargo.toml) two ways, with that exact toolchain (installed by rustup):
#
#  1. the whole workspace as locked (Cargo.lock), every target and feature:
#     what CI builds compiles with the MSRV;
#  2. the six library crates alone, in a scratch copy of HEAD whose lockfile is
#     resolved MSRV-aware (`incompatible-rust-versions = "fallback"`), the
#     way a user's project on the MSRV resolves them.
#
# Not a CI step (it downloads a toolchain from the Rust dist server): run it
# when the dependencies or the MSRV change, and quote its result.
set -euo pipefail
cd "$(dirname "$0")/.."
msrv=$(sed -n 's/^rust-version = "\(.*\)"/\1/p' Cargo.toml)
[ -n "$msrv" ] || { echo "check-msrv: no rust-version in Cargo.toml" >&2; exit 1; }
rustup toolchain install "$msrv" --profile minimal >/dev/null
target=${MSRV_TARGET_DIR:-$(pwd)/target/msrv}
echo "check-msrv: Rust $msrv, workspace as locked"
CARGO_TARGET_DIR="$target" cargo +"$msrv" check --workspace --all-targets --all-features --locked

echo "check-msrv: Rust $msrv, library crates with an MSRV-aware resolution"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git archive HEAD | tar -x -C "$scratch"
(
  cd "$scratch"
  # Only the published crates: examples and benches are not libraries.
  sed -i '/^    "examples",$/d; /^    "benches",$/d' Cargo.toml
  rm -f Cargo.lock
  # Resolving MSRV-aware needs cargo 1.84 or later: the default toolchain's.
  CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile --quiet
  CARGO_TARGET_DIR="$target" cargo +"$msrv" check --workspace --all-targets --all-features --locked
)
echo "check-msrv: Rust $msrv builds the workspace and the library crates"
