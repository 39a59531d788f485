/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_views_test.c - series views (kl_series_set.views: labels + sample
 * selections of the decoded profile, what /ingest and Push append) store
 * exactly what the pruned per-series copies store: same series, same
 * merged stacks, totals and span_id selections, for every pprof fixture and
 * for a profile with two types, promoted labels, spans and zero values; and
 * views sharing sources and selections in one append.
 */
#include "core/tree.h"
#include "core/view.h"
#include "store_testlib.h"

/* Folded text of p's type 0 at line granularity (caller releases). */
static struct kl_buf folded_of(const struct kl_profile *p)
{
	struct kl_view_opts vo = { .granularity = KL_GRAN_LINES };
	struct kl_strtab *names = kl_strtab_new();
	struct kl_buf b = KL_BUF_INIT;
	struct kl_view v;
	struct kl_tree *t;
	struct kl_err err;

	assert_non_null(names);
	if (!p->nsample_types) {
		kl_buf_addstr(&b, "(empty)");
		kl_strtab_free(names);
		return b;
	}
	assert_int_equal(kl_view_init(&v, p, &vo, names, &err), 0);
	t = kl_tree_new(names, 1);
	assert_non_null(t);
	assert_int_equal(kl_tree_add_view(t, &v, 0, false), 0);
	assert_int_equal(kl_tree_sort(t), 0);
	assert_int_equal(kl_folded_write(t, 0, &b, &err), 0);
	kl_buf_addch(&b, '\0');
	kl_tree_free(t);
	kl_view_release(&v);
	kl_strtab_free(names);
	return b;
}

/* The exact selector of label set ls. */
static void selector_of(const struct kl_labels *ls, struct kl_buf *out)
{
	kl_buf_addch(out, '{');
	for (size_t i = 0; i < ls->n; i++) {
		kl_buf_addf(out, "%s%s=\"", i ? ", " : "", ls->v[i].name);
		for (const char *c = ls->v[i].value; *c; c++) {
			if (*c == '"' || *c == '\\')
				kl_buf_addch(out, '\\');
			kl_buf_addch(out, *c);
		}
		kl_buf_addch(out, '"');
	}
	kl_buf_addch(out, '}');
	kl_buf_addch(out, '\0');
}

/*
 * Splits p both ways into tenants "copy" and "view" of s (p is handed to
 * the view set) and compares every series, and the span_id selection span.
 */
static void compare_ways(struct kl_store *s, struct kl_profile *p, const char *svc, int64_t from,
			 const char *span)
{
	const char *kv[] = { "service_name", svc, NULL };
	struct kl_labels base = labels_kv(kv);
	struct kl_series_set cs = { 0 }, vs = { .views = true };
	struct kl_http_err herr = { 0 };
	int64_t until = from + 10 * SEC;
	struct kl_err err;

	if (kl_series_split(p, &base, from, until, NULL, &cs, &herr))
		fail_msg("%s: %s", svc, herr.e.msg);
	assert_int_equal(kl_series_split(p, &base, from, until, NULL, &vs, &herr), 0);
	kl_series_set_keep(&vs, p);
	assert_int_equal(vs.n, cs.n);
	assert_int_equal(vs.nsrcs, 1);
	if (kl_store_append(s, "copy", cs.v, cs.n, &err))
		fail_msg("%s copies: %s", svc, err.msg);
	if (kl_store_append(s, "view", vs.v, vs.n, &err))
		fail_msg("%s views: %s", svc, err.msg);
	for (size_t k = 0; k < cs.n; k++) {
		struct kl_buf sel = KL_BUF_INIT, a, b;
		struct kl_profile *pc, *pv;

		assert_null(vs.v[k].profile);
		assert_ptr_equal(vs.v[k].src, p);
		selector_of(&cs.v[k].labels, &sel);
		{
			struct kl_buf vsel = KL_BUF_INIT;

			selector_of(&vs.v[k].labels, &vsel);
			assert_string_equal(sel.data, vsel.data);
			kl_buf_release(&vsel);
		}
		assert_false(kl_buf_error(&sel));
		pc = select_p(s, "copy", sel.data, from, until, span);
		pv = select_p(s, "view", sel.data, from, until, span);
		assert_int_equal(pc->nsample_types, pv->nsample_types);
		if (pc->nsample_types) {
			assert_true(kl_profile_total(pc, 0) == kl_profile_total(pv, 0));
			assert_string_equal(kl_profile_sget(pc, pc->sample_types[0].type),
					    kl_profile_sget(pv, pv->sample_types[0].type));
			assert_true(pc->period == pv->period);
		}
		a = folded_of(pc);
		b = folded_of(pv);
		assert_string_equal(a.data, b.data);
		kl_buf_release(&a);
		kl_buf_release(&b);
		kl_buf_release(&sel);
		kl_profile_free(pc);
		kl_profile_free(pv);
	}
	kl_series_set_release(&cs);
	kl_series_set_release(&vs);	/* frees p */
	kl_labels_release(&base);
}

static void test_fixtures(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_NONE, 0);

	(void)state;
	for (size_t i = 0; i < KL_ARRAY_SIZE(test_pprof_fixtures); i++) {
		char svc[32];

		snprintf(svc, sizeof(svc), "fx%zu", i);
		compare_ways(s, test_load_pprof(test_pprof_fixtures[i]), svc,
			     T0 + (int64_t)i * 100 * SEC, NULL);
	}
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

/* Two types, two promoted label groups, spans, zero values, a dropped label. */
static struct kl_profile *mixed_profile(void)
{
	static const char *const stacks[] = { "main;a;b", "main;a;c", "main;d", "main;a;b",
					      "main;e", "main;a;b" };
	static const int64_t vals[][2] = { { 1, 10 }, { 2, 0 }, { 0, 30 }, { 4, 40 }, { 5, 50 },
					   { 6, 60 } };
	static const char *const pods[] = { "p1", "p2", "p1", "p2", "p1", "p1" };
	static const char *const spans[] = { NULL, "00000000000000aa", NULL, "00000000000000aa",
					     NULL, "00000000000000bb" };
	struct kl_profile *p = kl_profile_new();

	assert_non_null(p);
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "samples"), kl_profile_cstr(p, "count"));
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "cpu"), kl_profile_cstr(p, "nanoseconds"));
	p->period_type.type = kl_profile_cstr(p, "cpu");
	p->period_type.unit = kl_profile_cstr(p, "nanoseconds");
	p->period = 10000000;
	for (size_t i = 0; i < KL_ARRAY_SIZE(stacks); i++) {
		uint32_t locs[8], nl = 0;
		char buf[64], *save = NULL, *tok;
		struct kl_label lb[3] = { 0 };
		uint32_t n = 0;

		snprintf(buf, sizeof(buf), "%s", stacks[i]);
		for (tok = strtok_r(buf, ";", &save); tok; tok = strtok_r(NULL, ";", &save))
			locs[nl++] = loc_of(p, tok);
		for (uint32_t a = 0, b = nl - 1; a < b; a++, b--) {
			uint32_t x = locs[a];

			locs[a] = locs[b];
			locs[b] = x;
		}
		lb[n++] = (struct kl_label){ .key = kl_profile_cstr(p, "pod"),
					     .str = kl_profile_cstr(p, pods[i]) };
		lb[n++] = (struct kl_label){ .key = kl_profile_cstr(p, "__internal"),
					     .str = kl_profile_cstr(p, "x") };
		if (spans[i])
			lb[n++] = (struct kl_label){ .key = kl_profile_cstr(p, "span_id"),
						     .str = kl_profile_cstr(p, spans[i]) };
		kl_profile_add_sample(p, locs, nl, vals[i], lb, n);
	}
	assert_false(kl_profile_failed(p));
	return p;
}

static void test_mixed(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_NONE, 0);

	(void)state;
	compare_ways(s, mixed_profile(), "mixed", T0, NULL);
	compare_ways(s, mixed_profile(), "mixed", T0 + 20 * SEC, "00000000000000aa");
	/* the span selection found something: it is not vacuous */
	assert_true(select_total(s, "view", "{service_name=\"mixed\", pod=\"p2\", "
				 "__name__=\"process_cpu\", __profile_type__=\"process_cpu:cpu:"
				 "nanoseconds:cpu:nanoseconds\"}", T0, T0 + 40 * SEC,
				 "00000000000000aa") == 80);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

/* keep frees a profile no view reads (checked by the sanitizer's leak check). */
static void test_keep_unreferenced(void **state)
{
	struct kl_series_set vs = { .views = true };

	(void)state;
	kl_series_set_keep(&vs, mixed_profile());
	kl_series_set_keep(&vs, NULL);
	kl_series_set_keep(NULL, mixed_profile());
	assert_int_equal(vs.nsrcs, 0);
	kl_series_set_release(&vs);
}

/* Stacks and values (three types) of shared_profile's samples; "" is the empty stack. */
static const char *const sh_stacks[] = { "main;a;b", "main;a;c", "main;d", "main;a;b", "",
					 "main;e;f;g", "main;a", "main;d" };
static const int64_t sh_vals[][3] = { { 1, 10, 0 }, { 0, 0, 7 }, { 0, 30, 0 }, { 4, 40, 4 },
				      { 5, 0, 5 }, { 0, 0, 0 }, { 7, 70, 0 }, { 8, 0, 8 } };

/* A profile of sh_stacks with three sample types; scale multiplies the values. */
static struct kl_profile *shared_profile(int64_t scale)
{
	struct kl_profile *p = kl_profile_new();
	static const char *const types[] = { "samples", "cpu", "wall" };

	assert_non_null(p);
	for (size_t t = 0; t < 3; t++)
		kl_profile_add_sample_type(p, kl_profile_cstr(p, types[t]),
					   kl_profile_cstr(p, "count"));
	for (size_t i = 0; i < KL_ARRAY_SIZE(sh_stacks); i++) {
		uint32_t locs[8], nl = stack_locs(p, sh_stacks[i], locs, 8);
		int64_t v[3];

		for (size_t t = 0; t < 3; t++)
			v[t] = sh_vals[i][t] * scale;
		kl_profile_add_sample(p, locs, nl, v, NULL, 0);
	}
	assert_false(kl_profile_failed(p));
	return p;
}

/*
 * One append of views that share sources and selections in every order the
 * store's per-append cache meets: two sources interleaved, all three types
 * of a selection (a later type has samples an earlier one had at zero),
 * an overlapping second selection of the same source, a selection of
 * samples that are zero in its type. Each series must hold exactly the sums
 * of its own samples.
 */
static void test_shared_selections(void **state)
{
	static const uint32_t all[] = { 0, 1, 2, 3, 4, 5, 6, 7 }, some[] = { 7, 2, 3, 5 },
			      zero[] = { 5, 1 };
	static const struct {
		int src;	/* 0: A, 1: B (values times 3) */
		const uint32_t *sel;
		uint32_t nsel, type;
	} vw[] = {
		{ 0, all, 8, 0 }, { 0, all, 8, 1 }, { 0, all, 8, 2 }, { 1, all, 8, 0 },
		{ 0, some, 4, 2 }, { 1, all, 8, 1 }, { 0, some, 4, 1 }, { 1, all, 8, 2 },
		{ 1, zero, 2, 0 }, { 0, some, 4, 0 },
	};
	struct kl_profile *src[2] = { shared_profile(1), shared_profile(3) };
	struct kl_series v[KL_ARRAY_SIZE(vw)];
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_NONE, 0);
	char name[KL_ARRAY_SIZE(vw)][16];
	struct kl_err err;

	(void)state;
	for (size_t k = 0; k < KL_ARRAY_SIZE(vw); k++) {
		const char *kv[] = { "__name__", "shared", "view", name[k], NULL };

		snprintf(name[k], sizeof(name[k]), "v%zu", k);
		v[k] = (struct kl_series){ .labels = labels_kv(kv), .start_ns = T0,
					   .end_ns = T0 + 10 * SEC, .src = src[vw[k].src],
					   .sel = vw[k].sel, .nsel = vw[k].nsel,
					   .type = vw[k].type };
	}
	assert_int_equal(kl_store_append(s, "t", v, KL_ARRAY_SIZE(vw), &err), 0);
	for (size_t k = 0; k < KL_ARRAY_SIZE(vw); k++) {
		char sel[200];
		struct kl_profile *p;
		int64_t scale = vw[k].src ? 3 : 1, total = 0;

		snprintf(sel, sizeof(sel), "{view=\"%s\"}", name[k]);
		p = select_p(s, "t", sel, T0, T0 + 10 * SEC, NULL);
		for (size_t st = 0; st < KL_ARRAY_SIZE(sh_stacks); st++) {
			int64_t want = 0;

			/* every sample of the selection with this stack, summed */
			for (uint32_t j = 0; j < vw[k].nsel; j++)
				if (!strcmp(sh_stacks[vw[k].sel[j]], sh_stacks[st]))
					want += sh_vals[vw[k].sel[j]][vw[k].type] * scale;
			if (sh_stacks[st][0])
				assert_int_equal(stack_value(p, sh_stacks[st]), want);
		}
		for (uint32_t j = 0; j < vw[k].nsel; j++)
			total += sh_vals[vw[k].sel[j]][vw[k].type] * scale;
		assert_int_equal(p->nsample_types ? kl_profile_total(p, 0) : 0, total);
		kl_profile_free(p);
	}
	/* and no pair more: one per distinct stack with a non-zero sample */
	{
		struct st_tenant *t = store_tenant_get(s, "t", false);

		assert_non_null(t);
		assert_int_equal(t->nseries, KL_ARRAY_SIZE(vw));
		for (size_t k = 0; k < KL_ARRAY_SIZE(vw); k++) {
			size_t want = 0;

			for (size_t st = 0; st < KL_ARRAY_SIZE(sh_stacks); st++) {
				bool seen = false, first = true;

				for (size_t e = 0; e < st; e++)
					if (!strcmp(sh_stacks[e], sh_stacks[st]))
						first = false;
				for (uint32_t j = 0; j < vw[k].nsel && first; j++)
					if (!strcmp(sh_stacks[vw[k].sel[j]], sh_stacks[st]) &&
					    sh_vals[vw[k].sel[j]][vw[k].type])
						seen = true;
				want += seen;
			}
			assert_int_equal(t->series[k]->nprof, 1);
			assert_int_equal(t->series[k]->npairs, want);
		}
	}
	for (size_t k = 0; k < KL_ARRAY_SIZE(vw); k++)
		kl_labels_release(&v[k].labels);
	kl_profile_free(src[0]);
	kl_profile_free(src[1]);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures),
		cmocka_unit_test(test_mixed),
		cmocka_unit_test(test_keep_unreferenced),
		cmocka_unit_test(test_shared_selections),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
