#!/usr/bin/env bash
# End-to-end SMTP throughput in one run on this machine: Postfix's
# smtp-source (SESSIONS parallel sessions, MESSAGES messages, with and
# without -d = reused connections) against
#   - mail-server, durable delivery (Maildir, fsync of file and directory before 250)
#   - mail-server, delivery = "discard" (protocol only)
#   - Postfix smtp-sink (stores nothing)
#   - aiosmtpd with its Sink handler
#   - a real Postfix smtpd -> queue -> discard transport
# Prints a table of messages per second. Not a CI step: run it and quote it.
set -euo pipefail
cd "$(dirname "$0")/.."
SESSIONS=${SESSIONS:-20}
MESSAGES=${MESSAGES:-20000}
# TARGETS: a space-separated subset of durable discard sink aiosmtpd postfix
# (all by default), e.g. TARGETS="discard sink" for a quick comparison.
TARGETS=${TARGETS:-durable discard sink aiosmtpd postfix}
bash scripts/install-deps.sh >/dev/null
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install -q aiosmtpd
# BIN=/path/to/mail-server compares another build (nothing is built then).
if [ -z "${BIN:-}" ]; then
  cargo build -q --release -p mail-examples --bin mail-server
  BIN=${CARGO_TARGET_DIR:-$PWD/target}/release/mail-server
fi
SOURCE=/usr/sbin/smtp-source
DIR=$(mktemp -d /tmp/bench-e2e.XXXXXX)
chmod 755 "$DIR"  # Postfix daemons run unprivileged
# ext4 without a journal (this machine) skips inodes deleted in the last
# 1-5 minutes when it allocates one, scanning them: a directory in a block
# group where a previous run deleted 40 000 files creates files several
# times slower. +T (Orlov "top directory") spreads the subdirectories of
# $DIR to fresh groups so that runs do not measure each other's cleanup.
chattr +T "$DIR" 2>/dev/null || true
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  postfix -c "$DIR/pf" stop >/dev/null 2>&1 || true
  rm -rf "$DIR"
}
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 200); do (echo >/dev/tcp/127.0.0.1/$1) 2>/dev/null && return 0; sleep 0.05; done; echo "nothing on port $1" >&2; return 1; }

start_mail_server() { # name delivery
  local d="$DIR/$1" p; p=$(port); mkdir -p "$d"
  printf 'bob:{PLAIN}builder\n' > "$d/users"
  cat > "$d/mail.toml" <<TOML
myhostname = "localhost"
state_dir = "state"
mydestination = ["localhost"]
delivery = "$2"
[auth]
passwd_file = "users"
[limits]
max_connections_per_ip = 10000
[[smtp]]
listen = "127.0.0.1:$p"
tls = "none"
TOML
  "$BIN" --config "$d/mail.toml" >/dev/null 2>"$d/log" & PIDS+=($!)
  wait_port "$p"; P=$p
}

start_smtp_sink() { local p; p=$(port); /usr/sbin/smtp-sink -u nobody "127.0.0.1:$p" 1024 >/dev/null 2>&1 & PIDS+=($!); wait_port "$p"; P=$p; }

start_aiosmtpd() { local p; p=$(port); python3 -m aiosmtpd -n -c aiosmtpd.handlers.Sink -l "127.0.0.1:$p" >/dev/null 2>&1 & PIDS+=($!); wait_port "$p"; P=$p; }

start_postfix() {
  local d="$DIR/pf" p; p=$(port); mkdir -p "$d/queue" "$d/data"; chown postfix "$d/data"
  cat > "$d/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $d/queue
data_directory = $d/data
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = localhost
mydestination = localhost
mynetworks = 127.0.0.0/8
local_transport = discard
local_recipient_maps =
default_transport = discard
smtpd_peername_lookup = no
maillog_file = $d/maillog
maillog_file_prefixes = $d
CF
  cat > "$d/master.cf" <<MCF
127.0.0.1:$p inet n - n - 100 smtpd
pickup unix n - n 60 1 pickup
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
postlog unix-dgram n - n - 1 postlogd
MCF
  postfix -c "$d" start >/dev/null 2>&1
  wait_port "$p"; P=$p
}

rate() { # port extra-flags
  local start end
  start=$(date +%s.%N)
  if ! timeout 600 "$SOURCE" -s "$SESSIONS" -m "$MESSAGES" $2 -f s@localhost -t bob@localhost "127.0.0.1:$1" >/dev/null; then
    echo "failed"
    return 0
  fi
  end=$(date +%s.%N)
  python3 -c "print(f'{$MESSAGES/($end-$start):.0f}')"
}

echo "smtp-source -s $SESSIONS -m $MESSAGES on $(nproc) cores, $(date -u +%F), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| target | new connection per message (msg/s) | reused connections, -d (msg/s) |"
echo "|---|---|---|"
for key in $TARGETS; do
  case "$key" in
    durable) target="mail-server durable (Maildir + fsync)"; start_mail_server durable maildir ;;
    discard) target="mail-server discard"; start_mail_server discard discard ;;
    sink) target="Postfix smtp-sink"; start_smtp_sink ;;
    aiosmtpd) target="aiosmtpd Sink"; start_aiosmtpd ;;
    postfix) target="Postfix smtpd -> queue -> discard"; start_postfix ;;
    *) echo "unknown target $key (durable discard sink aiosmtpd postfix)" >&2; exit 2 ;;
  esac
  echo "| $target | $(rate "$P" "") | $(rate "$P" -d) |"
done
