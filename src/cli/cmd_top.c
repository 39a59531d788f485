/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_top.c - kiln top (not yet written).
 */
#include "cli.h"

int cmd_top(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("top", "not implemented yet");
	return CLI_FAIL;
}
