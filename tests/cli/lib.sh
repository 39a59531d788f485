# SPDX-License-Identifier: Apache-2.0
# lib.sh - helpers for the command-level tests in tests/cli/tNNNN-*.sh.
# Each script sources this, runs real kiln commands on real files and
# fails (exit 1) at the first broken expectation, saying which.
set -u
: "${KILN:?KILN must point at the kiln binary}"
: "${KILN_FIXTURES:?KILN_FIXTURES must point at shared/fixtures}"
PPROF_DIR="$KILN_FIXTURES/pprof"
PERF_DIR="$KILN_FIXTURES/perf-script"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/kiln-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
failures=0
passes=0

fail() {
	echo "FAIL: $*" >&2
	failures=$((failures + 1))
}

pass() {
	passes=$((passes + 1))
}

# expect_eq WHAT EXPECTED ACTUAL
expect_eq() {
	if [ "$2" = "$3" ]; then pass; else fail "$1: expected '$2', got '$3'"; fi
}

# expect_exit CODE WHAT cmd...
expect_exit() {
	local want=$1 what=$2 got
	shift 2
	"$@" >"$TMP/out" 2>"$TMP/err"
	got=$?
	if [ "$got" = "$want" ]; then pass; else
		fail "$what: exit $got, expected $want; stderr: $(head -c 300 "$TMP/err")"
	fi
}

# expect_contains WHAT FILE TEXT
expect_contains() {
	if grep -qF -- "$3" "$2"; then pass; else fail "$1: '$3' not in $2: $(head -c 300 "$2")"; fi
}

# Go's pprof, for comparisons; tests that need it skip (77) without it.
need_go_pprof() {
	command -v go >/dev/null 2>&1 || { echo "SKIP: go not installed"; exit 77; }
	export PPROF_BINARY_PATH=/nonexistent GOFLAGS=-mod=mod
}

# Ends the script: prints the plain summary line and exits 0 only if all passed.
finish() {
	echo "$passes passed, $failures failed"
	[ "$failures" = 0 ]
	exit $?
}
