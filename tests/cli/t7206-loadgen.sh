#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t7206: kiln-loadgen, which the server tests and benchmarks stand on: it
# refuses any host but loopback, stops exactly at --count, sends what a
# real server accepts in all three modes (/ingest pprof, pyroscope-go
# multipart, Connect Push), logs one ack line per answer with the variant's
# totals, a backfill gives each series span/step windows that the
# server's render adds up to the logged totals, and --pipeline-bench runs.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/loadgen_lib.sh"
need_loadgen

for url in http://example.com:80 http://10.0.0.1:4040 http://127.0.0.1.example.com:80 \
	https://127.0.0.1:4040 http://127.0.0.1:x; do
	expect_exit 2 "kiln-loadgen --url $url" "$LOADGEN" --url "$url" --count 1
	expect_contains "refusal of $url" "$TMP/err" "refusing"
done
expect_exit 2 "kiln-loadgen --services 0" "$LOADGEN" --url http://127.0.0.1:1 --services 0

# the in-process pipeline benchmark stores every profile it times
expect_exit 2 "--pipeline-bench without a directory" "$LOADGEN" --pipeline-bench 1
"$LOADGEN" --services 3 --labelsets 2 --pipeline-bench 10 --count 25 \
	--pipeline-dir "$TMP/pipe" >"$TMP/out.pipe" 2>&1
expect_eq "pipeline bench: exit" 0 $?
expect_contains "pipeline bench: result" "$TMP/out.pipe" "RESULT pipeline_profiles=25 pipeline_us="

server_start || finish
for mode in ingest multipart push; do
	"$LOADGEN" --url "$SERVER_URL" --mode "$mode" --services 3 --labelsets 2 --count 37 \
		--connections 4 --prefix "lg-$mode" --ack-log "$TMP/acks.$mode" >"$TMP/out.$mode" 2>&1
	expect_eq "$mode: exit" 0 $?
	expect_contains "$mode: result" "$TMP/out.$mode" "sent=37 acked=37 errors=0"
	expect_eq "$mode: ack lines" 37 "$(acks_count "$TMP/acks.$mode")"
	# 3 services x 2 label sets, as the name says
	expect_eq "$mode: series" 6 "$(cut -d' ' -f3 "$TMP/acks.$mode" | sort -u | wc -l)"
	# one series holds exactly what the ack log says was sent to it
	want=$(ack_sum "$TMP/acks.$mode" "\$2 == 200 && \$3 == \"lg-$mode-2{region=r1,pod=pod-1}\"")
	got=$(numticks "$PTYPE{service_name=\"lg-$mode-2\",pod=\"pod-1\"}" now-5m)
	[ "${want:-0}" -gt 0 ] && pass || fail "$mode: nothing was sent to lg-$mode-2 pod-1"
	expect_eq "$mode: total of lg-$mode-2 pod-1" "$want" "$got"
done

# backfill: 2 services x 1 h / 10 min = 12 windows, each holding its logged total
"$LOADGEN" --url "$SERVER_URL" --backfill 1h --step 600 --services 2 --prefix lg-bf \
	--ack-log "$TMP/acks.bf" >"$TMP/out.bf" 2>&1
expect_eq "backfill: exit" 0 $?
expect_eq "backfill: profiles" 12 "$(acks_count "$TMP/acks.bf")"
expect_eq "backfill: distinct windows" 12 "$(awk '{ print $3, $4 }' "$TMP/acks.bf" | sort -u | wc -l)"
if python3 "$CLIENT" check-acks --url "$SERVER_URL" --ptype "$PTYPE" \
	--type cpu:nanoseconds "$TMP/acks.bf" >"$TMP/check" 2>&1; then pass; else
	fail "backfill windows: $(cat "$TMP/check")"
fi
server_stop

# nothing listening: transport errors are counted, the run stops, exit 1
expect_exit 1 "kiln-loadgen against a closed port" "$LOADGEN" --url "$SERVER_URL" --count 50 \
	--max-errors 3
expect_contains "closed port: transport errors" "$TMP/out" "transport_errors="
finish
