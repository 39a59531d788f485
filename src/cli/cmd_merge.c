/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_merge.c - kiln merge: combines profiles of the same sample types
 * (e.g. CPU profiles of several replicas or time windows) into one pprof
 * file, summing identical stacks (see kl_profile_merge).
 */
#include <string.h>

#include "cli.h"

static const char usage_line[] = "[options] SOURCE... -o OUT.pb.gz";

int cmd_merge(int argc, const char **argv)
{
	const char *output = NULL;
	bool raw = false;
	const struct cli_opt opts[] = {
		{ "o", CLI_OPT_STRING, &output, "output file, '-' for stdout", "output" },
		{ "raw", CLI_OPT_BOOL, &raw, "write uncompressed protobuf (default: gzip)", NULL },
		{ NULL, 0, NULL, NULL, NULL },
	};
	struct kl_profile *merged = NULL;
	struct kl_buf out = KL_BUF_INIT;
	struct kl_err err;
	int npos, rc;

	rc = cli_parse("merge", usage_line, opts, argc, argv, &npos);
	if (rc)
		return rc == CLI_HELP ? CLI_OK : rc;
	if (npos < 1 || !output) {
		cli_error("merge", "usage: kiln merge %s", usage_line);
		return CLI_USAGE;
	}
	if (cli_merge_sources(argv + 1, npos, &merged, &err)) {
		cli_error("merge", "%s", err.msg);
		rc = CLI_FAIL;
		goto out;
	}
	kl_buf_init(&out, 0);
	if (kl_pprof_write(merged, !raw && !(strlen(output) > 3 &&
					    !strcmp(output + strlen(output) - 3, ".pb")),
			   &out, &err) ||
	    cli_write_file(output, out.data ? out.data : "", out.len, &err)) {
		cli_error("merge", "%s", err.msg);
		rc = CLI_FAIL;
	}
out:
	kl_profile_free(merged);
	kl_buf_release(&out);
	return rc;
}
