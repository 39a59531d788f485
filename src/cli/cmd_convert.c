/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_convert.c - kiln convert (not yet written).
 */
#include "cli.h"

int cmd_convert(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("convert", "not implemented yet");
	return CLI_FAIL;
}
