/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prog_heap.c - a malloc-heavy program whose live and allocated bytes per
 * allocating function are known exactly; it prints them ("truth" lines) on
 * stdout before exiting with everything live still allocated, so an agent
 * writing its heap profile at exit must report those figures. Covers
 * allocations before main (a constructor), mixed sizes from one call site,
 * realloc moves, calloc, the aligned family, and churn (allocated, freed).
 * Usage: prog_heap [scale 1..8] [fork]  (scale 1: about 98 MiB live, 320 MiB
 * allocated); with "fork" a child allocates, reallocates and frees with the
 * hooks active and must exit 0 ("fork child ok").
 */
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define NFUNCS 7

static const char *const names[NFUNCS] = {
	"premain_alloc", "mixed_alloc", "big_alloc", "grow_alloc", "churn_alloc",
	"zeroed_alloc", "aligned_alloc_fn",
};
static uint64_t live[NFUNCS], total[NFUNCS];
/* a static array: the bookkeeping must not allocate (it would count as live) */
#define MAXKEEP (1 << 18)
static void *keep[MAXKEEP];
static size_t nkeep;
static int scale = 1;

static void keep_ptr(void *p)
{
	if (nkeep == MAXKEEP)
		abort();
	keep[nkeep++] = p;
}

static void touch(void *p, size_t n)
{
	if (!p)
		abort();
	/* first and last byte: the pages are not all faulted in (fast), the block is used */
	((volatile char *)p)[0] = 1;
	((volatile char *)p)[n - 1] = 1;
}

/* 1024 x 8 KiB live before main */
__attribute__((noinline)) static void premain_alloc(void)
{
	for (int i = 0; i < 1024; i++) {
		void *p = malloc(8192);

		touch(p, 8192);
		keep_ptr(p);
		live[0] += 8192;
		total[0] += 8192;
	}
}

__attribute__((constructor)) static void before_main(void)
{
	premain_alloc();
}

/* one call site, mixed sizes: 32 B .. 16 KiB; one in four freed at once */
__attribute__((noinline)) static void mixed_alloc(int n)
{
	static const size_t sizes[] = {32, 200, 1000, 4000, 16000, 64, 2500};

	for (int i = 0; i < n; i++) {
		size_t s = sizes[i % 7];
		void *p = malloc(s);

		touch(p, s);
		total[1] += s;
		if (i % 4 == 0) {
			free(p);
			continue;
		}
		keep_ptr(p);
		live[1] += s;
	}
}

/* large blocks: sampled with p close to 1, so their figures are nearly exact */
__attribute__((noinline)) static void big_alloc(int n)
{
	for (int i = 0; i < n; i++) {
		size_t s = 512 * 1024 + (size_t)i * 16384;
		void *p = malloc(s);

		touch(p, s);
		keep_ptr(p);
		live[2] += s;
		total[2] += s;
	}
}

/* 1 KiB blocks grown to 8 KiB: realloc moves them; live bytes belong here */
__attribute__((noinline)) static void grow_alloc(int n)
{
	for (int i = 0; i < n; i++) {
		char *p = malloc(1024);
		char *spacer;

		touch(p, 1024);
		total[3] += 1024;
		/* a neighbour so that the block cannot grow in place */
		spacer = malloc(16);
		touch(spacer, 16);
		total[3] += 16;
		p = realloc(p, 8192);
		touch(p, 8192);
		total[3] += 8192;
		keep_ptr(p);
		keep_ptr(spacer);
		live[3] += 8192 + 16;
	}
}

static uint64_t churn_total(int n)
{
	uint64_t t = 0;

	for (int i = 0; i < n; i++)
		t += 64 + (uint64_t)(i % 16) * 60;
	return t;
}

/* allocated and freed at once: counts in alloc_space only */
__attribute__((noinline)) static void churn_alloc(int n)
{
	for (int i = 0; i < n; i++) {
		size_t s = 64 + (size_t)(i % 16) * 60;
		void *p = malloc(s);

		touch(p, s);
		total[4] += s;
		free(p);
	}
}

__attribute__((noinline)) static void zeroed_alloc(int n)
{
	for (int i = 0; i < n; i++) {
		void *p = calloc(64, 50);

		touch(p, 3200);
		keep_ptr(p);
		live[5] += 3200;
		total[5] += 3200;
	}
}

__attribute__((noinline)) static void aligned_alloc_fn(int n)
{
	for (int i = 0; i < n; i++) {
		void *p = NULL, *q;

		if (posix_memalign(&p, 64, 5000) != 0)
			abort();
		q = aligned_alloc(4096, 4096);
		touch(p, 5000);
		touch(q, 4096);
		keep_ptr(p);
		keep_ptr(q);
		live[6] += 5000 + 4096;
		total[6] += 5000 + 4096;
	}
}

static pthread_mutex_t child_mu = PTHREAD_MUTEX_INITIALIZER;

/* The child inherits the hooks (and the parent's sampled pointers): it must just work. */
static void fork_child(void)
{
	int status = -1;
	pid_t pid;

	fflush(stdout);
	pid = fork();

	if (pid < 0)
		abort();
	if (pid == 0) {
		char *p = NULL;

		churn_alloc(100000);
		/* free some of the parent's blocks, sampled ones among them */
		for (size_t i = 0; i < nkeep; i += 2)
			free(keep[i]);
		for (int i = 0; i < 1000; i++) {
			p = realloc(p, (size_t)(i + 1) * 64);
			if (!p)
				_exit(3);
		}
		free(p);
		/* and the lock hooks, when lock profiling is on too */
		for (int i = 0; i < 1000; i++) {
			pthread_mutex_lock(&child_mu);
			pthread_mutex_unlock(&child_mu);
		}
		exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fprintf(stderr, "fork child failed: status %d\n", status);
		exit(1);
	}
	/* the child's churn is not the parent's: take it back out of the truth */
	total[4] -= churn_total(100000);
	printf("fork child ok\n");
}

int main(int argc, char **argv)
{
	uint64_t sum_live = 0, sum_total = 0;

	if (argc > 1)
		scale = (int)strtol(argv[1], NULL, 10);
	if (scale < 1 || scale > 8)
		scale = 1;
	mixed_alloc(16000 * scale);
	big_alloc(24 * scale);
	grow_alloc(2000 * scale);
	churn_alloc(400000 * scale);
	zeroed_alloc(3000 * scale);
	aligned_alloc_fn(1000 * scale);
	if (argc > 2 && strcmp(argv[2], "fork") == 0)
		fork_child();
	for (int i = 0; i < NFUNCS; i++) {
		printf("live %s %llu\n", names[i], (unsigned long long)live[i]);
		printf("alloc %s %llu\n", names[i], (unsigned long long)total[i]);
		sum_live += live[i];
		sum_total += total[i];
	}
	printf("live total %llu\nalloc total %llu\n", (unsigned long long)sum_live,
	       (unsigned long long)sum_total);
	fflush(stdout);
	/* everything kept stays live through exit, where the agent writes its profile */
	return 0;
}
