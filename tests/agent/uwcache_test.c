/* SPDX-License-Identifier: Apache-2.0 */
/*
 * uwcache_test.c - the unwinder's per-PC rule cache changes nothing but the
 * speed: signals land in the known chains of unwind_chain.c (with and
 * without frame pointers) at random recursion depths and frame limits, and
 * every stack is unwound with the cache off, then on (filling), then on
 * again (hitting), also through the signal frame; the three must be equal,
 * frame for frame. Garbage register sets must give the same result both
 * ways too. Invalidation: a rule cached for code of a dlopen'ed object is
 * not used once dlclose has unmapped it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "agent.h"
#include "unwind.h"
#include "unwind_chain.h"

volatile int unwind_chain_ready, unwind_chain_stop;

#define MAXF 256

/* what the handler found: [0] cache off, [1] on (fill), [2] on (hit); here: off, on */
static uintptr_t sig_pcs[3][MAXF], here_pcs[2][MAXF];
static int sig_n[3], here_n[2], want_max;
static uint64_t hits_delta, fills_delta;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	uint64_t h0, f0, h1, f1;

	agent_uwcache_counters(&h0, &f0);
	agent_uwcache_enable(false);
	sig_n[0] = agent_unwind_signal(uc, sig_pcs[0], want_max);
	here_n[0] = agent_unwind_here(here_pcs[0], MAXF, 0);
	agent_uwcache_enable(true);
	sig_n[1] = agent_unwind_signal(uc, sig_pcs[1], want_max);
	sig_n[2] = agent_unwind_signal(uc, sig_pcs[2], want_max);
	here_n[1] = agent_unwind_here(here_pcs[1], MAXF, 0);
	agent_uwcache_counters(&h1, &f1);
	hits_delta += h1 - h0;
	fills_delta += f1 - f0;
	unwind_chain_stop = 1;
}

static void run_interrupted(int (*fn)(int), int (*deep)(int, int), int depth, int max)
{
	want_max = max;
	assert_int_equal(unwind_chain_interrupt(on_signal, fn, deep, depth), 0);
}

static void assert_same(const uintptr_t *a, int na, const uintptr_t *b, int nb)
{
	if (na != nb || memcmp(a, b, (size_t)na * sizeof(*a))) {
		fprintf(stderr, "differ: %d vs %d frames\n", na, nb);
		for (int i = 0; i < na || i < nb; i++)
			fprintf(stderr, "  #%d %#lx %#lx\n", i, i < na ? (unsigned long)a[i] : 0ul,
				i < nb ? (unsigned long)b[i] : 0ul);
	}
	assert_int_equal(na, nb);
	for (int i = 0; i < na; i++)
		assert_int_equal(a[i], b[i]);
}

static int setup(void **state)
{
	agent_unwind_thread_init();
	return agent_modules_refresh();
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void test_same_frames_random_stacks(void **state)
{
	uint64_t x = 0x2545f4914f6cdd1dull;

	hits_delta = fills_delta = 0;
	for (int i = 0; i < 120; i++) {
		int depth = (int)(rnd(&x) % 300), max = 1 + (int)(rnd(&x) % 200);

		switch (i % 4) {
		case 0: run_interrupted(nofp_f1, NULL, 0, max); break;
		case 1: run_interrupted(fp_f1, NULL, 0, max); break;
		case 2: run_interrupted(NULL, nofp_deep, depth, max); break;
		default: run_interrupted(NULL, fp_deep, depth, max); break;
		}
		assert_true(sig_n[0] >= (max < 4 ? max : 4));
		assert_same(sig_pcs[0], sig_n[0], sig_pcs[1], sig_n[1]);
		assert_same(sig_pcs[0], sig_n[0], sig_pcs[2], sig_n[2]);
		/* through the signal frame: expressions, never cached, and the chain above */
		assert_true(here_n[0] > sig_n[0] || here_n[0] == MAXF);
		/* [0] is the call site in on_signal, a different one for each call */
		assert_same(here_pcs[0] + 1, here_n[0] - 1, here_pcs[1] + 1, here_n[1] - 1);
	}
	/* the cache did the work: most frames came from it */
	fprintf(stderr, "cache: %llu frames hit, %llu entries filled\n",
		(unsigned long long)hits_delta, (unsigned long long)fills_delta);
	assert_true(hits_delta > 10 * fills_delta);
}

/*
 * Random registers (pc in real code, sp anywhere) over memory that stays
 * the same between the two unwinds: a static area of random words (some
 * pointing into it, some into code), the callers' frames above this one,
 * or anywhere. Not below this frame: the unwinder's own calls change it.
 */
static uintptr_t garbage_area[8192];
static ucontext_t garbage_uc;
static uintptr_t garbage_a[128], garbage_b[128];

static void test_same_frames_garbage(void **state)
{
	uintptr_t *a = garbage_a, *b = garbage_b, callers;
	static uint64_t x = 0x9e3779b97f4a7c15ull;
	uint64_t h0, f0, h1, f1;
	const uintptr_t code[] = {(uintptr_t)nofp_f2, (uintptr_t)fp_f2, (uintptr_t)nofp_deep,
				  (uintptr_t)printf, (uintptr_t)setup};
	ucontext_t *uc = &garbage_uc;

	callers = (uintptr_t)__builtin_frame_address(0) + 16;
	for (size_t i = 0; i < 8192; i++) {
		uint64_t r = rnd(&x);

		switch (r % 3) {
		case 0: garbage_area[i] = (uintptr_t)&garbage_area[(r >> 8) % 8192]; break;
		case 1: garbage_area[i] = code[(r >> 8) % 5] + (r >> 16) % 64; break;
		default: garbage_area[i] = (uintptr_t)r; break;
		}
	}
	assert_int_equal(getcontext(uc), 0);
	agent_uwcache_counters(&h0, &f0);
	for (int i = 0; i < 6000; i++) {
		greg_t *g = uc->uc_mcontext.gregs;

		for (int r = 0; r < NGREG; r++)
			g[r] = (greg_t)rnd(&x);
		/* few distinct pcs, so that the cache is hit as well as filled */
		g[REG_RIP] = (greg_t)(code[x % 5] + (x >> 8) % 24);
		switch ((x >> 16) % 3) {
		case 0: g[REG_RSP] = (greg_t)(uintptr_t)&garbage_area[(x >> 20) % 8000]; break;
		case 1: g[REG_RSP] = (greg_t)(callers + ((x >> 20) % 512) * 8); break;
		default: break;
		}
		if (i % 2)
			g[REG_RBP] = g[REG_RSP] + (greg_t)(((x >> 40) % 64) * 8);
		agent_uwcache_enable(false);
		int na = agent_unwind_signal(uc, a, 128);

		agent_uwcache_enable(true);
		int nb = agent_unwind_signal(uc, b, 128);

		assert_same(a, na, b, nb);
	}
	agent_uwcache_counters(&h1, &f1);
	assert_true(h1 - h0 > 0);
}

/*
 * A context stopped at the entry of dlo_spin in a dlopen'ed object: its CFI
 * (CFA = rsp + 8, return address at CFA - 8) finds the fake return address,
 * the frame pointer (rbp = 0) finds nothing. After dlclose the address is
 * no code of any module, so only the frame pointer may be tried: a stale
 * cached rule would still produce the second frame.
 */
static int unwind_at(uintptr_t pc, uintptr_t *pcs)
{
	ucontext_t uc;
	uintptr_t stack[4] = {0x5000, 0, 0, 0};

	assert_int_equal(getcontext(&uc), 0);
	uc.uc_mcontext.gregs[REG_RIP] = (greg_t)pc;
	uc.uc_mcontext.gregs[REG_RSP] = (greg_t)(uintptr_t)stack;
	uc.uc_mcontext.gregs[REG_RBP] = 0;
	return agent_unwind_signal(&uc, pcs, 8);
}

static void test_invalidated_by_dlclose(void **state)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	uintptr_t pcs[8], pc;
	uint64_t h0, f0, h1, f1;
	void *h;
	int n;

	assert_true(len > 0);
	self[len] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(path, sizeof(path), "%s/libkiln_test_dlo.so", self);
	h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!h)
		skip();
	pc = (uintptr_t)dlsym(h, "dlo_spin");
	assert_true(pc != 0);
	/* the snapshot must know the object (the sampler's ticker would poll) */
	assert_int_equal(agent_modules_poll(), 0);
	agent_uwcache_enable(true);
	agent_uwcache_counters(&h0, &f0);
	n = unwind_at(pc, pcs);
	assert_int_equal(n, 2);
	assert_int_equal(pcs[0], pc);
	assert_int_equal(pcs[1], 0x4fff);
	n = unwind_at(pc, pcs);
	assert_int_equal(n, 2);
	agent_uwcache_counters(&h1, &f1);
	assert_true(f1 > f0);	/* filled by the first, */
	assert_true(h1 > h0);	/* used by the second */
	assert_int_equal(dlclose(h), 0);
	/* unloaded for real: nothing maps the address any more */
	{
		Dl_info di;

		if (dladdr((void *)pc, &di) && di.dli_fname &&
		    strstr(di.dli_fname, "kiln_test_dlo"))
			skip();
	}
	n = unwind_at(pc, pcs);
	assert_int_equal(n, 1);
	assert_int_equal(pcs[0], pc);
	agent_uwcache_enable(false);
	assert_int_equal(unwind_at(pc, pcs), 1);
	agent_uwcache_enable(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_frames_random_stacks),
		cmocka_unit_test(test_same_frames_garbage),
		cmocka_unit_test(test_invalidated_by_dlclose),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
