/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_list.c - kiln list (not yet written).
 */
#include "cli.h"

int cmd_list(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("list", "not implemented yet");
	return CLI_FAIL;
}
