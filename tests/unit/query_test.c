/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query_test.c - the read endpoints' handlers driven directly (they are
 * plain functions) over a real store in a temporary directory, filled from
 * the pprof fixtures through kl_series_split: flamebearer totals and
 * per-function values against the core's flat/cum table, maxNodes, every
 * export format re-read, diffs, timelines and groups, span_id, the label
 * endpoints, and precise 400s for bad parameters.
 */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "core/flat.h"
#include "ingest_testlib.h"
#include "server/query.h"

#define SEC INT64_C(1000000000)
/* where the fixtures' profiles are put: one hour before NOW_NS, on a minute */
#define T0 (NOW_NS - 3600 * SEC)
#define CPU_ID "process_cpu:cpu:nanoseconds:cpu:nanoseconds"

struct env {
	char dir[64];
	struct kl_config cfg;
	struct kl_server srv;
	struct kl_profile *cpu;	/* go-cpu.pb.gz as read */
	struct kl_profile *cpu2;	/* go-sample.cpu.pb.gz */
	int64_t cpu_total, cpu2_total;	/* their cpu:nanoseconds totals */
	size_t nseries_a;	/* series the split made of cpu */
};

/* ---- helpers -------------------------------------------------------------- */

/* Sample index of type name in p. */
static uint32_t type_index(const struct kl_profile *p, const char *type)
{
	int i = kl_profile_sample_index(p, type, NULL);

	assert_true(i >= 0);
	return (uint32_t)i;
}

/*
 * Splits p under labels kv (NULL-terminated name/value list) and appends
 * it. Returns the number of series.
 */
static size_t append(struct env *e, const struct kl_profile *p, int64_t from, int64_t until,
		     const char *const *kv)
{
	struct kl_labels base = { 0 };
	struct kl_series_set set = { 0 };
	struct kl_http_err herr = { 0 };
	struct kl_err err;
	size_t n;

	for (; kv[0]; kv += 2)
		assert_int_equal(kl_labels_set(&base, kv[0], kv[1], strlen(kv[1])), 0);
	if (kl_series_split(p, &base, from, until, NULL, &set, &herr))
		fail_msg("split: %s", herr.e.msg);
	if (kl_store_append(e->srv.store, "t1", set.v, set.n, &err))
		fail_msg("append: %s", err.msg);
	n = set.n;
	kl_series_set_release(&set);
	kl_labels_release(&base);
	return n;
}

/* Calls handler fn on GET path?query (a raw query string) for tenant t1. */
static void call(struct env *e, kl_handler_fn fn, const char *query, struct kl_resp *resp)
{
	char **k = NULL, **v = NULL;
	size_t n = 0;
	struct kl_http_err herr = { 0 };
	struct kl_req req = {
		.method = "GET", .path = "/pyroscope/render", .tenant = "t1", .now_ns = NOW_NS,
	};

	assert_int_equal(kl_query_parse(query, 64, &k, &v, &n, &herr), 0);
	req.keys = (const char *const *)k;
	req.values = (const char *const *)v;
	req.nparams = n;
	memset(resp, 0, sizeof(*resp));
	resp->status = 200;
	fn(&e->srv, &req, resp);
	kl_query_free(k, v, n);
}

/* Calls fn and parses the JSON answer; fails unless status 200. */
static json_t *call_json(struct env *e, kl_handler_fn fn, const char *query)
{
	struct kl_resp resp;
	json_error_t jerr;
	json_t *j;

	call(e, fn, query, &resp);
	if (resp.status != 200)
		fail_msg("%s: status %d: %.*s", query, resp.status, (int)resp.body.len,
			 resp.body.data ? resp.body.data : "");
	assert_string_equal(resp.content_type, "application/json");
	j = json_loadb(resp.body.data, resp.body.len, 0, &jerr);
	if (!j)
		fail_msg("%s: bad JSON: %s", query, jerr.text);
	kl_buf_release(&resp.body);
	return j;
}

/* Expects status with a message containing what. */
static void expect_status(struct env *e, kl_handler_fn fn, const char *query, int status,
			  const char *what)
{
	struct kl_resp resp;

	call(e, fn, query, &resp);
	if (resp.status != status || !resp.body.data || !strstr(resp.body.data, what))
		fail_msg("%s: want %d \"%s\", got %d \"%.*s\"", query, status, what, resp.status,
			 (int)resp.body.len, resp.body.data ? resp.body.data : "");
	kl_buf_release(&resp.body);
}

static int64_t jint(const json_t *o, const char *key)
{
	const json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("%s is not an integer", key);
	return json_integer_value(v);
}

/* A decoded flamebearer node. */
struct fnode {
	int64_t x, total, self;
	const char *name;
	long parent;
	uint32_t level;
};

/*
 * Decodes a single flamebearer's levels into nodes (parents found by x
 * ranges on the level above). *n gets the count; free the result.
 */
static struct fnode *decode(const json_t *fb, size_t *n)
{
	const json_t *names = json_object_get(fb, "names"), *levels = json_object_get(fb, "levels");
	struct fnode *v = NULL;
	size_t nv = 0, prev_start = 0, prev_end = 0;

	for (size_t l = 0; l < json_array_size(levels); l++) {
		const json_t *lv = json_array_get(levels, l);
		size_t start = nv;
		int64_t x = 0;

		assert_int_equal(json_array_size(lv) % 4, 0);
		for (size_t i = 0; i < json_array_size(lv); i += 4) {
			struct fnode f = { 0 };
			size_t idx;

			x += json_integer_value(json_array_get(lv, i));
			f.x = x;
			f.total = json_integer_value(json_array_get(lv, i + 1));
			f.self = json_integer_value(json_array_get(lv, i + 2));
			idx = (size_t)json_integer_value(json_array_get(lv, i + 3));
			f.name = json_string_value(json_array_get(names, idx));
			assert_non_null(f.name);
			f.level = (uint32_t)l;
			f.parent = -1;
			for (size_t p = prev_start; l && p < prev_end; p++) {
				if (f.x >= v[p].x && f.x + f.total <= v[p].x + v[p].total)
					f.parent = (long)p;
			}
			assert_true(l == 0 || f.parent >= 0);
			x += f.total;
			v = realloc(v, (nv + 1) * sizeof(*v));
			v[nv++] = f;
		}
		prev_start = start;
		prev_end = nv;
	}
	*n = nv;
	return v;
}

/* True if node i has an ancestor named like it. */
static bool recursive(const struct fnode *v, size_t i)
{
	for (long p = v[i].parent; p >= 0; p = v[p].parent) {
		if (!strcmp(v[p].name, v[i].name))
			return true;
	}
	return false;
}

/*
 * Checks a flamebearer against the core's flat/cum table of p's sample
 * type: every function's flat (sum of self) and cum (sum of totals of
 * the outermost occurrences) must match, as `kiln top` would print them.
 */
static void check_functions(const json_t *fb, const struct kl_profile *p, uint32_t idx)
{
	struct kl_view_opts vo = { .sample_index = idx, .granularity = KL_GRAN_FUNCTIONS };
	struct kl_strtab *names = kl_strtab_new();
	struct kl_view view = { 0 };
	struct kl_flat f;
	struct kl_err err;
	struct fnode *v;
	size_t n, checked = 0;

	assert_int_equal(kl_view_init(&view, p, &vo, names, &err), 0);
	kl_flat_init(&f, names);
	assert_int_equal(kl_flat_add_view(&f, &view, false), 0);
	v = decode(fb, &n);
	for (uint32_t i = 0; i < f.nnodes; i++) {
		const char *name = kl_strtab_get(names, f.nodes[i].name);
		int64_t flat = 0, cum = 0;

		for (size_t j = 1; j < n; j++) {
			if (strcmp(v[j].name, name))
				continue;
			flat += v[j].self;
			if (!recursive(v, j))
				cum += v[j].total;
		}
		if (flat != f.nodes[i].flat || cum != f.nodes[i].cum)
			fail_msg("%s: flat %lld cum %lld, core says %lld %lld", name,
				 (long long)flat, (long long)cum, (long long)f.nodes[i].flat,
				 (long long)f.nodes[i].cum);
		checked++;
	}
	assert_true(checked > 10);
	free(v);
	kl_flat_release(&f);
	kl_view_release(&view);
	kl_strtab_free(names);
}

/* ---- fixture ---------------------------------------------------------------- */

static int setup(void **state)
{
	static const char *const a[] = { "service_name", "svc-a", "pyroscope_spy", "gospy",
					 "env", "prod", NULL };
	static const char *const b[] = { "service_name", "svc-b", "pyroscope_spy", "gospy",
					 "env", "dev", NULL };
	struct env *e = calloc(1, sizeof(*e));
	struct kl_store_opts o = { 0 };
	struct kl_err err;

	snprintf(e->dir, sizeof(e->dir), "/tmp/kiln-query-test.XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	kl_config_init(&e->cfg);
	o.dir = e->dir;
	o.sync = KL_STORE_SYNC_NONE;
	if (kl_store_open(&o, &e->srv.store, &err))
		fail_msg("store: %s", err.msg);
	e->srv.cfg = &e->cfg;
	e->cpu = test_load_pprof("pprof/go-cpu.pb.gz");
	e->cpu2 = test_load_pprof("pprof/go-sample.cpu.pb.gz");
	e->cpu_total = kl_profile_total(e->cpu, type_index(e->cpu, "cpu"));
	e->cpu2_total = kl_profile_total(e->cpu2, type_index(e->cpu2, "cpu"));
	assert_true(e->cpu_total > 0 && e->cpu2_total > 0);
	e->nseries_a = append(e, e->cpu, T0, T0 + 10 * SEC, a);
	assert_true(e->nseries_a >= 2);
	append(e, e->cpu2, T0 + 60 * SEC, T0 + 70 * SEC, b);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;
	char cmd[128];

	kl_store_close(e->srv.store);
	kl_config_release(&e->cfg);
	kl_profile_free(e->cpu);
	kl_profile_free(e->cpu2);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", e->dir);
	assert_int_equal(system(cmd), 0);
	free(e);
	return 0;
}

/* ---- render ------------------------------------------------------------------- */

static void test_render_json(void **state)
{
	struct env *e = *state;
	json_t *j = call_json(e, kl_h_render, "query=" CPU_ID "{service_name=\"svc-a\"}"
			      "&from=now-2h&until=now&maxNodes=65536");
	const json_t *fb = json_object_get(j, "flamebearer"), *md = json_object_get(j, "metadata");

	assert_int_equal(jint(j, "version"), 1);
	assert_int_equal(jint(fb, "numTicks"), e->cpu_total);
	assert_string_equal(json_string_value(json_array_get(json_object_get(fb, "names"), 0)),
			    "total");
	assert_true(jint(fb, "maxSelf") > 0);
	assert_string_equal(json_string_value(json_object_get(md, "format")), "single");
	assert_string_equal(json_string_value(json_object_get(md, "spyName")), "gospy");
	assert_string_equal(json_string_value(json_object_get(md, "units")), "samples");
	assert_string_equal(json_string_value(json_object_get(md, "name")), "cpu");
	assert_int_equal(jint(md, "sampleRate"), 1000000000);
	assert_true(json_is_null(json_object_get(j, "groups")));
	check_functions(fb, e->cpu, type_index(e->cpu, "cpu"));
	json_decref(j);

	/* the old app.suffix form selects the same series (v0 /render took name=) */
	j = call_json(e, kl_h_render, "name=svc-a.cpu&from=now-2h");
	assert_int_equal(jint(json_object_get(j, "flamebearer"), "numTicks"), e->cpu_total);
	json_decref(j);

	/* both services merged; the samples:count series is a different type */
	j = call_json(e, kl_h_render, "query=" CPU_ID "&from=now-2h");
	assert_int_equal(jint(json_object_get(j, "flamebearer"), "numTicks"),
			 e->cpu_total + e->cpu2_total);
	json_decref(j);
	j = call_json(e, kl_h_render, "query=process_cpu:samples:count:cpu:nanoseconds"
			  "{service_name=\"svc-a\"}&from=now-2h");
	assert_int_equal(jint(json_object_get(j, "flamebearer"), "numTicks"),
			 kl_profile_total(e->cpu, type_index(e->cpu, "samples")));
	json_decref(j);

	/* nothing in range: an empty graph, not an error */
	j = call_json(e, kl_h_render, "query=" CPU_ID "&from=now-10m");
	assert_int_equal(jint(json_object_get(j, "flamebearer"), "numTicks"), 0);
	json_decref(j);
}

static void test_max_nodes(void **state)
{
	struct env *e = *state;
	json_t *j = call_json(e, kl_h_render, "query=" CPU_ID "{service_name=\"svc-a\"}"
			      "&from=now-2h&max-nodes=8");
	const json_t *fb = json_object_get(j, "flamebearer");
	size_t n, nother = 0;
	struct fnode *v = decode(fb, &n);

	assert_int_equal(jint(fb, "numTicks"), e->cpu_total);
	for (size_t i = 0; i < n; i++)
		nother += !strcmp(v[i].name, "other");
	assert_true(nother > 0);
	assert_true(n - nother <= 8 + 1);
	free(v);
	json_decref(j);
}

static void test_exports(void **state)
{
	struct env *e = *state;
	struct kl_profile *p = NULL;
	struct kl_resp resp;
	struct kl_err err;
	int64_t sum = 0;
	json_t *j;

	call(e, kl_h_render, "query=" CPU_ID "{service_name=\"svc-a\"}&from=now-2h&format=pprof",
	     &resp);
	assert_int_equal(resp.status, 200);
	assert_non_null(resp.content_disposition);
	assert_non_null(strstr(resp.content_disposition, "attachment"));
	assert_true(kl_is_gzip((const uint8_t *)resp.body.data, resp.body.len));
	if (kl_pprof_read((const uint8_t *)resp.body.data, resp.body.len, NULL, &p, &err))
		fail_msg("pprof export: %s", err.msg);
	assert_int_equal(p->nsample_types, 1);
	assert_int_equal(kl_profile_total(p, 0), e->cpu_total);
	kl_profile_free(p);
	kl_buf_release(&resp.body);

	call(e, kl_h_render, "query=" CPU_ID "{service_name=\"svc-a\"}&from=now-2h"
	     "&format=collapsed&maxNodes=4", &resp);
	assert_int_equal(resp.status, 200);
	for (char *line = resp.body.data, *nl; line && *line; line = nl + 1) {
		char *sp;

		nl = strchr(line, '\n');
		assert_non_null(nl);
		*nl = '\0';
		sp = strrchr(line, ' ');
		assert_non_null(sp);
		sum += strtoll(sp + 1, NULL, 10);
	}
	assert_int_equal(sum, e->cpu_total);
	kl_buf_release(&resp.body);

	call(e, kl_h_render, "query=" CPU_ID "{service_name=\"svc-a\"}&from=now-2h&format=html",
	     &resp);
	assert_int_equal(resp.status, 200);
	assert_non_null(strstr(resp.content_type, "text/html"));
	assert_non_null(strstr(resp.body.data, "<html"));
	assert_non_null(strstr(resp.body.data, "svc-a"));
	kl_buf_release(&resp.body);
	/* the query is shown on the page: it must not be able to end the script */
	call(e, kl_h_render, "query=" CPU_ID "{service_name=\"</script><b>x\"}&format=html", &resp);
	assert_int_equal(resp.status, 200);
	assert_null(strstr(resp.body.data, "</script><b>x"));
	kl_buf_release(&resp.body);

	call(e, kl_h_render, "query=" CPU_ID "{service_name=\"svc-a\"}&from=now-2h"
	     "&format=speedscope", &resp);
	assert_int_equal(resp.status, 200);
	j = json_loadb(resp.body.data, resp.body.len, 0, NULL);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "profiles")), 1);
	json_decref(j);
	kl_buf_release(&resp.body);
}

static void test_render_diff(void **state)
{
	struct env *e = *state;
	json_t *j = call_json(e, kl_h_render_diff,
			      "leftQuery=" CPU_ID "{service_name=\"svc-a\"}&leftFrom=now-2h"
			      "&leftUntil=now&rightQuery=" CPU_ID "{service_name=\"svc-b\"}"
			      "&rightFrom=now-2h&rightUntil=now");
	const json_t *fb = json_object_get(j, "flamebearer");
	const json_t *levels = json_object_get(fb, "levels");
	const json_t *root = json_array_get(levels, 0);

	assert_string_equal(json_string_value(json_object_get(json_object_get(j, "metadata"),
								"format")), "double");
	assert_int_equal(jint(j, "leftTicks"), e->cpu_total);
	assert_int_equal(jint(j, "rightTicks"), e->cpu2_total);
	assert_int_equal(jint(fb, "numTicks"), e->cpu_total + e->cpu2_total);
	for (size_t l = 0; l < json_array_size(levels); l++)
		assert_int_equal(json_array_size(json_array_get(levels, l)) % 7, 0);
	assert_int_equal(json_integer_value(json_array_get(root, 1)), e->cpu_total);
	assert_int_equal(json_integer_value(json_array_get(root, 4)), e->cpu2_total);
	json_decref(j);

	/* two sample types cannot be compared */
	expect_status(e, kl_h_render_diff, "leftQuery=" CPU_ID "&leftFrom=now-2h"
		      "&rightQuery=process_cpu:samples:count:cpu:nanoseconds&rightFrom=now-2h", 400,
		      "sample type");
	expect_status(e, kl_h_render_diff, "leftQuery=" CPU_ID, 400, "rightQuery is required");
}

/* Sum and the bucket holding at (Unix ns) of a timeline object. */
static int64_t timeline_sum(const json_t *tl, int64_t at, int64_t *at_value)
{
	const json_t *s = json_object_get(tl, "samples");
	int64_t start = jint(tl, "startTime"), step = jint(tl, "durationDelta"), sum = 0;

	assert_true(step >= 10);
	for (size_t i = 0; i < json_array_size(s); i++)
		sum += json_integer_value(json_array_get(s, i));
	*at_value = json_integer_value(json_array_get(s, (size_t)((at / SEC - start) / step)));
	return sum;
}

static void test_timeline_groups(void **state)
{
	struct env *e = *state;
	json_t *j = call_json(e, kl_h_render, "query=" CPU_ID "&from=now-2h&until=now"
			      "&groupBy=service_name");
	const json_t *tl = json_object_get(j, "timeline");
	const json_t *groups = json_object_get(j, "groups");
	int64_t at;

	/* 2 h / 1500 rounds up to 10 s buckets */
	assert_int_equal(jint(tl, "durationDelta"), 10);
	assert_int_equal(json_array_size(json_object_get(tl, "samples")), 720);
	assert_int_equal(timeline_sum(tl, T0, &at), e->cpu_total + e->cpu2_total);
	assert_int_equal(at, e->cpu_total);
	timeline_sum(tl, T0 + 60 * SEC, &at);
	assert_int_equal(at, e->cpu2_total);
	assert_int_equal(json_object_size(groups), 2);
	assert_int_equal(timeline_sum(json_object_get(groups, "svc-a"), T0, &at), e->cpu_total);
	assert_int_equal(at, e->cpu_total);
	assert_int_equal(timeline_sum(json_object_get(groups, "svc-b"), T0 + 60 * SEC, &at),
			 e->cpu2_total);
	assert_int_equal(at, e->cpu2_total);
	json_decref(j);

	/* a label some series lack groups them under "*" */
	j = call_json(e, kl_h_render, "query=" CPU_ID "&from=now-2h&groupBy=nosuchlabel");
	groups = json_object_get(j, "groups");
	assert_int_equal(json_object_size(groups), 1);
	assert_int_equal(timeline_sum(json_object_get(groups, "*"), T0, &at),
			 e->cpu_total + e->cpu2_total);
	json_decref(j);
}

static void test_long_range(void **state)
{
	struct env *e = *state;
	json_t *j = call_json(e, kl_h_render, "query=" CPU_ID "{service_name=\"svc-a\"}"
			      "&from=now-90d&until=now");
	const json_t *tl = json_object_get(j, "timeline");
	int64_t at;

	assert_int_equal(jint(json_object_get(j, "flamebearer"), "numTicks"), e->cpu_total);
	assert_int_equal(jint(tl, "durationDelta"), 7200);
	assert_int_equal(timeline_sum(tl, T0, &at), e->cpu_total);
	assert_int_equal(at, e->cpu_total);
	json_decref(j);
}

/* A profile of 3 samples (main;a, main;b, main;c) labelled span_id s1, s2, none. */
static struct kl_profile *span_profile(void)
{
	struct kl_profile *p = kl_profile_new();
	const char *fn[] = { "main", "a", "b", "c" };
	uint32_t loc[4];

	kl_profile_add_sample_type(p, kl_profile_cstr(p, "cpu"), kl_profile_cstr(p, "nanoseconds"));
	p->period_type.type = kl_profile_cstr(p, "cpu");
	p->period_type.unit = kl_profile_cstr(p, "nanoseconds");
	p->period = 10000000;
	for (uint32_t i = 0; i < 4; i++) {
		struct kl_function f = { .id = i + 1, .name = kl_profile_cstr(p, fn[i]) };
		struct kl_line line = { .function = kl_profile_add_function(p, &f) };
		struct kl_location l = { .id = i + 1 };

		loc[i] = kl_profile_add_location(p, &l, &line, 1);
	}
	for (uint32_t i = 1; i < 4; i++) {
		uint32_t stack[2] = { loc[i], loc[0] };
		int64_t value = (int64_t)i * 1000;
		struct kl_label lab = {
			.key = kl_profile_cstr(p, "span_id"),
			.str = kl_profile_cstr(p, i == 1 ? "s1" : "s2"),
		};

		kl_profile_add_sample(p, stack, 2, &value, &lab, i < 3 ? 1 : 0);
	}
	assert_false(kl_profile_failed(p));
	return p;
}

static void test_span_id(void **state)
{
	static const char *const kv[] = { "service_name", "traced", NULL };
	struct env *e = *state;
	struct kl_profile *p = span_profile();
	json_t *j;

	append(e, p, T0 + 120 * SEC, T0 + 130 * SEC, kv);
	j = call_json(e, kl_h_render, "query=" CPU_ID "{service_name=\"traced\"}&from=now-2h");
	assert_int_equal(jint(json_object_get(j, "flamebearer"), "numTicks"), 6000);
	json_decref(j);
	j = call_json(e, kl_h_render, "query=" CPU_ID "{service_name=\"traced\"}&from=now-2h"
		      "&span_id=s2");
	assert_int_equal(jint(json_object_get(j, "flamebearer"), "numTicks"), 2000);
	json_decref(j);
	j = call_json(e, kl_h_render, "query=" CPU_ID "{service_name=\"traced\"}&from=now-2h"
		      "&span_id=nope");
	assert_int_equal(jint(json_object_get(j, "flamebearer"), "numTicks"), 0);
	json_decref(j);
	kl_profile_free(p);
}

/* Go's threadcreate profile has a sample without locations: it still counts. */
static void test_stackless(void **state)
{
	static const char *const kv[] = { "service_name", "threads", NULL };
	struct env *e = *state;
	struct kl_profile *p = test_load_pprof("pprof/go-threadcreate.pb.gz");
	int64_t total = kl_profile_total(p, 0), at;
	const json_t *root;
	bool stackless = false;
	json_t *j;

	for (uint32_t i = 0; i < p->nsamples; i++)
		stackless |= p->samples[i].nlocs == 0 && kl_sample_values(p, i)[0] != 0;
	assert_true(stackless);
	append(e, p, T0, T0 + 10 * SEC, kv);
	j = call_json(e, kl_h_render, "query={service_name=\"threads\"}&from=now-2h");
	root = json_array_get(json_object_get(json_object_get(j, "flamebearer"), "levels"), 0);
	assert_int_equal(jint(json_object_get(j, "flamebearer"), "numTicks"), total);
	assert_int_equal(json_integer_value(json_array_get(root, 1)), total);
	assert_true(json_integer_value(json_array_get(root, 2)) > 0);
	assert_int_equal(timeline_sum(json_object_get(j, "timeline"), T0, &at), total);
	json_decref(j);
	kl_profile_free(p);
}

/* ---- labels ------------------------------------------------------------------- */

static bool has_string(const json_t *arr, const char *s)
{
	for (size_t i = 0; i < json_array_size(arr); i++) {
		if (!strcmp(json_string_value(json_array_get(arr, i)), s))
			return true;
	}
	return false;
}

static void test_labels(void **state)
{
	struct env *e = *state;
	json_t *j = call_json(e, kl_h_label_values, "label=service_name&from=now-2h");

	assert_true(json_array_size(j) >= 2);
	assert_string_equal(json_string_value(json_array_get(j, 0)), "svc-a");
	assert_string_equal(json_string_value(json_array_get(j, 1)), "svc-b");
	json_decref(j);
	j = call_json(e, kl_h_label_values, "label=env&query={service_name=\"svc-b\"}"
		      "&from=now-2h");
	assert_int_equal(json_array_size(j), 1);
	assert_string_equal(json_string_value(json_array_get(j, 0)), "dev");
	json_decref(j);
	/* __name__ lists the profile type ids */
	j = call_json(e, kl_h_label_values, "label=__name__&from=now-2h");
	assert_true(has_string(j, CPU_ID));
	assert_true(has_string(j, "process_cpu:samples:count:cpu:nanoseconds"));
	json_decref(j);
	/* outside the range there is nothing */
	j = call_json(e, kl_h_label_values, "label=service_name&from=now-5m");
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);

	j = call_json(e, kl_h_label_names, "from=now-2h");
	assert_true(has_string(j, "service_name"));
	assert_true(has_string(j, "env"));
	assert_true(has_string(j, "__profile_type__"));
	assert_true(has_string(j, "pyroscope_spy"));
	json_decref(j);

	/* as many series as the split made: per sample type and promoted label set */
	j = call_json(e, kl_h_series, "query={service_name=\"svc-a\"}&from=now-2h");
	assert_int_equal(json_array_size(j), e->nseries_a);
	for (size_t i = 0; i < json_array_size(j); i++) {
		const json_t *o = json_array_get(j, i);
		const char *spy = json_string_value(json_object_get(o, "pyroscope_spy"));

		assert_string_equal(json_string_value(json_object_get(o, "service_name")), "svc-a");
		assert_string_equal(json_string_value(json_object_get(o, "env")), "prod");
		assert_string_equal(spy, "gospy");
		assert_non_null(json_object_get(o, "__profile_type__"));
	}
	json_decref(j);
	j = call_json(e, kl_h_series, "query=svc-a.cpu{env=\"nope\"}&from=now-2h");
	assert_int_equal(json_array_size(j), 0);
	json_decref(j);
}

static void test_apps(void **state)
{
	struct env *e = *state;
	json_t *j = call_json(e, kl_h_apps, "");
	bool seen = false;

	for (size_t i = 0; i < json_array_size(j); i++) {
		const json_t *o = json_array_get(j, i);
		const char *name = json_string_value(json_object_get(o, "name"));
		char query[512];
		json_t *r;

		if (strcmp(name, "svc-a.cpu"))
			continue;
		seen = true;
		assert_string_equal(json_string_value(json_object_get(o, "spyName")), "gospy");
		assert_string_equal(json_string_value(json_object_get(o, "units")), "samples");
		assert_int_equal(jint(o, "sampleRate"), 1000000000);
		/* an app name is a query */
		snprintf(query, sizeof(query), "query=%s&from=now-2h", name);
		r = call_json(e, kl_h_render, query);
		assert_int_equal(jint(json_object_get(r, "flamebearer"), "numTicks"), e->cpu_total);
		json_decref(r);
	}
	assert_true(seen);
	/* the samples:count series has no app suffix: its name is a selector */
	assert_true(json_array_size(j) >= 4);
	for (size_t i = 0; i < json_array_size(j); i++) {
		const char *name = json_string_value(json_object_get(json_array_get(j, i), "name"));
		char query[512];
		json_t *r;

		if (!strstr(name, "process_cpu:samples:count"))
			continue;
		snprintf(query, sizeof(query), "query=%s&from=now-2h", name);
		r = call_json(e, kl_h_render, query);
		assert_true(jint(json_object_get(r, "flamebearer"), "numTicks") > 0);
		json_decref(r);
	}
	json_decref(j);
}

/* ---- errors ------------------------------------------------------------------- */

static void test_bad_params(void **state)
{
	struct env *e = *state;

	expect_status(e, kl_h_render, "from=now-1h", 400, "query is required");
	expect_status(e, kl_h_render, "query=" CPU_ID "{service_name=\"x}", 400, "query: selector");
	expect_status(e, kl_h_render, "query=a:b:c", 400, "query: selector");
	expect_status(e, kl_h_render, "query=svc.nosuchtype", 400, "unknown profile type");
	expect_status(e, kl_h_render, "query=" CPU_ID "&from=yesterday", 400, "from");
	expect_status(e, kl_h_render, "query=" CPU_ID "&from=now&until=now-1h", 400,
		      "until is before from");
	expect_status(e, kl_h_render, "query=" CPU_ID "&maxNodes=abc", 400, "maxNodes");
	expect_status(e, kl_h_render, "query=" CPU_ID "&maxNodes=-3", 400, "maxNodes");
	expect_status(e, kl_h_render, "query=" CPU_ID "&maxNodes=65537", 400, "65536");
	expect_status(e, kl_h_render, "query=" CPU_ID "&format=xml", 400, "unknown format");
	expect_status(e, kl_h_label_values, "from=now-1h", 400, "label is required");
	expect_status(e, kl_h_label_names, "query={x=~\"(\"}", 400, "query: selector");
	expect_status(e, kl_h_series, "until=zzz", 400, "until");
	expect_status(e, kl_h_apps, "from=x", 400, "from");
	/* two profile types under one selector: the store's message */
	expect_status(e, kl_h_render, "query={service_name=\"svc-a\"}&from=now-2h", 400,
		      "profile type");
}

static void test_query_cap(void **state)
{
	static const char *const kv[] = { "service_name", "svc-a", NULL };
	struct env *e = *state;
	struct kl_store_opts o = { 0 };
	struct kl_store *keep = e->srv.store;
	char dir[64], cmd[128];
	struct kl_err err;

	snprintf(dir, sizeof(dir), "/tmp/kiln-query-cap.XXXXXX");
	assert_non_null(mkdtemp(dir));
	o.dir = dir;
	o.sync = KL_STORE_SYNC_NONE;
	o.query_memory_limit = 4096;
	if (kl_store_open(&o, &e->srv.store, &err))
		fail_msg("store: %s", err.msg);
	append(e, e->cpu, T0, T0 + 10 * SEC, kv);
	expect_status(e, kl_h_render, "query=" CPU_ID "&from=now-2h", 422, "");
	kl_store_close(e->srv.store);
	e->srv.store = keep;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

static void test_params(void **state)
{
	(void)state;
	/* the step is range / 1500 rounded up to a round interval, >= 10 s */
	assert_int_equal(kl_query_step(0, 3600 * SEC), 10 * SEC);
	assert_int_equal(kl_query_step(0, 24 * 3600 * SEC), 60 * SEC);
	assert_int_equal(kl_query_step(0, 7 * 86400 * SEC), 600 * SEC);
	assert_int_equal(kl_query_step(0, 30 * 86400 * SEC), 1800 * SEC);
	assert_int_equal(kl_query_step(0, 90 * 86400 * SEC), 7200 * SEC);
	assert_int_equal(kl_query_step(0, 10 * 365 * 86400 * SEC), 3 * 86400 * SEC);
	assert_int_equal(kl_query_step(5, 5), 10 * SEC);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_render_json),
		cmocka_unit_test(test_max_nodes),
		cmocka_unit_test(test_exports),
		cmocka_unit_test(test_render_diff),
		cmocka_unit_test(test_timeline_groups),
		cmocka_unit_test(test_long_range),
		cmocka_unit_test(test_span_id),
		cmocka_unit_test(test_stackless),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_apps),
		cmocka_unit_test(test_bad_params),
		cmocka_unit_test(test_query_cap),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
