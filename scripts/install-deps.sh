#!/usr/bin/env bash
# Install the real peers the interop tests drive (Debian packages, PyPI
# modules, cargo tools). Idempotent; needs root (or sudo) for apt-get.
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(grep -v '^#' .ci/apt-packages.txt | grep -v '^$' | tr '\n' ' ')
missing=""
for p in $want; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
SUDO=""
[ "$(id -u)" = 0 ] || SUDO="sudo"
if [ -n "$missing" ]; then
  echo "install-deps: apt-get install$missing"
  $SUDO apt-get update -qq
  echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

pip_want=$(grep -v '^#' .ci/pip-packages.txt | grep -v '^$' | tr '\n' ' ')
for m in $pip_want; do
  python3 -m pip show -q "$m" >/dev/null 2>&1 || python3 -m pip install -q "$m"
done
echo "install-deps: done"
