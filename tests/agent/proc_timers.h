/* SPDX-License-Identifier: Apache-2.0 */
/*
 * proc_timers.h - how many POSIX timers the calling process owns, from
 * /proc/self/timers (-1 where the kernel does not provide it); the agent's
 * tests use it to show that per-thread CPU timers do not leak.
 */
#ifndef KL_PROC_TIMERS_H
#define KL_PROC_TIMERS_H

#include <stdio.h>
#include <string.h>

static inline int proc_timers_count(void)
{
	FILE *f = fopen("/proc/self/timers", "r");
	char line[256];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n += strncmp(line, "ID:", 3) == 0;
	fclose(f);
	return n;
}

#endif /* KL_PROC_TIMERS_H */
