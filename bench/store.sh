#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/store.sh - the profile store's figures (docs/storage.md "Measured"):
# append throughput, 24-h and 30-day merged flame graphs, label values,
# bytes on disk per profile and head memory, from bench/store_bench.c
# linked against the built static libraries; then `go tool pprof -proto`
# merging 360 of the same profiles as a peer (skipped without go, or with
# NO_PEER=1). Bounded: about a minute on 2 cores.
#
# usage: bench/store.sh [BUILD_DIR]      (default: build)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
fixtures=${KILN_FIXTURES:-$root/../shared/fixtures}
[ -f "$build/lib/libkiln_server.a" ] || { echo "bench/store.sh: build $build first" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/pprof"

${CC:-cc} -O2 -std=gnu11 -D_GNU_SOURCE -I"$root/src" -o "$tmp/store_bench" \
	"$root/bench/store_bench.c" "$build/lib/libkiln_server.a" "$build/lib/libkiln_render.a" \
	"$build/lib/libkiln_formats.a" "$build/lib/libkiln_pprof_pb.a" "$build/lib/libkiln_core.a" \
	$(pkg-config --libs libprotobuf-c zlib jansson libpcre2-8 libxxhash libzstd libmicrohttpd \
		yaml-0.1) -lpthread -lm
"$tmp/store_bench" "$fixtures" "$tmp/pprof"

if [ -z "${NO_PEER:-}" ] && command -v go >/dev/null; then
	export PPROF_BINARY_PATH=/nonexistent
	start=$(date +%s%N)
	go tool pprof -proto "$tmp"/pprof/*.pb.gz >"$tmp/merged.pb.gz" 2>/dev/null
	end=$(date +%s%N)
	echo "go tool pprof -proto merging 360 of the profiles: $(( (end - start) / 1000000 )) ms" \
		"(x24 for a day: ~$(( (end - start) * 24 / 1000000 )) ms)"
fi
