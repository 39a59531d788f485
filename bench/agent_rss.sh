#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_rss.sh - the memory libkiln adds to a program with many distinct
# stacks (issue target: <= 20 MB with 10k unique stacks). Runs
# tests/agent/prog_stacks (a binary call tree, 10,000 and then all 16,384 of
# its leaves) plain and under the agent with cpu, wall, heap and lock on
# (heap sampled often so that every leaf's stack is seen, 2-s intervals
# merged into KILN_OUTPUT, then uploaded every 2 s to a real `kiln server`
# on a free 127.0.0.1 port instead), compares peak RSS over the whole life
# (VmHWM read after the agent's exit handler wrote its files or posted its
# last profiles), min/median/max of RUNS runs, and counts the unique stacks
# the agent actually recorded. Usage: bench/agent_rss.sh [BUILD_DIR]
# [SECONDS] [RUNS]
set -u
B=${1:-build}
SECS=${2:-6}
RUNS=${3:-3}
PROG=$B/tests/agent/prog_stacks
LIB=$B/lib/libkiln.so
KILN=$B/bin/kiln
for f in "$PROG" "$LIB" "$KILN"; do
	[ -e "$f" ] || { echo "missing $f: build first" >&2; exit 1; }
done
TMP=$(mktemp -d)
SERVER=""
trap '[ -n "$SERVER" ] && kill "$SERVER" 2>/dev/null && wait "$SERVER"; rm -rf "$TMP"' EXIT

# the receiver of the upload rows; it runs beside the measured program only
"$KILN" server --listen 127.0.0.1:0 --port-file "$TMP/port" --data-dir "$TMP/data" \
	--self-profile=false 2>"$TMP/server.log" &
SERVER=$!
for ((i = 0; i < 200; i++)); do
	[ -s "$TMP/port" ] && break
	sleep 0.05
done
[ -s "$TMP/port" ] || { echo "kiln server did not start: $(cat "$TMP/server.log")" >&2; exit 1; }
URL="http://127.0.0.1:$(cat "$TMP/port")"

field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
# min/median/max of the numbers on stdin (KiB), in MiB
spread() {
	sort -n | awk '{ v[NR] = $1 } END {
		printf "%.1f / %.1f / %.1f MiB", v[1] / 1024, v[int((NR + 1) / 2)] / 1024, v[NR] / 1024 }'
}

plain=$("$PROG" 14 1 | field hwm_kb)
lock_only=$(LD_PRELOAD=$LIB KILN_PROFILES=lock KILN_OUTPUT="$TMP/l.pb.gz" "$PROG" 14 1 |
	field hwm_kb)
echo "prog_stacks plain: peak RSS $(mib "$plain") MiB; the agent's libraries and threads with" \
     "nothing recorded (lock only, no contention) add $(mib $((lock_only - plain))) MiB"
for paths in 10000 16384; do
	added=()
	stacks=0
	for ((r = 0; r < RUNS; r++)); do
		rm -f "$TMP"/p*.pb.gz
		out=$(LD_PRELOAD=$LIB KILN_PROFILES=cpu,wall,heap,lock KILN_CPU_HZ=1000 \
			KILN_HEAP_SAMPLE_BYTES=256 KILN_UPLOAD_INTERVAL=2s KILN_OUTPUT="$TMP/p.pb.gz" \
			"$PROG" 14 "$SECS" "$paths")
		added+=($(($(echo "$out" | field hwm_kb) - plain)))
		n=$("$KILN" convert --to folded --sample_index alloc_space -o - "$TMP/p.heap.pb.gz" \
			2>/dev/null | wc -l)
		[ "$n" -gt "$stacks" ] && stacks=$n
	done
	echo "$paths paths, $SECS s, $RUNS runs: RSS added by libkiln (cpu+wall+heap+lock)" \
	     "min/median/max $(printf '%s\n' "${added[@]}" | spread), heap profile with up to" \
	     "$stacks unique stacks (target <= 20 MB with 10k)"
	added=()
	failed=0
	for ((r = 0; r < RUNS; r++)); do
		out=$(LD_PRELOAD=$LIB KILN_PROFILES=cpu,wall,heap,lock KILN_CPU_HZ=1000 \
			KILN_HEAP_SAMPLE_BYTES=256 KILN_UPLOAD_INTERVAL=2s KILN_SERVER_ADDRESS="$URL" \
			KILN_APPLICATION_NAME=agent_rss "$PROG" 14 "$SECS" "$paths" 2>"$TMP/err")
		added+=($(($(echo "$out" | field hwm_kb) - plain)))
		grep -q "failed" "$TMP/err" && failed=$((failed + 1))
	done
	echo "$paths paths, uploading to a kiln server: RSS added min/median/max" \
	     "$(printf '%s\n' "${added[@]}" | spread) ($failed runs with a failed upload)"
done
