#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln server limits: bodies over max-request-bytes get 413 (by
# Content-Length up front, or while a chunked body streams), a gzip bomb
# gets 413 without being inflated, too many or too long labels 400, the
# per-tenant rate limit 429, the series limit 429, malformed bodies 400,
# random garbage on every endpoint never a 5xx: the server stays up; a long
# URL with big headers is still served.
# Every refusal is counted in /metrics.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"

code() { curl -s -o "$TMP/resp" -w '%{http_code}' "$@"; }
discarded() {
	curl -s "$SERVER_URL/metrics" | awk -v r="kiln_discarded_total{reason=\"$1\"}" '$1 == r { print $2 }'
}
PROF="$PPROF_DIR/go-cpu.pb.gz"

server_start --max-request-bytes 1MiB --max-body-bytes 4MiB --max-series 5 \
	--ingest-rate 200KB --ingest-burst 300KB --max-labels 8 || finish
u="$SERVER_URL/ingest?format=pprof"

# --- sizes --------------------------------------------------------------------
head -c 2000000 /dev/urandom >"$TMP/big"
expect_eq "over max-request-bytes" 413 "$(code --data-binary "@$TMP/big" "$u&name=big")"
expect_contains "413 message" "$TMP/resp" "max-request-bytes"
expect_eq "chunked over max-request-bytes" 413 "$(code -H 'Transfer-Encoding: chunked' \
	--data-binary "@$TMP/big" "$u&name=big")"
expect_eq "push over max-request-bytes" 413 "$(code -H 'Content-Type: application/proto' \
	--data-binary "@$TMP/big" "$SERVER_URL/push.v1.PusherService/Push")"
expect_contains "push 413 is Connect JSON" "$TMP/resp" '"code":"resource_exhausted"'
# 100 MB of zeros in ~100 KB of gzip: refused at the limit, not inflated
head -c 100000000 /dev/zero | gzip -9 >"$TMP/bomb.gz"
t0=$(date +%s%N)
expect_eq "gzip bomb (Content-Encoding)" 413 "$(code -H 'Content-Encoding: gzip' \
	--data-binary "@$TMP/bomb.gz" "$u&name=bomb")"
expect_contains "bomb message" "$TMP/resp" "max-body-bytes"
expect_eq "gzip bomb (Push)" 413 "$(code -H 'Content-Type: application/proto' \
	-H 'Content-Encoding: gzip' --data-binary "@$TMP/bomb.gz" \
	"$SERVER_URL/push.v1.PusherService/Push")"
expect_eq "gzip bomb (pprof body)" 413 "$(code --data-binary "@$TMP/bomb.gz" "$u&name=bomb")"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 5000 ] && pass || fail "gzip bombs took $ms ms"
expect_eq "unknown Content-Encoding" 415 "$(code -H 'Content-Encoding: br' \
	--data-binary "@$PROF" "$u&name=enc")"
[ "$(discarded too_large)" -ge 5 ] && pass || fail "too_large count: $(discarded too_large)"

# --- labels and series ------------------------------------------------------------
labels=$(seq -s, 1 9 | sed 's/\([0-9]\)/l\1=v/g')
expect_eq "too many labels" 400 "$(code --data-binary "@$PROF" "$u&name=app%7B$labels%7D")"
long=$(head -c 3000 /dev/zero | tr '\0' v)
expect_eq "label value too long" 400 "$(code --data-binary "@$PROF" "$u&name=app%7Bk%3D$long%7D")"
expect_eq "bad name" 400 "$(code --data-binary "@$PROF" "$u&name=app%7Bk")"
expect_eq "bad from" 400 "$(code --data-binary "@$PROF" "$u&name=app&from=yesterday")"
# the series limit: one folded profile is one series; the 6th is refused
last=""
for i in 1 2 3 4 5 6; do
	last=$(code --data-binary 'main;work 5' "$SERVER_URL/ingest?name=series-app.cpu%7Bi%3D$i%7D")
	[ "$last" = 200 ] || break
done
expect_eq "series 6 of 5" "6 429" "$i $last"
expect_contains "series limit message" "$TMP/resp" "series limit"
[ "$(discarded series_limit)" -ge 1 ] && pass || fail "series_limit not counted"

# --- malformed bodies -------------------------------------------------------------
expect_eq "garbage pprof" 400 "$(code --data-binary 'not a profile' "$u&name=app")"
head -c 500 "$PROF" >"$TMP/trunc.gz"
expect_eq "truncated gzip pprof" 400 "$(code --data-binary "@$TMP/trunc.gz" "$u&name=app")"
expect_eq "truncated gzip body" 400 "$(code -H 'Content-Encoding: gzip' \
	--data-binary "@$TMP/trunc.gz" "$u&name=app")"
expect_eq "bad folded count" 400 "$(code --data-binary 'a;b x' "$SERVER_URL/ingest?name=app.cpu")"
expect_eq "push garbage proto" 400 "$(code -H 'Content-Type: application/proto' \
	--data-binary 'garbage!' "$SERVER_URL/push.v1.PusherService/Push")"
expect_contains "push 400 is Connect JSON" "$TMP/resp" '"code":"invalid_argument"'
expect_eq "push garbage json" 400 "$(code -H 'Content-Type: application/json' \
	--data-binary '{"series":[{"samples":[{"rawProfile":"!!"}]}]}' \
	"$SERVER_URL/push.v1.PusherService/Push")"
many=$(seq -s'&' 1 300 | sed 's/\([0-9]*\)/p\1=1/g')
expect_eq "too many parameters" 400 "$(code "$SERVER_URL/pyroscope/label-values?$many")"
[ "$(discarded bad_input)" -ge 8 ] && pass || fail "bad_input count: $(discarded bad_input)"

# --- the rate limit (200 KB/s, burst 300 KB) -------------------------------------------
head -c 120000 /dev/urandom >"$TMP/r"
codes=""
: >"$TMP/resp429"
for i in 1 2 3 4; do
	c=$(code --data-binary "@$TMP/r" "$u&name=rate")
	codes="$codes $c"
	# the bucket refills meanwhile: a later request may pass again, keep the refusal's answer
	[ "$c" = 429 ] && cp "$TMP/resp" "$TMP/resp429"
done
case "$codes" in *429*) pass ;; *) fail "no 429 after 480 KB at 200 KB/s: $codes" ;; esac
grep -q 'rate limit' "$TMP/resp429" && pass || fail "429 message: $(cat "$TMP/resp429")"
[ "$(discarded rate_limited)" -ge 1 ] && pass || fail "rate_limited not counted"
# the bucket refills: a small request passes once the deadline allows it
ok=""
for i in $(seq 100); do
	[ "$(code --data-binary 'main;work 5' "$SERVER_URL/ingest?name=series-app.cpu%7Bi%3D1%7D")" = 200 ] &&
		{ ok=1; break; }
	sleep 0.05
done
[ -n "$ok" ] && pass || fail "rate limit never recovered"

# --- garbage everywhere: never 5xx ---------------------------------------------------
routes="/ingest /pyroscope/ingest /push.v1.PusherService/Push /pyroscope/render /render
/pyroscope/render-diff /render-diff /pyroscope/label-values /label-values /pyroscope/labels
/pyroscope/label-names
/labels /pyroscope/series /api/apps /healthz /ready /metrics"
bad=""
for i in 1 2 3; do
	head -c $((i * 3000)) /dev/urandom >"$TMP/g"
	for r in $routes; do
		for ct in application/proto application/json multipart/form-data application/x-www-form-urlencoded; do
			c=$(code -H "Content-Type: $ct" --data-binary "@$TMP/g" \
				"$SERVER_URL$r?name=%7B%7D&format=pprof&query=%7B&from=zz&label=%00")
			case $c in 5*) bad="$bad POST$r/$ct=$c" ;; 000) bad="$bad POST$r=dead" ;; esac
		done
		c=$(code "$SERVER_URL$r?query=a%7Bb%3D~%22(%22%7D&from=now-1x&until=0&maxNodes=-5&leftQuery=%7B&groupBy=%FF")
		case $c in 5*) bad="$bad GET$r=$c" ;; 000) bad="$bad GET$r=dead" ;; esac
	done
done
[ -z "$bad" ] && pass || fail "5xx or dead on garbage:$bad"
# the per-connection pool (32 KiB) holds a long URL plus big headers
long=$(head -c 9000 /dev/zero | tr '\0' a)
expect_eq "9 KB URL and 5 KB of headers" 200 "$(code -H "X-Pad: ${long:0:5000}" \
	"$SERVER_URL/pyroscope/label-values?label=service_name&pad=$long")"
expect_eq "still healthy" 200 "$(code "$SERVER_URL/healthz")"
server_stop
finish
