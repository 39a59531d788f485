/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prog_mallocbench.c - the allocation-heavy microbenchmark of
 * bench/agent_heap.sh: N malloc/free pairs through a ring of 4096 live
 * blocks, single-threaded, so the run time is dominated by the allocator and
 * whatever hooks it. Sizes are mostly small (16 B .. 1 KiB, mean 164 B, as
 * in most programs); "large" draws 16 B .. 8 KiB (mean 1 KiB: six times the
 * bytes, so six times the heap samples). "mt" starts an idle second thread
 * first, as a service has: glibc's malloc then leaves its single-threaded
 * fast paths, with or without a profiler. Prints the elapsed seconds, the
 * thread's CPU seconds and the bytes still live at exit (the ring).
 * Usage: prog_mallocbench [pairs, default 20000000] [small|large] [mt]
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RING 4096

static void *ring[RING];
static size_t ring_sz[RING];
static pthread_mutex_t idle_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cv = PTHREAD_COND_INITIALIZER;
static int idle_done;

/* the idle thread of "mt": waits until the loop is over */
static void *idle_main(void *arg)
{
	pthread_mutex_lock(&idle_mu);
	while (!idle_done)
		pthread_cond_wait(&idle_cv, &idle_mu);
	pthread_mutex_unlock(&idle_mu);
	return arg;
}

int main(int argc, char **argv)
{
	static const size_t small[16] = {16, 16, 24, 32, 32, 40, 48, 64, 64, 80, 96, 128,
					 192, 256, 512, 1024};
	static const size_t large[16] = {16, 24, 32, 48, 64, 96, 128, 256, 512, 1024, 2048, 8192,
					 1024, 2048, 1024, 512};
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 20000000;
	const size_t *sizes = argc > 2 && strcmp(argv[2], "large") == 0 ? large : small;
	uint64_t x = 88172645463325252ULL, live = 0;
	struct timespec t0, t1, c0, c1;
	bool mt = argc > 3 && strcmp(argv[3], "mt") == 0;
	pthread_t idle;

	if (mt && pthread_create(&idle, NULL, idle_main, NULL) != 0)
		abort();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
	for (long i = 0; i < n; i++) {
		size_t slot, s;

		/* xorshift: cheap and the same sequence in every run */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		slot = (size_t)(x >> 20) % RING;
		s = sizes[(x >> 8) & 15];
		free(ring[slot]);
		live -= ring_sz[slot];
		ring[slot] = malloc(s);
		if (!ring[slot])
			abort();
		*(volatile char *)ring[slot] = 1;
		ring_sz[slot] = s;
		live += s;
	}
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	if (mt) {
		pthread_mutex_lock(&idle_mu);
		idle_done = 1;
		pthread_cond_signal(&idle_cv);
		pthread_mutex_unlock(&idle_mu);
		pthread_join(idle, NULL);
	}
	/* cpu: this thread's CPU time, which a busy machine disturbs far less */
	printf("elapsed %.3f\ncpu %.3f\nlive %llu\n",
	       (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
	       (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9,
	       (unsigned long long)live);
	return 0;
}
