#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/pprof.sh - pprof read / write / merge speed on the reference
# workload (go-large.cpu.pb.gz), against the built static libraries.
# Reading should take well under 60 ms (kiln top's budget is 1/10 of
# go tool pprof -top, about 110 ms here).
#
# usage: bench/pprof.sh [BUILD_DIR] [FILE]      (default: build, go-large)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
fixtures=${KILN_FIXTURES:-$root/../shared/fixtures}
file=${2:-$fixtures/pprof/go-large.cpu.pb.gz}
[ -f "$build/lib/libkiln_formats.a" ] || { echo "bench/pprof.sh: build $build first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -I"$root/src" -o "$tmp/pprof_bench" \
	"$root/bench/pprof_bench.c" "$build/lib/libkiln_formats.a" "$build/lib/libkiln_pprof_pb.a" \
	"$build/lib/libkiln_core.a" $(pkg-config --libs libprotobuf-c zlib jansson libpcre2-8 libxxhash)
"$tmp/pprof_bench" "$file" 20
