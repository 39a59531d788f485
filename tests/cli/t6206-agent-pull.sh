#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6206: the pull endpoint (KILN_PPROF_LISTEN) of a running program:
# `kiln top http://.../debug/pprof/profile?seconds=2` shows the program's
# functions over a 2 s window; heap, mutex and threads answer gzipped pprof
# that go tool pprof reads; a type that is off is a 404, a bad seconds= a
# 400, an unknown path a 404; the program still exits normally.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_export_lib.sh"
need_go_pprof
agent_need prog_cpu
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }

port=$(free_port)
base="http://127.0.0.1:$port/debug/pprof"
LD_PRELOAD="$LIBKILN" KILN_PPROF_LISTEN="127.0.0.1:$port" KILN_PROFILES=cpu,heap,lock,threads \
	"$PROGS/prog_cpu" 12 2 >"$TMP/prog.out" 2>"$TMP/prog.err" &
prog=$!
RX_PIDS="$RX_PIDS $prog"
deadline=$((SECONDS + 20))
until [ "$(curl -s -o /dev/null -w '%{http_code}' "$base/" 2>/dev/null)" = 200 ]; do
	[ $SECONDS -lt $deadline ] || { fail "the endpoint never answered: $(cat "$TMP/prog.err")"; finish; }
	sleep 0.05
done
pass

"$KILN" top "$base/profile?seconds=2" >"$TMP/top" 2>&1
expect_eq "kiln top of the pull URL: exit status" 0 $?
expect_contains "kiln top: the program's functions" "$TMP/top" "cpu_fn50"
curl -s -o "$TMP/cpu.pb.gz" "$base/profile?seconds=1"
go tool pprof -raw "$TMP/cpu.pb.gz" >"$TMP/raw" 2>&1
dur=$(awk '/^Duration:/ { print $2 }' "$TMP/raw")
if awk -v d="$dur" 'BEGIN { exit !(d >= 0.9 && d <= 3) }'; then pass; else
	fail "seconds=1 profile lasts $dur s"; fi

for t in heap mutex threads; do
	code=$(curl -s -o "$TMP/$t.pb.gz" -w '%{http_code}' "$base/$t")
	expect_eq "$t: status" 200 "$code"
	if [ "$(head -c 2 "$TMP/$t.pb.gz" | od -An -tx1 | tr -d ' ')" = 1f8b ]; then pass; else
		fail "$t: not gzip"; fi
	go tool pprof -raw "$TMP/$t.pb.gz" >"$TMP/raw" 2>&1
	expect_eq "$t: go tool pprof reads it" 0 $?
done
expect_contains "heap types" <(go tool pprof -raw "$TMP/heap.pb.gz" 2>&1) "inuse_space/bytes"
expect_contains "mutex types" <(go tool pprof -raw "$TMP/mutex.pb.gz" 2>&1) "delay/nanoseconds"
expect_contains "threads: the workers" <(go tool pprof -raw "$TMP/threads.pb.gz" 2>&1) "threads/count"

expect_eq "wall is off: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$base/wall?seconds=1")"
expect_eq "bad seconds: 400" 400 "$(curl -s -o /dev/null -w '%{http_code}' "$base/profile?seconds=abc")"
expect_eq "unknown path: 404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$base/nothing")"
expect_eq "POST: 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -d x "$base/heap")"

wait "$prog"
expect_eq "program exit status" 0 $?
expect_contains "program ran to the end" "$TMP/prog.out" "split cpu_fn50="
expect_eq "program stderr" "" "$(cat "$TMP/prog.err")"
finish
