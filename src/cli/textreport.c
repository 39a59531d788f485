/* SPDX-License-Identifier: Apache-2.0 */
/*
 * textreport.c - loading, graph building and the header lines shared by
 * kiln top, tree and peek (kiln traces and list use parts of it). The
 * header reproduces pprof's ProfileLabels and reportLabels (Go 1.19) so
 * that the first lines of a report read as `go tool pprof` prints them, and
 * so does the choice of the output unit.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "textreport.h"

void textrep_init(struct textrep *t, const char *cmd)
{
	memset(t, 0, sizeof(*t));
	t->cmd = cmd;
	cli_report_opts_init(&t->r);
	t->edgefraction = -1;
}

void textrep_release(struct textrep *t)
{
	kl_flat_release(&t->flat);
	kl_view_release(&t->view);
	kl_view_release(&t->base_view);
	kl_filter_free(t->filter);
	kl_profile_free(t->prof);
	kl_profile_free(t->base);
	kl_strtab_free(t->names);
	t->prof = t->base = NULL;
	t->names = NULL;
	t->filter = NULL;
}

/* Loads srcs, merged into one profile when there are several. */
static int load(struct textrep *t, const char **srcs, int n, struct kl_profile **out)
{
	struct kl_err err;

	if (cli_load_profiles(srcs, n, out, &err)) {
		cli_error(t->cmd, "%s", err.msg);	/* the message names the source */
		return CLI_FAIL;
	}
	return 0;
}

/* The base must have the same sample types, as pprof requires to merge. */
static int check_base(const struct textrep *t)
{
	const struct kl_profile *a = t->prof, *b = t->base;

	if (a->nsample_types != b->nsample_types)
		goto mismatch;
	for (uint32_t i = 0; i < a->nsample_types; i++) {
		if (strcmp(kl_profile_sget(a, a->sample_types[i].type),
			   kl_profile_sget(b, b->sample_types[i].type)) ||
		    strcmp(kl_profile_sget(a, a->sample_types[i].unit),
			   kl_profile_sget(b, b->sample_types[i].unit)))
			goto mismatch;
	}
	return 0;
mismatch:
	cli_error(t->cmd, "-diff_base %s: sample types differ from the source profile",
		  t->r.diff_base);
	return CLI_FAIL;
}

/* pprof's sampleIndex(): the first shorthand given wins over later ones. */
static void sample_shorthands(struct textrep *t)
{
	const struct {
		bool set;
		const char *type, *option;
	} sh[] = {
		{ t->total_delay, "delay", "-total_delay" },
		{ t->contentions, "contentions", "-contentions" },
		{ t->inuse_space, "inuse_space", "-inuse_space" },
		{ t->inuse_objects, "inuse_objects", "-inuse_objects" },
		{ t->alloc_space, "alloc_space", "-alloc_space" },
		{ t->alloc_objects, "alloc_objects", "-alloc_objects" },
	};

	for (size_t i = 0; i < KL_ARRAY_SIZE(sh); i++) {
		if (!sh[i].set)
			continue;
		if (!t->r.sample_index || !*t->r.sample_index)
			t->r.sample_index = sh[i].type;
		else
			cli_error(t->cmd, "multiple value selections, ignoring %s", sh[i].option);
	}
}

int textrep_build(struct textrep *t, const char **srcs, int n, const struct textrep_defaults *d)
{
	struct kl_view_opts vo;
	struct kl_flat_opts fo;
	struct kl_err err;
	int rc;

	if (n < 1) {
		cli_error(t->cmd, "no profile given (see kiln %s --help)", t->cmd);
		return CLI_USAGE;
	}
	if (t->r.nodefraction > 1 || t->edgefraction > 1) {
		cli_error(t->cmd, "-nodefraction and -edgefraction take a fraction from 0 to 1");
		return CLI_USAGE;
	}
	sample_shorthands(t);
	if ((rc = load(t, srcs, n, &t->prof)))
		return rc;
	t->time_nanos = t->prof->time_nanos;
	t->duration_nanos = t->prof->duration_nanos;
	if (t->r.diff_base) {
		if ((rc = load(t, &t->r.diff_base, 1, &t->base)))
			return rc;
		if ((rc = check_base(t)))
			return rc;
		/* pprof merges the base profile last: its header counts too */
		if (t->time_nanos == 0 || t->base->time_nanos < t->time_nanos)
			t->time_nanos = t->base->time_nanos;
		t->duration_nanos += t->base->duration_nanos;
	}
	if (t->prof->nsample_types == 0) {
		cli_error(t->cmd, "profile has no samples");
		return CLI_FAIL;
	}
	if ((rc = cli_view_opts(t->cmd, &t->r, t->prof, &vo, &t->filter)))
		return rc;
	t->sample_unit = kl_profile_sget(t->prof, t->prof->sample_types[vo.sample_index].unit);
	t->names = kl_strtab_new();
	if (!t->names) {
		cli_error(t->cmd, "out of memory");
		return CLI_FAIL;
	}
	kl_flat_init(&t->flat, t->names);
	if (kl_view_init(&t->view, t->prof, &vo, t->names, &err) ||
	    (t->base && kl_view_init(&t->base_view, t->base, &vo, t->names, &err))) {
		cli_error(t->cmd, "%s", err.msg);
		return CLI_FAIL;
	}
	if ((rc = kl_flat_add_view(&t->flat, &t->view, false)) ||
	    (t->base && (rc = kl_flat_add_view(&t->flat, &t->base_view, true))))
		goto fail;
	fo = (struct kl_flat_opts){
		.node_fraction = t->r.nodefraction >= 0 ? t->r.nodefraction : d->nodefraction,
		.edge_fraction = t->edgefraction >= 0 ? t->edgefraction : d->edgefraction,
		/* -1 is "not set"; pprof treats any other value <= 0 as no limit */
		.node_count = t->r.nodecount != -1 ? t->r.nodecount : d->nodecount,
		.cum_sort = t->cum,
	};
	t->node_fraction = fo.node_fraction;
	if ((rc = kl_flat_trim(&t->flat, &fo)))
		goto fail;
	/* pprof's selectOutputUnit: one unit for the report unless -unit says */
	t->out_unit = textrep_unit_opt(&t->r);
	if (!strcmp(t->out_unit, "minimum") && t->flat.nshown > 0)
		t->out_unit = kl_unit_select(kl_flat_min_value(&t->flat), t->flat.total,
					     t->sample_unit);
	return 0;
fail:
	cli_error(t->cmd, "%s", kl_strerror(rc));
	return CLI_FAIL;
}

int textrep_parse_build(struct textrep *t, const char *usage, int argc, const char **argv,
			const struct textrep_defaults *d)
{
	const struct cli_opt opts[] = { TEXTREP_OPTS(*t), { NULL, 0, NULL, NULL, NULL } };
	int npos, rc;

	rc = cli_parse(t->cmd, usage, opts, argc, argv, &npos);
	if (rc)
		return rc;
	return textrep_build(t, argv + 1, npos, d);
}

const char *textrep_value(const struct textrep *t, int64_t v, char *buf)
{
	return kl_unit_label(buf, KL_UNIT_LABEL_MAX, v, t->sample_unit, t->out_unit);
}

const char *textrep_pct(const struct textrep *t, int64_t v, char *buf)
{
	return kl_unit_percentage(buf, KL_UNIT_LABEL_MAX, v, t->flat.total);
}

/* Go's filepath.Base. */
static void add_basename(struct kl_buf *out, const char *path)
{
	size_t end = strlen(path), start;

	if (end == 0) {
		kl_buf_addch(out, '.');
		return;
	}
	while (end > 1 && path[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (start == end)
		kl_buf_addch(out, '/');
	else
		kl_buf_add(out, path + start, end - start);
}

/* Go's time layout "Jan 2, 2006 at 3:04pm (MST)" in the local zone. */
static void add_time(struct kl_buf *out, int64_t nanos)
{
	static const char *const months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	int64_t secs = nanos / 1000000000;
	time_t tt;
	struct tm tm;

	if (nanos < 0 && nanos % 1000000000)
		secs--;		/* Go rounds toward the earlier second */
	tt = (time_t)secs;
	if (!localtime_r(&tt, &tm)) {
		kl_buf_addstr(out, "?");
		return;
	}
	kl_buf_addf(out, "%s %d, %d at %d:%02d%s (%s)", months[tm.tm_mon % 12], tm.tm_mday,
		    tm.tm_year + 1900, tm.tm_hour % 12 ? tm.tm_hour % 12 : 12, tm.tm_min,
		    tm.tm_hour < 12 ? "am" : "pm", tm.tm_zone ? tm.tm_zone : "UTC");
}

int64_t textrep_abs_total(const struct kl_profile *p, uint32_t sample_index)
{
	int64_t total = 0;

	for (uint32_t i = 0; i < p->nsamples; i++) {
		int64_t v = kl_sample_values(p, i)[sample_index];

		total += v < 0 ? -v : v;
	}
	return total;
}

void textrep_profile_labels(struct kl_buf *out, const struct textrep_labels *l)
{
	const struct kl_profile *p = l->prof;
	const struct kl_profile *mp = p->nmappings || !l->base ? p : l->base;
	const char *unit = kl_profile_sget(p, p->sample_types[l->sample_index].unit);
	char a[KL_UNIT_LABEL_MAX], b[KL_UNIT_LABEL_MAX];

	if (mp->nmappings) {
		const char *file = kl_profile_sget(mp, mp->mappings[0].filename);
		const char *build_id = kl_profile_sget(mp, mp->mappings[0].build_id);

		if (*file) {
			kl_buf_addstr(out, "File: ");
			add_basename(out, file);
			kl_buf_addch(out, '\n');
		}
		if (*build_id)
			kl_buf_addf(out, "Build ID: %s\n", build_id);
	}
	for (int side = 0; side < 2; side++) {
		const struct kl_profile *cp = side ? l->base : p;

		for (uint32_t i = 0; cp && i < cp->ncomments; i++) {
			const char *c = kl_profile_sget(cp, cp->comments[i]);
			bool seen = false;

			if (c[0] == '#')
				continue;
			/* a comment of both profiles appears once after pprof's merge */
			for (uint32_t j = 0; side && j < p->ncomments; j++)
				seen |= !strcmp(c, kl_profile_sget(p, p->comments[j]));
			if (!seen)
				kl_buf_addf(out, "%s\n", c);
		}
	}
	kl_buf_addf(out, "Type: %s\n", kl_profile_sget(p, p->sample_types[l->sample_index].type));
	if (l->time_nanos != 0) {
		kl_buf_addstr(out, "Time: ");
		add_time(out, l->time_nanos);
		kl_buf_addch(out, '\n');
	}
	if (l->duration_nanos != 0) {
		const char *ns_unit;
		double total_ns = kl_unit_scale(l->total, unit, "nanoseconds", &ns_unit);

		kl_unit_label(a, sizeof(a), l->duration_nanos, "nanoseconds", "auto");
		kl_buf_addf(out, "Duration: %s, Total samples = %s ", a,
			    kl_unit_label(b, sizeof(b), l->total, unit, l->out_unit));
		/* the share of wall time sampled, for time-valued profiles only */
		if (!strcmp(ns_unit, "ns") && total_ns != 0)
			kl_buf_addf(out, "(%s)",
				    kl_unit_percentage(a, sizeof(a), (int64_t)total_ns, l->duration_nanos));
		kl_buf_addch(out, '\n');
	}
}

/* pprof's "Active filters:" legend, in its order of options. */
static void active_filters(const struct textrep *t, struct kl_buf *out)
{
	const struct {
		const char *name, *value;
	} fs[] = {
		{ "focus", t->r.focus },	 { "ignore", t->r.ignore },
		{ "hide", t->r.hide },		 { "show", t->r.show },
		{ "tagfocus", t->r.tagfocus },	 { "tagignore", t->r.tagignore },
	};
	bool any = false;

	for (size_t i = 0; i < KL_ARRAY_SIZE(fs); i++) {
		size_t len;

		if (!fs[i].value || !*fs[i].value)
			continue;
		if (!any)
			kl_buf_addstr(out, "Active filters:\n");
		any = true;
		len = strlen(fs[i].name) + 1 + strlen(fs[i].value);
		kl_buf_addf(out, "   %s=", fs[i].name);
		/* pprof cuts a filter longer than 80 bytes and adds an ellipsis */
		if (len > 80)
			kl_buf_addf(out, "%.*s\xe2\x80\xa6\n", (int)(80 - strlen(fs[i].name) - 1),
				    fs[i].value);
		else
			kl_buf_addf(out, "%s\n", fs[i].value);
	}
}

void textrep_header(const struct textrep *t, struct kl_buf *out)
{
	const struct kl_flat *f = &t->flat;
	char a[KL_UNIT_LABEL_MAX], b[KL_UNIT_LABEL_MAX], c[KL_UNIT_LABEL_MAX];
	const char *pct;

	textrep_profile_labels(out, &(struct textrep_labels){
		.prof = t->prof,
		.base = t->base,
		.sample_index = t->view.sample_index,
		.time_nanos = t->time_nanos,
		.duration_nanos = t->duration_nanos,
		.total = f->total,
		.out_unit = t->out_unit,
	});
	active_filters(t, out);
	pct = textrep_pct(t, f->shown_flat, b);
	while (*pct == ' ')
		pct++;
	kl_buf_addf(out, "Showing nodes accounting for %s, %s of %s total\n",
		    textrep_value(t, f->shown_flat, a), pct, textrep_value(t, f->total, c));
	if (f->total != 0) {
		if (f->ndropped > 0) {
			/* int64(float64(total) * fraction), made positive, as pprof */
			double cut = (double)f->total * t->node_fraction;
			int64_t c64 = (int64_t)cut;

			kl_buf_addf(out, "Dropped %u node%s (cum <= %s)\n", f->ndropped,
				    f->ndropped > 1 ? "s" : "", textrep_value(t, c64 < 0 ? -c64 : c64, a));
		}
		if (f->nshown > 0 && f->nshown < f->norig)
			kl_buf_addf(out, "Showing top %u nodes out of %u\n", f->nshown, f->norig);
	}
}

int textrep_write(const struct textrep *t, struct kl_buf *out)
{
	if (kl_buf_error(out)) {
		cli_error(t->cmd, "%s", kl_strerror(kl_buf_error(out)));
		return CLI_FAIL;
	}
	if (out->len && fwrite(out->data, 1, out->len, stdout) != out->len) {
		cli_error(t->cmd, "writing the report failed");
		return CLI_FAIL;
	}
	if (fflush(stdout)) {
		cli_error(t->cmd, "writing the report failed");
		return CLI_FAIL;
	}
	return CLI_OK;
}

static void tree_edge(const struct textrep *t, struct kl_buf *out, const struct kl_flat_edge *e,
		      uint32_t other, int64_t cum)
{
	char v[KL_UNIT_LABEL_MAX], p[KL_UNIT_LABEL_MAX];

	kl_buf_addf(out, "%50s %s |   %s%s\n", textrep_value(t, e->weight, v),
		    kl_unit_percentage(p, sizeof(p), e->weight, cum), kl_flat_name(&t->flat, other),
		    e->inlined ? " (inline)" : "");
}

uint32_t textrep_tree(const struct textrep *t, struct kl_buf *out,
		      bool (*match)(const char *name, void *arg), void *arg)
{
	static const char sep[] =
		"----------------------------------------------------------+-------------\n";
	const struct kl_flat *f = &t->flat;
	uint32_t matched = 0;
	int64_t sum = 0;

	textrep_header(t, out);
	kl_buf_addstr(out, sep);
	kl_buf_addstr(out, "      flat  flat%   sum%        cum   cum%   calls calls% + context \t \t \n");
	for (uint32_t i = 0; i < f->nshown; i++) {
		const struct kl_flat_node *n = &f->nodes[f->shown[i]];
		const char *name = kl_flat_name(f, f->shown[i]);
		char a[KL_UNIT_LABEL_MAX], b[KL_UNIT_LABEL_MAX], c[KL_UNIT_LABEL_MAX];
		char d[KL_UNIT_LABEL_MAX], e[KL_UNIT_LABEL_MAX];

		if (match && !match(name, arg))
			continue;
		matched++;
		kl_buf_addstr(out, sep);
		for (uint32_t j = 0; j < n->nin; j++) {
			const struct kl_flat_edge *ed = &f->edges[f->in[n->in_start + j]];

			tree_edge(t, out, ed, ed->src, n->cum);
		}
		sum = (int64_t)((uint64_t)sum + (uint64_t)n->flat);
		kl_buf_addf(out, "%10s %s %s %10s %s                | %s\n", textrep_value(t, n->flat, a),
			    textrep_pct(t, n->flat, b), textrep_pct(t, sum, c),
			    textrep_value(t, n->cum, d), textrep_pct(t, n->cum, e), name);
		for (uint32_t j = 0; j < n->nout; j++) {
			const struct kl_flat_edge *ed = &f->edges[f->out[n->out_start + j]];

			tree_edge(t, out, ed, ed->dst, n->cum);
		}
	}
	if (f->nshown > 0)
		kl_buf_addstr(out, sep);
	return matched;
}
