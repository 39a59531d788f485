#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# `make demo` for real, short: scripts/demo.sh with a free port, its own data
# dir, 8 s periods of the us-west-1 bug and 1 s uploads, for 40 s; then a
# server on the same store answers what the README promises (regions, vehicles,
# order_car the widest, mutex_lock's share in high vs low periods, the lock and
# heap profiles), and nothing the demo started is left running. A second short
# run is stopped by Ctrl-C typed on its terminal (a pty), as a person stops it.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/server_lib.sh"
B=${KILN_BUILD:-$(dirname "$KILN")/..}
for f in rideshare rideshare-loadgen; do
	[ -x "$B/bin/$f" ] || { echo "SKIP: $B/bin/$f not built"; exit 77; }
done
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
P=8
DUR=40
APP='{service_name="ride-sharing-app"}'
CPU=process_cpu:cpu:nanoseconds:cpu:nanoseconds

# demo OUT [ENV=V...]: runs scripts/demo.sh in the background; sets DEMO_PID
demo() {
	local out=$1
	shift
	env TMPDIR="$TMP" KILN="$KILN" KILN_BUILD="$B" DEMO_PORT=0 RIDESHARE_PERIOD_S=$P \
		KILN_UPLOAD_INTERVAL=1s "$@" bash "$KILN_SRC/scripts/demo.sh" >"$out" 2>&1 &
	DEMO_PID=$!
}

# demo_wait SECONDS: the demo's exit code, or 124 (then killed) after SECONDS
demo_wait() {
	local deadline=$((SECONDS + $1))
	while _server_alive "$DEMO_PID" && [ $SECONDS -lt $deadline ]; do
		sleep 0.2
	done
	if _server_alive "$DEMO_PID"; then
		kill -9 "$DEMO_PID"
		wait "$DEMO_PID" 2>/dev/null
		return 124
	fi
	wait "$DEMO_PID"
}

# no_leftovers OUT WHAT: every pid the demo printed is gone, and so is any
# process whose command line names this test's directory
no_leftovers() {
	local p left="" pids
	pids=$(sed -n 's/^demo: kiln server pid \([0-9]*\), rideshare pids \(.*\), loadgen pid /\1 \2 /p' \
		"$1")
	[ -n "$pids" ] || { fail "$2: the demo printed no pids: $(head -c 600 "$1")"; return; }
	for p in $pids; do
		_server_alive "$p" && left="$left $p($({ tr '\0' ' ' <"/proc/$p/cmdline"; } 2>/dev/null))"
	done
	for p in /proc/[0-9]*; do
		if { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null | grep -qF "$TMP/" &&
			_server_alive "${p#/proc/}"; then
			left="$left ${p#/proc/}($({ tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null))"
		fi
	done
	expect_eq "$2: processes left running" "" "$left"
}

# collapsed SELECTOR FROM UNTIL: the merged profile as folded stacks
collapsed() {
	curl -s -G "$SERVER_URL/pyroscope/render" --data-urlencode "query=$1" \
		--data-urlencode "from=$2" --data-urlencode "until=$3" --data-urlencode format=collapsed
}

# total FRAME: the value of the stacks through FRAME (read from stdin)
total() {
	awk -v f="$1" '{ n = $NF; sub(/ [0-9]+$/, ""); if (index(";" $0 ";", ";" f ";")) t += n }
		END { printf "%.0f", t }'
}

# --- the demo, stopped by DEMO_DURATION -----------------------------------------
t0=$(date +%s)
demo "$TMP/demo.out" DEMO_DATA="$TMP/data" DEMO_DURATION=$DUR
demo_wait $((DUR + 100))
rc=$?
t1=$(date +%s)
expect_eq "demo exit code ($(tail -c 800 "$TMP/demo.out"))" 0 "$rc"
expect_contains "UI URL printed" "$TMP/demo.out" "Rideshare demo: open http://127.0.0.1:"
expect_contains "guide printed" "$TMP/demo.out" "mutex_lock grows from"
expect_contains "loadgen summary" "$TMP/demo.out" " 0 failed"
grep -q "period of mutex_lock until" "$TMP/demo.out" || fail "no us-west-1 period changes shown"
no_leftovers "$TMP/demo.out" "DEMO_DURATION"

# --- what the store holds -------------------------------------------------------------
server_start --data-dir "$TMP/data" || finish
lv() {
	curl -s -G "$SERVER_URL/pyroscope/label-values" --data-urlencode "label=$1" \
		--data-urlencode "query=$APP" --data-urlencode "from=$t0" --data-urlencode "until=$t1"
}
# the demo's server also profiles itself (kiln-server) unless it is an ASan build
expect_eq "services" '["ride-sharing-app"]' "$(curl -s -G "$SERVER_URL/pyroscope/label-values" \
	--data-urlencode label=service_name | tr -d ' ' | sed 's/"kiln-server",//')"
expect_eq "regions" '["eu-west-1","us-east-1","us-west-1"]' "$(lv region | tr -d ' ')"
expect_eq "vehicles" '["bike","car","scooter"]' "$(lv vehicle | tr -d ' ')"
lv __name__ >"$TMP/types"
for t in "$CPU" memory:inuse_space:bytes:space:bytes memory:alloc_space:bytes:space:bytes \
	mutex:mutex_duration:nanoseconds:contentions:count wall:wall:nanoseconds:wall:nanoseconds; do
	expect_contains "profile type $t" "$TMP/types" "\"$t\""
done

# CPU: order_car costs the most; every order goes through find_nearest_vehicle
collapsed "$CPU$APP" "$t0" "$t1" >"$TMP/cpu.folded"
car=$(total order_car <"$TMP/cpu.folded")
scooter=$(total order_scooter <"$TMP/cpu.folded")
bike=$(total order_bike <"$TMP/cpu.folded")
fnv=$(total find_nearest_vehicle <"$TMP/cpu.folded")
all=$(awk '{ t += $NF } END { printf "%.0f", t }' "$TMP/cpu.folded")
echo "cpu: all $all ns, order_car $car, order_scooter $scooter, order_bike $bike," \
	"find_nearest_vehicle $fnv"
[ "$bike" -gt 0 ] && [ "$car" -gt "$scooter" ] && [ "$car" -gt "$bike" ] ||
	fail "order_car ($car) is not above order_scooter ($scooter) and order_bike ($bike)"
[ "$fnv" -gt $(((car + scooter + bike) * 9 / 10)) ] ||
	fail "find_nearest_vehicle ($fnv) is not under the orders ($car + $scooter + $bike)"
[ "$(collapsed "$CPU{service_name=\"ride-sharing-app\",region=\"us-east-1\"}" "$t0" "$t1" |
	total mutex_lock)" = 0 ] || fail "mutex_lock in us-east-1, where there is no bug"

# us-west-1: mutex_lock's share in the high periods (epoch / P even) against the
# low ones, over whole periods inside the run less 1 s at each end
WEST="$CPU{service_name=\"ride-sharing-app\",region=\"us-west-1\"}"
hm=0 ht=0 lm=0 lt=0 nh=0 nl=0
for ((w = (t0 / P + 1) * P; w + P <= t1 - 1; w += P)); do
	collapsed "$WEST" $((w + 1)) $((w + P - 1)) >"$TMP/w.folded"
	m=$(total mutex_lock <"$TMP/w.folded")
	t=$(awk '{ t += $NF } END { printf "%.0f", t }' "$TMP/w.folded")
	kind=low
	[ $((w / P % 2)) = 0 ] && kind=high
	echo "us-west-1 $(date -u -d @"$w" +%T) +$P s: $kind: mutex_lock $m of $t ns"
	if [ $kind = high ]; then
		hm=$((hm + m)) ht=$((ht + t)) nh=$((nh + 1))
	else
		lm=$((lm + m)) lt=$((lt + t)) nl=$((nl + 1))
	fi
done
if [ "$ht" -gt 0 ] && [ "$lt" -gt 0 ]; then
	high=$((hm * 100 / ht))
	low=$((lm * 100 / lt))
	echo "mutex_lock share of us-west-1's CPU: low $low% ($nl periods), high $high% ($nh periods)"
	[ "$low" -ge 15 ] && [ "$low" -le 50 ] || fail "low-period share $low% is not about a third"
	[ "$high" -ge 55 ] && [ "$high" -le 90 ] || fail "high-period share $high% is not about 70%"
	[ $((high - low)) -ge 20 ] || fail "high ($high%) and low ($low%) periods do not differ"
else
	fail "no CPU profiles of us-west-1 in the high ($ht) or low ($lt) periods"
fi

# the lock profile shows the waits in mutex_lock; the heap profiles the allocators
LOCK=mutex:mutex_duration:nanoseconds:contentions:count
lock=$(collapsed "$LOCK{service_name=\"ride-sharing-app\",region=\"us-west-1\"}" "$t0" "$t1" |
	total mutex_lock)
echo "us-west-1 lock waits in mutex_lock: $lock ns"
[ "$lock" -gt 0 ] || fail "no lock contention in mutex_lock in us-west-1"
inuse=$(collapsed "memory:inuse_space:bytes:space:bytes$APP" "$t0" "$t1" | total cache_ride_quote)
alloc=$(collapsed "memory:alloc_space:bytes:space:bytes$APP" "$t0" "$t1" |
	total load_vehicle_positions)
echo "heap: cache_ride_quote in use $inuse bytes, load_vehicle_positions allocated $alloc bytes"
[ "$inuse" -gt 0 ] || fail "no in-use memory from cache_ride_quote"
[ "$alloc" -gt 0 ] || fail "no allocations from load_vehicle_positions"
server_stop

# --- a second run, stopped by a real Ctrl-C: ^C typed on its terminal (a pty) ----------
# ctrlc.py SCRIPT START_S: runs SCRIPT on a pty, types ^C once it prints "running
# until Ctrl-C" (or, if it has not after START_S seconds, then: a person stops a
# demo whenever they like), prints the demo's output and exits with its status
# (124 if it did not stop within 60 s of the ^C). stderr gets a timeline of
# what arrived when, for the diagnosis of a slow start.
cat >"$TMP/ctrlc.py" <<'PY'
import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execvp("bash", ["bash", sys.argv[1]])
t0 = time.time()
out, state = b"", "start"
deadline = t0 + float(sys.argv[2])
def log(what):
    sys.stderr.write("ctrlc.py +%.1f s: %s\n" % (time.time() - t0, what))
while True:
    if time.time() >= deadline:
        if state != "start":
            break
        log("no 'running until Ctrl-C' yet: typing ^C now")
        os.write(fd, b"\x03")
        state, deadline = "stopping", time.time() + 60
    r, _, _ = select.select([fd], [], [], 0.2)
    if r:
        try:
            d = os.read(fd, 4096)
        except OSError:
            d = b""
        if not d:
            log("end of output")
            break
        out += d
        log("%d bytes" % len(d))
    if state == "start" and b"running until Ctrl-C" in out:
        log("typing ^C")
        os.write(fd, b"\x03")
        state, deadline = "stopping", time.time() + 60
sys.stdout.write(out.replace(b"\r\n", b"\n").decode(errors="replace"))
for _ in range(50):
    waited, st = os.waitpid(pid, os.WNOHANG)
    if waited:
        sys.exit(os.waitstatus_to_exitcode(st))
    time.sleep(0.1)
log("the demo did not exit: killed")
os.kill(pid, 9)
os.waitpid(pid, 0)
sys.exit(124)
PY
# the demo's own start limits: 30 s for the server and each instance, 90 s for profiles
env TMPDIR="$TMP" KILN="$KILN" KILN_BUILD="$B" DEMO_PORT=0 RIDESHARE_PERIOD_S=$P \
	KILN_UPLOAD_INTERVAL=1s DEMO_DATA="$TMP/data2" \
	python3 "$TMP/ctrlc.py" "$KILN_SRC/scripts/demo.sh" 240 >"$TMP/demo2.out" 2>"$TMP/demo2.err"
rc=$?
if ! grep -q "demo: stopped" "$TMP/demo2.out"; then
	# what happened when, and the logs of the processes (left when the demo was killed)
	cat "$TMP/demo2.err"
	for f in "$TMP"/kiln-demo.*/*.log; do
		[ -f "$f" ] && { echo "--- $f"; tail -n 20 "$f"; }
	done
fi
expect_eq "demo exit code after Ctrl-C ($(tail -c 600 "$TMP/demo2.out"))" 0 "$rc"
expect_contains "Ctrl-C reached the demo" "$TMP/demo2.out" "running until Ctrl-C"
expect_contains "stopped message" "$TMP/demo2.out" "demo: stopped"
no_leftovers "$TMP/demo2.out" "Ctrl-C"
finish
