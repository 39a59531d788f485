#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t7202: durability. kiln-loadgen ingests profiles into a real server, each
# in its own 10-s window, logging which ones were acknowledged (200); the
# server is killed with SIGKILL in the middle of the stream and a torn
# record is appended to the newest WAL segment, as a crash mid-write
# leaves it. After a restart on the same --data-dir the server must log
# the cut, and every acknowledged profile must be there with its exact
# total (one render per profile window), the grand total lying between
# the acknowledged and the sent sums.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/loadgen_lib.sh"
need_loadgen

server_start || finish
data=$SERVER_DATA
start=$((($(date +%s) - 86400) / 10 * 10))
"$LOADGEN" --url "$SERVER_URL" --start "$start" --services 4 --connections 4 --count 20000 \
	--duration 60 --max-errors 20 --ack-log "$TMP/acks" >"$TMP/loadgen.out" 2>&1 &
lg=$!
# kill the server once a few hundred profiles are acknowledged
acks_wait "$TMP/acks" 400 $lg
server_kill9
wait $lg
acked=$(acks_count "$TMP/acks")
[ "$acked" -ge 400 ] && pass || fail "only $acked profiles acknowledged: $(cat "$TMP/loadgen.out")"
grep -q "transport_errors=[1-9]" "$TMP/loadgen.out" && pass ||
	fail "the load did not run into the kill: $(tail -3 "$TMP/loadgen.out")"
echo "acknowledged before kill -9: $acked of $(wc -l <"$TMP/acks") answered"

# a crash in the middle of a write: a frame that promises 1000 bytes and has 24
wal=$(find "$data" -name '*.wal' -type f | sort | tail -1)
if [ -n "$wal" ]; then
	python3 -c 'import struct,sys; open(sys.argv[1],"ab").write(struct.pack("<IIQ",1000,0,0x1234)+b"x"*24)' "$wal"
	pass
else
	fail "no WAL segment (*.wal) under $data: $(find "$data" | head -20)"
fi

server_start --data-dir "$data" || finish
if grep -qiE 'cut|torn|truncat' "$SERVER_LOG"; then pass; else
	fail "the restarted server did not log the torn WAL tail it cut: $(head -c 800 "$SERVER_LOG")"
fi
if python3 "$CLIENT" check-acks --url "$SERVER_URL" --ptype "$PTYPE" --type cpu:nanoseconds \
	"$TMP/acks" >"$TMP/check.out" 2>"$TMP/check.err"; then
	pass
else
	fail "acknowledged profiles lost after kill -9: $(head -c 1500 "$TMP/check.err")"
fi
cat "$TMP/check.out"
grep -iE 'cut|torn|truncat' "$SERVER_LOG" | head -2

# grand total per service: acknowledged <= stored <= sent
until=$((start + 10 * 20000 / 4 + 60))
for s in 0 1 2 3; do
	lo=$(ack_sum "$TMP/acks" "\$2 == 200 && index(\$3, \"svc-$s{\") == 1")
	hi=$(ack_sum "$TMP/acks" "index(\$3, \"svc-$s{\") == 1")
	got=$(numticks "$PTYPE{service_name=\"svc-$s\"}" $((start - 60)) $until)
	if [ "$got" -ge "$lo" ] 2>/dev/null && [ "$got" -le "$hi" ]; then pass; else
		fail "svc-$s: stored total $got not within acknowledged $lo .. sent $hi"
	fi
done
# the restarted server keeps taking data
"$LOADGEN" --url "$SERVER_URL" --services 2 --count 50 --quiet >"$TMP/after.out" 2>&1 && pass ||
	fail "ingest after the restart: $(cat "$TMP/after.out")"
server_stop
finish
