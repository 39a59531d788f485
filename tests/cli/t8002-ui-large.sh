#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The web UI on a large range: stores copies of go-large.cpu.pb.gz (about
# 24,000 samples each) spread over the last 90 days, about 1,000,000
# samples in all (8 copies under the sanitizers, where ingest is slow),
# then tests/web/ui_large_test.js times the click on "Last 90 days" until
# the flame graph is drawn (<= 1 s, not asserted under the sanitizers).
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/ui_lib.sh"

ui_need_browser
server_start || finish

NOW=$(date +%s)
COPIES=42
[ "${KILN_SANITIZE:-0}" = 1 ] && COPIES=8 && export KILN_UI_NO_LIMIT=1
for i in $(seq 1 $COPIES); do
	from=$((NOW - i * 180000))
	code=$(curl -s -o "$TMP/ingest.out" -w '%{http_code}' \
		--data-binary @"$PPROF_DIR/go-large.cpu.pb.gz" \
		"$SERVER_URL/ingest?name=big&format=pprof&from=$from&until=$((from + 240))")
	expect_eq "ingest copy $i" 200 "$code"
done
samples=$(curl -s -G "$SERVER_URL/pyroscope/render" --data-urlencode from=now-90d \
	--data-urlencode maxNodes=1 \
	--data-urlencode 'query=process_cpu:samples:count:cpu:nanoseconds{service_name="big"}' |
	python3 -c 'import json,sys; print(json.load(sys.stdin)["flamebearer"]["numTicks"])')
echo "figure: samples in the 90-day range: $samples ($COPIES profiles)"
[ "${samples:-0}" -gt $((COPIES * 20000)) ] && pass ||
	fail "expected about $((COPIES * 24000)) samples, got $samples"

ui_run_browser ui_large_test.js "$SERVER_URL"
server_stop
finish
