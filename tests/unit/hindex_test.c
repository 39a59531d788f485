/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hindex_test.c - the hash index every table is built on: find-or-insert
 * with one probe, hashes that share their fingerprint, growth, duplicates,
 * allocation failure, and a long random run checked against a plain
 * reference map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/hindex.h"

/* Entries of the tests: a key per index, hashed by a chosen function. */
struct keys {
	uint64_t *key;
	size_t n, cap;
};

static void keys_push(struct keys *k, uint64_t key)
{
	if (k->n == k->cap) {
		k->cap = k->cap ? k->cap * 2 : 64;
		k->key = realloc(k->key, k->cap * sizeof(*k->key));
		assert_non_null(k->key);
	}
	k->key[k->n++] = key;
}

/* Find-or-insert of key under hash h: the index of its entry. */
static uint32_t get(struct kl_hindex *ix, struct keys *k, uint64_t key, uint64_t h)
{
	struct kl_hindex_probe p;
	uint32_t idx;

	for (idx = kl_hindex_first(ix, h, &p); idx != KL_HINDEX_NONE; idx = kl_hindex_next(ix, &p))
		if (k->key[idx] == key)
			return idx;
	idx = (uint32_t)k->n;
	keys_push(k, key);
	assert_int_equal(kl_hindex_insert_at(ix, &p, idx), 0);
	return idx;
}

static uint32_t lookup(const struct kl_hindex *ix, const struct keys *k, uint64_t key, uint64_t h)
{
	struct kl_hindex_probe p;
	uint32_t idx;

	for (idx = kl_hindex_first(ix, h, &p); idx != KL_HINDEX_NONE; idx = kl_hindex_next(ix, &p))
		if (k->key[idx] == key)
			return idx;
	return KL_HINDEX_NONE;
}

struct eq_ctx {
	const struct keys *k;
	uint64_t key;
};

static bool eq_key(const void *ctx, uint32_t idx)
{
	const struct eq_ctx *c = ctx;

	return c->k->key[idx] == c->key;
}

static void test_many_keys(void **state)
{
	struct kl_hindex ix;
	struct keys k = { 0 };
	const uint32_t n = 200000;

	(void)state;
	assert_int_equal(kl_hindex_init(&ix, 0), 0);
	for (uint32_t i = 0; i < n; i++)
		assert_int_equal(get(&ix, &k, i * 7ULL, kl_hash_u64(i * 7ULL)), i);
	assert_int_equal(ix.count, n);
	/* grown by doubling, never more than half full */
	assert_true((ix.mask + 1) >= 2 * (size_t)n);
	assert_true((ix.mask + 1) < 8 * (size_t)n);
	assert_int_equal(kl_hindex_memory(&ix), (ix.mask + 1) * sizeof(uint64_t));
	for (uint32_t i = 0; i < n; i++) {
		struct eq_ctx c = { &k, i * 7ULL };

		assert_int_equal(get(&ix, &k, i * 7ULL, kl_hash_u64(i * 7ULL)), i);
		assert_int_equal(kl_hindex_find(&ix, kl_hash_u64(c.key), eq_key, &c), i);
		c.key = i * 7ULL + 1;
		assert_int_equal(kl_hindex_find(&ix, kl_hash_u64(c.key), eq_key, &c), KL_HINDEX_NONE);
	}
	assert_int_equal(k.n, n);
	kl_hindex_clear(&ix);
	assert_int_equal(ix.count, 0);
	assert_int_equal(lookup(&ix, &k, 0, kl_hash_u64(0)), KL_HINDEX_NONE);
	kl_hindex_release(&ix);
	kl_hindex_release(&ix);	/* twice is harmless */
	free(k.key);
}

/*
 * Hashes whose high 32 bits are equal give the same fingerprint and home
 * slot: every probe must fall through to the caller's comparison.
 */
static void test_colliding_fingerprints(void **state)
{
	struct kl_hindex ix;
	struct keys k = { 0 };

	(void)state;
	assert_int_equal(kl_hindex_init(&ix, 4), 0);
	for (uint32_t i = 0; i < 3000; i++)
		assert_int_equal(get(&ix, &k, 1000 + i, 0xabcdef1200000000ULL | i), i);
	for (uint32_t i = 0; i < 3000; i++) {
		assert_int_equal(lookup(&ix, &k, 1000 + i, 0xabcdef1200000000ULL | i), i);
		/* the low 32 bits are not part of the slot: any will do */
		assert_int_equal(lookup(&ix, &k, 1000 + i, 0xabcdef12ffffffffULL), i);
	}
	assert_int_equal(lookup(&ix, &k, 999, 0xabcdef1200000000ULL), KL_HINDEX_NONE);
	/* all-ones fingerprint: slots must still differ from EMPTY */
	assert_int_equal(get(&ix, &k, 1, UINT64_MAX), 3000);
	assert_int_equal(lookup(&ix, &k, 1, UINT64_MAX), 3000);
	kl_hindex_release(&ix);
	free(k.key);
}

/* Home positions wrap at the end of the table. */
static void test_wrap_and_duplicates(void **state)
{
	struct kl_hindex ix;
	struct kl_hindex_probe p;
	uint64_t h = 0xffffffff00000000ULL;	/* home = last slot */

	(void)state;
	assert_int_equal(kl_hindex_init(&ix, 0), 0);
	for (uint32_t i = 0; i < 5; i++)
		assert_int_equal(kl_hindex_insert(&ix, h, i), 0);
	/* duplicates come back oldest first */
	assert_int_equal(kl_hindex_first(&ix, h, &p), 0);
	for (uint32_t i = 1; i < 5; i++)
		assert_int_equal(kl_hindex_next(&ix, &p), i);
	assert_int_equal(kl_hindex_next(&ix, &p), KL_HINDEX_NONE);
	assert_int_equal(ix.slots[p.pos], KL_HINDEX_EMPTY);
	assert_true(p.pos < 5);	/* wrapped round */
	kl_hindex_release(&ix);
}

static void test_reserve(void **state)
{
	struct kl_hindex ix;
	uint64_t *before;

	(void)state;
	assert_int_equal(kl_hindex_init(&ix, 1000), 0);
	assert_true(ix.mask + 1 >= 2000);
	for (uint32_t i = 0; i < 1000; i++)
		assert_int_equal(kl_hindex_insert(&ix, kl_hash_u64(i), i), 0);
	before = ix.slots;
	assert_int_equal(kl_hindex_reserve(&ix, 500), 0);
	assert_ptr_equal(ix.slots, before);	/* already room: nothing moves */
	assert_int_equal(kl_hindex_reserve(&ix, 100000), 0);
	assert_true(ix.mask + 1 >= 200000);
	for (uint32_t i = 0; i < 1000; i++) {
		struct kl_hindex_probe p;

		assert_int_equal(kl_hindex_first(&ix, kl_hash_u64(i), &p), i);
	}
	/* more than the 32 position bits can address */
	assert_int_equal(kl_hindex_reserve(&ix, SIZE_MAX / 2), -ENOMEM);
	assert_int_equal(ix.mask + 1, 262144);	/* unchanged by the failure */
	kl_hindex_release(&ix);
	assert_int_equal(kl_hindex_init(&ix, (size_t)1 << 40), -ENOMEM);
	assert_null(ix.slots);
	kl_hindex_release(&ix);
}

/*
 * KILN_FAIL_ALLOC is read at the first allocation, so the failing run is a
 * child process that allocates nothing before setting it. Allocation 1 is
 * the initial table, 2 the first growth: it must fail cleanly and leave
 * the index as it was.
 */
static int alloc_failure_child(void)
{
	struct kl_hindex ix;
	struct kl_hindex_probe p;
	uint32_t i;

	setenv("KILN_FAIL_ALLOC", "2", 1);
	if (kl_hindex_init(&ix, 0))
		return 1;
	for (i = 0; i < 1000; i++) {
		uint64_t h = kl_hash_u64(i);
		int err;

		if (kl_hindex_first(&ix, h, &p) != KL_HINDEX_NONE)
			return 2;
		err = kl_hindex_insert_at(&ix, &p, i);
		if (err == -ENOMEM)
			break;
		if (err)
			return 3;
	}
	if (i != 8 || ix.count != 8 || kl_hindex_insert(&ix, kl_hash_u64(i), i) != -ENOMEM)
		return 4;
	for (uint32_t j = 0; j < i; j++)
		if (kl_hindex_first(&ix, kl_hash_u64(j), &p) != j)
			return 5;
	if (kl_hindex_reserve(&ix, 100) != -ENOMEM || ix.mask + 1 != 16)
		return 6;
	kl_hindex_release(&ix);
	if (kl_hindex_init(&ix, 0) != -ENOMEM || ix.slots)
		return 7;
	kl_hindex_release(&ix);
	return 0;
}

static void test_alloc_failure(void **state)
{
	pid_t pid;
	int status;

	(void)state;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(alloc_failure_child());
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

/* xorshift64*: reproducible pseudo-random keys */
static uint64_t next_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 2685821657736338717ULL;
}

/* Odd keys share their fingerprint four at a time; even keys hash well. */
static uint64_t weak_hash(uint64_t key)
{
	if (key & 1)
		return (uint64_t)(uint32_t)((key >> 3) * 2654435761u) << 32;
	return kl_hash_u64(key);
}

/*
 * A random mix of find-or-insert and lookups over a small key space with a
 * deliberately weak hash for half the keys, checked
 * against a reference: a direct array from key to entry index.
 */
static void test_property_against_reference(void **state)
{
	enum { KEYS = 1 << 14, OPS = 300000 };
	uint32_t *ref = malloc(KEYS * sizeof(*ref));
	struct kl_hindex ix;
	struct keys k = { 0 };
	uint64_t seed = 0x9e3779b97f4a7c15ULL;

	(void)state;
	assert_non_null(ref);
	memset(ref, 0xff, KEYS * sizeof(*ref));
	assert_int_equal(kl_hindex_init(&ix, 0), 0);
	for (int op = 0; op < OPS; op++) {
		uint64_t r = next_rand(&seed), key = r % KEYS;
		uint64_t h = weak_hash(key);

		if (r >> 63) {
			uint32_t idx = get(&ix, &k, key, h);

			if (ref[key] == UINT32_MAX) {
				assert_int_equal(idx, k.n - 1);
				ref[key] = idx;
			}
			assert_int_equal(idx, ref[key]);
		} else {
			assert_int_equal(lookup(&ix, &k, key, h), ref[key]);
		}
		assert_int_equal(ix.count, k.n);
		assert_true(ix.count * 2 <= ix.mask + 1);
	}
	assert_true(k.n > KEYS / 2);
	for (uint64_t key = 0; key < KEYS; key++) {
		assert_int_equal(lookup(&ix, &k, key, weak_hash(key)), ref[key]);
	}
	kl_hindex_release(&ix);
	free(k.key);
	free(ref);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		/* first: its child must not have allocated before */
		cmocka_unit_test(test_alloc_failure),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_colliding_fingerprints),
		cmocka_unit_test(test_wrap_and_duplicates),
		cmocka_unit_test(test_reserve),
		cmocka_unit_test(test_property_against_reference),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
