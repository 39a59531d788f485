/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stacktab_test.c - the agent's lock-free stack tables: aggregation by
 * (label set, stack), the unique-stack cap and its drop counter, frame
 * truncation, and totals conserved while four threads add and a fifth
 * drains concurrently (no sample lost or counted twice across swaps).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"

struct seen {
	int entries;
	int64_t v0, v1;
	uint32_t maxn;
	uintptr_t last[8];
	uint32_t last_n, last_label;
};

static void collect(void *ctx, uint32_t labelset, const uintptr_t *pcs, uint32_t n,
		    const int64_t *values)
{
	struct seen *s = ctx;

	s->entries++;
	s->v0 += values[0];
	s->v1 += values[1];
	if (n > s->maxn)
		s->maxn = n;
	s->last_n = n;
	s->last_label = labelset;
	memcpy(s->last, pcs, sizeof(uintptr_t) * (n < 8 ? n : 8));
}

static void test_aggregates(void **state)
{
	struct agent_profbuf *b = agent_profbuf_new(100, 16, 2);
	uintptr_t a[3] = {0x1000, 0x2000, 0x3000}, c[2] = {0x1000, 0x2000};
	int64_t v[2] = {1, 10};
	struct seen s = {0};

	assert_non_null(b);
	for (int i = 0; i < 5; i++)
		assert_int_equal(agent_profbuf_add(b, 0, a, 3, v), 0);
	assert_int_equal(agent_profbuf_add(b, 7, a, 3, v), 0);	/* other label set */
	assert_int_equal(agent_profbuf_add(b, 0, c, 2, v), 0);	/* prefix: other stack */
	assert_int_equal(agent_profbuf_add(b, 0, NULL, 0, v), 0);	/* empty stack */
	assert_int_equal(agent_profbuf_drain(b, collect, &s), 0);
	assert_int_equal(s.entries, 4);
	assert_int_equal(s.v0, 8);
	assert_int_equal(s.v1, 80);
	/* a drained buffer is empty */
	memset(&s, 0, sizeof(s));
	assert_int_equal(agent_profbuf_drain(b, collect, &s), 0);
	assert_int_equal(s.entries, 0);
	/* and takes new samples, into the other table and back */
	assert_int_equal(agent_profbuf_add(b, 3, a, 3, v), 0);
	assert_int_equal(agent_profbuf_drain(b, collect, &s), 0);
	assert_int_equal(s.entries, 1);
	assert_int_equal(s.last_label, 3);
	assert_int_equal(s.last_n, 3);
	assert_int_equal(s.last[2], 0x3000);
	agent_profbuf_free(b);
	agent_profbuf_free(NULL);
}

static void test_cap_and_truncation(void **state)
{
	struct agent_profbuf *b = agent_profbuf_new(10, 4, 2);
	uintptr_t pcs[8];
	int64_t v[2] = {1, 1};
	struct seen s = {0};

	assert_non_null(b);
	for (int i = 0; i < 15; i++) {
		pcs[0] = 0x100 + i;
		agent_profbuf_add(b, 0, pcs, 1, v);
	}
	/* an existing stack still aggregates when the table is full */
	pcs[0] = 0x100;
	assert_int_equal(agent_profbuf_add(b, 0, pcs, 1, v), 0);
	for (int i = 0; i < 8; i++)
		pcs[i] = 0x500 + i;
	assert_int_equal(agent_profbuf_add(b, 0, pcs, 8, v), -1);
	assert_int_equal(agent_profbuf_drain(b, collect, &s), 6);
	assert_int_equal(s.entries, 10);
	assert_int_equal(s.v0, 11);
	/* deeper stacks are cut at max_frames */
	memset(&s, 0, sizeof(s));
	assert_int_equal(agent_profbuf_add(b, 0, pcs, 8, v), 0);
	assert_int_equal(agent_profbuf_drain(b, collect, &s), 0);
	assert_int_equal(s.maxn, 4);
	agent_profbuf_free(b);
	assert_null(agent_profbuf_new(0, 4, 2));
	assert_null(agent_profbuf_new(10, 4, 5));
}

#define WRITERS 4
#define ADDS 200000

static struct agent_profbuf *shared;
static _Atomic int writers_done;

static void *writer(void *arg)
{
	uintptr_t pcs[6];
	int64_t v[2] = {1, 3};
	unsigned seed = (unsigned)(uintptr_t)arg;

	for (int i = 0; i < ADDS; i++) {
		int depth = 1 + (int)(rand_r(&seed) % 6);

		for (int d = 0; d < depth; d++)
			pcs[d] = 0x1000 + (uintptr_t)(rand_r(&seed) % 4) * 16;
		agent_profbuf_add(shared, (uint32_t)(i % 3), pcs, (uint32_t)depth, v);
	}
	atomic_fetch_add(&writers_done, 1);
	return NULL;
}

static void test_concurrent_drains_conserve_totals(void **state)
{
	pthread_t t[WRITERS];
	struct seen s = {0};
	uint64_t dropped = 0;
	int drains = 0;

	shared = agent_profbuf_new(65536, 8, 2);
	assert_non_null(shared);
	for (uintptr_t i = 0; i < WRITERS; i++)
		assert_int_equal(pthread_create(&t[i], NULL, writer, (void *)(i + 1)), 0);
	while (atomic_load(&writers_done) < WRITERS) {
		dropped += agent_profbuf_drain(shared, collect, &s);
		drains++;
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(t[i], NULL);
	dropped += agent_profbuf_drain(shared, collect, &s);
	assert_int_equal(dropped, 0);
	assert_int_equal(s.v0, (int64_t)WRITERS * ADDS);
	assert_int_equal(s.v1, (int64_t)WRITERS * ADDS * 3);
	assert_true(drains > 1);
	agent_profbuf_free(shared);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aggregates),
		cmocka_unit_test(test_cap_and_truncation),
		cmocka_unit_test(test_concurrent_drains_conserve_totals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
