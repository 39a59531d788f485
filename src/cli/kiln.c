/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kiln.c - the kiln command: one dispatcher, a file per subcommand
 * (cmd_<name>.c), registered in the table below.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "kiln/version.h"

struct command {
	const char *name;
	int (*fn)(int argc, const char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "top", cmd_top, "flat/cumulative table of the heaviest functions (like pprof -top)" },
	{ "tree", cmd_tree, "call tree with callers and callees of every function" },
	{ "peek", cmd_peek, "callers and callees of functions matching a regex" },
	{ "traces", cmd_traces, "every sample's stack with its value and labels" },
	{ "list", cmd_list, "source lines of matching functions, annotated" },
	{ "flame", cmd_flame, "flame graph as SVG or interactive HTML" },
	{ "diff", cmd_diff, "differential flame graph of two profiles" },
	{ "convert", cmd_convert, "convert between pprof, folded, speedscope, flamebearer" },
	{ "merge", cmd_merge, "merge profiles into one pprof" },
	{ "collapse", cmd_collapse, "perf script output to folded stacks" },
	{ "record", cmd_record, "run a command under the profiling agent, write its profile" },
	{ "server", cmd_server, "profile server: Pyroscope-compatible ingest, store, queries" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: kiln <command> [options] [args]\n\n"
		   "Kiln %s - continuous profiling: read, analyse and draw profiles.\n\n"
		   "commands:\n", KILN_VERSION_STRING);
	for (size_t i = 0; i < KL_ARRAY_SIZE(commands); i++)
		fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nSOURCE is a file (pprof, folded, perf script, speedscope, flamebearer;\n"
		   "gzip or zstd), '-' for stdin, or an http(s):// URL.\n"
		   "Run 'kiln <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
	const char *name;

	if (argc < 2) {
		usage(stderr);
		return CLI_USAGE;
	}
	name = argv[1];
	if (!strcmp(name, "help") || !strcmp(name, "--help") || !strcmp(name, "-h")) {
		usage(stdout);
		return CLI_OK;
	}
	if (!strcmp(name, "version") || !strcmp(name, "--version")) {
		printf("kiln %s\n", KILN_VERSION_STRING);
		return CLI_OK;
	}
	for (size_t i = 0; i < KL_ARRAY_SIZE(commands); i++) {
		if (!strcmp(name, commands[i].name))
			return commands[i].fn(argc - 1, (const char **)argv + 1);
	}
	fprintf(stderr, "kiln: unknown command '%s'\n\n", name);
	usage(stderr);
	return CLI_USAGE;
}
