/* SPDX-License-Identifier: Apache-2.0 */
/*
 * merge_test.c - unit tests of kl_profile_merge and kl_profile_copy_samples:
 * merging a profile with itself doubles every value and keeps the sample
 * count, mismatched sample types are refused with a message naming both,
 * headers combine as pprof's do, ASLR-shifted mappings line up, label
 * order does not matter, and a subset copy keeps exactly what it should.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testlib.h"

#include "core/buf.h"
#include "core/profile.h"
#include "formats/formats.h"

/* Sum of the values of sample type t over samples whose leaf function is name. */
static int64_t leaf_total(const struct kl_profile *p, uint32_t t, const char *name)
{
	int64_t sum = 0;

	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *s = &p->samples[i];
		const struct kl_location *l;

		if (!s->nlocs)
			continue;
		l = &p->locations[kl_sample_locs(p, s)[0]];
		if (l->nlines &&
		    !strcmp(kl_profile_sget(p, p->functions[kl_location_lines(p, l)[0].function].name),
			    name))
			sum += kl_sample_values(p, i)[t];
	}
	return sum;
}

static void test_merge_with_itself_doubles(void **state)
{
	static const char *const files[] = {
		"pprof/go-cpu.pb.gz", "pprof/go-heap.pb.gz", "pprof/go-large.cpu.pb.gz",
		"pprof/legacy-converted/cppbench.cpu.pb.gz", "pprof/legacy-converted/java.heap.pb.gz",
	};

	(void)state;
	for (size_t k = 0; k < KL_ARRAY_SIZE(files); k++) {
		struct kl_profile *p = test_load_pprof(files[k]), *once, *twice;
		struct kl_profile *pair[2] = { p, p };
		struct kl_err err;

		assert_int_equal(kl_profile_merge(&p, 1, &once, &err), 0);
		assert_int_equal(kl_profile_merge(pair, 2, &twice, &err), 0);
		assert_int_equal(kl_profile_validate(twice, &err), 0);
		/*
		 * merging compacts: samples with equal stacks and labels (Go writes
		 * one per label context) become one, as in pprof. Merging a profile
		 * with itself then keeps that count and doubles every value.
		 */
		assert_true(once->nsamples <= p->nsamples);
		if (!strcmp(files[k], "pprof/go-large.cpu.pb.gz"))
			assert_int_equal(once->nsamples, p->nsamples);
		if (!strcmp(files[k], "pprof/go-cpu.pb.gz"))
			assert_int_equal(once->nsamples, 53);	/* as go tool pprof -raw */
		assert_int_equal(twice->nsamples, once->nsamples);
		assert_int_equal(twice->nlocations, once->nlocations);
		assert_int_equal(twice->nfunctions, once->nfunctions);
		for (uint32_t t = 0; t < p->nsample_types; t++) {
			assert_int_equal(kl_profile_total(once, t), kl_profile_total(p, t));
			assert_int_equal(kl_profile_total(twice, t), 2 * kl_profile_total(p, t));
		}
		/* sample by sample: merge keeps first-seen order */
		for (uint32_t i = 0; i < once->nsamples; i++) {
			for (uint32_t t = 0; t < p->nsample_types; t++)
				assert_int_equal(kl_sample_values(twice, i)[t],
						 2 * kl_sample_values(once, i)[t]);
			assert_int_equal(twice->samples[i].nlocs, once->samples[i].nlocs);
		}
		assert_int_equal(leaf_total(twice, 0, "runtime.mallocgc"),
				 2 * leaf_total(p, 0, "runtime.mallocgc"));
		assert_int_equal(twice->period, p->period);
		assert_int_equal(twice->time_nanos, p->time_nanos);
		/* pprof adds durations up */
		assert_int_equal(twice->duration_nanos, 2 * p->duration_nanos);
		assert_string_equal(kl_profile_sget(twice, twice->period_type.type),
				    kl_profile_sget(p, p->period_type.type));
		/* the merged profile writes and reads back */
		{
			struct kl_buf out = KL_BUF_INIT;
			struct kl_profile *q;

			assert_int_equal(kl_pprof_write(twice, true, &out, &err), 0);
			assert_int_equal(kl_pprof_read((uint8_t *)out.data, out.len, NULL, &q, &err),
					 0);
			assert_int_equal(q->nsamples, twice->nsamples);
			kl_profile_free(q);
			kl_buf_release(&out);
		}
		kl_profile_free(once);
		kl_profile_free(twice);
		kl_profile_free(p);
	}
}

static void test_mismatched_types(void **state)
{
	struct kl_profile *cpu = test_load_pprof("pprof/go-cpu.pb.gz");
	struct kl_profile *heap = test_load_pprof("pprof/go-heap.pb.gz");
	struct kl_profile *pair[2] = { cpu, heap }, *out = (struct kl_profile *)1;
	struct kl_err err;

	(void)state;
	assert_int_equal(kl_profile_merge(pair, 2, &out, &err), -KL_EMISMATCH);
	assert_null(out);
	assert_non_null(strstr(err.msg, "samples/count, cpu/nanoseconds"));
	assert_non_null(strstr(err.msg, "alloc_space/bytes"));
	assert_non_null(strstr(err.msg, "profile 2"));
	assert_int_equal(kl_profile_merge(pair, 0, &out, &err), -KL_EUSAGE);
	kl_profile_free(cpu);
	kl_profile_free(heap);
}

/* A one-sample profile: mapping at map_start, a location at map_start + off. */
static struct kl_profile *tiny(uint64_t map_start, int64_t time, int64_t dur, int64_t period,
			       const char *comment, const char *lk1, const char *lk2, int64_t v)
{
	struct kl_profile *p = kl_profile_new();
	struct kl_mapping m = { .id = 1, .start = map_start, .limit = map_start + 0x5000,
				.filename = kl_profile_cstr(p, "/bin/app") };
	struct kl_function f = { .id = 1, .name = kl_profile_cstr(p, "main") };
	struct kl_line line = { 0, 12, 0 };
	struct kl_location loc = { .id = 1, .mapping = 1, .address = map_start + 0x123 };
	struct kl_label lb[2] = {
		{ kl_profile_cstr(p, lk1), kl_profile_cstr(p, "x"), 0, 0 },
		{ kl_profile_cstr(p, lk2), kl_profile_cstr(p, "y"), 0, 0 },
	};
	uint32_t l;

	kl_profile_add_sample_type(p, kl_profile_cstr(p, "cpu"), kl_profile_cstr(p, "ns"));
	kl_profile_add_mapping(p, &m);
	kl_profile_add_function(p, &f);
	l = kl_profile_add_location(p, &loc, &line, 1);
	kl_profile_add_sample(p, &l, 1, &v, lb, 2);
	p->time_nanos = time;
	p->duration_nanos = dur;
	p->period = period;
	kl_profile_add_comment(p, kl_profile_cstr(p, comment));
	assert_false(kl_profile_failed(p));
	return p;
}

static void test_headers_aslr_and_labels(void **state)
{
	/* same binary at two load addresses, labels in opposite orders */
	struct kl_profile *a = tiny(0x400000, 1000, 50, 10, "c1", "k1", "k2", 3);
	struct kl_profile *b = tiny(0x7f0000, 900, 40, 20, "c2", "k2", "k1", 4);
	struct kl_profile *c = tiny(0x400000, 0, 0, 5, "c1", "k1", "k2", 5);
	struct kl_profile *in[3] = { a, b, c }, *m;
	struct kl_err err;

	(void)state;
	/* b's labels are (k2=x, k1=y): a different label set from a's */
	assert_int_equal(kl_profile_merge(in, 3, &m, &err), 0);
	assert_int_equal(m->nmappings, 1);
	assert_int_equal(m->nlocations, 1);	/* addresses rebased onto a's mapping */
	assert_int_equal(m->locations[0].address, 0x400123);
	assert_int_equal(m->nfunctions, 1);
	assert_int_equal(m->nsamples, 2);
	assert_int_equal(kl_sample_values(m, 0)[0], 3 + 5);
	assert_int_equal(kl_sample_values(m, 1)[0], 4);
	assert_int_equal(m->period, 20);
	/* pprof's rule: earliest time, where a zero time (c's) also wins */
	assert_int_equal(m->time_nanos, 0);
	assert_int_equal(m->duration_nanos, 50 + 40 + 0);
	assert_int_equal(m->ncomments, 2);
	assert_string_equal(kl_profile_sget(m, m->comments[0]), "c1");
	assert_string_equal(kl_profile_sget(m, m->comments[1]), "c2");
	kl_profile_free(m);
	kl_profile_free(b);

	/* same labels in another order are the same sample */
	b = tiny(0x400000, 900, 40, 20, "c2", "k1", "k2", 4);
	{
		struct kl_label *lb = b->labels;
		struct kl_label t = lb[0];

		lb[0] = lb[1];
		lb[1] = t;
	}
	in[1] = b;
	assert_int_equal(kl_profile_merge(in, 2, &m, &err), 0);
	assert_int_equal(m->nsamples, 1);
	assert_int_equal(kl_sample_values(m, 0)[0], 7);
	kl_profile_free(m);
	kl_profile_free(a);
	kl_profile_free(b);
	kl_profile_free(c);
}

static void test_copy_samples(void **state)
{
	struct kl_profile *p = test_load_pprof("pprof/go-heap.pb.gz"), *c, *all;
	uint8_t *keep = calloc(p->nsamples, sizeof(*keep));
	int64_t want = 0;
	struct kl_err err;
	struct kl_buf out = KL_BUF_INIT;

	(void)state;
	assert_non_null(keep);
	for (uint32_t i = 0; i < p->nsamples; i += 2) {
		keep[i] = 1;
		want += kl_sample_values(p, i)[1];
	}
	c = kl_profile_copy_samples(p, keep);
	assert_non_null(c);
	assert_int_equal(kl_profile_validate(c, &err), 0);
	assert_int_equal(c->nsamples, (p->nsamples + 1) / 2);
	assert_int_equal(kl_profile_total(c, 1), want);
	assert_true(c->nlocations <= p->nlocations);
	assert_true(c->nfunctions <= p->nfunctions);
	/* every location kept is used, and ids and strings are the original's */
	for (uint32_t i = 0; i < c->nlocations; i++) {
		bool used = false;

		for (size_t j = 0; j < c->nsample_locs && !used; j++)
			used = c->sample_locs[j] == i;
		assert_true(used);
	}
	assert_int_equal(kl_strtab_count(c->strs), kl_strtab_count(p->strs));
	assert_int_equal(c->period, p->period);
	assert_int_equal(c->time_nanos, p->time_nanos);
	assert_int_equal(kl_pprof_write(c, false, &out, &err), 0);
	kl_buf_release(&out);

	/* keep = NULL keeps everything */
	all = kl_profile_copy_samples(p, NULL);
	assert_non_null(all);
	assert_int_equal(all->nsamples, p->nsamples);
	assert_int_equal(all->nlocations, p->nlocations);
	for (uint32_t t = 0; t < p->nsample_types; t++)
		assert_int_equal(kl_profile_total(all, t), kl_profile_total(p, t));
	free(keep);
	kl_profile_free(c);
	kl_profile_free(all);
	kl_profile_free(p);
}

static void test_default_sample_type(void **state)
{
	/* go-heap names no default, go-allocs names alloc_space: the first that does wins */
	struct kl_profile *heap = test_load_pprof("pprof/go-heap.pb.gz");
	struct kl_profile *allocs = test_load_pprof("pprof/go-allocs.pb.gz");
	struct kl_profile *in[2] = { heap, allocs }, *m;
	struct kl_err err;

	(void)state;
	assert_int_equal(heap->default_sample_type, 0);
	assert_int_equal(kl_profile_merge(in, 2, &m, &err), 0);
	assert_string_equal(kl_profile_sget(m, m->default_sample_type), "alloc_space");
	assert_int_equal(kl_profile_sample_index(m, NULL, &err), 1);
	kl_profile_free(m);
	kl_profile_free(heap);
	kl_profile_free(allocs);
}

static void test_merge_many_fast(void **state)
{
	/* 8 copies of the large profile (no duplicate stacks): same sample count */
	struct kl_profile *p = test_load_pprof("pprof/go-large.cpu.pb.gz"), *m;
	struct kl_profile *in[8];
	struct kl_err err;

	(void)state;
	for (int i = 0; i < 8; i++)
		in[i] = p;
	assert_int_equal(kl_profile_merge(in, 8, &m, &err), 0);
	assert_int_equal(m->nsamples, p->nsamples);
	assert_int_equal(kl_profile_total(m, 1), 8 * kl_profile_total(p, 1));
	kl_profile_free(m);
	kl_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_merge_with_itself_doubles),
		cmocka_unit_test(test_mismatched_types),
		cmocka_unit_test(test_headers_aslr_and_labels),
		cmocka_unit_test(test_copy_samples),
		cmocka_unit_test(test_default_sample_type),
		cmocka_unit_test(test_merge_many_fast),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
