#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/run.sh - runs every benchmark (make bench). Each prints its figure
# and, where a peer exists on this machine, the ratio against it measured
# in the same run. Results are recorded in docs/benchmarks.md.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
status=0
for b in top pprof collapse flame scale; do
	echo "== bench/$b.sh"
	bash "$root/bench/$b.sh" || status=1
	echo
done
exit $status
