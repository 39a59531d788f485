#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The web UI's files served by kiln server (src/server/h_static.c): the page
# at / with the scripts and styles it names, every file of web/app and
# web/flamegraph under /assets/ (a file without a route in routes.c fails
# here), Content-Type, Cache-Control and ETag (304), 404s, gzip; and /api/convert, which
# turns a dropped profile file into flamebearer JSON without storing it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
SRC=${KILN_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

server_start || finish

# status and content type of GET path
get() {
	curl -s -o "$TMP/body" -D "$TMP/headers" -w '%{http_code} %{content_type}' "$SERVER_URL$1"
}

expect_eq "page" "200 text/html; charset=utf-8" "$(get /)"
expect_contains "page names the app" "$TMP/body" '/assets/app/main.js'
expect_contains "no-cache" "$TMP/headers" 'Cache-Control: no-cache'
# every script and style the page loads is served
for a in $(grep -oE '/assets/[^"]+' "$TMP/body"); do
	case $a in
	*.js) want="200 text/javascript; charset=utf-8" ;;
	*.css) want="200 text/css; charset=utf-8" ;;
	esac
	expect_eq "page asset $a" "$want" "$(get "$a")"
done
# every file of the UI has a route, and its bytes are the source's
for f in "$SRC"/web/app/*.js "$SRC"/web/app/*.css "$SRC"/web/flamegraph/*.{js,css}; do
	rel=${f#"$SRC"/web/}
	code=$(curl -s -o "$TMP/asset" -w '%{http_code}' "$SERVER_URL/assets/$rel")
	expect_eq "route for web/$rel" 200 "$code"
	cmp -s "$f" "$TMP/asset" && pass || fail "web/$rel: served bytes differ from the source"
done
# ETag: a reload costs a 304 without a body; another file's tag does not match
etag=$(curl -s -D - -o /dev/null "$SERVER_URL/assets/app/main.js" | tr -d '\r' |
	sed -n 's/^[Ee][Tt]ag: //p')
case $etag in W/\"*\") pass ;; *) fail "main.js: ETag W/\"...\" expected, got '$etag'" ;; esac
expect_eq "If-None-Match: 304" "304 0" "$(curl -s -o "$TMP/nm" -H "If-None-Match: $etag" \
	-w '%{http_code} %{size_download}' "$SERVER_URL/assets/app/main.js")"
expect_eq "If-None-Match in a list, gzip" 304 "$(curl -s -o /dev/null -H 'Accept-Encoding: gzip' \
	-H "If-None-Match: \"x\", ${etag#W/}" -w '%{http_code}' "$SERVER_URL/assets/app/main.js")"
expect_eq "another file's ETag" 200 "$(curl -s -o /dev/null -H "If-None-Match: $etag" \
	-w '%{http_code}' "$SERVER_URL/assets/app/util.js")"
expect_eq "ETag of the page" 304 "$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $(
	curl -s -D - -o /dev/null "$SERVER_URL/" | tr -d '\r' | sed -n 's/^[Ee][Tt]ag: //p')" \
	"$SERVER_URL/")"
expect_eq "index.html alias" 200 "$(get /index.html | cut -d' ' -f1)"
expect_eq "gzip when accepted" gzip "$(curl -s -H 'Accept-Encoding: gzip' -o /dev/null \
	-w '%header{content-encoding}' "$SERVER_URL/assets/flamegraph/flamegraph.js")"
expect_eq "unknown asset" 404 "$(get /assets/app/nope.js | cut -d' ' -f1)"
expect_eq "no traversal" 404 "$(curl -s --path-as-is -o /dev/null -w '%{http_code}' \
	"$SERVER_URL/assets/app/../../CMakeLists.txt")"
expect_eq "POST on a file" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST \
	"$SERVER_URL/")"

# /api/convert: pprof, folded and perf script in; flamebearer out; nothing stored
conv() {
	curl -s -o "$TMP/conv.json" -w '%{http_code}' --data-binary @"$1" \
		"$SERVER_URL/api/convert${2:-}"
}
# field PATH of the last answer, e.g. metadata.name
field() {
	python3 -c 'import json,sys
v=json.load(open(sys.argv[1]))
for k in sys.argv[2].split("."): v=v[k]
print(v)' "$TMP/conv.json" "$1"
}
expect_eq "convert pprof" 200 "$(conv "$PPROF_DIR/go-cpu.pb.gz")"
expect_eq "pprof: default sample type" cpu "$(field metadata.name)"
expect_eq "pprof: units" "samples 1000000000" "$(field metadata.units) $(field metadata.sampleRate)"
expect_eq "pprof: the types it holds" "['samples', 'cpu']" "$(field sampleTypes)"
expect_contains "pprof: function names" "$TMP/conv.json" '"main.work"'
expect_eq "convert samples" 200 "$(conv "$PPROF_DIR/go-cpu.pb.gz" '?sampleType=samples')"
expect_eq "samples type" samples "$(field metadata.name)"
expect_eq "unknown sample type" 400 "$(conv "$PPROF_DIR/go-cpu.pb.gz" '?sampleType=nope')"
expect_contains "unknown sample type says which exist" "$TMP/conv.json" "cpu"
printf 'main;a 10\nmain;b 30\n' >"$TMP/f.folded"
expect_eq "convert folded" 200 "$(conv "$TMP/f.folded")"
expect_eq "folded total" 40 "$(field flamebearer.numTicks)"
expect_eq "convert perf script" 200 "$(conv "$PERF_DIR/perf-funcab-cmd-01.txt")"
printf 'this is not a profile' >"$TMP/junk"
expect_eq "junk is a 400" 400 "$(conv "$TMP/junk")"
expect_contains "junk: says why" "$TMP/conv.json" "convert:"
: >"$TMP/empty"
expect_eq "empty body" 400 "$(conv "$TMP/empty")"
expect_eq "unknown format" 400 "$(conv "$TMP/f.folded" '?format=png')"
expect_eq "GET convert" 405 "$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_URL/api/convert")"
expect_eq "nothing stored" "[]" \
	"$(curl -s "$SERVER_URL/pyroscope/label-values?label=service_name&from=0")"

server_stop
finish
