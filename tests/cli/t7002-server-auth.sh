#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# kiln server auth and tenancy: with tokens configured, no or bad
# credentials get 401 (with WWW-Authenticate), a token without the route's
# right 403; bearer and basic auth both work; a token acts for its tenant
# only (X-Scope-OrgID must match) and tenant B never sees tenant A's data.
# Environment tokens and multitenant mode without auth are checked too.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"

code() { curl -s -o "$TMP/resp" -D "$TMP/hdr" -w '%{http_code}' "$@"; }
PROF="$PPROF_DIR/go-cpu.pb.gz"
now=$(date +%s)
ingest_url() { echo "$SERVER_URL/ingest?format=pprof&name=$1&from=$now&until=$((now + 10))"; }
services() { # services ARGS...: the service_name values the credentials can see
	curl -s "$@" "$SERVER_URL/pyroscope/label-values?label=service_name&from=now-1y&until=now%2B1y"
}

cat >"$TMP/auth.yaml" <<'YAML'
tokens:
  - secret: ingest-a-secret
    tenant: team-a
    rights: ingest
  - { secret: read-a-secret, tenant: team-a, rights: read }
  - { secret: all-b-secret, tenant: team-b, rights: [ingest, read] }
  - { user: alice, password: alice-password, tenant: team-a, rights: all }
YAML
server_start --config "$TMP/auth.yaml" || finish

expect_eq "healthz needs no token" 200 "$(code "$SERVER_URL/healthz")"
expect_eq "ingest without token" 401 "$(code --data-binary "@$PROF" "$(ingest_url a1)")"
grep -qi '^WWW-Authenticate: Bearer' "$TMP/hdr" && pass || fail "no WWW-Authenticate header"
expect_eq "read without token" 401 "$(code "$SERVER_URL/pyroscope/label-values?label=service_name")"
expect_eq "bad bearer" 401 "$(code -H 'Authorization: Bearer wrong-secret' \
	--data-binary "@$PROF" "$(ingest_url a1)")"
expect_eq "prefix of a token" 401 "$(code -H 'Authorization: Bearer ingest-a' \
	--data-binary "@$PROF" "$(ingest_url a1)")"
expect_eq "push without token" 401 "$(code -H 'Content-Type: application/json' \
	--data-binary '{}' "$SERVER_URL/push.v1.PusherService/Push")"
expect_contains "push 401 is Connect JSON" "$TMP/resp" '"code":"unauthenticated"'

expect_eq "ingest token ingests" 200 "$(code -H 'Authorization: Bearer ingest-a-secret' \
	--data-binary "@$PROF" "$(ingest_url secret-a-app)")"
expect_eq "read token cannot ingest" 403 "$(code -H 'Authorization: Bearer read-a-secret' \
	--data-binary "@$PROF" "$(ingest_url a2)")"
expect_eq "ingest token cannot read" 403 "$(code -H 'Authorization: Bearer ingest-a-secret' \
	"$SERVER_URL/pyroscope/label-values?label=service_name")"
expect_eq "X-Scope-OrgID of another tenant" 403 "$(code -H 'Authorization: Bearer ingest-a-secret' \
	-H 'X-Scope-OrgID: team-b' --data-binary "@$PROF" "$(ingest_url a3)")"
expect_eq "X-Scope-OrgID of its tenant" 200 "$(code -H 'Authorization: Bearer ingest-a-secret' \
	-H 'X-Scope-OrgID: team-a' --data-binary "@$PROF" "$(ingest_url secret-a-app)")"
# basic auth: the configured user:password, or any user with a token as password
expect_eq "basic user:password" 200 "$(code -u alice:alice-password --data-binary "@$PROF" \
	"$(ingest_url alice-app)")"
expect_eq "basic wrong password" 401 "$(code -u alice:nope-nope-nope --data-binary "@$PROF" \
	"$(ingest_url alice-app)")"
expect_eq "basic with a token as password" 200 "$(code -u pyroscope:all-b-secret \
	--data-binary "@$PROF" "$(ingest_url team-b-app)")"

# isolation: each tenant sees its own services only
services -H 'Authorization: Bearer read-a-secret' >"$TMP/a"
services -u whoever:all-b-secret >"$TMP/b"
if [ -e /tmp/kiln/query-m1 ] || ! grep -q 'not implemented' "$TMP/a"; then
	expect_contains "tenant a sees its app" "$TMP/a" '"secret-a-app"'
	expect_contains "tenant a sees alice's app" "$TMP/a" '"alice-app"'
	grep -q 'team-b-app' "$TMP/a" && fail "tenant a sees tenant b's data" || pass
	expect_contains "tenant b sees its app" "$TMP/b" '"team-b-app"'
	grep -qE 'secret-a-app|alice-app' "$TMP/b" && fail "tenant b sees tenant a's data: $(cat "$TMP/b")" || pass
fi
m=$(curl -s "$SERVER_URL/metrics")
echo "$m" | grep -qx 'kiln_store_tenants 2' && pass || fail "expected 2 tenants: $(echo "$m" | grep tenants)"
echo "$m" | grep -q '^kiln_discarded_total{reason="unauthorized"} [1-9]' && pass ||
	fail "auth refusals not counted"
server_stop

# tokens from the environment act for X-Scope-OrgID's tenant when multitenant
KILN_INGEST_TOKEN=env-ingest-token KILN_READ_TOKEN=env-read-token server_start --multitenant ||
	finish
expect_eq "env ingest token" 200 "$(code -H 'Authorization: Bearer env-ingest-token' \
	-H 'X-Scope-OrgID: tenant-x' --data-binary "@$PROF" "$(ingest_url x-app)")"
expect_eq "env read token cannot ingest" 403 "$(code -H 'Authorization: Bearer env-read-token' \
	--data-binary "@$PROF" "$(ingest_url x-app)")"
expect_eq "no token" 401 "$(code --data-binary "@$PROF" "$(ingest_url x-app)")"
services -H 'Authorization: Bearer env-read-token' -H 'X-Scope-OrgID: tenant-y' >"$TMP/y"
grep -q 'x-app' "$TMP/y" && fail "tenant-y sees tenant-x's data" || pass
server_stop

# multitenant without auth: X-Scope-OrgID picks the tenant and is validated
server_start --multitenant || finish
expect_eq "tenant by header" 200 "$(code -H 'X-Scope-OrgID: t1' --data-binary "@$PROF" \
	"$(ingest_url t1-app)")"
expect_eq "bad tenant id" 400 "$(code -H 'X-Scope-OrgID: ../etc' --data-binary "@$PROF" \
	"$(ingest_url t1-app)")"
services -H 'X-Scope-OrgID: t2' >"$TMP/t2"
grep -q 't1-app' "$TMP/t2" && fail "tenant t2 sees t1's data" || pass
services >"$TMP/anon"
grep -q 't1-app' "$TMP/anon" && fail "anonymous sees t1's data" || pass
if [ -e /tmp/kiln/query-m1 ] || ! grep -q 'not implemented' "$TMP/t2"; then
	services -H 'X-Scope-OrgID: t1' >"$TMP/t1"
	expect_contains "tenant t1 sees its data" "$TMP/t1" '"t1-app"'
fi
server_stop
finish
