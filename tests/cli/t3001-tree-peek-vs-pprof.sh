#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t3001: `kiln tree` and `kiln peek RE` print exactly what `go tool pprof
# -tree` and `-peek RE` print (whole stdout: header, separators, caller and
# callee lines with their weights, shares and inline markers) on every
# pprof fixture, and with granularities, cut-offs, sorting, filters and
# diffs on the richer ones. A peek that matches nothing fails in both.
source "$(dirname "$0")/lib.sh"
need_go_pprof

PPROF="$(go env GOTOOLDIR)/pprof"
[ -x "$PPROF" ] || PPROF="go tool pprof"
export PPROF KILN TMP

cases="$TMP/cases"
: >"$cases"
n=0
add() { # add tree|peek:RE ARGS...
	local mode=$1
	shift
	n=$((n + 1))
	printf '%s\t%s\t%s\n' "$n" "$mode" "$*" >>"$cases"
}

for f in "$PPROF_DIR"/*.pb.gz "$PPROF_DIR"/legacy-converted/*.pb.gz; do
	add tree "$f"
	add tree -lines "$f"
	add peek:main "$f"
done
cpu="$PPROF_DIR/go-cpu.pb.gz"
heap="$PPROF_DIR/go-heap.pb.gz"
large="$PPROF_DIR/go-large.cpu.pb.gz"
add tree -nodefraction=0 -edgefraction=0 "$cpu"
add tree -nodefraction=0 -edgefraction=0 -nodecount=1000 -lines "$cpu"
add tree -cum "$cpu"
add tree -nodecount=5 "$large"
add tree -nodecount=0 -lines "$heap"
add tree -nodecount=12 -nodefraction=0 -cum "$large"
add tree -focus=orderBike "$cpu"
add tree -hide=runtime -nodefraction=0 "$cpu"
add tree -tagfocus=vehicle=bike "$cpu"
add tree -noinlines "$cpu"
add tree -files "$cpu"
add tree -unit=ms "$cpu"
add tree -diff_base="$PPROF_DIR/go-sample.cpu.pb.gz" "$cpu"
add 'peek:^math\.' "$cpu"
add 'peek:Mutex' -lines "$cpu"
add 'peek:runtime\.mallocgc$' "$cpu"
add 'peek:main\.next' "$large"
add 'peek:time\.' -lines "$large"
add 'peek:allocate' -sample_index=alloc_space "$heap"
add 'peek:work' -nodefraction=0.5 -nodecount=1 "$cpu"
add 'peek:no_such_function_anywhere' "$cpu"

run_pprof() {
	local i=$1 mode args
	mode=$(awk -F'\t' -v i="$i" '$1 == i { print $2 }' "$TMP/cases")
	args=$(awk -F'\t' -v i="$i" '$1 == i { print $3 }' "$TMP/cases")
	if [ "$mode" = tree ]; then
		# shellcheck disable=SC2086
		$PPROF -tree $args >"$TMP/pprof.$i" 2>"$TMP/pprof.$i.err"
	else
		# shellcheck disable=SC2086
		$PPROF -peek "${mode#peek:}" $args >"$TMP/pprof.$i" 2>"$TMP/pprof.$i.err"
	fi
	echo $? >"$TMP/pprof.$i.rc"
}
export -f run_pprof
cut -f1 "$cases" | xargs -P4 -n1 bash -c 'run_pprof "$0"'

compared=0
while IFS=$'\t' read -r i mode args; do
	if [ "$mode" = tree ]; then
		# shellcheck disable=SC2086
		"$KILN" tree $args >"$TMP/kiln.$i" 2>"$TMP/kiln.$i.err"
	else
		# shellcheck disable=SC2086
		"$KILN" peek "${mode#peek:}" $args >"$TMP/kiln.$i" 2>"$TMP/kiln.$i.err"
	fi
	krc=$?
	prc=$(cat "$TMP/pprof.$i.rc")
	compared=$((compared + 1))
	if [ "$prc" != 0 ] || [ "$krc" != 0 ]; then
		if [ "$prc" != 0 ] && [ "$krc" != 0 ] && [ ! -s "$TMP/kiln.$i" ]; then
			pass
		else
			fail "$mode $args: kiln exit $krc, pprof exit $prc: $(head -c 300 "$TMP/kiln.$i.err" "$TMP/pprof.$i.err")"
		fi
		continue
	fi
	if [ -s "$TMP/kiln.$i" ] && cmp -s "$TMP/pprof.$i" "$TMP/kiln.$i"; then
		pass
	else
		fail "$mode $args differs from pprof:
$(diff "$TMP/pprof.$i" "$TMP/kiln.$i" | head -20)"
	fi
done <"$cases"
echo "compared $compared runs of kiln tree/peek with go tool pprof -tree/-peek"
finish
