#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/scale.sh - a profile of a million samples: a synthetic worst case
# where every stack is distinct (5,000 functions, depth 8-43, ~25 M call
# tree nodes). Times folded -> pprof conversion, kiln top (against go tool
# pprof -top, which takes minutes: skip it with NO_PEER=1), kiln merge and
# kiln flame, with peak RSS for each.
#
# usage: bench/scale.sh [KILN_BINARY]      (default: build/bin/kiln)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
kiln=${1:-${KILN:-$root/build/bin/kiln}}
[ -x "$kiln" ] || { echo "scale.sh: no kiln binary at $kiln" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "scale.sh: GNU time (/usr/bin/time) is needed" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
export PPROF_BINARY_PATH=/nonexistent

python3 - "$tmp/big.folded" <<'PY'
import random, sys
random.seed(1)
funcs = [f"pkg{i % 50}.func{i}" for i in range(5000)]
with open(sys.argv[1], "w") as f:
    for _ in range(1000000):
        depth = random.randint(5, 40)
        stack = [funcs[random.randrange(200)] for _ in range(3)] + \
                [funcs[random.randrange(5000)] for _ in range(depth)]
        f.write(";".join(stack) + f" {random.randint(1, 100)}\n")
PY
measure() { # label command...
	local label=$1
	shift
	/usr/bin/time -f "%e %M" -o "$tmp/t" "$@" >/dev/null
	read -r secs kb <"$tmp/t"
	printf '%-34s %8.2f s  %8.1f MB peak RSS\n' "$label" "$secs" "$(echo "$kb / 1024" | bc -l)"
	echo "$secs" >"$tmp/last"
}
echo "input: 1,000,000 samples, $(du -m "$tmp/big.folded" | cut -f1) MB of folded text"
measure "kiln convert folded -> pprof" "$kiln" convert "$tmp/big.folded" -o "$tmp/big.pb.gz"
measure "kiln top" "$kiln" top "$tmp/big.pb.gz"
kiln_top=$(cat "$tmp/last")
measure "kiln merge (the profile twice)" "$kiln" merge "$tmp/big.pb.gz" "$tmp/big.pb.gz" -o "$tmp/m.pb.gz"
measure "kiln flame -> html (50k nodes)" "$kiln" flame "$tmp/big.pb.gz" -o "$tmp/big.html"
if [ -z "${NO_PEER:-}" ] && command -v go >/dev/null; then
	measure "go tool pprof -top" go tool pprof -top "$tmp/big.pb.gz"
	echo "kiln top is $(echo "$(cat "$tmp/last") / $kiln_top" | bc -l | xargs printf '%.0f')x faster than go tool pprof -top"
fi
