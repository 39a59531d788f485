#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t7201: the real @pyroscope/nodejs client (pinned in tests/node/package.json,
# installed once into $KILN_BUILD/node-client so reruns are offline) profiles
# tests/node/client.js - two named functions under wrapWithLabels - and
# uploads to kiln server. The functions must appear in /pyroscope/render,
# the labels (wrapWithLabels, tags, the client's dotted otel.* tags) must be
# queryable, and selecting by label must give each function alone.
# Skips (77) only when node/npm are missing or the npm registry is unreachable.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/loadgen_lib.sh"
command -v node >/dev/null && command -v npm >/dev/null ||
	{ echo "SKIP: node and npm are needed"; exit 77; }

src="$(cd "$(dirname "$0")/../node" && pwd)"
dir="${KILN_BUILD:-$(dirname "$KILN")/..}/node-client"
mkdir -p "$dir"
if ! cmp -s "$src/package-lock.json" "$dir/package-lock.json" ||
	[ ! -f "$dir/node_modules/@pyroscope/nodejs/package.json" ]; then
	cp "$src/package.json" "$src/package-lock.json" "$dir/"
	if ! (cd "$dir" && timeout 300 npm ci --cache "$dir/npm-cache" --prefer-offline \
		--no-audit --no-fund) >"$TMP/npm.log" 2>&1; then
		if ! timeout 30 npm ping >/dev/null 2>&1; then
			echo "SKIP: npm cannot reach the registry to install @pyroscope/nodejs:"
			tail -3 "$TMP/npm.log"
			exit 77
		fi
		fail "npm ci of @pyroscope/nodejs failed: $(tail -c 1000 "$TMP/npm.log")"
		finish
	fi
fi
cp "$src/client.js" "$dir/client.js"

server_start || finish
t0=$(($(date +%s) - 60))
# DEBUG=pyroscope makes the client log every upload the server rejects
if (cd "$dir" && KILN_URL="$SERVER_URL" DEBUG=pyroscope timeout 60 node client.js 4) \
	>"$TMP/node.out" 2>"$TMP/node.err"; then
	pass
else
	fail "node client.js: $(tail -c 600 "$TMP/node.err")"
fi
if grep -qiE 'rejected|error sending' "$TMP/node.err"; then
	fail "the server rejected uploads: $(grep -iE 'rejected|error sending' -A2 "$TMP/node.err" | head -c 600)"
else
	pass
fi
t1=$(($(date +%s) + 60))

# get PATH NAME=VALUE...: GET with the parameters URL-encoded (and from/until)
# into $TMP/get.out; echoes the status
get() {
	local path=$1 a args=()
	shift
	for a in "from=$t0" "until=$t1" "$@"; do args+=(--data-urlencode "$a"); done
	curl -s -G -o "$TMP/get.out" -w '%{http_code}' "${args[@]}" "$SERVER_URL$path"
}
# values LABEL: the JSON array of label-values, one per line
values() {
	[ "$(get /pyroscope/label-values "label=$1")" = 200 ] || { echo "status!=200"; return; }
	python3 -c 'import json,sys; print("\n".join(json.load(open(sys.argv[1]))))' "$TMP/get.out"
}

values __profile_type__ >"$TMP/types"
for t in wall:wall:nanoseconds:wall:nanoseconds wall:cpu:nanoseconds:wall:nanoseconds \
	memory:inuse_space:bytes:inuse_space:bytes; do
	grep -qxF "$t" "$TMP/types" && pass || fail "profile type $t not listed: $(head -c 400 "$TMP/types")"
done
for l in service_name region endpoint otel.scope.name; do values $l >"$TMP/values.$l"; done
expect_contains "service_name values" "$TMP/values.service_name" kiln-node-test
expect_contains "region values (a tag)" "$TMP/values.region" eu-test
expect_contains "endpoint values (wrapWithLabels)" "$TMP/values.endpoint" fib
expect_contains "endpoint values (wrapWithLabels)" "$TMP/values.endpoint" hash
expect_contains "otel.scope.name values (the client's dotted tag)" "$TMP/values.otel.scope.name" \
	com.grafana.pyroscope/nodejs

for ptype in wall:wall:nanoseconds:wall:nanoseconds wall:cpu:nanoseconds:wall:nanoseconds; do
	sel="$ptype{service_name=\"kiln-node-test\",region=\"eu-test\"}"
	code=$(get /pyroscope/render "query=$sel" format=json)
	expect_eq "render $sel format=json" 200 "$code"
	python3 -c 'import json, sys
fb = json.load(open(sys.argv[1]))["flamebearer"]
print("\n".join(fb["names"]))
print("numTicks", fb["numTicks"])' "$TMP/get.out" >"$TMP/names" 2>&1
	expect_contains "$ptype flame graph" "$TMP/names" kilnFibonacciWork
	expect_contains "$ptype flame graph" "$TMP/names" kilnHashWork
	grep -q '^numTicks [1-9]' "$TMP/names" && pass || fail "$ptype: numTicks 0: $(tail -1 "$TMP/names")"
done

# selecting by the wrapWithLabels label gives each function alone
ptype=wall:cpu:nanoseconds:wall:nanoseconds
for pair in fib:kilnFibonacciWork:kilnHashWork hash:kilnHashWork:kilnFibonacciWork; do
	IFS=: read -r ep want other <<<"$pair"
	code=$(get /pyroscope/render "query=$ptype{service_name=\"kiln-node-test\",endpoint=\"$ep\"}" \
		format=collapsed)
	expect_eq "render endpoint=$ep format=collapsed" 200 "$code"
	expect_contains "endpoint=$ep stacks" "$TMP/get.out" "$want"
	if grep -q "$other" "$TMP/get.out"; then fail "endpoint=$ep stacks hold $other"; else pass; fi
done
server_stop
finish
