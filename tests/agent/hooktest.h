/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hooktest.h - what heap_test.c and lock_test.c share: an agent_stack_fn
 * that sums the values of the stacks whose first frame lies in a given
 * function (found by its ELF symbol size, so the function must be global and
 * the test linked with exported symbols), to check attribution and figures.
 */
#ifndef KL_TESTS_AGENT_HOOKTEST_H
#define KL_TESTS_AGENT_HOOKTEST_H

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>

/* Whether pc lies inside function fn. */
static inline bool hooktest_in_func(uintptr_t pc, void *fn)
{
	Dl_info info;
	const ElfW(Sym) *sym = NULL;

	if (!dladdr1(fn, &info, (void **)&sym, RTLD_DL_SYMENT) || !sym)
		return false;
	return pc >= (uintptr_t)fn && pc < (uintptr_t)fn + sym->st_size;
}

struct tally {
	void *fn;		/* count the stacks starting in fn; NULL: every stack */
	int entries;		/* stacks counted */
	int elsewhere;		/* stacks starting somewhere else */
	int64_t v[2];		/* their summed values */
};

static inline void tally_fn(void *ctx, uint32_t labelset, const uintptr_t *pcs, uint32_t n,
			    const int64_t *values)
{
	struct tally *t = ctx;

	if (t->fn && (n == 0 || !hooktest_in_func(pcs[0], t->fn))) {
		t->elsewhere++;
		return;
	}
	t->entries++;
	t->v[0] += values[0];
	t->v[1] += values[1];
}

#endif /* KL_TESTS_AGENT_HOOKTEST_H */
