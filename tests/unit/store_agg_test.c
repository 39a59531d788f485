/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_agg_test.c - unit tests of the per-series aggregates (agg.c)
 * against a plain reference sum: profiles of a few stacks into buckets of
 * thousands (the galloping seek), dense profiles, new stacks (merges),
 * repeated stacks, buckets of every level, and random profiles over
 * several buckets.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "store/store_internal.h"

#define NSTK 6000
#define SEC INT64_C(1000000000)
#define T0 (INT64_C(1795219200) * SEC)

/* reference: per stack id, the sum of its values in the one bucket of each level */
static int64_t ref[NSTK];

/* Checks every level's bucket of start against ref (stacks sorted, no zero entries). */
static void check_levels(const struct st_series *s, int64_t start)
{
	for (int lv = 0; lv < STORE_NLEVELS; lv++) {
		const struct st_level *l = &s->lv[lv];
		const struct st_bucket *b = NULL;
		uint32_t k = 0;

		for (size_t i = 0; i < l->n; i++)
			if (l->b[i].idx == store_floor_div(start, store_level_ns[lv]))
				b = &l->b[i];
		assert_non_null(b);
		for (uint32_t id = 0; id < NSTK; id++) {
			if (!ref[id])
				continue;
			assert_true(k < b->n);
			assert_int_equal(b->stk[k], id);
			assert_int_equal(b->val[k], ref[id]);
			k++;
		}
		assert_int_equal(k, b->n);
	}
}

/*
 * Adds one profile of n sorted pairs at start and to ref. in_place: every
 * stack is known, so each level must add in place (same lists, no bytes
 * added), which is what the seek is for; else the lists are merged.
 */
static void add(struct st_series *s, int64_t start, const uint32_t *stk, const int64_t *val,
		uint32_t n, bool in_place)
{
	uint32_t *before[STORE_NLEVELS];
	size_t added;

	for (int lv = 0; lv < STORE_NLEVELS; lv++)
		before[lv] = s->lv[lv].n ? s->lv[lv].b[0].stk : NULL;
	assert_int_equal(store_agg_add(s, start, stk, val, n, &added), 0);
	for (uint32_t i = 0; i < n; i++)
		ref[stk[i]] += val[i];
	/* a merge grows the lists where they are (they may or may not move) */
	for (int lv = 0; lv < STORE_NLEVELS && in_place; lv++)
		assert_ptr_equal(s->lv[lv].b[0].stk, before[lv]);
	assert_true(in_place ? added == 0 : added > 0);
}

static void test_sparse_and_dense(void **state)
{
	static uint32_t stk[NSTK];
	static int64_t val[NSTK];
	struct st_series s;
	uint32_t n = 0, seed = 7;

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(ref, 0, sizeof(ref));
	/* a big bucket: every even stack */
	for (uint32_t id = 0; id < NSTK; id += 2) {
		stk[n] = id;
		val[n++] = 1;
	}
	add(&s, T0, stk, val, n, false);
	check_levels(&s, T0);
	/* sparse profiles of stacks already there (in place), first and last included */
	for (int round = 0; round < 200; round++) {
		n = 0;
		for (uint32_t id = 0; id < NSTK; id += 2) {
			seed = seed * 1103515245u + 12345u;
			if (id == 0 || id == NSTK - 2 || (seed >> 16) % 97 == 0) {
				stk[n] = id;
				val[n++] = (int64_t)((seed >> 8) % 1000) + 1;
			}
		}
		add(&s, T0 + round * SEC / 4, stk, val, n, true);
	}
	check_levels(&s, T0);
	/* the same stack twice in a row (different span ids), in place */
	stk[0] = stk[1] = 10;
	stk[2] = 5000;
	val[0] = 3;
	val[1] = 4;
	val[2] = 5;
	add(&s, T0 + SEC, stk, val, 3, true);
	check_levels(&s, T0);
	/* a few new (odd) stacks among known ones: a merge */
	stk[0] = 2;
	stk[1] = 3;
	stk[2] = 4001;
	stk[3] = NSTK - 1;
	for (int i = 0; i < 4; i++)
		val[i] = 11;
	add(&s, T0 + 2 * SEC, stk, val, 4, false);
	check_levels(&s, T0);
	/* dense: every stack, old and new */
	for (uint32_t id = 0; id < NSTK; id++) {
		stk[id] = id;
		val[id] = 2;
	}
	add(&s, T0 + 3 * SEC, stk, val, NSTK, false);
	check_levels(&s, T0);
	/* then sparse again, now that nothing is missing */
	stk[0] = 1;
	stk[1] = 2999;
	stk[2] = NSTK - 1;
	val[0] = val[1] = val[2] = 100;
	add(&s, T0 + 4 * SEC, stk, val, 3, true);
	check_levels(&s, T0);
	store_agg_release(&s);
}

/* reference of test_random: per level, bucket (0..2 from the first) and stack */
#define RSTK 700
static int64_t rref[STORE_NLEVELS][3][RSTK];

/*
 * Random profiles over three 100-s buckets (one bucket at the longer
 * levels): sorted stacks with repeats, some new to a bucket, some known,
 * a few to several hundred pairs (in place with remembered positions or
 * not). Every bucket of every level must equal the reference sum, and the
 * bytes reported must add up to the entries of every bucket.
 */
static void test_random(void **state)
{
	static uint32_t stk[1200];
	static int64_t val[1200];
	struct st_series s;
	uint32_t seed = 12345;
	size_t added_total = 0, entries = 0;
	int64_t t0 = T0 - T0 % (100000 * SEC);

	(void)state;
	memset(&s, 0, sizeof(s));
	memset(rref, 0, sizeof(rref));
	for (int round = 0; round < 400; round++) {
		uint32_t n = 0, id = 0, want, span;
		int64_t start;
		size_t added;
		int bk;

		seed = seed * 1103515245u + 12345u;
		bk = (int)((seed >> 16) % 3);
		start = t0 + bk * 100 * SEC + (int64_t)((seed >> 4) % 100) * SEC;
		seed = seed * 1103515245u + 12345u;
		want = round % 5 == 0 ? 1 + (seed >> 16) % 600 : 1 + (seed >> 16) % 40;
		/* later rounds draw from a wider range: new stacks keep coming */
		span = 50 + (uint32_t)round * RSTK / 400;
		while (n < want && id < span && id < RSTK) {
			seed = seed * 1103515245u + 12345u;
			id += (seed >> 16) % 7 == 0 ? 0 : 1 + (seed >> 20) % 3;
			if (id >= span || id >= RSTK)
				break;
			stk[n] = id;
			val[n++] = (int64_t)((seed >> 8) % 50) - 5;
		}
		assert_int_equal(store_agg_add(&s, start, stk, val, n, &added), 0);
		added_total += added;
		for (uint32_t j = 0; j < n; j++)
			for (int lv = 0; lv < STORE_NLEVELS; lv++)
				rref[lv][lv ? 0 : bk][stk[j]] += val[j];
	}
	for (int lv = 0; lv < STORE_NLEVELS; lv++) {
		const struct st_level *l = &s.lv[lv];

		assert_int_equal(l->n, lv ? 1 : 3);
		for (size_t bi = 0; bi < l->n; bi++) {
			const struct st_bucket *b = &l->b[bi];
			uint32_t k = 0;

			for (uint32_t j = 1; j < b->n; j++)
				assert_true(b->stk[j - 1] < b->stk[j]);
			for (uint32_t j = 0; j < b->n; j++) {
				assert_true(b->stk[j] < RSTK);
				assert_int_equal(b->val[j], rref[lv][bi][b->stk[j]]);
			}
			/* every stack with a non-zero sum is there */
			for (uint32_t id = 0; id < RSTK; id++)
				if (rref[lv][bi][id]) {
					while (k < b->n && b->stk[k] < id)
						k++;
					assert_true(k < b->n && b->stk[k] == id);
				}
			entries += b->n;
		}
	}
	assert_int_equal(added_total, entries * (sizeof(uint32_t) + sizeof(int64_t)));
	store_agg_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sparse_and_dense),
		cmocka_unit_test(test_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
