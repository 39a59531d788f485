#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln server ingest: every pprof fixture is accepted (200) through each
# endpoint: /ingest?format=pprof, /pyroscope/ingest multipart as
# pyroscope-go sends it (nanosecond from/until), Connect Push as binary
# protobuf (plain and gzip) and as protojson with base64; folded and lines
# text too. Each endpoint stores the same number of series for the same
# profile (kiln_ingest_profiles_total), and the apps are listed by
# label-values.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"

# push_body OUT FORMAT SERVICE PPROF: a PushRequest (proto or json) by hand
push_body() {
	python3 - "$@" <<'PY'
import base64, json, sys
out, fmt, service, path = sys.argv[1:5]
raw = open(path, 'rb').read()
def varint(n):
    b = bytearray()
    while True:
        c = n & 0x7f
        n >>= 7
        if n:
            b.append(c | 0x80)
        else:
            b.append(c)
            return bytes(b)
def field(num, payload):
    return varint(num << 3 | 2) + varint(len(payload)) + payload
labels = [('service_name', service), ('env', 'ci')]
if fmt == 'proto':
    series = b''.join(field(1, field(1, k.encode()) + field(2, v.encode())) for k, v in labels)
    series += field(2, field(1, raw) + field(2, b'6d1f5e2c-0000-4000-8000-000000000001'))
    body = field(1, series)
else:
    body = json.dumps({'series': [{
        'labels': [{'name': k, 'value': v} for k, v in labels],
        'samples': [{'rawProfile': base64.b64encode(raw).decode(), 'ID': 'x'}]}]}).encode()
open(out, 'wb').write(body)
PY
}

profiles() { curl -s "$SERVER_URL/metrics" | awk '$1 == "kiln_ingest_profiles_total" { print $2 }'; }

# post WHAT EXPECTED_CODE curl-args...: one request, checks the status
post() {
	local what=$1 want=$2 code
	shift 2
	code=$(curl -s -o "$TMP/resp" -w '%{http_code}' "$@")
	if [ "$code" = "$want" ]; then pass; else
		fail "$what: HTTP $code, expected $want: $(head -c 300 "$TMP/resp")"
	fi
}

server_start || finish
now=$(date +%s)
apps=""
for f in "$PPROF_DIR"/*.pb.gz; do
	base=$(basename "$f" .pb.gz)
	app=t7001-${base//./-}
	apps="$apps $app"
	p0=$(profiles)
	post "$base /ingest" 200 --data-binary "@$f" -H 'Content-Type: application/octet-stream' \
		"$SERVER_URL/ingest?format=pprof&name=$app%7Bvia%3Dingest%7D&from=$now&until=$((now + 10))&spyName=nodespy"
	p1=$(profiles)
	n=$((p1 - p0))
	[ "$n" -ge 1 ] && pass || fail "$base: /ingest stored $n series profiles"
	# pyroscope-go: multipart, no format, nanoseconds
	post "$base multipart" 200 -F "profile=@$f" -F 'sample_type_config={}' \
		"$SERVER_URL/pyroscope/ingest?name=$app%7Bvia%3Dmultipart%7D&from=${now}000000000&until=$((now + 15))000000000&spyName=gospy"
	p2=$(profiles)
	expect_eq "$base: multipart series" "$n" $((p2 - p1))
	push_body "$TMP/push.pb" proto "$app" "$f"
	post "$base push proto" 200 -H 'Content-Type: application/proto' \
		--data-binary "@$TMP/push.pb" "$SERVER_URL/push.v1.PusherService/Push"
	p3=$(profiles)
	expect_eq "$base: push proto series" "$n" $((p3 - p2))
	gzip -c "$TMP/push.pb" >"$TMP/push.pb.gz"
	post "$base push proto gzip" 200 -H 'Content-Type: application/proto' \
		-H 'Content-Encoding: gzip' --data-binary "@$TMP/push.pb.gz" \
		"$SERVER_URL/push.v1.PusherService/Push"
	push_body "$TMP/push.json" json "$app" "$f"
	post "$base push json" 200 -H 'Content-Type: application/json' \
		--data-binary "@$TMP/push.json" "$SERVER_URL/push.v1.PusherService/Push"
	expect_eq "$base: push json answer" "{}" "$(cat "$TMP/resp")"
	p4=$(profiles)
	expect_eq "$base: push gzip + json series" $((2 * n)) $((p4 - p3))
done

# text formats: folded (cpu from the suffix) and lines
printf 'main;work;hot 30\nmain;idle 10\n' >"$TMP/folded"
p0=$(profiles)
post "folded" 200 --data-binary "@$TMP/folded" \
	"$SERVER_URL/ingest?name=t7001-text.cpu%7Benv%3Dci%7D&sampleRate=100&from=$now&until=$((now + 10))"
printf 'main;work\nmain;work\nmain;idle\n' >"$TMP/lines"
post "lines" 200 --data-binary "@$TMP/lines" \
	"$SERVER_URL/ingest?name=t7001-text.cpu&format=lines&from=$now&until=$((now + 10))"
expect_eq "text series" 2 $(($(profiles) - p0))
post "unknown suffix" 400 --data-binary "@$TMP/folded" "$SERVER_URL/ingest?name=t7001.nosuch"
post "prev_profile refused" 400 -F "profile=@$PPROF_DIR/go-cpu.pb.gz" \
	-F "prev_profile=@$PPROF_DIR/go-cpu.pb.gz" "$SERVER_URL/ingest?name=t7001-prev"
grep -qi 'upgrade' "$TMP/resp" && pass || fail "prev_profile message: $(cat "$TMP/resp")"

m=$(curl -s "$SERVER_URL/metrics")
echo "$m" | grep -qx 'kiln_ingest_requests_total [1-9][0-9]*' && pass || fail "requests not counted"
echo "$m" | grep -q '^kiln_ingest_bytes_total [1-9]' && pass || fail "bytes not counted"
echo "$m" | grep -q 'kiln_http_request_duration_seconds_count{route="/push.v1.PusherService/Push"} [1-9]' &&
	pass || fail "push latency not recorded"

# the data reads back: every app is a service_name
curl -s "$SERVER_URL/pyroscope/label-values?label=service_name&from=now-1y&until=now%2B1y" >"$TMP/lv"
if [ -e /tmp/kiln/query-m1 ] || ! grep -q 'not implemented' "$TMP/lv"; then
	for a in $apps t7001-text; do
		grep -qF "\"$a\"" "$TMP/lv" && pass || fail "label-values lacks $a: $(head -c 300 "$TMP/lv")"
	done
	# the same query as a form body
	curl -s -d 'label=service_name&from=now-1y&until=now%2B1y' \
		"$SERVER_URL/pyroscope/label-values" >"$TMP/lv2"
	expect_eq "label-values by POST form" "$(cat "$TMP/lv")" "$(cat "$TMP/lv2")"
fi
server_stop
finish
