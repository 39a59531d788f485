/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hindex.h - an open-addressing hash index from a 64-bit hash to a 32-bit
 * entry index. The caller owns the entries (usually an array) and decides
 * what "equal" means; the index only remembers where each entry is.
 *
 * Every slot is one uint64_t: the high 32 bits of the entry's hash above
 * the entry's index, or KL_HINDEX_EMPTY. A probe compares those 32 bits
 * first, so a failed probe never reads the entries. The home slot is taken
 * from the same high 32 bits, which lets growth rebuild the table from the
 * slots alone, without hashing any entry again. Linear probing, at most
 * half full, power-of-two sizes, up to 2^32 slots (2^31 entries).
 *
 * Only the high 32 bits of a hash are used, so they must be well mixed
 * (kl_hash and kl_hash_u64 are). Entries whose hashes share those bits are
 * all offered to the caller's comparison: correctness never depends on the
 * hash, only speed does. The index never reads or frees the entries.
 *
 * Lookup, the hot path, is inline. A probe is a small iterator, so the
 * caller compares candidates in its own loop (no callback):
 *
 *	struct kl_hindex_probe p;
 *	uint32_t idx;
 *
 *	for (idx = kl_hindex_first(ix, h, &p); idx != KL_HINDEX_NONE;
 *	     idx = kl_hindex_next(ix, &p))
 *		if (equal(&entries[idx], key))
 *			return idx;
 *	... append the new entry as index n, then:
 *	err = kl_hindex_insert_at(ix, &p, n);
 *
 * kl_hindex_insert_at() puts the entry in the empty slot the failed probe
 * ended on (one probe per find-or-insert), or, when the table has to grow,
 * wherever the hash leads in the grown table.
 */
#ifndef KL_HINDEX_H
#define KL_HINDEX_H

#include "base.h"

/* A free slot. No entry may have index UINT32_MAX, so no slot is this. */
#define KL_HINDEX_EMPTY UINT64_MAX
/* Returned by a probe that reached a free slot: no (more) candidates. */
#define KL_HINDEX_NONE UINT32_MAX
/* Largest entry index the index accepts. */
#define KL_HINDEX_MAX_INDEX (UINT32_MAX - 1)

struct kl_hindex {
	uint64_t *slots;	/* nslots = mask + 1, a power of two */
	size_t mask;
	size_t count;		/* slots in use */
};

/*
 * State of one probe: the slot it stands on and the fingerprint it looks
 * for. Valid until the index is next changed (insert, reserve, clear).
 */
struct kl_hindex_probe {
	size_t pos;
	uint64_t tag;		/* hash & 0xffffffff00000000 */
};

/*
 * Makes an empty index with room for at least want entries before it has
 * to grow (want 0 gives a small default). Returns 0, or -ENOMEM (ix is then
 * empty and safe to release). Allocates through kl_malloc.
 */
int kl_hindex_init(struct kl_hindex *ix, size_t want);

/* Frees the slots; ix may be zeroed or already released. */
void kl_hindex_release(struct kl_hindex *ix);

/* Forgets every entry, keeping the allocation. */
void kl_hindex_clear(struct kl_hindex *ix);

/*
 * Makes room for want entries in all, so that inserting up to that many
 * cannot grow (or fail). Returns 0 or -ENOMEM (the index is unchanged).
 */
int kl_hindex_reserve(struct kl_hindex *ix, size_t want);

/*
 * Adds entry idx (<= KL_HINDEX_MAX_INDEX) under hash without looking for an
 * equal entry first: the caller knows there is none, or wants a duplicate
 * that later probes meet after the older entries. Works on a zeroed or
 * released index too (it allocates). Returns 0 or -ENOMEM (the index is
 * then unchanged).
 */
int kl_hindex_insert(struct kl_hindex *ix, uint64_t hash, uint32_t idx);

/* Bytes allocated for slots. */
static inline size_t kl_hindex_memory(const struct kl_hindex *ix)
{
	return ix->slots ? (ix->mask + 1) * sizeof(uint64_t) : 0;
}

/* Advances p to its next candidate: an entry whose fingerprint matches. */
static inline uint32_t kl_hindex_next(const struct kl_hindex *ix, struct kl_hindex_probe *p)
{
	for (;;) {
		uint64_t slot;

		p->pos = (p->pos + 1) & ix->mask;
		slot = ix->slots[p->pos];
		if (slot == KL_HINDEX_EMPTY)
			return KL_HINDEX_NONE;
		if ((slot & 0xffffffff00000000ULL) == p->tag)
			return (uint32_t)slot;
	}
}

/*
 * Starts a probe for hash and returns the first candidate entry index, or
 * KL_HINDEX_NONE. Candidates share the hash's high 32 bits, nothing more:
 * the caller checks each for equality and calls kl_hindex_next() to go on.
 * Once a probe has returned KL_HINDEX_NONE, p names the free slot where
 * kl_hindex_insert_at() puts a new entry. ix must have been initialised
 * (kl_hindex_init) and not released.
 */
static inline uint32_t kl_hindex_first(const struct kl_hindex *ix, uint64_t hash,
				       struct kl_hindex_probe *p)
{
	uint64_t slot;

	p->tag = hash & 0xffffffff00000000ULL;
	p->pos = (size_t)(hash >> 32) & ix->mask;
	slot = ix->slots[p->pos];
	if (slot == KL_HINDEX_EMPTY)
		return KL_HINDEX_NONE;
	if ((slot & 0xffffffff00000000ULL) == p->tag)
		return (uint32_t)slot;
	return kl_hindex_next(ix, p);
}

/* Out-of-line part of kl_hindex_insert_at(): grows, then inserts. */
int kl_hindex_grow_insert(struct kl_hindex *ix, uint64_t tag, uint32_t idx);

/*
 * Adds entry idx (<= KL_HINDEX_MAX_INDEX) after a probe p that returned
 * KL_HINDEX_NONE, with no change to the index in between. The caller has
 * checked that no entry equals the new one (that is what the probe did).
 * Returns 0 or -ENOMEM (the index is then unchanged, and p still valid).
 */
static inline int kl_hindex_insert_at(struct kl_hindex *ix, const struct kl_hindex_probe *p,
				      uint32_t idx)
{
	if ((ix->count + 1) * 2 > ix->mask + 1)
		return kl_hindex_grow_insert(ix, p->tag, idx);
	ix->slots[p->pos] = p->tag | idx;
	ix->count++;
	return 0;
}

/*
 * Equality callback for kl_hindex_find(): does entry idx equal the key
 * that ctx describes?
 */
typedef bool (*kl_hindex_eq_fn)(const void *ctx, uint32_t idx);

/*
 * Returns the first entry under hash that eq accepts, or KL_HINDEX_NONE.
 * A convenience over kl_hindex_first/next for callers that do not insert.
 */
static inline uint32_t kl_hindex_find(const struct kl_hindex *ix, uint64_t hash,
				      kl_hindex_eq_fn eq, const void *ctx)
{
	struct kl_hindex_probe p;
	uint32_t idx;

	for (idx = kl_hindex_first(ix, hash, &p); idx != KL_HINDEX_NONE;
	     idx = kl_hindex_next(ix, &p))
		if (eq(ctx, idx))
			return idx;
	return KL_HINDEX_NONE;
}

#endif /* KL_HINDEX_H */
