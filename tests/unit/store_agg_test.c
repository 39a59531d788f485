/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_agg_test.c - unit tests of the per-series aggregates (agg.c)
 * against a plain reference sum: profiles of a few stacks into buckets of
 * thousands (the galloping seek), dense profiles, new stacks (merges),
 * repeated stacks, and buckets of every level.
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
	for (int lv = 0; lv < STORE_NLEVELS; lv++) {
		if (in_place)
			assert_ptr_equal(s->lv[lv].b[0].stk, before[lv]);
		else
			assert_ptr_not_equal(s->lv[lv].b[0].stk, before[lv]);
	}
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sparse_and_dense),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
