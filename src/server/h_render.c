/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h_render.c - GET /pyroscope/render and /render (a merged flame graph of
 * the series a selector picks, as flamebearer JSON + timeline + groups, or
 * exported as pprof, collapsed stacks, an HTML page or speedscope), and
 * /pyroscope/render-diff and /render-diff (two queries side by side as a
 * double flamebearer). The store merges; this file only shapes the answer,
 * through the same view -> tree -> writer path as kiln flame/convert/diff.
 *
 * Sections: trees from profiles, render (json and exports), render-diff.
 */
#include <stdio.h>
#include <string.h>

#include "../render/render.h"
#include "query.h"

/* ---- trees from profiles ------------------------------------------------ */

/*
 * A profile with no sample type (nothing matched and the selector named
 * none) gets samples/count, so every writer below has a type to show.
 */
static int ensure_type(struct kl_profile *p)
{
	if (p->nsample_types)
		return 0;
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "samples"), kl_profile_cstr(p, "count"));
	return kl_profile_failed(p) ? -ENOMEM : 0;
}

/* Function-level view of p's only sample type, as Pyroscope names frames. */
static int view_of(struct kl_view *v, const struct kl_profile *p, struct kl_strtab *names,
		   struct kl_err *err)
{
	const struct kl_view_opts vo = { .sample_index = 0, .granularity = KL_GRAN_FUNCTIONS };

	return kl_view_init(v, p, &vo, names, err);
}

/* Adds p's stacks to column col of t; column 0 also names the tree's type. */
static int tree_add(struct kl_tree *t, const struct kl_profile *p, uint32_t col,
		    struct kl_err *err)
{
	struct kl_view v;
	int rc;

	memset(&v, 0, sizeof(v));
	rc = view_of(&v, p, t->names, err);
	if (!rc && (rc = kl_tree_add_view(t, &v, col, false)))
		kl_errf(err, rc, "building the tree: %s", kl_strerror(rc));
	kl_view_release(&v);
	if (!rc) {
		/*
		 * Samples without a stack (Go's threadcreate profile has them) add no
		 * path: count them as the root's self so that numTicks is the
		 * profile's total, as pprof and the timeline count them.
		 */
		int64_t missing = kl_profile_total(p, 0) - t->nodes[0].total[col];

		t->nodes[0].self[col] += missing;
		t->nodes[0].total[col] += missing;
	}
	if (!rc && col == 0) {
		snprintf(t->sample_type, sizeof(t->sample_type), "%s",
			 kl_profile_sget(p, p->sample_types[0].type));
		snprintf(t->unit, sizeof(t->unit), "%s",
			 kl_profile_sget(p, p->sample_types[0].unit));
	}
	return rc;
}

/* The pyroscope_spy label of the matching series when they agree on one (owned), or NULL. */
static char *spy_name_of(struct kl_server *srv, const struct kl_store_query *q)
{
	char **v = NULL, *spy = NULL;
	struct kl_err err;
	size_t n = 0;

	/* best effort: without a spy name the graph is still right */
	if (kl_store_label_values(srv->store, q->tenant, "pyroscope_spy", q->sel, q->from_ns,
				  q->until_ns, &v, &n, &err) == 0 && n == 1) {
		spy = v[0];
		v[0] = NULL;
	}
	kl_store_strings_free(v, n);
	return spy;
}

/* ---- render --------------------------------------------------------------- */

/* Adds b's buckets to a (same start, step and length). */
static bool timeline_add(struct kl_store_timeline *a, const struct kl_store_timeline *b)
{
	if (a->start_ns != b->start_ns || a->step_ns != b->step_ns || a->n != b->n)
		return false;
	for (size_t i = 0; i < a->n; i++)
		a->values[i] += b->values[i];
	a->total += b->total;
	return true;
}

/*
 * Writes "timeline" (all matching series) and "groups" (per value of
 * group_by, series without the label under "*", as Pyroscope does; null
 * when not grouped). One store call serves both when the grouped
 * timelines share one shape, as the store makes them.
 */
static int write_timelines(struct kl_server *srv, const struct kl_store_query *q,
			   const char *group_by, struct kl_buf *out, struct kl_err *err)
{
	int64_t step = kl_query_step(q->from_ns, q->until_ns);
	struct kl_store_timeline *g = NULL, *all = NULL, sum = { 0 };
	/* an empty range has no bucket (the store would call it a bad query) */
	bool empty = q->until_ns <= q->from_ns, summed = false;
	size_t ng = 0, nall = 0;
	int rc = 0;

	if (group_by && !empty) {
		rc = kl_store_timeline(srv->store, q, step, group_by, &g, &ng, err);
		if (rc)
			goto out;
		if (ng) {
			sum = g[0];
			sum.group = NULL;
			sum.values = kl_calloc(g[0].n ? g[0].n : 1, sizeof(*sum.values));
			if (!sum.values) {
				rc = kl_errf(err, -ENOMEM, "timeline: out of memory");
				goto out;
			}
			sum.total = 0;
			summed = true;
			for (size_t i = 0; i < ng && summed; i++)
				summed = timeline_add(&sum, &g[i]);
		}
	}
	if (!summed && !empty) {
		rc = kl_store_timeline(srv->store, q, step, NULL, &all, &nall, err);
		if (rc)
			goto out;
	}
	kl_buf_addstr(out, ",\"timeline\":");
	if (summed) {
		kl_query_timeline_json(&sum, out);
	} else if (nall) {
		kl_query_timeline_json(&all[0], out);
	} else {
		/* no bucket at all: an empty timeline still tells the UI the range */
		struct kl_store_timeline z = {
			.start_ns = q->from_ns - ((q->from_ns % step) + step) % step,
			.step_ns = step,
		};

		kl_query_timeline_json(&z, out);
	}
	kl_buf_addstr(out, ",\"groups\":");
	if (!group_by) {
		kl_buf_addstr(out, "null");
		goto out;
	}
	kl_buf_addch(out, '{');
	for (size_t i = 0; i < ng; i++) {
		const char *key = g[i].group && *g[i].group ? g[i].group : "*";

		kl_buf_addstr(out, i ? ",\"" : "\"");
		kl_buf_add_json_str(out, key, strlen(key));
		kl_buf_addstr(out, "\":");
		kl_query_timeline_json(&g[i], out);
	}
	kl_buf_addch(out, '}');
out:
	kl_free(sum.values);
	kl_store_timelines_free(g, ng);
	kl_store_timelines_free(all, nall);
	return rc;
}

/* format=json: flamebearer + metadata + timeline + groups. */
static int render_json(struct kl_server *srv, const struct kl_query_target *tg,
		       struct kl_tree *t, uint32_t max_nodes, const char *group_by,
		       struct kl_resp *resp, struct kl_err *err)
{
	char *spy = spy_name_of(srv, &tg->q);
	struct kl_flamebearer_meta meta = {
		.name = t->sample_type,
		.spy_name = spy ? spy : "",
		.units = NULL,	/* the writer's rule: samples, bytes, objects ... */
		.sample_rate = kl_query_sample_rate(t->unit),
	};
	int rc = kl_tree_truncate(t, max_nodes);

	if (rc) {
		kl_errf(err, rc, "truncating the tree: %s", kl_strerror(rc));
		goto out;
	}
	kl_buf_addch(&resp->body, '{');
	rc = kl_flamebearer_write(t, &meta, true, &resp->body, err);
	if (!rc)
		rc = write_timelines(srv, &tg->q, group_by, &resp->body, err);
	kl_buf_addch(&resp->body, '}');
	if (!rc && (rc = kl_buf_error(&resp->body)))
		kl_errf(err, rc, "response: %s", kl_strerror(rc));
	resp->content_type = "application/json";
out:
	kl_free(spy);
	return rc;
}

/* format=html: the standalone page kiln flame writes. */
static int render_html(const struct kl_query_target *tg, struct kl_tree *t, uint32_t max_nodes,
		       struct kl_resp *resp, struct kl_err *err)
{
	char subtitle[512];
	struct kl_render_opts ro = {
		.subtitle = subtitle,
		.units = t->unit,
		.min_width = -1,
	};
	int rc = kl_tree_truncate(t, max_nodes);

	if (rc)
		return kl_errf(err, rc, "truncating the tree: %s", kl_strerror(rc));
	snprintf(subtitle, sizeof(subtitle), "%.400s - %s (%s)", tg->text, t->sample_type, t->unit);
	resp->content_type = "text/html; charset=utf-8";
	return kl_render_html(t, &ro, &resp->body, err);
}

/* Writes p in format f into resp. */
static int render_profile(struct kl_server *srv, const struct kl_query_target *tg,
			  struct kl_profile *p, enum kl_query_format f, uint32_t max_nodes,
			  const char *group_by, struct kl_resp *resp, struct kl_err *err)
{
	struct kl_strtab *names = NULL;
	struct kl_tree *t = NULL;
	int rc;

	if (f == KL_QFMT_PPROF) {
		resp->content_type = "application/octet-stream";
		resp->content_disposition = "attachment; filename=\"profile.pb.gz\"";
		return kl_pprof_write(p, true, &resp->body, err);
	}
	names = kl_strtab_new();
	if (!names) {
		rc = kl_errf(err, -ENOMEM, "out of memory");
		goto out;
	}
	if (f == KL_QFMT_SPEEDSCOPE) {
		struct kl_view v;

		memset(&v, 0, sizeof(v));
		rc = view_of(&v, p, names, err);
		if (!rc)
			rc = kl_speedscope_write(&v, tg->text, &resp->body, err);
		kl_view_release(&v);
		resp->content_type = "application/json";
		goto out;
	}
	t = kl_tree_new(names, 1);
	if (!t) {
		rc = kl_errf(err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = tree_add(t, p, 0, err);
	if (rc)
		goto out;
	switch (f) {
	case KL_QFMT_COLLAPSED:
		/* an export for other tools: every stack, not cut by maxNodes */
		rc = kl_tree_sort(t);
		if (!rc)
			rc = kl_folded_write(t, 0, &resp->body, err);
		resp->content_type = "text/plain; charset=utf-8";
		break;
	case KL_QFMT_HTML:
		rc = render_html(tg, t, max_nodes, resp, err);
		break;
	default:
		rc = render_json(srv, tg, t, max_nodes, group_by, resp, err);
		break;
	}
out:
	kl_tree_free(t);
	kl_strtab_free(names);
	return rc;
}

void kl_h_render(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	struct kl_query_target tg;
	struct kl_http_err herr;
	struct kl_profile *p = NULL;
	enum kl_query_format f;
	const char *group_by;
	uint32_t max_nodes;
	struct kl_err err;
	int rc;

	memset(&tg, 0, sizeof(tg));
	memset(&herr, 0, sizeof(herr));
	err.msg[0] = '\0';
	if (kl_query_target_parse(srv->cfg, req, "query", "from", "until", true, &tg, &herr) ||
	    kl_query_max_nodes(srv->cfg, req, &max_nodes, &herr) ||
	    kl_query_format_parse(req, &f, &herr)) {
		kl_query_http_error(srv, resp, &herr);
		goto out;
	}
	group_by = kl_req_param(req, "groupBy");
	if (group_by && !*group_by)
		group_by = NULL;
	rc = kl_store_select(srv->store, &tg.q, &p, &err);
	if (!rc && (rc = ensure_type(p)))
		kl_errf(&err, rc, "out of memory");
	if (!rc)
		rc = render_profile(srv, &tg, p, f, max_nodes, group_by, resp, &err);
	if (rc) {
		kl_query_store_error(srv, resp, rc, &err);
		goto out;
	}
	resp->status = 200;
out:
	kl_profile_free(p);
	kl_query_target_release(&tg);
}

/* ---- render-diff -------------------------------------------------------- */

void kl_h_render_diff(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	struct kl_query_target tg[2];
	struct kl_profile *p[2] = { NULL, NULL };
	struct kl_strtab *names = NULL;
	struct kl_tree *t = NULL;
	struct kl_http_err herr;
	uint32_t max_nodes;
	struct kl_err err;
	int rc = 0;

	memset(tg, 0, sizeof(tg));
	memset(&herr, 0, sizeof(herr));
	err.msg[0] = '\0';
	if (kl_query_target_parse(srv->cfg, req, "leftQuery", "leftFrom", "leftUntil", true, &tg[0],
				  &herr) ||
	    kl_query_target_parse(srv->cfg, req, "rightQuery", "rightFrom", "rightUntil", true,
				  &tg[1], &herr) ||
	    kl_query_max_nodes(srv->cfg, req, &max_nodes, &herr)) {
		kl_query_http_error(srv, resp, &herr);
		goto out;
	}
	for (int i = 0; i < 2 && !rc; i++) {
		rc = kl_store_select(srv->store, &tg[i].q, &p[i], &err);
		if (!rc && (rc = ensure_type(p[i])))
			kl_errf(&err, rc, "out of memory");
	}
	if (rc)
		goto out;
	/* a frame's two widths must be in one unit to compare */
	if (p[0]->nsamples && p[1]->nsamples &&
	    (strcmp(kl_profile_sget(p[0], p[0]->sample_types[0].type),
		    kl_profile_sget(p[1], p[1]->sample_types[0].type)) ||
	     strcmp(kl_profile_sget(p[0], p[0]->sample_types[0].unit),
		    kl_profile_sget(p[1], p[1]->sample_types[0].unit)))) {
		rc = kl_errf(&err, -KL_EUSAGE, "leftQuery selects %s:%s but rightQuery %s:%s; "
			     "compare one sample type",
			     kl_profile_sget(p[0], p[0]->sample_types[0].type),
			     kl_profile_sget(p[0], p[0]->sample_types[0].unit),
			     kl_profile_sget(p[1], p[1]->sample_types[0].type),
			     kl_profile_sget(p[1], p[1]->sample_types[0].unit));
		goto out;
	}
	names = kl_strtab_new();
	t = names ? kl_tree_new(names, 2) : NULL;
	if (!t) {
		rc = kl_errf(&err, -ENOMEM, "out of memory");
		goto out;
	}
	rc = tree_add(t, p[0], 0, &err);
	if (!rc)
		rc = tree_add(t, p[1], 1, &err);
	/* column 0 describes the tree: let the side with data name the type */
	if (!rc && !p[0]->nsamples && p[1]->nsamples) {
		snprintf(t->sample_type, sizeof(t->sample_type), "%s",
			 kl_profile_sget(p[1], p[1]->sample_types[0].type));
		snprintf(t->unit, sizeof(t->unit), "%s",
			 kl_profile_sget(p[1], p[1]->sample_types[0].unit));
	}
	if (!rc && (rc = kl_tree_truncate(t, max_nodes)))
		kl_errf(&err, rc, "truncating the tree: %s", kl_strerror(rc));
	if (!rc) {
		struct kl_flamebearer_meta meta = {
			.name = t->sample_type,
			.spy_name = "",
			.sample_rate = kl_query_sample_rate(t->unit),
		};

		kl_buf_addch(&resp->body, '{');
		rc = kl_flamebearer_write(t, &meta, true, &resp->body, &err);
		/* the right (new) side's timeline, as the comparison view shows it */
		if (!rc)
			rc = write_timelines(srv, &tg[1].q, NULL, &resp->body, &err);
		kl_buf_addch(&resp->body, '}');
		if (!rc && (rc = kl_buf_error(&resp->body)))
			kl_errf(&err, rc, "response: %s", kl_strerror(rc));
	}
out:
	if (rc) {
		kl_query_store_error(srv, resp, rc, &err);
	} else if (!herr.status) {
		resp->status = 200;
		resp->content_type = "application/json";
	}
	kl_tree_free(t);
	kl_strtab_free(names);
	for (int i = 0; i < 2; i++) {
		kl_profile_free(p[i]);
		kl_query_target_release(&tg[i]);
	}
}
