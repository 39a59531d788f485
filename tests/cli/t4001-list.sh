#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t4001-list: kiln list annotates source lines as `go tool pprof -list`
# does. A tiny Go package is built and profiled here (go test -cpuprofile),
# so its source exists, and kiln's listing is compared with pprof's on the
# same profile, byte for byte. Then: missing sources (sampled lines listed
# without text), -trim_path/-source_path, the real fixtures, and errors.
source "$(dirname "$0")/lib.sh"
need_go_pprof

# ---- a profiled Go package whose source is on disk ----------------------
mkdir -p "$TMP/src/hot"
cat >"$TMP/src/hot/go.mod" <<'EOF'
module example.com/hot

go 1.19
EOF
cat >"$TMP/src/hot/hot.go" <<'EOF'
package hot

// Spin burns CPU in two loops of different weight.
func Spin(n int) uint64 {
	var x uint64 = 1
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
	}
	for i := 0; i < n/2; i++ {
		x ^= x >> 13
		x ^= x << 7
	}
	return x + helper(n)
}

func helper(n int) uint64 {
	var s uint64
	for i := 0; i < n; i++ {
		s += uint64(i) * uint64(i)
	}
	return s
}
EOF
cat >"$TMP/src/hot/hot_test.go" <<'EOF'
package hot

import "testing"

func TestSpin(t *testing.T) {
	var sink uint64
	for r := 0; r < 40; r++ {
		sink += Spin(10000000)
	}
	if sink == 42 {
		t.Log(sink)
	}
}
EOF
prof="$TMP/cpu.pb.gz"
(cd "$TMP/src/hot" && GOCACHE="$TMP/gocache" GOPATH="$TMP/gopath" GOPROXY=off \
	go test -count=1 -cpuprofile "$prof" -o "$TMP/hot.test" . >"$TMP/gotest.log" 2>&1) ||
	{ echo "SKIP: go test failed: $(tail -3 "$TMP/gotest.log")"; exit 77; }

# compares kiln list and go tool pprof -list with the same arguments
same_as_pprof() {
	local what=$1
	shift
	go tool pprof -list "$@" >"$TMP/go.txt" 2>/dev/null
	"$KILN" list "$@" >"$TMP/kiln.txt" 2>"$TMP/err" || { fail "$what: kiln list failed: $(cat "$TMP/err")"; return; }
	if cmp -s "$TMP/go.txt" "$TMP/kiln.txt"; then pass; else
		fail "$what differs from pprof: $(diff "$TMP/go.txt" "$TMP/kiln.txt" | head -6)"
	fi
}

cd "$TMP"
same_as_pprof "list hot." 'hot\.' "$prof"
same_as_pprof "list Spin" Spin "$prof"
same_as_pprof "list helper -focus" helper -focus=TestSpin "$prof"
same_as_pprof "list Spin -hide" Spin -hide=helper "$prof"
same_as_pprof "list Spin -noinlines" Spin -noinlines "$prof"
same_as_pprof "list -unit=ms" 'hot\.' -unit=ms "$prof"
same_as_pprof "list -sample_index=samples" 'hot\.' -sample_index=samples "$prof"
same_as_pprof "list of two copies" Spin "$prof" "$prof"

# the listing itself: source text, and per-line flat adding up to the routine's
expect_exit 0 "list Spin" "$KILN" list 'hot\.Spin$' "$prof"
cp "$TMP/out" "$TMP/spin.txt"
expect_eq "one routine" "1" "$(grep -c '^ROUTINE' "$TMP/spin.txt")"
expect_contains "routine header" "$TMP/spin.txt" "ROUTINE ======================== example.com/hot.Spin in $TMP/src/hot/hot.go"
expect_contains "source text" "$TMP/spin.txt" "x = x*6364136223846793005 + 1442695040888963407"
# values as nanoseconds: 10ms = 10000000
to_ns() { awk '{ v = $1; if (v == ".") v = 0; else if (v ~ /ms$/) v *= 1e6; else if (v ~ /us$/) v *= 1e3; else if (v ~ /s$/) v *= 1e9; printf "%d\n", v }'; }
routine_flat=$(sed -n 3p "$TMP/spin.txt" | to_ns)
lines_flat=$(sed -n '4,$p' "$TMP/spin.txt" | to_ns | awk '{ s += $1 } END { printf "%d\n", s }')
expect_eq "line flats add up" "$routine_flat" "$lines_flat"
[ "$routine_flat" -gt 0 ] && pass || fail "Spin has no flat time"

# ---- sources that cannot be found ---------------------------------------
# (from /, so that pprof's trim heuristic on the cwd's name does not apply)
mv "$TMP/src" "$TMP/moved"
cd /
expect_exit 0 "list without the source" "$KILN" list 'hot\.Spin$' "$prof"
expect_contains "open error" "$TMP/out" " Error: open $TMP/src/hot/hot.go: no such file or directory"
# every sampled line is still listed with its values, in line order
sed -n '/^ Error/,$p' "$TMP/out" | tail -n +2 >"$TMP/sampled.txt"
expect_eq "sampled lines have no text" "" "$(grep -vE '^ +[^ ]+ +[^ ]+ +[0-9]+:$' "$TMP/sampled.txt")"
expect_eq "sampled line numbers" "$(tail -n +4 "$TMP/spin.txt" | awk -F'[ :]+' '$2 != "." || $3 != "." { print $4 }' | tr '\n' ' ')" \
	"$(awk -F'[ :]+' '{ print $4 }' "$TMP/sampled.txt" | tr '\n' ' ')"
expect_eq "sampled flats add up" "$routine_flat" \
	"$(to_ns <"$TMP/sampled.txt" | awk '{ s += $1 } END { printf "%d\n", s }')"

# -trim_path + -source_path find it again (the name shown is trimmed, as in
# pprof); so does pprof's heuristic: the search dir's base name in the path
expect_exit 0 "list -trim_path" "$KILN" list -trim_path="$TMP/src" -source_path="$TMP/moved" 'hot\.Spin$' "$prof"
expect_eq "trimmed listing" "$(sed "s| in $TMP/src/| in |" "$TMP/spin.txt")" "$(cat "$TMP/out")"
same_as_pprof "list -source_path -trim_path" Spin -trim_path="$TMP/src" -source_path="$TMP/moved" "$prof"
same_as_pprof "list -source_path heuristic" Spin -source_path="$TMP/moved/hot" "$prof"
cd "$TMP/moved"
same_as_pprof "list relative to the cwd" Spin -trim_path="$TMP/src" "$prof"
mv "$TMP/moved" "$TMP/src"
cd "$TMP"

# ---- the real fixtures: the sources are not here, values still match pprof
for f in go-cpu go-heap go-large.cpu; do
	[ "$f" = go-large.cpu ] && [ "${KILN_SANITIZE:-0}" = 1 ] && continue
	go tool pprof -list 'main\.' "$PPROF_DIR/$f.pb.gz" >"$TMP/go.txt" 2>/dev/null
	"$KILN" list 'main\.' "$PPROF_DIR/$f.pb.gz" 2>"$TMP/err" |
		awk '/^ Error:/ { skip = 1; print; next } /^ROUTINE|^No source/ { skip = 0 } !skip' >"$TMP/kiln.txt"
	if cmp -s "$TMP/go.txt" "$TMP/kiln.txt"; then pass; else
		fail "list main. of $f differs from pprof: $(diff "$TMP/go.txt" "$TMP/kiln.txt" | head -6)"
	fi
done
expect_exit 0 "list orderBike" "$KILN" list 'main\.orderBike$' "$PPROF_DIR/go-cpu.pb.gz"
expect_eq "orderBike header" "Total: 2.93s
ROUTINE ======================== main.orderBike in /tmp/peers/goapp/main.go
     430ms      2.58s (flat, cum) 88.05% of Total" "$(head -3 "$TMP/out")"

# ---- errors --------------------------------------------------------------
expect_exit 0 "list --help" "$KILN" list --help
expect_exit 2 "list without a profile" "$KILN" list Spin
expect_exit 2 "list with a bad regex" "$KILN" list '(' "$prof"
expect_exit 1 "list without matches" "$KILN" list 'no_such_function' "$prof"
expect_contains "no match message" "$TMP/err" "no matches found for regexp: no_such_function"
expect_exit 1 "list of a missing file" "$KILN" list Spin "$TMP/nonexistent.pb.gz"

finish
