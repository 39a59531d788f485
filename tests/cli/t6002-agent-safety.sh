#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6002-agent-safety.sh - host behaviours under LD_PRELOAD=libkiln.so with
# cpu and wall sampling at 1000 Hz: thread churn (timers do not leak),
# dlopen/dlclose loops, exit() from a non-main thread, fork (+ exec) in a
# loop, a host that arms its own SIGPROF after the agent took it (both keep
# their signals), deep recursion, sleeps interrupted by wall signals. Each
# run must end as it would without the agent, and every profile written at
# exit must be readable by go tool pprof.
. "$(dirname "$0")/lib.sh"
AG="$KILN_BUILD/tests/agent"
LIB="$KILN_BUILD/lib/libkiln.so"
[ -x "$AG/prog_safety" ] && [ -f "$LIB" ] || { echo "SKIP: agent not built"; exit 77; }
need_go_pprof

# run_case NAME EXPECTED_EXIT args...
run_case() {
	local name=$1 want=$2 got
	shift 2
	rm -f "$TMP/$name.pb.gz"
	LD_PRELOAD="$LIB" KILN_PROFILES=cpu,wall KILN_CPU_HZ=1000 KILN_WALL_HZ=1000 \
		KILN_OUTPUT="$TMP/$name.pb.gz" timeout 120 "$AG/prog_safety" "$@" \
		>"$TMP/$name.out" 2>"$TMP/$name.err"
	got=$?
	if [ "$got" = "$want" ]; then pass; else
		fail "$name: exit $got, expected $want: $(cat "$TMP/$name.out") $(head -c 400 "$TMP/$name.err")"
	fi
	cat "$TMP/$name.out"
	if [ -f "$TMP/$name.pb.gz" ]; then
		if go tool pprof -raw "$TMP/$name.pb.gz" >/dev/null 2>"$TMP/$name.perr"; then pass; else
			fail "$name: go tool pprof cannot read the profile: $(head -c 300 "$TMP/$name.perr")"
		fi
	fi
}

run_case churn 0 churn 3000
run_case dlopen 0 dlopen "$AG/libkiln_test_dlo.so" 300
run_case exit-thread 7 exit-thread
run_case fork 0 fork 8
run_case sigprof 0 sigprof
run_case deep 0 deep 5000
run_case sleep 0 sleep
# the profile of the deep case is cut at KILN_MAX_FRAMES (128 by default):
# at most 128 locations, so at most 128 safety_deep frames, and no fewer
# than 128 minus the few leaf ones (inline frames may add lines)
if [ -f "$TMP/deep.pb.gz" ]; then
	go tool pprof -traces "$TMP/deep.pb.gz" 2>/dev/null | awk '
		/^-+\+/ { if (n > max) max = n; n = 0; next }
		$NF == "safety_deep" { n++ }
		END { if (n > max) max = n; print max }' >"$TMP/deepest"
	d=$(cat "$TMP/deepest")
	if [ "$d" -le 128 ] && [ "$d" -ge 124 ]; then pass; else
		fail "deep: $d safety_deep frames in the deepest stack, expected 124..128"
	fi
else
	fail "deep: no profile written"
fi
# the exit() from a thread still wrote its profile
[ -f "$TMP/exit-thread.pb.gz" ] && pass || fail "exit-thread: no profile written at exit"
finish
