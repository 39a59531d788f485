#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/agent_lock.sh - lock contention profiling cost and accuracy of
# libkiln. Uncontended: prog_lock's single-thread lock/unlock loop (mutex and
# rwlock), ns per lock/unlock pair plain, with libkiln loaded but off, and
# with lock profiling on: the difference is the hooks' cost. Contended:
# prog_lock's 3 + 4 threads, run time plain vs profiled, and the delay the
# agent reports vs the wait the threads measured themselves. Best of R
# interleaved runs (a shared machine is noisy). No peer profiles pthread
# contention out of the box (gperftools and heaptrack do not), so none is run.
# Usage: bench/agent_lock.sh [build dir, default build] [runs, default 5]
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd) || exit 2
runs=${2:-5}
lib="$build/lib/libkiln.so"
[ -f "$lib" ] || { echo "agent_lock: $lib not built" >&2; exit 2; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench-lock.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pl="$build/tests/agent/prog_lock"
if [ ! -x "$pl" ]; then
	pl="$tmp/prog_lock"
	cc -O2 -g -pthread -o "$pl" "$root/tests/agent/prog_lock.c" || exit 2
fi

declare -A best
note() {	# note NAME VALUE: keep the smallest
	local cur=${best[$1]:-}
	if [ -z "$cur" ] || awk -v a="$2" -v b="$cur" 'BEGIN { exit !(a < b) }'; then best[$1]=$2; fi
}
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }'; }
on() { KILN_PROFILES=lock KILN_OUTPUT="$tmp/l.pb.gz" LD_PRELOAD="$lib" "$@"; }

for ((r = 0; r < runs; r++)); do
	note u_plain "$("$pl" uncontended 100000 | field ns_per_pair)"
	note u_off "$(LD_PRELOAD="$lib" "$pl" uncontended 100000 | field ns_per_pair)"
	note u_on "$(on "$pl" uncontended 100000 | field ns_per_pair)"
	note c_plain "$("$pl" | field elapsed)"
	note c_on "$(on "$pl" | tee "$tmp/truth" | field elapsed)"
	if command -v go >/dev/null; then
		got=$(PPROF_BINARY_PATH=/nonexistent go tool pprof -raw "$tmp/l.pb.gz" 2>/dev/null |
			awk '/^Samples:/ { s = 1; getline; next } /^Locations/ { s = 0 }
			     s && /: / { split($0, v, " "); c += v[1]; d += v[2] }
			     END { print c + 0, d + 0 }')
		want=$(awk '$1 == "wait" && $2 == "total" { print $3, $4 }' "$tmp/truth")
		echo "$got $want" >>"$tmp/accuracy"
	fi
done

# row LABEL NAME: NAME's ns/pair and its difference to plain's
row() {
	awk -v l="$1" -v a="${best[$2]}" -v b="${best[u_plain]}" \
		'BEGIN { printf "  %-22s %s ns/pair   %+.2f ns", l, a, a - b
			 printf " (%+.1f%%)\n", (a / b - 1) * 100 }'
}
echo "uncontended lock/unlock, 30M pairs (mutex, rwlock rd, rwlock wr), best of $runs:"
echo "  plain                  ${best[u_plain]} ns/pair"
row "libkiln loaded, off" u_off
row "libkiln lock on" u_on
echo "contended (3 threads on a mutex, then 4 on a rwlock), best of $runs (seconds):"
echo "  plain                  ${best[c_plain]}"
echo "  libkiln lock on        ${best[c_on]}   $(awk -v a="${best[c_on]}" -v b="${best[c_plain]}" \
	'BEGIN { printf "%+.1f%%", (a / b - 1) * 100 }')"
if [ -f "$tmp/accuracy" ]; then
	echo "delay reported vs wait measured by the threads (each run):"
	awk '{ printf "  %d contentions of %d lock calls, delay %.1f ms vs %.1f ms measured:",
		$1, $4, $2 / 1e6, $3 / 1e6; printf " %+.1f%%\n", ($2 / $3 - 1) * 100 }' "$tmp/accuracy"
fi
