/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prog_stacks.c - a program with many distinct stacks, for the agent's
 * memory benchmark (bench/agent_rss.sh): `prog_stacks [depth] [seconds]
 * [paths]` walks the first paths (default all) of a binary call tree of
 * the given depth (default 14, so 16,384 leaves, each reached through a
 * different chain of go_left / go_right calls), spinning and allocating a
 * little at each leaf, until seconds (default 4) have passed: paths is the
 * number of distinct stacks (10000 for the 10k). It prints its peak
 * and current resident memory at the end of main and, as a destructor,
 * after exit handlers (a preloaded agent's last build and files) have run:
 * "rss run_hwm_kb=... rss_kb=... leaves=..." then "exit hwm_kb=...".
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static volatile uint64_t sink;
static volatile unsigned turns[2];
static bool in_main;	/* the destructor reports only after main returned */	/* distinct bodies: identical code folding would merge them */

static void walk(unsigned depth, unsigned path);

static __attribute__((noinline)) void go_left(unsigned depth, unsigned path)
{
	turns[0]++;
	walk(depth, path);
	__asm__ volatile("" ::: "memory");	/* not a tail call: keep this frame */
}

static __attribute__((noinline)) void go_right(unsigned depth, unsigned path)
{
	turns[1] += 2;
	walk(depth, path);
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void leaf(unsigned path)
{
	char *p = malloc(64 + (path & 63));
	uint64_t x = path;

	for (int i = 0; i < 2000; i++)
		x = x * 6364136223846793005ull + 1442695040888963407ull;
	if (p) {
		memset(p, (int)(x & 0xff), 8);
		sink += (uint64_t)p[3];
	}
	free(p);
	sink += x;
}

static __attribute__((noinline)) void walk(unsigned depth, unsigned path)
{
	if (!depth) {
		leaf(path);
		return;
	}
	if (path & 1)
		go_right(depth - 1, path >> 1);
	else
		go_left(depth - 1, path >> 1);
	__asm__ volatile("" ::: "memory");
}

static long status_kb(const char *key)
{
	char line[256];
	long v = -1;
	size_t klen = strlen(key);
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, klen))
			v = strtol(line + klen, NULL, 10);
	fclose(f);
	return v;
}

int main(int argc, char **argv)
{
	unsigned depth = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 14;
	double seconds = argc > 2 ? strtod(argv[2], NULL) : 4;
	struct timespec t0, t;
	unsigned long leaves = 0;
	unsigned paths;

	if (depth > 20)
		depth = 20;
	paths = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 10) : 1u << depth;
	if (paths == 0 || paths > 1u << depth)
		paths = 1u << depth;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (unsigned path = 0; path < paths; path++, leaves++)
			walk(depth, path);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((double)(t.tv_sec - t0.tv_sec) + (double)(t.tv_nsec - t0.tv_nsec) / 1e9 < seconds);
	printf("rss run_hwm_kb=%ld rss_kb=%ld leaves=%lu\n", status_kb("VmHWM:"),
	       status_kb("VmRSS:"), leaves);
	fflush(stdout);
	in_main = true;
	return 0;
}

/* Runs after atexit handlers (the executable's destructors come from _dl_fini). */
__attribute__((destructor)) static void report_exit(void)
{
	if (in_main)
		dprintf(1, "exit hwm_kb=%ld\n", status_kb("VmHWM:"));
}
