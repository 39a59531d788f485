#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# gen-man.sh - writes the man pages kiln.1 and kiln-COMMAND.1 from the built
# binary's --help, so the pages always describe the binary they ship with.
# Usage: gen-man.sh KILN OUTDIR VERSION. The command list is read from
# `kiln --help`; each help text is kept verbatim (.nf) because its columns
# are aligned by hand. Run by the build (target kiln_man), see CMakeLists.txt.
set -euo pipefail

kiln=$1 out=$2 version=$3
date=$(date -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}" +%Y-%m-%d)
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# roff_text FILE: help text made safe for a .nf block (backslashes, leading
# '.' and "'" would be read as roff requests)
roff_text() {
	sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/" "$1"
}

# page NAME SUMMARY HELPFILE SEEALSO
page() {
	local name=$1 summary=$2 help=$3 see=$4 usage
	usage=$(sed -n '1s/^usage: //p' "$help")
	{
		printf '.TH %s 1 "%s" "Kiln %s" "Kiln manual"\n' \
			"$(printf '%s' "$name" | tr '[:lower:]' '[:upper:]')" "$date" "$version"
		# left-adjusted, no hyphenation: names and flags stay whole
		printf '.ad l\n.nh\n'
		printf '.SH NAME\n%s \\- %s\n' "$name" "$summary"
		if [ -n "$usage" ]; then
			printf '.SH SYNOPSIS\n.nf\n'
			printf '%s\n' "$usage" | sed -e 's/\\/\\e/g'
			printf '.fi\n'
		fi
		printf '.SH DESCRIPTION\n.nf\n'
		tail -n +2 "$help" | roff_text /dev/stdin
		printf '.fi\n'
		printf '.SH EXIT STATUS\n0 ok, 1 failure, 2 usage error.\n'
		printf '.SH SEE ALSO\n%s\n' "$see"
		printf '.PP\nGuides: docs/deployment.md, docs/server.md, docs/agent.md in the Kiln sources.\n'
	} >"$out/$name.1"
}

"$kiln" --help >"$tmp/kiln.help"
# "  top        flat/cumulative table ..." lines of the commands: section
awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on && /^  [a-z]/ {
	name = $1; sub(/^  [a-z-]+ +/, ""); print name "\t" $0 }' "$tmp/kiln.help" >"$tmp/cmds"
[ -s "$tmp/cmds" ] || { echo "gen-man.sh: no commands in '$kiln --help'" >&2; exit 1; }

see=""
while IFS="$(printf '\t')" read -r cmd _; do
	see="$see${see:+, }\\fBkiln-$cmd\\fR(1)"
done <"$tmp/cmds"
page kiln "continuous profiling: read, analyse, draw, collect and store profiles" \
	"$tmp/kiln.help" "$see"
while IFS="$(printf '\t')" read -r cmd summary; do
	"$kiln" "$cmd" --help >"$tmp/$cmd.help"
	page "kiln-$cmd" "$summary" "$tmp/$cmd.help" "\\fBkiln\\fR(1)"
done <"$tmp/cmds"
