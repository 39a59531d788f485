# SPDX-License-Identifier: Apache-2.0
# agent_export_lib.sh - sourced by the agent export tests (t62xx) after
# lib.sh: where libkiln.so and the test programs are, a real HTTP receiver
# on 127.0.0.1 (tests/agent/receiver.py) and sums of pprof samples by label.
LIBKILN="$KILN_BUILD/lib/libkiln.so"
PROGS="$KILN_BUILD/tests/agent"
RX_PIDS=""

_agent_cleanup() {
	local p
	for p in $RX_PIDS; do
		kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap _agent_cleanup EXIT

# agent_need PROG...: skip (77) unless libkiln.so and the programs were built.
agent_need() {
	local p
	[ -f "$LIBKILN" ] || { echo "SKIP: $LIBKILN not built"; exit 77; }
	for p in "$@"; do
		[ -x "$PROGS/$p" ] || { echo "SKIP: $PROGS/$p not built"; exit 77; }
	done
	command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
}

# rx_start NAME MODE: a receiver (see receiver.py for MODE) recording into
# $TMP/NAME; sets RX_DIR and RX_URL.
rx_start() {
	local deadline=$((SECONDS + 20))
	RX_DIR="$TMP/$1"
	mkdir -p "$RX_DIR"
	python3 "$KILN_SRC/tests/agent/receiver.py" "$RX_DIR" "$2" "$RX_DIR/port" \
		2>"$RX_DIR/log" &
	RX_PIDS="$RX_PIDS $!"
	while [ ! -s "$RX_DIR/port" ] && [ $SECONDS -lt $deadline ]; do sleep 0.05; done
	[ -s "$RX_DIR/port" ] || { fail "receiver did not start: $(cat "$RX_DIR/log")"; finish; }
	RX_URL="http://127.0.0.1:$(cat "$RX_DIR/port")"
}

# rx_count: requests the receiver has recorded so far.
rx_count() {
	ls "$RX_DIR" | grep -c '^req-[0-9]*\.json$'
}

# free_port: a TCP port on 127.0.0.1 nobody listens on right now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# label_sums FILE [INDEX]: with Go's pprof, sums value column INDEX (1-based,
# default 1) of all samples ("total N") and per label pair ("name=value N").
label_sums() {
	go tool pprof -raw "$1" 2>/dev/null | awk -v idx="${2:-1}" '
	/^Samples:/ { sec = 1; getline; next }
	/^Locations/ { sec = 0 }
	sec && /^ *-?[0-9]+( +-?[0-9]+)*: / {
		i = index($0, ":"); split(substr($0, 1, i - 1), v, " ")
		last = v[idx]; total += last; next
	}
	sec && /:\[/ {
		n = split($0, kv, " ")
		for (k = 1; k <= n; k++) {
			split(kv[k], p, ":"); val = p[2]; gsub(/[\[\]]/, "", val)
			S[p[1] "=" val] += last
		}
	}
	END { printf "total %d\n", total; for (l in S) printf "%s %d\n", l, S[l] }'
}

# share_pp WHAT PART TOTAL WANT_PCT TOL_PP: PART/TOTAL within TOL_PP points of WANT_PCT.
share_pp() {
	if awk -v a="$2" -v t="$3" -v w="$4" -v d="$5" \
		'BEGIN { if (t <= 0) exit 1; s = 100 * a / t; e = s - w; if (e < 0) e = -e; exit !(e <= d) }'
	then pass; else
		fail "$1: $2 of $3 = $(awk -v a="$2" -v t="$3" 'BEGIN { printf "%.2f", t ? 100 * a / t : 0 }')%, want $4% +-$5 pp"
	fi
}

# share_stat WHAT PART TOTAL WANT_PCT MIN_PP N: like share_pp with a tolerance of
# MIN_PP points or three standard deviations of a share measured from N
# samples, whichever is larger (a busy machine gives the program less CPU,
# hence fewer samples, than it asked for).
share_stat() {
	local tol
	tol=$(awk -v w="$4" -v m="$5" -v n="$6" 'BEGIN { p = w / 100; s = n > 0 ? 300 * sqrt(p * (1 - p) / n) : 100; printf "%.2f", (s > m ? s : m) }')
	share_pp "$1" "$2" "$3" "$4" "$tol"
}

# sum_of FILE KEY: the number after KEY in label_sums / pprof_sums output (0 if absent).
sum_of() {
	awk -v k="$2" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$1"
}
