/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_convert.c - kiln convert: reads profiles in any supported format and
 * writes one in pprof, folded, speedscope or flamebearer form, chosen by
 * --to or by the output file's extension.
 *
 * pprof output keeps the whole profile (only the sample filters -focus,
 * -ignore, -tagfocus and -tagignore apply); the other formats are views of
 * one sample type at a chosen granularity, so every report option applies.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

static const char usage_line[] = "[options] SOURCE... -o OUT";

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcasecmp(s + n - m, suffix);
}

/* The format OUT's extension implies, or KL_FORMAT_UNKNOWN. */
static enum kl_format format_from_name(const char *out)
{
	static const struct {
		const char *ext;
		enum kl_format format;
	} exts[] = {
		{ ".pb.gz", KL_FORMAT_PPROF },	   { ".pb", KL_FORMAT_PPROF },
		{ ".pprof", KL_FORMAT_PPROF },	   { ".folded", KL_FORMAT_FOLDED },
		{ ".txt", KL_FORMAT_FOLDED },	   { ".collapsed", KL_FORMAT_FOLDED },
		{ ".speedscope.json", KL_FORMAT_SPEEDSCOPE },
		{ ".json", KL_FORMAT_FLAMEBEARER },
	};

	for (size_t i = 0; i < KL_ARRAY_SIZE(exts); i++) {
		if (ends_with(out, exts[i].ext))
			return exts[i].format;
	}
	return KL_FORMAT_UNKNOWN;
}

/* pprof output: the whole profile, less the samples the filters drop. */
static int write_pprof(const struct kl_profile *p, const struct cli_report_opts *r,
		       bool compress, struct kl_buf *out)
{
	struct kl_filter_opts fo = {
		.focus = r->focus, .ignore = r->ignore,
		.tagfocus = r->tagfocus, .tagignore = r->tagignore,
	};
	struct kl_profile *subset = NULL;
	struct kl_filter *filter = NULL;
	struct kl_err err;
	int rc;

	if ((r->hide && *r->hide) || (r->show && *r->show)) {
		cli_error("convert", "-hide and -show do not apply to pprof output");
		return CLI_USAGE;
	}
	rc = kl_filter_new(&fo, &filter, &err);
	if (rc) {
		cli_error("convert", "%s", err.msg);
		return rc == -ENOMEM ? CLI_FAIL : CLI_USAGE;
	}
	if (filter) {
		uint8_t *keep8 = cli_xcalloc(p->nsamples + 1, 1);
		uint8_t *line_hidden = cli_xcalloc(p->nlines + 1, 1);
		uint8_t *loc_hidden = cli_xcalloc(p->nlocations + 1, 1);

		if (kl_filter_apply(filter, p, keep8, line_hidden, loc_hidden) == 0)
			subset = kl_profile_copy_samples(p, keep8);
		free(keep8);
		free(line_hidden);
		free(loc_hidden);
		if (!subset) {
			cli_error("convert", "out of memory");
			rc = CLI_FAIL;
			goto out;
		}
		p = subset;
	}
	rc = CLI_OK;
	if (kl_pprof_write(p, compress, out, &err)) {
		cli_error("convert", "%s", err.msg);
		rc = CLI_FAIL;
	}
out:
	kl_profile_free(subset);
	kl_filter_free(filter);
	return rc;
}

/* Basename of a source, for speedscope's profile name. */
static const char *source_name(const char *src)
{
	const char *slash = strrchr(src, '/');

	return slash && slash[1] ? slash + 1 : src;
}

/* folded, speedscope and flamebearer output: a view, and for two of them a tree. */
static int write_view(const struct kl_profile *p, const struct cli_report_opts *r,
		      enum kl_format to, long max_nodes, const char *src, struct kl_buf *out)
{
	struct kl_view_opts vo;
	struct kl_filter *filter = NULL;
	struct kl_strtab *names = NULL;
	struct kl_tree *tree = NULL;
	struct kl_view view;
	struct kl_err err;
	int rc;

	memset(&view, 0, sizeof(view));
	rc = cli_view_opts("convert", r, p, &vo, &filter);
	if (rc)
		return rc;
	names = kl_strtab_new();
	if (!names) {
		cli_error("convert", "out of memory");
		rc = CLI_FAIL;
		goto out;
	}
	if (kl_view_init(&view, p, &vo, names, &err)) {
		cli_error("convert", "%s", err.msg);
		rc = CLI_FAIL;
		goto out;
	}
	if (to == KL_FORMAT_SPEEDSCOPE) {
		if (kl_speedscope_write(&view, source_name(src), out, &err))
			goto fail;
		goto out;
	}
	tree = kl_tree_new(names, 1);
	if (!tree || kl_tree_add_view(tree, &view, 0, false) || kl_tree_sort(tree)) {
		cli_error("convert", "out of memory");
		rc = CLI_FAIL;
		goto out;
	}
	if (to == KL_FORMAT_FOLDED) {
		if (kl_folded_write(tree, 0, out, &err))
			goto fail;
	} else {
		const struct kl_value_type *vt = &p->sample_types[vo.sample_index];
		const char *type = kl_profile_sget(p, vt->type), *unit = kl_profile_sget(p, vt->unit);
		struct kl_flamebearer_meta meta = {
			.name = type,
			.spy_name = "",
			.units = kl_flamebearer_units(type, unit),
			/* values in nanoseconds are "ticks" of 1 ns */
			.sample_rate = !strcmp(unit, "nanoseconds") ? 1000000000 : 100,
		};

		if (kl_tree_truncate(tree, (uint32_t)max_nodes)) {
			cli_error("convert", "out of memory");
			rc = CLI_FAIL;
			goto out;
		}
		if (kl_flamebearer_write(tree, &meta, false, out, &err))
			goto fail;
	}
	goto out;
fail:
	cli_error("convert", "%s", err.msg);
	rc = CLI_FAIL;
out:
	kl_tree_free(tree);
	kl_view_release(&view);
	kl_strtab_free(names);
	kl_filter_free(filter);
	return rc;
}

int cmd_convert(int argc, const char **argv)
{
	struct cli_report_opts r;
	const char *output = NULL, *to_name = NULL;
	long max_nodes = 0;
	enum kl_format to = KL_FORMAT_UNKNOWN;
	struct kl_profile *p = NULL;
	struct kl_buf out = KL_BUF_INIT;
	struct kl_err err;
	int npos, rc;

	cli_report_opts_init(&r);
	{
		const struct cli_opt opts[] = {
			{ "o", CLI_OPT_STRING, &output, "output file, '-' for stdout", "output" },
			{ "to", CLI_OPT_STRING, &to_name,
			  "output format: pprof, folded, speedscope, flamebearer (default: from "
			  "OUT's extension)", NULL },
			{ "max-nodes", CLI_OPT_INT, &max_nodes,
			  "flamebearer: keep the N heaviest nodes, the rest as \"other\" (0 = all)",
			  NULL },
			CLI_REPORT_OPTS(r),
			{ NULL, 0, NULL, NULL, NULL },
		};

		rc = cli_parse("convert", usage_line, opts, argc, argv, &npos);
		if (rc)
			return rc == CLI_HELP ? CLI_OK : rc;
	}
	if (npos < 1 || !output) {
		cli_error("convert", "usage: kiln convert %s", usage_line);
		return CLI_USAGE;
	}
	if (max_nodes < 0 || max_nodes > UINT32_MAX) {
		cli_error("convert", "-max-nodes must be between 0 and %u", UINT32_MAX);
		return CLI_USAGE;
	}
	if (to_name) {
		if (kl_format_parse(to_name, &to) || to == KL_FORMAT_PERF_SCRIPT) {
			cli_error("convert", "unknown output format \"%s\"; use pprof, folded, "
				  "speedscope or flamebearer", to_name);
			return CLI_USAGE;
		}
	} else {
		to = format_from_name(output);
		if (to == KL_FORMAT_UNKNOWN) {
			cli_error("convert", "cannot tell the output format from \"%s\"; use --to "
				  "pprof|folded|speedscope|flamebearer", output);
			return CLI_USAGE;
		}
	}
	if (cli_load_profiles(argv + 1, npos, &p, &err)) {
		cli_error("convert", "%s", err.msg);
		return CLI_FAIL;
	}
	kl_buf_init(&out, 0);
	if (to == KL_FORMAT_PPROF)
		/* gzip, as pprof files are by convention, unless OUT says .pb */
		rc = write_pprof(p, &r, !ends_with(output, ".pb"), &out);
	else
		rc = write_view(p, &r, to, max_nodes, argv[1], &out);
	if (rc == CLI_OK && cli_write_file(output, out.data ? out.data : "", out.len, &err)) {
		cli_error("convert", "%s", err.msg);
		rc = CLI_FAIL;
	}
	kl_buf_release(&out);
	kl_profile_free(p);
	return rc;
}
