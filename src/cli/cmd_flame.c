/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_flame.c - kiln flame: a flame graph of one or more profiles as SVG
 * (flamegraph.pl style) or as a self-contained interactive HTML page.
 *
 * Pipeline: load and merge the sources, build a view with the report
 * options (sample index, granularity, filters), merge the stacks into a
 * call tree (leaf first with --reverse), cut it down to what the output can
 * show, render. The output half (cli_flame_*) is shared with kiln diff.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../render/render.h"
#include "flame.h"

void cli_flame_opts_init(struct cli_flame_opts *f)
{
	memset(f, 0, sizeof(*f));
	f->minwidth = 0.1;
	f->width = 1200;
	f->max_nodes = -1;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcasecmp(s + n - m, suffix);
}

int cli_flame_check(const char *cmd, const struct cli_flame_opts *f, bool *html)
{
	if (!f->output) {
		cli_error(cmd, "no output file: use -o OUT.svg or -o OUT.html ('-' for stdout)");
		return CLI_USAGE;
	}
	if (f->format) {
		if (strcmp(f->format, "svg") && strcmp(f->format, "html")) {
			cli_error(cmd, "unknown format '%s': use svg or html", f->format);
			return CLI_USAGE;
		}
		*html = !strcmp(f->format, "html");
	} else if (ends_with(f->output, ".svg")) {
		*html = false;
	} else if (ends_with(f->output, ".html") || ends_with(f->output, ".htm")) {
		*html = true;
	} else {
		cli_error(cmd, "cannot tell the format of '%s': name it .svg or .html, or use --format",
			  f->output);
		return CLI_USAGE;
	}
	if (f->width < 100 || f->width > 100000) {
		cli_error(cmd, "--width must be between 100 and 100000 pixels");
		return CLI_USAGE;
	}
	if (!(f->minwidth >= 0 && f->minwidth <= 10000)) {
		cli_error(cmd, "--minwidth must be between 0 and 10000 pixels");
		return CLI_USAGE;
	}
	if (f->max_nodes < -1 || f->max_nodes > (long)UINT32_MAX - 1) {
		cli_error(cmd, "--max-nodes must be 0 (no limit) or a positive number");
		return CLI_USAGE;
	}
	return 0;
}

/*
 * An SVG cannot show frames below minwidth pixels: prune them from the tree
 * first (their values move to the parent's self), which keeps rendering
 * time bounded by what is drawn. A diff frame is drawn base + new wide.
 */
static int prune_for_svg(struct kl_tree *t, const struct cli_flame_opts *f)
{
	double total = (double)t->nodes[0].total[0] + (t->ncols == 2 ? (double)t->nodes[0].total[1] : 0);
	double px = (double)(f->width - 20);
	int64_t min_total;

	if (f->minwidth <= 0 || total <= 0)
		return 0;
	min_total = (int64_t)(f->minwidth * total / px / (t->ncols == 2 ? 2 : 1));
	return min_total > 1 ? kl_tree_prune(t, min_total) : 0;
}

int cli_flame_write(const char *cmd, struct kl_tree *t, const struct cli_flame_opts *f, bool html,
		    const char *subtitle)
{
	struct kl_render_opts ro = {
		.title = f->title,
		.subtitle = f->subtitle ? f->subtitle : subtitle,
		.width = (uint32_t)f->width,
		.icicle = f->icicle,
		.reverse = f->reverse,
		.min_width = f->minwidth > 0 ? f->minwidth : -1,
		.units = t->unit,
	};
	long max_nodes = f->max_nodes >= 0 ? f->max_nodes : html ? CLI_FLAME_HTML_NODES : 0;
	struct kl_buf out = KL_BUF_INIT;
	struct kl_err err;
	int rc;

	/* folded and perf input count samples: say so rather than "count" */
	if (!strcmp(t->unit, "count") && !strcmp(t->sample_type, "samples"))
		ro.units = "samples";
	rc = kl_tree_truncate(t, (uint32_t)max_nodes);
	if (!rc && !html)
		rc = prune_for_svg(t, f);
	if (rc) {
		cli_error(cmd, "building the tree: %s", kl_strerror(rc));
		return CLI_FAIL;
	}
	rc = html ? kl_render_html(t, &ro, &out, &err) : kl_render_svg(t, &ro, &out, &err);
	if (!rc)
		rc = cli_write_file(f->output, out.data, out.len, &err);
	kl_buf_release(&out);
	if (rc) {
		cli_error(cmd, "%s", err.msg);
		return CLI_FAIL;
	}
	return CLI_OK;
}

/* Copies the profile's sample type and unit into the tree for renderers. */
static void describe(struct kl_tree *t, const struct kl_profile *p, uint32_t idx)
{
	const struct kl_value_type *vt = &p->sample_types[idx];

	snprintf(t->sample_type, sizeof(t->sample_type), "%s", kl_profile_sget(p, vt->type));
	snprintf(t->unit, sizeof(t->unit), "%s", kl_profile_sget(p, vt->unit));
}

int cmd_flame(int argc, const char **argv)
{
	static const char usage[] = "[options] SOURCE... -o OUT.svg|OUT.html";
	struct cli_report_opts r;
	struct cli_flame_opts f;
	struct cli_opt opts[] = {
		CLI_FLAME_OPTS(f),
		CLI_REPORT_OPTS(r),
		{ NULL, 0, NULL, NULL, NULL },
	};
	struct kl_profile *p = NULL;
	struct kl_filter *filter = NULL;
	struct kl_strtab *names = NULL;
	struct kl_view v = { 0 };
	struct kl_tree *t = NULL;
	struct kl_view_opts vo;
	struct kl_err err;
	char subtitle[160];
	int npos, rc;
	bool html = false;

	cli_report_opts_init(&r);
	cli_flame_opts_init(&f);
	rc = cli_parse("flame", usage, opts, argc, argv, &npos);
	if (rc)
		return rc == CLI_HELP ? CLI_OK : rc;
	if (npos < 1) {
		cli_error("flame", "no SOURCE given");
		cli_usage(stderr, "flame", usage, NULL);
		return CLI_USAGE;
	}
	rc = cli_flame_check("flame", &f, &html);
	if (rc)
		return rc;
	if (cli_load_profiles(argv + 1, npos, &p, &err)) {
		cli_error("flame", "%s", err.msg);
		return CLI_FAIL;
	}
	rc = cli_view_opts("flame", &r, p, &vo, &filter);
	if (rc)
		goto out;
	rc = CLI_FAIL;
	names = kl_strtab_new();
	if (!names || kl_view_init(&v, p, &vo, names, &err)) {
		cli_error("flame", "%s", names ? err.msg : "out of memory");
		goto out;
	}
	t = kl_tree_new(names, 1);
	if (!t || kl_tree_add_view(t, &v, 0, f.reverse)) {
		cli_error("flame", "building the tree: out of memory");
		goto out;
	}
	describe(t, p, vo.sample_index);
	snprintf(subtitle, sizeof(subtitle), "%s (%s)%s%s", t->sample_type, t->unit,
		 npos > 1 ? ", merged from several profiles" : "",
		 f.reverse ? ", leaf functions at the root" : "");
	rc = cli_flame_write("flame", t, &f, html, subtitle);
out:
	kl_tree_free(t);
	kl_view_release(&v);
	kl_strtab_free(names);
	kl_filter_free(filter);
	kl_profile_free(p);
	return rc;
}
