#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t1003: out of memory at every allocation of `kiln convert` (pprof to
# pprof) and `kiln merge` (KILN_FAIL_ALLOC=N fails the Nth and later ones):
# each run exits 1 with a message, or 0 once N is past the last allocation;
# never a crash (and, in the sanitizer build, never a leak).
source "$(dirname "$0")/lib.sh"

cpu="$PPROF_DIR/go-cpu.pb.gz"
sample="$PPROF_DIR/go-sample.cpu.pb.gz"

# run_until_ok WHAT cmd...: N = 1, 2, ... until the command succeeds
run_until_ok() {
	local what=$1 n rc
	shift
	for n in $(seq 1 2000); do
		KILN_FAIL_ALLOC=$n "$@" >"$TMP/out" 2>"$TMP/err"
		rc=$?
		if [ "$rc" = 0 ]; then
			pass
			return
		fi
		if [ "$rc" != 1 ] || [ ! -s "$TMP/err" ]; then
			fail "$what: KILN_FAIL_ALLOC=$n: exit $rc: $(head -c 300 "$TMP/err")"
			return
		fi
	done
	fail "$what: still failing after 2000 allocations"
}

run_until_ok "convert" "$KILN" convert "$cpu" -o "$TMP/c.pb.gz"
run_until_ok "convert raw" "$KILN" convert "$sample" -o "$TMP/c.pb"
run_until_ok "merge" "$KILN" merge "$cpu" "$sample" "$cpu" -o "$TMP/m.pb.gz"
run_until_ok "convert with focus" "$KILN" convert "$cpu" -focus=orderCar -o "$TMP/f.pb.gz"

finish
