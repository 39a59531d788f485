#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln flame and kiln diff on bad usage and bad input: exit 2 for usage,
# 1 for failures, always with a message, never a crash or a partial file.
source "$(dirname "$0")/lib.sh"

CPU="$PPROF_DIR/go-cpu.pb.gz"

expect_exit 0 "flame --help" "$KILN" flame --help
expect_contains "help lists minwidth" "$TMP/out" "--minwidth"
expect_exit 0 "diff --help" "$KILN" diff --help
expect_contains "help lists normalize" "$TMP/out" "--normalize"

expect_exit 1 "missing file" "$KILN" flame "$TMP/nope.pb.gz" -o "$TMP/a.svg"
expect_contains "missing file message" "$TMP/err" "nope.pb.gz"
[ -e "$TMP/a.svg" ] && fail "output written for a missing input" || pass

expect_exit 2 "bad extension" "$KILN" flame "$CPU" -o "$TMP/a.png"
expect_contains "bad extension message" "$TMP/err" "name it .svg or .html"
expect_exit 2 "bad format" "$KILN" flame "$CPU" --format pdf -o "$TMP/a.svg"
expect_contains "bad format message" "$TMP/err" "unknown format 'pdf'"
expect_exit 2 "no output" "$KILN" flame "$CPU"
expect_contains "no output message" "$TMP/err" "no output file"
expect_exit 2 "no source" "$KILN" flame -o "$TMP/a.svg"
expect_contains "no source message" "$TMP/err" "no SOURCE"
expect_exit 2 "bad width" "$KILN" flame "$CPU" --width 5 -o "$TMP/a.svg"
expect_exit 2 "bad minwidth" "$KILN" flame "$CPU" --minwidth=-3 -o "$TMP/a.svg"
expect_exit 2 "bad sample index" "$KILN" flame "$CPU" --sample_index nosuch -o "$TMP/a.svg"
expect_exit 2 "bad regex" "$KILN" flame "$CPU" --focus '(' -o "$TMP/a.svg"
expect_exit 2 "unknown option" "$KILN" flame "$CPU" --frobnicate -o "$TMP/a.svg"

printf 'this is not a profile\x01\x02\n' >"$TMP/junk"
expect_exit 1 "junk input" "$KILN" flame "$TMP/junk" -o "$TMP/j.svg"
[ -s "$TMP/err" ] && pass || fail "junk input: no message"

expect_exit 1 "unwritable output" "$KILN" flame "$CPU" -o "$TMP/no/such/dir/a.svg"
expect_contains "unwritable message" "$TMP/err" "no/such/dir"

expect_exit 2 "diff one profile" "$KILN" diff "$CPU" -o "$TMP/d.svg"
expect_contains "diff arity message" "$TMP/err" "BASE and NEW"
expect_exit 1 "diff missing new" "$KILN" diff "$CPU" "$TMP/nope" -o "$TMP/d.svg"
expect_exit 2 "diff bad extension" "$KILN" diff "$CPU" "$CPU" -o "$TMP/d.txt"

# an empty profile still gives a (trivial) valid picture
: >"$TMP/empty.folded"
if "$KILN" flame "$TMP/empty.folded" -o "$TMP/e.svg" 2>"$TMP/err"; then
	python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$TMP/e.svg" && pass ||
		fail "empty profile: invalid svg"
else
	[ -s "$TMP/err" ] && pass || fail "empty profile: failed without a message"
fi

finish
