#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t7207: ingest requests parked on the WAL (http.c suspends a connection
# while its record waits for the group commit, src/store's completion thread
# resumes it). 64 connections at once must all be answered, share fsyncs and
# cost no thread each; clients that hang up while parked must not crash or
# leak (their profiles are still stored: they were appended); SIGTERM in the
# middle of a 64-connection load must answer or cleanly fail every parked
# request, exit 0, and lose nothing acknowledged.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/loadgen_lib.sh"
need_loadgen

threads() { awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null; }
metric() { curl -s "$SERVER_URL/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }

# --- 1. 64 connections parked at once ----------------------------------------------
server_start --sync fsync || finish
idle=$(threads "$SERVER_PID")
t0=$(($(date +%s) - 30))
"$LOADGEN" --url "$SERVER_URL" --services 16 --labelsets 4 --connections 64 --count 1280 \
	--duration 60 --ack-log "$TMP/acks" >"$TMP/loadgen.out" 2>&1 &
lg=$!
most=$idle
while kill -0 $lg 2>/dev/null; do
	n=$(threads "$SERVER_PID")
	[ -n "$n" ] && [ "$n" -gt "$most" ] && most=$n
	sleep 0.05
done
wait $lg
expect_eq "loadgen exit, 64 connections (every profile acknowledged)" 0 $?
grep -q ' acked=1280 ' "$TMP/loadgen.out" && pass ||
	fail "not all acknowledged: $(tail -3 "$TMP/loadgen.out")"
# a thread per waiting request would add ~64 threads; parked requests add none
[ $((most - idle)) -lt 16 ] && pass ||
	fail "the server grew from $idle to $most threads under 64 connections"
syncs=$(metric kiln_store_wal_syncs_total)
[ "${syncs:-0}" -ge 1 ] && [ "${syncs:-0}" -lt 1280 ] && pass ||
	fail "WAL syncs $syncs for 1280 parked requests: no group commit"
echo "64 connections: threads $idle idle, $most at most; $syncs fdatasyncs for 1280 requests"
expect_eq "grand total (sum of acknowledged cpu:nanoseconds)" "$(ack_sum "$TMP/acks")" \
	"$(numticks "$PTYPE{service_name=~\"svc-.*\"}" "$t0" "$(($(date +%s) + 60))")"

# --- 2. clients that hang up while parked ------------------------------------------------
r0=$(metric kiln_ingest_requests_total)
python3 - "$SERVER_PORT" "$PPROF_DIR/go-cpu.pb.gz" <<'PY' || fail "the hang-up client failed"
import socket, sys, threading, time
port, body = int(sys.argv[1]), open(sys.argv[2], "rb").read()
req = (b"POST /ingest?format=pprof&name=hangup HTTP/1.1\r\nHost: x\r\n"
       b"Content-Type: application/octet-stream\r\nContent-Length: " + str(len(body)).encode() +
       b"\r\n\r\n" + body)
def one():
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(req)
        # long enough for the server to read it and park it on the WAL's fsync
        time.sleep(0.005)
        s.close()  # gone before the answer
ts = [threading.Thread(target=one) for _ in range(16)]
for t in ts: t.start()
for t in ts: t.join()
PY
# every hung-up request is finished (parked ones resumed, answered into the void,
# freed): only the /metrics request itself is in flight
deadline=$((SECONDS + 30))
while [ $SECONDS -lt $deadline ]; do
	[ "$(metric kiln_http_requests_in_flight)" = 1 ] && break
	sleep 0.05
done
expect_eq "requests in flight after the hang-ups" 1 "$(metric kiln_http_requests_in_flight)"
# a request whose client left before MHD read it all is dropped; one read whole is
# stored, and counted even when its client left while it was parked
r1=$(metric kiln_ingest_requests_total)
[ $((r1 - r0)) -ge 1 ] && [ $((r1 - r0)) -le 128 ] && pass ||
	fail "requests stored from 128 clients that hung up: $((r1 - r0))"
echo "hang-ups: $((r1 - r0)) of 128 requests read whole and stored"
[ "$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_URL/healthz")" = 200 ] && pass ||
	fail "the server does not answer after the hang-ups: $(tail -c 500 "$SERVER_LOG")"
"$LOADGEN" --url "$SERVER_URL" --services 2 --connections 8 --count 64 --quiet \
	>"$TMP/after.out" 2>&1 && pass || fail "ingest after the hang-ups: $(cat "$TMP/after.out")"
# exit 0: under ASan a leaked parked request fails here
server_stop

# --- 3. SIGTERM with requests parked ---------------------------------------------------------
server_start --sync fsync || finish
data=$SERVER_DATA
start=$((($(date +%s) - 86400) / 10 * 10))
"$LOADGEN" --url "$SERVER_URL" --start "$start" --services 4 --connections 64 --count 20000 \
	--duration 60 --max-errors 500 --ack-log "$TMP/acks3" >"$TMP/loadgen3.out" 2>&1 &
lg=$!
acks_wait "$TMP/acks3" 300 $lg
server_stop
wait $lg
acked=$(acks_count "$TMP/acks3")
other=$(awk '$2 != 200 && $2 != 0' "$TMP/acks3" | head -3)
[ "$acked" -ge 300 ] && pass || fail "only $acked acknowledged before SIGTERM"
# answered with 200 or not at all (connection closed): no 5xx for a parked request
[ -z "$other" ] && pass || fail "requests answered other than 200 at shutdown: $other"
grep -qi 'suspended' "$SERVER_LOG" &&
	fail "MHD complained at stop: $(grep -i suspended "$SERVER_LOG")"
echo "SIGTERM under 64 connections: $acked acknowledged of $(wc -l <"$TMP/acks3") answered"
server_start --data-dir "$data" || finish
if python3 "$CLIENT" check-acks --url "$SERVER_URL" --ptype "$PTYPE" --type cpu:nanoseconds \
	"$TMP/acks3" >"$TMP/check.out" 2>"$TMP/check.err"; then
	pass
else
	fail "acknowledged profiles lost after SIGTERM: $(head -c 1500 "$TMP/check.err")"
fi
server_stop
finish
