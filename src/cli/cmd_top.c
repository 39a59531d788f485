/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_top.c - kiln top: the flat/cumulative table of `go tool pprof -top`,
 * with the same header, rows, order, units and percentages, so that the
 * two outputs can be compared line for line. The work is in core/flat.c
 * (values, trimming) and textreport.c (loading, header, unit choice).
 */
#include <stdio.h>
#include <string.h>

#include "textreport.h"

static const char usage[] = "[options] SOURCE...";

int cmd_top(int argc, const char **argv)
{
	static const struct textrep_defaults defaults = {
		/* pprof's text report: no node limit, 0.5% node cut-off */
		.nodecount = 0, .nodefraction = 0.005, .edgefraction = 0.001,
	};
	struct textrep t;
	struct kl_buf out = KL_BUF_INIT;
	int64_t sum = 0;
	int rc;

	textrep_init(&t, "top");
	rc = textrep_parse_build(&t, usage, argc, argv, &defaults);
	if (rc)
		goto out;
	kl_buf_init(&out, 0);
	textrep_header(&t, &out);
	kl_buf_addf(&out, "%10s %5s%% %5s%% %10s %5s%%\n", "flat", "flat", "sum", "cum", "cum");
	for (uint32_t i = 0; i < t.flat.nshown; i++) {
		const struct kl_flat_node *n = &t.flat.nodes[t.flat.shown[i]];
		char flat[KL_UNIT_LABEL_MAX], cum[KL_UNIT_LABEL_MAX];
		char fp[KL_UNIT_LABEL_MAX], sp[KL_UNIT_LABEL_MAX], cp[KL_UNIT_LABEL_MAX];
		static const char *const inl[] = { "", " (inline)", " (partial-inline)" };

		sum = (int64_t)((uint64_t)sum + (uint64_t)n->flat);
		kl_buf_addf(&out, "%10s %s %s %10s %s  %s%s\n", textrep_value(&t, n->flat, flat),
			    textrep_pct(&t, n->flat, fp), textrep_pct(&t, sum, sp),
			    textrep_value(&t, n->cum, cum), textrep_pct(&t, n->cum, cp),
			    kl_flat_name(&t.flat, t.flat.shown[i]), inl[n->inline_kind]);
	}
	rc = textrep_write(&t, &out);
out:
	kl_buf_release(&out);
	textrep_release(&t);
	return rc == CLI_HELP ? CLI_OK : rc;
}
