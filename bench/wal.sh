#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/wal.sh - WAL group commit: records/s, syncs/s and records per sync
# for 1, 8 and 64 threads appending 2 KiB records and waiting for each, in
# FSYNC and WRITE modes, with the ratio to one fdatasync per record (the
# naive design) measured in the same run. The log lives in $WAL_BENCH_DIR
# (default: a temporary directory under $TMPDIR) - use a real disk, not tmpfs.
# Also the CPU time (user + system) per sync and per record. WAL_SRC=path/wal.c
# builds the benchmark with another wal.c (A/B against an older version);
# WAL_BENCH_RECORD=BYTES sets the record size (default 2048), WAL_BENCH_MODES
# the modes to run (default "naive fsync write"); WAL_BENCH_KEEP=FILE keeps
# the built benchmark (for perf or strace).
#
# usage: bench/wal.sh [BUILD_DIR] [SECONDS] [THREADS...]   (default: build, 3, 1 8 64)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
secs=${2:-3}
shift $(( $# > 2 ? 2 : $# ))
[ -f "$build/lib/libkiln_core.a" ] || { echo "bench/wal.sh: build $build first" >&2; exit 1; }
tmp=$(mktemp -d)
dir=${WAL_BENCH_DIR:-$tmp}
mkdir -p "$dir"
trap 'rm -rf "$tmp"' EXIT

# the WAL's own sources, so that the benchmark does not need the whole server library
${CC:-cc} -O2 -g -std=gnu11 -D_GNU_SOURCE -pthread -I"$root/src" -I"$root/src/store" \
	-o "$tmp/wal_bench" "$root/bench/wal_bench.c" "${WAL_SRC:-$root/src/store/wal.c}" \
	"$root/src/store/fsio.c" "$build/lib/libkiln_core.a" $(pkg-config --libs libxxhash libpcre2-8)
echo "log directory: $dir ($(stat -f -c %T "$dir"), $(nproc) cores), ${secs} s per run"
[ -z "${WAL_BENCH_KEEP:-}" ] || cp "$tmp/wal_bench" "$WAL_BENCH_KEEP"
"$tmp/wal_bench" "$dir" "$secs" "$@"
