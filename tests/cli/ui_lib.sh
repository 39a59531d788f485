# SPDX-License-Identifier: Apache-2.0
# ui_lib.sh - helpers for the web UI's browser tests (tests/cli/t80*-ui-*.sh).
# Source after lib.sh and server_lib.sh:
#   ui_need_browser           skip (77) without chromium or node; install the
#                             npm packages of tests/web into a cache in the
#                             build dir (skip only if npm cannot reach the registry)
#   ui_run_browser JS URL     run tests/web/JS against the server at URL
#   ui_seed NAME AGO < folded ingest folded stacks (100 Hz) as NAME (URL-encoded),
#                             10 s long, starting AGO seconds ago
#   ui_seed_shop              the "shop" service the browser tests share: compute_tax
#                             grows from 50 to 350 samples between the halves of the
#                             last hour; regions eu-west and us-east
# Screenshots land in $KILN_BUILD/ui-screenshots/.
SRC=${KILN_SRC:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
UI_CHROMIUM=${KILN_CHROMIUM:-$(command -v chromium || command -v chromium-browser || true)}
UI_DEPS=${KILN_BUILD:-$TMP}/web-deps

ui_need_browser() {
	command -v node >/dev/null 2>&1 || { echo "SKIP: node not installed"; exit 77; }
	if [ -z "$UI_CHROMIUM" ]; then
		echo "SKIP: chromium not installed (scripts/install-deps.sh)"
		exit 77
	fi
	mkdir -p "$UI_DEPS"
	# one installer at a time: the UI tests may run in parallel
	(
		flock 9
		local lock="$SRC/tests/web/package-lock.json"
		if ! cmp -s "$lock" "$UI_DEPS/package-lock.json" ||
			[ ! -f "$UI_DEPS/node_modules/playwright-core/package.json" ]; then
			cp "$SRC/tests/web/package.json" "$lock" "$UI_DEPS/"
			if ! npm ci --prefix "$UI_DEPS" --no-audit --no-fund \
				>"$UI_DEPS/npm.log" 2>&1; then
				if ! npm ping >/dev/null 2>&1; then
					echo "SKIP: npm cannot reach its registry (playwright-core)"
					exit 77
				fi
				echo "FAIL: npm ci: $(tail -5 "$UI_DEPS/npm.log")" >&2
				exit 1
			fi
		fi
	) 9>"$UI_DEPS/.lock"
	local rc=$?
	[ $rc = 0 ] || exit $rc
}

# ui_run_browser JS URL: runs the browser test script; its failures count here.
ui_run_browser() {
	local js=$1 url=$2 rc
	mkdir -p "${KILN_BUILD:-$TMP}/ui-screenshots"
	NODE_PATH="$UI_DEPS/node_modules" KILN_UI_URL="$url" KILN_CHROMIUM="$UI_CHROMIUM" \
		KILN_UI_SHOTS="${KILN_BUILD:-$TMP}/ui-screenshots" KILN_UI_TMP="$TMP" \
		timeout 240 node "$SRC/tests/web/$js" >"$TMP/browser.out" 2>&1
	rc=$?
	cat "$TMP/browser.out"
	expect_eq "browser test $js" 0 "$rc"
}

ui_seed() {
	local code from=$(($(date +%s) - $2))
	code=$(curl -s -o "$TMP/ingest.out" -w '%{http_code}' --data-binary @- \
		"$SERVER_URL/ingest?name=$1&sampleRate=100&from=$from&until=$((from + 10))")
	expect_eq "ingest $1 -$2 s" 200 "$code"
}

ui_seed_shop() {
	# baseline half of the last hour: compute_tax is small
	ui_seed 'shop.cpu%7Bregion%3Deu-west%7D' 3000 <<'EOF'
main;handle_request;parse_json 200
main;handle_request;checkout;compute_tax 50
main;handle_request;checkout;charge_card 150
main;idle 100
EOF
	ui_seed 'shop.cpu%7Bregion%3Dus-east%7D' 2400 <<'EOF'
main;handle_request;parse_json 100
main;idle 100
EOF
	# comparison half: compute_tax grew from 50 to 350 samples
	ui_seed 'shop.cpu%7Bregion%3Deu-west%7D' 900 <<'EOF'
main;handle_request;parse_json 200
main;handle_request;checkout;compute_tax 350
main;handle_request;checkout;charge_card 150
main;idle 100
EOF
}
