/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent_sample_bench.c - what one CPU sample costs the sampled thread:
 * signal delivery alone (an empty handler), and delivery plus the agent's
 * work (DWARF unwinding of a DEPTH-frame stack built without frame pointers
 * and the stack-table insert), per sample, in microseconds of CPU time,
 * with the unwind-rule cache (the agent's default) and without it.
 * bench/agent_cpu.sh builds it against the static agent and turns it into
 * a projected overhead at 100 Hz.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "unwind.h"

static struct agent_profbuf *buf;
static int depth_got;
static double nocache, unwind_only;

static void empty_handler(int sig, siginfo_t *si, void *uc)
{
}

static void agent_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t pcs[128];
	int64_t v[2] = {1, 10000000};
	int n = agent_unwind_signal(uc, pcs, 128);

	depth_got = n;
	agent_profbuf_add(buf, 0, pcs, (uint32_t)n, v);
}

static void unwind_handler(int sig, siginfo_t *si, void *uc)
{
	uintptr_t pcs[128];

	depth_got = agent_unwind_signal(uc, pcs, 128);
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends itself n signals with handler h installed; CPU seconds per signal. */
static double per_signal(void (*h)(int, siginfo_t *, void *), int n)
{
	struct sigaction sa = {0};
	pid_t pid = getpid(), tid = (pid_t)syscall(SYS_gettid);
	double t0;

	sa.sa_sigaction = h;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGUSR1, &sa, NULL);
	t0 = cpu_now();
	for (int i = 0; i < n; i++)
		syscall(SYS_tgkill, pid, tid, SIGUSR1);
	return (cpu_now() - t0) / n;
}

double bench_deep(int d, int n, double *empty, double *agent);

__attribute__((noinline)) double bench_deep(int d, int n, double *empty, double *agent)
{
	double r;

	if (d > 0) {
		r = bench_deep(d - 1, n, empty, agent);
		__asm__ volatile("" : "+x"(r));
		return r;
	}
	per_signal(empty_handler, n / 10);	/* warm up */
	per_signal(agent_handler, n / 10);
	*empty = per_signal(empty_handler, n);
	*agent = per_signal(agent_handler, n);
	/* the same without the unwind-rule cache: every frame through the CFI programs */
	unwind_only = per_signal(unwind_handler, n);
	agent_uwcache_enable(false);
	nocache = per_signal(agent_handler, n / 4);
	agent_uwcache_enable(true);
	return *agent;
}

int main(int argc, char **argv)
{
	int depth = argc > 1 ? (int)strtol(argv[1], NULL, 10) : 30;
	int n = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 200000;
	double empty, agent;

	agent_unwind_thread_init();
	if (agent_modules_refresh() != 0 || !(buf = agent_profbuf_new(65536, 128, 2))) {
		fprintf(stderr, "agent_sample_bench: setup failed\n");
		return 1;
	}
	bench_deep(depth, n, &empty, &agent);
	printf("frames unwound per sample: %d\n", depth_got);
	printf("signal delivery alone:     %.2f us\n", empty * 1e6);
	printf("delivery + unwind + add:   %.2f us\n", agent * 1e6);
	printf("agent work per sample:     %.2f us (%.0f ns per frame)\n", (agent - empty) * 1e6,
	       (agent - empty) * 1e9 / depth_got);
	printf("  of which unwinding:      %.2f us (%.0f ns per frame)\n",
	       (unwind_only - empty) * 1e6, (unwind_only - empty) * 1e9 / depth_got);
	printf("  without the rule cache:  %.2f us (%.0f ns per frame)\n", (nocache - empty) * 1e6,
	       (nocache - empty) * 1e9 / depth_got);
	printf("projected CPU overhead at 100 Hz: %.3f %% of a busy thread\n", agent * 100 * 100);
	agent_profbuf_free(buf);
	return 0;
}
