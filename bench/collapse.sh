#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# collapse.sh - how fast `kiln collapse` turns perf script text into folded
# stacks, on the reference workload: perf script of `go build -a net/http`
# (666k lines, 40k samples). Decompresses it to a temporary file, times
# kiln with hyperfine and prints input lines per second. If perl and
# FlameGraph's stackcollapse-perf.pl are on PATH, times that too and checks
# that both produce the same lines.
#
# usage: bench/collapse.sh [KILN_BINARY]   (default: $KILN, else build/bin/kiln)
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
kiln=${1:-${KILN:-$root/build/bin/kiln}}
fixtures=${KILN_FIXTURES:-$root/../shared/fixtures}
input="$fixtures/perf-script/large-go-build.perf.txt.zst"

for tool in hyperfine jq zstd; do
	command -v "$tool" >/dev/null || { echo "collapse.sh: $tool is needed" >&2; exit 2; }
done
[ -x "$kiln" ] || { echo "collapse.sh: no kiln binary at $kiln" >&2; exit 2; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/kiln-bench.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
zstd -dcq "$input" >"$tmp/perf.txt"
lines=$(wc -l <"$tmp/perf.txt" | tr -d ' ')
bytes=$(wc -c <"$tmp/perf.txt" | tr -d ' ')
echo "input: $lines lines, $bytes bytes ($(basename "$input"), decompressed)"

hyperfine --warmup 3 --runs 20 --export-json "$tmp/kiln.json" \
	-n "kiln collapse" "$kiln collapse $tmp/perf.txt -o $tmp/kiln.folded"
mean=$(jq '.results[0].mean' "$tmp/kiln.json")
min=$(jq '.results[0].min' "$tmp/kiln.json")
cpu=$(jq '.results[0].user + .results[0].system' "$tmp/kiln.json")
awk -v l="$lines" -v b="$bytes" -v m="$mean" -v n="$min" -v c="$cpu" 'BEGIN {
	printf "kiln collapse: mean %.1f ms (min %.1f ms): %.2f M lines/s (%.2f M at best), %.0f MB/s\n",
	       m * 1000, n * 1000, l / m / 1e6, l / n / 1e6, b / m / 1e6
	# on a loaded machine wall time mostly measures waiting: CPU time does not
	printf "kiln collapse: CPU (user + system) %.1f ms per run: %.2f M lines/s of CPU time\n",
	       c * 1000, l / c / 1e6 }'
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) CPUs"

perl_script=$(command -v stackcollapse-perf.pl || true)
if command -v perl >/dev/null && [ -n "$perl_script" ]; then
	hyperfine --warmup 1 --runs 3 --export-json "$tmp/perl.json" \
		-n "stackcollapse-perf.pl" "perl $perl_script $tmp/perf.txt > $tmp/perl.folded"
	pmean=$(jq '.results[0].mean' "$tmp/perl.json")
	awk -v l="$lines" -v m="$pmean" -v k="$mean" 'BEGIN {
		printf "stackcollapse-perf.pl: mean %.1f ms: %.2f M lines/s (kiln is %.1fx faster)\n",
		       m * 1000, l / m / 1e6, m / k }'
	if cmp -s <(LC_ALL=C sort "$tmp/kiln.folded") <(LC_ALL=C sort "$tmp/perl.folded"); then
		echo "outputs: identical lines"
	else
		echo "outputs: DIFFER from stackcollapse-perf.pl"
		exit 1
	fi
else
	echo "stackcollapse-perf.pl: not on PATH (FlameGraph is not installed here), no comparison"
fi
