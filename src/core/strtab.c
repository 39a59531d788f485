/* SPDX-License-Identifier: Apache-2.0 */
/*
 * strtab.c - interned strings: one byte arena, an offset per id and a
 * hash index (hindex.h) from content to id.
 *
 * Invariants:
 *   1. id 0 is "" and is never in the hash index (it is found by the
 *      len == 0 shortcut);
 *   2. every string in the arena is followed by a NUL byte, so get() can
 *      hand out C strings without copying;
 *   3. every id but 0 is in the index, except the duplicates that
 *      kl_strtab_append() stores, so lookups find the first copy.
 */
#include "strtab.h"
#include "hindex.h"

#include <string.h>

struct kl_strtab {
	char *arena;
	size_t arena_len, arena_cap;
	uint32_t *offsets;	/* per id: start in arena; length is next - start - 1 */
	size_t count, offsets_cap;	/* offsets has count + 1 entries */
	struct kl_hindex index;	/* ids by kl_hash of their bytes */
	bool failed;
	bool dups;		/* kl_strtab_append stored a non-empty duplicate */
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
	if (kl_hindex_init(&st->index, 32)) {
		kl_strtab_free(st);
		return NULL;
	}
	return st;
}

void kl_strtab_free(struct kl_strtab *st)
{
	if (!st)
		return;
	kl_free(st->arena);
	kl_free(st->offsets);
	kl_hindex_release(&st->index);
	kl_free(st);
}

static inline size_t str_len(const struct kl_strtab *st, uint32_t id)
{
	return st->offsets[id + 1] - st->offsets[id] - 1;
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
	memcpy(st->arena + st->arena_len, s, len);
	st->arena[st->arena_len + len] = '\0';
	st->arena_len += len + 1;
	id = (kl_strid)st->count++;
	st->offsets[st->count] = (uint32_t)st->arena_len;
	return id;
}

/* Takes back the string add_string() just stored as id. */
static void drop_last(struct kl_strtab *st, kl_strid id)
{
	st->count = id;
	st->arena_len = st->offsets[id];
}

/* Probes for s; on a miss, p is where a new id for s goes. */
static inline int64_t find_probe(const struct kl_strtab *st, const char *s, size_t len,
				 struct kl_hindex_probe *p)
{
	uint32_t id;

	for (id = kl_hindex_first(&st->index, kl_hash(s, len), p); id != KL_HINDEX_NONE;
	     id = kl_hindex_next(&st->index, p))
		if (str_len(st, id) == len && memcmp(st->arena + st->offsets[id], s, len) == 0)
			return id;
	return -1;
}

int64_t kl_strtab_find(const struct kl_strtab *st, const char *s, size_t len)
{
	struct kl_hindex_probe p;

	if (len == 0)
		return 0;
	return find_probe(st, s, len, &p);
}

/* Stores s as a new id and indexes it at p, where a probe for s ended. */
static kl_strid add_indexed(struct kl_strtab *st, const char *s, size_t len,
			    const struct kl_hindex_probe *p)
{
	kl_strid id = add_string(st, s, len);

	if (id && kl_hindex_insert_at(&st->index, p, id)) {
		drop_last(st, id);
		st->failed = true;
		return 0;
	}
	return id;
}

kl_strid kl_strtab_intern(struct kl_strtab *st, const char *s, size_t len)
{
	struct kl_hindex_probe p;
	int64_t found;

	if (len == 0)
		return 0;
	found = find_probe(st, s, len, &p);
	if (found >= 0)
		return (kl_strid)found;
	return add_indexed(st, s, len, &p);
}

kl_strid kl_strtab_intern_cstr(struct kl_strtab *st, const char *s)
{
	return kl_strtab_intern(st, s, strlen(s));
}

kl_strid kl_strtab_append(struct kl_strtab *st, const char *s, size_t len)
{
	struct kl_hindex_probe p;

	/* A duplicate stays out of the hash index: lookups find the first. */
	if (len == 0)
		return add_string(st, s, len);
	if (find_probe(st, s, len, &p) >= 0) {
		st->dups = true;
		return add_string(st, s, len);
	}
	return add_indexed(st, s, len, &p);
}

kl_strid kl_strtab_add_hashed(struct kl_strtab *st, const char *s, size_t len, uint64_t hash)
{
	kl_strid id;

	if (len == 0)
		return 0;
	id = add_string(st, s, len);
	if (id && kl_hindex_insert(&st->index, hash, id)) {
		drop_last(st, id);
		st->failed = true;
		return 0;
	}
	return id;
}

bool kl_strtab_has_duplicates(const struct kl_strtab *st)
{
	return st->dups;
}

int kl_strtab_reserve(struct kl_strtab *st, size_t nstrings, size_t nbytes)
{
	if (nstrings > UINT32_MAX || nbytes > UINT32_MAX)
		return -ENOMEM;
	if (KL_GROW(st->arena, st->arena_cap, st->arena_len + nbytes + nstrings) ||
	    KL_GROW(st->offsets, st->offsets_cap, st->count + 1 + nstrings) ||
	    kl_hindex_reserve(&st->index, st->index.count + nstrings))
		return -ENOMEM;
	return 0;
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

size_t kl_strtab_bytes(const struct kl_strtab *st)
{
	return st->arena_len;
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
	       kl_hindex_memory(&st->index);
}
