/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_tree.c - kiln tree (not yet written).
 */
#include "cli.h"

int cmd_tree(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("tree", "not implemented yet");
	return CLI_FAIL;
}
