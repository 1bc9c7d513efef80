#!/usr/bin/env bash
# Make sure what the tests talk to is installed and running (idempotent; loopback only).
# Debian packages come from .ci/apt-packages.txt; services are started only if not up.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
  echo "test-env: need root to run: $*" >&2; return 1; fi; }

missing=()
while read -r pkg; do
  [ -z "$pkg" ] && continue
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done < <(grep -v '^\s*#' .ci/apt-packages.txt | tr -s ' \t' '\n')
if [ ${#missing[@]} -gt 0 ]; then
  echo "test-env: installing Debian packages: ${missing[*]}"
  as_root apt-get update -qq
  # Packages may ship services; do not let them start on their default ports.
  as_root env DEBIAN_FRONTEND=noninteractive RUNLEVEL=1 apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! listening 1883; then
  echo "test-env: starting mosquitto on 127.0.0.1:1883"
  command -v mosquitto >/dev/null || as_root apt-get install -y -qq mosquitto >/dev/null
  as_root mosquitto -d -c /etc/mosquitto/mosquitto.conf
fi
if ! listening 5432; then
  echo "test-env: starting PostgreSQL"
  as_root pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
fi
for i in $(seq 50); do listening 1883 && listening 5432 && break; sleep 0.2; done
listening 1883 || { echo "test-env: mosquitto is not listening on 127.0.0.1:1883" >&2; exit 1; }
listening 5432 || { echo "test-env: PostgreSQL is not listening on 127.0.0.1:5432" >&2; exit 1; }
echo "test-env: ready (mosquitto :1883, PostgreSQL :5432)"
