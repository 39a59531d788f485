#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6205: kiln record runs a command under libkiln.so and writes its profile:
# .pb.gz (read by go tool pprof), .html, .svg, .folded, -p (a top table),
# --hz (the period), --types cpu,wall (OUT and OUT.wall.ext), the command's
# exit status passed through, a wrapper process (timeout) that must not
# clobber the profile of the program it ran, a shell running two programs
# in turn (both merged into the file), and the usage errors.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_export_lib.sh"
need_go_pprof
agent_need prog_cpu prog_fork
# prog_cpu -c N: a fixed amount of work (about 0.5 s of CPU), so a loaded machine
# makes the run longer, not the profile thinner (a 0.5-s wall run once got too
# few samples for cpu_fn30 to show in the SVG)

"$KILN" record -o "$TMP/r.pb.gz" -- "$PROGS/prog_cpu" -c 700 1 >"$TMP/out" 2>"$TMP/err"
expect_eq "pb.gz: exit status" 0 $?
expect_contains "pb.gz: the command ran" "$TMP/out" "split cpu_fn50="
go tool pprof -top "$TMP/r.pb.gz" >"$TMP/top" 2>&1
expect_contains "pb.gz: go tool pprof reads it" "$TMP/top" "cpu_fn50"

"$KILN" record -o "$TMP/r.html" -- "$PROGS/prog_cpu" -c 700 1 >/dev/null 2>"$TMP/err"
expect_eq "html: exit status" 0 $?
expect_contains "html: a page" "$TMP/r.html" "<html"
expect_contains "html: with the functions" "$TMP/r.html" "cpu_fn50"

"$KILN" record -o "$TMP/r.svg" --hz 500 -- "$PROGS/prog_cpu" -c 700 1 >/dev/null 2>"$TMP/err"
expect_eq "svg: exit status" 0 $?
expect_contains "svg: an svg" "$TMP/r.svg" "<svg"
expect_contains "svg: with the functions" "$TMP/r.svg" "cpu_fn30"

"$KILN" record -o "$TMP/r.folded" --hz 500 -- "$PROGS/prog_cpu" -c 700 1 >/dev/null 2>"$TMP/err"
expect_eq "folded: exit status" 0 $?
if grep -qE '(^|;)cpu_fn50(;[^ ]*)? [0-9]+$' "$TMP/r.folded"; then pass; else
	fail "folded: no cpu_fn50 line: $(head -3 "$TMP/r.folded")"; fi

"$KILN" record -p -- "$PROGS/prog_cpu" -c 700 1 >"$TMP/out" 2>"$TMP/err"
expect_eq "-p: exit status" 0 $?
expect_contains "-p: top header" "$TMP/out" "flat  flat%   sum%        cum   cum%"
expect_contains "-p: top rows" "$TMP/out" "cpu_fn50"

"$KILN" record -o "$TMP/hz.pb.gz" --hz 250 --types cpu,wall -- "$PROGS/prog_cpu" -c 700 1 \
	>/dev/null 2>"$TMP/err"
expect_eq "types: exit status" 0 $?
go tool pprof -raw "$TMP/hz.pb.gz" >"$TMP/raw" 2>&1
expect_contains "--hz 250: period" "$TMP/raw" "Period: 4000000"
go tool pprof -raw "$TMP/hz.wall.pb.gz" >"$TMP/raw" 2>&1
expect_contains "--types wall: OUT.wall.pb.gz" "$TMP/raw" "wall/nanoseconds"

"$KILN" record -o "$TMP/x.pb.gz" -- "$PROGS/prog_fork" child >/dev/null 2>"$TMP/err"
expect_eq "exit status of the command" 7 $?
if [ -s "$TMP/x.pb.gz" ]; then pass; else fail "no profile for a command exiting 7"; fi

# timeout (under the agent too) exits after prog_cpu: the file keeps prog_cpu's samples
"$KILN" record -o "$TMP/w.pb.gz" -- timeout 60 "$PROGS/prog_cpu" -c 700 1 >/dev/null 2>"$TMP/err"
expect_eq "wrapper: exit status" 0 $?
go tool pprof -top "$TMP/w.pb.gz" >"$TMP/top" 2>&1
expect_contains "wrapper: the program's samples survive" "$TMP/top" "cpu_fn50"

# a shell running two programs one after the other: both are in the file
"$KILN" record -o "$TMP/sh.pb.gz" -- sh -c "'$PROGS/prog_cpu' -c 400 1; '$PROGS/prog_fork' child; true" \
	>/dev/null 2>"$TMP/err"
expect_eq "tree: exit status" 0 $?
go tool pprof -top "$TMP/sh.pb.gz" >"$TMP/top" 2>&1
expect_contains "tree: the first program" "$TMP/top" "cpu_fn50"
expect_contains "tree: the second program" "$TMP/top" "child_work"

expect_exit 127 "a command that does not exist" "$KILN" record -o "$TMP/n.pb.gz" -- "$TMP/nonexistent"
expect_contains "says it" "$TMP/err" "cannot run"
expect_exit 2 "no command" "$KILN" record -o "$TMP/n.pb.gz"
expect_exit 2 "unknown output format" "$KILN" record -o "$TMP/n.xyz" -- true
expect_exit 2 "unknown type" "$KILN" record --types cpu,disk -- true
KILN_LIB="$TMP/nope.so" expect_exit 1 "no libkiln.so" "$KILN" record -- true
expect_contains "names KILN_LIB" "$TMP/err" "KILN_LIB"
finish
