/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prog_lock.c - threads contending on a mutex (pthread_mutex_lock and
 * pthread_mutex_timedlock) and on a rwlock (rdlock, wrlock), each waiter
 * timing its own lock calls with CLOCK_MONOTONIC. Prints the measured wait
 * per waiting function ("wait <function> <ns> <calls>") so a lock profile
 * can be checked against it. "prog_lock uncontended" takes one mutex in one
 * thread only: a lock profile of it must be empty.
 * Usage: prog_lock [contended|uncontended] [iterations per thread]
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { F_MUTEX, F_TIMED, F_READER, F_WRITER, NF };

static const char *const fnames[NF] = {"mutex_worker", "timed_worker", "rw_reader", "rw_writer"};
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t stats_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
static int64_t waited[NF];
static long calls[NF];
static int iters = 1500;

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Busy work for about us microseconds (the lock is held, or not, meanwhile). */
static void spin_us(int us)
{
	int64_t end = now_ns() + us * 1000;

	while (now_ns() < end)
		;
}

static void add_stats(int f, int64_t w, long n)
{
	/* trylock loop: these must not show up as contention of the program's own */
	while (pthread_mutex_trylock(&stats_mu) != 0)
		;
	waited[f] += w;
	calls[f] += n;
	pthread_mutex_unlock(&stats_mu);
}

/* The lock calls, one function each: they are the waiters' frames in a profile. */
__attribute__((noinline)) static void mutex_worker(void)
{
	pthread_mutex_lock(&mu);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void timed_worker(void)
{
	struct timespec dl;

	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_sec += 10;
	if (pthread_mutex_timedlock(&mu, &dl) != 0)
		abort();
}

__attribute__((noinline)) static void rw_reader(void)
{
	pthread_rwlock_rdlock(&rw);
	__asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) static void rw_writer(void)
{
	pthread_rwlock_wrlock(&rw);
	__asm__ volatile("" ::: "memory");
}

static void mutex_unlock(void)
{
	pthread_mutex_unlock(&mu);
}

static void rw_unlock(void)
{
	pthread_rwlock_unlock(&rw);
}

struct kind {
	int f;			/* index in fnames */
	void (*lock)(void), (*unlock)(void);
	int hold_us, gap_us;	/* busy time with the lock, then without */
};

static const struct kind kinds[NF] = {
	[F_MUTEX] = {F_MUTEX, mutex_worker, mutex_unlock, 20, 5},
	[F_TIMED] = {F_TIMED, timed_worker, mutex_unlock, 20, 5},
	[F_READER] = {F_READER, rw_reader, rw_unlock, 10, 10},
	[F_WRITER] = {F_WRITER, rw_writer, rw_unlock, 20, 10},
};

/* A thread: iters rounds of lock (timed), hold, unlock, pause. */
static void *worker(void *arg)
{
	const struct kind *k = arg;
	int64_t w = 0;

	for (int i = 0; i < iters; i++) {
		int64_t t0 = now_ns();

		k->lock();
		w += now_ns() - t0;
		spin_us(k->hold_us);
		k->unlock();
		spin_us(k->gap_us);
	}
	add_stats(k->f, w, iters);
	return NULL;
}

static void run(const int *fs, int n)
{
	pthread_t t[8];

	for (int i = 0; i < n; i++)
		if (pthread_create(&t[i], NULL, worker, (void *)&kinds[fs[i]]) != 0)
			abort();
	for (int i = 0; i < n; i++)
		pthread_join(t[i], NULL);
}

__attribute__((noinline)) static void uncontended(void)
{
	for (int i = 0; i < iters * 100; i++) {
		pthread_mutex_lock(&mu);
		pthread_mutex_unlock(&mu);
		pthread_rwlock_wrlock(&rw);
		pthread_rwlock_unlock(&rw);
		pthread_rwlock_rdlock(&rw);
		pthread_rwlock_unlock(&rw);
	}
}

int main(int argc, char **argv)
{
	static const int phase1[] = {F_MUTEX, F_MUTEX, F_TIMED};
	static const int phase2[] = {F_READER, F_READER, F_WRITER, F_WRITER};
	int64_t total = 0, t0;
	long ncalls = 0;

	if (argc > 2)
		iters = (int)strtol(argv[2], NULL, 10);
	if (iters < 1)
		iters = 1;
	t0 = now_ns();
	if (argc > 1 && strcmp(argv[1], "uncontended") == 0) {
		struct timespec c0, c1;

		/* thread CPU time: a busy machine disturbs it far less than the clock */
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
		uncontended();
		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
		/* three lock/unlock pairs per round */
		printf("uncontended %d ns_per_pair %.2f\n", iters * 100,
		       ((double)(c1.tv_sec - c0.tv_sec) * 1e9 + (double)(c1.tv_nsec - c0.tv_nsec)) /
			       (iters * 300.0));
		return 0;
	}
	run(phase1, 3);
	run(phase2, 4);
	printf("elapsed %.3f\n", (double)(now_ns() - t0) / 1e9);
	for (int f = 0; f < NF; f++) {
		printf("wait %s %lld %ld\n", fnames[f], (long long)waited[f], calls[f]);
		total += waited[f];
		ncalls += calls[f];
	}
	printf("wait total %lld %ld\n", (long long)total, ncalls);
	return 0;
}
