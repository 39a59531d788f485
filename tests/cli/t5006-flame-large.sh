#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln flame on the reference workload: the perf script of `go build -a
# net/http` (40k samples, 666k lines), read straight from the .zst. Both
# outputs must be valid and, in an optimised build, quick (the goal is
# well under a second; the check allows slack for a loaded machine).
source "$(dirname "$0")/lib.sh"

BIG="$PERF_DIR/large-go-build.perf.txt.zst"
[ -f "$BIG" ] || { echo "SKIP: $BIG missing"; exit 77; }

for fmt in svg html; do
	start=$(date +%s%N)
	expect_exit 0 "flame large $fmt" "$KILN" flame "$BIG" -o "$TMP/big.$fmt"
	ms=$(( ($(date +%s%N) - start) / 1000000 ))
	echo "kiln flame large-go-build -> $fmt: $ms ms, $(wc -c <"$TMP/big.$fmt") bytes"
	if [ "${KILN_SANITIZE:-0}" != 1 ] && [ "${KILN_SANITIZE:-}" != "ON" ]; then
		[ "$ms" -lt 3000 ] && pass || fail "flame large $fmt took $ms ms"
	fi
done
python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$TMP/big.svg" && pass ||
	fail "large svg is not well-formed XML"
expect_contains "go frames" "$TMP/big.svg" "<title>go ("
expect_contains "compile frames" "$TMP/big.svg" "<title>compile ("
python3 - "$TMP/big.html" <<'PY' && pass || fail "large html data"
import json, re, sys
html = open(sys.argv[1], encoding='utf-8').read()
d = json.loads(re.search(r'id="kiln-data">(.*?)</script>', html, re.S).group(1))
nodes = sum(len(l) // 4 for l in d['flamebearer']['levels'])
assert 1000 < nodes <= 50000 + 50000, nodes
PY
finish
