/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_collapse.c - kiln collapse (not yet written).
 */
#include "cli.h"

int cmd_collapse(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("collapse", "not implemented yet");
	return CLI_FAIL;
}
