#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/ingest_cpu.sh - CPU per profile of kiln server's ingest path without
# HTTP or store (gunzip + pprof decode alone, /ingest, Push), as ratios to
# the bare decode, and the render path of go-large.cpu (view, tree,
# truncate to 8192 nodes, flamebearer). Results: docs/benchmarks.md.
#
# usage: bench/ingest_cpu.sh [BUILD_DIR] [FILE...]   (default: build, realistic CPU fixtures)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
fixtures=${KILN_FIXTURES:-$root/../shared/fixtures}
[ $# -gt 0 ] && shift
bin=$build/bin/kiln-ingest-cpu
[ -x "$bin" ] || { echo "bench/ingest_cpu.sh: build $build first (target kiln-ingest-cpu)" >&2; exit 1; }
if [ $# -eq 0 ]; then
	set -- "$fixtures"/pprof/go-sample.cpu.pb.gz "$fixtures"/pprof/go-cpu.pb.gz \
		"$fixtures"/pprof/legacy-converted/cppbench.cpu.pb.gz \
		"$fixtures"/pprof/legacy-converted/gobench.cpu.pb.gz \
		"$fixtures"/pprof/legacy-converted/java.cpu.pb.gz \
		"$fixtures"/pprof/go-large.cpu.pb.gz
fi
echo "# $(uname -m), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); CPU time per run, best of 5"
"$bin" --ms "${KILN_BENCH_MS:-200}" "$@"
