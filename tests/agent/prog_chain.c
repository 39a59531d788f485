/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prog_chain.c - a known call chain for end-to-end unwinding tests, built
 * without frame pointers: `prog_chain seconds [depth]` spends its CPU in
 * chain_f3, called as main -> chain_f1 -> chain_f2 -> chain_f3, or with
 * depth > 0 under that many frames of chain_deep recursion first
 * (main -> chain_deep x depth -> chain_f1 -> chain_f2 -> chain_f3).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t chain_f1(double until);
uint64_t chain_f2(double until);
uint64_t chain_f3(double until);
uint64_t chain_deep(int n, double until);

/* the leaf: pure computation between rare clock reads */
__attribute__((noinline)) uint64_t chain_f3(double until)
{
	uint64_t x = 88172645463325252ull;

	while (now() < until)
		for (int i = 0; i < 200000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			__asm__ volatile("" : "+r"(x));
		}
	return x;
}

__attribute__((noinline)) uint64_t chain_f2(double until)
{
	uint64_t r = chain_f3(until);

	__asm__ volatile("" : "+r"(r));	/* no tail call */
	return r + 2;
}

__attribute__((noinline)) uint64_t chain_f1(double until)
{
	uint64_t r = chain_f2(until);

	__asm__ volatile("" : "+r"(r));
	return r + 1;
}

__attribute__((noinline)) uint64_t chain_deep(int n, double until)
{
	uint64_t r = n > 0 ? chain_deep(n - 1, until) : chain_f1(until);

	__asm__ volatile("" : "+r"(r));
	return r ^ (uint64_t)n;
}

int main(int argc, char **argv)
{
	double secs = argc > 1 ? strtod(argv[1], NULL) : 2;
	int depth = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 0;
	uint64_t r;

	r = depth > 0 ? chain_deep(depth, now() + secs) : chain_f1(now() + secs);
	printf("chain done %llu\n", (unsigned long long)(r & 1));
	return 0;
}
