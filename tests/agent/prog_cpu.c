/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prog_cpu.c - a known CPU split for the agent's accuracy tests and the
 * benchmark: `prog_cpu [seconds] [threads]` runs threads (default 3) that
 * each spend 50/30/20 % of their CPU time in cpu_fn50, cpu_fn30 and cpu_fn20
 * (the same loop, 5:3:2 iterations on average, no calls inside), for
 * seconds of wall time (default 5). Each call's length is drawn at random
 * (x0.5 to x1.5): a strictly periodic workload aliases with the kernel tick
 * that CPU-time timers fire on, which skews any tick-based profiler. It
 * measures the true split with the thread CPU clock and prints it as
 *   split cpu_fn50=50.03 cpu_fn30=29.99 cpu_fn20=19.98 cpu_s=14.95
 * `prog_cpu -c cycles [threads]` does a fixed amount of work instead (each
 * thread runs cycles rounds of the three functions), for overhead benchmarks.
 * tests/agent/sampler_test.c includes this file with PROG_CPU_NO_MAIN.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* iterations of one unit of work: about 50 us */
#define PROG_CPU_UNIT 40000u

struct prog_cpu_thread {
	double stop_at;			/* CLOCK_MONOTONIC seconds */
	long cycles;			/* > 0: this many rounds instead */
	double spent[3];		/* thread CPU seconds in fn50, fn30, fn20 */
	uint64_t sink;
};

static double prog_cpu_clock(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline __attribute__((always_inline)) uint64_t prog_cpu_spin(uint64_t x, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

uint64_t cpu_fn50(uint64_t x, unsigned scale);
uint64_t cpu_fn30(uint64_t x, unsigned scale);
uint64_t cpu_fn20(uint64_t x, unsigned scale);

/* scale / 1024 times the nominal length */
__attribute__((noinline)) uint64_t cpu_fn50(uint64_t x, unsigned scale)
{
	return prog_cpu_spin(x, 5 * PROG_CPU_UNIT / 1024 * scale);
}

__attribute__((noinline)) uint64_t cpu_fn30(uint64_t x, unsigned scale)
{
	return prog_cpu_spin(x, 3 * PROG_CPU_UNIT / 1024 * scale);
}

__attribute__((noinline)) uint64_t cpu_fn20(uint64_t x, unsigned scale)
{
	return prog_cpu_spin(x, 2 * PROG_CPU_UNIT / 1024 * scale);
}

static void *prog_cpu_thread_main(void *arg)
{
	struct prog_cpu_thread *t = arg;
	uint64_t (*const fns[3])(uint64_t, unsigned) = {cpu_fn50, cpu_fn30, cpu_fn20};
	uint64_t x = 88172645463325252ull + (uintptr_t)arg;
	uint64_t rng = 0x9e3779b97f4a7c15ull ^ (uintptr_t)arg;

	for (long round = 0;
	     t->cycles > 0 ? round < t->cycles : prog_cpu_clock(CLOCK_MONOTONIC) < t->stop_at;
	     round++) {
		for (int f = 0; f < 3; f++) {
			double c0 = prog_cpu_clock(CLOCK_THREAD_CPUTIME_ID);

			rng = prog_cpu_spin(rng, 1);
			x = fns[f](x, 512 + (unsigned)(rng % 1024));
			t->spent[f] += prog_cpu_clock(CLOCK_THREAD_CPUTIME_ID) - c0;
		}
	}
	t->sink = x;
	return NULL;
}

/*
 * Runs the workload on nthreads threads for seconds; fills split[3] with
 * the measured percentages and returns the total CPU seconds (-1 on error).
 */
static double prog_cpu_run_n(double seconds, long cycles, int nthreads, double split[3])
{
	pthread_t tid[64];
	struct prog_cpu_thread st[64] = {0};
	double total = 0, per[3] = {0};

	if (nthreads < 1 || nthreads > 64)
		return -1;
	for (int i = 0; i < nthreads; i++) {
		st[i].stop_at = prog_cpu_clock(CLOCK_MONOTONIC) + seconds;
		st[i].cycles = cycles;
		if (pthread_create(&tid[i], NULL, prog_cpu_thread_main, &st[i]) != 0)
			return -1;
	}
	for (int i = 0; i < nthreads; i++) {
		pthread_join(tid[i], NULL);
		for (int f = 0; f < 3; f++)
			per[f] += st[i].spent[f];
	}
	for (int f = 0; f < 3; f++)
		total += per[f];
	for (int f = 0; f < 3; f++)
		split[f] = total > 0 ? 100.0 * per[f] / total : 0;
	return total;
}

static __attribute__((unused)) double prog_cpu_run(double seconds, int nthreads, double split[3])
{
	return prog_cpu_run_n(seconds, 0, nthreads, split);
}

#ifndef PROG_CPU_NO_MAIN
int main(int argc, char **argv)
{
	int cyc = argc > 2 && argv[1][0] == '-' && argv[1][1] == 'c';
	double seconds = argc > 1 && !cyc ? strtod(argv[1], NULL) : 5;
	long cycles = cyc ? strtol(argv[2], NULL, 10) : 0;
	int threads = argc > 2 + cyc ? (int)strtol(argv[2 + cyc], NULL, 10) : 3;
	double split[3], total;

	total = prog_cpu_run_n(seconds, cycles, threads, split);
	if (total < 0) {
		fprintf(stderr, "prog_cpu: cannot start %d threads\n", threads);
		return 1;
	}
	printf("split cpu_fn50=%.2f cpu_fn30=%.2f cpu_fn20=%.2f cpu_s=%.2f\n", split[0], split[1],
	       split[2], total);
	return 0;
}
#endif
