/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unwind_chain.h - the two builds of unwind_chain.c (nofp_*: without frame
 * pointers, fp_*: with them) and the flags they share with unwind_test.c.
 */
#ifndef KL_UNWIND_CHAIN_H
#define KL_UNWIND_CHAIN_H

#include <stdint.h>

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

#endif /* KL_UNWIND_CHAIN_H */
