#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# bench/server.sh - kiln server benchmarks with kiln-loadgen (bench/loadgen.c)
# against a real server on 127.0.0.1, each section bounded (< 2 min):
#   ingest   sustained profiles/s, 1,000 series, durability on (--sync fsync),
#            then fsync with 32 worker threads, --sync write and none as peers,
#            and Connect Push instead of /ingest
#            (and the disk's fdatasync rate, and profiles per WAL
#            fdatasync: the group commit's batch); server CPU per profile over
#            the bare cost of kl_gunzip + kl_pprof_read of the same bytes
#            (kiln-loadgen --decode-bench), and of the same path in process
#            without HTTP or WAL (--pipeline-bench); server RSS under that load
#   query    render json over 24 h of 10-s profiles of one service, over 30
#            days of one service, label-values; the peer is decoding the same
#            profiles (decode cost x profiles in range)
#   storage  bytes on disk per profile for one steady service, and the ratio
#            to the gzipped pprof bytes ingested
# usage: bench/server.sh [BUILD_DIR] [SECTION...]   (default: build, all sections)
# Knobs (environment): INGEST_SECONDS [20], INGEST_CONNECTIONS [16],
# BACKFILL_SECONDS [60] (time budget of the 30-day backfill), QUERY_RUNS [20].
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-$root/build}
[ $# -gt 0 ] && shift
sections=${*:-ingest query storage}
KILN=$build/bin/kiln
LOADGEN=$build/bin/kiln-loadgen
export KILN_FIXTURES=${KILN_FIXTURES:-$root/../shared/fixtures}
INGEST_SECONDS=${INGEST_SECONDS:-20}
INGEST_CONNECTIONS=${INGEST_CONNECTIONS:-16}
BACKFILL_SECONDS=${BACKFILL_SECONDS:-60}
QUERY_RUNS=${QUERY_RUNS:-20}
PTYPE=process_cpu:cpu:nanoseconds:cpu:nanoseconds
HZ=$(getconf CLK_TCK)
for b in "$KILN" "$LOADGEN"; do
	[ -x "$b" ] || { echo "bench/server.sh: build $b first (targets kiln kiln-loadgen)" >&2; exit 1; }
done
tmp=$(mktemp -d)
PID=""
cleanup() {
	[ -n "$PID" ] && kill -9 "$PID" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

# start_server NAME [flags...]: sets PID, URL, DATA
start_server() {
	local name=$1 i
	shift
	DATA=$tmp/$name
	# no self-profiling: its sampler and uploads would count as ingest CPU and RSS
	"$KILN" server --listen 127.0.0.1:0 --port-file "$tmp/$name.port" --data-dir "$DATA" \
		--log-level warn --self-profile=false "$@" 2>"$tmp/$name.log" &
	PID=$!
	for ((i = 0; i < 400; i++)); do
		[ -s "$tmp/$name.port" ] && break
		sleep 0.05
	done
	URL=http://127.0.0.1:$(cat "$tmp/$name.port")
	for ((i = 0; i < 400; i++)); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/healthz")" = 200 ] && return 0
		sleep 0.05
	done
	echo "bench/server.sh: the server did not start: $(tail -c 500 "$tmp/$name.log")" >&2
	exit 1
}
stop_server() {
	kill -TERM "$PID"
	wait "$PID"
	PID=""
}
# cpu_ticks PID: utime + stime (fields 14 and 15, counted after the ")" of comm)
cpu_ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$1/status"; }
# field NAME FILE: value of NAME= on the RESULT line
field() { sed -n "s/.*RESULT.* $1=\([^ ]*\).*/\1/p" "$2" | tail -1; }
# qtime PATH: median and p90 of QUERY_RUNS runs, ms; checks the status is 200
qtime() {
	local i
	for ((i = 0; i < QUERY_RUNS; i++)); do
		curl -s -o "$tmp/q.out" -w '%{http_code} %{time_total}\n' "$URL$1"
	done | sort -k2 -n | awk -v n="$QUERY_RUNS" '
		$1 != 200 { bad++ } { t[NR] = $2 * 1000 }
		END { if (bad) printf "FAILED (%d non-200) ", bad
		      printf "%.1f %.1f", t[int(n / 2) + 1], t[int(n * 0.9) + 1] }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "n/a" }'; }

decode_us=""
decode() {
	[ -n "$decode_us" ] && return
	"$LOADGEN" --decode-bench 3 --quiet >"$tmp/decode.out"
	decode_us=$(field decode_us "$tmp/decode.out")
}

# pipeline: the server's ingest path in one thread without HTTP or WAL
# (kiln-loadgen --pipeline-bench), the same variant mix and series
pipeline() {
	local us
	"$LOADGEN" --services 100 --labelsets 10 --pipeline-bench 3 --pipeline-dir "$tmp/pipeline" \
		--quiet >"$tmp/pipeline.out" || { echo "bench/server.sh: the pipeline bench failed" >&2; exit 1; }
	rm -rf "$tmp/pipeline"
	us=$(field pipeline_us "$tmp/pipeline.out")
	echo "in process, one thread, no HTTP, no WAL (kl_ingest_request + kl_store_append):" \
		"$us us/profile = $(ratio "$us" "$decode_us")x the bare decode"
	echo "RESULT pipeline pipeline_us=$us decode_us=$decode_us"
}

bench_ingest() {
	local cfg name flags conns secs mode ticks0 ticks1 acked us rss_max rss_now sampler rate
	local syncs0 syncs1 per_sync
	echo "== ingest: 1,000 series (100 services x 10 label sets), live 10-s profiles"
	decode
	pipeline
	echo "this disk: $(fsync_rate) fdatasync/s of 4 KiB (the group commit's unit of cost)"
	# name | server flags | connections | seconds | kiln-loadgen --mode
	for cfg in "fsync|--sync fsync|$INGEST_CONNECTIONS|$INGEST_SECONDS|ingest" \
		"fsync-c64|--sync fsync|64|$((INGEST_SECONDS / 2))|ingest" \
		"fsync-t32|--sync fsync --threads 32|64|$((INGEST_SECONDS / 2))|ingest" \
		"write-c64|--sync write|64|$((INGEST_SECONDS / 2))|ingest" \
		"write|--sync write|$INGEST_CONNECTIONS|$((INGEST_SECONDS / 2))|ingest" \
		"none|--sync none|$INGEST_CONNECTIONS|$((INGEST_SECONDS / 2))|ingest" \
		"push|--sync fsync|$INGEST_CONNECTIONS|$((INGEST_SECONDS / 2))|push"; do
		IFS='|' read -r name flags conns secs mode <<<"$cfg"
		# shellcheck disable=SC2086
		start_server "ingest-$name" $flags
		# warm-up: every series exists before the measured run
		"$LOADGEN" --url "$URL" --services 100 --labelsets 10 --count 2000 \
			--connections "$conns" --mode "$mode" --quiet >/dev/null
		ticks0=$(cpu_ticks "$PID")
		syncs0=$(wal_syncs)
		(while kill -0 "$PID" 2>/dev/null; do rss_kb "$PID"; sleep 0.5; done) >"$tmp/rss.$name" &
		sampler=$!
		"$LOADGEN" --url "$URL" --services 100 --labelsets 10 --duration "$secs" \
			--connections "$conns" --mode "$mode" >"$tmp/ingest.$name"
		ticks1=$(cpu_ticks "$PID")
		syncs1=$(wal_syncs)
		rss_max=$(sort -n "$tmp/rss.$name" | tail -1)
		rss_now=$(rss_kb "$PID")
		stop_server
		wait "$sampler" 2>/dev/null
		acked=$(field acked "$tmp/ingest.$name")
		rate=$(field acked_rate "$tmp/ingest.$name")
		us=$(awk -v t=$((ticks1 - ticks0)) -v hz="$HZ" -v n="$acked" \
			'BEGIN { printf "%.0f", t * 1e6 / hz / n }')
		per_sync=$(ratio "$acked" "$((syncs1 - syncs0))")
		printf '%-9s (%s, %s, %s connections): %.0f profiles/s acknowledged = %s of the target\n' \
			"$name" "$mode" "$flags" "$conns" "$rate" "$(ratio "$rate" 5000)"
		printf '          errors %s, latency p50 %s ms, p99 %s ms\n' \
			"$(field errors "$tmp/ingest.$name")" "$(field p50_ms "$tmp/ingest.$name")" \
			"$(field p99_ms "$tmp/ingest.$name")"
		printf '          server CPU %s us/profile = %sx the bare decode (%s us)\n' \
			"$us" "$(ratio "$us" "$decode_us")" "$decode_us"
		printf '          WAL: %s fdatasyncs, %s profiles per fdatasync\n' \
			"$((syncs1 - syncs0))" "$per_sync"
		printf '          server RSS, 1,000 active series: max %s MiB under load, %s MiB after\n' \
			"$((rss_max / 1024))" "$((rss_now / 1024))"
		printf '          %s\n' "$(grep 'loadgen cpu' "$tmp/ingest.$name")"
		echo "RESULT ingest config=$name rate=$rate cpu_us=$us decode_us=$decode_us rss_max_kb=$rss_max" \
			"per_sync=$per_sync"
	done
	echo "bare decode = kiln-loadgen --decode-bench: a C loop of kl_gunzip + kl_pprof_read over" \
		"the same variant mix, $(field gz_bytes_avg "$tmp/decode.out") gzipped bytes a profile"
}

# wal_syncs: the server's WAL fdatasync count so far (0 without a WAL)
wal_syncs() {
	curl -s "$URL/metrics" | awk '/^kiln_store_wal_syncs_total/ { n = $2 } END { print n + 0 }'
}

# fsync_rate: fdatasync calls per second on the benchmark's file system
fsync_rate() {
	python3 - "$tmp/fsync.test" <<'EOF'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
n, t = 0, time.time()
while time.time() - t < 1:
    os.write(fd, b"x" * 4096)
    os.fdatasync(fd)
    n += 1
print("%.0f" % (n / (time.time() - t)))
os.unlink(sys.argv[1])
EOF
}

bench_query() {
	local rate step n30 p24 p30
	echo "== query: 24 h and 30 days of one service (backfilled with --sync write)"
	decode
	start_server query --sync write
	"$LOADGEN" --url "$URL" --backfill 24h --services 1 --prefix day --connections 8 \
		--duration 110 >"$tmp/day.out"
	p24=$(field acked "$tmp/day.out")
	rate=$(field acked_rate "$tmp/day.out")
	# 259,200 profiles of 10 s may not fit the budget: widen the step so that 30 days do
	step=$(awk -v r="$rate" -v b="$BACKFILL_SECONDS" 'BEGIN {
		s = 2592000 / (r * b); s = int((s + 9) / 10) * 10; if (s < 10) s = 10; print s }')
	"$LOADGEN" --url "$URL" --backfill 30d --step "$step" --services 1 --prefix month \
		--connections 8 --duration $((BACKFILL_SECONDS * 2)) >"$tmp/month.out"
	n30=$(field acked "$tmp/month.out")
	echo "backfill: 24 h = $p24 profiles of 10 s at $rate/s; 30 days = $n30 profiles of $step s" \
		"($(ratio "$n30" 259200) of the 259,200 10-s profiles)"
	local q24 q30 qlv qlv2
	q24=$(qtime "/pyroscope/render?format=json&from=now-24h&until=now&query=$PTYPE%7Bservice_name%3D%22day-0%22%7D")
	grep -q '"numTicks":[1-9]' "$tmp/q.out" || echo "WARNING: the 24 h render is empty: $(head -c 200 "$tmp/q.out")"
	q30=$(qtime "/pyroscope/render?format=json&from=now-30d&until=now&query=$PTYPE%7Bservice_name%3D%22month-0%22%7D")
	grep -q '"numTicks":[1-9]' "$tmp/q.out" || echo "WARNING: the 30 d render is empty: $(head -c 200 "$tmp/q.out")"
	qlv=$(qtime "/pyroscope/label-values?label=service_name&from=now-30d&until=now")
	qlv2=$(qtime "/pyroscope/label-values?label=__profile_type__&from=now-1h&until=now")
	read -r m24 p9024 <<<"$q24"
	read -r m30 p9030 <<<"$q30"
	echo "render json 24 h ($p24 profiles): median $m24 ms, p90 $p9024 ms (target <= 50 ms);" \
		"decoding those profiles alone would take $(awk -v u="$decode_us" -v n="$p24" 'BEGIN { printf "%.0f", u * n / 1000 }') ms:" \
		"$(ratio "$(awk -v u="$decode_us" -v n="$p24" 'BEGIN { print u * n / 1000 }')" "$m24")x faster"
	echo "render json 30 d ($n30 profiles): median $m30 ms, p90 $p9030 ms (target <= 250 ms);" \
		"decoding them: $(awk -v u="$decode_us" -v n="$n30" 'BEGIN { printf "%.0f", u * n / 1000 }') ms"
	echo "label-values service_name (30 d): median/p90 $qlv ms; __profile_type__: $qlv2 ms (target <= 5 ms)"
	echo "RESULT query render24h_ms=$m24 render30d_ms=$m30 profiles30d=$n30 step30d=$step labelvalues_ms=${qlv%% *}"
	stop_server
}

bench_storage() {
	local gz n before after wal blocks
	echo "== storage: one steady service, 12 h of 10-s profiles (4,320), --sync fsync"
	start_server storage
	"$LOADGEN" --url "$URL" --backfill 12h --services 1 --prefix steady --connections 8 \
		--duration 110 >"$tmp/steady.out"
	n=$(field acked "$tmp/steady.out")
	gz=$(field bytes "$tmp/steady.out")
	before=$(du -sb "$DATA" | cut -f1)
	stop_server
	after=$(du -sb "$DATA" | cut -f1)
	wal=$(find "$DATA" -name '*.wal' -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
	blocks=$((after - wal))
	echo "$n profiles, $gz gzipped pprof bytes in ($((gz / n)) per profile)"
	echo "on disk while running: $before bytes = $((before / n)) per profile, $(ratio "$before" "$gz") of the gzipped input"
	echo "on disk after SIGTERM: $after bytes (WAL $wal, blocks and rest $blocks) = $((after / n)) per profile," \
		"$(ratio "$after" "$gz") of the gzipped input (target <= 0.10)"
	# the steady state: what the immutable blocks hold (the head's WAL is transient)
	local bstat bprof bbytes
	bstat=$(python3 - "$DATA" <<'EOF'
import glob, json, os, sys
prof = size = 0
for meta in glob.glob(os.path.join(sys.argv[1], "blocks", "*", "*", "meta.json")):
    d = os.path.dirname(meta)
    prof += json.load(open(meta)).get("profiles", 0)
    size += sum(os.path.getsize(os.path.join(d, f)) for f in os.listdir(d))
print(prof, size)
EOF
)
	read -r bprof bbytes <<<"$bstat"
	if [ "${bprof:-0}" -gt 0 ]; then
		echo "in blocks: $bprof series profiles (one per sample type and label set) in" \
			"$bbytes bytes = $((bbytes / bprof)) bytes each; blocks + rest of WAL per" \
			"ingested profile: $((after / n)) bytes"
	else
		echo "in blocks: none written (the store kept everything in the head and its WAL)"
	fi
	find "$DATA" -type f -printf '  %p %s\n' | sed "s|$DATA/||" | sort | head -12
	echo "RESULT storage profiles=$n gz_bytes=$gz disk_bytes=$after ratio=$(ratio "$after" "$gz")" \
		"block_profiles=${bprof:-0} block_bytes=${bbytes:-0}"
}

# the machine is shared: say how busy it was
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
for s in $sections; do
	case $s in
	ingest) bench_ingest ;;
	query) bench_query ;;
	storage) bench_storage ;;
	*) echo "bench/server.sh: unknown section $s (ingest query storage)" >&2; exit 2 ;;
	esac
	echo
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
