#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6207: the agent pushing to a real `kiln server`. prog_tags (2 s of CPU at
# 250 Hz, tags region=eu) lands as series of process_cpu with its static
# tag and its dynamic tags as series labels: the whole run's CPU time is
# queryable, vehicle="car" selects half of it, vehicle="bike" 30%; the
# spy is "kiln". A lock profile (prog_lock) is filed under mutex thanks to
# the sample_type_config renames.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/agent_export_lib.sh"
trap '_server_cleanup; _agent_cleanup' EXIT
agent_need prog_tags prog_lock
command -v jq >/dev/null || { echo "SKIP: jq missing"; exit 77; }
CPU='process_cpu:cpu:nanoseconds:cpu:nanoseconds'

server_start || finish
KILN_SERVER_ADDRESS="$SERVER_URL" KILN_TAGS=region=eu KILN_UPLOAD_INTERVAL=500ms \
	"$PROGS/prog_tags" "" 2 >"$TMP/out" 2>"$TMP/err"
expect_eq "prog_tags exit status" 0 $?
expect_eq "agent stderr" "" "$(cat "$TMP/err")"
expect_contains "no failed upload" "$TMP/out" "failed=0 dropped=0"

# ticks SELECTOR: the cpu nanoseconds the server holds for it over the last hour
ticks() {
	curl -s -G "$SERVER_URL/pyroscope/render" --data-urlencode "query=$CPU$1" \
		--data-urlencode from=now-1h --data-urlencode until=now+1m -o "$TMP/r.json"
	jq .flamebearer.numTicks "$TMP/r.json"
}
all=$(ticks '{service_name="prog_tags"}')
within() {
	if awk -v g="$2" -v w="$3" -v p="$4" 'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= w * p / 100) }'
	then pass; else fail "$1: got $2, want $3 +-$4%"; fi
}
within "cpu ns stored for the run" "$all" 2000000000 15
expect_eq "static tag selects the run" "$all" "$(ticks '{service_name="prog_tags",region="eu"}')"
share_pp "vehicle=car series" "$(ticks '{service_name="prog_tags",vehicle="car"}')" "$all" 50 4
share_pp "vehicle=bike series" "$(ticks '{service_name="prog_tags",vehicle="bike"}')" "$all" 30 4
curl -s -G "$SERVER_URL/pyroscope/label-values" --data-urlencode label=pyroscope_spy \
	--data-urlencode from=now-1h --data-urlencode until=now+1m >"$TMP/spy"
expect_contains "spy name" "$TMP/spy" '"kiln"'

LD_PRELOAD="$LIBKILN" KILN_SERVER_ADDRESS="$SERVER_URL" KILN_PROFILES=lock \
	KILN_APPLICATION_NAME=locky "$PROGS/prog_lock" contended >/dev/null 2>"$TMP/err"
expect_eq "prog_lock exit status" 0 $?
curl -s -G "$SERVER_URL/pyroscope/label-values" --data-urlencode label=__name__ \
	--data-urlencode from=now-1h --data-urlencode until=now+1m >"$TMP/names"
expect_contains "lock filed under mutex" "$TMP/names" '"mutex:mutex_duration:nanoseconds:contentions:count"'
finish
