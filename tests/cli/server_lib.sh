# SPDX-License-Identifier: Apache-2.0
# server_lib.sh - start and stop real `kiln server` processes for the
# tests/cli/t7*-server-*.sh scripts. Source it after lib.sh:
#   server_start [flags...]   start one more server on a free port; sets
#                             SERVER_URL, SERVER_PID, SERVER_DATA, SERVER_LOG
#   server_stop               SIGTERM the last started server; fails on exit != 0
#   server_kill9              kill -9 the last started server
#   server_wait_url URL CODE  poll until URL answers CODE (20 s deadline)
# A server started with --tls-cert (or with SERVER_TLS=1 set, when TLS comes
# from a config file) gets an https:// SERVER_URL and is not polled (the
# test holds the CA); the port file alone says that it accepts connections.
# Every server still running when the script exits is killed.
SERVER_N=0
SERVER_PIDS=""

_server_cleanup() {
	local p
	for p in $SERVER_PIDS; do
		kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
	done
	rm -rf "$TMP"
}
trap _server_cleanup EXIT

# server_wait_url URL CODE [SECONDS]: 0 once curl gets CODE, 1 after the deadline.
server_wait_url() {
	local url=$1 want=$2 deadline=$((SECONDS + ${3:-20})) code
	while [ $SECONDS -lt $deadline ]; do
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null)
		[ "$code" = "$want" ] && return 0
		sleep 0.05
	done
	return 1
}

# acks_count FILE...: the profiles kiln-loadgen --ack-log FILE logged as acknowledged (200)
acks_count() {
	awk '$2 == 200' "$@" 2>/dev/null | wc -l
}

# acks_wait FILE N PID [SECONDS]: returns once FILE logs N acknowledged profiles, the
# load generator PID has exited, or SECONDS (60) have passed
acks_wait() {
	local deadline=$((SECONDS + ${4:-60}))
	while [ $SECONDS -lt $deadline ]; do
		[ "$(acks_count "$1")" -ge "$2" ] && return
		kill -0 "$3" 2>/dev/null || return
		sleep 0.05
	done
}

# server_start [flags...]: the data directory is $TMP/data unless a
# --data-dir flag is given (SERVER_DATA is set either way). Returns 1 if
# the server does not answer /healthz within 20 s.
server_start() {
	local n=$((SERVER_N + 1)) deadline port="" a prev="" data=""
	SERVER_N=$n
	for a in "$@"; do
		[ "$prev" = "--data-dir" ] && data=$a
		case $a in --data-dir=*) data=${a#--data-dir=} ;; esac
		prev=$a
	done
	SERVER_LOG="$TMP/server.$n.log"
	rm -f "$TMP/port.$n"
	if [ -z "$data" ]; then
		data="$TMP/data"
		set -- --data-dir "$data" "$@"
	fi
	SERVER_DATA=$data
	"$KILN" server --listen 127.0.0.1:0 --port-file "$TMP/port.$n" --self-profile=false "$@" \
		2>"$SERVER_LOG" &
	SERVER_PID=$!
	SERVER_PIDS="$SERVER_PIDS $SERVER_PID"
	deadline=$((SECONDS + 20))
	while [ $SECONDS -lt $deadline ]; do
		if [ -s "$TMP/port.$n" ]; then
			port=$(cat "$TMP/port.$n")
			break
		fi
		kill -0 "$SERVER_PID" 2>/dev/null || break
		sleep 0.02
	done
	if [ -z "$port" ]; then
		fail "server $n did not start: $(tail -c 600 "$SERVER_LOG")"
		return 1
	fi
	SERVER_PORT=$port
	SERVER_URL="http://127.0.0.1:$port"
	case " $* " in *" --tls-cert"*) SERVER_URL="https://127.0.0.1:$port" ;; esac
	[ -n "${SERVER_TLS:-}" ] && SERVER_URL="https://127.0.0.1:$port"
	# https needs the test's CA (curl --cacert): the port file is enough then
	case $SERVER_URL in https:*) return 0 ;; esac
	if ! server_wait_url "$SERVER_URL/healthz" 200 20; then
		fail "server $n: /healthz never answered 200: $(tail -c 600 "$SERVER_LOG")"
		return 1
	fi
	return 0
}

# _server_alive PID: running (an exited child stays a zombie until wait: not alive)
_server_alive() {
	local st
	st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)
	[ -n "$st" ] && [ "$st" != Z ]
}

_server_forget() {
	local p rest=""
	for p in $SERVER_PIDS; do
		[ "$p" = "$1" ] || rest="$rest $p"
	done
	SERVER_PIDS=$rest
}

# server_stop [PID]: SIGTERM, wait, and fail the test unless the exit code is 0.
server_stop() {
	local pid=${1:-$SERVER_PID} rc deadline=$((SECONDS + 60))
	kill -TERM "$pid" 2>/dev/null
	# a server that does not stop fails the test instead of hanging it
	while _server_alive "$pid" && [ $SECONDS -lt $deadline ]; do
		sleep 0.02
	done
	if _server_alive "$pid"; then
		kill -9 "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
		_server_forget "$pid"
		fail "server $pid did not stop within 60 s of SIGTERM: $(tail -c 600 "$SERVER_LOG")"
		return 1
	fi
	wait "$pid"
	rc=$?
	_server_forget "$pid"
	if [ "$rc" != 0 ]; then
		fail "server $pid exited $rc after SIGTERM: $(tail -c 600 "$SERVER_LOG")"
		return 1
	fi
	# sanitizer reports that did not end the process (UBSan) fail the test too
	if grep -qE 'runtime error:|AddressSanitizer|LeakSanitizer' "$SERVER_LOG" 2>/dev/null; then
		fail "server $pid: sanitizer report: $(grep -m1 -A5 -E 'runtime error:|Sanitizer' "$SERVER_LOG")"
		return 1
	fi
	return 0
}

# server_kill9 [PID]: kill -9 and reap.
server_kill9() {
	local pid=${1:-$SERVER_PID}
	kill -9 "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
	_server_forget "$pid"
	return 0
}
