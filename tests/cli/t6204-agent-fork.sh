#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6204: fork, exec and exit() from a thread under LD_PRELOAD=libkiln.so.
#   - fork: the child runs normally (exit status 7 reaches the parent); with
#     the default KILN_FOLLOW_FORK=0 only the parent writes KILN_OUTPUT, and
#     the child's work is not in it; with KILN_FOLLOW_FORK=1 the child
#     profiles itself into OUT.<pid>.pb.gz, holding child_work only;
#   - exec: the new image starts its own agent from the environment it
#     inherits (here with its own KILN_OUTPUT) and writes child_work there;
#   - exit() from a thread while main runs: the profile is still written.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_pprof_lib.sh"
source "$(dirname "$0")/agent_export_lib.sh"
need_go_pprof
agent_need prog_fork

# funcs FILE: sums for parent_work and child_work (cpu samples)
funcs() { pprof_sums "$1" 1 parent_work child_work; }

mkdir "$TMP/nofollow" "$TMP/follow"
LD_PRELOAD="$LIBKILN" KILN_OUTPUT="$TMP/nofollow/p.pb.gz" KILN_CPU_HZ=500 \
	"$PROGS/prog_fork" fork >"$TMP/out" 2>"$TMP/err"
expect_eq "fork: exit status" 0 $?
expect_contains "fork: child exit status seen" "$TMP/out" "prog_fork: ok"
expect_eq "fork: stderr" "" "$(cat "$TMP/err")"
expect_eq "fork: files without follow_fork" "p.pb.gz" "$(ls "$TMP/nofollow")"
funcs "$TMP/nofollow/p.pb.gz" >"$TMP/sums"
if [ "$(sum_of "$TMP/sums" parent_work)" -ge 100 ]; then pass; else
	fail "fork: parent_work has $(sum_of "$TMP/sums" parent_work) samples for 0.6 s at 500 Hz"; fi
expect_eq "fork: child work not in the parent's profile" 0 "$(sum_of "$TMP/sums" child_work)"

LD_PRELOAD="$LIBKILN" KILN_OUTPUT="$TMP/follow/p.pb.gz" KILN_CPU_HZ=500 KILN_FOLLOW_FORK=1 \
	"$PROGS/prog_fork" fork >"$TMP/out" 2>"$TMP/err"
expect_eq "follow: exit status" 0 $?
expect_contains "follow: child exit status seen" "$TMP/out" "prog_fork: ok"
child=$(ls "$TMP/follow" | grep -E '^p\.[0-9]+\.pb\.gz$')
if [ -n "$child" ]; then pass; else fail "follow: no child profile in $(ls "$TMP/follow")"; finish; fi
funcs "$TMP/follow/$child" >"$TMP/sums"
if [ "$(sum_of "$TMP/sums" child_work)" -ge 50 ]; then pass; else
	fail "follow: child_work has $(sum_of "$TMP/sums" child_work) samples for 0.3 s at 500 Hz"; fi
expect_eq "follow: the child's profile starts at the fork" 0 "$(sum_of "$TMP/sums" parent_work)"

LD_PRELOAD="$LIBKILN" KILN_OUTPUT="$TMP/exec-parent.pb.gz" KILN_CPU_HZ=500 \
	"$PROGS/prog_fork" exec "$TMP/exec-child.pb.gz" >"$TMP/out" 2>"$TMP/err"
expect_eq "exec: exit status" 0 $?
expect_contains "exec: child exit status seen" "$TMP/out" "prog_fork: ok"
funcs "$TMP/exec-child.pb.gz" >"$TMP/sums"
if [ "$(sum_of "$TMP/sums" child_work)" -ge 50 ]; then pass; else
	fail "exec: the exec'd image's profile has $(sum_of "$TMP/sums" child_work) child_work samples"; fi
funcs "$TMP/exec-parent.pb.gz" >"$TMP/sums"
if [ "$(sum_of "$TMP/sums" parent_work)" -ge 100 ]; then pass; else fail "exec: parent profile"; fi

LD_PRELOAD="$LIBKILN" KILN_OUTPUT="$TMP/texit.pb.gz" KILN_CPU_HZ=500 \
	timeout 60 "$PROGS/prog_fork" thread-exit >"$TMP/out" 2>"$TMP/err"
expect_eq "thread exit: exit status" 0 $?
funcs "$TMP/texit.pb.gz" >"$TMP/sums"
if [ "$(sum_of "$TMP/sums" parent_work)" -ge 20 ]; then pass; else fail "thread exit: no profile"; fi
finish
