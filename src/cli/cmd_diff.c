/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_diff.c - kiln diff (not yet written).
 */
#include "cli.h"

int cmd_diff(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("diff", "not implemented yet");
	return CLI_FAIL;
}
