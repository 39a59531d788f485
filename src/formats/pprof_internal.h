/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof_internal.h - what the pprof reader (pprof.c) and writer
 * (pprof_write.c) share: the map from pprof object ids to array indexes.
 * Not part of the formats.h interface.
 */
#ifndef KL_PPROF_INTERNAL_H
#define KL_PPROF_INTERNAL_H

#include "formats.h"

/*
 * Maps pprof ids (non-zero uint64) to array indexes in O(1). pprof writers
 * almost always number objects 1..n, so a direct array is used when the
 * largest id is not much above the count; otherwise an open-addressing
 * hash table (linear probing, at most half full). The reader looks ids up
 * (pprof.c keeps the lookup inline, it is on the hot path); the writer only
 * uses the map to tell whether a profile's own ids are unique.
 */
struct pprof_idmap {
	uint32_t *dense;	/* dense[id] = index + 1, 0 = absent */
	uint64_t ndense;
	uint64_t *keys;		/* hash table: 0 = empty slot */
	uint32_t *vals;
	size_t mask;
};

/* Prepares m for n ids of which the largest is max_id. 0 or -ENOMEM. */
int pprof_idmap_init(struct pprof_idmap *m, size_t n, uint64_t max_id);

/* Adds id -> idx. id must be non-zero. Returns false if id is present. */
bool pprof_idmap_put(struct pprof_idmap *m, uint64_t id, uint32_t idx);

/* Frees the map and zeroes it; a zeroed map may be released again. */
void pprof_idmap_release(struct pprof_idmap *m);

/*
 * The pprof id of objs[i], for arrays of kl_mapping, kl_function or
 * kl_location (stride bytes apart), whose first member is the uint64 id.
 */
static inline uint64_t pprof_obj_id(const void *objs, size_t i, size_t stride)
{
	return *(const uint64_t *)((const char *)objs + i * stride);
}

#endif /* KL_PPROF_INTERNAL_H */
