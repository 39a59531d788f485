#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t7200: every pprof fixture (and legacy-converted/) goes into a real kiln
# server through each ingest endpoint - /ingest raw and gzip, pyroscope-go
# multipart with nanosecond times, Connect Push proto, JSON and gzipped -
# and comes back through render format=json (numTicks, levels, timeline),
# format=pprof, format=collapsed and v0 /render with the exact total of
# every sample type (server_client.py roundtrip). The pprof exports are
# then summed again by kiln convert and by go tool pprof -raw.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/loadgen_lib.sh"

server_start || finish
files=("$PPROF_DIR"/*.pb.gz "$PPROF_DIR"/legacy-converted/*.pb.gz)
if python3 "$CLIENT" roundtrip --url "$SERVER_URL" --export-dir "$TMP/export" "${files[@]}" \
	>"$TMP/rt.out" 2>"$TMP/rt.err"; then
	pass
else
	fail "roundtrip: $(head -c 3000 "$TMP/rt.err")"
fi
cat "$TMP/rt.out"

# The exports are real pprof files: kiln's reader sums each to what it sums
# the fixture's sample type to (kiln convert drops samples without a stack,
# as go tool pprof does, so the reference is the same tool on the fixture).
# folded_sum FILE SAMPLE-INDEX
folded_sum() {
	"$KILN" convert "$1" --sample_index "$2" --to folded -o - 2>"$TMP/err" |
		awk '{ s += $NF } END { printf "%.0f", s }'
}
# raw_sum FILE SAMPLE-INDEX: go tool pprof -raw's sum of one value column
raw_sum() {
	go tool pprof -raw "$1" 2>"$TMP/err" | awk -v col="$(($2 + 1))" '
		/^Samples:/ { s = 1; getline; next }
		/^Locations/ { s = 0 }
		s { v = $col; sub(/:$/, "", v); if (v ~ /^-?[0-9]+$/) t += v }
		END { printf "%.0f", t }'
}
# (the python reader already checked every export; kiln convert takes the
# exports of two endpoints, to keep the test short under ASan)
declare -A ref
grep -E '_via_(gz|push-proto),' "$TMP/export/manifest" >"$TMP/kiln.list"
while read -r file want fixture k what; do
	[ -n "${ref[$fixture.$k]:-}" ] || ref[$fixture.$k]=$(folded_sum "$fixture" "$k")
	expect_eq "kiln convert of the pprof export ($what)" "${ref[$fixture.$k]}" \
		"$(folded_sum "$file" 0)"
done <"$TMP/kiln.list"
[ -s "$TMP/kiln.list" ] || fail "no pprof export to check"

# ... and so does Go's pprof, for the gzip-endpoint exports (~0.2 s a run).
if command -v go >/dev/null 2>&1; then
	export PPROF_BINARY_PATH=/nonexistent
	grep '_via_gz,' "$TMP/export/manifest" >"$TMP/go.list"
	while read -r file want fixture k what; do
		expect_eq "go tool pprof -raw of the pprof export ($what)" "$(raw_sum "$fixture" "$k")" \
			"$(raw_sum "$file" 0)"
	done <"$TMP/go.list"
	[ -s "$TMP/go.list" ] || fail "no gz export for go tool pprof"
fi
server_stop
finish
