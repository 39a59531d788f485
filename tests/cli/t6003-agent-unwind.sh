#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6003-agent-unwind.sh - stacks of a program built without frame pointers
# (prog_chain, -O2 -fomit-frame-pointer) come out whole end to end:
# chain_f3 <- chain_f2 <- chain_f1 <- main in (almost) every CPU sample (a
# leaf in clock_gettime may come first), for
# the program as built and for a stripped copy (.eh_frame survives strip).
. "$(dirname "$0")/lib.sh"
AG="$KILN_BUILD/tests/agent"
LIB="$KILN_BUILD/lib/libkiln.so"
[ -x "$AG/prog_chain" ] && [ -f "$LIB" ] || { echo "SKIP: agent not built"; exit 77; }
need_go_pprof
command -v objcopy >/dev/null || { echo "SKIP: no objcopy"; exit 77; }

objcopy --strip-all "$AG/prog_chain" "$TMP/prog_chain_stripped"
for prog in "$AG/prog_chain" "$TMP/prog_chain_stripped"; do
	name=$(basename "$prog")
	LD_PRELOAD="$LIB" KILN_PROFILES=cpu KILN_CPU_HZ=250 KILN_OUTPUT="$TMP/$name.pb.gz" \
		"$prog" 2 >"$TMP/$name.out" 2>"$TMP/$name.err"
	expect_eq "$name exit" 0 $?
	go tool pprof -traces "$TMP/$name.pb.gz" >"$TMP/$name.traces" 2>"$TMP/$name.perr"
	expect_eq "$name: go tool pprof -traces" 0 $?
	# per trace: does it read chain_f3, chain_f2, chain_f1, main from the leaf?
	res=$(awk '
		function flush() {
			if (nf) { total++; if (index(s " ", " chain_f3 chain_f2 chain_f1 main ")) good++ }
			nf = 0; s = ""
		}
		/^-+\+/ { flush(); body = 1; next }
		body && NF { nf++; s = s " " $NF }
		END { flush(); printf "%d %d\n", good, total }' "$TMP/$name.traces")
	good=${res% *}
	total=${res#* }
	echo "$name: $good of $total traces are chain_f3 <- chain_f2 <- chain_f1 <- main"
	if [ "$total" -gt 0 ] && [ $((good * 100)) -ge $((total * 90)) ]; then pass; else
		fail "$name: only $good of $total traces unwound through the chain"
	fi
done
finish
