/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_mem_test.c - the store's in-memory behaviour (no WAL): exact
 * totals for every pprof fixture, selectors, time range edges, aggregates
 * equal to raw profiles, span_id filtering, tenant isolation, timelines
 * and group_by, label names/values/series, the series limit, and
 * concurrent appends and queries.
 */
#include <pthread.h>

#include "core/tree.h"
#include "core/view.h"
#include "store_testlib.h"

struct fx {
	char *dir;
	struct kl_store *s;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	f->dir = tmp_dir();
	f->s = open_store(f->dir, KL_STORE_SYNC_NONE, 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	kl_store_close(f->s);
	rm_tree(f->dir);
	free(f->dir);
	free(f);
	return 0;
}

/* Every fixture: split, append, select each profile type back with its exact total. */
static void test_fixture_totals(void **state)
{
	struct fx *f = *state;

	for (size_t i = 0; i < KL_ARRAY_SIZE(test_pprof_fixtures); i++) {
		struct kl_profile *p = test_load_pprof(test_pprof_fixtures[i]);
		const char *kv[] = { "service_name", "svc", NULL };
		struct kl_labels base = labels_kv(kv);
		struct kl_series_set set = { 0 };
		struct kl_http_err herr = { 0 };
		struct kl_err err;
		char svc[64], tenant[32];
		int64_t from = T0 + (int64_t)i * 100 * SEC;

		snprintf(svc, sizeof(svc), "fx%zu", i);
		snprintf(tenant, sizeof(tenant), "t%zu", i % 3);
		assert_int_equal(kl_labels_set(&base, "service_name", svc, strlen(svc)), 0);
		if (kl_series_split(p, &base, from, from + 10 * SEC, NULL, &set, &herr))
			fail_msg("%s: %s", test_pprof_fixtures[i], herr.e.msg);
		if (kl_store_append(f->s, tenant, set.v, set.n, &err))
			fail_msg("%s: %s", test_pprof_fixtures[i], err.msg);
		for (uint32_t t = 0; t < p->nsample_types; t++) {
			const char *ptype = NULL;
			int64_t want = 0, got;
			char sel[1024];

			/* the series of sample type t, and their type id */
			for (size_t k = 0; k < set.n; k++) {
				const struct kl_value_type *vt = &set.v[k].profile->sample_types[0];

				if (strcmp(kl_profile_sget(set.v[k].profile, vt->type),
					   kl_profile_sget(p, p->sample_types[t].type)) ||
				    strcmp(kl_profile_sget(set.v[k].profile, vt->unit),
					   kl_profile_sget(p, p->sample_types[t].unit)))
					continue;
				ptype = kl_labels_get(&set.v[k].labels, "__profile_type__");
				want += kl_profile_total(set.v[k].profile, 0);
			}
			assert_int_equal(want, kl_profile_total(p, t));
			if (!ptype)
				continue;	/* all values 0: nothing stored */
			snprintf(sel, sizeof(sel), "{__profile_type__=\"%s\", service_name=\"%s\"}",
				 ptype, svc);
			got = select_total(f->s, tenant, sel, from, from + 10 * SEC, NULL);
			if (got != want)
				fail_msg("%s type %u: got %lld want %lld", test_pprof_fixtures[i],
					 t,
					 (long long)got, (long long)want);
		}
		kl_series_set_release(&set);
		kl_labels_release(&base);
		kl_profile_free(p);
	}
}

/* The merged profile keeps functions, files, lines and mappings as ingested. */
static void test_symbols_round_trip(void **state)
{
	struct fx *f = *state;
	struct kl_profile *p = test_load_pprof("pprof/go-cpu.pb.gz");
	const char *kv[] = { "service_name", "go", NULL };
	struct kl_labels base = labels_kv(kv);
	struct kl_series_set set = { 0 };
	struct kl_http_err herr = { 0 };
	struct kl_profile *m, *out;
	struct kl_err err;
	size_t k;

	assert_int_equal(kl_series_split(p, &base, T0, T0 + 10 * SEC, NULL, &set, &herr), 0);
	assert_int_equal(kl_store_append(f->s, "x", set.v, set.n, &err), 0);
	for (k = 0; k < set.n; k++) {
		const char *pt = kl_labels_get(&set.v[k].labels, "__profile_type__");
		char sel[512];
		struct kl_buf a = KL_BUF_INIT, b = KL_BUF_INIT;
		struct kl_strtab *names = kl_strtab_new();

		if (strstr(pt, ":cpu:") == NULL)
			continue;
		/* merge all cpu series of the split the reference way */
		snprintf(sel, sizeof(sel), "{__profile_type__=\"%s\"}", pt);
		out = select_p(f->s, "x", sel, T0, T0 + 10 * SEC, NULL);
		{
			struct kl_profile *parts[64];
			size_t np = 0;

			for (size_t j = 0; j < set.n && np < 64; j++)
				if (!strcmp(kl_labels_get(&set.v[j].labels, "__profile_type__"),
					    pt))
					parts[np++] = set.v[j].profile;
			assert_int_equal(kl_profile_merge(parts, np, &m, &err), 0);
		}
		/* same folded output at line granularity (function, file and line) */
		{
			struct kl_view_opts vo = { .granularity = KL_GRAN_LINES };
			struct kl_view va, vb;
			struct kl_tree *ta, *tb;

			assert_int_equal(kl_view_init(&va, m, &vo, names, &err), 0);
			assert_int_equal(kl_view_init(&vb, out, &vo, names, &err), 0);
			ta = kl_tree_new(names, 1);
			tb = kl_tree_new(names, 1);
			assert_int_equal(kl_tree_add_view(ta, &va, 0, false), 0);
			assert_int_equal(kl_tree_add_view(tb, &vb, 0, false), 0);
			assert_int_equal(kl_tree_sort(ta), 0);
			assert_int_equal(kl_tree_sort(tb), 0);
			assert_int_equal(kl_folded_write(ta, 0, &a, &err), 0);
			assert_int_equal(kl_folded_write(tb, 0, &b, &err), 0);
			assert_true(a.len > 100);
			assert_string_equal(a.data, b.data);
			kl_tree_free(ta);
			kl_tree_free(tb);
			kl_view_release(&va);
			kl_view_release(&vb);
		}
		/* mappings and file names came through */
		assert_int_equal(out->nmappings > 0, m->nmappings > 0);
		assert_string_equal(kl_profile_sget(out, out->functions[0].filename)[0] ? "y" : "n",
				    "y");
		assert_int_equal(out->period, m->period);
		kl_buf_release(&a);
		kl_buf_release(&b);
		kl_strtab_free(names);
		kl_profile_free(m);
		kl_profile_free(out);
		break;
	}
	kl_series_set_release(&set);
	kl_labels_release(&base);
	kl_profile_free(p);
}

static void test_selectors(void **state)
{
	struct fx *f = *state;
	static const char *const st[] = { "main;work" };
	static const char *const envs[] = { "prod", "dev", "staging" };
	struct kl_labels ls[4];

	for (int i = 0; i < 3; i++) {
		int64_t v = (int64_t)(i + 1) * 100;
		struct kl_profile *p = mkprof(st, &v, 1, NULL);

		ls[i] = cpu_labels("api", "env", envs[i]);
		assert_int_equal(append_one(f->s, "t", &ls[i], p, T0, T0 + 10 * SEC), 0);
		kl_profile_free(p);
	}
	{
		int64_t v = 1000;
		struct kl_profile *p = mkprof(st, &v, 1, NULL);

		ls[3] = cpu_labels("web", NULL, NULL);
		assert_int_equal(append_one(f->s, "t", &ls[3], p, T0, T0 + 10 * SEC), 0);
		kl_profile_free(p);
	}
#define TOT(sel) select_total(f->s, "t", sel, T0, T0 + 10 * SEC, NULL)
	assert_int_equal(TOT("{service_name=\"api\"}"), 600);
	assert_int_equal(TOT("{service_name=\"api\", env=\"dev\"}"), 200);
	assert_int_equal(TOT("{service_name=\"api\", env!=\"dev\"}"), 400);
	assert_int_equal(TOT("{env=~\"prod|staging\"}"), 400);
	assert_int_equal(TOT("{env!~\"prod|staging\"}"), 1200);	/* dev + web (no env) */
	assert_int_equal(TOT("{env=\"\"}"), 1000);	/* absent label is "" */
	assert_int_equal(TOT("{service_name=\"nope\"}"), 0);
	assert_int_equal(TOT(CPU_TYPE "{service_name=\"web\"}"), 1000);
	assert_int_equal(TOT("api.cpu{env=\"prod\"}"), 100);
	assert_int_equal(TOT("{service_name=~\".*\"}"), 1600);
#undef TOT
	for (int i = 0; i < 4; i++)
		kl_labels_release(&ls[i]);
}

static void test_time_edges(void **state)
{
	struct fx *f = *state;
	static const char *const st[] = { "main" };
	struct kl_labels ls = cpu_labels("api", NULL, NULL);
	const char *q = "{service_name=\"api\"}";

	/* profiles [T0 + 10 i, T0 + 10 i + 10) with value 2^i */
	for (int i = 0; i < 10; i++) {
		int64_t v = INT64_C(1) << i;
		struct kl_profile *p = mkprof(st, &v, 1, NULL);

		assert_int_equal(append_one(f->s, "t", &ls, p, T0 + i * 10 * SEC,
					    T0 + (i + 1) * 10 * SEC), 0);
		kl_profile_free(p);
	}
	/* [T0, T0+10): only profile 0 (profile 1 starts at until: excluded) */
	assert_int_equal(select_total(f->s, "t", q, T0, T0 + 10 * SEC, NULL), 1);
	/* [T0+10, T0+20): profile 0 ends at from: excluded */
	assert_int_equal(select_total(f->s, "t", q, T0 + 10 * SEC, T0 + 20 * SEC, NULL), 2);
	/* [T0+5, T0+15): overlaps 0 and 1 */
	assert_int_equal(select_total(f->s, "t", q, T0 + 5 * SEC, T0 + 15 * SEC, NULL), 3);
	/* one nanosecond inside profile 9 */
	assert_int_equal(select_total(f->s, "t", q, T0 + 100 * SEC - 1, T0 + 200 * SEC, NULL),
			 512);
	assert_int_equal(select_total(f->s, "t", q, T0 + 100 * SEC, T0 + 200 * SEC, NULL), 0);
	assert_int_equal(select_total(f->s, "t", q, T0 - 100 * SEC, T0 + 1000 * SEC, NULL), 1023);
	assert_int_equal(select_total(f->s, "t", q, T0 - 100 * SEC, T0, NULL), 0);
	kl_labels_release(&ls);
}

/*
 * A series whose only profiles have no samples (every value was 0 for its
 * type) has no pair arrays at all: queries over it, with and without a
 * span filter, answer 0 (this used to do arithmetic on NULL under UBSan).
 */
static void test_empty_profiles(void **state)
{
	struct fx *f = *state;
	struct kl_labels ls = cpu_labels("idle", NULL, NULL);
	const char *q = "{service_name=\"idle\"}";

	for (int i = 0; i < 3; i++) {
		struct kl_profile *p = mkprof(NULL, NULL, 0, NULL);

		assert_int_equal(append_one(f->s, "t", &ls, p, T0 + i * 10 * SEC,
					    T0 + (i + 1) * 10 * SEC), 0);
		kl_profile_free(p);
	}
	assert_int_equal(select_total(f->s, "t", q, T0, T0 + 30 * SEC, NULL), 0);
	assert_int_equal(select_total(f->s, "t", q, T0, T0 + 30 * SEC, "abc"), 0);
	assert_int_equal(select_total(f->s, "t", q, T0 - 86400 * SEC, T0 + 86400 * SEC, NULL), 0);
	kl_labels_release(&ls);
}

/* Over a long range, aggregates give exactly what the raw profiles give. */
static void test_aggregates_equal_raw(void **state)
{
	struct fx *f = *state;
	static const char *const st[] = { "main;a;b", "main;a;c", "main;d", "main;a;b;e" };
	struct kl_labels ls = cpu_labels("api", NULL, NULL);
	const char *q = "{service_name=\"api\"}";
	/* 3 days of 10-s profiles, every 7th slot empty, starting off any bucket edge */
	int64_t start = T0 + 1234 * SEC, n = 3 * 8640;
	static const int64_t ranges[][2] = {
		{ 0, 3 * 86400 }, { 5, 200001 }, { 99, 101 }, { 86399, 86400 * 2 + 7 },
		{ 1000, 1000 + 100000 }, { -50, 20 }, { 12345, 123456 }, { 0, 1 },
	};

	for (int64_t i = 0; i < n; i++) {
		int64_t v[4] = { i % 13 + 1, i % 5 + 1, 7, i % 3 };
		struct kl_profile *p;

		if (i % 7 == 3)
			continue;
		p = mkprof(st, v, 4, NULL);
		assert_int_equal(append_one(f->s, "t", &ls, p, start + i * 10 * SEC,
					    start + i * 10 * SEC + 10 * SEC), 0);
		kl_profile_free(p);
	}
	for (size_t r = 0; r < KL_ARRAY_SIZE(ranges); r++) {
		int64_t from = start + ranges[r][0] * SEC, until = start + ranges[r][1] * SEC;
		struct kl_profile *a, *b;

		store_set_raw_only(f->s, false);
		a = select_p(f->s, "t", q, from, until, NULL);
		store_set_raw_only(f->s, true);
		b = select_p(f->s, "t", q, from, until, NULL);
		store_set_raw_only(f->s, false);
		assert_int_equal(a->nsamples, b->nsamples);
		for (size_t k = 0; k < KL_ARRAY_SIZE(st); k++)
			assert_int_equal(stack_value(a, st[k]), stack_value(b, st[k]));
		if (a->nsamples)
			assert_int_equal(kl_profile_total(a, 0), kl_profile_total(b, 0));
		kl_profile_free(a);
		kl_profile_free(b);
	}
	/* and the full range is the sum of every profile */
	{
		int64_t want = 0;

		for (int64_t i = 0; i < n; i++)
			if (i % 7 != 3)
				want += i % 13 + 1 + i % 5 + 1 + 7 + i % 3;
		assert_int_equal(select_total(f->s, "t", q, start, start + n * 10 * SEC, NULL),
				 want);
	}
	kl_labels_release(&ls);
}

static void test_span_filter(void **state)
{
	struct fx *f = *state;
	static const char *const st[] = { "main;a", "main;a", "main;b", "main;c" };
	static const char *const spans[] = { "s1", "s2", "s1", NULL };
	static const int64_t v[] = { 1, 10, 100, 1000 };
	struct kl_labels ls = cpu_labels("api", NULL, NULL);
	struct kl_profile *p = mkprof(st, v, 4, spans), *out;
	const char *q = "{service_name=\"api\"}";

	assert_int_equal(append_one(f->s, "t", &ls, p, T0, T0 + 10 * SEC), 0);
	assert_int_equal(select_total(f->s, "t", q, T0, T0 + 10 * SEC, NULL), 1111);
	out = select_p(f->s, "t", q, T0, T0 + 10 * SEC, "s1");
	assert_int_equal(kl_profile_total(out, 0), 101);
	assert_int_equal(stack_value(out, "main;a"), 1);
	assert_int_equal(stack_value(out, "main;b"), 100);
	kl_profile_free(out);
	assert_int_equal(select_total(f->s, "t", q, T0, T0 + 10 * SEC, "s2"), 10);
	assert_int_equal(select_total(f->s, "t", q, T0, T0 + 10 * SEC, "nope"), 0);
	kl_profile_free(p);
	kl_labels_release(&ls);
}

static void test_tenants_isolated(void **state)
{
	struct fx *f = *state;
	static const char *const st[] = { "main" };
	int64_t v = 5;
	struct kl_labels ls = cpu_labels("api", "secret", "a");
	struct kl_profile *p = mkprof(st, &v, 1, NULL);
	char **names;
	size_t n;
	struct kl_err err;

	assert_int_equal(append_one(f->s, "A", &ls, p, T0, T0 + 10 * SEC), 0);
	assert_int_equal(select_total(f->s, "A", "{service_name=\"api\"}", T0, T0 + 10 * SEC,
				      NULL), 5);
	assert_int_equal(select_total(f->s, "B", "{service_name=\"api\"}", T0, T0 + 10 * SEC,
				      NULL), 0);
	assert_int_equal(kl_store_label_names(f->s, "B", NULL, T0, T0 + 10 * SEC, &names, &n,
					      &err), 0);
	assert_int_equal(n, 0);
	kl_store_strings_free(names, n);
	assert_int_equal(kl_store_label_values(f->s, "A", "secret", NULL, T0, T0 + 10 * SEC,
					       &names, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_string_equal(names[0], "a");
	kl_store_strings_free(names, n);
	kl_profile_free(p);
	kl_labels_release(&ls);
}

static void test_timeline(void **state)
{
	struct fx *f = *state;
	static const char *const st[] = { "main" };
	static const char *const envs[] = { "prod", "dev" };
	struct kl_store_timeline *tl;
	struct kl_selector sel = sel_of("{service_name=\"api\"}");
	struct kl_store_query q = { .tenant = "t", .sel = &sel, .from_ns = T0 + 5 * SEC,
				    .until_ns = T0 + 65 * SEC };
	struct kl_err err;
	size_t n;

	/* env=prod: 1 per profile at T0, T0+10 ... ; env=dev: 100 at T0+20 and T0+50 */
	for (int i = 0; i < 7; i++) {
		for (int e = 0; e < 2; e++) {
			int64_t v = e ? 100 : 1;
			struct kl_labels ls;
			struct kl_profile *p;

			if (e && i != 2 && i != 5)
				continue;
			ls = cpu_labels("api", "env", envs[e]);
			p = mkprof(st, &v, 1, NULL);
			assert_int_equal(append_one(f->s, "t", &ls, p, T0 + i * 10 * SEC,
						    T0 + i * 10 * SEC + 10 * SEC), 0);
			kl_profile_free(p);
			kl_labels_release(&ls);
		}
	}
	/* step 20 s: buckets start at T0 (from aligned down); profile 0 overlaps from */
	assert_int_equal(kl_store_timeline(f->s, &q, 20 * SEC, NULL, &tl, &n, &err), 0);
	assert_int_equal(n, 1);
	assert_null(tl[0].group);
	assert_int_equal(tl[0].start_ns, T0);
	assert_int_equal(tl[0].step_ns, 20 * SEC);
	assert_int_equal(tl[0].n, 4);
	assert_int_equal(tl[0].values[0], 2);	/* T0, T0+10 */
	assert_int_equal(tl[0].values[1], 102);	/* T0+20 (+dev), T0+30 */
	assert_int_equal(tl[0].values[2], 102);	/* T0+40, T0+50 (+dev) */
	assert_int_equal(tl[0].values[3], 1);	/* T0+60 */
	assert_int_equal(tl[0].total, 207);
	kl_store_timelines_free(tl, n);

	assert_int_equal(kl_store_timeline(f->s, &q, 20 * SEC, "env", &tl, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(tl[0].group, "dev");	/* largest total first */
	assert_int_equal(tl[0].total, 200);
	assert_int_equal(tl[0].values[1], 100);
	assert_int_equal(tl[0].values[2], 100);
	assert_string_equal(tl[1].group, "prod");
	assert_int_equal(tl[1].total, 7);
	kl_store_timelines_free(tl, n);

	/* a step that would make too many buckets is coarsened */
	q.from_ns = T0;
	q.until_ns = T0 + 100000 * SEC;
	assert_int_equal(kl_store_timeline(f->s, &q, SEC, NULL, &tl, &n, &err), 0);
	assert_true(tl[0].n <= 10000);
	assert_int_equal(tl[0].total, 207);
	kl_store_timelines_free(tl, n);
	kl_selector_release(&sel);
}

static void test_labels_and_series(void **state)
{
	struct fx *f = *state;
	static const char *const st[] = { "main" };
	static const char *const envs[] = { "prod", "dev", "prod" };
	static const char *const svcs[] = { "api", "api", "web" };
	struct kl_selector sel = sel_of("{service_name=\"api\"}");
	struct kl_labels *ser;
	char **v;
	size_t n;
	struct kl_err err;

	for (int i = 0; i < 3; i++) {
		int64_t val = 1;
		struct kl_labels ls = cpu_labels(svcs[i], "env", envs[i]);
		struct kl_profile *p = mkprof(st, &val, 1, NULL);

		/* web's profile is an hour later */
		assert_int_equal(append_one(f->s, "t", &ls, p, T0 + (i == 2) * 3600 * SEC,
					    T0 + (i == 2) * 3600 * SEC + 10 * SEC), 0);
		kl_profile_free(p);
		kl_labels_release(&ls);
	}
	assert_int_equal(kl_store_label_values(f->s, "t", "env", NULL, T0, T0 + 7200 * SEC, &v, &n,
					       &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(v[0], "dev");
	assert_string_equal(v[1], "prod");
	kl_store_strings_free(v, n);
	assert_int_equal(kl_store_label_values(f->s, "t", "service_name", NULL, T0, T0 + 60 * SEC,
					       &v, &n, &err), 0);
	assert_int_equal(n, 1);	/* web has no data in the first minute */
	assert_string_equal(v[0], "api");
	kl_store_strings_free(v, n);
	assert_int_equal(kl_store_label_names(f->s, "t", &sel, T0, T0 + 60 * SEC, &v, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(v[0], "__name__");
	assert_string_equal(v[1], "__profile_type__");
	assert_string_equal(v[2], "env");
	assert_string_equal(v[3], "service_name");
	kl_store_strings_free(v, n);
	assert_int_equal(kl_store_series(f->s, "t", &sel, T0, T0 + 60 * SEC, &ser, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_string_equal(kl_labels_get(&ser[0], "env"), "dev");
	assert_string_equal(kl_labels_get(&ser[1], "env"), "prod");
	kl_store_series_free(ser, n);
	kl_selector_release(&sel);
}

static void test_series_limit_and_types(void **state)
{
	struct fx *f = *state;
	struct kl_store *s;
	static const char *const st[] = { "main" };
	int64_t v = 1;
	struct kl_profile *p = mkprof(st, &v, 1, NULL);
	struct kl_labels a = cpu_labels("a", NULL, NULL), b = cpu_labels("b", NULL, NULL);
	const char *mkv[] = { "__profile_type__", "memory:alloc_space:bytes:space:bytes",
			      "service_name", "a", NULL };
	struct kl_labels mem = labels_kv(mkv);
	struct kl_selector sel = sel_of("{service_name=\"a\"}");
	struct kl_store_query q = { .tenant = "t", .sel = &sel, .from_ns = T0,
				    .until_ns = T0 + 10 * SEC };
	struct kl_profile *out;
	struct kl_err err;
	char *dir = tmp_dir();

	(void)f;
	s = open_store(dir, KL_STORE_SYNC_NONE, 2);
	assert_int_equal(append_one(s, "t", &a, p, T0, T0 + 10 * SEC), 0);
	assert_int_equal(append_one(s, "t", &mem, p, T0, T0 + 10 * SEC), 0);
	assert_int_equal(append_one(s, "t", &b, p, T0, T0 + 10 * SEC), -KL_ELIMIT);
	assert_int_equal(append_one(s, "u", &b, p, T0, T0 + 10 * SEC), 0);	/* per tenant */
	assert_int_equal(append_one(s, "t", &a, p, T0, T0 + 10 * SEC), 0);
	assert_int_equal(kl_store_select(s, &q, &out, &err), -KL_EUSAGE);
	assert_non_null(strstr(err.msg, "2 profile types"));
	/* no match: an empty profile of the selector's type */
	kl_selector_release(&sel);
	sel = sel_of(CPU_TYPE "{service_name=\"zzz\"}");
	assert_int_equal(kl_store_select(s, &q, &out, &err), 0);
	assert_int_equal(out->nsamples, 0);
	assert_int_equal(out->nsample_types, 1);
	assert_string_equal(kl_profile_sget(out, out->sample_types[0].type), "cpu");
	kl_profile_free(out);
	kl_store_close(s);
	rm_tree(dir);
	/* a query over the query memory limit */
	{
		struct kl_store_opts o = { .dir = dir, .sync = KL_STORE_SYNC_NONE,
					   .query_memory_limit = 64 };

		assert_int_equal(kl_store_open(&o, &s, &err), 0);
		assert_int_equal(append_one(s, "t", &a, p, T0, T0 + 10 * SEC), 0);
		kl_selector_release(&sel);
		sel = sel_of("{service_name=\"a\"}");
		assert_int_equal(kl_store_select(s, &q, &out, &err), -KL_ELIMIT);
		assert_non_null(strstr(err.msg, "query memory limit"));
		kl_store_close(s);
		rm_tree(dir);
	}
	free(dir);
	kl_selector_release(&sel);
	kl_labels_release(&a);
	kl_labels_release(&b);
	kl_labels_release(&mem);
	kl_profile_free(p);
}

struct conc {
	struct kl_store *s;
	int id;
	int64_t total;
};

static void *appender(void *arg)
{
	struct conc *c = arg;
	static const char *const st[] = { "main;a", "main;b;c", "main;b;d" };
	char svc[16];

	snprintf(svc, sizeof(svc), "svc%d", c->id);
	for (int i = 0; i < 300; i++) {
		int64_t v[3] = { i + 1, 2, (c->id + 1) * 3 };
		struct kl_labels ls = cpu_labels(svc, "pod", i % 2 ? "x" : "y");
		struct kl_profile *p = mkprof(st, v, 3, NULL);

		if (append_one(c->s, "t", &ls, p, T0 + i * 10 * SEC, T0 + (i + 1) * 10 * SEC))
			abort();
		c->total += v[0] + v[1] + v[2];
		kl_profile_free(p);
		kl_labels_release(&ls);
	}
	return NULL;
}

static void *querier(void *arg)
{
	struct conc *c = arg;

	for (int i = 0; i < 100; i++) {
		struct kl_profile *p = select_p(c->s, "t", "{service_name=~\"svc.*\"}", T0,
						T0 + 3000 * SEC, NULL);
		char **v;
		size_t n;
		struct kl_err err;

		kl_profile_free(p);
		if (kl_store_label_values(c->s, "t", "pod", NULL, T0, T0 + 3000 * SEC, &v, &n,
					  &err))
			abort();
		kl_store_strings_free(v, n);
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	struct fx *f = *state;
	pthread_t th[5];
	struct conc c[5];
	int64_t want = 0;

	for (int i = 0; i < 5; i++) {
		c[i] = (struct conc){ .s = f->s, .id = i };
		pthread_create(&th[i], NULL, i < 3 ? appender : querier, &c[i]);
	}
	for (int i = 0; i < 5; i++) {
		pthread_join(th[i], NULL);
		if (i < 3)
			want += c[i].total;
	}
	assert_int_equal(select_total(f->s, "t", "{service_name=~\"svc.*\"}", T0, T0 + 3000 * SEC,
				      NULL), want);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fixture_totals, setup, teardown),
		cmocka_unit_test_setup_teardown(test_symbols_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_selectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_time_edges, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_profiles, setup, teardown),
		cmocka_unit_test_setup_teardown(test_aggregates_equal_raw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_span_filter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tenants_isolated, setup, teardown),
		cmocka_unit_test_setup_teardown(test_timeline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_labels_and_series, setup, teardown),
		cmocka_unit_test_setup_teardown(test_series_limit_and_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
