#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t7203: concurrent ingest and queries. kiln-loadgen pushes 1,000 series
# (100 services x 10 label sets) over 4 connections while this script
# queries render and label-values in a loop: no request may fail, queries
# must stay fast (latencies are reported; a generous ceiling is asserted),
# and at the end the stored grand total equals the sum of everything the
# load generator had acknowledged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/loadgen_lib.sh"
need_loadgen
ceiling=2 # seconds for one query while ingesting
[ "${KILN_SANITIZE:-0}" = 1 ] && ceiling=10

server_start || finish
t0=$(($(date +%s) - 30))
"$LOADGEN" --url "$SERVER_URL" --services 100 --labelsets 10 --connections 4 --duration 8 \
	--count 30000 --ack-log "$TMP/acks" >"$TMP/loadgen.out" 2>&1 &
lg=$!
: >"$TMP/lat"
nq=0
while kill -0 $lg 2>/dev/null; do
	s=$((nq % 100))
	for q in "/pyroscope/render?format=json&from=now-5m&until=now&query=$PTYPE%7Bservice_name%3D%22svc-$s%22%7D" \
		"/pyroscope/label-values?label=service_name&from=now-5m&until=now" \
		"/pyroscope/label-values?label=pod&from=now-5m&until=now" \
		"/pyroscope/render?format=json&from=now-1m&until=now&query=$PTYPE%7Bregion%3D%22r1%22%7D"; do
		r=$(curl -s -o "$TMP/q.out" -w '%{http_code} %{time_total}' "$SERVER_URL$q")
		echo "$r ${q%%\?*}" >>"$TMP/lat"
		nq=$((nq + 1))
	done
done
wait $lg
lgrc=$?
cat "$TMP/loadgen.out"
expect_eq "loadgen exit (every profile acknowledged)" 0 "$lgrc"
grep -q ' errors=0 ' "$TMP/loadgen.out" && pass || fail "ingest errors under queries"
bad=$(awk '$1 != 200' "$TMP/lat" | head -3)
[ -z "$bad" ] && pass || fail "queries failed during ingest: $bad"
[ "$nq" -ge 8 ] && pass || fail "only $nq queries ran during the load"
sort -k2 -n "$TMP/lat" | awk -v c="$ceiling" '
	{ t[NR] = $2 } $2 > c { slow++ }
	END { printf "%d queries during ingest: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
	      NR, t[int(NR * 0.5) + 1] * 1000, t[int(NR * 0.99) + 1] * 1000, t[NR] * 1000
	      exit (slow > 0) }' && pass || fail "queries slower than $ceiling s while ingesting"

# every acknowledged profile counts, once
expect_eq "grand total after the load (sum of acknowledged cpu:nanoseconds)" \
	"$(ack_sum "$TMP/acks")" "$(numticks "$PTYPE{service_name=~\"svc-.*\"}" "$t0" "$(($(date +%s) + 60))")"
n=$(curl -s -G "$SERVER_URL/pyroscope/label-values" --data-urlencode label=pod \
	--data-urlencode "from=$t0" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>&1)
expect_eq "pod label values" 10 "$n"
server_stop
finish
