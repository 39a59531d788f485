#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6110: lock contention profiling under LD_PRELOAD=libkiln.so. prog_lock's
# threads time their own pthread_mutex_lock / timedlock / rwlock calls; the
# agent's lock profile (contentions/count, delay/nanoseconds) must report
# that wait within 20% in total and per waiting function within 30% (at least
# 25 ms: see below), with a contention count between 1 and the number of
# calls. A program that never
# contends gets an empty lock profile. go tool pprof -raw reads both.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_pprof_lib.sh"
pl=$(agent_prog prog_lock) || { fail "cannot build prog_lock"; finish; }

run_lock() {	# run_lock OUT ARGS... (stdout on OUT.truth)
	local out=$1
	shift
	KILN_PROFILES=lock KILN_OUTPUT="$out" LD_PRELOAD="$LIB" "$pl" "$@" \
		>"$out.truth" 2>"$out.err"
}

expect_exit 0 "prog_lock under the agent" run_lock "$TMP/lock.pb.gz"
expect_profile "$TMP/lock.pb.gz" "contentions/count delay/nanoseconds[dflt]"
funcs="mutex_worker timed_worker rw_reader rw_writer"
pprof_sums "$TMP/lock.pb.gz" 2 $funcs >"$TMP/delay"
pprof_sums "$TMP/lock.pb.gz" 1 $funcs >"$TMP/count"
t="$TMP/lock.pb.gz.truth"
want_total=$(value "$t" wait total)
calls=$(awk '$1 == "wait" && $2 == "total" { print $4 }' "$t")
# prog_lock's clock reads bracket each call, the agent's only the wait: a
# thread preempted in between (two sanitizer tests share the 2 cores) adds
# time the agent rightly does not see, so small totals get 25 ms of slack
within_slack "delay, total" "$(value "$TMP/delay" total)" "$want_total" 20 25000000
for f in $funcs; do
	within_slack "delay of $f" "$(value "$TMP/delay" $f)" "$(value "$t" wait $f)" 30 25000000
done
n=$(value "$TMP/count" total)
if [ "${n:-0}" -ge 1 ] && [ "$n" -le "$calls" ]; then pass; else
	fail "contentions: $n, want 1..$calls"; fi
# every contention is attributed to a waiting function, none lost in the agent
expect_eq "contentions by function add up" "$n" \
	"$(awk '$1 != "total" { s += $2 } END { print s }' "$TMP/count")"

# a program that never contends: no lock samples at all
expect_exit 0 "uncontended prog_lock" run_lock "$TMP/none.pb.gz" uncontended
if [ -f "$TMP/none.pb.gz" ]; then
	pprof_sums "$TMP/none.pb.gz" 1 >"$TMP/none"
	expect_eq "uncontended: no contentions" "0" "$(value "$TMP/none" total)"
	expect_eq "uncontended: no samples" "" \
		"$(go tool pprof -raw "$TMP/none.pb.gz" 2>/dev/null |
			sed -n '/^Samples:/,/^Locations/p' | sed '1,2d;$d')"
else
	pass	# no file at all is an empty profile too
fi
finish
