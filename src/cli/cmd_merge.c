/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_merge.c - kiln merge (not yet written).
 */
#include "cli.h"

int cmd_merge(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("merge", "not implemented yet");
	return CLI_FAIL;
}
