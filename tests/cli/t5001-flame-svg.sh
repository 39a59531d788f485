#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln flame to SVG on real profiles: the file is well-formed XML, frames
# carry the functions and the cumulative shares that go tool pprof -top
# reports, widths nest, and the options (icicle, width, minwidth, title,
# reverse, stdout) change what they should.
source "$(dirname "$0")/lib.sh"

CPU="$PPROF_DIR/go-cpu.pb.gz"

# check_svg FILE WIDTH: well-formed; every frame has title, rect, text; the
# root spans WIDTH-20 px; no child is wider than the x range of its parent row.
check_svg() {
	python3 - "$1" "$2" <<'PY'
import sys, xml.etree.ElementTree as E
ns = '{http://www.w3.org/2000/svg}'
root = E.parse(sys.argv[1]).getroot()
width = float(sys.argv[2])
frames = [g for g in root.iter(ns + 'g') if g.get('class') == 'f']
assert frames, 'no frames'
for g in frames:
    assert g.find(ns + 'title') is not None and g.find(ns + 'rect') is not None \
        and g.find(ns + 'text') is not None, 'frame without title/rect/text'
rects = [g.find(ns + 'rect') for g in frames]
widest = max(float(r.get('width')) for r in rects)
assert abs(widest - (width - 20)) < 0.2, 'root width %s' % widest
for r in rects:
    x, w = float(r.get('x')), float(r.get('width'))
    assert x >= 9.95 and x + w <= width - 9.9, 'frame outside the picture: %s %s' % (x, w)
print(len(frames))
PY
}

expect_exit 0 "flame svg" "$KILN" flame "$CPU" -o "$TMP/cpu.svg"
n=$(check_svg "$TMP/cpu.svg" 1200) || fail "cpu.svg is not a valid flame graph: $n"
[ "${n:-0}" -gt 20 ] && pass || fail "too few frames: $n"
expect_contains "title" "$TMP/cpu.svg" "<text id=\"title\""
expect_contains "main.work frame" "$TMP/cpu.svg" "<title>main.work (2.88 s, 98.29%)</title>"
expect_contains "main.orderBike frame" "$TMP/cpu.svg" "<title>main.orderBike ("
expect_contains "search script" "$TMP/cpu.svg" "function searchFor("
expect_contains "zoom script" "$TMP/cpu.svg" "function zoom("

# the same functions and cumulative shares as go tool pprof -top
if command -v go >/dev/null 2>&1; then
	PPROF_BINARY_PATH=/nonexistent go tool pprof -top "$CPU" 2>/dev/null |
		awk '$6 ~ /^main\./ && $7 != "(inline)" { print $6, $5 }' >"$TMP/top"
	[ -s "$TMP/top" ] && pass || fail "go tool pprof -top listed no main. functions"
	while read -r fn cum; do
		# a function that appears once in the tree has pprof's cum% on its frame
		if [ "$(grep -c "<title>$fn (" "$TMP/cpu.svg")" = 1 ]; then
			grep -q "<title>$fn ([^<]*, $cum)</title>" "$TMP/cpu.svg" && pass ||
				fail "$fn: pprof says cum $cum, svg: $(grep -o "<title>$fn ([^<]*" "$TMP/cpu.svg")"
		else
			expect_contains "frame of $fn" "$TMP/cpu.svg" "<title>$fn ("
		fi
	done <"$TMP/top"
fi

# icicle puts the root on top; flame at the bottom
expect_exit 0 "flame icicle" "$KILN" flame "$CPU" --icicle -o "$TMP/ice.svg"
root_y() { grep -o '<title>total ([^<]*</title><rect x="[0-9.]*" y="[0-9.]*"' "$1" | sed 's/.*y="//; s/"//'; }
main_y() { grep -o '<title>main.work ([^<]*</title><rect x="[0-9.]*" y="[0-9.]*"' "$1" | sed 's/.*y="//; s/"//'; }
lt() { awk -v a="$1" -v b="$2" 'BEGIN { exit !(a + 0 < b + 0) }'; }
lt "$(root_y "$TMP/ice.svg")" "$(main_y "$TMP/ice.svg")" && pass || fail "icicle: root not above"
lt "$(main_y "$TMP/cpu.svg")" "$(root_y "$TMP/cpu.svg")" && pass || fail "flame: root not below"
expect_contains "icicle title" "$TMP/ice.svg" ">Icicle Graph</text>"

# width, title, minwidth
expect_exit 0 "flame width" "$KILN" flame "$CPU" --width 800 --title 'My <cpu> & co' -o "$TMP/w.svg"
check_svg "$TMP/w.svg" 800 >/dev/null && pass || fail "800 px svg invalid"
expect_contains "svg width" "$TMP/w.svg" 'width="800" height='
expect_contains "escaped title" "$TMP/w.svg" "My &lt;cpu&gt; &amp; co"
all=$(grep -c '<g class="f">' "$TMP/cpu.svg")
expect_exit 0 "flame minwidth" "$KILN" flame "$CPU" --minwidth 30 -o "$TMP/min.svg"
few=$(grep -c '<g class="f">' "$TMP/min.svg")
[ "$few" -lt "$all" ] && [ "$few" -ge 5 ] && pass || fail "minwidth 30: $few frames of $all"
check_svg "$TMP/min.svg" 1200 >/dev/null && pass || fail "minwidth svg invalid"

# reverse: leaf functions at the root; math.sin is the heaviest leaf
expect_exit 0 "flame reverse" "$KILN" flame "$CPU" --reverse -o "$TMP/rev.svg"
expect_contains "reverse title" "$TMP/rev.svg" "Flame Graph (reversed)"
check_svg "$TMP/rev.svg" 1200 >/dev/null && pass || fail "reversed svg invalid"
"$KILN" flame "$CPU" --reverse --icicle -o - --format svg >"$TMP/rev-ice.svg"
frame_y() { grep -o "<title>$2[^<]*</title><rect x=\"[0-9.]*\" y=\"[0-9.]*\"" "$1" | sed 's/.*y="//; s/"//'; }
expect_eq "reverse: math.sin one row below the root" \
	"$(awk -v y="$(frame_y "$TMP/rev-ice.svg" total)" 'BEGIN { printf "%.1f", y + 16 }')" "$(frame_y "$TMP/rev-ice.svg" "math.sin (1.99 s")"
expect_contains "reverse: math.sin at depth 1" "$TMP/rev.svg" "<title>math.sin (1.99 s, 67.92%)"

# stdout and a filter from the report options
"$KILN" flame "$CPU" --focus 'orderCar' -o - --format svg >"$TMP/focus.svg" 2>"$TMP/err"
expect_eq "flame -o - exit" 0 $?
expect_contains "focus keeps orderCar" "$TMP/focus.svg" "<title>main.orderCar ("
grep -q '<title>main.orderBike (' "$TMP/focus.svg" && fail "focus kept orderBike" || pass

# folded input, several sources merged
printf 'main;a;b 3\nmain;a;c 1\nmain;d 4\n' >"$TMP/x.folded"
expect_exit 0 "flame folded" "$KILN" flame "$TMP/x.folded" "$TMP/x.folded" -o "$TMP/f.svg"
expect_contains "folded frame" "$TMP/f.svg" "<title>a (8 samples, 50.00%)</title>"
expect_contains "folded width" "$TMP/f.svg" "<title>d (8 samples, 50.00%)</title><rect x=\"600.0\""
check_svg "$TMP/f.svg" 1200 >/dev/null && pass || fail "folded svg invalid"

finish
