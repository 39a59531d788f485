#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/flame.sh - flame graph speed on the reference workload: perf script
# of `go build -a net/http` (666k lines). Times kiln flame to SVG and HTML
# straight from perf script text and from its folded form.
# No peer flame graph generator is installed here (FlameGraph's Perl
# scripts are not packaged in Debian and cannot be downloaded), so the
# figures are absolute; bench/collapse.sh compares the collapse step.
#
# usage: bench/flame.sh [KILN_BINARY]   (default: build/bin/kiln)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kiln=${1:-${KILN:-$root/build/bin/kiln}}
fixtures=${KILN_FIXTURES:-$root/../shared/fixtures}
input="$fixtures/perf-script/large-go-build.perf.txt.zst"
command -v hyperfine >/dev/null || { echo "flame.sh: hyperfine is needed" >&2; exit 2; }
[ -x "$kiln" ] || { echo "flame.sh: no kiln binary at $kiln" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
zstd -q -dc "$input" >"$tmp/go-build.perf.txt"
"$kiln" collapse "$tmp/go-build.perf.txt" >"$tmp/go-build.folded"
hyperfine -N --warmup 2 --runs 10 --export-json "$tmp/h.json" \
	-n "flame svg from perf script" "$kiln flame $tmp/go-build.perf.txt -o $tmp/a.svg" \
	-n "flame html from perf script" "$kiln flame $tmp/go-build.perf.txt -o $tmp/a.html" \
	-n "flame svg from folded" "$kiln flame $tmp/go-build.folded -o $tmp/b.svg" >/dev/null
python3 - "$tmp/h.json" <<'PY'
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print(f"{r['command']:32s} mean {r['mean']*1000:7.1f} ms  (min {r['min']*1000:.1f} ms)")
PY
