#!/usr/bin/env bash
# Run every criterion bench once, one after another, then print the median
# of every benchmark and the ratios the issues ask for, from that one run.
# Usage: bash scripts/bench-summary.sh   (quiet machine: compare ratios only)
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-$PWD/target}"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for b in smtp pop3 imap sasl; do
  cargo bench -q -p mail-benches --bench "$b" -- --warm-up-time 1 --measurement-time 3 >/dev/null
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$target/criterion" <<'PY'
import json, os, sys
root = sys.argv[1]
med = {}
for dirpath, _, files in os.walk(root):
    if dirpath.endswith(os.sep + "new") and "estimates.json" in files:
        bench = json.load(open(os.path.join(dirpath, "benchmark.json")))
        est = json.load(open(os.path.join(dirpath, "estimates.json")))
        med[bench["full_id"]] = est["median"]["point_estimate"]
def t(ns):
    return f"{ns/1000:.2f} µs" if ns >= 1000 else f"{ns:.0f} ns"
for k in sorted(med):
    print(f"{k:70s} {t(med[k])}")
rows = [
    ("SMTP parse vs smtp-proto Request::parse", "smtp/parse/smtp-proto", "smtp/parse/mailcrates", 1.5),
    ("SMTP session vs smtp-proto parse only", "smtp/parse/smtp-proto", "smtp/session/mailcrates", 1.0),
    ("SMTP 64-byte reads vs RequestReceiver", "smtp/reads64/smtp-proto", "smtp/reads64/mailcrates", 1.5),
    ("SMTP DATA vs memcpy", "smtp/data/memcpy", "smtp/data/mailcrates", 0.8),
    ("smtp-proto DataReceiver vs memcpy", "smtp/data/memcpy", "smtp/data/smtp-proto", None),
    ("SMTP DATA hazard scan alone, no output (the floor) vs memcpy", "smtp/data/memcpy", "smtp/data/scan-only-avx2", None),
    ("SMTP DATA vs smtp-proto DataReceiver", "smtp/data/smtp-proto", "smtp/data/mailcrates", None),
    ("POP3 parse vs pop3-codec, one buffer", "pop3_parse_session/pop3-codec/one buffer", "pop3_parse_session/mail-pop3/one buffer", 1.5),
    ("POP3 parse vs pop3-codec, 64-byte reads", "pop3_parse_session/pop3-codec/64-byte reads", "pop3_parse_session/mail-pop3/64-byte reads", 1.5),
    ("POP3 RETR vs memcpy", "pop3_retr_1MiB/memcpy", "pop3_retr_1MiB/mail-pop3 dot-stuffing, one chunk", 0.8),
    ("IMAP vs imap-codec CommandCodec, one buffer", "imap_decode_commands/imap-codec/one buffer", "imap_decode_commands/mail-imap-min/one buffer", 3.0),
    ("IMAP vs Fragmentizer, 64-byte reads", "imap_decode_commands/imap-codec+fragmentizer/64-byte reads", "imap_decode_commands/mail-imap-min/64-byte reads", 3.0),
    ("SASL PLAIN vs rsasl (same steps)", "sasl_plain_exchange/rsasl", "sasl_plain_exchange/mail-sasl", 1.0),
    ("SASL PLAIN vs rsasl bare callback", "sasl_plain_exchange/rsasl/bare-callback", "sasl_plain_exchange/mail-sasl", None),
    ("CRAM-MD5 verify vs hmac+md-5", "sasl_cram_md5_verify/hmac+md-5", "sasl_cram_md5_verify/mail-sasl/plain-secret", None),
]
print()
print("| bench | ours | reference | ratio | target | met |")
print("|---|---|---|---|---|---|")
for name, peer, ours, target in rows:
    if peer not in med or ours not in med:
        print(f"| {name} | missing | missing | | | |")
        continue
    r = med[peer] / med[ours]
    met = "—" if target is None else ("yes" if r >= target else "no")
    tgt = "—" if target is None else f"≥ {target}×"
    print(f"| {name} | {t(med[ours])} | {t(med[peer])} | {r:.2f}× | {tgt} | {met} |")
PY
