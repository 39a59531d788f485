#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t7100: the query API over real HTTP. Two CPU fixtures are ingested into a
# real kiln server under two services, then every read endpoint (current and
# v0 paths) and every render format is asked for: the flamebearer equals what
# `kiln convert` makes of the same file, totals match the input exactly,
# exports re-read with kiln, and bad parameters answer 400 with a message.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
command -v jq >/dev/null || { echo "SKIP: jq not installed"; exit 77; }

CPU_ID=process_cpu:cpu:nanoseconds:cpu:nanoseconds
a="$PPROF_DIR/go-cpu.pb.gz"
b="$PPROF_DIR/go-sample.cpu.pb.gz"
total() { "$KILN" convert "$1" --to folded -sample_index=cpu -o - | awk '{ s += $NF } END { printf "%.0f", s }'; }
ta=$(total "$a")
tb=$(total "$b")
[ "$ta" -gt 0 ] && [ "$tb" -gt 0 ] || fail "fixture totals: $ta $tb"

server_start || finish
now=$(date +%s)

# ingest: svc-a at now-600 s, svc-b at now-300 s (Go SDK style: seconds work too)
ingest() {
	curl -s -o "$TMP/ingest.out" -w '%{http_code}' --data-binary "@$1" \
		-H 'Content-Type: application/octet-stream' \
		"$SERVER_URL/ingest?format=pprof&spyName=gospy&from=$3&until=$(($3 + 10))&name=$2"
}
expect_eq "ingest svc-a" 200 "$(ingest "$a" 'svc-a%7Benv%3Dprod%7D' $((now - 600)))"
expect_eq "ingest svc-b" 200 "$(ingest "$b" 'svc-b%7Benv%3Ddev%7D' $((now - 300)))"

# get PATH OUT [curl args...]: GET with URL-encoded parameters; prints the status
get() {
	local path=$1 out=$2
	shift 2
	curl -s -G -o "$out" -D "$TMP/headers" -w '%{http_code}' "$SERVER_URL$path" "$@"
}

# ---- render json: the same flamebearer kiln convert makes, plus timeline
expect_eq "render json" 200 "$(get /pyroscope/render "$TMP/a.json" \
	--data-urlencode "query=$CPU_ID{service_name=\"svc-a\"}" --data-urlencode from=now-1h \
	--data-urlencode maxNodes=65536)"
expect_eq "numTicks = input total" "$ta" "$(jq .flamebearer.numTicks "$TMP/a.json")"
"$KILN" convert "$a" -sample_index=cpu -o "$TMP/conv.json" || fail "kiln convert to flamebearer"
expect_eq "levels and names as kiln convert" "$(jq -c .flamebearer "$TMP/conv.json")" \
	"$(jq -c .flamebearer "$TMP/a.json")"
expect_eq "metadata" '"single" "gospy" 1000000000 "samples" "cpu"' \
	"$(jq -r '.metadata | "\"\(.format)\" \"\(.spyName)\" \(.sampleRate) \"\(.units)\" \"\(.name)\""' "$TMP/a.json")"
expect_eq "timeline sum" "$ta" "$(jq '[.timeline.samples[]] | add' "$TMP/a.json")"
expect_eq "timeline step" 10 "$(jq .timeline.durationDelta "$TMP/a.json")"
bucket=$(jq --argjson t $((now - 600)) '.timeline.samples[(($t - .timeline.startTime) / .timeline.durationDelta | floor)]' "$TMP/a.json")
expect_eq "the profile lands in its 10 s bucket" "$ta" "$bucket"
expect_eq "groups null" null "$(jq -c .groups "$TMP/a.json")"

# v0 /render with the old app.suffix form, and name= instead of query=
expect_eq "v0 render" 200 "$(get /render "$TMP/v0.json" --data-urlencode 'query=svc-a.cpu' \
	--data-urlencode from=now-1h)"
expect_eq "v0 render numTicks" "$ta" "$(jq .flamebearer.numTicks "$TMP/v0.json")"
expect_eq "v0 render name=" 200 "$(get /render "$TMP/v0.json" --data-urlencode 'name=svc-b.cpu' \
	--data-urlencode from=now-1h)"
expect_eq "v0 render name= numTicks" "$tb" "$(jq .flamebearer.numTicks "$TMP/v0.json")"

# both services, grouped
expect_eq "render groupBy" 200 "$(get /pyroscope/render "$TMP/g.json" \
	--data-urlencode "query=$CPU_ID" --data-urlencode from=now-1h \
	--data-urlencode groupBy=service_name)"
expect_eq "merged numTicks" $((ta + tb)) "$(jq .flamebearer.numTicks "$TMP/g.json")"
expect_eq "group keys" '["svc-a","svc-b"]' "$(jq -c '.groups | keys' "$TMP/g.json")"
expect_eq "group svc-b sum" "$tb" "$(jq '[.groups["svc-b"].samples[]] | add' "$TMP/g.json")"

# maxNodes keeps the total and cuts the tree
get /pyroscope/render "$TMP/small.json" --data-urlencode "query=$CPU_ID" \
	--data-urlencode from=now-1h --data-urlencode max-nodes=10 >/dev/null
expect_eq "truncated numTicks" $((ta + tb)) "$(jq .flamebearer.numTicks "$TMP/small.json")"
expect_eq "other node" true "$(jq '.flamebearer.names | index("other") != null' "$TMP/small.json")"

# span_id selects nothing here: the fixtures carry no span labels
get /pyroscope/render "$TMP/span.json" --data-urlencode "query=$CPU_ID" \
	--data-urlencode from=now-1h --data-urlencode span_id=0123456789abcdef >/dev/null
expect_eq "span_id filter" 0 "$(jq .flamebearer.numTicks "$TMP/span.json")"

# ---- exports
expect_eq "pprof export" 200 "$(get /pyroscope/render "$TMP/a.pb.gz" \
	--data-urlencode "query=$CPU_ID{service_name=\"svc-a\"}" --data-urlencode from=now-1h \
	--data-urlencode format=pprof)"
expect_contains "pprof attachment" "$TMP/headers" "attachment"
expect_eq "pprof export re-read by kiln" "$ta" "$(total "$TMP/a.pb.gz")"
expect_eq "collapsed export" 200 "$(get /render "$TMP/a.folded" --data-urlencode 'query=svc-a.cpu' \
	--data-urlencode from=now-1h --data-urlencode format=collapsed)"
expect_eq "collapsed sum" "$ta" "$(awk '{ s += $NF } END { printf "%.0f", s }' "$TMP/a.folded")"
"$KILN" convert "$a" --to folded -sample_index=cpu -o "$TMP/conv.folded"
expect_eq "collapsed as kiln convert" "" "$(cmp "$TMP/a.folded" "$TMP/conv.folded")"
expect_eq "html export" 200 "$(get /pyroscope/render "$TMP/a.html" --data-urlencode 'query=svc-a.cpu' \
	--data-urlencode from=now-1h --data-urlencode format=html)"
expect_contains "html content type" "$TMP/headers" "text/html"
expect_contains "html page" "$TMP/a.html" "<html"
expect_eq "speedscope export" 200 "$(get /pyroscope/render "$TMP/a.ss.json" \
	--data-urlencode 'query=svc-a.cpu' --data-urlencode from=now-1h --data-urlencode format=speedscope)"
expect_eq "speedscope profiles" 1 "$(jq '.profiles | length' "$TMP/a.ss.json")"

# ---- diff, both paths
for path in /pyroscope/render-diff /render-diff; do
	expect_eq "$path" 200 "$(get $path "$TMP/diff.json" \
		--data-urlencode "leftQuery=$CPU_ID{service_name=\"svc-a\"}" \
		--data-urlencode leftFrom=now-1h --data-urlencode leftUntil=now \
		--data-urlencode "rightQuery=svc-b.cpu" \
		--data-urlencode rightFrom=now-1h --data-urlencode rightUntil=now)"
	expect_eq "$path ticks" "double $ta $tb" \
		"$(jq -r '"\(.metadata.format) \(.leftTicks) \(.rightTicks)"' "$TMP/diff.json")"
	expect_eq "$path 7 ints per node" true \
		"$(jq '[.flamebearer.levels[] | length % 7 == 0] | all' "$TMP/diff.json")"
done

# ---- labels, series, apps
for path in /pyroscope/label-values /label-values; do
	get $path "$TMP/lv.json" --data-urlencode label=service_name --data-urlencode from=now-1h >/dev/null
	expect_eq "$path service_name" '["svc-a","svc-b"]' "$(jq -c . "$TMP/lv.json")"
done
get /pyroscope/label-values "$TMP/lv.json" --data-urlencode label=__name__ \
	--data-urlencode from=now-1h >/dev/null
expect_eq "__name__ values are type ids" true "$(jq --arg id "$CPU_ID" 'index($id) != null' "$TMP/lv.json")"
get /pyroscope/label-values "$TMP/lv.json" --data-urlencode label=env \
	--data-urlencode 'query={service_name="svc-b"}' --data-urlencode from=now-1h >/dev/null
expect_eq "label values under a selector" '["dev"]' "$(jq -c . "$TMP/lv.json")"
for path in /pyroscope/label-names /pyroscope/labels /labels; do
	get $path "$TMP/ln.json" --data-urlencode from=now-1h >/dev/null
	expect_eq "$path" true "$(jq '(index("service_name") != null) and (index("env") != null)' "$TMP/ln.json")"
done
get /pyroscope/series "$TMP/series.json" --data-urlencode 'query={service_name="svc-a"}' \
	--data-urlencode from=now-1h >/dev/null
expect_eq "series of svc-a: two profile types" 2 \
	"$(jq '[.[].__profile_type__] | unique | length' "$TMP/series.json")"
expect_eq "series labels" '["prod"]' "$(jq -c '[.[].env] | unique' "$TMP/series.json")"
get /api/apps "$TMP/apps.json" >/dev/null
expect_eq "apps entry" '{"name":"svc-a.cpu","spyName":"gospy","sampleRate":1000000000,"units":"samples"}' \
	"$(jq -c '.[] | select(.name == "svc-a.cpu")' "$TMP/apps.json")"

# ---- errors: 400 with a message that says what is wrong
expect_err() {
	local what=$1 want=$2 text=$3 path=$4
	shift 4
	expect_eq "$what status" "$want" "$(get "$path" "$TMP/err.txt" "$@")"
	expect_contains "$what message" "$TMP/err.txt" "$text"
}
expect_err "no query" 400 "query is required" /pyroscope/render
expect_err "bad selector" 400 "selector" /pyroscope/render --data-urlencode 'query={service_name="x}'
expect_err "bad from" 400 "from" /pyroscope/render --data-urlencode query=svc-a.cpu \
	--data-urlencode from=yesterday
expect_err "bad maxNodes" 400 "maxNodes" /pyroscope/render --data-urlencode query=svc-a.cpu \
	--data-urlencode maxNodes=1e9
expect_err "bad format" 400 "unknown format" /pyroscope/render --data-urlencode query=svc-a.cpu \
	--data-urlencode format=png
expect_err "two types" 400 "profile type" /pyroscope/render \
	--data-urlencode 'query={service_name="svc-a"}' --data-urlencode from=now-1h
expect_err "no label" 400 "label is required" /pyroscope/label-values

server_stop
finish
