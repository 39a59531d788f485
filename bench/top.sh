#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/top.sh - kiln top against go tool pprof -top on the reference
# workload (go-large.cpu.pb.gz: ~44k samples, thousands of functions).
# Prints hyperfine's timings, the speed-up (target: at least 10x) and
# kiln's peak RSS. Checks first that both print the same report.
#
# usage: bench/top.sh [BUILD_DIR]      (default: build)
# needs: hyperfine, GNU time (/usr/bin/time), go, python3
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
kiln=$build/bin/kiln
fixtures=${KILN_FIXTURES:-$root/../shared/fixtures}
file=$fixtures/pprof/go-large.cpu.pb.gz
export PPROF_BINARY_PATH=/nonexistent

for tool in hyperfine /usr/bin/time go python3; do
	command -v "$tool" >/dev/null || { echo "bench/top.sh: $tool is not installed" >&2; exit 1; }
done
[ -x "$kiln" ] || { echo "bench/top.sh: no kiln binary at $kiln (build first)" >&2; exit 1; }
[ -f "$file" ] || { echo "bench/top.sh: no workload at $file" >&2; exit 1; }
pprof_bin="$(go env GOTOOLDIR)/pprof"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$kiln" top "$file" >"$tmp/kiln.txt"
go tool pprof -top "$file" >"$tmp/pprof.txt" 2>/dev/null
if ! cmp -s "$tmp/kiln.txt" "$tmp/pprof.txt"; then
	echo "bench/top.sh: kiln top and go tool pprof -top disagree:" >&2
	diff "$tmp/pprof.txt" "$tmp/kiln.txt" | head -20 >&2
	exit 1
fi

hyperfine --warmup 3 --min-runs 10 --export-json "$tmp/h.json" \
	-n "kiln top" "$kiln top $file" \
	-n "go tool pprof -top" "go tool pprof -top $file" \
	-n "pprof -top (binary, no go wrapper)" "$pprof_bin -top $file"

/usr/bin/time -v "$kiln" top "$file" 2>"$tmp/time.txt" >/dev/null
rss=$(awk -F: '/Maximum resident set size/ { gsub(/ /, "", $2); print $2 }' "$tmp/time.txt")

python3 - "$tmp/h.json" "$rss" <<'PY'
import json, sys
r = {x["command"]: x["mean"] for x in json.load(open(sys.argv[1]))["results"]}
k = r["kiln top"]
print()
print(f"kiln top:                  {k * 1000:8.1f} ms")
for name in ("go tool pprof -top", "pprof -top (binary, no go wrapper)"):
    print(f"{name + ':':26} {r[name] * 1000:8.1f} ms   kiln is {r[name] / k:5.1f}x faster")
print(f"kiln top peak RSS:         {int(sys.argv[2]) / 1024:8.1f} MB")
ok = r["go tool pprof -top"] / k >= 10
print("target (>= 10x faster than go tool pprof -top):", "met" if ok else "NOT met")
PY
