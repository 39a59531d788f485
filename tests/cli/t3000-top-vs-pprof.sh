#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t3000: `kiln top` prints exactly what `go tool pprof -top` prints (the
# whole stdout: header lines and every row's name, flat, flat%, sum%, cum,
# cum% and inline marker) for every pprof fixture, at -functions and
# -lines, for every sample index, with -nodefraction=0 and the default
# cut-off; plus a set of runs with sorting, node limits, filters, tag
# filters, units, granularities, diffs and merged sources.
source "$(dirname "$0")/lib.sh"
need_go_pprof

PPROF="$(go env GOTOOLDIR)/pprof"
[ -x "$PPROF" ] || PPROF="go tool pprof"
export PPROF KILN TMP

files=("$PPROF_DIR"/*.pb.gz "$PPROF_DIR"/legacy-converted/*.pb.gz)
cases="$TMP/cases"
: >"$cases"
n=0
add() { # add ARGS... : one comparison
	n=$((n + 1))
	printf '%s\t%s\n' "$n" "$*" >>"$cases"
}

# Sample indexes: kiln must accept exactly the indexes pprof accepts.
for f in "${files[@]}"; do
	for ((si = 0; si < 16; si++)); do
		if ! "$KILN" top -sample_index=$si -nodecount=1 "$f" >/dev/null 2>&1; then
			add -sample_index=$si "$f" # pprof must refuse it too (checked below)
			break
		fi
		for gran in -functions -lines; do
			add -sample_index=$si $gran -nodefraction=0 "$f"
			add -sample_index=$si $gran "$f"
		done
	done
done

cpu="$PPROF_DIR/go-cpu.pb.gz"
heap="$PPROF_DIR/go-heap.pb.gz"
large="$PPROF_DIR/go-large.cpu.pb.gz"
add -cum "$cpu"
add -cum -nodefraction=0 "$cpu"
add -cum -lines "$heap"
add -nodecount=5 "$cpu"
add -nodecount=3 -cum -nodefraction=0 "$cpu"
add -nodecount=10 -lines "$large"
add -cum -nodecount=20 "$large"
add -focus=main.work "$cpu"
add -focus=mutex -lines "$cpu"
add -ignore=runtime "$cpu"
add -ignore=math -nodefraction=0 "$cpu"
add -hide=runtime "$cpu"
add -hide=main.work -nodefraction=0 "$cpu"
add -show=main "$cpu"
add -focus=main.next -hide=time "$large"
add -tagfocus=vehicle=car "$cpu"
add -tagfocus=vehicle=bike -nodefraction=0 "$cpu"
add -tagignore=vehicle=car "$cpu"
add -tagfocus=car "$cpu"
add -unit=ms "$cpu"
add -unit=auto -lines "$heap"
add -unit=MB "$heap"
add -unit=kB -sample_index=alloc_space "$heap"
add -sample_index=alloc_objects "$PPROF_DIR/go-allocs.pb.gz"
add -alloc_space "$heap"
add -inuse_objects -lines "$heap"
add -alloc_objects -inuse_space "$heap"
add -contentions "$PPROF_DIR/go-mutex.pb.gz"
add -total_delay "$PPROF_DIR/go-block.pb.gz"
add -files -nodefraction=0 "$cpu"
add -filefunctions -nodefraction=0 "$cpu"
add -addresses -nodefraction=0 "$cpu"
add -addresses "$PPROF_DIR/legacy-converted/cppbench.cpu.pb.gz"
add -noinlines -nodefraction=0 "$cpu"
add -noinlines -lines "$heap"
add -diff_base="$PPROF_DIR/go-sample.cpu.pb.gz" "$cpu"
add -diff_base="$PPROF_DIR/go-sample.cpu.pb.gz" -lines -nodefraction=0 "$cpu"
add -diff_base="$cpu" -cum "$PPROF_DIR/go-sample.cpu.pb.gz"
add -diff_base="$PPROF_DIR/go-allocs.pb.gz" -sample_index=alloc_space "$heap"
add -diff_base="$cpu" "$cpu"
add -nodefraction=0 "$cpu" "$PPROF_DIR/go-sample.cpu.pb.gz"
add "$heap" "$PPROF_DIR/go-allocs.pb.gz"

# pprof runs in parallel (it takes 0.1-1 s a run); kiln runs after it.
run_pprof() {
	local i=$1 args
	args=$(awk -F'\t' -v i="$i" '$1 == i { print $2 }' "$TMP/cases")
	# shellcheck disable=SC2086
	$PPROF -top $args >"$TMP/pprof.$i" 2>"$TMP/pprof.$i.err"
	echo $? >"$TMP/pprof.$i.rc"
}
export -f run_pprof
cut -f1 "$cases" | xargs -P4 -n1 bash -c 'run_pprof "$0"'

compared=0
while IFS=$'\t' read -r i args; do
	# shellcheck disable=SC2086
	"$KILN" top $args >"$TMP/kiln.$i" 2>"$TMP/kiln.$i.err"
	krc=$?
	prc=$(cat "$TMP/pprof.$i.rc")
	compared=$((compared + 1))
	if [ "$prc" != 0 ] || [ "$krc" != 0 ]; then
		if [ "$prc" != 0 ] && [ "$krc" != 0 ]; then
			pass
		else
			fail "top $args: kiln exit $krc, pprof exit $prc: $(head -c 300 "$TMP/kiln.$i.err" "$TMP/pprof.$i.err")"
		fi
		continue
	fi
	if cmp -s "$TMP/pprof.$i" "$TMP/kiln.$i"; then
		pass
	else
		fail "top $args differs from pprof:
$(diff "$TMP/pprof.$i" "$TMP/kiln.$i" | head -20)"
	fi
done <"$cases"
echo "compared $compared runs of kiln top with go tool pprof -top"
finish
