#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln diff: a profile against itself is all grey (no red, no blue) in SVG
# and HTML; two different profiles show both colours, with base and new
# values in the tooltips; --normalize scales NEW to BASE.
source "$(dirname "$0")/lib.sh"

CPU="$PPROF_DIR/go-cpu.pb.gz"
SMALL="$PPROF_DIR/go-sample.cpu.pb.gz"

fills() { grep -o 'fill="rgb([0-9,]*)" rx' "$1" | sort -u; }

expect_exit 0 "diff itself svg" "$KILN" diff "$CPU" "$CPU" -o "$TMP/self.svg"
python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' "$TMP/self.svg" && pass ||
	fail "diff svg is not well-formed XML"
expect_eq "diff itself: only grey frames" 'fill="rgb(220,220,220)" rx' "$(fills "$TMP/self.svg")"
expect_contains "diff title" "$TMP/self.svg" "Differential Flame Graph"
expect_contains "diff tooltip" "$TMP/self.svg" \
	"<title>main.work (base 2.88 s 98.29%, new 2.88 s 98.29%, +0.00%)</title>"
expect_contains "diff legend" "$TMP/self.svg" '<g id="legend">'

expect_exit 0 "diff itself html" "$KILN" diff "$CPU" "$CPU" -o "$TMP/self.html"
python3 - "$TMP/self.html" <<'PY' && pass || fail "diff html data is not an all-equal double flamebearer"
import json, re, sys
html = open(sys.argv[1], encoding='utf-8').read()
d = json.loads(re.search(r'id="kiln-data">(.*?)</script>', html, re.S).group(1))
assert d['metadata']['format'] == 'double', d['metadata']
for level in d['flamebearer']['levels']:
    assert len(level) % 7 == 0
    for i in range(0, len(level), 7):
        assert level[i:i + 3] == level[i + 3:i + 6], level[i:i + 7]
PY
grep -Eq 'https?://' "$TMP/self.html" && fail "diff page refers to the network" || pass

# different profiles: red and blue frames; new totals differ from base
expect_exit 0 "diff two profiles" "$KILN" diff "$SMALL" "$CPU" -o "$TMP/d.svg"
fills "$TMP/d.svg" | grep -q 'rgb(255,' && pass || fail "no red frame: $(fills "$TMP/d.svg" | head)"
fills "$TMP/d.svg" | grep -q ',255)" rx' && pass || fail "no blue frame"
expect_contains "frame only in new" "$TMP/d.svg" "<title>main.orderBike (base 0 ns 0.00%, new 2.58 s 88.05%, +88.05%)</title>"

# --normalize: NEW scaled to BASE's total (the root shows equal values)
expect_exit 0 "diff normalize" "$KILN" diff --normalize "$SMALL" "$CPU" -o "$TMP/n.svg"
root=$(grep -o '<title>total (base [^<]*' "$TMP/n.svg")
b=$(echo "$root" | sed 's/.*(base \([^,]*\) 100.00%, new.*/\1/')
n=$(echo "$root" | sed 's/.*, new \(.*\) 100.00%.*/\1/')
expect_eq "normalised totals equal" "$b" "$n"
expect_contains "normalize subtitle" "$TMP/n.svg" "new normalised to base"

# HTML diff of two profiles
expect_exit 0 "diff html" "$KILN" diff "$SMALL" "$CPU" -o "$TMP/d.html"
expect_contains "double format" "$TMP/d.html" '"format":"double"'

finish
