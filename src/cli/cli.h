/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h - what the kiln subcommands share: the command table entry points,
 * a small option parser, loading profiles from files, stdin or URLs, and
 * the report options that pprof-style commands have in common.
 *
 * Exit codes: 0 ok, 1 failure (bad input, I/O), 2 usage error. Commands
 * print errors to stderr as "kiln <cmd>: message" through cli_error().
 * The CLI process may die on out of memory (cli_xmalloc); the libraries it
 * calls never do.
 */
#ifndef KL_CLI_H
#define KL_CLI_H

#include <stdio.h>

#include "../core/buf.h"
#include "../core/filter.h"
#include "../core/profile.h"
#include "../core/view.h"
#include "../formats/formats.h"

enum { CLI_HELP = -1, CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

/* One entry point per command, each in cmd_<name>.c. argv[0] is the name. */
int cmd_top(int argc, const char **argv);
int cmd_tree(int argc, const char **argv);
int cmd_peek(int argc, const char **argv);
int cmd_traces(int argc, const char **argv);
int cmd_list(int argc, const char **argv);
int cmd_flame(int argc, const char **argv);
int cmd_diff(int argc, const char **argv);
int cmd_convert(int argc, const char **argv);
int cmd_merge(int argc, const char **argv);
int cmd_collapse(int argc, const char **argv);
int cmd_record(int argc, const char **argv);
int cmd_server(int argc, const char **argv);

/* Prints "kiln <command>: <message>\n" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- option parsing ------------------------------------------------- */

enum cli_opt_type {
	CLI_OPT_BOOL,		/* -name sets true (also -name=true/false) */
	CLI_OPT_STRING,		/* -name VALUE or -name=VALUE */
	CLI_OPT_INT,		/* integer value */
	CLI_OPT_DOUBLE,		/* floating point value */
};

struct cli_opt {
	const char *name;	/* without dashes; "o" matches -o and --o */
	enum cli_opt_type type;
	void *value;		/* bool *, const char **, long *, double * */
	const char *help;	/* one line for --help; NULL hides the option */
	const char *alias;	/* optional second name, e.g. "output" for "o" */
};

/*
 * Parses argv[1..] against opts (terminated by an entry with name NULL).
 * Options take one or two dashes; "--" ends options. Positional arguments
 * are moved, in order, to the front of argv starting at argv[1] and their
 * count is returned in *npos. "-" alone is positional (stdin).
 * --help / -h prints usage (usage line + options) to stdout and returns
 * CLI_HELP so the caller exits 0. Returns 0 on success, or CLI_USAGE after
 * printing an error naming the bad option. Typical use:
 *
 *	rc = cli_parse("top", "[options] SOURCE...", opts, argc, argv, &n);
 *	if (rc)
 *		return rc == CLI_HELP ? CLI_OK : rc;
 */
int cli_parse(const char *cmd, const char *usage, const struct cli_opt *opts, int argc,
	      const char **argv, int *npos);

/* Prints the usage line and option help to f. */
void cli_usage(FILE *f, const char *cmd, const char *usage, const struct cli_opt *opts);

/* ---- sources -------------------------------------------------------- */

/*
 * Reads a source into out: a file path, "-" for stdin, or an http(s)://
 * URL (libcurl, with timeouts; a non-2xx status is an error). zstd- and
 * gzip-compressed files are left as they are (readers detect gzip; zstd is
 * decompressed here). Returns 0 or a negative code with a message.
 */
int cli_read_source(const char *src, struct kl_buf *out, struct kl_err *err);

/* Reads and parses one source (format detected). */
int cli_load_profile(const char *src, struct kl_profile **out, struct kl_err *err);

/*
 * Loads several sources and merges them (a single source is returned as
 * is). On failure the message names the source.
 */
int cli_load_profiles(const char **srcs, int n, struct kl_profile **out, struct kl_err *err);

/*
 * Loads n >= 1 sources and merges them, even a single one: merging sums
 * samples with equal stacks and labels, as pprof's merge does, which
 * kiln merge and kiln traces need.
 */
int cli_merge_sources(const char **srcs, int n, struct kl_profile **out, struct kl_err *err);

/* Writes data to path ("-" = stdout). Returns 0 or a negative code. */
int cli_write_file(const char *path, const void *data, size_t len, struct kl_err *err);

/* ---- report options shared by top, tree, peek, traces, list, flame -- */

struct cli_report_opts {
	const char *sample_index;
	const char *focus, *ignore, *hide, *show, *tagfocus, *tagignore;
	bool functions, filefunctions, files, lines, addresses;
	bool noinlines;
	const char *unit;
	const char *diff_base;
	long nodecount;		/* -1 = not set */
	double nodefraction;	/* < 0 = not set */
};

/* Appends the shared report options to a table at *opts (see cmd_top.c). */
#define CLI_REPORT_OPTS(r)                                                                    \
	{ "sample_index", CLI_OPT_STRING, &(r).sample_index, "sample type to report (name or index)", NULL }, \
	{ "focus", CLI_OPT_STRING, &(r).focus, "keep samples with a frame matching RE", NULL },    \
	{ "ignore", CLI_OPT_STRING, &(r).ignore, "drop samples with a frame matching RE", NULL },  \
	{ "hide", CLI_OPT_STRING, &(r).hide, "remove frames matching RE", NULL },                  \
	{ "show", CLI_OPT_STRING, &(r).show, "keep only frames matching RE", NULL },               \
	{ "tagfocus", CLI_OPT_STRING, &(r).tagfocus, "keep samples with matching labels", NULL },  \
	{ "tagignore", CLI_OPT_STRING, &(r).tagignore, "drop samples with matching labels", NULL }, \
	{ "functions", CLI_OPT_BOOL, &(r).functions, "aggregate by function (default)", NULL },   \
	{ "filefunctions", CLI_OPT_BOOL, &(r).filefunctions, "aggregate by function and file", NULL }, \
	{ "files", CLI_OPT_BOOL, &(r).files, "aggregate by source file", NULL },                   \
	{ "lines", CLI_OPT_BOOL, &(r).lines, "aggregate by source line", NULL },                   \
	{ "addresses", CLI_OPT_BOOL, &(r).addresses, "aggregate by instruction address", NULL },   \
	{ "noinlines", CLI_OPT_BOOL, &(r).noinlines, "attribute inlined frames to their caller", NULL }

void cli_report_opts_init(struct cli_report_opts *r);

/*
 * Builds view options from r for profile p: resolves the sample index and
 * granularity and compiles filters (*filter must be freed by the caller
 * with kl_filter_free). Returns 0 or CLI_USAGE/CLI_FAIL after printing.
 */
int cli_view_opts(const char *cmd, const struct cli_report_opts *r, const struct kl_profile *p,
		  struct kl_view_opts *vo, struct kl_filter **filter);

/* ---- memory --------------------------------------------------------- */

/* Allocation that exits the CLI process on failure (never in libraries). */
void *cli_xmalloc(size_t n);
void *cli_xcalloc(size_t n, size_t size);

#endif /* KL_CLI_H */
