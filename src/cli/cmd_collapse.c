/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_collapse.c - kiln collapse: `perf script` output to folded stacks,
 * a drop-in for FlameGraph's stackcollapse-perf.pl (same options, same
 * output). Reads a file (plain, gzip or zstd) or stdin; writes stdout or
 * -o FILE.
 */
#include "cli.h"

int cmd_collapse(int argc, const char **argv)
{
	struct kl_collapse_opts o = { 0 };
	const char *output = "-", *event = NULL;
	struct kl_buf in = KL_BUF_INIT, out = KL_BUF_INIT;
	struct kl_err err = { "" };
	const struct cli_opt opts[] = {
		{ "pid", CLI_OPT_BOOL, &o.pid, "include the PID with process names", NULL },
		{ "tid", CLI_OPT_BOOL, &o.tid, "include the PID and TID with process names", NULL },
		{ "kernel", CLI_OPT_BOOL, &o.kernel, "annotate kernel functions with _[k]", NULL },
		{ "jit", CLI_OPT_BOOL, &o.jit, "annotate JIT functions with _[j]", NULL },
		{ "all", CLI_OPT_BOOL, &o.all, "all annotations (--kernel --jit)", NULL },
		{ "addrs", CLI_OPT_BOOL, &o.addrs, "include raw addresses where symbols are unknown",
		  NULL },
		{ "event-filter", CLI_OPT_STRING, &event,
		  "keep only this event type (default: the first one seen)", NULL },
		{ "o", CLI_OPT_STRING, &output, "write to FILE instead of stdout", "output" },
		{ NULL, 0, NULL, NULL, NULL },
	};
	const char *src;
	int npos, rc;

	rc = cli_parse("collapse", "[options] [PERF_SCRIPT_TXT|-]", opts, argc, argv, &npos);
	if (rc)
		return rc == CLI_HELP ? CLI_OK : rc;
	if (npos > 1) {
		cli_error("collapse", "expected at most one input, got %d", npos);
		return CLI_USAGE;
	}
	src = npos == 1 ? argv[1] : "-";
	o.event_filter = event;

	rc = cli_read_source(src, &in, &err);
	if (!rc && kl_is_gzip((const uint8_t *)in.data, in.len)) {
		/* saved perf script output is often gzipped; zstd is handled already */
		struct kl_buf plain;

		rc = kl_gunzip((const uint8_t *)in.data, in.len, 0, &plain, &err);
		kl_buf_release(&in);
		if (rc)
			kl_err_prefix(&err, "%s", src);
		else
			in = plain;
	}
	if (!rc) {
		kl_buf_init(&out, 0);
		rc = kl_collapse_perf(in.data ? in.data : "", in.len, &o, &out, &err);
		if (rc)
			kl_err_prefix(&err, "%s", src);
	}
	if (!rc)
		rc = cli_write_file(output, out.data ? out.data : "", out.len, &err);
	kl_buf_release(&in);
	kl_buf_release(&out);
	if (rc) {
		cli_error("collapse", "%s", err.msg);
		return CLI_FAIL;
	}
	return CLI_OK;
}
