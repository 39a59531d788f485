/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_record.c - kiln record: runs a command under libkiln.so (LD_PRELOAD,
 * with KILN_OUTPUT pointing at a temporary pprof) and, when it exits,
 * turns what the agent wrote into the requested file with the CLI's own
 * writers (kiln convert for folded, kiln flame for HTML and SVG), or prints
 * a top table. The agent itself only writes pprof, which keeps the flame
 * graph renderer and its assets out of the library loaded into programs.
 * Exit status: the command's (128 + signal when a signal ended it).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

extern char **environ;

static const char usage_line[] =
	"[--types cpu,wall,heap,lock,threads] [--hz N] [-o OUT] [-p] -- COMMAND [ARG...]";

/* The types in the order the agent names its files: the first enabled one gets OUT itself. */
static const char *const type_names[] = { "cpu", "wall", "heap", "lock", "threads" };

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcasecmp(s + n - m, suffix);
}

/* Marks the types named in list (the agent's names and aliases); false on an unknown one. */
static bool parse_types(const char *list, bool *on)
{
	static const struct {
		const char *name;
		int idx;
	} names[] = {
		{ "cpu", 0 }, { "wall", 1 }, { "heap", 2 }, { "alloc", 2 }, { "lock", 3 },
		{ "mutex", 3 }, { "threads", 4 },
	};
	const char *p = list;

	while (*p) {
		size_t n = strcspn(p, ", "), i;

		if (n == 3 && !strncasecmp(p, "all", 3)) {
			for (i = 0; i < KL_ARRAY_SIZE(type_names); i++)
				on[i] = true;
		} else if (n) {
			for (i = 0; i < KL_ARRAY_SIZE(names); i++) {
				if (strlen(names[i].name) == n && !strncasecmp(p, names[i].name, n))
					break;
			}
			if (i == KL_ARRAY_SIZE(names))
				return false;
			on[names[i].idx] = true;
		}
		p += n;
		p += strspn(p, ", ");
	}
	return true;
}

static char *xasprintf2(const char *a, const char *b, const char *c)
{
	size_t n = strlen(a) + strlen(b) + strlen(c) + 1;
	char *s = cli_xmalloc(n);

	snprintf(s, n, "%s%s%s", a, b, c);
	return s;
}

/* libkiln.so: $KILN_LIB, else ../lib/libkiln.so next to this binary. */
static char *find_lib(void)
{
	const char *env = getenv("KILN_LIB");
	char exe[4096], *slash, *path;
	ssize_t n;

	if (env && *env)
		return xasprintf2(env, "", "");
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n <= 0)
		return NULL;
	exe[n] = 0;
	slash = strrchr(exe, '/');
	if (!slash)
		return NULL;
	*slash = 0;
	path = cli_xmalloc(strlen(exe) + 32);
	snprintf(path, strlen(exe) + 32, "%s/../lib/libkiln.so", exe);
	return path;
}

/* path with ".extra" before its extension (the last dot after the last slash; .pb.gz as one). */
static char *path_with(const char *path, const char *extra)
{
	const char *slash = strrchr(path, '/'), *base = slash ? slash + 1 : path;
	const char *dot = ends_with(path, ".pb.gz") ? path + strlen(path) - 6 : strrchr(base, '.');
	size_t cut = dot ? (size_t)(dot - path) : strlen(path);
	size_t n = strlen(path) + strlen(extra) + 2;
	char *s = cli_xmalloc(n);

	snprintf(s, n, "%.*s.%s%s", (int)cut, path, extra, path + cut);
	return s;
}

/* The environment of the command: ours with LD_PRELOAD and KILN_* settings added. */
static char **child_env(const char *lib, const char *output, const char *types, long hz)
{
	size_t n = 0, k = 0;
	char **env, hzs[32];
	const char *preload = getenv("LD_PRELOAD");

	while (environ[n])
		n++;
	env = cli_xcalloc(n + 7, sizeof(*env));
	for (size_t i = 0; i < n; i++) {
		if (!strncmp(environ[i], "LD_PRELOAD=", 11) || !strncmp(environ[i], "KILN_OUTPUT=", 12) ||
		    !strncmp(environ[i], "KILN_OUTPUT_SINCE=", 18) ||
		    (types && !strncmp(environ[i], "KILN_PROFILES=", 14)) ||
		    (hz && (!strncmp(environ[i], "KILN_CPU_HZ=", 12) ||
			    !strncmp(environ[i], "KILN_WALL_HZ=", 13))))
			continue;
		env[k++] = environ[i];
	}
	if (preload && *preload) {
		char *both = xasprintf2(lib, ":", preload);

		env[k++] = xasprintf2("LD_PRELOAD=", both, "");
		free(both);
	} else {
		env[k++] = xasprintf2("LD_PRELOAD=", lib, "");
	}
	env[k++] = xasprintf2("KILN_OUTPUT=", output, "");
	{
		/* every process of the command's tree merges into OUT, none clobbers it */
		struct timespec ts;
		char since[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(since, sizeof(since), "%lld", (long long)ts.tv_sec * 1000000000 + ts.tv_nsec);
		env[k++] = xasprintf2("KILN_OUTPUT_SINCE=", since, "");
	}
	if (types)
		env[k++] = xasprintf2("KILN_PROFILES=", types, "");
	if (hz) {
		snprintf(hzs, sizeof(hzs), "%ld", hz);
		env[k++] = xasprintf2("KILN_CPU_HZ=", hzs, "");
		env[k++] = xasprintf2("KILN_WALL_HZ=", hzs, "");
	}
	env[k] = NULL;
	return env;
}

/* Runs argv with env; returns its exit status as a shell reports it, or -1. */
static int run(const char **argv, char **env)
{
	struct sigaction ign = { .sa_handler = SIG_IGN }, old_int, old_quit;
	pid_t pid;
	int status = 0;

	fflush(NULL);
	/* like system(): ^C reaches the command, and kiln record still writes what was recorded */
	sigemptyset(&ign.sa_mask);
	sigaction(SIGINT, &ign, &old_int);
	sigaction(SIGQUIT, &ign, &old_quit);
	pid = fork();
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		execvpe(argv[0], (char *const *)argv, env);
		fprintf(stderr, "kiln record: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	while (pid > 0 && waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sigaction(SIGINT, &old_int, NULL);
	sigaction(SIGQUIT, &old_quit, NULL);
	if (pid < 0) {
		cli_error("record", "fork: %s", strerror(errno));
		return -1;
	}
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

/* Writes the recorded pprof src to dst in the format dst's name asks for. */
static int convert(const char *src, const char *dst)
{
	const char *argv[] = { NULL, src, "-o", dst, NULL };

	if (ends_with(dst, ".html") || ends_with(dst, ".htm") || ends_with(dst, ".svg")) {
		argv[0] = "flame";
		return cmd_flame(4, argv);
	}
	argv[0] = "convert";
	return cmd_convert(4, argv);
}

/* Where the options end and the command starts (after "--", or at the first word). */
static int command_start(int argc, const char **argv, bool *dashdash)
{
	static const char *const with_value[] = { "-o", "--o", "-output", "--output", "-types",
						  "--types", "-hz", "--hz" };

	*dashdash = false;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--")) {
			*dashdash = true;
			return i;
		}
		if (argv[i][0] != '-' || !argv[i][1])
			return i;
		for (size_t k = 0; k < KL_ARRAY_SIZE(with_value); k++) {
			if (!strcmp(argv[i], with_value[k])) {
				i++;
				break;
			}
		}
	}
	return argc;
}

int cmd_record(int argc, const char **argv)
{
	const char *types = NULL, *output = NULL;
	long hz = 0;
	bool print = false, on[KL_ARRAY_SIZE(type_names)] = { false }, dashdash, pprof_out;
	char tmpdir[] = "/tmp/kiln-record.XXXXXX", *lib = NULL, *recorded = NULL, **env = NULL;
	const struct cli_opt opts[] = {
		{ "types", CLI_OPT_STRING, &types,
		  "profile types: cpu, wall, heap, lock, threads, all (default cpu)", NULL },
		{ "hz", CLI_OPT_INT, &hz, "cpu and wall sampling rate (default 100)", NULL },
		{ "o", CLI_OPT_STRING, &output,
		  "output: .pb.gz/.pb (pprof), .folded, .html, .svg, .json; more types: OUT.<type>.ext",
		  "output" },
		{ "p", CLI_OPT_BOOL, &print, "print a top table when the command exits (default "
		  "without -o)", "print" },
		{ NULL, 0, NULL, NULL, NULL },
	};
	int start = command_start(argc, argv, &dashdash), npos, rc, status, first;

	rc = cli_parse("record", usage_line, opts, start, argv, &npos);
	if (rc)
		return rc == CLI_HELP ? CLI_OK : rc;
	start += dashdash;
	if (npos || start >= argc) {
		cli_error("record", "no command given; usage: kiln record %s", usage_line);
		return CLI_USAGE;
	}
	if (hz < 0 || hz > 10000) {
		cli_error("record", "--hz must be between 1 and 10000");
		return CLI_USAGE;
	}
	if (!parse_types(types ? types : "cpu", on)) {
		cli_error("record", "--types: '%s' is not a list of cpu, wall, heap, lock, threads",
			  types);
		return CLI_USAGE;
	}
	if (!output)
		print = true;
	pprof_out = output && (ends_with(output, ".pb.gz") || ends_with(output, ".pb") ||
			       ends_with(output, ".pprof"));
	if (output && !pprof_out && !ends_with(output, ".folded") && !ends_with(output, ".html") &&
	    !ends_with(output, ".htm") && !ends_with(output, ".svg") &&
	    !ends_with(output, ".collapsed") && !ends_with(output, ".txt") &&
	    !ends_with(output, ".json")) {
		cli_error("record", "cannot tell the format of '%s': use .pb.gz, .pb, .folded, .html, "
			  ".svg or .json", output);
		return CLI_USAGE;
	}
	lib = find_lib();
	if (!lib || access(lib, R_OK)) {
		cli_error("record", "cannot find libkiln.so (%s); set KILN_LIB to its path",
			  lib ? lib : "no path");
		free(lib);
		return CLI_FAIL;
	}
	if (!mkdtemp(tmpdir)) {
		cli_error("record", "cannot make a temporary directory: %s", strerror(errno));
		free(lib);
		return CLI_FAIL;
	}
	/* pprof output is written by the agent in place; other formats are converted from a temp file */
	recorded = pprof_out ? xasprintf2(output, "", "") : xasprintf2(tmpdir, "/profile.pb.gz", "");
	if (!recorded) {
		rc = CLI_FAIL;
		goto out;
	}
	env = child_env(lib, recorded, types, hz);
	status = run(argv + start, env);
	rc = status < 0 ? CLI_FAIL : status;
	first = 1;
	for (size_t i = 0; i < KL_ARRAY_SIZE(type_names) && status >= 0; i++) {
		char *src, *dst = NULL;
		struct stat st;

		if (!on[i])
			continue;
		src = first ? xasprintf2(recorded, "", "") : path_with(recorded, type_names[i]);
		if (stat(src, &st)) {
			cli_error("record", "no %s profile was written (%s): the command may have "
				  "ended without exit(), e.g. by _exit or a signal", type_names[i], src);
			if (!rc)
				rc = CLI_FAIL;
			free(src);
			continue;
		}
		if (output && !pprof_out) {
			dst = first ? xasprintf2(output, "", "") : path_with(output, type_names[i]);
			if (convert(src, dst) != CLI_OK && !rc)
				rc = CLI_FAIL;
		}
		if (print) {
			const char *top[] = { "top", src, NULL };

			fflush(stdout);
			if (first == 0 || on[1] + on[2] + on[3] + on[4] + on[0] > 1)
				printf("== %s ==\n", type_names[i]);
			fflush(stdout);
			if (cmd_top(2, top) != CLI_OK && !rc)
				rc = CLI_FAIL;
		}
		if (!pprof_out)
			unlink(src);
		free(src);
		free(dst);
		first = 0;
	}
out:
	rmdir(tmpdir);
	if (env) {
		/* the entries we added follow the inherited ones */
		for (char **e = env; *e; e++) {
			bool ours = true;

			for (char **o = environ; *o; o++) {
				if (*o == *e) {
					ours = false;
					break;
				}
			}
			if (ours)
				free(*e);
		}
		free(env);
	}
	free(recorded);
	free(lib);
	return rc;
}
