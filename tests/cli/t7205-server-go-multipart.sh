#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t7205: uploads exactly as pyroscope-go makes them - multipart/form-data
# with a `profile` part and the `sample_type_config` JSON the Go SDK sends
# per profile kind, no format parameter, from/until in nanoseconds, spyName
# gospy - for the Go fixtures (cpu, heap, allocs, goroutine, mutex, block).
# The display-name renames (contentions -> mutex_count, delay ->
# block_duration ...) must show in the profile types, every type must read
# back with its exact total, and a prev_profile part is refused with 400.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/loadgen_lib.sh"

heap='{"alloc_objects":{"units":"objects"},"alloc_space":{"units":"bytes"},"inuse_objects":{"units":"objects","aggregation":"average"},"inuse_space":{"units":"bytes","aggregation":"average"}}'
mutex='{"contentions":{"display-name":"mutex_count","units":"lock_samples"},"delay":{"display-name":"mutex_duration","units":"lock_nanoseconds"}}'
block='{"contentions":{"display-name":"block_count","units":"lock_samples"},"delay":{"display-name":"block_duration","units":"lock_nanoseconds"}}'
cases=(
	"cpu go-cpu.pb.gz -"
	"heap go-heap.pb.gz $heap"
	"allocs go-allocs.pb.gz $heap"
	"goroutine go-goroutine.pb.gz -"
	"mutex go-mutex.pb.gz $mutex"
	"block go-block.pb.gz $block"
)
server_start || finish
from=$((($(date +%s) - 600) * 1000000000))
until=$((from + 15000000000))
for c in "${cases[@]}"; do
	read -r kind file stc <<<"$c"
	args=()
	[ "$stc" = - ] || args=(--stc "$stc")
	python3 "$CLIENT" multipart "${args[@]}" "$PPROF_DIR/$file" >"$TMP/body.$kind"
	python3 "$CLIENT" info "${args[@]}" "$PPROF_DIR/$file" >"$TMP/info.$kind"
	code=$(curl -s -o "$TMP/resp" -w '%{http_code}' --data-binary "@$TMP/body.$kind" \
		-H "Content-Type: multipart/form-data; boundary=b7a1c3d5e9f0kilntest" \
		"$SERVER_URL/ingest?name=goapp-$kind%7Benv%3Dgo%7D&from=$from&until=$until&spyName=gospy&sampleRate=100")
	expect_eq "multipart upload of $kind: $(head -c 200 "$TMP/resp")" 200 "$code"
done

curl -s "$SERVER_URL/pyroscope/label-values?label=__profile_type__&from=now-1h" >"$TMP/types"
for t in mutex:mutex_count:count:contentions:count mutex:mutex_duration:nanoseconds:contentions:count \
	block:block_count:count:contentions:count block:block_duration:nanoseconds:contentions:count \
	memory:inuse_space:bytes:space:bytes process_cpu:cpu:nanoseconds:cpu:nanoseconds \
	goroutine:goroutine:count:goroutine:count; do
	expect_contains "profile type after sample_type_config" "$TMP/types" "\"$t\""
done
for c in "${cases[@]}"; do
	read -r kind file stc <<<"$c"
	python3 - "$TMP/info.$kind" "$SERVER_URL" "goapp-$kind" $((from / 1000000000)) >"$TMP/check" 2>&1 <<'EOF'
import json, sys, urllib.parse, urllib.request
info, url, svc, t = json.load(open(sys.argv[1])), sys.argv[2], sys.argv[3], int(sys.argv[4])
bad = 0
for ptype, want in zip(info["ptypes"], info["totals"]):
    q = urllib.parse.urlencode({"query": '%s{service_name="%s",env="go"}' % (ptype, svc),
                                "from": t - 60, "until": t + 60, "format": "json"})
    got = json.load(urllib.request.urlopen(url + "/pyroscope/render?" + q))["flamebearer"]["numTicks"]
    if got != want:
        print("%s %s: numTicks %d, want %d" % (svc, ptype, got, want))
        bad += 1
print("%d types checked" % len(info["ptypes"]))
sys.exit(1 if bad else 0)
EOF
	if [ $? = 0 ]; then pass; else fail "$kind: $(cat "$TMP/check")"; fi
done

# the obsolete cumulative protocol is refused with a message
{
	printf -- '--B\r\nContent-Disposition: form-data; name="profile"\r\n\r\nx\r\n'
	printf -- '--B\r\nContent-Disposition: form-data; name="prev_profile"\r\n\r\nx\r\n--B--\r\n'
} >"$TMP/prev"
code=$(curl -s -o "$TMP/resp" -w '%{http_code}' --data-binary "@$TMP/prev" \
	-H "Content-Type: multipart/form-data; boundary=B" \
	"$SERVER_URL/ingest?name=goapp-prev&from=$from&until=$until")
expect_eq "prev_profile upload" 400 "$code"
expect_contains "prev_profile message" "$TMP/resp" prev_profile
server_stop
finish
