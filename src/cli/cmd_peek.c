/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_peek.c - kiln peek (not yet written).
 */
#include "cli.h"

int cmd_peek(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("peek", "not implemented yet");
	return CLI_FAIL;
}
