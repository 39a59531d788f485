#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# kiln collapse reproduces stackcollapse-perf.pl: every fixture under
# perf-script/ with each of --pid --tid --kernel --jit --all --addrs gives
# the expected folded lines (order aside); plus stdin, -o, .zst input,
# --event-filter, usage errors and missing files.
. "$(dirname "$0")/lib.sh"

matched=0
total=0
for input in "$PERF_DIR"/*.txt; do
	name=$(basename "$input" .txt)
	for opt in pid tid kernel jit all addrs; do
		want="$PERF_DIR/results/$name-collapsed-$opt.txt"
		total=$((total + 1))
		if ! "$KILN" collapse "--$opt" "$input" >"$TMP/got" 2>"$TMP/err"; then
			fail "$name --$opt: exit $?: $(head -c 300 "$TMP/err")"
			continue
		fi
		if cmp -s <(LC_ALL=C sort "$TMP/got") <(LC_ALL=C sort "$want"); then
			matched=$((matched + 1))
			pass
		else
			fail "$name --$opt differs from stackcollapse-perf.pl: $(diff <(LC_ALL=C sort "$want") <(LC_ALL=C sort "$TMP/got") | head -c 400)"
		fi
	done
done
echo "collapse: $matched of $total fixture outputs match"
expect_eq "fixture outputs compared" 78 "$total"

# output is sorted byte-wise, as the Perl script sorts its keys
in="$PERF_DIR/perf-numa-stacks-01.txt"
"$KILN" collapse "$in" >"$TMP/a"
expect_eq "sorted output" "" "$(LC_ALL=C sort -c "$TMP/a" 2>&1)"

# stdin, "-", -o FILE give the same bytes
"$KILN" collapse <"$in" >"$TMP/b"
expect_eq "stdin" "" "$(cmp "$TMP/a" "$TMP/b" 2>&1)"
"$KILN" collapse - <"$in" >"$TMP/b"
expect_eq "dash" "" "$(cmp "$TMP/a" "$TMP/b" 2>&1)"
expect_exit 0 "-o FILE" "$KILN" collapse -o "$TMP/c" "$in"
expect_eq "-o content" "" "$(cmp "$TMP/a" "$TMP/c" 2>&1)"

# gzip-compressed input
gzip -c "$in" >"$TMP/in.gz"
"$KILN" collapse "$TMP/in.gz" >"$TMP/b"
expect_eq "gzip input" "" "$(cmp "$TMP/a" "$TMP/b" 2>&1)"

# zstd-compressed input (the large go build): 40k samples of cpu-clock
"$KILN" collapse "$PERF_DIR/large-go-build.perf.txt.zst" >"$TMP/go"
expect_eq "zst exit" 0 "$?"
expect_eq "zst stack count" 3318 "$(wc -l <"$TMP/go" | tr -d ' ')"
total_ns=$(awk '{ s += $NF } END { printf "%.0f", s }' "$TMP/go")
samples=$(zstd -dc "$PERF_DIR/large-go-build.perf.txt.zst" | grep -c 'cpu-clock:pppH:')
expect_eq "zst total = samples * 500250" "$((samples * 500250))" "$total_ns"

# the first event type is kept unless --event-filter says otherwise
ci="$PERF_DIR/perf-cycles-instructions-01.txt"
"$KILN" collapse "$ci" >"$TMP/first"
"$KILN" collapse --event-filter=instructions "$ci" >"$TMP/ins"
"$KILN" collapse --event-filter=cycles "$ci" >"$TMP/cyc"
expect_eq "default is the first event" "" "$(cmp "$TMP/first" "$TMP/ins" 2>&1)"
if cmp -s "$TMP/ins" "$TMP/cyc" || [ ! -s "$TMP/cyc" ]; then
	fail "--event-filter=cycles should give other, non-empty stacks"
else
	pass
fi

# errors: missing file, two inputs, unknown option; --help works
expect_exit 1 "missing file" "$KILN" collapse "$TMP/nonexistent.txt"
expect_contains "missing file message" "$TMP/err" "nonexistent.txt"
expect_exit 2 "two inputs" "$KILN" collapse "$in" "$in"
expect_exit 2 "unknown option" "$KILN" collapse --bogus "$in"
expect_exit 0 "--help" "$KILN" collapse --help
expect_contains "--help lists --addrs" "$TMP/out" "addrs"

# garbage in, nothing out (the Perl script ignores unrecognised lines)
printf 'not perf output\n\x00\x01\x02\n' >"$TMP/junk"
expect_exit 0 "junk input" "$KILN" collapse "$TMP/junk"
expect_eq "junk output" "" "$(cat "$TMP/out")"
finish
