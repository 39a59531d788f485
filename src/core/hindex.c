/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hindex.c - the cold half of the hash index: allocation, growth and
 * insertion without a probe. Lookups live inline in hindex.h.
 *
 * Growth needs no help from the caller: a slot's home position comes from
 * the fingerprint it stores, so the slots are simply moved.
 */
#include "hindex.h"

#include <string.h>

#define MIN_SLOTS 16
/* Home positions come from 32 hash bits, so 2^32 slots is the ceiling. */
#define MAX_SLOTS ((size_t)1 << 32)

/* Slot count for want entries at most half full, or 0 if too many. */
static size_t slots_for(size_t want)
{
	size_t n = MIN_SLOTS;

	if (want > MAX_SLOTS / 2)
		return 0;
	while (n < want * 2)
		n *= 2;
	return n;
}

static uint64_t *alloc_slots(size_t nslots)
{
	uint64_t *slots;

	if (nslots > SIZE_MAX / sizeof(*slots))
		return NULL;
	slots = kl_malloc(nslots * sizeof(*slots));
	if (slots)
		memset(slots, 0xff, nslots * sizeof(*slots));
	return slots;
}

/* Stores a slot value in the first free slot from its home position. */
static inline void place(uint64_t *slots, size_t mask, uint64_t slot)
{
	size_t i = (size_t)(slot >> 32) & mask;

	while (slots[i] != KL_HINDEX_EMPTY)
		i = (i + 1) & mask;
	slots[i] = slot;
}

int kl_hindex_init(struct kl_hindex *ix, size_t want)
{
	size_t nslots = slots_for(want);

	ix->count = 0;
	ix->mask = 0;
	ix->slots = nslots ? alloc_slots(nslots) : NULL;
	if (!ix->slots)
		return -ENOMEM;
	ix->mask = nslots - 1;
	return 0;
}

void kl_hindex_release(struct kl_hindex *ix)
{
	kl_free(ix->slots);
	ix->slots = NULL;
	ix->mask = 0;
	ix->count = 0;
}

void kl_hindex_clear(struct kl_hindex *ix)
{
	if (ix->slots)
		memset(ix->slots, 0xff, (ix->mask + 1) * sizeof(*ix->slots));
	ix->count = 0;
}

int kl_hindex_reserve(struct kl_hindex *ix, size_t want)
{
	size_t nslots = slots_for(want), old = ix->slots ? ix->mask + 1 : 0;
	uint64_t *slots;

	if (!nslots)
		return -ENOMEM;
	if (nslots <= old)
		return 0;
	slots = alloc_slots(nslots);
	if (!slots)
		return -ENOMEM;
	for (size_t i = 0; i < old; i++)
		if (ix->slots[i] != KL_HINDEX_EMPTY)
			place(slots, nslots - 1, ix->slots[i]);
	kl_free(ix->slots);
	ix->slots = slots;
	ix->mask = nslots - 1;
	return 0;
}

int kl_hindex_grow_insert(struct kl_hindex *ix, uint64_t tag, uint32_t idx)
{
	/* Doubling keeps the amortised cost of growth constant per insert. */
	int err = kl_hindex_reserve(ix, KL_MAX(ix->count + 1, (ix->mask + 1)));

	if (err)
		return err;
	place(ix->slots, ix->mask, tag | idx);
	ix->count++;
	return 0;
}

int kl_hindex_insert(struct kl_hindex *ix, uint64_t hash, uint32_t idx)
{
	uint64_t tag = hash & 0xffffffff00000000ULL;

	if (!ix->slots || (ix->count + 1) * 2 > ix->mask + 1)
		return kl_hindex_grow_insert(ix, tag, idx);
	place(ix->slots, ix->mask, tag | idx);
	ix->count++;
	return 0;
}
