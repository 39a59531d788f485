#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln flame to HTML: one self-contained page (no network reference at all)
# holding the viewer's CSS and JavaScript and the profile as flamebearer
# JSON that decodes to the same totals; the node limit and the escaping of
# '<' inside the embedded JSON.
source "$(dirname "$0")/lib.sh"

CPU="$PPROF_DIR/go-cpu.pb.gz"

expect_exit 0 "flame html" "$KILN" flame "$CPU" -o "$TMP/cpu.html"
expect_contains "doctype" "$TMP/cpu.html" "<!DOCTYPE html>"
expect_contains "viewer inlined" "$TMP/cpu.html" "function FlameGraph("
expect_contains "css inlined" "$TMP/cpu.html" ".kfg-tooltip {"
expect_contains "data block" "$TMP/cpu.html" '<script type="application/json" id="kiln-data">{"version":1,'
grep -Eiq 'https?://|(src|href)=' "$TMP/cpu.html" && fail "page refers to the network: $(grep -Eio '.{20}(https?://|(src|href)=).{20}' "$TMP/cpu.html" | head -3)" || pass
grep -q '<script[^>]* src=\|<link' "$TMP/cpu.html" && fail "external script or link" || pass

# the embedded JSON is flamebearer of the whole profile: 2.93 s of cpu
python3 - "$TMP/cpu.html" <<'PY' && pass || fail "embedded flamebearer is wrong"
import json, re, sys
html = open(sys.argv[1], encoding='utf-8').read()
m = re.search(r'<script type="application/json" id="kiln-data">(.*?)</script>', html, re.S)
d = json.loads(m.group(1))
fb = d['flamebearer']
assert d['metadata']['format'] == 'single', d['metadata']
assert d['metadata']['units'] == 'nanoseconds', d['metadata']
assert fb['numTicks'] == 2930000000, fb['numTicks']
assert fb['names'][0] == 'total' and 'main.work' in fb['names']
assert all(len(l) % 4 == 0 for l in fb['levels'])
cfg = json.loads(re.search(r'id="kiln-config">(.*?)</script>', html, re.S).group(1))
assert cfg['title'] == 'Flame Graph' and cfg['mode'] == 'flame', cfg
PY

# title, icicle mode and the page <title>
expect_exit 0 "flame html options" "$KILN" flame "$CPU" --icicle --title 'CPU </script> & more' -o "$TMP/t.html"
expect_contains "page title escaped" "$TMP/t.html" "<title>CPU &lt;/script&gt; &amp; more</title>"
expect_contains "config escaped" "$TMP/t.html" '"title":"CPU \u003c/script> & more"'
expect_contains "icicle mode" "$TMP/t.html" '"mode":"icicle"'
n=$(grep -c '</script>' "$TMP/t.html")
expect_eq "script blocks close only where they end" 4 "$n"

# --max-nodes keeps the heaviest frames and sums the rest as "other"
expect_exit 0 "flame max-nodes" "$KILN" flame "$CPU" --max-nodes 10 -o "$TMP/m.html"
python3 - "$TMP/m.html" <<'PY' && pass || fail "max-nodes 10 not applied"
import json, re, sys
html = open(sys.argv[1], encoding='utf-8').read()
d = json.loads(re.search(r'id="kiln-data">(.*?)</script>', html, re.S).group(1))
fb = d['flamebearer']
nodes = sum(len(l) // 4 for l in fb['levels'])
assert nodes <= 10 + 10, nodes
assert 'other' in fb['names'], fb['names']
assert fb['numTicks'] == 2930000000
PY

# frame names with '<' stay inside the data block
printf 'main;operator</script><b>;x 5\nmain;y 1\n' >"$TMP/lt.folded"
expect_exit 0 "flame html with markup in names" "$KILN" flame "$TMP/lt.folded" -o "$TMP/lt.html"
grep -q '<b>' "$TMP/lt.html" && fail "raw markup from a frame name reached the page" || pass
expect_contains "name escaped in json" "$TMP/lt.html" 'operator\u003c/script>\u003cb>'

# the format option overrides the extension, to stdout
"$KILN" flame "$CPU" --format html -o - >"$TMP/out.txt" 2>"$TMP/err"
expect_eq "html to stdout" 0 $?
expect_contains "stdout is html" "$TMP/out.txt" "<!DOCTYPE html>"

finish
