#!/usr/bin/env bash
# Run every cargo-fuzz target for a short time and fail on any crash.
# FUZZ_SECONDS (default 15) per target; FUZZ_TARGETS="a b" to run only some
# (default: every target of `cargo fuzz list`, 15 targets: about 4 minutes
# of fuzzing plus the build). Long campaigns: scripts/fuzz-campaign.sh.
#
# Every run starts from the seeds alone (a fresh corpus under fuzz/target,
# as on a fresh CI machine; campaigns keep fuzz/corpus) with a fixed random
# seed (FUZZ_SEED, default 1), so that a local run is as close as it can be
# to CI's. It is not bit-for-bit reproducible (libFuzzer's schedule also
# depends on hash-map order and timing). A failure here is a bug to fix, not
# noise to re-run: a differential target failing on a new class of
# disagreement must have it classified (fuzz/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${FUZZ_SECONDS:-15}
SEED=${FUZZ_SEED:-1}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q nightly || { echo "fuzz-smoke: the nightly toolchain is required" >&2; exit 1; }
targets=${FUZZ_TARGETS:-$(cd fuzz && cargo +nightly fuzz list)}
[ -n "$targets" ] || { echo "fuzz-smoke: no fuzz targets found" >&2; exit 1; }
cd fuzz && cargo +nightly fuzz build -O
for t in $targets; do
  corpus="target/smoke-corpus/$t"
  rm -rf "$corpus" && mkdir -p "$corpus"
  seeds=""
  [ -d "seeds/$t" ] && seeds="seeds/$t"
  dict=""
  [ -f "dicts/$t.dict" ] && dict="-dict=dicts/$t.dict"
  echo "fuzz-smoke: $t (${SECONDS_PER_TARGET}s, seed $SEED)"
  log="target/fuzz-smoke-$t.log"
  mkdir -p target
  start=$(date +%s)
  if ! cargo +nightly fuzz run -O "$t" "$corpus" $seeds -- -seed="$SEED" -max_total_time="$SECONDS_PER_TARGET" $dict -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz-smoke: target $t FAILED (artifacts in fuzz/artifacts/$t)" >&2
    exit 1
  fi
  grep -E 'stat::number_of_executed_units|stat::average_exec_per_sec' "$log" || true
  echo "fuzz-smoke: $t done in $(( $(date +%s) - start ))s"
done
echo "fuzz-smoke: all targets ran without a crash"
