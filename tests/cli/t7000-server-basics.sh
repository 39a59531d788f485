#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln server basics: --help documents every setting (and docs/server.md
# too), bad flags / variables / YAML values exit 2 naming the setting and
# its source, flags > environment > YAML > defaults (seen in /metrics),
# /healthz /ready /metrics answer (metrics in valid Prometheus text), a
# second server on the same data directory is refused, SIGTERM and SIGINT
# stop it with exit 0, after finishing a request in flight.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"

# --- --help --------------------------------------------------------------------
expect_exit 0 "server --help" "$KILN" server --help
cp "$TMP/out" "$TMP/help"
flags=$(grep -oE '^  --[a-z-]+' "$TMP/help" | sed 's/^  //' | sort -u)
[ "$(echo "$flags" | wc -l)" -ge 30 ] && pass || fail "--help lists only: $flags"
for f in $flags; do
	[ "$f" = "--port-file" ] && continue
	env=KILN_$(echo "${f#--}" | tr 'a-z-' 'A-Z_')
	grep -qF "env $env," "$TMP/help" && pass || fail "--help: no variable $env for $f"
	if [ -f "$KILN_SRC/docs/server.md" ]; then
		grep -qF -- "$f" "$KILN_SRC/docs/server.md" && pass ||
			fail "docs/server.md does not document $f"
	fi
done

# --- bad settings: exit 2, one line naming the setting and the source ------------
expect_exit 2 "unknown flag" "$KILN" server --no-such-flag
expect_contains "unknown flag message" "$TMP/err" "unknown flag '--no-such-flag'"
expect_exit 2 "bad flag value" "$KILN" server --max-request-bytes lots
expect_contains "bad flag message" "$TMP/err" "--max-request-bytes: bad value 'lots'"
expect_eq "one line" 1 "$(wc -l <"$TMP/err")"
KILN_RETENTION=forever expect_exit 2 "bad variable" "$KILN" server
expect_contains "bad variable message" "$TMP/err" "KILN_RETENTION: bad value 'forever'"
printf 'listen: 127.0.0.1:0\nsync: sometimes\n' >"$TMP/bad.yaml"
expect_exit 2 "bad yaml value" "$KILN" server --config "$TMP/bad.yaml"
expect_contains "bad yaml message" "$TMP/err" "$TMP/bad.yaml:2: bad value 'sometimes' for sync"
printf 'listen: 127.0.0.1:0\nflux_capacitor: 1\n' >"$TMP/bad2.yaml"
expect_exit 2 "unknown yaml key" "$KILN" server --config "$TMP/bad2.yaml"
expect_contains "unknown yaml key message" "$TMP/err" "unknown setting 'flux_capacitor'"
printf 'listen: [oops\n' >"$TMP/bad3.yaml"
expect_exit 2 "broken yaml" "$KILN" server --config "$TMP/bad3.yaml"
expect_contains "broken yaml message" "$TMP/err" "bad YAML"
expect_exit 2 "missing config" "$KILN" server --config "$TMP/none.yaml"
expect_exit 2 "tls cert without key" "$KILN" server --tls-cert "$TMP/x.pem"
expect_exit 2 "auth without tokens" "$KILN" server --auth
expect_exit 2 "positional argument" "$KILN" server extra

# --- precedence: flag > environment > YAML > default --------------------------------
limit() { curl -s "$SERVER_URL/metrics" | awk '$1 == "kiln_limit_max_request_bytes" { print $2 }'; }
printf '# a comment\nmax_request_bytes: 1MiB\nmax-series: 777\n' >"$TMP/cfg.yaml"
server_start --config "$TMP/cfg.yaml" || finish
expect_eq "yaml value" 1048576 "$(limit)"
curl -s "$SERVER_URL/metrics" | grep -qx 'kiln_limit_max_series 777' && pass ||
	fail "yaml max-series not applied"
server_stop
KILN_MAX_REQUEST_BYTES=2MiB server_start --config "$TMP/cfg.yaml" || finish
expect_eq "env beats yaml" 2097152 "$(limit)"
server_stop
KILN_CONFIG="$TMP/cfg.yaml" KILN_MAX_REQUEST_BYTES=2MiB server_start --max-request-bytes=3MB ||
	finish
expect_eq "flag beats env" 3000000 "$(limit)"
curl -s "$SERVER_URL/metrics" | grep -qx 'kiln_limit_max_series 777' && pass ||
	fail "KILN_CONFIG file not read"
server_stop
server_start || finish
expect_eq "default" 16777216 "$(limit)"

# --- operational endpoints ------------------------------------------------------
expect_eq "/healthz" "200 ok" "$(curl -s -w '%{http_code} ' -o "$TMP/h" "$SERVER_URL/healthz"; cat "$TMP/h")"
expect_eq "/ready" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_URL/ready")"
expect_eq "404" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_URL/secret/path")"
expect_eq "405" 405 "$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$SERVER_URL/healthz")"
expect_eq "ingest by GET is 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_URL/ingest")"
curl -s "$SERVER_URL/metrics" >"$TMP/metrics"
python3 - "$TMP/metrics" <<'PY' && pass || fail "/metrics is not valid Prometheus text"
import re, sys
names = set()
line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? (\S+)$')
for line in open(sys.argv[1]):
    line = line.rstrip('\n')
    if line.startswith('#'):
        assert re.match(r'^# (HELP|TYPE) \S+ ', line), line
        continue
    m = line_re.match(line)
    assert m, line
    float(m.group(4).replace('+Inf', 'inf'))
    names.add(m.group(1))
for want in ['kiln_build_info', 'kiln_ingest_profiles_total', 'kiln_ingest_requests_total',
             'kiln_ingest_bytes_total', 'kiln_discarded_total', 'kiln_store_series',
             'kiln_store_disk_bytes', 'kiln_store_wal_lag_bytes', 'kiln_store_head_bytes',
             'kiln_store_blocks', 'kiln_http_request_duration_seconds_bucket',
             'kiln_http_request_duration_seconds_count']:
    assert want in names, want
PY
grep -q 'kiln_http_request_duration_seconds_count{route="/healthz"} [1-9]' "$TMP/metrics" &&
	pass || fail "healthz latency not recorded"
# gzip responses when asked for and worth it
curl -s -D "$TMP/hdr" -H 'Accept-Encoding: gzip' -o "$TMP/m.gz" "$SERVER_URL/metrics"
grep -qi '^Content-Encoding: gzip' "$TMP/hdr" && pass || fail "/metrics not gzipped"
gzip -dc "$TMP/m.gz" | grep -q '^kiln_build_info' && pass || fail "gzipped /metrics unreadable"
# keep-alive: several requests over one connection, errors without a body included
curl -s -v "$SERVER_URL/nowhere" "$SERVER_URL/healthz" "$SERVER_URL/ready" 2>"$TMP/v" >/dev/null
grep -q 'Re-using existing connection' "$TMP/v" && pass || fail "no keep-alive: $(grep -i conn "$TMP/v")"

# --- one process per data directory; port in use ------------------------------------
expect_exit 1 "second server, same data dir" timeout 20 "$KILN" server --listen 127.0.0.1:0 \
	--data-dir "$SERVER_DATA"
grep -q 'error cannot start' "$TMP/err" && pass || fail "no error line: $(cat "$TMP/err")"
expect_exit 1 "port in use" timeout 20 "$KILN" server --listen "127.0.0.1:$SERVER_PORT" \
	--data-dir "$TMP/other"
expect_contains "port in use message" "$TMP/err" "cannot listen on 127.0.0.1:$SERVER_PORT"
server_stop
grep -q ' info stopped' "$SERVER_LOG" && pass || fail "no 'stopped' line: $(tail -3 "$SERVER_LOG")"
grep -qE '^[0-9T:.-]+Z info listening on' "$SERVER_LOG" && pass || fail "log line format"

# SIGTERM during a slow upload: the request finishes (200), then the server exits 0
server_start || finish
curl -s -o "$TMP/slow.out" -w '%{http_code}' --limit-rate 400K \
	--data-binary "@$PPROF_DIR/go-large.cpu.pb.gz" \
	"$SERVER_URL/ingest?format=pprof&name=slow-upload" >"$TMP/slow.code" &
curl_pid=$!
inflight=""
for i in $(seq 400); do
	n=$(curl -s "$SERVER_URL/metrics" | awk '$1 == "kiln_http_requests_in_flight" { print $2 }')
	[ "${n:-0}" -ge 2 ] && { inflight=1; break; }	# the upload and this scrape
	sleep 0.01
done
[ -n "$inflight" ] && pass || fail "the upload never showed as in flight"
server_stop
wait "$curl_pid"
expect_eq "upload in flight at SIGTERM" 200 "$(cat "$TMP/slow.code")"

# SIGINT is a clean stop too
server_start || finish
kill -INT "$SERVER_PID"
wait "$SERVER_PID"
expect_eq "exit after SIGINT" 0 $?
_server_forget "$SERVER_PID"
finish
