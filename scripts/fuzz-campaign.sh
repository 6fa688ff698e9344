#!/usr/bin/env bash
# A long fuzzing campaign: every target for FUZZ_MINUTES (default 10) each,
# then a table of executions and coverage per target (paste it into
# fuzz/README.md). Not a CI step: run it and quote the figures.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
MINUTES=${FUZZ_MINUTES:-10}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
cargo +nightly fuzz build -O
mkdir -p target
echo "| target | seconds | executions | coverage (edges) | features | corpus |"
echo "|---|---|---|---|---|---|"
for t in $(cargo +nightly fuzz list); do
  mkdir -p "corpus/$t"
  seeds=""; [ -d "seeds/$t" ] && seeds="seeds/$t"
  dict=""; [ -f "dicts/$t.dict" ] && dict="-dict=dicts/$t.dict"
  log="target/campaign-$t.log"
  cargo +nightly fuzz run -O "$t" "corpus/$t" $seeds -- -max_total_time=$((MINUTES * 60)) $dict \
    -print_final_stats=1 >"$log" 2>&1 || { echo "| $t | CRASH: see fuzz/artifacts/$t and $log | | | | |"; continue; }
  execs=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(grep -oP 'cov: \K[0-9]+' <<<"$last" || true)
  ft=$(grep -oP 'ft: \K[0-9]+' <<<"$last" || true)
  corp=$(grep -oP 'corp: \K[0-9]+' <<<"$last" || true)
  echo "| $t | $((MINUTES * 60)) | $execs | $cov | $ft | $corp |"
done
