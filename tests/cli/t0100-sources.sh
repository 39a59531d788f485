#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Where profiles come from: files, stdin, zstd files and real HTTP URLs on
# 127.0.0.1, and the errors for missing files, unknown formats, HTTP errors
# and unreachable servers.
. "$(dirname "$0")/lib.sh"

CPU="$PPROF_DIR/go-cpu.pb.gz"

# a file, stdin, and a zstd-compressed copy give the same table
"$KILN" top "$CPU" >"$TMP/file.txt" 2>&1 || fail "top on a file: $(cat "$TMP/file.txt")"
"$KILN" top - <"$CPU" >"$TMP/stdin.txt" 2>&1 || fail "top on stdin"
expect_eq "stdin equals file" "$(tail -n +2 "$TMP/file.txt")" "$(tail -n +2 "$TMP/stdin.txt")"
gzip -dc "$CPU" | zstd -q -o "$TMP/cpu.pb.zst"
"$KILN" top "$TMP/cpu.pb.zst" >"$TMP/zst.txt" 2>&1 || fail "top on a zstd file"
expect_eq "zstd equals file" "$(tail -n +2 "$TMP/file.txt")" "$(tail -n +2 "$TMP/zst.txt")"

# errors: missing file, unknown format, empty input, bad command and option
expect_exit 1 "missing file" "$KILN" top "$TMP/nope.pb.gz"
expect_contains "missing file message" "$TMP/err" "nope.pb.gz: No such file or directory"
printf 'this is not a profile\nat all\n' >"$TMP/junk.txt"
expect_exit 1 "unknown format" "$KILN" top "$TMP/junk.txt"
expect_contains "unknown format message" "$TMP/err" "tried pprof, folded, perf script, speedscope, flamebearer"
: >"$TMP/empty"
expect_exit 1 "empty input" "$KILN" top "$TMP/empty"
expect_contains "empty input message" "$TMP/err" "empty input"
expect_exit 2 "unknown command" "$KILN" frobnicate
expect_exit 2 "unknown option" "$KILN" top --no-such-flag "$CPU"
expect_contains "unknown option message" "$TMP/err" "unknown option '--no-such-flag'"
expect_exit 0 "help" "$KILN" top --help
expect_contains "help text" "$TMP/out" "usage: kiln top"

# real HTTP: a static server on a free loopback port
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; finish; }
python3 -u -m http.server 0 --bind 127.0.0.1 --directory "$PPROF_DIR" >"$TMP/http.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$TMP"' EXIT
port=
for _ in $(seq 1 100); do
	port=$(sed -n 's/.*port \([0-9][0-9]*\).*/\1/p' "$TMP/http.log" | head -1)
	[ -n "$port" ] && break
	sleep 0.1
done
[ -n "$port" ] || { fail "http server did not start: $(cat "$TMP/http.log")"; finish; }
"$KILN" top "http://127.0.0.1:$port/go-cpu.pb.gz" >"$TMP/url.txt" 2>&1 || fail "top on a URL: $(cat "$TMP/url.txt")"
expect_eq "URL equals file" "$(tail -n +2 "$TMP/file.txt")" "$(tail -n +2 "$TMP/url.txt")"
expect_exit 1 "HTTP 404" "$KILN" top "http://127.0.0.1:$port/missing.pb.gz"
expect_contains "HTTP 404 message" "$TMP/err" "HTTP status 404"
kill $server
wait $server 2>/dev/null
expect_exit 1 "unreachable server" "$KILN" top "http://127.0.0.1:$port/go-cpu.pb.gz"
expect_contains "unreachable message" "$TMP/err" "127.0.0.1:$port"
finish
