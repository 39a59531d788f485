/* SPDX-License-Identifier: Apache-2.0 */
/*
 * stacktab.c - lock-free stack tables written from signal handlers and hooks.
 * A table is three mmap'd arrays: an open-addressing index of 32-bit slots
 * (hash high bits | entry number + 1; 4 bytes, as the index is touched all
 * over even by a few stacks), an entry array claimed with an atomic
 * counter, and a frame arena claimed the same way. A writer fills a fresh
 * entry completely and then publishes it with one CAS on an index slot, so
 * readers never see a half-written entry and nobody ever waits on anybody.
 *
 * Invariants:
 *   1. an index slot goes 0 -> published once per drain cycle, never back
 *      while writers may be in the table;
 *   2. at most max_stacks entries are ever published per table, so the index
 *      (>= 2 * max_stacks slots) never fills and probing always terminates;
 *   3. a writer counts itself in table->writers before it re-reads `active`;
 *      the drainer flips `active` and then waits for the old table's count
 *      to reach zero (both seq_cst), so after the wait the old table is
 *      private to the drainer.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "core/base.h"

#define ST_MAX_VALUES 4
/* arena frames per stack on average; deeper stacks just fill it sooner */
#define ST_ARENA_FRAMES 32

struct st_entry {
	uint32_t labelset;
	uint32_t nframes;
	uint64_t frame_off;			/* into the arena */
	_Atomic int64_t values[ST_MAX_VALUES];
};

struct st_table {
	_Atomic uint32_t *index;		/* cap slots: tag << ebits | (entry + 1) */
	struct st_entry *entries;		/* max_stacks */
	uintptr_t *arena;			/* arena_cap frames */
	_Atomic uint32_t nentries;		/* claimed entries (may exceed max: full) */
	_Atomic uint64_t narena;		/* claimed frames */
	_Atomic int writers;			/* writers inside this table now */
	void *map;
	size_t maplen;
};

struct agent_profbuf {
	uint32_t max_stacks, max_frames, nvalues;
	uint32_t mask;				/* index slots - 1 */
	uint32_t ebits;				/* low slot bits holding entry + 1 */
	uint64_t arena_cap;
	size_t index_len, entries_len, arena_len;	/* byte sizes, page-rounded */
	_Atomic int active;
	_Atomic uint64_t dropped;
	pthread_mutex_t drain_lock;
	struct st_table t[2];
};

/* A hash that needs nothing but arithmetic (no PLT call in a handler). */
static uint64_t st_hash(uint32_t labelset, const uintptr_t *pcs, uint32_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ ((uint64_t)labelset << 32 | n);

	for (uint32_t i = 0; i < n; i++) {
		h ^= pcs[i];
		h *= 0xff51afd7ed558ccdull;
		h ^= h >> 32;
	}
	h ^= h >> 29;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 32;
	return h;
}

static size_t st_round_page(size_t n)
{
	size_t pg = 4096;

	return (n + pg - 1) & ~(pg - 1);
}

static int st_table_init(struct agent_profbuf *b, struct st_table *t)
{
	size_t len = b->index_len + b->entries_len + b->arena_len;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		return -ENOMEM;
	t->map = p;
	t->maplen = len;
	t->index = (_Atomic uint32_t *)p;
	t->entries = (struct st_entry *)(p + b->index_len);
	t->arena = (uintptr_t *)(p + b->index_len + b->entries_len);
	atomic_init(&t->nentries, 0);
	atomic_init(&t->narena, 0);
	atomic_init(&t->writers, 0);
	return 0;
}

struct agent_profbuf *agent_profbuf_new(uint32_t max_stacks, uint32_t max_frames,
					 uint32_t nvalues)
{
	struct agent_profbuf *b;
	uint64_t cap = 16;

	if (max_stacks == 0 || max_stacks > (1u << 26) || nvalues == 0 ||
	    nvalues > ST_MAX_VALUES || max_frames == 0 || max_frames > AGENT_MAX_FRAMES_LIMIT) {
		errno = EINVAL;
		return NULL;
	}
	b = kl_calloc(1, sizeof(*b));
	if (!b)
		return NULL;
	while (cap < 2ull * max_stacks)
		cap <<= 1;
	b->max_stacks = max_stacks;
	b->max_frames = max_frames;
	b->nvalues = nvalues;
	b->mask = (uint32_t)(cap - 1);
	b->ebits = 1;
	while ((1ull << b->ebits) <= max_stacks)
		b->ebits++;
	b->arena_cap = (uint64_t)max_stacks * KL_MIN(max_frames, ST_ARENA_FRAMES);
	if (b->arena_cap < 4ull * max_frames)
		b->arena_cap = 4ull * max_frames;
	b->index_len = st_round_page(cap * sizeof(uint32_t));
	b->entries_len = st_round_page((size_t)max_stacks * sizeof(struct st_entry));
	b->arena_len = st_round_page(b->arena_cap * sizeof(uintptr_t));
	atomic_init(&b->active, 0);
	atomic_init(&b->dropped, 0);
	pthread_mutex_init(&b->drain_lock, NULL);
	if (st_table_init(b, &b->t[0]) < 0 || st_table_init(b, &b->t[1]) < 0) {
		agent_profbuf_free(b);
		errno = ENOMEM;
		return NULL;
	}
	return b;
}

void agent_profbuf_free(struct agent_profbuf *b)
{
	if (!b)
		return;
	for (int i = 0; i < 2; i++)
		if (b->t[i].map)
			munmap(b->t[i].map, b->t[i].maplen);
	pthread_mutex_destroy(&b->drain_lock);
	kl_free(b);
}

static bool st_same(const struct st_table *t, const struct st_entry *e, uint32_t labelset,
		    const uintptr_t *pcs, uint32_t n)
{
	const uintptr_t *f;

	if (e->labelset != labelset || e->nframes != n)
		return false;
	f = t->arena + e->frame_off;
	for (uint32_t i = 0; i < n; i++)
		if (f[i] != pcs[i])
			return false;
	return true;
}

static void st_add_values(struct st_entry *e, const int64_t *values, uint32_t nvalues)
{
	for (uint32_t i = 0; i < nvalues; i++)
		atomic_fetch_add_explicit(&e->values[i], values[i], memory_order_relaxed);
}

/* Claims and fills a fresh entry; UINT32_MAX when the table or the arena is full. */
static uint32_t st_new_entry(struct agent_profbuf *b, struct st_table *t, uint32_t labelset,
			     const uintptr_t *pcs, uint32_t n, const int64_t *values)
{
	uint32_t ei = atomic_fetch_add_explicit(&t->nentries, 1, memory_order_relaxed);
	uint64_t off;
	struct st_entry *e;

	if (ei >= b->max_stacks)
		return UINT32_MAX;
	off = atomic_fetch_add_explicit(&t->narena, n, memory_order_relaxed);
	if (off + n > b->arena_cap)
		return UINT32_MAX;
	e = &t->entries[ei];
	e->labelset = labelset;
	e->nframes = n;
	e->frame_off = off;
	for (uint32_t i = 0; i < n; i++)
		t->arena[off + i] = pcs[i];
	for (uint32_t i = 0; i < ST_MAX_VALUES; i++)
		atomic_store_explicit(&e->values[i], i < b->nvalues ? values[i] : 0,
				      memory_order_relaxed);
	return ei;
}

static int st_table_add(struct agent_profbuf *b, struct st_table *t, uint32_t labelset,
			const uintptr_t *pcs, uint32_t n, const int64_t *values)
{
	uint64_t h = st_hash(labelset, pcs, n);
	uint32_t emask = (1u << b->ebits) - 1;
	uint32_t tag = (uint32_t)(h >> 32) & ~emask;	/* the hash bits the slot keeps */
	uint32_t mine = UINT32_MAX;	/* our unpublished entry, once claimed */

	for (uint32_t i = (uint32_t)h & b->mask, probes = 0; probes <= b->mask;
	     i = (i + 1) & b->mask, probes++) {
		uint32_t s = atomic_load_explicit(&t->index[i], memory_order_acquire);

		for (;;) {
			if (s != 0) {
				struct st_entry *e = &t->entries[(s & emask) - 1];

				if ((s & ~emask) == tag && st_same(t, e, labelset, pcs, n)) {
					st_add_values(e, values, b->nvalues);
					return 0;
				}
				break;	/* someone else's stack: probe on */
			}
			if (mine == UINT32_MAX) {
				mine = st_new_entry(b, t, labelset, pcs, n, values);
				if (mine == UINT32_MAX)
					return -1;
			}
			if (atomic_compare_exchange_strong_explicit(
				    &t->index[i], &s, tag | (mine + 1),
				    memory_order_release, memory_order_acquire))
				return 0;
			/* lost the race: s now holds the winner, look at it */
		}
	}
	return -1;
}

int agent_profbuf_add(struct agent_profbuf *b, uint32_t labelset, const uintptr_t *pcs,
		      uint32_t n, const int64_t *values)
{
	struct st_table *t;
	int idx, rc;

	if (n > b->max_frames)
		n = b->max_frames;
	for (;;) {
		idx = atomic_load(&b->active);
		t = &b->t[idx];
		atomic_fetch_add(&t->writers, 1);
		if (atomic_load(&b->active) == idx)
			break;
		atomic_fetch_sub(&t->writers, 1);
	}
	rc = st_table_add(b, t, labelset, pcs, n, values);
	atomic_fetch_sub_explicit(&t->writers, 1, memory_order_release);
	if (rc < 0)
		atomic_fetch_add_explicit(&b->dropped, 1, memory_order_relaxed);
	return rc;
}

static void st_table_clear(struct agent_profbuf *b, struct st_table *t)
{
	uint32_t ne = atomic_load(&t->nentries);
	uint64_t na = atomic_load(&t->narena);

	if (ne == 0)
		return;
	/* MADV_DONTNEED zero-fills on next touch and gives the pages back */
	madvise(t->map, b->index_len, MADV_DONTNEED);
	if (ne > b->max_stacks)
		ne = b->max_stacks;
	if (na > b->arena_cap)
		na = b->arena_cap;
	if ((size_t)ne * sizeof(struct st_entry) > 65536)
		madvise(t->entries, st_round_page((size_t)ne * sizeof(struct st_entry)),
			MADV_DONTNEED);
	if (na * sizeof(uintptr_t) > 65536)
		madvise(t->arena, st_round_page(na * sizeof(uintptr_t)), MADV_DONTNEED);
	atomic_store(&t->nentries, 0);
	atomic_store(&t->narena, 0);
}

uint64_t agent_profbuf_drain(struct agent_profbuf *b, agent_stack_fn fn, void *ctx)
{
	struct st_table *t;
	int old;
	int64_t vals[ST_MAX_VALUES];

	pthread_mutex_lock(&b->drain_lock);
	old = atomic_load(&b->active);
	atomic_store(&b->active, !old);
	t = &b->t[old];
	for (unsigned spins = 0; atomic_load(&t->writers) != 0; spins++) {
		if (spins < 100) {
			sched_yield();
		} else {
			struct timespec ts = {0, 100000};

			nanosleep(&ts, NULL);
		}
	}
	if (fn && atomic_load(&t->nentries) > 0) {
		for (uint32_t i = 0; i <= b->mask; i++) {
			uint32_t s = atomic_load_explicit(&t->index[i], memory_order_acquire);
			struct st_entry *e;

			if (!s)
				continue;
			e = &t->entries[(s & ((1u << b->ebits) - 1)) - 1];
			for (uint32_t v = 0; v < b->nvalues; v++)
				vals[v] = atomic_load_explicit(&e->values[v], memory_order_relaxed);
			fn(ctx, e->labelset, t->arena + e->frame_off, e->nframes, vals);
		}
	}
	st_table_clear(b, t);
	pthread_mutex_unlock(&b->drain_lock);
	return atomic_exchange(&b->dropped, 0);
}
