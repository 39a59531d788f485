/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_traces.c - kiln traces (not yet written).
 */
#include "cli.h"

int cmd_traces(int argc, const char **argv)
{
	(void)argc;
	(void)argv;
	cli_error("traces", "not implemented yet");
	return CLI_FAIL;
}
