# SPDX-License-Identifier: Apache-2.0
# agent_pprof_lib.sh - sourced by the agent heap and lock tests (t61xx),
# after lib.sh: skips without Go or libkiln.so, finds (or builds) the test
# programs, and sums a profile's values per function with Go's pprof, so
# the figures an agent wrote can be compared with what the profiled program
# measured and printed.
need_go_pprof
: "${KILN_BUILD:?}" "${KILN_SRC:?}"
LIB="$KILN_BUILD/lib/libkiln.so"
[ -f "$LIB" ] || { echo "SKIP: $LIB not built"; exit 77; }

# pprof_sums FILE INDEX FUNC... prints "total N" (sum of value column INDEX,
# 1-based, over all samples) and "FUNC N" for each FUNC: the sum over the
# samples with FUNC anywhere on their stack (inline frames included).
pprof_sums() {
	local file=$1 idx=$2
	shift 2
	go tool pprof -raw "$file" 2>/dev/null | awk -v idx="$idx" -v funcs="$*" '
	BEGIN { nf = split(funcs, F, " ") }
	/^Samples:/ { sec = "s"; getline; next }
	/^Locations/ { sec = "l"; next }
	/^Mappings/ { sec = "m"; next }
	sec == "s" && /^ *-?[0-9]+( +-?[0-9]+)*: / {
		i = index($0, ":")
		split(substr($0, 1, i - 1), v, " ")
		ns++
		V[ns] = v[idx]
		IDS[ns] = substr($0, i + 1)
		next
	}
	sec == "l" && /^ +[0-9]+: / { cur = $1; sub(":", "", cur); L[cur] = " " $0 " "; next }
	sec == "l" { L[cur] = L[cur] " " $0 " " }
	END {
		for (s = 1; s <= ns; s++) {
			total += V[s]
			m = split(IDS[s], ids, " ")
			for (k = 1; k <= nf; k++)
				for (j = 1; j <= m; j++) {
					loc = L[ids[j]]
					if (index(loc, " " F[k] " ") || index(loc, " " F[k] "(")) {
						S[F[k]] += V[s]
						break
					}
				}
		}
		printf "total %d\n", total
		for (k = 1; k <= nf; k++)
			printf "%s %d\n", F[k], S[F[k]]
	}'
}

# within WHAT GOT WANT PCT: passes when |GOT - WANT| <= PCT% of WANT.
within() {
	if awk -v g="$2" -v w="$3" -v p="$4" \
		'BEGIN { d = g - w; if (d < 0) d = -d; exit !(d <= w * p / 100) }'; then
		pass
	else
		fail "$1: got $2, want $3 +-$4%"
	fi
}

# within_slack WHAT GOT WANT PCT SLACK: like within, with at least SLACK of
# absolute tolerance (for small totals measured around preemptible calls)
within_slack() {
	if awk -v g="$2" -v w="$3" -v p="$4" -v s="$5" \
		'BEGIN { d = g - w; if (d < 0) d = -d; t = w * p / 100; if (t < s) t = s;
			 exit !(d <= t) }'; then
		pass
	else
		fail "$1: got $2, want $3 +-$4% (at least +-$5)"
	fi
}

# agent_prog NAME: the path of test program NAME (tests/agent/NAME.c or .cc),
# built by CMake into $KILN_BUILD/tests/agent, else compiled into $TMP here
# (unsanitized, as the agent's hosts always are). Fails without a compiler.
agent_prog() {
	local name=$1 src
	if [ -x "$KILN_BUILD/tests/agent/$name" ]; then
		echo "$KILN_BUILD/tests/agent/$name"
		return
	fi
	for src in "$KILN_SRC/tests/agent/$name.c" "$KILN_SRC/tests/agent/$name.cc"; do
		[ -f "$src" ] || continue
		case $src in
		*.cc) command -v c++ >/dev/null && c++ -O2 -g -o "$TMP/$name" "$src" -pthread ;;
		*) cc -O2 -g -o "$TMP/$name" "$src" -pthread ;;
		esac || return 1
		echo "$TMP/$name"
		return
	done
	return 1
}

# value FILE KEY [NAME]: field 2 of the line "KEY ..." (pprof_sums output), or
# field 3 of "KEY NAME ..." (a program's truth lines)
value() {
	if [ $# -eq 2 ]; then awk -v k="$2" '$1 == k { print $2 }' "$1"
	else awk -v k="$2" -v f="$3" '$1 == k && $2 == f { print $3 }' "$1"; fi
}

# expect_profile FILE TYPES: FILE.err (the run's stderr) is empty and Go's
# pprof reads FILE, whose sample types are TYPES ("alloc_space/bytes ...")
expect_profile() {
	expect_eq "$1: nothing on stderr" "" "$(head -c 300 "$1.err")"
	expect_eq "$1: sample types" "$2" \
		"$(go tool pprof -raw "$1" 2>/dev/null | sed -n '/^Samples:/{n;p;q}' | xargs)"
}
