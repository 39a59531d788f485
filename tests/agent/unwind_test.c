/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unwind_test.c - the agent's unwinder on real code: a signal lands in a
 * leaf function of a known chain built without frame pointers (DWARF CFI
 * must recover every frame) and with them (CFI and frame pointers agree);
 * agent_unwind_here from inside a chain; deep recursion truncated at max;
 * and a stripped copy of this binary (run as a child) still unwinds.
 * Frames are checked against return addresses the chain recorded and,
 * outside the handler, against dladdr's symbol names.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <ucontext.h>
#include <unistd.h>

#include "agent.h"
#include "unwind.h"
#include "unwind_chain.h"

extern char **environ;

volatile int unwind_chain_ready, unwind_chain_stop;

#define MAXF 600
static uintptr_t cfi_pcs[MAXF], fp_pcs[MAXF], sig_pcs[64];
static int cfi_n, fp_n, sig_n, want_max;

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	cfi_n = agent_unwind_signal(uc, cfi_pcs, want_max);
	fp_n = agent_unwind_signal_fp(uc, fp_pcs, want_max);
	/* through the signal frame (__restore_rt: 'S' CIE, DWARF expressions) */
	sig_n = agent_unwind_here(sig_pcs, 64, 0);
	unwind_chain_stop = 1;
}

/* Runs fn(1), or deep(depth, 1), and unwinds it in its leaf (max frames) from on_signal. */
static void run_interrupted(int (*fn)(int), int (*deep)(int, int), int depth, int max)
{
	want_max = max;
	cfi_n = fp_n = 0;
	assert_int_equal(unwind_chain_interrupt(on_signal, fn, deep, depth), 0);
}

static const char *sym(uintptr_t pc)
{
	Dl_info di;

	if (dladdr((void *)pc, &di) && di.dli_sname)
		return di.dli_sname;
	return "?";
}

static int setup(void **state)
{
	agent_unwind_thread_init();
	return agent_modules_refresh();
}

static void dump(const char *what, const uintptr_t *pcs, int n)
{
	fprintf(stderr, "%s: %d frames\n", what, n);
	for (int i = 0; i < n && i < 12; i++)
		fprintf(stderr, "  #%d %#lx %s\n", i, (unsigned long)pcs[i], sym(pcs[i]));
}

static bool has_sym(const uintptr_t *pcs, int n, const char *name)
{
	for (int i = 0; i < n; i++)
		if (strcmp(sym(pcs[i]), name) == 0)
			return true;
	return false;
}

static void test_cfi_without_frame_pointers(void **state)
{
	run_interrupted(nofp_f1, NULL, 0, 128);
	dump("cfi (nofp)", cfi_pcs, cfi_n);
	dump("fp-only (nofp)", fp_pcs, fp_n);
	assert_true(cfi_n >= 5);
	assert_string_equal(sym(cfi_pcs[0]), "nofp_f3");
	assert_int_equal(cfi_pcs[1], nofp_ra[2] - 1);
	assert_string_equal(sym(cfi_pcs[1]), "nofp_f2");
	assert_int_equal(cfi_pcs[2], nofp_ra[1] - 1);
	assert_string_equal(sym(cfi_pcs[2]), "nofp_f1");
	assert_int_equal(cfi_pcs[3], nofp_ra[0] - 1);
	assert_true(has_sym(cfi_pcs, cfi_n, "main"));
	/* frame pointers alone cannot see f2 and f1 here */
	assert_false(fp_n >= 3 && fp_pcs[1] == nofp_ra[2] - 1 && fp_pcs[2] == nofp_ra[1] - 1);
}

static void test_unwind_through_signal_frame(void **state)
{
	int i;

	run_interrupted(nofp_f1, NULL, 0, 128);
	dump("here, in the handler", sig_pcs, sig_n);
	/* handler frames first, then exactly the interrupted stack */
	for (i = 0; i < sig_n && sig_pcs[i] != cfi_pcs[0]; i++)
		;
	assert_true(i < sig_n - 3);
	assert_true(i <= 3);
	assert_int_equal(sig_pcs[i + 1], nofp_ra[2] - 1);
	assert_int_equal(sig_pcs[i + 2], nofp_ra[1] - 1);
	assert_int_equal(sig_pcs[i + 3], nofp_ra[0] - 1);
}

/*
 * A leaf whose CFA is given by a DWARF expression shaped like the one of
 * PLT stubs: CFA = rsp + 8 + (((rip & 15) >= 0) << 3), i.e. rsp + 16 after
 * its push (breg7 8; breg16 0; lit15; and; lit0; ge; lit3; shl; plus).
 */
void expr_spin(void);
__asm__(".text\n"
	".globl expr_spin\n"
	".type expr_spin, @function\n"
	"expr_spin:\n"
	".cfi_startproc\n"
	"\tpushq %rbx\n"
	".cfi_escape 0x0f, 0x0b, 0x77, 0x08, 0x80, 0x00, 0x3f, 0x1a, 0x30, 0x2a, 0x33, 0x24, 0x22\n"
	".cfi_offset %rbx, -16\n"
	"\tmovl $1, unwind_chain_ready(%rip)\n"
	"1:\tcmpl $0, unwind_chain_stop(%rip)\n"
	"\tje 1b\n"
	"\tmovl $0, unwind_chain_ready(%rip)\n"
	"\tpopq %rbx\n"
	".cfi_def_cfa %rsp, 8\n"
	"\tret\n"
	".cfi_endproc\n"
	".size expr_spin, .-expr_spin\n");

static uintptr_t expr_ra;

int expr_caller(int x);
__attribute__((noinline)) int expr_caller(int x)
{
	expr_ra = (uintptr_t)__builtin_return_address(0);
	expr_spin();
	__asm__ volatile("" : "+r"(x));
	return x + 1;
}

static void test_cfa_expression(void **state)
{
	run_interrupted(expr_caller, NULL, 0, 128);
	dump("cfa expression", cfi_pcs, cfi_n);
	assert_true(cfi_n >= 4);
	assert_string_equal(sym(cfi_pcs[0]), "expr_spin");
	assert_string_equal(sym(cfi_pcs[1]), "expr_caller");
	assert_int_equal(cfi_pcs[2], expr_ra - 1);
	assert_true(has_sym(cfi_pcs, cfi_n, "main"));
}

static void test_cfi_matches_frame_pointers(void **state)
{
	run_interrupted(fp_f1, NULL, 0, 128);
	dump("cfi (fp)", cfi_pcs, cfi_n);
	dump("fp-only (fp)", fp_pcs, fp_n);
	assert_true(cfi_n >= 5);
	assert_true(fp_n >= 4);
	assert_string_equal(sym(cfi_pcs[0]), "fp_f3");
	for (int i = 0; i < 4; i++)
		assert_int_equal(cfi_pcs[i], fp_pcs[i]);
	assert_int_equal(cfi_pcs[1], fp_ra[2] - 1);
	assert_int_equal(cfi_pcs[2], fp_ra[1] - 1);
	assert_int_equal(cfi_pcs[3], fp_ra[0] - 1);
}

static uintptr_t here_pcs[64];
static int here_n;

int unwind_here_cb(void *arg);

int unwind_here_cb(void *arg)
{
	here_n = agent_unwind_here(here_pcs, 64, 0);
	return here_n;
}

static void test_unwind_here(void **state)
{
	nofp_h1(unwind_here_cb, NULL);
	dump("here (nofp)", here_pcs, here_n);
	assert_true(here_n >= 5);
	assert_string_equal(sym(here_pcs[0]), "unwind_here_cb");
	assert_string_equal(sym(here_pcs[1]), "nofp_h3");
	assert_int_equal(here_pcs[2], nofp_ra[2] - 1);
	assert_int_equal(here_pcs[3], nofp_ra[1] - 1);
	assert_int_equal(here_pcs[4], nofp_ra[0] - 1);
	assert_true(has_sym(here_pcs, here_n, "main"));
	here_n = 0;
	fp_h1(unwind_here_cb, NULL);
	assert_int_equal(here_pcs[2], fp_ra[2] - 1);
	assert_int_equal(here_pcs[4], fp_ra[0] - 1);
	/* skip drops the innermost frames */
	{
		uintptr_t a[64], b[64];
		int na = agent_unwind_here(a, 64, 0);
		int nb = agent_unwind_here(b, 64, 1);

		assert_true(na >= 3);
		assert_int_equal(nb, na - 1);
		assert_int_equal(b[0], a[1]);
		assert_int_equal(b[1], a[2]);
	}
}

static void test_deep_recursion_truncates(void **state)
{
	run_interrupted(NULL, nofp_deep, 5000, 128);
	assert_int_equal(cfi_n, 128);
	assert_string_equal(sym(cfi_pcs[0]), "nofp_f3");
	for (int i = 1; i < 128; i++)
		assert_string_equal(sym(cfi_pcs[i]), "nofp_deep");
	run_interrupted(NULL, nofp_deep, 5000, AGENT_MAX_FRAMES_LIMIT);
	assert_int_equal(cfi_n, AGENT_MAX_FRAMES_LIMIT);
	run_interrupted(NULL, fp_deep, 3000, AGENT_MAX_FRAMES_LIMIT);
	assert_int_equal(cfi_n, AGENT_MAX_FRAMES_LIMIT);
	assert_int_equal(fp_n, AGENT_MAX_FRAMES_LIMIT);
}

/*
 * Garbage in, no crash out: registers full of random values (pc inside
 * real code so that CFI is applied to a nonsense stack, sp anywhere, in the
 * stack, off the stack, unmapped) must never make the unwinder fault.
 */
static void test_garbage_registers(void **state)
{
	ucontext_t uc;
	uintptr_t pcs[128], stack_mid = (uintptr_t)&uc;
	uint64_t x = 0x9e3779b97f4a7c15ull;
	const uintptr_t code[] = {(uintptr_t)nofp_f2, (uintptr_t)fp_f2, (uintptr_t)expr_spin,
				  (uintptr_t)printf, (uintptr_t)unwind_here_cb};

	assert_int_equal(getcontext(&uc), 0);
	for (int i = 0; i < 20000; i++) {
		greg_t *g = uc.uc_mcontext.gregs;

		for (int r = 0; r < NGREG; r++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			g[r] = (greg_t)x;
		}
		g[REG_RIP] = (greg_t)(code[x % 5] + (x >> 8) % 64);
		switch ((x >> 16) % 4) {
		case 0: g[REG_RSP] = (greg_t)(stack_mid + ((x >> 20) % 65536) * 8); break;
		case 1: g[REG_RSP] = (greg_t)(stack_mid - ((x >> 20) % 4096) * 8); break;
		case 2: g[REG_RSP] = (greg_t)((x >> 20) << 3); break;
		default: break;	/* random */
		}
		if (i % 2)
			g[REG_RBP] = g[REG_RSP] + (greg_t)(((x >> 40) % 64) * 8);
		assert_true(agent_unwind_signal(&uc, pcs, 128) >= 1);
	}
}

/* As a child of the stripped copy: the chain must unwind without any symbols. */
static int child_main(void)
{
	if (setup(NULL) != 0)
		return 2;
	run_interrupted(nofp_f1, NULL, 0, 128);
	if (cfi_n < 4 || cfi_pcs[1] != nofp_ra[2] - 1 || cfi_pcs[2] != nofp_ra[1] - 1 ||
	    cfi_pcs[3] != nofp_ra[0] - 1) {
		dump("stripped", cfi_pcs, cfi_n);
		return 1;
	}
	return 0;
}

static void test_stripped_binary(void **state)
{
	char self[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *argv[] = {path, "--child", NULL};
	pid_t pid;
	int st;

	assert_true(n > 0);
	self[n] = '\0';
	*strrchr(self, '/') = '\0';
	snprintf(path, sizeof(path), "%s/unwind_test_stripped", self);
	if (access(path, X_OK) != 0)
		skip();
	/* really stripped: no symbol table left */
	assert_int_equal(posix_spawn(&pid, path, NULL, NULL, argv, environ), 0);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfi_without_frame_pointers),
		cmocka_unit_test(test_cfi_matches_frame_pointers),
		cmocka_unit_test(test_unwind_through_signal_frame),
		cmocka_unit_test(test_cfa_expression),
		cmocka_unit_test(test_unwind_here),
		cmocka_unit_test(test_deep_recursion_truncates),
		cmocka_unit_test(test_garbage_registers),
		cmocka_unit_test(test_stripped_binary),
	};

	if (argc > 1 && strcmp(argv[1], "--child") == 0)
		return child_main();
	return cmocka_run_group_tests(tests, setup, NULL);
}
