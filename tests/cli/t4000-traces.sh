#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# t4000-traces: kiln traces prints every sample's labels and stack as
# `go tool pprof -traces` does. Fixed expectations on the real Go CPU and
# heap profiles first, then, when Go is installed, byte-for-byte comparisons
# with pprof over every fixture and the report options.
source "$(dirname "$0")/lib.sh"

cpu="$PPROF_DIR/go-cpu.pb.gz"

# usage and errors
expect_exit 0 "traces --help" "$KILN" traces --help
expect_contains "help names the filters" "$TMP/out" "--focus"
expect_exit 2 "traces without a source" "$KILN" traces
expect_exit 1 "traces of a missing file" "$KILN" traces "$TMP/nonexistent.pb.gz"
expect_contains "missing file error" "$TMP/err" "kiln traces: "
expect_exit 2 "traces with a bad regex" "$KILN" traces -focus='(' "$cpu"
expect_exit 2 "traces with an unknown sample type" "$KILN" traces -sample_index=nope "$cpu"
printf 'not a profile at all\n' >"$TMP/garbage"
expect_exit 1 "traces of garbage" "$KILN" traces "$TMP/garbage"

# the first sample of the CPU profile: label line, value on the first frame
expect_exit 0 "traces go-cpu" "$KILN" traces -tagfocus=vehicle=car "$cpu"
cp "$TMP/out" "$TMP/car.txt"
expect_eq "header" "File: goapp
Type: cpu" "$(head -2 "$TMP/car.txt")"
expect_eq "first block" "-----------+-------------------------------------------------------
   vehicle:  car
     180ms   main.orderCar (inline)
             main.work.func1
             runtime/pprof.Do
             main.work" "$(sed -n 5,10p "$TMP/car.txt")"
expect_eq "only car samples" "0" "$(grep -c 'vehicle:  bike' "$TMP/car.txt")"
expect_eq "ends with a separator" "-----------+-------------------------------------------------------" \
	"$(tail -1 "$TMP/car.txt")"
# the values of the car samples add up to what the tag filter kept
sum=$(awk '/^ +[0-9.]+ms /{ s += $1 } END { print s }' "$TMP/car.txt")
expect_eq "car total in ms" "200" "$sum"

# numeric labels are printed with their unit; zero-valued samples still appear
expect_exit 0 "traces go-heap" "$KILN" traces "$PPROF_DIR/go-heap.pb.gz"
expect_contains "bytes label" "$TMP/out" "     bytes:  64kB"
expect_contains "heap value" "$TMP/out" "   27.66MB   main.allocate (inline)"
expect_contains "zero inuse" "$TMP/out" "         0   runtime/pprof.WithLabels"

# hide removes frames, -lines names them by line
expect_exit 0 "traces -hide" "$KILN" traces -hide='^runtime' "$cpu"
expect_eq "no runtime frames left" "0" "$(grep -c '   runtime' "$TMP/out")"
expect_exit 0 "traces -lines" "$KILN" traces -lines "$cpu"
expect_contains "line names" "$TMP/out" "main.work.func1 "

# several sources are merged (two copies double every value)
expect_exit 0 "traces of two copies" "$KILN" traces -tagfocus=vehicle=car "$cpu" "$cpu"
expect_contains "doubled" "$TMP/out" "     360ms   main.orderCar (inline)"

# pprof's own output, byte for byte
if command -v go >/dev/null 2>&1; then
	export PPROF_BINARY_PATH=/nonexistent GOFLAGS=-mod=mod
	for f in "$PPROF_DIR"/*.pb.gz "$PPROF_DIR"/legacy-converted/*.pb.gz; do
		case "$f" in *go-large*) [ "${KILN_SANITIZE:-0}" = 1 ] && continue ;; esac
		go tool pprof -traces "$f" >"$TMP/go.txt" 2>/dev/null || { fail "pprof failed on $f"; continue; }
		"$KILN" traces "$f" >"$TMP/kiln.txt" 2>"$TMP/err" || fail "kiln traces failed on $f"
		if cmp -s "$TMP/go.txt" "$TMP/kiln.txt"; then pass; else
			fail "traces of $(basename "$f") differ from pprof: $(diff "$TMP/go.txt" "$TMP/kiln.txt" | head -5)"
		fi
	done
	for opts in -focus=orderBike -ignore=orderBike -hide=runtime -show=main -tagfocus=vehicle=bike \
		-tagignore=vehicle=bike -lines -files -addresses -filefunctions -noinlines \
		-sample_index=samples -unit=ms -unit=s; do
		go tool pprof -traces "$opts" "$cpu" >"$TMP/go.txt" 2>/dev/null
		"$KILN" traces "$opts" "$cpu" >"$TMP/kiln.txt" 2>"$TMP/err"
		if cmp -s "$TMP/go.txt" "$TMP/kiln.txt"; then pass; else
			fail "traces $opts differ from pprof: $(diff "$TMP/go.txt" "$TMP/kiln.txt" | head -5)"
		fi
	done
	for opts in -sample_index=alloc_space -sample_index=inuse_objects "-tagfocus=bytes=64kb:"; do
		go tool pprof -traces "$opts" "$PPROF_DIR/go-heap.pb.gz" >"$TMP/go.txt" 2>/dev/null
		"$KILN" traces "$opts" "$PPROF_DIR/go-heap.pb.gz" >"$TMP/kiln.txt" 2>"$TMP/err"
		if cmp -s "$TMP/go.txt" "$TMP/kiln.txt"; then pass; else
			fail "heap traces $opts differ from pprof: $(diff "$TMP/go.txt" "$TMP/kiln.txt" | head -5)"
		fi
	done
else
	echo "go not installed: skipping the comparisons with pprof"
fi

finish
