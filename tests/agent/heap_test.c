/* SPDX-License-Identifier: Apache-2.0 */
/*
 * heap_test.c - heap sampling internals, in-process (the static agent's
 * malloc interposes this executable's): large blocks are sampled with
 * weight = size, frees and reallocs leave the in-use table exactly, the
 * agent's own allocations are not sampled, objects are estimated without
 * bias, a full live table is counted (not a crash), four threads plus a
 * forked child hammer the hooks while sampled pointers come and go, and a
 * stack costs its frames once (the memory the process gains for 2,048
 * unique stacks stays under one copy of them plus the store's index).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "agent.h"
#include "hooktest.h"

/* allocating functions, global so that dladdr1 knows their extent */
void *heap_test_alloc_big(size_t n);
void *heap_test_alloc_small(size_t n);
void *heap_test_realloc(void *p, size_t n);
void *heap_test_thread(void *arg);
void *heap_test_deep(int depth, size_t n);
void *heap_test_path(unsigned depth, unsigned path, size_t n);

__attribute__((noinline)) void *heap_test_alloc_big(size_t n)
{
	void *p = malloc(n);

	__asm__ volatile("" ::: "memory");	/* no tail call: the frame stays */
	return p;
}

__attribute__((noinline)) void *heap_test_alloc_small(size_t n)
{
	void *p = malloc(n);

	__asm__ volatile("" ::: "memory");
	return p;
}

__attribute__((noinline)) void *heap_test_realloc(void *p, size_t n)
{
	void *q = realloc(p, n);

	__asm__ volatile("" ::: "memory");
	return q;
}

static struct tally inuse_of(void *fn)
{
	struct tally t = {.fn = fn};

	assert_int_equal(agent_heap_inuse(tally_fn, &t), 0);
	return t;
}

static struct tally alloc_of(void *fn)
{
	struct tally t = {.fn = fn};

	agent_heap_allocs(tally_fn, &t);
	return t;
}

static void start_stacks(size_t mean, unsigned max_stacks)
{
	struct agent_config c = {0};

	c.heap_sample_bytes = mean;
	c.max_frames = 64;
	c.max_stacks = max_stacks;
	agent_heap_stop();
	assert_int_equal(agent_heap_start(&c), 0);
}

static void start(size_t mean)
{
	start_stacks(mean, 4096);
}

static void test_big_blocks_exact(void **state)
{
	enum { N = 40, SZ = 1 << 20 };
	void *p[N];
	struct tally t;

	start(32768);	/* p = 1 - exp(-32): every block is sampled, weight = size */
	for (int i = 0; i < N; i++)
		p[i] = heap_test_alloc_big(SZ);
	t = inuse_of(heap_test_alloc_big);
	assert_int_equal(t.entries, 1);
	assert_int_equal(t.v[0], N);
	assert_int_equal(t.v[1], (int64_t)N * SZ);
	t = alloc_of(heap_test_alloc_big);
	assert_int_equal(t.v[1], (int64_t)N * SZ);
	for (int i = 0; i < N; i++)
		free(p[i]);
	/* freed: nothing left in use, exactly */
	t = inuse_of(heap_test_alloc_big);
	assert_int_equal(t.entries, 0);
	agent_heap_stop();
}

static void test_realloc_moves(void **state)
{
	enum { N = 200 };
	void *p[N];
	struct tally t;

	start(32768);
	for (int i = 0; i < N; i++)
		p[i] = heap_test_alloc_big(16 << 10);
	/* 16 KiB -> 1 MiB: mmap'ed now, so every block moves (pages never touched) */
	for (int i = 0; i < N; i++)
		p[i] = heap_test_realloc(p[i], 1 << 20);
	assert_int_equal(inuse_of(heap_test_alloc_big).entries, 0);
	/* sampled with p = 1 - exp(-32): weight = size */
	t = inuse_of(heap_test_realloc);
	assert_int_equal(t.v[0], N);
	assert_int_equal(t.v[1], (int64_t)N * (1 << 20));
	for (int i = 0; i < N; i++)
		free(p[i]);
	assert_int_equal(inuse_of(heap_test_realloc).entries, 0);
	agent_heap_stop();
}

static void test_agent_allocations_pass_through(void **state)
{
	uint64_t before;
	void *p[50];

	start(32768);
	before = agent_heap_samples();
	agent_self.in_agent++;
	for (int i = 0; i < 50; i++)
		p[i] = heap_test_alloc_big(1 << 20);
	agent_self.in_agent--;
	assert_int_equal(agent_heap_samples(), before);
	assert_int_equal(inuse_of(heap_test_alloc_big).entries, 0);
	for (int i = 0; i < 50; i++)
		free(p[i]);
	agent_heap_stop();
}

static void test_small_objects_unbiased(void **state)
{
	enum { N = 1000000, SZ = 100 };
	void **p = malloc(N * sizeof(*p));
	struct tally t;

	assert_non_null(p);
	start(32768);	/* p = 0.3%: about 3000 samples, each weighing ~328 objects */
	for (int i = 0; i < N; i++)
		p[i] = heap_test_alloc_small(SZ);
	t = alloc_of(heap_test_alloc_small);
	assert_in_range(t.v[0], N * 9 / 10, N * 11 / 10);
	assert_in_range(t.v[1], (int64_t)N * SZ * 9 / 10, (int64_t)N * SZ * 11 / 10);
	t = inuse_of(heap_test_alloc_small);
	assert_in_range(t.v[1], (int64_t)N * SZ * 9 / 10, (int64_t)N * SZ * 11 / 10);
	for (int i = 0; i < N; i++)
		free(p[i]);
	assert_int_equal(inuse_of(heap_test_alloc_small).entries, 0);
	agent_heap_stop();
	free(p);
}

static void test_live_table_full(void **state)
{
	enum { N = 70000 };	/* more than the live table keeps */
	void **p = malloc(N * sizeof(*p));
	uint64_t dropped;
	struct tally t;

	assert_non_null(p);
	start(1);	/* every allocation is a sample */
	for (int i = 0; i < N; i++)
		p[i] = heap_test_alloc_small(16);
	/* the live table keeps 65536 samples; the rest are counted as dropped */
	dropped = agent_heap_dropped();
	assert_true(agent_heap_samples() > 65536);
	assert_int_equal(agent_heap_samples() - dropped, 65536);
	t = inuse_of(heap_test_alloc_small);
	assert_int_equal(t.v[0], 65536);	/* p = 1 - exp(-16): weight 1 */
	for (int i = 0; i < N; i++)
		free(p[i]);
	assert_int_equal(inuse_of(heap_test_alloc_small).entries, 0);
	agent_heap_stop();
	free(p);
}

__attribute__((noinline)) void *heap_test_thread(void *arg)
{
	void *ring[64] = {0};

	for (int i = 0; i < 200000; i++) {
		int k = i & 63;

		free(ring[k]);
		ring[k] = i % 3 ? malloc((size_t)(i % 700) + 1) : realloc(NULL, 300);
		if (i % 7 == 0)
			ring[k] = realloc(ring[k], 2000);
	}
	for (int k = 0; k < 64; k++)
		free(ring[k]);
	return arg;
}

static void test_threads_and_fork(void **state)
{
	pthread_t t[4];
	int status = -1;
	pid_t pid;

	start(512);	/* a sample every ~512 bytes: thousands of concurrent samples */
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, heap_test_thread, NULL), 0);
	pid = fork();
	if (pid == 0) {
		/* the parent's threads are gone, their sampled blocks with them: just work */
		heap_test_thread(NULL);
		_exit(0);
	}
	assert_true(pid > 0);
	for (int i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	/* everything the threads allocated was freed: nothing of theirs in use */
	assert_int_equal(inuse_of(heap_test_thread).entries, 0);
	assert_true(agent_heap_samples() > 1000);
	agent_heap_stop();
}

static void test_stopped_is_quiet(void **state)
{
	uint64_t n;
	void *p;

	start(1);
	agent_heap_stop();
	n = agent_heap_samples();
	p = heap_test_alloc_big(1 << 20);
	free(p);
	assert_int_equal(agent_heap_samples(), n);
	/* starting again while running is refused */
	start(1);
	assert_int_equal(agent_heap_start(&(struct agent_config){.heap_sample_bytes = 1}),
			 -KILN_EALREADY);
	agent_heap_stop();
}

/* malloc at the bottom of depth recursive calls: one distinct stack per depth */
__attribute__((noinline)) void *heap_test_deep(int depth, size_t n)
{
	void *p = depth > 0 ? heap_test_deep(depth - 1, n) : malloc(n);

	__asm__ volatile("" ::: "memory");	/* no tail call */
	return p;
}

static void test_stack_store_compacts(void **state)
{
	void *keep[6];
	struct tally t;

	/* room for 8 unique stacks: 48 come and go, then 6 stay */
	start_stacks(32768, 8);
	for (int d = 0; d < 48; d++)
		free(heap_test_deep(d, 1 << 20));
	for (int i = 0; i < 6; i++)
		keep[i] = heap_test_deep(50 + i, 1 << 20);
	/* the full store was compacted instead of dropping samples */
	assert_int_equal(agent_heap_dropped(), 0);
	t = inuse_of(heap_test_deep);
	assert_int_equal(t.entries, 6);
	assert_int_equal(t.v[1], 6 << 20);
	for (int i = 0; i < 6; i++)
		free(keep[i]);
	/* 9 stacks live at once do not fit: counted, not a crash */
	for (int i = 0; i < 6; i++)
		keep[i] = heap_test_deep(20 + i, 1 << 20);
	free(heap_test_deep(40, 1 << 20));
	free(heap_test_deep(41, 1 << 20));
	free(heap_test_deep(42, 1 << 20));
	assert_true(agent_heap_dropped() >= 1);
	for (int i = 0; i < 6; i++)
		free(keep[i]);
	agent_heap_stop();
}

static volatile unsigned turns[2];	/* distinct bodies: identical code folding would merge them */

static __attribute__((noinline)) void *heap_test_left(unsigned depth, unsigned path, size_t n)
{
	void *p;

	turns[0]++;
	p = heap_test_path(depth, path, n);
	__asm__ volatile("" ::: "memory");	/* no tail call */
	return p;
}

static __attribute__((noinline)) void *heap_test_right(unsigned depth, unsigned path, size_t n)
{
	void *p;

	turns[1] += 2;
	p = heap_test_path(depth, path, n);
	__asm__ volatile("" ::: "memory");
	return p;
}

/* malloc at the end of a path of left / right calls: 2^depth distinct stacks */
__attribute__((noinline)) void *heap_test_path(unsigned depth, unsigned path, size_t n)
{
	void *p;

	if (!depth)
		p = malloc(n);
	else if (path & 1)
		p = heap_test_right(depth - 1, path >> 1, n);
	else
		p = heap_test_left(depth - 1, path >> 1, n);
	__asm__ volatile("" ::: "memory");
	return p;
}

static long rss_anon_kb(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	assert_non_null(f);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "RssAnon:", 8))
			v = strtol(line + 8, NULL, 10);
	fclose(f);
	return v;
}

static void max_frames_fn(void *ctx, uint32_t labelset, const uintptr_t *pcs, uint32_t n,
			  const int64_t *values)
{
	uint32_t *max = ctx;

	if (n > *max)
		*max = n;
}

static void test_stack_costs_frames_once(void **state)
{
	enum { DEPTH = 11, N = 1 << DEPTH };
	uint32_t frames = 0;
	size_t bytes;
	long before, grown;

	start_stacks(1, 65536);	/* every allocation is a sample */
	free(heap_test_path(DEPTH, 0, 16));	/* first-sample setup (stack bounds) */
	before = rss_anon_kb();
	for (unsigned path = 1; path < N; path++)
		free(heap_test_path(DEPTH, path, 16));
	grown = rss_anon_kb() - before;
	bytes = agent_heap_stack_bytes();
	agent_heap_allocs(max_frames_fn, &frames);
	print_message("%d stacks of <= %u frames: store %zu KiB, RSS +%ld KiB\n", N, frames,
		      bytes >> 10, grown);
	assert_true(frames > DEPTH);
	/* the accounting: frames and 4 words per stack (a few more: stdio's own) */
	assert_true(bytes >= (size_t)N * (DEPTH + 4) * sizeof(uintptr_t));
	assert_true(bytes <= (size_t)(N + 16) * (frames + 4) * sizeof(uintptr_t));
	/*
	 * What the process gained: that copy, the index (512 KiB) and 25 %;
	 * a second copy of the stacks (an allocation table of their own, as
	 * before) would be another ~bytes plus its own index.
	 */
	assert_true(grown <= (long)((bytes * 5 / 4) >> 10) + 512 + 64);
	agent_heap_stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_big_blocks_exact),
		cmocka_unit_test(test_realloc_moves),
		cmocka_unit_test(test_agent_allocations_pass_through),
		cmocka_unit_test(test_small_objects_unbiased),
		cmocka_unit_test(test_live_table_full),
		cmocka_unit_test(test_stack_store_compacts),
		cmocka_unit_test(test_stack_costs_frames_once),
		cmocka_unit_test(test_threads_and_fork),
		cmocka_unit_test(test_stopped_is_quiet),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
