#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln server --self-profile: the server loads libkiln.so and profiles
# itself into its own store as service_name=kiln-server (with the first
# ingest token when auth is on), its own functions show in the flame
# graph, and it still stops with exit 0. Without libkiln it says so and
# runs anyway.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
# an ASan binary cannot host the uninstrumented, malloc-interposing agent
[ "${KILN_SANITIZE:-0}" = 1 ] && { echo "SKIP: sanitizer build"; exit 77; }
lib="$(dirname "$KILN")/../lib/libkiln.so"
[ -f "$lib" ] || { echo "SKIP: $lib not built"; exit 77; }
export KILN_UPLOAD_INTERVAL=500

# drive load until service kiln-server appears for these credentials
wait_self() {
	local deadline=$((SECONDS + 40))
	while [ $SECONDS -lt $deadline ]; do
		curl -s -o /dev/null "$@" -H 'Content-Type: application/octet-stream' \
			--data-binary "@$PPROF_DIR/go-large.cpu.pb.gz" \
			"$SERVER_URL/ingest?format=pprof&name=busy-app"
		curl -s "${READ[@]}" "$SERVER_URL/pyroscope/label-values?label=service_name" >"$TMP/lv"
		grep -q '"kiln-server"' "$TMP/lv" && return 0
	done
	return 1
}

READ=()
server_start --self-profile || finish
grep -q 'self-profile: on, service_name=kiln-server' "$SERVER_LOG" && pass ||
	fail "no self-profile line: $(cat "$SERVER_LOG")"
wait_self && pass || fail "kiln-server never appeared: $(cat "$TMP/lv")"
# the first upload may hold only idle threads (the WAL writer): keep the
# server busy until its ingest path shows up in its own profile
q='process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="kiln-server"}'
deadline=$((SECONDS + 40))
while :; do
	curl -s -o /dev/null -H 'Content-Type: application/octet-stream' \
		--data-binary "@$PPROF_DIR/go-large.cpu.pb.gz" "$SERVER_URL/ingest?format=pprof&name=busy-app"
	curl -s -G --data-urlencode "query=$q" --data-urlencode from=now-1h \
		--data-urlencode format=collapsed "$SERVER_URL/pyroscope/render" >"$TMP/self.folded"
	if grep -qE 'kl_h_ingest|on_complete|kl_pprof_read|kl_store_append' "$TMP/self.folded"; then
		pass
		break
	fi
	if [ $SECONDS -ge $deadline ]; then
		fail "the server's own functions are not in its profile: $(head -c 400 "$TMP/self.folded")"
		break
	fi
done
server_stop

# with auth the agent uses an ingest token, so its data lands in that token's tenant
cat >"$TMP/auth.yaml" <<'YAML'
tokens:
  - { secret: self-ingest-token, tenant: ops, rights: ingest }
  - { secret: self-read-token, tenant: ops, rights: read }
YAML
READ=(-H 'Authorization: Bearer self-read-token')
server_start --self-profile --config "$TMP/auth.yaml" || finish
wait_self -H 'Authorization: Bearer self-ingest-token' && pass ||
	fail "kiln-server never appeared with auth: $(cat "$TMP/lv") $(tail -3 "$SERVER_LOG")"
server_stop

# no libkiln beside the binary: a warning, and the server runs
mkdir -p "$TMP/bin"
cp "$KILN" "$TMP/bin/kiln"
KILN="$TMP/bin/kiln" server_start --self-profile || finish
if [ -e /usr/lib/libkiln.so ] || [ -e /usr/local/lib/libkiln.so ]; then
	pass	# an installed libkiln would be found through ld.so
else
	grep -q 'self-profile: off: libkiln.so not found' "$SERVER_LOG" && pass ||
		fail "no warning without libkiln: $(cat "$SERVER_LOG")"
fi
expect_eq "healthz without libkiln" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_URL/healthz")"
server_stop
finish
