#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# agent_rss.sh - the memory libkiln adds to a program with many distinct
# stacks (issue target: <= 20 MB with 10k unique stacks). Runs
# tests/agent/prog_stacks (a binary call tree of 16,384 leaves) plain and
# under the agent with cpu, wall, heap and lock on (heap sampled often so
# that every leaf's stack is seen), compares peak RSS, and counts the
# unique stacks the agent actually recorded.
# Usage: bench/agent_rss.sh [BUILD_DIR] [SECONDS]
set -u
B=${1:-build}
SECS=${2:-6}
PROG=$B/tests/agent/prog_stacks
LIB=$B/lib/libkiln.so
KILN=$B/bin/kiln
for f in "$PROG" "$LIB" "$KILN"; do
	[ -e "$f" ] || { echo "missing $f: build first" >&2; exit 1; }
done
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

field() { tr ' ' '\n' | awk -F= -v k="$1" '$1 == k { print $2 }'; }

plain=$("$PROG" 14 "$SECS" | field hwm_kb)
agent_out=$(LD_PRELOAD=$LIB KILN_PROFILES=cpu,wall,heap,lock KILN_CPU_HZ=1000 \
	KILN_HEAP_SAMPLE_BYTES=256 KILN_UPLOAD_INTERVAL=2s KILN_OUTPUT="$TMP/p.pb.gz" \
	"$PROG" 14 "$SECS")
agent=$(echo "$agent_out" | field hwm_kb)
stacks=0
for f in "$TMP"/p*.pb.gz; do
	idx=()
	case $f in *.heap.pb.gz) idx=(--sample_index alloc_space) ;; esac
	n=$("$KILN" convert --to folded "${idx[@]}" -o - "$f" 2>/dev/null | wc -l)
	echo "  $(basename "$f"): $n unique stacks"
	[ "$n" -gt "$stacks" ] && stacks=$n
done
echo "prog_stacks 14 levels, $SECS s: peak RSS plain $((plain / 1024)) MiB, with libkiln" \
     "(cpu+wall+heap+lock) $((agent / 1024)) MiB"
lock_only=$(LD_PRELOAD=$LIB KILN_PROFILES=lock KILN_OUTPUT="$TMP/l.pb.gz" "$PROG" 14 1 | field hwm_kb)
echo "of which the agent's libraries and threads with nothing recorded (lock only, no" \
     "contention): $(((lock_only - plain) / 1024)) MiB"
echo "RSS added by the agent: $(((agent - plain) / 1024)) MiB with up to $stacks unique stacks" \
     "in one profile (target <= 20 MB with 10k)"
