#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln server over TLS: with a self-signed certificate (openssl req -x509)
# curl --cacert reaches /healthz and ingests; plain HTTP to the TLS port
# fails; an unreadable key or a bad certificate stops the start with a
# clear message.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
command -v openssl >/dev/null || { echo "SKIP: openssl not installed"; exit 77; }

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
	-addext "subjectAltName=IP:127.0.0.1,DNS:localhost" \
	-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>"$TMP/openssl.err" ||
	{ fail "openssl: $(cat "$TMP/openssl.err")"; finish; }

server_start --tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem" || finish
case $SERVER_URL in https://*) pass ;; *) fail "SERVER_URL is $SERVER_URL" ;; esac
ok=""
for i in $(seq 200); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' --cacert "$TMP/cert.pem" "$SERVER_URL/healthz")" = 200 ] &&
		{ ok=1; break; }
	sleep 0.05
done
[ -n "$ok" ] && pass || fail "https /healthz never answered: $(tail -c 400 "$SERVER_LOG")"
expect_eq "https ingest" 200 "$(curl -s -o "$TMP/r" -w '%{http_code}' --cacert "$TMP/cert.pem" \
	--data-binary "@$PPROF_DIR/go-cpu.pb.gz" "$SERVER_URL/ingest?format=pprof&name=tls-app")"
expect_eq "unknown CA refused" 60 "$(curl -s -o /dev/null "$SERVER_URL/healthz"; echo $?)"
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$SERVER_PORT/healthz")
[ "$code" != 200 ] && pass || fail "plain HTTP on the TLS port answered 200"
grep -q 'listening on https://' "$SERVER_LOG" && pass || fail "log does not say https"
server_stop

chmod 000 "$TMP/key.pem"
if [ -r "$TMP/key.pem" ]; then
	rm -f "$TMP/key.pem"	# root reads anything: a missing file instead
fi
expect_exit 2 "unreadable key" "$KILN" server --listen 127.0.0.1:0 --data-dir "$TMP/d2" \
	--tls-cert "$TMP/cert.pem" --tls-key "$TMP/key.pem"
expect_contains "key message" "$TMP/err" "tls-key: cannot read '$TMP/key.pem'"
echo "not a certificate" >"$TMP/bad.pem"
openssl genrsa -out "$TMP/key2.pem" 2048 2>/dev/null
expect_exit 1 "bad certificate" "$KILN" server --listen 127.0.0.1:0 --data-dir "$TMP/d3" \
	--tls-cert "$TMP/bad.pem" --tls-key "$TMP/key2.pem"
expect_contains "bad certificate message" "$TMP/err" "TLS certificate or key"
finish
