#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6201: pushes to a real HTTP endpoint on 127.0.0.1 (tests/agent/receiver.py)
# are Pyroscope /ingest requests (check_ingest.py): name app{static tags},
# spyName=kiln, sampleRate, ns from/until that follow each other, multipart
# profile + sample_type_config, Bearer or Basic auth and X-Scope-OrgID when
# set. The uploaded profiles, summed, hold the run's samples with the
# dynamic tags as pprof labels in the shares burned; go tool pprof and
# kiln top read them. Lock profiles carry Pyroscope's mutex renames.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_pprof_lib.sh"
source "$(dirname "$0")/agent_export_lib.sh"
need_go_pprof
agent_need prog_tags prog_cpu prog_lock
CHECK="$KILN_SRC/tests/agent/check_ingest.py"

# sum_uploads DIR: label_sums over every uploaded profile, added up
sum_uploads() {
	local f
	for f in "$1"/req-*.profile; do label_sums "$f"; done |
		awk '{ s[$1] += $2 } END { for (k in s) print k, s[k] }'
}

# --- linked API, tags, bearer token and tenant ---------------------------------------------
rx_start tags ok
KILN_SERVER_ADDRESS="$RX_URL" KILN_TAGS=region=eu,env=test KILN_AUTH_TOKEN=tok123 \
	KILN_TENANT_ID=team-a KILN_UPLOAD_INTERVAL=300ms \
	"$PROGS/prog_tags" "" 2 >"$TMP/out" 2>"$TMP/err"
expect_eq "prog_tags exit status" 0 $?
expect_eq "agent stderr" "" "$(cat "$TMP/err")"
n=$(rx_count)
if [ "$n" -ge 3 ]; then pass; else fail "only $n uploads in 2+ s at a 300 ms interval"; fi
python3 "$CHECK" "$RX_DIR" 'prog_tags{region=eu,env=test}' 250 \
	"Authorization=Bearer tok123" "X-Scope-OrgID=team-a" >"$TMP/check"
expect_eq "ingest requests (tags)" 0 $?
grep FAIL "$TMP/check" >&2
sum_uploads "$RX_DIR" >"$TMP/sums"
total=$(sum_of "$TMP/sums" total)
# 2 s of CPU at 250 Hz = 500 samples, all of them uploaded
within "samples uploaded" "$total" 500 15
share_pp "vehicle=car in the uploads" "$(sum_of "$TMP/sums" vehicle=car)" "$total" 50 4
share_pp "vehicle=bike in the uploads" "$(sum_of "$TMP/sums" vehicle=bike)" "$total" 30 4
"$KILN" top "$RX_DIR/req-1.profile" >"$TMP/top" 2>&1
expect_contains "kiln top reads an upload" "$TMP/top" "burn"

# --- LD_PRELOAD, basic auth, default application name, cpu + lock ----------------------------
rx_start preload ok
LD_PRELOAD="$LIBKILN" KILN_SERVER_ADDRESS="$RX_URL/" KILN_BASIC_AUTH=user:pw \
	KILN_PROFILES=cpu KILN_UPLOAD_INTERVAL=500ms "$PROGS/prog_cpu" 1 1 >/dev/null 2>"$TMP/err"
expect_eq "prog_cpu exit status" 0 $?
expect_eq "agent stderr (preload)" "" "$(cat "$TMP/err")"
python3 "$CHECK" "$RX_DIR" prog_cpu 100 "Authorization=Basic dXNlcjpwdw==" >"$TMP/check"
expect_eq "ingest requests (preload)" 0 $?
grep FAIL "$TMP/check" >&2

rx_start lock ok
LD_PRELOAD="$LIBKILN" KILN_SERVER_ADDRESS="$RX_URL" KILN_PROFILES=lock \
	KILN_APPLICATION_NAME=locky "$PROGS/prog_lock" contended >/dev/null 2>"$TMP/err"
expect_eq "prog_lock exit status" 0 $?
python3 "$CHECK" "$RX_DIR" locky - >"$TMP/check"
expect_eq "ingest requests (lock)" 0 $?
grep FAIL "$TMP/check" >&2
expect_contains "lock sample_type_config" "$RX_DIR/req-1.sample_type_config" '"display-name":"mutex_count"'
go tool pprof -raw "$RX_DIR/req-1.profile" >"$TMP/raw" 2>&1
expect_contains "lock profile types" "$TMP/raw" "contentions/count delay/nanoseconds"
finish
