#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t9200: the docs cannot rot. For README.md, docs/**/*.md and examples/*/README.md
# (tests/cli/docs_run.py does the work):
#
# Convention for fenced code blocks (GitHub highlights by the first word of
# the info string; every fenced block must have one):
#   ```sh       commands that are RUN, in order, and must exit 0 (bash -e -o pipefail)
#   ```console  a transcript: each `$ cmd` is run (a line ending in `\` or `|`
#               continues it) and its output (stdout + stderr) must be the lines
#               below it; a line `...` stands for any lines, `...` inside a line
#               for any text. ```console json: whitespace is ignored (pretty JSON).
#   ```text     anything not run: commands that need root, a network, Docker,
#               Kubernetes, systemd, a long time, or a program of yours
#   c, yaml, ini, dockerfile, js ...: code, not run
#
# Blocks of one file run in one fresh directory that holds links to every
# $FIXTURES/pprof/*.pb.gz (go-cpu.pb.gz ...), myapp.c (a small program using the
# API: kiln_start, kiln_tag_push), ./myapp built from it, and build/ and include/
# linked to the build tree and the headers, as in the repository root. Environment:
#   PATH     the built kiln first       FIXTURES  shared/fixtures
#   K        the test server's URL      KILN_LIB  the built libkiln.so
#   LD_LIBRARY_PATH  the built lib/ (so LD_PRELOAD=libkiln.so finds it)
#   PKG_CONFIG_PATH  a kiln.pc for the build tree; TZ=UTC
# A file whose runnable blocks name 127.0.0.1:4040 / localhost:4040 or $K gets its
# own real `kiln server` (fresh data dir, free port); those addresses are rewritten
# to it. Also checked everywhere: each `kiln CMD` and every flag after it exists in
# `kiln CMD --help` (every `--flag` of docs/server.md in `kiln server --help`);
# every relative link and #anchor points at something that exists; every KILN_*
# name appears in the code; every ```c block that includes <kiln/kiln.h>
# compiles (-std=c11 -Wall -Werror) and links against the built libkiln.
# Runs in ~15 s (~25 s under ASan).
source "$(dirname "$0")/lib.sh"
: "${KILN_SRC:?}" "${KILN_BUILD:?}"
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 77; }
command -v curl >/dev/null || { echo "SKIP: curl missing"; exit 77; }
[ -f "$KILN_BUILD/lib/libkiln.so" ] || { echo "SKIP: libkiln.so not built"; exit 77; }

# files whose blocks are only checked, not run (space-separated; none today):
# their links, paths and `kiln` flags are still checked
SKIP_RUN=""

cd "$KILN_SRC" || exit 1
files=(README.md)
while IFS= read -r f; do files+=("$f"); done < <(find docs examples -name '*.md' | sort)
run=()
for f in "${files[@]}"; do
	case " $SKIP_RUN " in *" $f "*) ;; *) run+=("$f") ;; esac
done

python3 "$KILN_SRC/tests/cli/docs_run.py" "$KILN_SRC" "$KILN_BUILD" "$KILN" "$KILN_FIXTURES" \
	"${run[@]}" >"$TMP/out" 2>&1
rc=$?
cat "$TMP/out"
expect_eq "docs_run.py exit status (failures above)" 0 "$rc"
# the skipped files still get the link and command checks
if [ -n "$SKIP_RUN" ]; then
	DOCS_CHECK_ONLY=1 python3 "$KILN_SRC/tests/cli/docs_run.py" "$KILN_SRC" "$KILN_BUILD" \
		"$KILN" "$KILN_FIXTURES" $SKIP_RUN >"$TMP/out2" 2>&1
	rc=$?
	cat "$TMP/out2"
	expect_eq "docs_run.py (checks only) exit status" 0 "$rc"
fi
finish
