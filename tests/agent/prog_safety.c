/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prog_safety.c - host behaviours the agent must survive, one per mode, run
 * under LD_PRELOAD=libkiln.so by tests/cli/t6002-agent-safety.sh. Each mode
 * exits 0 when the host saw what it expects (exit-thread exits 7):
 *   churn N        N short threads in batches; POSIX timers return to the start count
 *   dlopen LIB N   dlopen, run, dlclose LIB N times while CPU-busy threads run
 *   exit-thread    exit(7) from a non-main thread while others spin
 *   fork N         N forks; children compute, spawn a thread, exec /bin/true or exit 0
 *   sigprof        installs its own SIGPROF handler + ITIMER_PROF and counts hits
 *   deep N         recursion N deep, then spin (stacks truncate, nothing crashes)
 *   sleep          blocking sleeps and reads keep working under wall signals (EINTR retried)
 */
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "proc_timers.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

uint64_t safety_spin(unsigned iters);

__attribute__((noinline)) uint64_t safety_spin(unsigned iters)
{
	uint64_t x = 88172645463325252ull + iters;

	for (unsigned i = 0; i < iters; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		__asm__ volatile("" : "+r"(x));
	}
	return x;
}

static void *short_thread(void *arg)
{
	return (void *)(uintptr_t)safety_spin(20000);
}

static int mode_churn(int n)
{
	int before, after, tries = 0;

	usleep(300000);	/* the agent's own threads settle first */
	before = proc_timers_count();
	for (int done = 0; done < n; done += 50) {
		pthread_t t[50];
		int k = n - done < 50 ? n - done : 50;

		for (int i = 0; i < k; i++)
			if (pthread_create(&t[i], NULL, short_thread, NULL) != 0)
				return 2;
		for (int i = 0; i < k; i++)
			pthread_join(t[i], NULL);
	}
	/* a joined thread's key destructor has run: its timer is gone */
	while ((after = proc_timers_count()) != before && tries++ < 100)
		usleep(10000);
	printf("churn threads=%d timers_before=%d timers_after=%d\n", n, before, after);
	return after == before ? 0 : 1;
}

static volatile int stop_spinners;

static void *spinner(void *arg)
{
	while (!stop_spinners)
		safety_spin(100000);
	return NULL;
}

static int mode_dlopen(const char *lib, int n)
{
	pthread_t t[2];
	int unloaded = 0;

	for (int i = 0; i < 2; i++)
		pthread_create(&t[i], NULL, spinner, NULL);
	for (int i = 0; i < n; i++) {
		void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
		uint64_t (*fn)(unsigned);
		Dl_info di;

		if (!h) {
			fprintf(stderr, "dlopen: %s\n", dlerror());
			return 2;
		}
		fn = (uint64_t (*)(unsigned))dlsym(h, "dlo_spin");
		if (!fn)
			return 2;
		fn(500);
		if (dlclose(h) != 0)
			return 3;
		unloaded += dladdr((void *)fn, &di) == 0;
	}
	stop_spinners = 1;
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	printf("dlopen loops=%d unloaded=%d\n", n, unloaded);
	return unloaded > n * 9 / 10 ? 0 : 1;
}

static void *exiter(void *arg)
{
	usleep(300000);
	exit(7);
}

static int mode_exit_thread(void)
{
	pthread_t t;

	for (int i = 0; i < 3; i++)
		pthread_create(&t, NULL, spinner, NULL);
	pthread_create(&t, NULL, exiter, NULL);
	spinner(NULL);
	return 1;
}

static int mode_fork(int n)
{
	for (int i = 0; i < n; i++) {
		pid_t pid;
		int st;

		safety_spin(2000000);
		pid = fork();
		if (pid < 0)
			return 2;
		if (pid == 0) {
			pthread_t t;

			safety_spin(5000000);
			if (pthread_create(&t, NULL, short_thread, NULL) != 0)
				_exit(3);
			pthread_join(t, NULL);
			if (i % 2)
				execl("/bin/true", "true", (char *)NULL);
			exit(0);	/* atexit handlers of the agent run in the child too */
		}
		if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "fork child %d: status %#x\n", i, st);
			return 1;
		}
	}
	printf("fork children=%d ok\n", n);
	return 0;
}

static volatile sig_atomic_t hits;

static void on_prof(int sig)
{
	hits++;
}

static int mode_sigprof(void)
{
	struct sigaction sa = {0};
	struct itimerval it = {{0, 5000}, {0, 5000}};
	double end;

	sa.sa_handler = on_prof;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGPROF, &sa, NULL) != 0)
		return 2;
	setitimer(ITIMER_PROF, &it, NULL);
	/* 0.5 s of CPU (ITIMER_PROF counts CPU time), at most 30 s on a busy machine */
	end = now() + 30;
	while (now() < end && cpu_now() < 0.5)
		safety_spin(100000);
	memset(&it, 0, sizeof(it));
	setitimer(ITIMER_PROF, &it, NULL);
	printf("sigprof host_hits=%d\n", (int)hits);
	return hits > 20 ? 0 : 1;
}

uint64_t safety_deep(int n);

__attribute__((noinline)) uint64_t safety_deep(int n)
{
	uint64_t r;
	double end;

	if (n > 0) {
		r = safety_deep(n - 1);
		__asm__ volatile("" : "+r"(r));
		return r ^ (uint64_t)n;
	}
	end = now() + 1.0;
	r = 0;
	while (now() < end)
		r += safety_spin(100000);
	return r;
}

static int mode_sleep(void)
{
	int fds[2], interrupted = 0;
	double t0 = now();
	char c;

	if (pipe(fds) != 0)
		return 2;
	for (int i = 0; i < 50; i++) {
		struct timespec ts = {0, 10000000}, rem;

		while (nanosleep(&ts, &rem) != 0 && errno == EINTR) {
			interrupted++;
			ts = rem;
		}
	}
	if (write(fds[1], "x", 1) != 1 || read(fds[0], &c, 1) != 1 || c != 'x')
		return 3;
	printf("sleep elapsed=%.2f interrupted=%d\n", now() - t0, interrupted);
	return now() - t0 >= 0.5 ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	int n = argc > 2 ? (int)strtol(argv[argc - 1], NULL, 10) : 0;

	if (strcmp(mode, "churn") == 0)
		return mode_churn(n > 0 ? n : 2000);
	if (strcmp(mode, "dlopen") == 0 && argc > 3)
		return mode_dlopen(argv[2], n);
	if (strcmp(mode, "exit-thread") == 0)
		return mode_exit_thread();
	if (strcmp(mode, "fork") == 0)
		return mode_fork(n > 0 ? n : 10);
	if (strcmp(mode, "sigprof") == 0)
		return mode_sigprof();
	if (strcmp(mode, "deep") == 0)
		return safety_deep(n > 0 ? n : 5000) == 42 ? 1 : 0;
	if (strcmp(mode, "sleep") == 0)
		return mode_sleep();
	fprintf(stderr, "usage: prog_safety churn N|dlopen LIB N|exit-thread|fork N|sigprof|"
		"deep N|sleep\n");
	return 2;
}
