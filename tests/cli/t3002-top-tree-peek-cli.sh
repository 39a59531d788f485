#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t3002: kiln top / tree / peek as commands: help, exit codes and messages
# for bad usage and bad input, non-pprof sources (folded stacks, whose
# numbers are worked out by hand here), merging, and a diff against itself.
source "$(dirname "$0")/lib.sh"

cpu="$PPROF_DIR/go-cpu.pb.gz"

# --help works and lists the report options
for c in top tree peek; do
	expect_exit 0 "$c --help" "$KILN" $c --help
	expect_contains "$c --help lists -nodefraction" "$TMP/out" "-nodefraction"
done

# usage errors exit 2, bad input exits 1, each with a message
expect_exit 2 "top without a source" "$KILN" top
expect_exit 2 "top with an unknown option" "$KILN" top -no_such_option "$cpu"
expect_exit 2 "top with an unknown sample type" "$KILN" top -sample_index=nope "$cpu"
expect_contains "unknown sample type names the valid ones" "$TMP/err" "samples, cpu"
expect_exit 2 "top with two granularities" "$KILN" top -lines -files "$cpu"
expect_exit 2 "top with a bad focus regex" "$KILN" top -focus='(' "$cpu"
expect_exit 2 "top with a fraction above 1" "$KILN" top -nodefraction=2 "$cpu"
expect_exit 2 "peek without a source" "$KILN" peek main
expect_exit 2 "peek with a bad regex" "$KILN" peek '(' "$cpu"
expect_contains "bad peek regex is named" "$TMP/err" "parsing argument regexp ("
expect_exit 1 "peek matching nothing" "$KILN" peek no_such_function "$cpu"
expect_contains "peek says nothing matched" "$TMP/err" "no matches found for regexp"
expect_exit 1 "top of a missing file" "$KILN" top "$TMP/missing.pb.gz"
expect_contains "missing file is named" "$TMP/err" "missing.pb.gz"
head -c 700 "$cpu" >"$TMP/trunc.pb.gz"
expect_exit 1 "top of a truncated profile" "$KILN" top "$TMP/trunc.pb.gz"
expect_contains "truncated profile is reported" "$TMP/err" "trunc.pb.gz"
printf 'garbage\x01\x02\x03' >"$TMP/junk"
expect_exit 1 "top of junk" "$KILN" top "$TMP/junk"
expect_exit 1 "diff against a profile of another kind" \
	"$KILN" top -diff_base="$PPROF_DIR/go-heap.pb.gz" "$cpu"

# folded stacks: main;a;b 5, main;a 3, main;c;b 2
printf 'main;a;b 5\nmain;a 3\nmain;c;b 2\n' >"$TMP/x.folded"
expect_exit 0 "top of folded stacks" "$KILN" top "$TMP/x.folded"
expect_eq "folded top rows" "$(printf '%s\n' \
	'         7 70.00% 70.00%          7 70.00%  b' \
	'         3 30.00%   100%          8 80.00%  a' \
	'         0     0%   100%          2 20.00%  c' \
	'         0     0%   100%         10   100%  main')" "$(tail -n 4 "$TMP/out")"
expect_exit 0 "cum-sorted top, two rows" "$KILN" top -cum -nodecount=2 "$TMP/x.folded"
expect_contains "node limit is announced" "$TMP/out" "Showing top 2 nodes out of 4"
expect_eq "cum order" "main a" "$(tail -n 2 "$TMP/out" | awk '{ printf "%s%s", sep, $NF; sep=" " }')"
expect_exit 0 "peek of folded stacks" "$KILN" peek '^b$' "$TMP/x.folded"
expect_contains "peek lists a caller of b with its share" "$TMP/out" \
	'                                                 5 71.43% |   a'
expect_contains "peek lists b itself" "$TMP/out" \
	'         7 70.00% 70.00%          7 70.00%                | b'

# two sources are merged: every value doubles, percentages stay
expect_exit 0 "top of a file given twice" "$KILN" top "$TMP/x.folded" "$TMP/x.folded"
expect_contains "merged total" "$TMP/out" "Showing nodes accounting for 20, 100% of 20 total"
expect_contains "merged row" "$TMP/out" '        14 70.00% 70.00%         14 70.00%  b'

# a profile minus itself: nothing left, percentages against the base
expect_exit 0 "diff against itself" "$KILN" top -diff_base="$cpu" "$cpu"
expect_contains "empty diff" "$TMP/out" "Showing nodes accounting for 0, 0% of 2.93s total"
expect_eq "no rows in an empty diff" "flat" "$(tail -n 1 "$TMP/out" | awk '{ print $1 }')"

finish
