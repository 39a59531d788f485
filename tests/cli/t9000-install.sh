#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# t9000-install.sh - `make install` of the already built tree ($KILN_BUILD):
# with DESTDIR, every file lands under DESTDIR/PREFIX and names PREFIX; with a
# plain prefix, the installed kiln.pc builds a C program against the
# installed kiln.h and libkiln that really profiles, `kiln record` finds the
# installed agent, the man pages render and the systemd unit verifies.
. "$(dirname "$0")/lib.sh"
: "${KILN_BUILD:?}" "${KILN_SRC:?}"
command -v pkg-config >/dev/null || { echo "SKIP: no pkg-config"; exit 77; }
[ -f "$KILN_BUILD/man/kiln.1" ] || { echo "FAIL: $KILN_BUILD/man not built (target kiln_man)"; exit 1; }
version=$(sed -n 's/^#define KILN_VERSION_STRING "\(.*\)"/\1/p' "$KILN_SRC/include/kiln/version.h")

# --- 1. make install-only PREFIX=/usr/local DESTDIR=... -----------------------
root=$TMP/root
expect_exit 0 "make install DESTDIR" make -s -C "$KILN_SRC" install-only \
	INSTALL_FROM="$KILN_BUILD" PREFIX=/usr/local DESTDIR="$root"
p=$root/usr/local
[ -x "$p/bin/kiln" ] && pass || fail "bin/kiln not installed"
"$p/bin/kiln" --help >"$TMP/help" 2>&1 && pass || fail "installed kiln --help failed"
expect_contains "installed kiln version" "$TMP/help" "Kiln $version"
for f in lib/libkiln.so lib/libkiln.so.0 lib/libkiln.so.$version include/kiln/kiln.h \
	include/kiln/version.h lib/pkgconfig/kiln.pc lib/systemd/system/kiln-server.service \
	share/man/man1/kiln.1; do
	[ -f "$p/$f" ] && pass || fail "$f not installed"
done
expect_eq "libkiln.so link" "libkiln.so.0" "$(readlink "$p/lib/libkiln.so")"
expect_eq "libkiln.so.0 link" "libkiln.so.$version" "$(readlink "$p/lib/libkiln.so.0")"
soname=$(readelf -d "$p/lib/libkiln.so.$version" | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
expect_eq "soname" "libkiln.so.0" "$soname"
# nothing outside DESTDIR/PREFIX, and nothing names DESTDIR
outside=$(cd "$root" && find . ! -type d ! -path './usr/local/*')
expect_eq "files outside the prefix" "" "$outside"
if grep -rl "$root" "$p/lib/pkgconfig" "$p/lib/systemd" >/dev/null; then
	fail "DESTDIR leaked into installed files"
else pass; fi
expect_contains "kiln.pc prefix" "$p/lib/pkgconfig/kiln.pc" "prefix=/usr/local"
expect_contains "unit ExecStart" "$p/lib/systemd/system/kiln-server.service" \
	"ExecStart=/usr/local/bin/kiln server --data-dir /var/lib/kiln"
# pkg-config on the staged tree (a packager's view) points into the stage
flags=$(PKG_CONFIG_SYSROOT_DIR="$root" PKG_CONFIG_PATH="$p/lib/pkgconfig" \
	pkg-config --cflags --libs kiln)
expect_eq "staged pkg-config" "-I$p/include -L$p/lib -lkiln" "$(echo $flags)"

# one man page per command of `kiln --help`, each readable by man -l
cmds=$(awk '/^commands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }' "$TMP/help")
[ -n "$cmds" ] && pass || fail "no commands in kiln --help"
for c in $cmds; do
	[ -f "$p/share/man/man1/kiln-$c.1" ] && pass || fail "no man page kiln-$c.1"
done
if command -v man >/dev/null; then
	for page in "$p"/share/man/man1/*.1; do
		MANWIDTH=100 man --warnings -l "$page" >"$TMP/man.txt" 2>"$TMP/man.err"
		name=$(basename "$page" .1)
		if [ -s "$TMP/man.err" ]; then fail "man -l $name: $(head -c 300 "$TMP/man.err")"; fi
		if grep -qE "^ +$name +- " "$TMP/man.txt"; then pass; else
			fail "man -l $name: no NAME line: $(head -c 300 "$TMP/man.txt")"
		fi
		expect_contains "man $name usage" "$TMP/man.txt" "kiln"
	done
	MANWIDTH=100 man -l "$p/share/man/man1/kiln-server.1" >"$TMP/man.txt" 2>/dev/null
	expect_contains "kiln-server.1 from --help" "$TMP/man.txt" "--data-dir DIR"
else
	echo "note: man not installed, pages not rendered"
fi

# --- 2. a plain prefix: build and run a program against the installed kiln ---
pre=$TMP/prefix
expect_exit 0 "cmake --install --prefix" cmake --install "$KILN_BUILD" --prefix "$pre"
export PKG_CONFIG_PATH=$pre/lib/pkgconfig
expect_eq "pkg-config version" "$version" "$(pkg-config --modversion kiln)"
flags=$(pkg-config --cflags --libs kiln)
expect_eq "pkg-config flags" "-I$pre/include -L$pre/lib -lkiln" "$(echo $flags)"
cat >"$TMP/app.c" <<'CEOF'
#define _POSIX_C_SOURCE 200809L
#include <kiln/kiln.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static volatile double sink;

static void burn(void *arg)
{
	struct timespec t0, t;

	(void)arg;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 100000; i++)
			sink += i * 0.5;
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000 + (t.tv_nsec - t0.tv_nsec) / 1000000 < 400);
}

int main(int argc, char **argv)
{
	struct kiln_config cfg = KILN_CONFIG_INIT;
	const char *n[] = { "vehicle" }, *v[] = { "car" };
	int err;

	if (argc == 2 && !strcmp(argv[1], "burn")) {	/* under kiln record */
		burn(NULL);
		return 0;
	}
	if (strcmp(kiln_version(), KILN_VERSION_STRING)) {
		fprintf(stderr, "version %s != %s\n", kiln_version(), KILN_VERSION_STRING);
		return 1;
	}
	cfg.application_name = "installed-app";
	cfg.profiles = KILN_PROFILE_CPU;
	cfg.output = argv[1];
	err = kiln_start(&cfg);
	if (err) {
		fprintf(stderr, "kiln_start: %s\n", kiln_strerror(err));
		return 1;
	}
	kiln_with_tags(n, v, 1, burn, NULL);
	err = kiln_stop();
	printf("stopped %d running %d\n", err, kiln_running());
	return err != 0 || argc != 2;
}
CEOF
libdir=$(pkg-config --variable=libdir kiln)
# shellcheck disable=SC2086 # word splitting of pkg-config's flags is intended
if cc -std=c11 -Wall -Werror -o "$TMP/app" "$TMP/app.c" $flags -Wl,-rpath,"$libdir" \
	2>"$TMP/cc.err"; then pass; else fail "compile against installed kiln: $(cat "$TMP/cc.err")"; fi
if [ -x "$TMP/app" ]; then
	ldd "$TMP/app" >"$TMP/ldd"
	expect_contains "app uses installed libkiln" "$TMP/ldd" "libkiln.so.0 => $pre/lib/libkiln.so.0"
	expect_exit 0 "app with installed libkiln" "$TMP/app" "$TMP/app.pb.gz"
	expect_contains "app stopped" "$TMP/out" "stopped 0 running 0"
	"$pre/bin/kiln" top -tagfocus vehicle=car "$TMP/app.pb.gz" >"$TMP/top" 2>&1 &&
		pass || fail "kiln top of the app's profile: $(head -c 300 "$TMP/top")"
	expect_contains "app profile has burn" "$TMP/top" "burn"
fi
# the installed kiln finds the installed agent in ../lib
if [ -x "$TMP/app" ]; then
	expect_exit 0 "installed kiln record" "$pre/bin/kiln" record -o "$TMP/rec.pb.gz" -- \
		"$TMP/app" burn
	"$pre/bin/kiln" top "$TMP/rec.pb.gz" >"$TMP/top" 2>&1
	expect_contains "kiln record profile has burn" "$TMP/top" "burn"
fi

# --- 3. the systemd unit -------------------------------------------------------
unit=$pre/lib/systemd/system/kiln-server.service
if command -v systemd-analyze >/dev/null; then
	# the unit of this install names an ExecStart that exists; --man=no: the
	# man page is not in the system's man path
	if systemd-analyze verify --man=no "$unit" >"$TMP/verify" 2>&1; then pass; else
		fail "systemd-analyze verify: $(head -c 500 "$TMP/verify")"
	fi
else
	echo "note: systemd-analyze not installed, unit not verified"
fi
expect_contains "unit ExecStart (prefix)" "$unit" "ExecStart=$pre/bin/kiln server --data-dir /var/lib/kiln"
finish
