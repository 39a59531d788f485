/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_opts.c - the pprof-style options shared by top, tree, peek,
 * traces, list and flame: sample index, granularity and filters.
 */
#include <string.h>

#include "cli.h"

void cli_report_opts_init(struct cli_report_opts *r)
{
	memset(r, 0, sizeof(*r));
	r->nodecount = -1;
	r->nodefraction = -1;
}

int cli_view_opts(const char *cmd, const struct cli_report_opts *r, const struct kl_profile *p,
		  struct kl_view_opts *vo, struct kl_filter **filter)
{
	struct kl_filter_opts fo = {
		.focus = r->focus, .ignore = r->ignore, .hide = r->hide, .show = r->show,
		.tagfocus = r->tagfocus, .tagignore = r->tagignore,
	};
	struct kl_err err;
	int n = r->functions + r->filefunctions + r->files + r->lines + r->addresses;
	int idx;

	memset(vo, 0, sizeof(*vo));
	*filter = NULL;
	if (n > 1) {
		cli_error(cmd, "choose one of -functions, -filefunctions, -files, -lines, -addresses");
		return CLI_USAGE;
	}
	vo->granularity = r->addresses ? KL_GRAN_ADDRESSES
			  : r->lines	 ? KL_GRAN_LINES
			  : r->files	 ? KL_GRAN_FILES
			  : r->filefunctions ? KL_GRAN_FILEFUNCTIONS
					     : KL_GRAN_FUNCTIONS;
	vo->no_inlines = r->noinlines;
	idx = kl_profile_sample_index(p, r->sample_index, &err);
	if (idx < 0) {
		cli_error(cmd, "%s", err.msg);
		return CLI_USAGE;
	}
	vo->sample_index = (uint32_t)idx;
	if (kl_filter_new(&fo, filter, &err)) {
		cli_error(cmd, "%s", err.msg);
		return CLI_USAGE;
	}
	vo->filter = *filter;
	return 0;
}
