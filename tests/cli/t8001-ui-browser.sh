#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The web UI in a real browser: starts kiln server on a free port, seeds it
# with known profiles (a synthetic folded "shop" service whose compute_tax
# grew between two time ranges, in two regions, and Go's pprof fixtures),
# then runs tests/web/ui_test.js, which drives Debian's chromium through
# playwright-core and asserts what a person sees. Screenshots go to
# $KILN_BUILD/ui-screenshots/. Skipped (77) without chromium or node, or
# when npm cannot install playwright-core.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/server_lib.sh"
source "$(dirname "$0")/ui_lib.sh"

ui_need_browser
server_start || finish

NOW=$(date +%s)
ui_seed_shop
GO_AT=$((NOW - 600))
for f in go-cpu go-heap; do
	code=$(curl -s -o "$TMP/ingest.out" -w '%{http_code}' --data-binary @"$PPROF_DIR/$f.pb.gz" \
		"$SERVER_URL/ingest?name=gosvc%7Benv%3Dprod%7D&format=pprof&from=$GO_AT")
	expect_eq "ingest $f" 200 "$code"
done

ui_run_browser ui_test.js "$SERVER_URL"
server_stop
finish
