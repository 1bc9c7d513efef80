#!/usr/bin/env bash
# Make a private CA and the certificates for mutual TLS between devices, the engine and
# Mosquitto (deploy/mosquitto/conf.d/tls.conf):
#   ca.pem ca.key          the CA (keep ca.key offline in production)
#   server.pem server.key  the broker (names: mosquitto, localhost, 127.0.0.1, $BROKER_NAMES)
#   client.pem client.key  the engine's client certificate
# Usage: scripts/make-certs.sh [DIR] (default deploy/certs); BROKER_NAMES="mqtt.example.com"
# adds DNS names. Existing files in DIR are replaced.
set -euo pipefail
dir="${1:-$(dirname "$0")/../deploy/certs}"
days="${CERT_DAYS:-825}"
mkdir -p "$dir"
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)

openssl req -x509 -new "${ec[@]}" -keyout ca.key -out ca.pem -days "$days" \
  -subj "/CN=Kizuki private CA" 2>/dev/null

san="DNS:mosquitto,DNS:localhost,IP:127.0.0.1"
for name in ${BROKER_NAMES:-}; do san="$san,DNS:$name"; done

issue() {  # name subject extensions
  openssl req -new "${ec[@]}" -keyout "$1.key" -out "$1.csr" -subj "$2" 2>/dev/null
  printf '%b' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
    -sha256 -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
issue server "/CN=mosquitto" "subjectAltName=$san\nextendedKeyUsage=serverAuth\n"
issue client "/CN=kizuki-engine" "extendedKeyUsage=clientAuth\n"
# Mosquitto and Kizuki run as their own users in the containers: let them read the keys
# (this directory is mounted read-only; keep it out of backups and version control).
chmod 644 server.key client.key
chmod 600 ca.key
echo "certificates in $(pwd): ca.pem server.pem/.key client.pem/.key"
