/* SPDX-License-Identifier: Apache-2.0 */
/*
 * symcache_test.c - the symbolizer's cache across what happens between
 * builds (symbolize.c): anonymous mappings coming and going (malloc arenas,
 * thread stacks) keep the cache and its map indexes, and dropping libdwfl's
 * state (agent_symbolizer_idle) keeps them too while a later miss still
 * resolves through a re-opened libdwfl.
 */
#include <dlfcn.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#include <cmocka.h>

#include "agent.h"

__attribute__((noinline)) static int first_static_function(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 5 + 2;
}

__attribute__((noinline)) static int second_static_function(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 7 + 3;
}

/* Symbolizes pc, checks the outermost frame's name and this file, returns the map index. */
static uint32_t check(struct agent_symbolizer *s, uintptr_t pc, const char *name)
{
	struct agent_sym sym;

	assert_int_equal(agent_symbolize(s, pc, &sym), 0);
	assert_true(sym.nframes >= 1);
	assert_string_equal(sym.frames[sym.nframes - 1].function, name);
	assert_non_null(strstr(sym.frames[sym.nframes - 1].file, "symcache_test.c"));
	assert_true(sym.has_map);
	return sym.map_index;
}

static void test_anonymous_mappings_keep_cache(void **state)
{
	struct agent_symbolizer *s = agent_symbolizer_new();
	void *libc_fn = dlsym(RTLD_DEFAULT, "getpid");
	uintptr_t pc = (uintptr_t)&first_static_function + 1;
	struct agent_sym sym;
	uint32_t mine;
	void *anon;

	assert_non_null(s);
	assert_non_null(libc_fn);
	assert_int_equal(first_static_function(1), 7);
	/* libc is seen first: it gets map index 0, this program the next one */
	assert_int_equal(agent_symbolize(s, (uintptr_t)libc_fn + 1, &sym), 0);
	assert_true(sym.has_map);
	assert_int_equal(sym.map_index, 0);
	mine = check(s, pc, "first_static_function");
	assert_int_not_equal(mine, 0);
	/* a new anonymous mapping changes /proc/self/maps, but not the modules */
	anon = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(anon != MAP_FAILED);
	memset(anon, 1, 1 << 20);
	assert_int_equal(agent_symbolizer_refresh(s), 0);
	/* a cleared cache would number this program's map 0 again */
	assert_int_equal(check(s, pc, "first_static_function"), mine);
	munmap(anon, 1 << 20);
	assert_int_equal(agent_symbolizer_refresh(s), 0);
	assert_int_equal(check(s, pc, "first_static_function"), mine);
	agent_symbolizer_free(s);
}

static void test_idle_keeps_cache_and_maps(void **state)
{
	struct agent_symbolizer *s = agent_symbolizer_new();
	uintptr_t a = (uintptr_t)&first_static_function + 1;
	uintptr_t b = (uintptr_t)&second_static_function + 1;
	uint32_t map;

	assert_non_null(s);
	assert_int_equal(second_static_function(1), 10);
	map = check(s, a, "first_static_function");
	agent_symbolizer_idle(s);
	agent_symbolizer_idle(s);	/* twice: nothing left to drop */
	/* a miss re-opens libdwfl; the module keeps its map index */
	assert_int_equal(check(s, b, "second_static_function"), map);
	agent_symbolizer_idle(s);
	/* a hit needs no libdwfl */
	assert_int_equal(check(s, a, "first_static_function"), map);
	assert_int_equal(agent_symbolizer_refresh(s), 0);
	assert_int_equal(check(s, b, "second_static_function"), map);
	agent_symbolizer_free(s);
	agent_symbolizer_idle(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_anonymous_mappings_keep_cache),
		cmocka_unit_test(test_idle_keeps_cache_and_maps),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
