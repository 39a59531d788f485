/* SPDX-License-Identifier: Apache-2.0 */
/*
 * textreport.h - what `kiln top`, `kiln tree` and `kiln peek` share: their
 * options, loading the sources (and a -diff_base), building the flat/cum
 * graph (core/flat.h), choosing the output unit and printing pprof's header
 * lines ("File:", "Type:", "Showing nodes accounting for ..."). kiln traces
 * and kiln list use the -unit option, the report total and (traces) the
 * profile labels too. CLI-internal.
 */
#ifndef KL_CLI_TEXTREPORT_H
#define KL_CLI_TEXTREPORT_H

#include "../core/flat.h"
#include "../core/units.h"
#include "cli.h"

struct textrep {
	const char *cmd;
	struct cli_report_opts r;
	bool cum;			/* -cum: sort by cumulative value */
	double edgefraction;		/* < 0 = not set */
	/* pprof's shorthands for -sample_index, in its order of precedence */
	bool total_delay, contentions, inuse_space, inuse_objects, alloc_space, alloc_objects;

	struct kl_profile *prof;	/* the sources, merged */
	struct kl_profile *base;	/* the -diff_base, or NULL */
	struct kl_strtab *names;
	struct kl_filter *filter;
	struct kl_view view, base_view;
	struct kl_flat flat;

	const char *sample_unit;	/* borrowed from prof */
	const char *out_unit;		/* unit values are printed in */
	double node_fraction;		/* the one applied */
	int64_t time_nanos, duration_nanos;	/* combined as pprof's merge */
};

/* The options of the three commands, appended to a cli_opt table. */
#define TEXTREP_OPTS(t)                                                                          \
	CLI_REPORT_OPTS((t).r),                                                                  \
	{ "nodecount", CLI_OPT_INT, &(t).r.nodecount, "show at most N nodes", NULL },            \
	{ "nodefraction", CLI_OPT_DOUBLE, &(t).r.nodefraction,                                    \
	  "drop nodes with cum below this fraction of the total", NULL },                         \
	{ "edgefraction", CLI_OPT_DOUBLE, &(t).edgefraction,                                      \
	  "drop edges below this fraction of the total", NULL },                                  \
	{ "unit", CLI_OPT_STRING, &(t).r.unit, "output unit (ms, s, MB ..., minimum, auto)", NULL }, \
	{ "diff_base", CLI_OPT_STRING, &(t).r.diff_base, "show differences from this profile", NULL }, \
	{ "cum", CLI_OPT_BOOL, &(t).cum, "sort by cumulative value", NULL },                      \
	{ "total_delay", CLI_OPT_BOOL, &(t).total_delay, "same as -sample_index=delay", NULL },     \
	{ "contentions", CLI_OPT_BOOL, &(t).contentions, "same as -sample_index=contentions", NULL }, \
	{ "inuse_space", CLI_OPT_BOOL, &(t).inuse_space, "same as -sample_index=inuse_space", NULL }, \
	{ "inuse_objects", CLI_OPT_BOOL, &(t).inuse_objects, "same as -sample_index=inuse_objects", \
	  NULL },                                                                                 \
	{ "alloc_space", CLI_OPT_BOOL, &(t).alloc_space, "same as -sample_index=alloc_space", NULL }, \
	{ "alloc_objects", CLI_OPT_BOOL, &(t).alloc_objects, "same as -sample_index=alloc_objects", \
	  NULL }

/*
 * The -unit option of the commands that print values without the rest of
 * TEXTREP_OPTS (kiln traces, kiln list); the value goes to (r).unit of a
 * struct cli_report_opts, read back with textrep_unit_opt().
 */
#define TEXTREP_UNIT_OPT(r)                                                                      \
	{ "unit", CLI_OPT_STRING, &(r).unit, "output unit of values (ms, s, MB ..., minimum)", NULL }

/* The output unit -unit asks for: its value, or "minimum" when not given. */
static inline const char *textrep_unit_opt(const struct cli_report_opts *r)
{
	return r->unit && *r->unit ? r->unit : "minimum";
}

/* Sets the option defaults. */
void textrep_init(struct textrep *t, const char *cmd);

/* pprof's defaults for a report kind when an option is not given. */
struct textrep_defaults {
	long nodecount;
	double nodefraction, edgefraction;
};

/*
 * Loads the n sources (merged) and the -diff_base, builds views and the
 * flat table, trims it and picks the output unit. Prints errors itself and
 * returns 0, CLI_FAIL or CLI_USAGE.
 */
int textrep_build(struct textrep *t, const char **srcs, int n, const struct textrep_defaults *d);

/*
 * What pprof's ProfileLabels prints about a profile; see
 * textrep_profile_labels(). All pointers are borrowed.
 */
struct textrep_labels {
	const struct kl_profile *prof;	/* the (merged) sources */
	const struct kl_profile *base;	/* the -diff_base, or NULL */
	uint32_t sample_index;		/* the sample type reported */
	int64_t time_nanos, duration_nanos;
	int64_t total;			/* "Total samples", in the sample type's unit */
	const char *out_unit;		/* unit "Total samples" is printed in */
};

/*
 * Appends pprof's ProfileLabels (Go 1.19), each line ending in a newline:
 * "File:" (base name) and "Build ID:" of the first mapping of prof (of base
 * when prof has none), the comments of prof then those of base not also in
 * prof (comments starting with '#' are left out), "Type:", "Time:" (local
 * time, when time_nanos is not 0) and "Duration: ..., Total samples = ..."
 * (when duration_nanos is not 0) with the share of the duration sampled
 * for time-valued sample types. Shared by the report header and kiln traces.
 */
void textrep_profile_labels(struct kl_buf *out, const struct textrep_labels *l);

/*
 * pprof's report total: the sum of the magnitudes of value sample_index of
 * every sample of p, before any filter.
 */
int64_t textrep_abs_total(const struct kl_profile *p, uint32_t sample_index);

/*
 * The start of kiln top and kiln tree: parses argv with TEXTREP_OPTS
 * (usage is the synopsis --help shows), then textrep_build()s the report
 * from every positional argument. Prints errors itself and returns 0,
 * CLI_HELP after --help, CLI_USAGE or CLI_FAIL; t needs textrep_release()
 * in every case.
 */
int textrep_parse_build(struct textrep *t, const char *usage, int argc, const char **argv,
			const struct textrep_defaults *d);

/* Appends pprof's header lines (each ending in a newline) to out. */
void textrep_header(const struct textrep *t, struct kl_buf *out);

/* Formats v in the report's unit into buf (KL_UNIT_LABEL_MAX bytes). */
const char *textrep_value(const struct textrep *t, int64_t v, char *buf);

/* Formats v as a percentage of the report total into buf. */
const char *textrep_pct(const struct textrep *t, int64_t v, char *buf);

/*
 * Appends pprof's -tree report (header, then for each shown node its
 * callers, itself and its callees) to out. With match set, only nodes whose
 * name it accepts are printed (-peek); returns the number printed.
 */
uint32_t textrep_tree(const struct textrep *t, struct kl_buf *out,
		      bool (*match)(const char *name, void *arg), void *arg);

/* Writes out to stdout; returns CLI_OK or CLI_FAIL after an error. */
int textrep_write(const struct textrep *t, struct kl_buf *out);

void textrep_release(struct textrep *t);

#endif /* KL_CLI_TEXTREPORT_H */
