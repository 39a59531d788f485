#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t7204: a clean restart keeps everything, and long ranges work. 90 days of
# hourly profiles for two services (kiln-loadgen --backfill) plus a few
# live ones go in; a 90-day render must hold every acknowledged value and
# its timeline must cover the whole range. After SIGTERM (exit 0) and a
# restart on the same --data-dir the flame graph, timeline and label
# values must be identical, and new data must add up on top.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/loadgen_lib.sh"
need_loadgen

# cpu_sum ACKLOG SERVICE: sum of the service's acknowledged cpu:nanoseconds
cpu_sum() { ack_sum "$1" "\$2 == 200 && index(\$3, \"$2{\") == 1"; }
# render SERVICE OUT: 90-day json render of one service into OUT; prints numTicks
now=$(date +%s)
render() {
	curl -s -G "$SERVER_URL/pyroscope/render" --data-urlencode "query=$PTYPE{service_name=\"$1\"}" \
		--data-urlencode "from=now-90d" --data-urlencode "until=now" --data-urlencode format=json \
		-o "$2" -w '%{http_code}' >"$2.code"
	python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["flamebearer"]["numTicks"])' "$2" 2>&1
}

server_start || finish
data=$SERVER_DATA
"$LOADGEN" --url "$SERVER_URL" --backfill 89d --step 3600 --services 2 --prefix hist \
	--connections 4 --duration 120 --ack-log "$TMP/acks" >"$TMP/lg1.out" 2>&1
expect_eq "backfill of 89 days x 2 services acknowledged" 0 $?
"$LOADGEN" --url "$SERVER_URL" --services 2 --prefix hist --count 20 --ack-log "$TMP/acks2" \
	>"$TMP/lg2.out" 2>&1
expect_eq "live profiles acknowledged" 0 $?
n=$(acks_count "$TMP/acks" "$TMP/acks2")
expect_eq "acknowledged profiles" $((89 * 24 * 2 + 20)) "$n"

for s in hist-0 hist-1; do
	want=$(($(cpu_sum "$TMP/acks" $s) + $(cpu_sum "$TMP/acks2" $s)))
	expect_eq "90-day render of $s: numTicks" "$want" "$(render $s "$TMP/$s.before")"
	expect_eq "90-day render of $s: status" 200 "$(cat "$TMP/$s.before.code")"
done
# the timeline spans the range: data in its first and last tenth
python3 - "$TMP/hist-0.before" >"$TMP/tl" 2>&1 <<'EOF'
import json, sys
tl = json.load(open(sys.argv[1]))["timeline"]
s = tl["samples"]
n = max(1, len(s) // 10)
print(len(s), tl["durationDelta"], sum(s[:n]) > 0, sum(s[-n:]) > 0)
EOF
read -r nb step first last <"$TMP/tl"
[ "$first" = True ] && [ "$last" = True ] && pass ||
	fail "90-day timeline does not cover the range: $(cat "$TMP/tl")"
echo "90-day timeline: $nb buckets of $step s"
# hist_values: the hist-* service names the server lists (self-profiling may add its own)
hist_values() {
	curl -s "$SERVER_URL/pyroscope/label-values?label=service_name&from=now-90d" |
		python3 -c 'import json,sys; print(" ".join(v for v in json.load(sys.stdin) if v.startswith("hist-")))' 2>&1
}
expect_eq "service names" "hist-0 hist-1" "$(hist_values)"

server_stop || finish
server_start --data-dir "$data" || finish
for s in hist-0 hist-1; do
	render $s "$TMP/$s.after" >/dev/null
	# the same flame graph and timeline (the timeline's start moves with now: compare samples)
	python3 - "$TMP/$s.before" "$TMP/$s.after" >"$TMP/cmp" 2>&1 <<'EOF'
import json, sys
a, b = (json.load(open(f)) for f in sys.argv[1:3])
same_fb = a["flamebearer"] == b["flamebearer"]
sa, sb = a["timeline"]["samples"], b["timeline"]["samples"]
print("flamebearer", "same" if same_fb else "differs", "timeline_sum", sum(sa), sum(sb))
sys.exit(0 if same_fb and sum(sa) == sum(sb) else 1)
EOF
	if [ $? = 0 ]; then pass; else fail "$s after restart: $(cat "$TMP/cmp")"; fi
done
expect_eq "service names after restart" "hist-0 hist-1" "$(hist_values)"

"$LOADGEN" --url "$SERVER_URL" --services 1 --prefix hist --count 10 --ack-log "$TMP/acks3" \
	>"$TMP/lg3.out" 2>&1
want=$(($(cpu_sum "$TMP/acks" hist-0) + $(cpu_sum "$TMP/acks2" hist-0) + $(cpu_sum "$TMP/acks3" hist-0)))
expect_eq "hist-0 after new ingest" "$want" "$(render hist-0 "$TMP/hist-0.new")"
server_stop
finish
