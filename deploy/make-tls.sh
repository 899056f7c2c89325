#!/bin/sh
# Makes the TLS files deploy/nats-server.conf reads: a private CA (ca.pem, ca-key.pem) and a
# certificate for the nats-server host signed by it (server.pem, server-key.pem), valid for every
# name and address given; clients trust ca.pem (`adp … --tls-ca` or NATS_CA).
#   deploy/make-tls.sh OUT_DIR NAME_OR_IP...    e.g. deploy/make-tls.sh /etc/nats-server/tls 127.0.0.1 localhost "$(hostname)"
# An existing CA in OUT_DIR is reused, so renewing the server certificate keeps the clients' ca.pem.
# Keep ca-key.pem off the machine once done. DAYS (default 825) sets the server certificate's life.
set -eu
if [ $# -lt 2 ]; then
  echo "usage: $0 OUT_DIR NAME_OR_IP... (the names clients put in NATS_URL)" >&2
  exit 2
fi
out=$1
shift
days=${DAYS:-825}
san=""
for name in "$@"; do
  case $name in
    *:*) entry="IP:$name" ;;
    *[!0-9.]* | "") entry="DNS:$name" ;;
    *) entry="IP:$name" ;;
  esac
  san="${san:+$san,}$entry"
done
mkdir -p "$out"
umask 077
if [ ! -f "$out/ca.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ADP Edge NATS CA" \
    -keyout "$out/ca-key.pem" -out "$out/ca.pem" 2>/dev/null
fi
ext=$(mktemp)
trap 'rm -f "$ext" "$out/server.csr"' EXIT
printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n' "$san" >"$ext"
openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$out/server-key.pem" -out "$out/server.csr" 2>/dev/null
openssl x509 -req -in "$out/server.csr" -CA "$out/ca.pem" -CAkey "$out/ca-key.pem" -CAcreateserial \
  -days "$days" -extfile "$ext" -out "$out/server.pem" 2>/dev/null
chmod 0644 "$out/ca.pem" "$out/server.pem"
echo "$out/server.pem for $san, signed by $out/ca.pem"
