#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t1000: every pprof fixture read and written back by `kiln convert` is the
# same profile to Go's pprof: `go tool pprof -raw` prints identical text
# for the original and the copy (gzip and raw protobuf output).
source "$(dirname "$0")/lib.sh"
need_go_pprof

n=0
for src in "$PPROF_DIR"/*.pb.gz "$PPROF_DIR"/legacy-converted/*.pb.gz; do
	name=$(basename "$src" .pb.gz)
	out="$TMP/$name.pb.gz"
	expect_exit 0 "convert $name" "$KILN" convert "$src" -o "$out"
	go tool pprof -raw "$src" >"$TMP/$name.want" 2>&1
	go tool pprof -raw "$out" >"$TMP/$name.got" 2>&1
	if [ -s "$TMP/$name.want" ] && cmp -s "$TMP/$name.want" "$TMP/$name.got"; then
		pass
	else
		fail "$name: go tool pprof -raw differs: $(diff "$TMP/$name.want" "$TMP/$name.got" | head -5)"
	fi
	n=$((n + 1))
done
expect_eq "fixtures compared" 1 "$([ "$n" -ge 20 ] && echo 1 || echo 0)"

# .pb means raw protobuf: not gzip, and still the same profile
src="$PPROF_DIR/go-cpu.pb.gz"
expect_exit 0 "convert to raw .pb" "$KILN" convert "$src" -o "$TMP/raw.pb"
expect_eq "raw .pb is not gzip" "0a" "$(head -c 1 "$TMP/raw.pb" | od -An -tx1 | tr -d ' ')"
go tool pprof -raw "$src" >"$TMP/raw.want" 2>&1
go tool pprof -raw "$TMP/raw.pb" >"$TMP/raw.got" 2>&1
expect_eq "raw .pb round trip" "" "$(diff "$TMP/raw.want" "$TMP/raw.got" | head -3)"

# a raw protobuf input is read as well as a gzip one, and to stdout works
expect_exit 0 "raw input to stdout" "$KILN" convert "$TMP/raw.pb" -o - --to pprof
cp "$TMP/out" "$TMP/stdout.pb.gz"
go tool pprof -raw "$TMP/stdout.pb.gz" >"$TMP/stdout.got" 2>&1
expect_eq "stdout round trip" "" "$(diff "$TMP/raw.want" "$TMP/stdout.got" | head -3)"

finish
