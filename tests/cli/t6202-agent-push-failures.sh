#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t6202: a server that is down, slow, failing or talking garbage never
# hurts the host (prog_tags, which prints its work and kiln_stop times and
# the agent's upload counters):
#   - down (connection refused): failures counted, one warning line, the
#     program's work and exit are not delayed beyond the upload timeout;
#   - slow (5 s per answer, 1 s timeout, queue of 2): the work takes no
#     longer than with a server that answers at once, within 3x + 3 s for a
#     busy machine (the work shares 2 cores with the rest of the suite);
#     waiting on uploads would add at least the 1 s timeout per 100 ms
#     upload interval, i.e. ten times the work, so the bound still catches
#     it; full-queue drops are counted and warned about once;
#   - 500 and 429: each profile is retried (the same from= seen again),
#     then dropped; a 400 is not retried;
#   - garbage that is not HTTP: retried, then dropped;
#   - 503, 503, then 200: the retry gets the profile through.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/agent_export_lib.sh"
agent_need prog_tags

# run_tags NAME URL [VAR=VALUE...]: prog_tags for 1 s of CPU pushing to URL;
# its stdout in $TMP/NAME.out, stderr in $TMP/NAME.err
run_tags() {
	local name=$1 url=$2
	shift 2
	env KILN_SERVER_ADDRESS="$url" KILN_UPLOAD_INTERVAL=300ms KILN_UPLOAD_TIMEOUT=1s "$@" \
		"$PROGS/prog_tags" "" 1 >"$TMP/$name.out" 2>"$TMP/$name.err"
	expect_eq "$name: exit status" 0 $?
	expect_contains "$name: ran to the end" "$TMP/$name.out" "prog_tags: done"
}

# stat NAME KEY: a number prog_tags printed (work_ms, stop_ms, uploads, failed, dropped)
stat() {
	tr ' ' '\n' <"$TMP/$1.out" | awk -F= -v k="$2" '$1 == k { print $2 }'
}

# at_most WHAT GOT MAX
at_most() {
	if [ "${2:-999999}" -le "$3" ]; then pass; else fail "$1: $2 > $3"; fi
}

# retried: some from= value was sent more than once
retried() {
	python3 - "$RX_DIR" <<'EOF'
import glob, json, sys, collections
c = collections.Counter(json.load(open(p))["query"]["from"][0]
                        for p in glob.glob(sys.argv[1] + "/req-*.json"))
sys.exit(0 if c and max(c.values()) > 1 else 1)
EOF
}

# --- baseline: a server that answers at once, same intervals --------------------------------
rx_start base ok
run_tags base "$RX_URL" KILN_UPLOAD_INTERVAL=100ms KILN_UPLOAD_QUEUE=2
base_ms=$(stat base work_ms)
expect_eq "base: no failure" 0 "$(stat base failed)"

# --- down -------------------------------------------------------------------------------------
port=$(free_port)
run_tags down "http://127.0.0.1:$port"
expect_eq "down: uploads" 0 "$(stat down uploads)"
if [ "$(stat down failed)" -ge 1 ]; then pass; else fail "down: no failure counted"; fi
expect_eq "down: one warning line" 1 "$(wc -l <"$TMP/down.err")"
expect_contains "down: the warning says why" "$TMP/down.err" "kiln: upload of the cpu profile to http://127.0.0.1:$port failed"
at_most "down: kiln_stop ms (timeout 1 s)" "$(stat down stop_ms)" 1500
at_most "down: work ms vs 3 x baseline $base_ms + 3000" "$(stat down work_ms)" $((3 * base_ms + 3000))

# --- slow ---------------------------------------------------------------------------------------
rx_start slow slow:5
run_tags slow "$RX_URL" KILN_UPLOAD_INTERVAL=100ms KILN_UPLOAD_QUEUE=2
at_most "slow: work ms vs 3 x baseline $base_ms + 3000" "$(stat slow work_ms)" $((3 * base_ms + 3000))
at_most "slow: kiln_stop ms (timeout 1 s)" "$(stat slow stop_ms)" 2500
if [ "$(stat slow dropped)" -ge 1 ]; then pass; else fail "slow: no queue drop counted"; fi
expect_eq "slow: the full queue is warned about once" 1 \
	"$(grep -c 'upload queue full' "$TMP/slow.err")"

# --- 500, 429, 400 --------------------------------------------------------------------------------
for code in 500 429; do
	rx_start "s$code" "status:$code"
	run_tags "s$code" "$RX_URL"
	expect_eq "$code: uploads" 0 "$(stat s$code uploads)"
	if [ "$(stat s$code failed)" -ge 1 ]; then pass; else fail "$code: no failure counted"; fi
	expect_contains "$code: warning" "$TMP/s$code.err" "HTTP $code"
	if retried; then pass; else fail "$code: no profile was sent twice"; fi
done
rx_start s400 status:400
run_tags s400 "$RX_URL"
if retried; then fail "400: a profile was retried"; else pass; fi
if [ "$(stat s400 failed)" -ge 1 ]; then pass; else fail "400: no failure counted"; fi

# --- garbage ----------------------------------------------------------------------------------------
rx_start garbage garbage
run_tags garbage "$RX_URL"
expect_eq "garbage: uploads" 0 "$(stat garbage uploads)"
if retried; then pass; else fail "garbage: no profile was sent twice"; fi
expect_eq "garbage: one warning line" 1 "$(wc -l <"$TMP/garbage.err")"

# --- flaky: 503 twice, then fine -----------------------------------------------------------------------
rx_start flaky flaky:2
run_tags flaky "$RX_URL"
if [ "$(stat flaky uploads)" -ge 1 ]; then pass; else fail "flaky: nothing got through"; fi
if retried; then pass; else fail "flaky: no retry after 503"; fi
expect_eq "flaky: no failure left" 0 "$(stat flaky failed)"
finish
