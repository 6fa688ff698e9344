#!/usr/bin/env bash
# A long fuzzing campaign: every target (or FUZZ_TARGETS="a b") for
# FUZZ_MINUTES (default 10) each — or FUZZ_SECONDS_PER_TARGET — one target
# at a time (one core), then a Markdown table for fuzz/README.md: duration,
# executions, exec/s, coverage (cov = edges, ft = features, from libFuzzer's
# final line), corpus size and crashes. Not a CI step: run it and quote the
# figures. The binaries are built once and copied aside, so that editing or
# rebuilding the fuzz crate during the campaign does not disturb it.
# A crash stops that target; its input is in fuzz/artifacts/<target>/.
# FUZZ_SKIP_BUILD=1 uses the binaries already built.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECS=${FUZZ_SECONDS_PER_TARGET:-$(( ${FUZZ_MINUTES:-10} * 60 ))}
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
[ -n "${FUZZ_SKIP_BUILD:-}" ] || cargo +nightly fuzz build -O
triple=$(rustc +nightly -vV | sed -n 's/^host: //p')
bindir="${CARGO_TARGET_DIR:-target}/$triple/release"
stage="target/campaign-bin"
mkdir -p "$stage"
for t in $targets; do cp "$bindir/$t" "$stage/$t"; done
table="target/campaign-table.md"
{
  echo "| target | duration (s) | executions | exec/s | cov | ft | corpus | crashes |"
  echo "|---|---|---|---|---|---|---|---|"
} | tee "$table"
for t in $targets; do
  mkdir -p "corpus/$t" "artifacts/$t"
  seeds=""; [ -d "seeds/$t" ] && seeds="seeds/$t"
  dict=""; [ -f "dicts/$t.dict" ] && dict="-dict=dicts/$t.dict"
  log="target/campaign-$t.log"
  before=$(ls "artifacts/$t" | wc -l)
  start=$(date +%s)
  status=ok
  "$stage/$t" -artifact_prefix="artifacts/$t/" "corpus/$t" $seeds -max_total_time="$SECS" $dict \
    -print_final_stats=1 >"$log" 2>&1 || status=crash
  took=$(( $(date +%s) - start ))
  crashes=$(( $(ls "artifacts/$t" | wc -l) - before ))
  [ "$status" = crash ] && [ "$crashes" -eq 0 ] && crashes="yes (see $log)"
  execs=$(grep -oP 'stat::number_of_executed_units:\s*\K[0-9]+' "$log" | tail -1 || true)
  rate=$(grep -oP 'stat::average_exec_per_sec:\s*\K[0-9]+' "$log" | tail -1 || true)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(grep -oP 'cov: \K[0-9]+' <<<"$last" || true)
  ft=$(grep -oP 'ft: \K[0-9]+' <<<"$last" || true)
  corp=$(grep -oP 'corp: \K[0-9]+' <<<"$last" || true)
  [ -n "$execs" ] || execs=$(grep -oP '^#\K[0-9]+' <<<"$last" || true)
  echo "| $t | $took | $execs | $rate | $cov | $ft | $corp | $crashes |" | tee -a "$table"
done
echo "campaign: table in fuzz/$table"
