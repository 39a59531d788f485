/* SPDX-License-Identifier: Apache-2.0 */
/*
 * burn.h - CPU work of a known amount for the agent's test programs
 * (prog_tags, prog_fork): measured in the thread's CPU time, not wall
 * time, so that a busy machine changes how long it takes but not how many
 * CPU samples it earns.
 */
#ifndef KL_TESTS_AGENT_BURN_H
#define KL_TESTS_AGENT_BURN_H

#include <time.h>

static volatile double burn_sink;

static inline double burn_cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Burns seconds of the calling thread's CPU time. */
static inline __attribute__((always_inline)) void burn(double seconds)
{
	double end = burn_cpu_now() + seconds;

	while (burn_cpu_now() < end) {
		for (int i = 0; i < 2000; i++)
			burn_sink += i * 0.5;
	}
}

#endif /* KL_TESTS_AGENT_BURN_H */
