/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strtab.c - interned strings: one byte arena, an offset per id and an
 * open-addressing hash table (linear probing) from content to id.
 *
 * Invariants:
 *   1. id 0 is "" and is never in the hash table's way (it is found by the
 *      len == 0 shortcut);
 *   2. every string in the arena is followed by a NUL byte, so get() can
 *      hand out C strings without copying;
 *   3. the hash table is at most half full, so probes stay short.
 */
#include "strtab.h"

#include <string.h>

#define EMPTY_SLOT UINT32_MAX

struct kl_strtab {
	char *arena;
	size_t arena_len, arena_cap;
	uint32_t *offsets;	/* per id: start in arena; length is next - start - 1 */
	size_t count, offsets_cap;	/* offsets has count + 1 entries */
	uint32_t *slots;	/* hash table of ids */
	size_t nslots;		/* power of two */
	bool failed;
};

struct kl_strtab *kl_strtab_new(void)
{
	struct kl_strtab *st = kl_calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	/* id 0 = "": arena holds one NUL, offsets = {0, 1} */
	if (KL_GROW(st->arena, st->arena_cap, 4096) ||
	    KL_GROW(st->offsets, st->offsets_cap, 64)) {
		kl_strtab_free(st);
		return NULL;
	}
	st->arena[0] = '\0';
	st->arena_len = 1;
	st->offsets[0] = 0;
	st->offsets[1] = 1;
	st->count = 1;
	st->nslots = 64;
	st->slots = kl_malloc(st->nslots * sizeof(*st->slots));
	if (!st->slots) {
		kl_strtab_free(st);
		return NULL;
	}
	memset(st->slots, 0xff, st->nslots * sizeof(*st->slots));
	return st;
}

void kl_strtab_free(struct kl_strtab *st)
{
	if (!st)
		return;
	kl_free(st->arena);
	kl_free(st->offsets);
	kl_free(st->slots);
	kl_free(st);
}

static inline size_t str_len(const struct kl_strtab *st, uint32_t id)
{
	return st->offsets[id + 1] - st->offsets[id] - 1;
}

static int rehash(struct kl_strtab *st)
{
	size_t nslots = st->nslots * 2, mask = nslots - 1;
	uint32_t *slots = kl_malloc(nslots * sizeof(*slots));

	if (!slots)
		return -ENOMEM;
	memset(slots, 0xff, nslots * sizeof(*slots));
	for (uint32_t id = 1; id < st->count; id++) {
		size_t i = kl_hash(st->arena + st->offsets[id], str_len(st, id)) & mask;

		while (slots[i] != EMPTY_SLOT)
			i = (i + 1) & mask;
		slots[i] = id;
	}
	kl_free(st->slots);
	st->slots = slots;
	st->nslots = nslots;
	return 0;
}

/* Stores s as a new id (no lookup). Returns the id, or 0 on failure. */
static kl_strid add_string(struct kl_strtab *st, const char *s, size_t len)
{
	kl_strid id;

	if (st->arena_len + len + 1 > UINT32_MAX || st->count >= UINT32_MAX - 1) {
		st->failed = true;
		return 0;
	}
	if (KL_GROW(st->arena, st->arena_cap, st->arena_len + len + 1) ||
	    KL_GROW(st->offsets, st->offsets_cap, st->count + 2)) {
		st->failed = true;
		return 0;
	}
	if ((st->count + 1) * 2 > st->nslots && rehash(st)) {
		st->failed = true;
		return 0;
	}
	memcpy(st->arena + st->arena_len, s, len);
	st->arena[st->arena_len + len] = '\0';
	st->arena_len += len + 1;
	id = (kl_strid)st->count++;
	st->offsets[st->count] = (uint32_t)st->arena_len;
	return id;
}

static void insert_slot(struct kl_strtab *st, kl_strid id, uint64_t h)
{
	size_t mask = st->nslots - 1, i = h & mask;

	while (st->slots[i] != EMPTY_SLOT)
		i = (i + 1) & mask;
	st->slots[i] = id;
}

int64_t kl_strtab_find(const struct kl_strtab *st, const char *s, size_t len)
{
	size_t mask = st->nslots - 1, i;

	if (len == 0)
		return 0;
	for (i = kl_hash(s, len) & mask; st->slots[i] != EMPTY_SLOT; i = (i + 1) & mask) {
		uint32_t id = st->slots[i];

		if (str_len(st, id) == len && memcmp(st->arena + st->offsets[id], s, len) == 0)
			return id;
	}
	return -1;
}

kl_strid kl_strtab_intern(struct kl_strtab *st, const char *s, size_t len)
{
	int64_t found = kl_strtab_find(st, s, len);
	kl_strid id;

	if (found >= 0)
		return (kl_strid)found;
	id = add_string(st, s, len);
	if (id)
		insert_slot(st, id, kl_hash(s, len));
	return id;
}

kl_strid kl_strtab_intern_cstr(struct kl_strtab *st, const char *s)
{
	return kl_strtab_intern(st, s, strlen(s));
}

kl_strid kl_strtab_append(struct kl_strtab *st, const char *s, size_t len)
{
	kl_strid id;

	/* A duplicate stays out of the hash table: lookups find the first. */
	if (kl_strtab_find(st, s, len) >= 0)
		return add_string(st, s, len);
	id = add_string(st, s, len);
	if (id)
		insert_slot(st, id, kl_hash(s, len));
	return id;
}

const char *kl_strtab_get(const struct kl_strtab *st, kl_strid id)
{
	if (id >= st->count)
		return "";
	return st->arena + st->offsets[id];
}

size_t kl_strtab_len(const struct kl_strtab *st, kl_strid id)
{
	if (id >= st->count)
		return 0;
	return str_len(st, id);
}

uint32_t kl_strtab_count(const struct kl_strtab *st)
{
	return (uint32_t)st->count;
}

bool kl_strtab_failed(const struct kl_strtab *st)
{
	return st->failed;
}

size_t kl_strtab_memory(const struct kl_strtab *st)
{
	return sizeof(*st) + st->arena_cap + st->offsets_cap * sizeof(uint32_t) +
	       st->nslots * sizeof(uint32_t);
}
