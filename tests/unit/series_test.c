/* SPDX-License-Identifier: Apache-2.0 */
/*
 * series_test.c - how kl_series_split groups samples into series: label
 * sets taking turns, ids that differ while their text is equal (duplicate
 * strings, empty values, a key with a NUL inside), duplicate keys on one
 * sample, the exact labels and their order, views against copies, the
 * limit messages, and the go-cpu fixture's pprof labels.
 */
#include "core/strtab.h"
#include "ingest_testlib.h"

#define FROM INT64_C(1700000000000000000)
#define UNTIL INT64_C(1700000010000000000)

/* A profile with sample types samples:count and cpu:nanoseconds, period cpu:nanoseconds. */
static struct kl_profile *two_types(void)
{
	struct kl_profile *p = kl_profile_new();

	kl_profile_add_sample_type(p, kl_profile_cstr(p, "samples"), kl_profile_cstr(p, "count"));
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "cpu"), kl_profile_cstr(p, "nanoseconds"));
	p->period_type.type = kl_profile_cstr(p, "cpu");
	p->period_type.unit = kl_profile_cstr(p, "nanoseconds");
	return p;
}

/* Adds a sample of values (a, b) with labels l[0..n). */
static void add(struct kl_profile *p, int64_t a, int64_t b, const struct kl_label *l, uint32_t n)
{
	int64_t v[2] = { a, b };

	kl_profile_add_sample(p, NULL, 0, v, n ? l : NULL, n);
	assert_false(kl_profile_failed(p));
}

static struct kl_label str_label(kl_strid key, kl_strid str)
{
	return (struct kl_label){ .key = key, .str = str };
}

/* The labels of series i as "k=v,k=v" (in the set's order). */
static const char *labels_text(const struct kl_series_set *s, size_t i, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (size_t j = 0; j < s->v[i].labels.n && o < len; j++)
		o += (size_t)snprintf(buf + o, len - o, "%s%s=%s", j ? "," : "",
				      s->v[i].labels.v[j].name, s->v[i].labels.v[j].value);
	return buf;
}

/* The selection of view i as "0 2 4". */
static const char *sel_text(const struct kl_series_set *s, size_t i, char *buf, size_t len)
{
	size_t o = 0;

	buf[0] = '\0';
	for (uint32_t k = 0; k < s->v[i].nsel && o < len; k++)
		o += (size_t)snprintf(buf + o, len - o, "%s%u", k ? " " : "", s->v[i].sel[k]);
	return buf;
}

/* Splits p as views under base; the caller releases *s (p stays the caller's). */
static void split_views(const struct kl_profile *p, const struct kl_labels *base,
			struct kl_series_set *s)
{
	struct kl_http_err err = { 0 };

	*s = (struct kl_series_set){ .views = true };
	assert_int_equal(kl_series_split(p, base, FROM, UNTIL, NULL, s, &err), 0);
	/* p stays ours (no kl_series_set_keep): the set does not free it */
	assert_int_equal(s->nsrcs, 1);
	assert_true(s->srcs[0].pending);
}

static void test_groups_taking_turns(void **state)
{
	struct kl_profile *p = two_types();
	struct kl_labels base = { 0 };
	struct kl_series_set s;
	kl_strid veh = kl_profile_cstr(p, "vehicle"), span = kl_profile_cstr(p, "span_id");
	kl_strid car = kl_profile_cstr(p, "car"), bike = kl_profile_cstr(p, "bike");
	kl_strid bus = kl_profile_cstr(p, "bus");
	kl_strid vals[] = { car, bike, bus, car, car, bike, bus, bike };
	char buf[512];

	(void)state;
	/* each sample's labels differ (span_id) but the promoted ones take turns */
	for (size_t i = 0; i < KL_ARRAY_SIZE(vals); i++) {
		char id[8];
		struct kl_label l[2];

		snprintf(id, sizeof(id), "s%zu", i);
		l[0] = str_label(span, kl_profile_cstr(p, id));
		l[1] = str_label(veh, vals[i]);
		add(p, 1, 10 * (int64_t)i, l, 2);
	}
	/* a sample without labels and one with only span_id: one group, no label */
	add(p, 1, 1, NULL, 0);
	{
		struct kl_label l = str_label(span, kl_profile_cstr(p, "s9"));

		add(p, 1, 1, &l, 1);
	}
	kl_labels_set(&base, "service_name", "svc", 3);
	kl_labels_set(&base, "env", "prod", 4);
	split_views(p, &base, &s);
	/* groups in order of first appearance, each with both types */
	assert_int_equal(s.n, 8);
	assert_string_equal(labels_text(&s, 0, buf, sizeof(buf)),
			    "__name__=process_cpu,"
			    "__profile_type__=process_cpu:samples:count:cpu:nanoseconds,"
			    "env=prod,service_name=svc,vehicle=car");
	assert_string_equal(labels_text(&s, 1, buf, sizeof(buf)),
			    "__name__=process_cpu,"
			    "__profile_type__=process_cpu:cpu:nanoseconds:cpu:nanoseconds,"
			    "env=prod,service_name=svc,vehicle=car");
	assert_string_equal(kl_labels_get(&s.v[2].labels, "vehicle"), "bike");
	assert_string_equal(kl_labels_get(&s.v[4].labels, "vehicle"), "bus");
	assert_null(kl_labels_get(&s.v[6].labels, "vehicle"));
	assert_null(kl_labels_get(&s.v[6].labels, "span_id"));
	assert_int_equal(s.v[6].labels.n, 4);
	assert_string_equal(sel_text(&s, 0, buf, sizeof(buf)), "0 3 4");
	assert_string_equal(sel_text(&s, 2, buf, sizeof(buf)), "1 5 7");
	assert_string_equal(sel_text(&s, 4, buf, sizeof(buf)), "2 6");
	assert_string_equal(sel_text(&s, 6, buf, sizeof(buf)), "8 9");
	for (size_t i = 0; i < s.n; i++) {
		assert_int_equal(s.v[i].type, i % 2);
		assert_true(s.v[i].src == p);
		assert_int_equal(s.v[i].start_ns, FROM);
		assert_int_equal(s.v[i].end_ns, UNTIL);
		/* sorted by name */
		for (size_t j = 1; j < s.v[i].labels.n; j++)
			assert_true(strcmp(s.v[i].labels.v[j - 1].name,
					   s.v[i].labels.v[j].name) < 0);
	}
	kl_series_set_release(&s);
	kl_labels_release(&base);
	kl_profile_free(p);
}

/*
 * Samples whose label ids differ but whose text is equal are one series:
 * duplicate strings in the table, empty values under different ids, keys
 * that are equal up to a NUL inside.
 */
static void test_groups_by_text(void **state)
{
	char buf[512];

	(void)state;
	for (int mode = 0; mode < 3; mode++) {
		struct kl_profile *p = two_types();
		struct kl_series_set s;
		struct kl_label l[2];
		kl_strid k1, k2, v1, v2;

		if (mode == 0) {	/* the same value twice in the table */
			k1 = k2 = kl_profile_cstr(p, "pod");
			v1 = kl_strtab_append(p->strs, "a-1", 3);
			v2 = kl_strtab_append(p->strs, "a-1", 3);
			assert_true(kl_strtab_has_duplicates(p->strs));
		} else if (mode == 1) {	/* "" under two ids (not counted as a duplicate) */
			k1 = k2 = kl_profile_cstr(p, "pod");
			v1 = kl_strtab_append(p->strs, "", 0);
			v2 = kl_strtab_append(p->strs, "", 0);
			assert_false(kl_strtab_has_duplicates(p->strs));
		} else {		/* label names are C strings: "pod\0x" is "pod" */
			k1 = kl_profile_str(p, "pod\0x", 5);
			k2 = kl_profile_str(p, "pod\0y", 5);
			v1 = v2 = kl_profile_cstr(p, "a-1");
			assert_false(kl_strtab_has_duplicates(p->strs));
		}
		assert_true(v1 != v2 || k1 != k2);
		l[0] = str_label(k1, v1);
		add(p, 1, 1, l, 1);
		l[0] = str_label(k2, v2);
		add(p, 2, 2, l, 1);
		l[0] = str_label(k1, v1);
		add(p, 3, 3, l, 1);
		/* and a different value: a second group */
		l[0] = str_label(k1, kl_profile_cstr(p, "b-2"));
		add(p, 4, 4, l, 1);
		for (int views = 0; views < 2; views++) {
			struct kl_http_err err = { 0 };

			s = (struct kl_series_set){ .views = views };
			assert_int_equal(kl_series_split(p, &(struct kl_labels){ 0 }, FROM, UNTIL,
							 NULL, &s, &err), 0);
			assert_int_equal(s.n, 4);
			assert_string_equal(kl_labels_get(&s.v[0].labels, "pod"),
					    mode == 1 ? "" : "a-1");
			assert_string_equal(kl_labels_get(&s.v[2].labels, "pod"), "b-2");
			if (views) {
				assert_string_equal(sel_text(&s, 0, buf, sizeof(buf)), "0 1 2");
				assert_string_equal(sel_text(&s, 2, buf, sizeof(buf)), "3");
			} else {
				assert_int_equal(s.v[0].profile->nsamples, 3);
				assert_int_equal(s.v[3].profile->nsamples, 1);
			}
			kl_series_set_release(&s);
		}
		kl_profile_free(p);
	}
}

/* Two labels of one key on a sample: the first is the series label. */
static void test_duplicate_keys(void **state)
{
	struct kl_profile *p = two_types();
	struct kl_series_set s;
	kl_strid k = kl_profile_cstr(p, "k"), a = kl_profile_cstr(p, "a");
	kl_strid b = kl_profile_cstr(p, "b");
	struct kl_label ab[2] = { str_label(k, a), str_label(k, b) };
	struct kl_label ba[2] = { str_label(k, b), str_label(k, a) };
	char buf[256];

	(void)state;
	add(p, 1, 1, ab, 2);
	add(p, 1, 1, ba, 2);
	add(p, 1, 1, ab, 2);
	split_views(p, &(struct kl_labels){ 0 }, &s);
	assert_int_equal(s.n, 4);
	assert_string_equal(kl_labels_get(&s.v[0].labels, "k"), "a");
	assert_string_equal(sel_text(&s, 0, buf, sizeof(buf)), "0 2");
	assert_string_equal(kl_labels_get(&s.v[2].labels, "k"), "b");
	assert_string_equal(sel_text(&s, 2, buf, sizeof(buf)), "1");
	assert_int_equal(s.v[2].labels.n, 3);
	kl_series_set_release(&s);
	kl_profile_free(p);
}

/* Base labels win over sample labels; internal ones go, but __session_id__ and __name__. */
static void test_base_and_internal(void **state)
{
	struct kl_profile *p = two_types();
	struct kl_labels base = { 0 };
	struct kl_series_set s;
	struct kl_label l[3] = {
		str_label(kl_profile_cstr(p, "env"), kl_profile_cstr(p, "sample")),
		str_label(kl_profile_cstr(p, "__session_id__"), kl_profile_cstr(p, "s1")),
		str_label(kl_profile_cstr(p, "zone"), kl_profile_cstr(p, "z1")),
	};
	char buf[512];

	(void)state;
	add(p, 1, 1, l, 3);
	kl_labels_set(&base, "env", "base", 4);
	kl_labels_set(&base, "__name__", "custom", 6);
	kl_labels_set(&base, "__profile_type__", "ignored", 7);
	kl_labels_set(&base, "__internal__", "x", 1);
	split_views(p, &base, &s);
	assert_int_equal(s.n, 2);
	assert_string_equal(labels_text(&s, 0, buf, sizeof(buf)),
			    "__name__=custom,__profile_type__=custom:samples:count:cpu:nanoseconds,"
			    "__session_id__=s1,env=base,zone=z1");
	kl_series_set_release(&s);
	/* the base's own __session_id__ wins too */
	kl_labels_set(&base, "__session_id__", "b1", 2);
	split_views(p, &base, &s);
	assert_string_equal(kl_labels_get(&s.v[1].labels, "__session_id__"), "b1");
	kl_series_set_release(&s);
	kl_labels_release(&base);
	kl_profile_free(p);
}

/* Over a limit: the first offending label of the first series, in name order. */
static void test_limit_messages(void **state)
{
	static const struct {
		struct kl_ingest_limits lim;
		const char *msg;
	} cases[] = {
		{ { .max_labels = 4 }, "series has 5 labels, more than the limit of 4" },
		{ { .max_name_len = 8 }, "label name \"__profile_type__...\" longer than 8 bytes" },
		{ { .max_value_len = 20 },
		  "value of label \"__profile_type__\" longer than 20 bytes" },
		{ { .max_value_len = 50 }, "value of label \"pod\" longer than 50 bytes" },
	};
	struct kl_profile *p = two_types();
	struct kl_labels base = { 0 };
	char longv[64];
	struct kl_label l;

	(void)state;
	memset(longv, 'x', sizeof(longv) - 1);
	longv[sizeof(longv) - 1] = '\0';
	l = str_label(kl_profile_cstr(p, "pod"), kl_profile_cstr(p, longv));
	add(p, 1, 1, &l, 1);
	kl_labels_set(&base, "service_name", "svc", 3);
	kl_labels_set(&base, "a", "1", 1);
	for (size_t c = 0; c < KL_ARRAY_SIZE(cases); c++) {
		for (int views = 0; views < 2; views++) {
			struct kl_series_set s = { .views = views };
			struct kl_http_err err = { 0 };

			assert_int_equal(kl_series_split(p, &base, FROM, UNTIL, &cases[c].lim, &s,
							 &err), -KL_ELIMIT);
			assert_int_equal(err.status, 400);
			assert_string_equal(err.e.msg, cases[c].msg);
			assert_int_equal(s.n, 0);
			kl_series_set_release(&s);
		}
	}
	kl_labels_release(&base);
	kl_profile_free(p);
}

/* go-cpu.pb.gz carries a pprof label on every sample: a series per value and type. */
static void test_fixture_labels(void **state)
{
	struct kl_profile *p = test_load_pprof("pprof/go-cpu.pb.gz");
	struct kl_series_set views, copies = { 0 };
	struct kl_http_err err = { 0 };
	uint32_t covered = 0;

	(void)state;
	split_views(p, &(struct kl_labels){ 0 }, &views);
	assert_int_equal(kl_series_split(p, &(struct kl_labels){ 0 }, FROM, UNTIL, NULL, &copies,
					 &err), 0);
	assert_int_equal(views.n, copies.n);
	assert_true(views.n > p->nsample_types);
	for (size_t i = 0; i < views.n; i++) {
		const struct kl_labels *a = &views.v[i].labels, *b = &copies.v[i].labels;

		assert_int_equal(a->n, b->n);
		for (size_t j = 0; j < a->n; j++) {
			assert_string_equal(a->v[j].name, b->v[j].name);
			assert_string_equal(a->v[j].value, b->v[j].value);
		}
		/* every sample of a view has the view's promoted labels */
		for (uint32_t k = 0; k < views.v[i].nsel; k++) {
			const struct kl_sample *sm = &p->samples[views.v[i].sel[k]];
			const struct kl_label *l = kl_sample_labels(p, sm);

			for (uint32_t j = 0; j < sm->nlabels; j++) {
				const char *key = kl_profile_sget(p, l[j].key);

				if (l[j].str && strcmp(key, "span_id"))
					assert_string_equal(kl_labels_get(a, key),
							    kl_profile_sget(p, l[j].str));
			}
		}
		if (views.v[i].type == 0)
			covered += views.v[i].nsel;
	}
	assert_int_equal(covered, p->nsamples);
	kl_series_set_release(&views);
	kl_series_set_release(&copies);
	kl_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups_taking_turns),
		cmocka_unit_test(test_groups_by_text),
		cmocka_unit_test(test_duplicate_keys),
		cmocka_unit_test(test_base_and_internal),
		cmocka_unit_test(test_limit_messages),
		cmocka_unit_test(test_fixture_labels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
