/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dlo_lib.c - a shared object that the dlopen/dlclose stress test loads,
 * runs (so that samples land in it) and unloads, hundreds of times.
 */
#include <stdint.h>
#include <time.h>

uint64_t dlo_spin(unsigned usec);

uint64_t dlo_spin(unsigned usec)
{
	struct timespec t0, t;
	uint64_t x = 12345;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 1000; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
		}
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) * 1000000 + (t.tv_nsec - t0.tv_nsec) / 1000 < usec);
	return x;
}
