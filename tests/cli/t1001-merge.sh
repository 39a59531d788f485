#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t1001: `kiln merge`: merging a profile with itself doubles every value in
# Go's `pprof -top`; the result equals Go's own merge (but for duration);
# profiles of different sample types are refused with a message naming
# both; usage errors exit 2.
source "$(dirname "$0")/lib.sh"
need_go_pprof

# top_rows FILE SAMPLE_INDEX: "flat cum name" rows of go tool pprof -top
top_rows() {
	go tool pprof -top -nodecount=100000 -sample_index="$2" "$1" 2>/dev/null |
		awk 'body { $2 = ""; $3 = ""; $5 = ""; print } / flat  flat% /{ body = 1 }'
}

for case in go-cpu.pb.gz:samples go-heap.pb.gz:alloc_objects \
	legacy-converted/cppbench.cpu.pb.gz:samples legacy-converted/java.heap.pb.gz:0; do
	f=${case%%:*}
	idx=${case##*:}
	src="$PPROF_DIR/$f"
	expect_exit 0 "merge $f twice" "$KILN" merge "$src" "$src" -o "$TMP/m.pb.gz"
	top_rows "$src" "$idx" | awk '{ $1 = $1 * 2; $2 = $2 * 2; print }' >"$TMP/want"
	top_rows "$TMP/m.pb.gz" "$idx" | awk '{ $1 = $1 + 0; $2 = $2 + 0; print }' >"$TMP/got"
	if [ -s "$TMP/want" ] && cmp -s "$TMP/want" "$TMP/got"; then pass; else
		fail "$f: merged top is not doubled: $(diff "$TMP/want" "$TMP/got" | head -5)"
	fi
done

# the large profile: the total doubles
big="$PPROF_DIR/go-large.cpu.pb.gz"
expect_exit 0 "merge large twice" "$KILN" merge "$big" "$big" -o "$TMP/big.pb.gz"
total() { go tool pprof -top -nodecount=1 -sample_index=samples "$1" 2>/dev/null |
	sed -n 's/.*% of \([0-9]*\) total.*/\1/p'; }
t1=$(total "$big")
t2=$(total "$TMP/big.pb.gz")
expect_eq "large total doubled" "$((t1 * 2))" "$t2"

# three different sources (cpu profiles of two programs) merge; totals add up
a="$PPROF_DIR/go-cpu.pb.gz"
b="$PPROF_DIR/go-sample.cpu.pb.gz"
expect_exit 0 "merge two programs" "$KILN" merge "$a" "$b" -o "$TMP/ab.pb.gz"
expect_eq "totals add up" "$(($(total "$a") + $(total "$b")))" "$(total "$TMP/ab.pb.gz")"

# the same profile as Go's own merge (go tool pprof -proto A B), but for the
# duration: Kiln's covers the span of the inputs, pprof adds durations up
for pair in go-cpu.pb.gz:go-sample.cpu.pb.gz go-heap.pb.gz:go-allocs.pb.gz \
	go-large.cpu.pb.gz:go-cpu.pb.gz \
	legacy-converted/cppbench.cpu.pb.gz:legacy-converted/cppbench.cpu.pb.gz; do
	x="$PPROF_DIR/${pair%%:*}"
	y="$PPROF_DIR/${pair##*:}"
	expect_exit 0 "merge $pair" "$KILN" merge "$x" "$y" -o "$TMP/k.pb.gz"
	go tool pprof -proto "$x" "$y" >"$TMP/g.pb.gz" 2>/dev/null
	go tool pprof -raw "$TMP/k.pb.gz" 2>&1 | grep -v '^Duration:' >"$TMP/k.txt"
	go tool pprof -raw "$TMP/g.pb.gz" 2>&1 | grep -v '^Duration:' >"$TMP/g.txt"
	if [ -s "$TMP/g.txt" ] && cmp -s "$TMP/g.txt" "$TMP/k.txt"; then pass; else
		fail "merge $pair differs from go tool pprof's: $(diff "$TMP/g.txt" "$TMP/k.txt" | head -5)"
	fi
done

# mismatched sample types: exit 1, both sides named
expect_exit 1 "cpu + heap refused" "$KILN" merge "$a" "$PPROF_DIR/go-heap.pb.gz" -o "$TMP/x.pb.gz"
expect_contains "mismatch message" "$TMP/err" "cpu/nanoseconds"
expect_contains "mismatch message names the other" "$TMP/err" "alloc_space/bytes"
expect_eq "no output on failure" "" "$(ls "$TMP/x.pb.gz" 2>/dev/null)"

# usage
expect_exit 2 "no -o" "$KILN" merge "$a"
expect_exit 2 "no source" "$KILN" merge -o "$TMP/y.pb.gz"
expect_exit 0 "--help" "$KILN" merge --help
expect_contains "help text" "$TMP/out" "OUT.pb.gz"
expect_exit 1 "missing file" "$KILN" merge "$TMP/nonexistent.pb.gz" -o "$TMP/y.pb.gz"
expect_contains "missing file named" "$TMP/err" "nonexistent.pb.gz"

finish
