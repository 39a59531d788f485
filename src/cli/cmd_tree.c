/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_tree.c - kiln tree: pprof's -tree report. For every node of the
 * trimmed call graph (at most 80 by default, as pprof), its callers with
 * the share of its cum they account for, the node's own flat/cum line, and
 * its callees. The layout and numbers follow `go tool pprof -tree`.
 */
#include <stdio.h>

#include "textreport.h"

int cmd_tree(int argc, const char **argv)
{
	static const struct textrep_defaults defaults = {
		.nodecount = 80, .nodefraction = 0.005, .edgefraction = 0.001,
	};
	struct textrep t;
	struct kl_buf out = KL_BUF_INIT;
	int rc;

	textrep_init(&t, "tree");
	rc = textrep_parse_build(&t, "[options] SOURCE...", argc, argv, &defaults);
	if (rc)
		goto out;
	kl_buf_init(&out, 0);
	textrep_tree(&t, &out, NULL, NULL);
	rc = textrep_write(&t, &out);
out:
	kl_buf_release(&out);
	textrep_release(&t);
	return rc == CLI_HELP ? CLI_OK : rc;
}
