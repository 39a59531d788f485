/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flame.h - what kiln flame and kiln diff share: their output options and
 * the last step, from a built tree to an SVG or HTML file. Internal to the
 * CLI (cmd_flame.c defines these, cmd_diff.c uses them too).
 */
#ifndef KL_CLI_FLAME_H
#define KL_CLI_FLAME_H

#include "../core/tree.h"
#include "cli.h"

struct cli_flame_opts {
	const char *output;	/* -o: path or "-" */
	const char *format;	/* "svg" or "html"; NULL = from the extension */
	const char *title;
	const char *subtitle;
	bool icicle;
	bool reverse;
	double minwidth;	/* pixels (SVG); default 0.1 */
	long width;		/* pixels (SVG); default 1200 */
	long max_nodes;		/* -1 = default (none for SVG, 50000 for HTML) */
};

/* Default node limit of HTML pages, which keep every frame for zooming. */
#define CLI_FLAME_HTML_NODES 50000

void cli_flame_opts_init(struct cli_flame_opts *f);

/* Option table entries for the fields above (see cmd_flame.c). */
#define CLI_FLAME_OPTS(f)                                                                      \
	{ "o", CLI_OPT_STRING, &(f).output, "output file: .svg or .html ('-' = stdout)", "output" }, \
	{ "format", CLI_OPT_STRING, &(f).format, "svg or html (default: from the -o extension)", NULL }, \
	{ "icicle", CLI_OPT_BOOL, &(f).icicle, "root at the top (default: root at the bottom)", NULL }, \
	{ "reverse", CLI_OPT_BOOL, &(f).reverse, "bottom-up: leaf functions at the root", NULL },   \
	{ "minwidth", CLI_OPT_DOUBLE, &(f).minwidth, "SVG: omit frames narrower than PX pixels (0.1)", NULL }, \
	{ "width", CLI_OPT_INT, &(f).width, "SVG width in pixels (1200)", NULL },                 \
	{ "title", CLI_OPT_STRING, &(f).title, "title of the graph", NULL },                      \
	{ "subtitle", CLI_OPT_STRING, &(f).subtitle, "second line under the title", NULL },       \
	{ "max-nodes", CLI_OPT_INT, &(f).max_nodes,                                                \
	  "keep the N heaviest frames, the rest summed as 'other' (HTML default 50000)", "max_nodes" }

/*
 * Checks the output options; sets *html. Returns 0, or CLI_USAGE after
 * printing (no -o, unknown format or extension, bad width).
 */
int cli_flame_check(const char *cmd, const struct cli_flame_opts *f, bool *html);

/*
 * Truncates or prunes t as the format needs, renders it and writes the
 * output file. units: the profile's unit ("nanoseconds" ...); subtitle:
 * used when -subtitle is not given. Returns CLI_OK or CLI_FAIL after
 * printing.
 */
int cli_flame_write(const char *cmd, struct kl_tree *t, const struct cli_flame_opts *f, bool html,
		    const char *subtitle);

#endif /* KL_CLI_FLAME_H */
