/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lock.c - pthread mutex and rwlock contention, interposed. A hook tries the
 * lock first: when that succeeds (uncontended) it returns at once, so the
 * only cost is one call; when it fails it times the real blocking call with
 * CLOCK_MONOTONIC (vDSO) and records [1, wait ns] with the waiter's stack
 * into agent_lock_buf. Every contended wait is recorded (no sampling), so
 * the totals are exact rather than estimated.
 *
 * The real functions are glibc's own exported aliases (__pthread_mutex_lock
 * and friends, bound by symbol version below), so no dlsym is needed and the
 * hooks work before any constructor has run.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <time.h>

#include "agent.h"
#include "core/base.h"
#include "unwind.h"

#define LOCK_API __attribute__((visibility("default")))
#define LOCK_RET __builtin_return_address(0)
#define LOCK_COLD __attribute__((noinline, cold))

/* glibc's aliases of the functions we interpose (compat versions, same code) */
int lock_glibc_mutex_lock(pthread_mutex_t *m);
int lock_glibc_rdlock(pthread_rwlock_t *l);
int lock_glibc_wrlock(pthread_rwlock_t *l);
__asm__(".symver lock_glibc_mutex_lock, __pthread_mutex_lock@GLIBC_2.2.5");
__asm__(".symver lock_glibc_rdlock, __pthread_rwlock_rdlock@GLIBC_2.2.5");
__asm__(".symver lock_glibc_wrlock, __pthread_rwlock_wrlock@GLIBC_2.2.5");

struct agent_profbuf *agent_lock_buf;

static _Atomic int lock_on;
static _Atomic int lock_inflight;
static _Atomic uint64_t lock_nsamples;
static int lock_max_frames = 128;
static bool lock_follow_fork;
static pthread_once_t lock_atfork_once = PTHREAD_ONCE_INIT;

static void lock_atfork_child(void)
{
	atomic_store(&lock_inflight, 0);
	/* a child that is not profiled records nothing */
	if (!lock_follow_fork)
		atomic_store(&lock_on, 0);
}

static void lock_register_atfork(void)
{
	pthread_atfork(NULL, NULL, lock_atfork_child);
}

static inline bool lock_active(void)
{
	return __builtin_expect(atomic_load_explicit(&lock_on, memory_order_acquire), 0) &&
	       agent_self.in_agent == 0;
}

static inline int64_t lock_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * Records one contended wait of ns nanoseconds, stack from the hook's caller
 * (ret). Inlined into the slow paths: one agent frame less to unwind.
 */
static inline __attribute__((always_inline)) void lock_record(int64_t ns, void *ret)
{
	uintptr_t pcs[AGENT_MAX_FRAMES_LIMIT];
	int64_t v[2] = {1, ns < 0 ? 0 : ns};
	int n, i;

	atomic_fetch_add(&lock_inflight, 1);
	if (!atomic_load(&lock_on))
		goto out;
	agent_self.in_agent++;
	/* known stack bounds spare the unwinder a probe syscall per page (once per thread) */
	if (__builtin_expect(!agent_stack_bounds.tried, 0))
		agent_unwind_thread_init_nolock();
	n = agent_unwind_here(pcs, lock_max_frames, 0);
	/* drop the agent's frames: start at the call site in the hook's caller */
	for (i = 0; i < n && pcs[i] != (uintptr_t)ret - 1; i++)
		;
	if (i == n)
		i = 0;
	if (n - i > 0 &&
	    agent_profbuf_add(agent_lock_buf, agent_labelset_current(), pcs + i,
			      (uint32_t)(n - i), v) == 0)
		atomic_fetch_add_explicit(&lock_nsamples, 1, memory_order_relaxed);
	agent_self.in_agent--;
out:
	atomic_fetch_sub(&lock_inflight, 1);
}

int agent_lock_start(const struct agent_config *c)
{
	int err = 0;

	if (atomic_load(&lock_on))
		return -KILN_EALREADY;
	agent_self.in_agent++;
	/* the unwinder needs the module list even when the sampler is off */
	err = agent_modules_refresh();
	if (err)
		goto out;
	agent_profbuf_free(agent_lock_buf);
	agent_lock_buf = agent_profbuf_new(c->max_stacks, c->max_frames, 2);
	if (!agent_lock_buf) {
		err = -ENOMEM;
		goto out;
	}
	lock_max_frames = (int)KL_MIN(KL_MAX(c->max_frames, 1u), AGENT_MAX_FRAMES_LIMIT);
	lock_follow_fork = c->follow_fork;
	pthread_once(&lock_atfork_once, lock_register_atfork);
	atomic_store(&lock_nsamples, 0);
	atomic_store_explicit(&lock_on, 1, memory_order_release);
out:
	agent_self.in_agent--;
	return err;
}

void agent_lock_stop(void)
{
	atomic_store(&lock_on, 0);
	while (atomic_load(&lock_inflight) > 0)
		sched_yield();
	agent_self.in_agent++;
	agent_profbuf_free(agent_lock_buf);
	agent_lock_buf = NULL;
	agent_self.in_agent--;
}

uint64_t agent_lock_samples(void)
{
	return atomic_load_explicit(&lock_nsamples, memory_order_relaxed);
}

/* ---- the interposed functions --------------------------------------------------- */

/*
 * The contended path of every hook, in its own function so that the hook
 * itself stays a branch and a tail call: try first, and wait, timed and
 * recorded, only for a busy lock. REAL is the blocking call, TRY the
 * non-blocking one; anything but EBUSY from TRY (0, EOWNERDEAD, EAGAIN ...)
 * is already the answer.
 */
#define LOCK_SLOW_BODY(REAL, TRY, RET)                                  \
	do {                                                            \
		int64_t t0;                                             \
		int r = TRY;                                            \
									\
		if (__builtin_expect(r != EBUSY, 1))                    \
			return r;                                       \
		t0 = lock_now();                                        \
		r = REAL;                                               \
		lock_record(lock_now() - t0, RET);                      \
		return r;                                               \
	} while (0)

static LOCK_COLD int lock_mutex_slow(pthread_mutex_t *m, void *ret)
{
	LOCK_SLOW_BODY(lock_glibc_mutex_lock(m), pthread_mutex_trylock(m), ret);
}

/* pthread_mutex_timedlock is pthread_mutex_clocklock on CLOCK_REALTIME */
static LOCK_COLD int lock_timed_slow(pthread_mutex_t *m, const struct timespec *abstime,
				     void *ret)
{
	LOCK_SLOW_BODY(pthread_mutex_clocklock(m, CLOCK_REALTIME, abstime),
		       pthread_mutex_trylock(m), ret);
}

static LOCK_COLD int lock_rd_slow(pthread_rwlock_t *l, void *ret)
{
	LOCK_SLOW_BODY(lock_glibc_rdlock(l), pthread_rwlock_tryrdlock(l), ret);
}

static LOCK_COLD int lock_wr_slow(pthread_rwlock_t *l, void *ret)
{
	LOCK_SLOW_BODY(lock_glibc_wrlock(l), pthread_rwlock_trywrlock(l), ret);
}

LOCK_API int pthread_mutex_lock(pthread_mutex_t *m)
{
	if (__builtin_expect(!lock_active(), 1))
		return lock_glibc_mutex_lock(m);
	return lock_mutex_slow(m, LOCK_RET);
}

LOCK_API int pthread_mutex_timedlock(pthread_mutex_t *m, const struct timespec *abstime)
{
	if (__builtin_expect(!lock_active(), 1))
		return pthread_mutex_clocklock(m, CLOCK_REALTIME, abstime);
	return lock_timed_slow(m, abstime, LOCK_RET);
}

LOCK_API int pthread_rwlock_rdlock(pthread_rwlock_t *l)
{
	if (__builtin_expect(!lock_active(), 1))
		return lock_glibc_rdlock(l);
	return lock_rd_slow(l, LOCK_RET);
}

LOCK_API int pthread_rwlock_wrlock(pthread_rwlock_t *l)
{
	if (__builtin_expect(!lock_active(), 1))
		return lock_glibc_wrlock(l);
	return lock_wr_slow(l, LOCK_RET);
}
