/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_peek.c - kiln peek REGEX: pprof's -peek report, the -tree layout
 * restricted to nodes whose printed name matches REGEX (an unanchored
 * search, PCRE2 standing in for Go's RE2). As in pprof, peek never trims
 * the graph, so every caller and callee of a matching node is listed.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "textreport.h"

struct matcher {
	pcre2_code *rx;
	pcre2_match_data *md;
};

static bool name_matches(const char *name, void *arg)
{
	struct matcher *m = arg;

	return pcre2_match(m->rx, (PCRE2_SPTR)name, strlen(name), 0, 0, m->md, NULL) >= 0;
}

int cmd_peek(int argc, const char **argv)
{
	/* pprof turns trimming off for peek, whatever the options say */
	static const struct textrep_defaults defaults = { 0 };
	struct matcher m = { NULL, NULL };
	struct textrep t;
	struct kl_buf out = KL_BUF_INIT;
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int npos, rc, code;

	textrep_init(&t, "peek");
	{
		const struct cli_opt opts[] = { TEXTREP_OPTS(t), { NULL, 0, NULL, NULL, NULL } };

		rc = cli_parse("peek", "[options] REGEX SOURCE...", opts, argc, argv, &npos);
	}
	if (rc)
		return rc == CLI_HELP ? CLI_OK : rc;
	if (npos < 2) {
		cli_error("peek", "need a regular expression and at least one profile");
		return CLI_USAGE;
	}
	m.rx = pcre2_compile((PCRE2_SPTR)argv[1], PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off,
			     NULL);
	if (!m.rx) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		cli_error("peek", "parsing argument regexp %s: %s at offset %zu", argv[1],
			  (const char *)msg, (size_t)off);
		return CLI_USAGE;
	}
	m.md = pcre2_match_data_create_from_pattern(m.rx, NULL);
	if (!m.md) {
		cli_error("peek", "out of memory");
		rc = CLI_FAIL;
		goto out;
	}
	t.r.nodecount = 0;
	t.r.nodefraction = 0;
	t.edgefraction = 0;
	rc = textrep_build(&t, argv + 2, npos - 1, &defaults);
	if (rc)
		goto out;
	kl_buf_init(&out, 0);
	if (textrep_tree(&t, &out, name_matches, &m) == 0) {
		cli_error("peek", "no matches found for regexp: %s", argv[1]);
		rc = CLI_FAIL;
		goto out;
	}
	rc = textrep_write(&t, &out);
out:
	kl_buf_release(&out);
	textrep_release(&t);
	pcre2_match_data_free(m.md);
	pcre2_code_free(m.rx);
	return rc;
}
