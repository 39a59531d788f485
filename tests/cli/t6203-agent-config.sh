#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6203: a bad setting turns the agent off with exactly one line on stderr
# naming the variable, the value and what is wrong ("...; profiling is
# off"); the host runs to its normal end and exit status, and no profile
# is written. Also: a busy KILN_PPROF_LISTEN port, and good values in every
# accepted spelling (durations, sizes, booleans) keep the agent on.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_export_lib.sh"
agent_need prog_cpu

# bad WANT_LINE VAR=VALUE...: prog_cpu under the agent with a bad setting
bad() {
	local want=$1
	shift
	rm -f "$TMP/out.pb.gz"
	env LD_PRELOAD="$LIBKILN" KILN_OUTPUT="$TMP/out.pb.gz" "$@" "$PROGS/prog_cpu" 0.3 1 \
		>"$TMP/stdout" 2>"$TMP/stderr"
	expect_eq "$*: exit status" 0 $?
	expect_contains "$*: the host ran" "$TMP/stdout" "split cpu_fn50="
	expect_eq "$*: stderr" "$want" "$(cat "$TMP/stderr")"
	if [ -e "$TMP/out.pb.gz" ]; then fail "$*: a profile was written"; else pass; fi
}

bad "kiln: KILN_CPU_HZ=abc: not a number in 1..10000; profiling is off" KILN_CPU_HZ=abc
bad "kiln: KILN_CPU_HZ=0: not a number in 1..10000; profiling is off" KILN_CPU_HZ=0
bad "kiln: KILN_WALL_HZ=20000: not a number in 1..10000; profiling is off" KILN_WALL_HZ=20000
bad "kiln: KILN_MAX_FRAMES=9999: not a number in 1..512; profiling is off" KILN_MAX_FRAMES=9999
bad "kiln: KILN_HEAP_SAMPLE_BYTES=12q: not a number in 1..4294967296; profiling is off" \
	KILN_HEAP_SAMPLE_BYTES=12q
bad "kiln: KILN_PROFILES=cpu,bogus: not a list of cpu, wall, heap, lock, threads; profiling is off" \
	KILN_PROFILES=cpu,bogus
bad "kiln: KILN_UPLOAD_INTERVAL=10x: not a duration in 100ms..3600000ms (e.g. 500ms, 10s, 1m); profiling is off" \
	KILN_UPLOAD_INTERVAL=10x
bad "kiln: KILN_SERVER_ADDRESS=ftp://x: not an http:// or https:// URL; profiling is off" \
	KILN_SERVER_ADDRESS=ftp://x
bad "kiln: KILN_TAGS=bad name=1: tags must be name=value pairs separated by commas, names made of [A-Za-z0-9_.]; profiling is off" \
	"KILN_TAGS=bad name=1"
bad "kiln: KILN_FOLLOW_FORK=maybe: not a boolean (1/0, true/false, yes/no, on/off); profiling is off" \
	KILN_FOLLOW_FORK=maybe
bad "kiln: KILN_PPROF_LISTEN=nonsense: not host:port (e.g. 127.0.0.1:6060); profiling is off" \
	KILN_PPROF_LISTEN=nonsense
bad "kiln: KILN_TENANT_ID=a b: at most 150 of [A-Za-z0-9!-_.*'()]; profiling is off" \
	"KILN_TENANT_ID=a b"
bad "kiln: KILN_APPLICATION_NAME=my app: only [A-Za-z0-9_./-] allowed; profiling is off" \
	"KILN_APPLICATION_NAME=my app"

# KILN_OUTPUT itself: the agent writes pprof only (kiln record converts)
rm -f "$TMP/x.svg"
LD_PRELOAD="$LIBKILN" KILN_OUTPUT="$TMP/x.svg" "$PROGS/prog_cpu" 0.3 1 >"$TMP/stdout" 2>"$TMP/stderr"
expect_eq "svg output: exit status" 0 $?
expect_eq "svg output: one line" 1 "$(wc -l <"$TMP/stderr")"
expect_contains "svg output: says to use kiln record" "$TMP/stderr" "kiln record -o FILE"
if [ -e "$TMP/x.svg" ]; then fail "an svg was written"; else pass; fi

# a pull port somebody else holds
python3 -c 'import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(1)
open(sys.argv[1], "w").write(str(s.getsockname()[1])); time.sleep(60)' "$TMP/busy" &
RX_PIDS="$RX_PIDS $!"
for _ in $(seq 100); do [ -s "$TMP/busy" ] && break; sleep 0.05; done
busy=$(cat "$TMP/busy")
LD_PRELOAD="$LIBKILN" KILN_PPROF_LISTEN="127.0.0.1:$busy" "$PROGS/prog_cpu" 0.3 1 \
	>"$TMP/stdout" 2>"$TMP/stderr"
expect_eq "busy port: exit status" 0 $?
expect_eq "busy port: one line" 1 "$(wc -l <"$TMP/stderr")"
expect_contains "busy port: names it" "$TMP/stderr" "KILN_PPROF_LISTEN=127.0.0.1:$busy"
expect_contains "busy port: agent off" "$TMP/stderr" "profiling is off"

# good values in their other spellings keep the agent on
rm -f "$TMP/good.pb.gz"
LD_PRELOAD="$LIBKILN" KILN_OUTPUT="$TMP/good.pb.gz" KILN_UPLOAD_INTERVAL=1s \
	KILN_UPLOAD_TIMEOUT=1500ms KILN_HEAP_SAMPLE_BYTES=64k KILN_FOLLOW_FORK=no \
	KILN_PROFILES="cpu, heap" KILN_TAGS=a=1,b.c=2 "$PROGS/prog_cpu" 0.3 1 >/dev/null 2>"$TMP/stderr"
expect_eq "good values: exit status" 0 $?
expect_eq "good values: stderr" "" "$(cat "$TMP/stderr")"
if [ -s "$TMP/good.pb.gz" ] && [ -s "$TMP/good.heap.pb.gz" ]; then pass; else
	fail "good values: cpu and heap profiles not both written"; fi
finish
