#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t1002: `kiln convert` picks the output format from --to or OUT's
# extension, applies the report options (sample index, focus) and keeps
# values: folded sums equal Go pprof's totals, flamebearer's numTicks too,
# folded -> pprof -> folded is lossless. Usage errors exit 2.
source "$(dirname "$0")/lib.sh"
need_go_pprof

cpu="$PPROF_DIR/go-cpu.pb.gz"
go_total() { go tool pprof -top -nodecount=1 "${@:2}" "$1" 2>/dev/null |
	sed -n 's/.*% of \([0-9]*\) total.*/\1/p'; }
sum_folded() { awk '{ s += $NF } END { print s + 0 }' "$1"; }

# folded, by each extension, with the sample index chosen by name
want=$(go_total "$cpu" -sample_index=samples)
for ext in folded txt collapsed; do
	expect_exit 0 "convert to .$ext" "$KILN" convert "$cpu" -o "$TMP/cpu.$ext" -sample_index=samples
	expect_eq ".$ext total" "$want" "$(sum_folded "$TMP/cpu.$ext")"
done
expect_eq "folded lines are root first" "main.work" "$(head -1 "$TMP/cpu.folded" | cut -d';' -f1)"
expect_eq ".txt same as .folded" "" "$(cmp "$TMP/cpu.folded" "$TMP/cpu.txt")"

# --to wins over the extension; '-' is stdout
expect_exit 0 "--to folded to stdout" "$KILN" convert "$cpu" --to folded -o - -sample_index=samples
expect_eq "stdout folded" "" "$(cmp "$TMP/out" "$TMP/cpu.folded")"
expect_exit 0 "--to pprof on a .txt name" "$KILN" convert "$cpu" --to pprof -o "$TMP/odd.txt"
expect_eq "gzip pprof written" "1f8b" "$(head -c 2 "$TMP/odd.txt" | od -An -tx1 | tr -d ' ')"

# -focus applies to pprof output (samples dropped), and to folded
expect_exit 0 "focus to pprof" "$KILN" convert "$cpu" -focus=orderCar -o "$TMP/focus.pb.gz"
expect_eq "focused pprof total" \
	"$(go tool pprof -top -sample_index=samples -focus=orderCar "$cpu" 2>/dev/null |
		sed -n 's/.*accounting for \([0-9]*\),.*/\1/p')" \
	"$(go_total "$TMP/focus.pb.gz" -sample_index=samples)"
expect_exit 0 "focus to folded" "$KILN" convert "$cpu" -focus=orderCar -sample_index=samples \
	-o "$TMP/focus.folded"
expect_eq "focused folded total" "$(go_total "$TMP/focus.pb.gz" -sample_index=samples)" \
	"$(sum_folded "$TMP/focus.folded")"
expect_exit 2 "-hide with pprof output" "$KILN" convert "$cpu" -hide=runtime -o "$TMP/h.pb.gz"
expect_contains "-hide message" "$TMP/err" "pprof output"

# flamebearer (.json): numTicks is the total, --max-nodes truncates
big="$PPROF_DIR/go-large.cpu.pb.gz"
expect_exit 0 "convert to flamebearer" "$KILN" convert "$big" -o "$TMP/big.json"
expect_contains "flamebearer total" "$TMP/big.json" "\"numTicks\":$(go_total "$big" -sample_index=cpu -unit=ns)"
expect_exit 0 "flamebearer truncated" "$KILN" convert "$big" -o "$TMP/small.json" --max-nodes 50
if [ "$(wc -c <"$TMP/small.json")" -lt "$(wc -c <"$TMP/big.json")" ]; then pass; else
	fail "--max-nodes 50 did not shrink the flamebearer output"
fi
expect_contains "truncated total kept" "$TMP/small.json" "\"numTicks\":$(go_total "$big" -sample_index=cpu -unit=ns)"

# folded -> pprof -> folded is lossless (FlameGraph's own output as input)
folded="$PERF_DIR/results/perf-dd-stacks-01-collapsed-pid.txt"
expect_exit 0 "folded to pprof" "$KILN" convert "$folded" -o "$TMP/f.pb.gz"
expect_exit 0 "pprof to folded" "$KILN" convert "$TMP/f.pb.gz" -o "$TMP/f.folded"
expect_eq "folded round trip" "$(sort "$folded" | md5sum)" "$(sort "$TMP/f.folded" | md5sum)"

# stdin as the source
expect_exit 0 "stdin source" bash -c "\"$KILN\" convert - -o \"$TMP/in.pb.gz\" <\"$cpu\""
expect_eq "stdin copy" "$(go_total "$cpu")" "$(go_total "$TMP/in.pb.gz")"

# speedscope (.speedscope.json)
expect_exit 0 "convert to speedscope" "$KILN" convert "$cpu" -o "$TMP/cpu.speedscope.json"
expect_contains "speedscope schema" "$TMP/cpu.speedscope.json" "speedscope.app/file-format-schema.json"

# usage errors and failures
expect_exit 2 "unknown extension" "$KILN" convert "$cpu" -o "$TMP/x.xyz"
expect_contains "extension message" "$TMP/err" "--to"
expect_exit 2 "bad --to" "$KILN" convert "$cpu" --to perf-script -o "$TMP/x.pb.gz"
expect_exit 2 "bad --to name" "$KILN" convert "$cpu" --to svg -o "$TMP/x.pb.gz"
expect_exit 2 "no -o" "$KILN" convert "$cpu"
expect_exit 2 "no source" "$KILN" convert -o "$TMP/x.pb.gz"
expect_exit 2 "bad sample index" "$KILN" convert "$cpu" -sample_index=bytes -o "$TMP/x.folded"
expect_exit 0 "--help" "$KILN" convert --help
expect_contains "help lists --to" "$TMP/out" "speedscope"
printf 'garbage\x00\x01\x02' >"$TMP/bad.pb.gz"
expect_exit 1 "unreadable input" "$KILN" convert "$TMP/bad.pb.gz" -o "$TMP/x.pb.gz"
expect_exit 1 "unwritable output" "$KILN" convert "$cpu" -o "$TMP/no/such/dir/x.pb.gz"

finish
