/* SPDX-License-Identifier: Apache-2.0 */
/*
 * options.c - the small option parser every kiln command uses.
 *
 * Options are accepted pprof style (-name value, -name=value) and GNU style
 * (--name value, --name=value), so both `kiln top -nodecount 10` and
 * `kiln flame --minwidth 0.5` read naturally.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kiln %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void *cli_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fprintf(stderr, "kiln: out of memory (%zu bytes)\n", n);
		exit(CLI_FAIL);
	}
	return p;
}

void *cli_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p) {
		fprintf(stderr, "kiln: out of memory\n");
		exit(CLI_FAIL);
	}
	return p;
}

void cli_usage(FILE *f, const char *cmd, const char *usage, const struct cli_opt *opts)
{
	fprintf(f, "usage: kiln %s %s\n", cmd, usage);
	if (!opts || !opts->name)
		return;
	fprintf(f, "\noptions:\n");
	for (; opts->name; opts++) {
		char left[64];
		const char *arg = opts->type == CLI_OPT_BOOL	 ? ""
				  : opts->type == CLI_OPT_STRING ? " VALUE"
								 : " N";

		if (!opts->help)
			continue;
		if (opts->alias)
			snprintf(left, sizeof(left), "-%s, --%s%s", opts->name, opts->alias, arg);
		else
			snprintf(left, sizeof(left), "%s%s%s", strlen(opts->name) > 1 ? "--" : "-",
				 opts->name, arg);
		fprintf(f, "  %-28s %s\n", left, opts->help);
	}
}

static const struct cli_opt *find_opt(const struct cli_opt *opts, const char *name, size_t len)
{
	for (; opts->name; opts++) {
		if ((strlen(opts->name) == len && !strncmp(opts->name, name, len)) ||
		    (opts->alias && strlen(opts->alias) == len && !strncmp(opts->alias, name, len)))
			return opts;
	}
	return NULL;
}

static int set_value(const char *cmd, const struct cli_opt *o, const char *val)
{
	char *end;

	switch (o->type) {
	case CLI_OPT_BOOL:
		if (!val || !strcmp(val, "true") || !strcmp(val, "1")) {
			*(bool *)o->value = true;
		} else if (!strcmp(val, "false") || !strcmp(val, "0")) {
			*(bool *)o->value = false;
		} else {
			cli_error(cmd, "option -%s takes true or false, not '%s'", o->name, val);
			return CLI_USAGE;
		}
		return 0;
	case CLI_OPT_STRING:
		*(const char **)o->value = val;
		return 0;
	case CLI_OPT_INT:
		errno = 0;
		*(long *)o->value = strtol(val, &end, 10);
		if (errno || end == val || *end) {
			cli_error(cmd, "option -%s needs an integer, not '%s'", o->name, val);
			return CLI_USAGE;
		}
		return 0;
	case CLI_OPT_DOUBLE:
		errno = 0;
		*(double *)o->value = strtod(val, &end);
		if (errno || end == val || *end) {
			cli_error(cmd, "option -%s needs a number, not '%s'", o->name, val);
			return CLI_USAGE;
		}
		return 0;
	}
	return CLI_USAGE;
}

int cli_parse(const char *cmd, const char *usage, const struct cli_opt *opts, int argc,
	      const char **argv, int *npos)
{
	int pos = 1;
	bool only_positional = false;

	*npos = 0;
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *name, *eq;
		const struct cli_opt *o;
		size_t len;
		int rc;

		if (only_positional || arg[0] != '-' || arg[1] == '\0') {
			argv[pos++] = arg;
			continue;
		}
		if (!strcmp(arg, "--")) {
			only_positional = true;
			continue;
		}
		name = arg + (arg[1] == '-' ? 2 : 1);
		eq = strchr(name, '=');
		len = eq ? (size_t)(eq - name) : strlen(name);
		if ((len == 4 && !strncmp(name, "help", 4)) || (len == 1 && name[0] == 'h')) {
			cli_usage(stdout, cmd, usage, opts);
			return CLI_HELP;
		}
		o = find_opt(opts, name, len);
		if (!o) {
			cli_error(cmd, "unknown option '%s' (see kiln %s --help)", arg, cmd);
			return CLI_USAGE;
		}
		if (eq) {
			rc = set_value(cmd, o, eq + 1);
		} else if (o->type == CLI_OPT_BOOL) {
			rc = set_value(cmd, o, NULL);
		} else if (i + 1 < argc) {
			rc = set_value(cmd, o, argv[++i]);
		} else {
			cli_error(cmd, "option '%s' needs a value", arg);
			rc = CLI_USAGE;
		}
		if (rc)
			return rc;
	}
	*npos = pos - 1;
	return 0;
}
