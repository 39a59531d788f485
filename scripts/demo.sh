#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# demo.sh - `make demo` (examples/rideshare/README.md): starts `kiln server`,
# three Rideshare instances (regions us-east-1, us-west-1, eu-west-1) that
# profile themselves into it, and the load generator; waits for the first
# profiles, prints the UI's URL and what to look at, and stops everything in
# order on Ctrl-C (or after DEMO_DURATION seconds). Builds are make's job.
#
# Environment: KILN_BUILD (build dir, default build), KILN (the kiln binary),
# DEMO_PORT (4040; a free one if taken), DEMO_DATA (default
# $KILN_BUILD/demo-data, emptied first unless DEMO_KEEP_DATA=1; a DEMO_DATA of
# the caller's is used as it is), DEMO_DURATION (0 = until Ctrl-C), DEMO_RATE
# (requests/s per instance, 8), RIDESHARE_PERIOD_S (60), KILN_UPLOAD_INTERVAL
# (5s).
set -u

# Ctrl-C reaches every process of the terminal's foreground group, the
# short-lived ones the script forks for $(...) included: bash 5.2 may then run
# the INT trap inside such a child while it parses, fail there ("unexpected
# EOF while looking for matching `)'"), and the script goes on. So the work
# runs in a session of its own (no terminal, no terminal signals; setsid keeps
# the pid of a background job, which is never a group leader), and this front
# process only turns Ctrl-C, SIGTERM and a hang-up into a SIGTERM to it.
if [ "${1:-}" != --worker ]; then
	setsid bash "${BASH_SOURCE[0]}" --worker &
	worker=$!
	trap 'kill -TERM "$worker" 2>/dev/null' INT TERM HUP
	while :; do
		wait "$worker"
		rc=$?
		# a trapped signal ends the wait early: wait again for the real end
		kill -0 "$worker" 2>/dev/null || exit "$rc"
	done
fi

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${KILN_BUILD:-$SRC/build}
KILN_BIN=${KILN:-$BUILD/bin/kiln}
RIDESHARE=$BUILD/bin/rideshare
LOADGEN=$BUILD/bin/rideshare-loadgen
DATA=${DEMO_DATA:-$BUILD/demo-data}
PORT=${DEMO_PORT:-4040}
DURATION=${DEMO_DURATION:-0}
RATE=${DEMO_RATE:-8}
REGIONS="us-east-1 us-west-1 eu-west-1"
export RIDESHARE_PERIOD_S=${RIDESHARE_PERIOD_S:-60}
export KILN_UPLOAD_INTERVAL=${KILN_UPLOAD_INTERVAL:-5s}
# the rideshare instances read their settings from KILN_*; the server's own
# KILN_* settings must not leak into them or the other way round
unset KILN_TAGS KILN_APPLICATION_NAME KILN_OUTPUT KILN_PPROF_LISTEN

say() { printf 'demo: %s\n' "$*"; }

for f in "$KILN_BIN" "$RIDESHARE" "$LOADGEN"; do
	if [ ! -x "$f" ]; then
		say "$f is not built: run 'make demo' (or 'make build') first" >&2
		exit 1
	fi
done
case $DURATION in '' | *[!0-9]*) say "DEMO_DURATION must be whole seconds" >&2; exit 2 ;; esac

mkdir -p "$DATA" || exit 1
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/kiln-demo.XXXXXX") || exit 1
SERVER_PID=""
RS_PIDS=""
LOADGEN_PID=""

# alive PID: running (an exited child stays a zombie until waited for: not alive)
alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ]
}

# stop PID... with SIGTERM, waiting up to 15 s for each, then SIGKILL; a
# non-zero exit status is noted in FAILED
stop_pids() {
	local p deadline rc
	for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
	for p in "$@"; do
		deadline=$((SECONDS + 15))
		while alive "$p" && [ $SECONDS -lt $deadline ]; do
			sleep 0.1
		done
		if alive "$p"; then
			say "process $p did not stop within 15 s: killing it"
			kill -KILL "$p" 2>/dev/null
		fi
		wait "$p" 2>/dev/null
		rc=$?
		[ $rc = 0 ] || FAILED="$FAILED $p:$rc"
	done
}

# in order: no new requests, then the services (their last upload needs the
# server), then the server (it syncs its store); runs once, at exit
FAILED=""
cleanup() {
	trap '' INT TERM HUP
	[ -n "$LOADGEN_PID" ] && stop_pids "$LOADGEN_PID"
	# shellcheck disable=SC2086
	[ -n "$RS_PIDS" ] && stop_pids $RS_PIDS
	[ -n "$SERVER_PID" ] && stop_pids "$SERVER_PID"
	if [ -n "$FAILED" ]; then
		say "stopped, but some exited with an error (pid:status):$FAILED; logs:" >&2
		tail -n 20 "$LOGS"/*.log >&2
		rm -rf "$LOGS"
		exit 1
	fi
	rm -rf "$LOGS"
	say "stopped"
}
# SIGTERM (Ctrl-C, by way of the front process): a normal end; the EXIT trap
# stops everything
trap 'exit 0' INT TERM HUP
trap cleanup EXIT

# wait_file FILE PID SECONDS: 0 once FILE is not empty, 1 if PID dies or time runs out
wait_file() {
	local deadline=$((SECONDS + $3))
	while [ $SECONDS -lt $deadline ]; do
		[ -s "$1" ] && return 0
		alive "$2" || return 1
		sleep 0.05
	done
	return 1
}

# start_server ADDRESS: 0 once the server accepts connections
start_server() {
	rm -f "$LOGS/server.port"
	"$KILN_BIN" server --listen "$1" --data-dir "$DATA" --port-file "$LOGS/server.port" \
		2>>"$LOGS/server.log" &
	SERVER_PID=$!
	if wait_file "$LOGS/server.port" "$SERVER_PID" 30; then
		return 0
	fi
	stop_pids "$SERVER_PID"
	SERVER_PID=""
	FAILED=""
	return 1
}

# the default directory belongs to the demo: each run starts from an empty store
# (unless a server still holds it: another demo is running)
if [ -f "$DATA/LOCK" ] && ! flock -n "$DATA/LOCK" true; then
	say "$DATA is in use by another kiln server (another demo?): stop it first" >&2
	exit 1
fi
if [ -z "${DEMO_DATA:-}" ] && [ "${DEMO_KEEP_DATA:-0}" != 1 ]; then
	rm -rf "${DATA:?}" && mkdir -p "$DATA" || exit 1
fi

if ! start_server "127.0.0.1:$PORT"; then
	if grep -q "in use" "$LOGS/server.log" 2>/dev/null; then
		say "port $PORT is taken: using a free port instead"
		start_server "127.0.0.1:0" || { cat "$LOGS/server.log" >&2; exit 1; }
	else
		say "kiln server did not start:" >&2
		cat "$LOGS/server.log" >&2
		exit 1
	fi
fi
PORT=$(cat "$LOGS/server.port")
URL="http://127.0.0.1:$PORT"
export KILN_SERVER_ADDRESS=$URL

TARGETS=""
for r in $REGIONS; do
	KILN_TAGS="region=$r" "$RIDESHARE" --port 0 --port-file "$LOGS/$r.port" \
		2>"$LOGS/$r.log" &
	pid=$!
	RS_PIDS="$RS_PIDS $pid"
	if ! wait_file "$LOGS/$r.port" "$pid" 30; then
		say "rideshare $r did not start:" >&2
		cat "$LOGS/$r.log" >&2
		exit 1
	fi
	TARGETS="$TARGETS http://127.0.0.1:$(cat "$LOGS/$r.port")"
	say "rideshare $r on http://127.0.0.1:$(cat "$LOGS/$r.port") (pid $pid)"
done

loadgen_args=(--rate "$RATE")
[ "$DURATION" -gt 0 ] && loadgen_args+=(--duration "$DURATION")
# shellcheck disable=SC2086
"$LOADGEN" "${loadgen_args[@]}" $TARGETS >"$LOGS/loadgen.log" 2>&1 &
LOADGEN_PID=$!
START=$SECONDS
say "kiln server pid $SERVER_PID, rideshare pids$RS_PIDS, loadgen pid $LOADGEN_PID"

# the first profiles arrive one upload interval after the start
say "waiting for the first profiles in $URL ..."
deadline=$((SECONDS + 90))
while :; do
	got=$(curl -s --max-time 5 -G "$URL/pyroscope/label-values" --data-urlencode label=region \
		--data-urlencode 'query={service_name="ride-sharing-app"}' 2>/dev/null)
	n=0
	for r in $REGIONS; do
		case $got in *\"$r\"*) n=$((n + 1)) ;; esac
	done
	[ $n = 3 ] && break
	if [ $SECONDS -ge $deadline ]; then
		say "no profiles from all three regions after 90 s (got: $got); logs:" >&2
		tail -n 5 "$LOGS"/*.log >&2
		exit 1
	fi
	sleep 0.5
done

P=$RIDESHARE_PERIOD_S
cat <<EOF

  Kiln is profiling the Rideshare demo: open $URL/

  What to look at (service ride-sharing-app, profiles every $KILN_UPLOAD_INTERVAL):
  1. Flame graph, process_cpu: order_car is the widest of order_bike, order_scooter and
     order_car; all three call find_nearest_vehicle, whose cost grows with the radius.
  2. Labels: region="us-west-1" (or Tag explorer -> region): us-west-1 burns the most
     and its timeline alternates between high and low every $P s: that is the bug.
  3. Search "mutex_lock": in us-west-1 it sits under check_driver_availability.
  4. Comparison, then Diff, with labels region="us-west-1": drag the left timeline
     over a low stretch and the right one over a high stretch: mutex_lock grows from
     about a third to about 70% of the CPU (red in the Diff).
  5. Profile mutex · mutex_duration: the threads waiting in mutex_lock (us-west-1 only).
  6. Profile memory · inuse_space: cache_ride_quote keeps ~4 MiB per instance;
     alloc_space: load_vehicle_positions allocates on every request.
  Tag explorer -> vehicle: car costs more than scooter, scooter more than bike.
  Links: $URL/?service=ride-sharing-app&q=region%3D%22us-west-1%22&from=now-15m
         $URL/?service=ride-sharing-app&view=tags&group=region&from=now-15m

EOF
if [ "$DURATION" -gt 0 ]; then
	say "running for $DURATION s (DEMO_DURATION)"
else
	say "running until Ctrl-C"
fi

# wait for Ctrl-C (the trap), the end of DEMO_DURATION, or a process that
# died; meanwhile pass on us-west-1's period changes: the ranges to compare
shown=0
while :; do
	n=$(wc -l <"$LOGS/us-west-1.log")
	if [ "$n" -gt "$shown" ]; then
		sed -n "$((shown + 1)),${n}p" "$LOGS/us-west-1.log" | grep -F period | sed 's/^/demo: /'
		shown=$n
	fi
	if [ "$DURATION" -gt 0 ] && [ $((SECONDS - START)) -ge "$DURATION" ]; then
		break
	fi
	for p in "$SERVER_PID" $RS_PIDS; do
		if ! alive "$p"; then
			say "process $p exited unexpectedly; logs:" >&2
			tail -n 5 "$LOGS"/*.log >&2
			exit 1
		fi
	done
	sleep 1
done
# the load generator stops by itself at DEMO_DURATION
wait "$LOADGEN_PID" 2>/dev/null
rc=$?
LOADGEN_PID=""
cat "$LOGS/loadgen.log"
[ $rc = 0 ] || FAILED="$FAILED loadgen:$rc"
exit 0
