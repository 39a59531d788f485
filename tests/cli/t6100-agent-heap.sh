#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6100: heap profiling under LD_PRELOAD=libkiln.so. prog_heap knows the
# bytes each of its functions allocated and still holds at exit; the agent's
# heap profile (KILN_OUTPUT, read with go tool pprof -raw) must report them:
# totals within 10% (sampling every 32 KiB on average so that ~3000 samples
# hold live bytes: one standard deviation is about 2%), each function within
# 25% (>= 6 MiB each: 4 standard deviations), freed memory exactly 0 in use,
# pre-main allocations present, realloc'ed blocks at their new call site.
# The same for C++ operator new/delete (every variant) in prog_heap_cxx.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_pprof_lib.sh"

# run_heap OUT PROGRAM ARGS...: truth on OUT.truth, KILN_PROFILES=$PROFILES or heap
run_heap() {
	local out=$1
	shift
	KILN_PROFILES=${PROFILES:-heap} KILN_HEAP_SAMPLE_BYTES=32768 KILN_OUTPUT="$out" \
		LD_PRELOAD="$LIB" "$@" >"$out.truth" 2>"$out.err"
}

ph=$(agent_prog prog_heap) || { fail "cannot build prog_heap"; finish; }
expect_exit 0 "prog_heap under the agent" run_heap "$TMP/heap.pb.gz" "$ph"
types="alloc_objects/count alloc_space/bytes inuse_objects/count inuse_space/bytes[dflt]"
expect_profile "$TMP/heap.pb.gz" "$types"
funcs="premain_alloc mixed_alloc big_alloc grow_alloc churn_alloc zeroed_alloc aligned_alloc_fn"
pprof_sums "$TMP/heap.pb.gz" 4 $funcs >"$TMP/inuse"
pprof_sums "$TMP/heap.pb.gz" 2 $funcs >"$TMP/alloc"
t="$TMP/heap.pb.gz.truth"
within "in-use bytes, total" "$(value "$TMP/inuse" total)" "$(value "$t" live total)" 10
within "allocated bytes, total" "$(value "$TMP/alloc" total)" "$(value "$t" alloc total)" 10
for f in premain_alloc mixed_alloc big_alloc grow_alloc zeroed_alloc aligned_alloc_fn; do
	within "in-use bytes of $f" "$(value "$TMP/inuse" $f)" "$(value "$t" live $f)" 25
done
within "allocated bytes of churn_alloc" "$(value "$TMP/alloc" churn_alloc)" \
	"$(value "$t" alloc churn_alloc)" 10
within "allocated bytes of mixed_alloc" "$(value "$TMP/alloc" mixed_alloc)" \
	"$(value "$t" alloc mixed_alloc)" 15
expect_eq "freed blocks are not in use" "0" "$(value "$TMP/inuse" churn_alloc)"
# big blocks (>= 16 sampling intervals) are sampled with p ~ 1 and weight ~ size
within "in-use bytes of big_alloc (exact)" "$(value "$TMP/inuse" big_alloc)" \
	"$(value "$t" live big_alloc)" 0.01

# realloc'ed blocks are in use at realloc's call site, the first malloc's line freed
line_realloc=$(grep -n 'p = realloc(p, 8192);' "$KILN_SRC/tests/agent/prog_heap.c" | cut -d: -f1)
inuse_at_realloc=$(go tool pprof -raw "$TMP/heap.pb.gz" 2>/dev/null |
	awk -v l="prog_heap.c:$line_realloc" '
	/^Samples:/ { s = 1; getline; next } /^Locations/ { s = 0; loc = 1; next }
	/^Mappings/ { loc = 0 }
	s && /: / { i = index($0, ":"); split(substr($0, 1, i - 1), v, " ");
		split(substr($0, i + 1), ids, " "); V[ids[1]] += v[4] }
	loc && /^ +[0-9]+: / { id = $1; sub(":", "", id); if (index($0, l)) hit[id] = 1 }
	END { for (k in hit) t += V[k]; print t + 0 }')
if go tool pprof -raw "$TMP/heap.pb.gz" 2>/dev/null | grep -q "prog_heap.c:$line_realloc"; then
	within "in-use bytes at the realloc line" "$inuse_at_realloc" \
		"$(value "$t" live grow_alloc)" 25
else
	# seen with clang's DWARF 5: the symbolizer gives functions but no lines
	echo "note: no line numbers for prog_heap in the profile, realloc line not checked"
fi

# C++: new, new[], nothrow, aligned new; delete, delete[], sized and aligned delete
if pc=$(agent_prog prog_heap_cxx); then
	expect_exit 0 "prog_heap_cxx under the agent" run_heap "$TMP/cxx.pb.gz" "$pc"
	expect_profile "$TMP/cxx.pb.gz" "$types"
	pprof_sums "$TMP/cxx.pb.gz" 4 new_objects new_arrays new_aligned new_churn >"$TMP/cinuse"
	pprof_sums "$TMP/cxx.pb.gz" 2 new_churn >"$TMP/calloc"
	t="$TMP/cxx.pb.gz.truth"
	within "C++ in-use bytes, total" "$(value "$TMP/cinuse" total)" \
		"$(value "$t" live total)" 10
	for f in new_objects new_arrays new_aligned; do
		within "C++ in-use bytes of $f" "$(value "$TMP/cinuse" $f)" \
			"$(value "$t" live $f)" 25
	done
	expect_eq "C++ deleted objects are not in use" "0" "$(value "$TMP/cinuse" new_churn)"
	within "C++ allocated bytes of new_churn" "$(value "$TMP/calloc" new_churn)" \
		"$(value "$t" alloc new_churn)" 10
else
	echo "note: no C++ compiler, C++ part skipped"
fi

# fork with the hooks active (heap and lock): the child allocates, frees the
# parent's (sampled) blocks, reallocs, locks, and exits 0; the parent's
# profile is still right
PROFILES=heap,lock expect_exit 0 "prog_heap fork" run_heap "$TMP/fork.pb.gz" "$ph" 1 fork
expect_contains "fork child ran" "$TMP/fork.pb.gz.truth" "fork child ok"
pprof_sums "$TMP/fork.pb.gz" 4 >"$TMP/finuse"
within "in-use bytes after fork, total" "$(value "$TMP/finuse" total)" \
	"$(value "$TMP/fork.pb.gz.truth" live total)" 10

# the same program without profiling prints the same truth (the hooks change nothing)
LD_PRELOAD="$LIB" KILN_PROFILES=cpu "$ph" >"$TMP/plain.truth" 2>/dev/null
expect_eq "same results with heap profiling off" "" \
	"$(diff "$TMP/plain.truth" "$TMP/heap.pb.gz.truth")"
finish
