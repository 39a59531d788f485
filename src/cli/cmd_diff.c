/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_diff.c - kiln diff: a differential flame graph of two profiles.
 *
 * Both profiles are viewed through one shared name table, so a frame has
 * the same name id on both sides, and merged into one two-column tree
 * (column 0 = BASE, column 1 = NEW). Frames are drawn base + new wide and
 * coloured by the change of their share of each side's total: red where
 * NEW spends a larger share, blue where smaller. --normalize scales NEW to
 * BASE's total so the values shown compare directly.
 */
#include <stdio.h>
#include <string.h>

#include "flame.h"

/* Loads src and adds its stacks to column col of t. Returns CLI_OK/FAIL/USAGE. */
static int add_side(struct kl_tree *t, const char *src, uint32_t col,
		    const struct cli_report_opts *r, bool reverse, struct kl_profile **pp,
		    struct kl_view *v, struct kl_filter **filter)
{
	struct kl_view_opts vo;
	struct kl_err err;
	int rc;

	if (cli_load_profile(src, pp, &err)) {
		cli_error("diff", "%s", err.msg);
		return CLI_FAIL;
	}
	rc = cli_view_opts("diff", r, *pp, &vo, filter);
	if (rc)
		return rc;
	if (kl_view_init(v, *pp, &vo, t->names, &err)) {
		cli_error("diff", "%s: %s", src, err.msg);
		return CLI_FAIL;
	}
	if (kl_tree_add_view(t, v, col, reverse)) {
		cli_error("diff", "building the tree: out of memory");
		return CLI_FAIL;
	}
	if (col == 0) {
		const struct kl_value_type *vt = &(*pp)->sample_types[vo.sample_index];

		snprintf(t->sample_type, sizeof(t->sample_type), "%s",
			 kl_profile_sget(*pp, vt->type));
		snprintf(t->unit, sizeof(t->unit), "%s", kl_profile_sget(*pp, vt->unit));
	}
	return CLI_OK;
}

int cmd_diff(int argc, const char **argv)
{
	static const char usage[] = "[options] BASE NEW -o OUT.svg|OUT.html";
	struct cli_report_opts r;
	struct cli_flame_opts f;
	bool normalize = false, html = false;
	struct cli_opt opts[] = {
		{ "normalize", CLI_OPT_BOOL, &normalize, "scale NEW to the total of BASE", NULL },
		CLI_FLAME_OPTS(f),
		CLI_REPORT_OPTS(r),
		{ NULL, 0, NULL, NULL, NULL },
	};
	struct kl_profile *p[2] = { NULL, NULL };
	struct kl_filter *filter[2] = { NULL, NULL };
	struct kl_view v[2] = { { 0 }, { 0 } };
	struct kl_strtab *names = NULL;
	struct kl_tree *t = NULL;
	char subtitle[160];
	int npos, rc;

	cli_report_opts_init(&r);
	cli_flame_opts_init(&f);
	rc = cli_parse("diff", usage, opts, argc, argv, &npos);
	if (rc)
		return rc == CLI_HELP ? CLI_OK : rc;
	if (npos != 2) {
		cli_error("diff", "need exactly two profiles, BASE and NEW (got %d)", npos);
		cli_usage(stderr, "diff", usage, NULL);
		return CLI_USAGE;
	}
	rc = cli_flame_check("diff", &f, &html);
	if (rc)
		return rc;
	rc = CLI_FAIL;
	names = kl_strtab_new();
	t = names ? kl_tree_new(names, 2) : NULL;
	if (!t) {
		cli_error("diff", "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < 2; i++) {
		rc = add_side(t, argv[1 + i], i, &r, f.reverse, &p[i], &v[i], &filter[i]);
		if (rc)
			goto out;
	}
	if (normalize)
		kl_tree_normalize(t);
	snprintf(subtitle, sizeof(subtitle), "%s (%s): red grew, blue shrank%s", t->sample_type,
		 t->unit, normalize ? ", new normalised to base" : "");
	rc = cli_flame_write("diff", t, &f, html, subtitle);
out:
	kl_tree_free(t);
	for (int i = 0; i < 2; i++) {
		kl_view_release(&v[i]);
		kl_filter_free(filter[i]);
		kl_profile_free(p[i]);
	}
	kl_strtab_free(names);
	return rc;
}
