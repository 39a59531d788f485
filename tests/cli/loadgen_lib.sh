# SPDX-License-Identifier: Apache-2.0
# loadgen_lib.sh - what the kiln server tests (t72NN-*.sh) share, sourced
# after lib.sh and server_lib.sh: the python client (server_client.py), the
# load generator (kiln-loadgen, bench/loadgen.c), and readers of its ack
# log and of render answers. Skips (77) without python3.
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
CLIENT="$(dirname "${BASH_SOURCE[0]}")/server_client.py"
LOADGEN="${KILN_BUILD:-$(dirname "$KILN")/..}/bin/kiln-loadgen"
PTYPE=process_cpu:cpu:nanoseconds:cpu:nanoseconds

# need_loadgen: skip the test when kiln-loadgen is not built
need_loadgen() {
	[ -x "$LOADGEN" ] || { echo "SKIP: $LOADGEN not built"; exit 77; }
}

# ack_sum ACKLOG [AWK-CONDITION]: the sum of cpu:nanoseconds over the ack log
# lines that match the condition (default: acknowledged, status 200)
ack_sum() {
	awk "${2:-\$2 == 200}"' {
		for (i = 7; i <= NF; i++) if (index($i, "cpu:nanoseconds=") == 1) t += substr($i, 17)
	} END { printf "%.0f", t }' "$1"
}

# numticks SELECTOR FROM [UNTIL]: numTicks of a render format=json (or the error)
numticks() {
	curl -s -G "$SERVER_URL/pyroscope/render" --data-urlencode "query=$1" \
		--data-urlencode "from=$2" --data-urlencode "until=${3:-now}" |
		python3 -c 'import json,sys; print(json.load(sys.stdin)["flamebearer"]["numTicks"])' 2>&1
}
