#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t4002-json-alloc-failure: the flamebearer and speedscope readers and the
# speedscope writer fail cleanly when any allocation fails (KILN_FAIL_ALLOC
# makes the Nth one fail): exit 1 with a message, never a crash, and (in
# the sanitizer build) no leak. Every N is tried until the command no
# longer meets a failure; it must then print what it prints normally.
source "$(dirname "$0")/lib.sh"

# inputs: flamebearer (the §4 example and a real profile's), speedscope
# sampled (written by kiln) and evented
cat >"$TMP/spec.json" <<'EOF'
{"version":1,"flamebearer":{"names":["total","main","foo","bar"],"levels":[[0,300,0,0],[0,300,0,1],[0,100,100,2,0,200,200,3]],"numTicks":300,"maxSelf":200},"metadata":{"format":"single","spyName":"","sampleRate":1000000000,"units":"samples","name":"cpu"}}
EOF
cat >"$TMP/evented.json" <<'EOF'
{"shared":{"frames":[{"name":"a","file":"a.c","line":3},{"name":"b"},{"name":"c"}]},"profiles":[{"type":"evented","name":"x","unit":"milliseconds","startValue":0,"endValue":20,"events":[{"type":"O","frame":0,"at":0},{"type":"O","frame":1,"at":2},{"type":"C","frame":1,"at":5},{"type":"C","frame":0,"at":10},{"type":"O","frame":2,"at":12}]}]}
EOF
expect_exit 0 "make flamebearer" "$KILN" convert "$PPROF_DIR/go-cpu.pb.gz" -o "$TMP/cpu.json"
expect_exit 0 "make speedscope" "$KILN" convert "$PPROF_DIR/go-cpu.pb.gz" -o "$TMP/cpu.speedscope.json"

# try_all WHAT cmd... : runs cmd with the 1st, 2nd ... allocation failing
try_all() {
	local what=$1 n rc
	shift
	"$@" >"$TMP/want" 2>"$TMP/err" || { fail "$what: fails without fault injection: $(head -c 300 "$TMP/err")"; return; }
	for n in $(seq 1 2000); do
		KILN_FAIL_ALLOC=$n "$@" >"$TMP/got" 2>"$TMP/err"
		rc=$?
		if grep -q Sanitizer "$TMP/err"; then
			fail "$what: allocation $n: $(grep -m3 -E 'Sanitizer|#[0-9] ' "$TMP/err")"
			return
		fi
		case $rc in
		0)
			# no failure was met any more: the output must be complete
			if cmp -s "$TMP/want" "$TMP/got"; then pass; else
				fail "$what: allocation $n failed silently (output differs)"
			fi
			return ;;
		1)
			grep -q "^kiln [a-z]*: " "$TMP/err" || {
				fail "$what: allocation $n: exit 1 without a message: $(head -c 200 "$TMP/err")"
				return
			} ;;
		*)
			fail "$what: allocation $n: exit $rc: $(head -c 200 "$TMP/err")"
			return ;;
		esac
	done
	fail "$what: still failing after 2000 allocations"
}

try_all "traces of flamebearer" "$KILN" traces "$TMP/spec.json"
try_all "traces of a real flamebearer" "$KILN" traces "$TMP/cpu.json"
try_all "traces of speedscope" "$KILN" traces "$TMP/cpu.speedscope.json"
try_all "traces of evented speedscope" "$KILN" traces "$TMP/evented.json"
try_all "speedscope writer" "$KILN" convert "$TMP/spec.json" -o - --to speedscope

finish
