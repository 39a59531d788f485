/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unwind_chain.c - a known call chain f1 -> f2 -> f3 (a true leaf that
 * spins until a signal handler unwound it) and a deep recursion, compiled
 * twice by tests/agent/CMakeLists.txt: CHAIN=nofp with -fomit-frame-pointer,
 * CHAIN=fp with frame pointers. Each function records its own return
 * address so that the test can check the unwound frames without symbols.
 */
#include <stdint.h>

#include "unwind_chain.h"

#define CAT2(a, b) a##_##b
#define CAT(a, b) CAT2(a, b)
#define F(n) CAT(CHAIN, n)
#define RA() ((uintptr_t)__builtin_return_address(0))

uintptr_t F(ra)[3];

/* the leaf: no calls, so no frame of its own without frame pointers */
__attribute__((noinline)) int F(f3)(int x)
{
	F(ra)[2] = RA();
	unwind_chain_ready = 1;
	while (!unwind_chain_stop)
		x = x * 3 + 1;
	unwind_chain_ready = 0;
	return x;
}

__attribute__((noinline)) int F(f2)(int x)
{
	int r;

	F(ra)[1] = RA();
	r = F(f3)(x + 1);
	__asm__ volatile("" : "+r"(r));	/* no tail call */
	return r * 2 + 1;
}

__attribute__((noinline)) int F(f1)(int x)
{
	int r;

	F(ra)[0] = RA();
	r = F(f2)(x ^ 5);
	__asm__ volatile("" : "+r"(r));
	return r * 7 + 3;
}

/* like f3, but unwinds itself with agent_unwind_here-style callback */
__attribute__((noinline)) int F(h3)(int (*fn)(void *), void *arg)
{
	int r;

	F(ra)[2] = RA();
	r = fn(arg);
	__asm__ volatile("" : "+r"(r));
	return r + 1;
}

__attribute__((noinline)) int F(h2)(int (*fn)(void *), void *arg)
{
	int r;

	F(ra)[1] = RA();
	r = F(h3)(fn, arg);
	__asm__ volatile("" : "+r"(r));
	return r + 2;
}

__attribute__((noinline)) int F(h1)(int (*fn)(void *), void *arg)
{
	int r;

	F(ra)[0] = RA();
	r = F(h2)(fn, arg);
	__asm__ volatile("" : "+r"(r));
	return r + 3;
}

/* n frames of recursion, then the spinning leaf */
__attribute__((noinline)) int F(deep)(int n, int x)
{
	int r;

	if (n == 0)
		return F(f3)(x);
	r = F(deep)(n - 1, x + 1);
	__asm__ volatile("" : "+r"(r));
	return r ^ n;
}
