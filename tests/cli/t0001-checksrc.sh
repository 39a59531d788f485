#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The source rules of scripts/checksrc.sh hold for the whole tree.
. "$(dirname "$0")/lib.sh"
if bash "$KILN_SRC/scripts/checksrc.sh" "$KILN_SRC" >"$TMP/out" 2>&1; then
	pass
else
	fail "checksrc found violations:
$(head -40 "$TMP/out")"
fi
finish
