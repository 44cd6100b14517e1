#!/usr/bin/env bash
# The Postfix anchor for stafett-bench: Debian's Postfix relaying N messages of SIZE bytes
# over mutually authenticated TLS 1.3 (through stunnel) to smtp-sink, all on loopback, with
# TLS connections reused. Prints one line: `postfix messages=N seconds=S rate=R`.
#
# It reconfigures this machine's Postfix (loopback only) and needs root: run it on a
# benchmark machine, never on a mail server. Steps follow ../docs/baselines notes:
# smtp-sink cannot speak TLS, so stunnel terminates TLS in front of it.
set -euo pipefail
N=${1:-10000}
SIZE=${2:-3000}
WORK=$(mktemp -d /tmp/stafett-postfix.XXXXXX)
cleanup() {
    postfix stop >/dev/null 2>&1 || true
    [ -f "$WORK/stunnel.pid" ] && kill "$(cat "$WORK/stunnel.pid")" 2>/dev/null || true
    [ -n "${SINK_PID:-}" ] && kill "$SINK_PID" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

if ! command -v smtp-source >/dev/null || ! command -v stunnel4 >/dev/null; then
    echo "postfix postfix/main_mailer_type select Local only" | debconf-set-selections
    echo "postfix postfix/mailname string stafett.local" | debconf-set-selections
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postfix stunnel4 >/dev/null
fi
postfix stop >/dev/null 2>&1 || true

# A throwaway CA, a server certificate for stunnel and a client certificate for Postfix.
cd "$WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem \
    -days 2 -subj "/CN=anchor CA" 2>/dev/null
for who in server client; do
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $who.key -out $who.csr \
        -subj "/CN=127.0.0.1" 2>/dev/null
    openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $who.pem -days 2 2>/dev/null
done
chmod 644 ./*.pem ./*.key; chmod 755 "$WORK"

cat > stunnel.conf <<EOF
pid = $WORK/stunnel.pid
foreground = no
[sink]
accept = 127.0.0.1:2465
connect = 127.0.0.1:2525
cert = $WORK/server.pem
key = $WORK/server.key
CAfile = $WORK/ca.pem
verifyChain = yes
requireCert = yes
sslVersion = TLSv1.3
EOF
stunnel4 stunnel.conf

smtp-sink -u postfix -c 127.0.0.1:2525 1000 > "$WORK/sink.out" 2>&1 &
SINK_PID=$!

postconf -X default_transport relay_transport 2>/dev/null || true
postconf -e "inet_interfaces = 127.0.0.1" "inet_protocols = ipv4" "mydestination =" \
    "mynetworks = 127.0.0.0/8" "relayhost = [127.0.0.1]:2465" \
    "smtp_dns_support_level = disabled" "smtpd_peername_lookup = no" \
    "smtp_tls_security_level = encrypt" "smtp_tls_wrappermode = yes" \
    "smtp_tls_cert_file = $WORK/client.pem" "smtp_tls_key_file = $WORK/client.key" \
    "smtp_tls_CAfile = $WORK/ca.pem" "smtp_tls_connection_reuse = yes" \
    "smtp_tls_mandatory_protocols = >=TLSv1.3" "message_size_limit = 10240000"
# Connection reuse needs tlsproxy, which Debian ships commented out.
if ! grep -q '^tlsproxy' /etc/postfix/master.cf; then
    echo 'tlsproxy  unix  -       -       y       -       0       tlsproxy' >> /etc/postfix/master.cf
fi
postsuper -d ALL >/dev/null 2>&1 || true
postfix start >/dev/null 2>&1
sleep 1

count() { tr '\r' '\n' < "$WORK/sink.out" | grep -Eo '[0-9]+' | tail -1 || echo 0; }
start=$(date +%s.%N)
smtp-source -s 20 -l "$SIZE" -m "$N" 127.0.0.1:25
deadline=$(( $(date +%s) + 600 ))
while :; do
    c=$(count); c=${c:-0}
    if [ "$c" -ge "$N" ] && postqueue -p 2>/dev/null | grep -q "Mail queue is empty"; then break; fi
    [ "$(date +%s)" -lt "$deadline" ] || { echo "postfix anchor timed out at $c of $N" >&2; exit 1; }
    sleep 0.05
done
end=$(date +%s.%N)
awk -v n="$N" -v s="$start" -v e="$end" 'BEGIN { d = e - s; printf "postfix messages=%d seconds=%.3f rate=%.1f\n", n, d, n / d }'
