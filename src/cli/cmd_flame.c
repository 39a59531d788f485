/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_flame.c - kiln flame (not yet written).
 */
#include "cli.h"

int cmd_flame(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("flame", "not implemented yet");
	return CLI_FAIL;
}
