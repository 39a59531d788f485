/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unwind_chain.h - the two builds of unwind_chain.c (nofp_*: without frame
 * pointers, fp_*: with them), the flags they share with the tests that
 * link them (unwind_test.c, uwcache_test.c; each defines the flags), and
 * how those tests interrupt a chain in its leaf.
 */
#ifndef KL_UNWIND_CHAIN_H
#define KL_UNWIND_CHAIN_H

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>

/* ready: the leaf f3 spins now; stop: set (by the signal handler) to end the spin */
extern volatile int unwind_chain_ready, unwind_chain_stop;

#define UNWIND_CHAIN_DECL(p)                                                   \
	extern uintptr_t p##_ra[3];                                            \
	int p##_f1(int x);                                                     \
	int p##_f2(int x);                                                     \
	int p##_f3(int x);                                                     \
	int p##_h1(int (*fn)(void *), void *arg);                              \
	int p##_h2(int (*fn)(void *), void *arg);                              \
	int p##_h3(int (*fn)(void *), void *arg);                              \
	int p##_deep(int n, int x);

UNWIND_CHAIN_DECL(nofp)
UNWIND_CHAIN_DECL(fp)

/* Sends SIGUSR2 to the thread *arg once the leaf spins. */
static inline void *unwind_chain_kicker(void *arg)
{
	while (!unwind_chain_ready)
		sched_yield();
	pthread_kill(*(pthread_t *)arg, SIGUSR2);
	return NULL;
}

/*
 * Installs handler for SIGUSR2 (SA_SIGINFO), then runs deep(depth, 1), or
 * fn(1) when deep is NULL, on the calling thread while another thread
 * signals it in the spinning leaf; handler must set unwind_chain_stop, or
 * the leaf never returns. Returns 0 once the chain returned, or a negative
 * errno before it ran.
 */
static inline int unwind_chain_interrupt(void (*handler)(int, siginfo_t *, void *),
					 int (*fn)(int), int (*deep)(int, int), int depth)
{
	struct sigaction sa = { 0 };
	pthread_t self = pthread_self(), k;
	int rc;

	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGUSR2, &sa, NULL))
		return -errno;
	unwind_chain_stop = 0;
	unwind_chain_ready = 0;
	rc = pthread_create(&k, NULL, unwind_chain_kicker, &self);
	if (rc)
		return -rc;
	if (deep)
		deep(depth, 1);
	else
		fn(1);
	pthread_join(k, NULL);
	return 0;
}

#endif /* KL_UNWIND_CHAIN_H */
