/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lock_test.c - lock contention internals, in-process (the static agent's
 * pthread_mutex_lock interposes this executable's): uncontended locks record
 * nothing; each contended wait is recorded once, with its measured delay and
 * the waiter's function as the first frame; timedlock keeps its timeout
 * answer; the agent's own waits and waits after stop are not recorded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "hooktest.h"

int lock_test_wait_mutex(pthread_mutex_t *m);
int lock_test_wait_rd(pthread_rwlock_t *l);

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_rwlock_t rw = PTHREAD_RWLOCK_INITIALIZER;
/*
 * Set by holder() once it has the lock, and left set: a waiter descheduled
 * past the whole hold would otherwise spin for ever (it hung CI once).
 */
static _Atomic int held;

__attribute__((noinline)) int lock_test_wait_mutex(pthread_mutex_t *m)
{
	int r = pthread_mutex_lock(m);

	__asm__ volatile("" ::: "memory");
	return r;
}

__attribute__((noinline)) int lock_test_wait_rd(pthread_rwlock_t *l)
{
	int r = pthread_rwlock_rdlock(l);

	__asm__ volatile("" ::: "memory");
	return r;
}

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static struct tally drain(void *fn)
{
	struct tally t = {.fn = fn};

	agent_profbuf_drain(agent_lock_buf, tally_fn, &t);
	return t;
}

static void start(void)
{
	struct agent_config c = {0};

	c.max_frames = 64;
	c.max_stacks = 1024;
	agent_lock_stop();
	assert_int_equal(agent_lock_start(&c), 0);
}

/* Holds the mutex (or the rwlock for writing) for ms milliseconds. */
static void *holder(void *arg)
{
	int ms = (int)(intptr_t)arg;
	struct timespec d = {0, (long)(ms > 0 ? ms : -ms) * 1000000};

	if (ms > 0)
		pthread_mutex_lock(&mu);
	else
		pthread_rwlock_wrlock(&rw);
	atomic_store(&held, 1);
	nanosleep(&d, NULL);
	if (ms > 0)
		pthread_mutex_unlock(&mu);
	else
		pthread_rwlock_unlock(&rw);
	return NULL;
}

/* Waits for the lock while holder() keeps it ms ms; returns the measured wait. */
static int64_t contend(int ms, bool rd)
{
	pthread_t t;
	int64_t t0, w;

	atomic_store(&held, 0);
	assert_int_equal(pthread_create(&t, NULL, holder, (void *)(intptr_t)(rd ? -ms : ms)), 0);
	while (!atomic_load(&held))
		sched_yield();
	t0 = now_ns();
	if (rd) {
		assert_int_equal(lock_test_wait_rd(&rw), 0);
		w = now_ns() - t0;
		pthread_rwlock_unlock(&rw);
	} else {
		assert_int_equal(lock_test_wait_mutex(&mu), 0);
		w = now_ns() - t0;
		pthread_mutex_unlock(&mu);
	}
	pthread_join(t, NULL);
	return w;
}

static void test_uncontended_records_nothing(void **state)
{
	struct tally t;

	start();
	for (int i = 0; i < 100000; i++) {
		pthread_mutex_lock(&mu);
		pthread_mutex_unlock(&mu);
		pthread_rwlock_rdlock(&rw);
		pthread_rwlock_unlock(&rw);
		pthread_rwlock_wrlock(&rw);
		pthread_rwlock_unlock(&rw);
	}
	t = drain(lock_test_wait_mutex);
	assert_int_equal(t.entries + t.elsewhere, 0);
	assert_int_equal(agent_lock_samples(), 0);
	agent_lock_stop();
}

static void test_contended_delay(void **state)
{
	int64_t want = 0;
	struct tally t;

	start();
	for (int i = 0; i < 5; i++)
		want += contend(20, false);
	t = drain(lock_test_wait_mutex);
	/* five contentions, all attributed to the waiter (one stack per call site) */
	assert_int_equal(t.elsewhere, 0);
	assert_int_equal(t.v[0], 5);
	assert_in_range(t.v[1], want * 8 / 10, want * 12 / 10);
	/*
	 * The waits were real (a waiter descheduled after it saw the lock held
	 * starts its clock late, so not always the full 20 ms each: CI saw
	 * 90 ms of 100 missed on a loaded machine)
	 */
	assert_true(want >= 5 * 1000000);
	/* rwlock: a reader waiting for a writer */
	want = contend(20, true);
	t = drain(lock_test_wait_rd);
	assert_int_equal(t.v[0], 1);
	assert_in_range(t.v[1], want * 8 / 10, want * 12 / 10);
	agent_lock_stop();
}

static void test_timedlock_times_out(void **state)
{
	pthread_t t;
	struct timespec dl;
	struct tally ty;

	start();
	atomic_store(&held, 0);
	assert_int_equal(pthread_create(&t, NULL, holder, (void *)(intptr_t)100), 0);
	while (!atomic_load(&held))
		sched_yield();
	clock_gettime(CLOCK_REALTIME, &dl);
	dl.tv_nsec += 10000000;
	if (dl.tv_nsec >= 1000000000) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000;
	}
	assert_int_equal(pthread_mutex_timedlock(&mu, &dl), ETIMEDOUT);
	pthread_join(t, NULL);
	/* the 10 ms spent waiting are contention too */
	ty = drain(NULL);
	assert_int_equal(ty.v[0], 1);
	assert_in_range(ty.v[1], 5000000, 95000000);
	agent_lock_stop();
}

static void test_agent_and_stopped_not_recorded(void **state)
{
	struct tally t;
	uint64_t n;

	start();
	agent_self.in_agent++;
	contend(5, false);
	agent_self.in_agent--;
	t = drain(lock_test_wait_mutex);
	assert_int_equal(t.entries + t.elsewhere, 0);
	n = agent_lock_samples();
	agent_lock_stop();
	assert_null(agent_lock_buf);	/* released */
	contend(5, false);
	assert_int_equal(agent_lock_samples(), n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uncontended_records_nothing),
		cmocka_unit_test(test_contended_delay),
		cmocka_unit_test(test_timedlock_times_out),
		cmocka_unit_test(test_agent_and_stopped_not_recorded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
