#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The flame graph viewer (web/flamegraph/flamegraph.js) under Node: the
# unit tests in tests/web/flamegraph_test.js, then the copy of the viewer
# and the data inside pages that kiln flame and kiln diff write. Skipped
# without node.
source "$(dirname "$0")/lib.sh"

command -v node >/dev/null 2>&1 || { echo "SKIP: node not installed"; exit 77; }
SRC=${KILN_SRC:-$(cd "$(dirname "$0")/../.." && pwd)}

expect_exit 0 "flame html" "$KILN" flame "$PPROF_DIR/go-cpu.pb.gz" -o "$TMP/cpu.html"
expect_exit 0 "flame html heap" "$KILN" flame "$PPROF_DIR/go-heap.pb.gz" -o "$TMP/heap.html"
expect_exit 0 "diff html" "$KILN" diff "$PPROF_DIR/go-sample.cpu.pb.gz" "$PPROF_DIR/go-cpu.pb.gz" \
	-o "$TMP/diff.html"
KILN_SRC="$SRC" node "$SRC/tests/web/flamegraph_test.js" "$TMP/cpu.html" "$TMP/heap.html" \
	"$TMP/diff.html" >"$TMP/node.out" 2>&1
rc=$?
cat "$TMP/node.out"
expect_eq "viewer tests" 0 "$rc"
expect_contains "page decoded" "$TMP/node.out" "page: "
finish
