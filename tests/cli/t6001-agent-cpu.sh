#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6001-agent-cpu.sh - CPU sampling end to end: prog_cpu (threads splitting
# their CPU 50/30/20 across three functions, measured with their own CPU
# clocks) runs under LD_PRELOAD=libkiln.so with KILN_OUTPUT; go tool pprof
# reads the file; the sampled split must match the measured one and the
# sampled CPU time the measured CPU time. Tolerance: 4 binomial standard
# errors of the sample count (CPU-time timers fire on kernel ticks, and on a
# loaded machine a tick often finds several periods elapsed: such samples
# carry weight 1 + overrun, which widens the spread), at least 1 point.
# bench/agent_cpu.sh measures the 1-point target with long runs.
. "$(dirname "$0")/lib.sh"
AG="$KILN_BUILD/tests/agent"
LIB="$KILN_BUILD/lib/libkiln.so"
[ -x "$AG/prog_cpu" ] && [ -f "$LIB" ] || { echo "SKIP: agent not built"; exit 77; }
need_go_pprof

LD_PRELOAD="$LIB" KILN_PROFILES=cpu KILN_CPU_HZ=250 KILN_OUTPUT="$TMP/cpu.pb.gz" \
	"$AG/prog_cpu" 6 2 >"$TMP/truth" 2>"$TMP/err"
expect_eq "prog_cpu exit" 0 $?
expect_contains "prog_cpu output" "$TMP/truth" "split cpu_fn50="
go tool pprof -top -nodecount=200 -unit=ms "$TMP/cpu.pb.gz" >"$TMP/top" 2>"$TMP/perr"
expect_eq "go tool pprof reads the profile" 0 $?
go tool pprof -raw "$TMP/cpu.pb.gz" >"$TMP/raw" 2>>"$TMP/perr"
expect_eq "go tool pprof -raw" 0 $?
expect_contains "sample types" "$TMP/raw" "samples/count cpu/nanoseconds"

verdict=$(awk '
	FNR == NR {
		for (i = 2; i <= NF; i++) { split($i, kv, "="); truth[kv[1]] = kv[2] }
		next
	}
	$NF ~ /^cpu_fn(50|30|20)$/ { v = $4; sub(/ms$/, "", v); got[$NF] = v; sum += v }
	/^Duration:/ { for (i = 1; i <= NF; i++) if ($i == "=") tot = $(i + 1) }
	END {
		if (sum <= 0) { print "FAIL no samples in cpu_fn*"; exit }
		n = sum / 4	# 4 ms per sample at 250 Hz
		bad = 0
		for (f in truth) if (f ~ /^cpu_fn/) {
			p = truth[f] / 100; s = 100 * got[f] / sum
			tol = 400 * sqrt(p * (1 - p) / n); if (tol < 1) tol = 1
			d = s - truth[f]; if (d < 0) d = -d
			printf "%s measured %.2f sampled %.2f (tolerance %.2f)\n", f, truth[f], s, tol
			if (d > tol) bad = 1
		}
		cpu = sum / 1000
		printf "cpu seconds measured %.2f sampled in the functions %.2f, %d samples\n", truth["cpu_s"], cpu, n
		if (cpu < 0.85 * truth["cpu_s"] || cpu > 1.1 * truth["cpu_s"]) bad = 1
		print bad ? "FAIL" : "OK"
	}' "$TMP/truth" "$TMP/top")
echo "$verdict"
expect_eq "split within tolerance" OK "$(echo "$verdict" | tail -1)"
finish
