#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/agent_heap.sh - heap profiling overhead and accuracy of libkiln.
# Overhead: prog_mallocbench (N malloc/free pairs of mixed sizes, mean 164 B,
# glibc malloc) plain, with libkiln preloaded but off, with heap profiling at the
# default 512 KiB, the same in a host that already has a second (idle) thread,
# as services do ("mt": glibc malloc is then off its single-thread fast paths
# with or without a profiler), then heaptrack and gperftools' HEAPPROFILE (tcmalloc) on
# N/10 pairs (they are 15-170x slower) compared per pair. Each figure is the
# loop's thread CPU time (runnable-but-waiting time on a shared machine is
# left out; the agent's work is on that thread), best of R interleaved runs, and the
# min/median/max over the R rounds of each round's ratio to the plain run of the same round
# (the machine's noise moves single runs by several points). Accuracy: prog_heap's
# in-use and allocated bytes as reported at 512 KiB and 64 KiB vs its truth.
# Usage: bench/agent_heap.sh [build dir, default build] [pairs, default 20000000] [runs, default 5]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd) || exit 2
pairs=${2:-20000000}
runs=${3:-5}
lib="$build/lib/libkiln.so"
[ -f "$lib" ] || { echo "agent_heap: $lib not built" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-heap.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

prog() {	# the built test program, or compiled here
	if [ -x "$build/tests/agent/$1" ]; then echo "$build/tests/agent/$1"; return; fi
	cc -O2 -g -o "$tmp/$1" "$root/tests/agent/$1.c" -pthread && echo "$tmp/$1"
}
mb=$(prog prog_mallocbench) || exit 2
ph=$(prog prog_heap) || exit 2

# the loop's thread CPU seconds printed by prog_mallocbench, best of $runs, and every run
declare -A best all
note() {	# note NAME SECONDS
	local cur=${best[$1]:-}
	all[$1]="${all[$1]:-} $2"
	if [ -z "$cur" ] || awk -v a="$2" -v b="$cur" 'BEGIN { exit !(a < b) }'; then best[$1]=$2; fi
}
cpu() { awk '$1 == "cpu" { print $2 }'; }
wall() { awk '$1 == "elapsed" { print $2 }'; }

tcm=$(ls /usr/lib/x86_64-linux-gnu/libtcmalloc.so.4 2>/dev/null | head -1)
have_ht=$(command -v heaptrack || true)
small=$((pairs / 10))
for ((r = 0; r < runs; r++)); do
	note plain "$("$mb" "$pairs" | cpu)"
	note off "$(LD_PRELOAD="$lib" "$mb" "$pairs" | cpu)"
	note kiln "$(KILN_PROFILES=heap KILN_OUTPUT="$tmp/k.pb.gz" LD_PRELOAD="$lib" \
		"$mb" "$pairs" | cpu)"
	note kiln64k "$(KILN_PROFILES=heap KILN_HEAP_SAMPLE_BYTES=65536 KILN_OUTPUT="$tmp/k.pb.gz" \
		LD_PRELOAD="$lib" "$mb" "$pairs" | cpu)"
	note plain_mt "$("$mb" "$pairs" small mt | cpu)"
	note kiln_mt "$(KILN_PROFILES=heap KILN_OUTPUT="$tmp/k.pb.gz" LD_PRELOAD="$lib" \
		"$mb" "$pairs" small mt | cpu)"
	note plain_large "$("$mb" "$small" large | cpu)"
	note kiln_large "$(KILN_PROFILES=heap KILN_OUTPUT="$tmp/k.pb.gz" LD_PRELOAD="$lib" \
		"$mb" "$small" large | cpu)"
	if ((r < 2)); then	# the slow peers: two runs, a tenth of the pairs, wall clock
		# (heaptrack's analysis runs in another process: CPU time would flatter it)
		note plain_small "$("$mb" "$small" | wall)"
		if [ -n "$have_ht" ]; then
			note heaptrack "$(heaptrack -o "$tmp/ht" "$mb" "$small" 2>/dev/null | wall)"
			rm -f "$tmp"/ht*
		fi
		if [ -n "$tcm" ]; then
			note tcmalloc "$(LD_PRELOAD="$tcm" "$mb" "$small" | wall)"
			note gperf "$(LD_PRELOAD="$tcm" HEAPPROFILE="$tmp/gp" "$mb" "$small" \
				2>/dev/null | wall)"
			rm -f "$tmp"/gp*
		fi
		note kiln_small "$(KILN_PROFILES=heap KILN_OUTPUT="$tmp/k.pb.gz" LD_PRELOAD="$lib" \
			"$mb" "$small" | wall)"
	fi
done

# row LABEL NAME BASE: the best figure of NAME and its ratio to BASE's (if NAME ran), then
# min/median/max of the per-round ratios
row() {
	[ -n "${best[$2]:-}" ] || return 0
	awk -v l="$1" -v a="${best[$2]}" -v b="${best[$3]}" -v xs="${all[$2]}" -v ys="${all[$3]}" '
		BEGIN {
			n = split(xs, x, " "); split(ys, y, " ")
			for (i = 1; i <= n; i++) r[i] = (x[i] / y[i] - 1) * 100
			for (i = 2; i <= n; i++)	# insertion sort: mawk has no asort
				for (j = i; j > 1 && r[j - 1] > r[j]; j--) { t = r[j]; r[j] = r[j - 1]; r[j - 1] = t }
			printf "  %-22s %s   %.2fx (%+.1f%%)", l, a, a / b, (a / b - 1) * 100
			if (n > 1)
				printf "   rounds: %+.1f / %+.1f / %+.1f %%", r[1], r[int((n + 1) / 2)], r[n]
			printf "\n"
		}'
}
echo "malloc/free microbenchmark, $pairs pairs, best of $runs (CPU seconds of the loop;" \
     "rounds: min / median / max of the per-round ratios):"
echo "  glibc plain            ${best[plain]}"
row "libkiln loaded, off" off plain
row "libkiln heap 512 KiB" kiln plain
row "libkiln heap 64 KiB" kiln64k plain
echo "host with a second thread (mt), $pairs pairs:"
echo "  glibc plain            ${best[plain_mt]}"
row "libkiln heap 512 KiB" kiln_mt plain_mt
echo "large sizes (mean 1 KiB, 6x the bytes per pair), $small pairs:"
echo "  glibc plain            ${best[plain_large]}"
row "libkiln heap 512 KiB" kiln_large plain_large
echo "peers on $small pairs, best of 2 (wall seconds, ratio to glibc plain on $small pairs):"
echo "  glibc plain            ${best[plain_small]}"
row "libkiln heap 512 KiB" kiln_small plain_small
row "heaptrack" heaptrack plain_small
row "tcmalloc (no profile)" tcmalloc plain_small
row "gperftools HEAPPROFILE" gperf plain_small

# accuracy: in-use and allocated bytes vs prog_heap's truth
if command -v go >/dev/null; then
	export PPROF_BINARY_PATH=/nonexistent
	sum() {
		go tool pprof -raw "$1" 2>/dev/null | awk -v i="$2" '
			/^Samples:/ { s = 1; getline; next } /^Locations/ { s = 0 }
			s && /: / { split($0, v, " "); t += v[i] } END { print t + 0 }'
	}
	echo "accuracy on prog_heap (in-use / allocated bytes vs the program's own count):"
	for T in 524288 65536; do
		for ((r = 0; r < 3; r++)); do
			KILN_PROFILES=heap KILN_HEAP_SAMPLE_BYTES=$T KILN_OUTPUT="$tmp/a.pb.gz" \
				LD_PRELOAD="$lib" "$ph" >"$tmp/truth"
			awk -v T=$T -v iu="$(sum "$tmp/a.pb.gz" 4)" -v al="$(sum "$tmp/a.pb.gz" 2)" '
				$1 == "live" && $2 == "total" { lt = $3 }
				$1 == "alloc" && $2 == "total" { at = $3 }
				END { printf "  T=%-7d in-use %+.1f%%  allocated %+.1f%%\n", T,
					(iu / lt - 1) * 100, (al / at - 1) * 100 }' "$tmp/truth"
		done
	done
fi
