#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6208: the agent never takes its host down when memory runs out.
# KILN_FAIL_ALLOC=N makes the agent's Nth allocation (kl_malloc and
# friends) and every later one fail: at start (settings, heap tables), in
# the middle (builds) and at exit (writing KILN_OUTPUT). For each N the
# program (prog_cpu, under cpu+heap+lock profiling) must run to its end
# with exit status 0, and the agent may say why it stopped in at most two
# lines of stderr, each starting with "kiln: ".
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_export_lib.sh"
agent_need prog_cpu

for n in 1 2 3 5 8 13 40 100 150 200 250 400 1000 5000; do
	LD_PRELOAD="$LIBKILN" KILN_OUTPUT="$TMP/fa.pb.gz" KILN_FAIL_ALLOC=$n \
		KILN_PROFILES=cpu,heap,lock "$PROGS/prog_cpu" 0.2 1 >"$TMP/out" 2>"$TMP/err"
	expect_eq "KILN_FAIL_ALLOC=$n: exit status" 0 $?
	expect_contains "KILN_FAIL_ALLOC=$n: the program ran" "$TMP/out" "split cpu_fn50="
	if [ "$(wc -l <"$TMP/err")" -le 2 ] && ! grep -qv '^kiln: ' "$TMP/err"; then pass; else
		fail "KILN_FAIL_ALLOC=$n: stderr: $(head -c 400 "$TMP/err")"; fi
done
finish
