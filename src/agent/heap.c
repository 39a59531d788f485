/* SPDX-License-Identifier: Apache-2.0 */
/*
 * heap.c - the malloc family and C++ operator new/delete, interposed, with
 * Poisson sampling by bytes (profile-types.md "Heap sampling"). Every hook
 * forwards to glibc's exported __libc_* entry points, so nothing needs dlsym
 * before the first allocation; until agent_heap_start the only extra cost
 * is one predictable branch on heap_on.
 *
 * Sections: sampling state and PRNG; the live table (sampled pointers not
 * yet freed) and its stack store; the sampled slow paths; start/stop, the
 * allocation drain and the in-use snapshot; the interposed C functions;
 * operator new/delete.
 *
 * Invariants:
 *   1. a sampled allocation of s bytes carries its own weights, objects
 *      1/p and bytes s/p with p = 1 - exp(-s/T), rounded to integers
 *      without bias (objects by a random draw, bytes to nearest);
 *   2. the live table and the stack store are mapped once and never
 *      unmapped (stop only gives their pages back), the filter is static: a
 *      free() racing with agent_heap_stop reads at worst a zeroed filter;
 *      the store's current half only grows while a snapshot reads it
 *      (heap_readers), and is compacted into the other half when full;
 *   2a. each (label set, stack) is stored once: the live entries of its
 *      samples point at it, and it carries the allocations sampled on it
 *      since the last drain (the alloc profile), so that a stack costs its
 *      frames once, not once here and again in a separate allocation table;
 *   3. every change to the live table, filter and stack store happens under
 *      heap_mu, a spinlock taken only on sampled events (and frees that pass
 *      the filter), with in_agent raised so that a nested hook on the same
 *      thread (a signal handler) passes through instead of deadlocking; a
 *      fork() handler keeps it consistent in the child;
 *   4. the filter counts live entries per address granule: a zero counter
 *      proves that a pointer was not sampled, which is the whole cost of
 *      free().
 */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "core/base.h"
#include "unwind.h"

#define HEAP_API __attribute__((visibility("default")))
#define HEAP_RET __builtin_return_address(0)
#define HEAP_LIKELY(x) __builtin_expect(!!(x), 1)
#define HEAP_UNLIKELY(x) __builtin_expect(!!(x), 0)

/* called through the GOT, without a PLT stub on the way (gcc knows how) */
#if defined(__GNUC__) && !defined(__clang__)
#define HEAP_NOPLT __attribute__((noplt))
#else
#define HEAP_NOPLT
#endif

/* glibc's own allocator entry points (exported, stable since 2.2.5) */
HEAP_NOPLT void *__libc_malloc(size_t n);
HEAP_NOPLT void *__libc_calloc(size_t nmemb, size_t n);
HEAP_NOPLT void *__libc_realloc(void *p, size_t n);
HEAP_NOPLT void __libc_free(void *p);
HEAP_NOPLT void *__libc_memalign(size_t align, size_t n);
void *__libc_valloc(size_t n);
void *__libc_pvalloc(size_t n);

/* live table: slots (a power of two) and the most entries kept (load <= 1/2) */
#define HEAP_LIVE_SLOTS (1u << 17)
#define HEAP_LIVE_MAX (HEAP_LIVE_SLOTS / 2)
/*
 * Filter counters, one byte per 256-byte granule of address space (modulo
 * 8 MiB), and the bit per granule that free() reads: set while the counter
 * is not zero. The bits of 8 MiB take 4 KiB (a heap of 1 MiB: 8 cache
 * lines), so the check stays in L1 next to the allocator's own data, which
 * the 32 KiB of counters did not; a false positive (a granule, or its
 * alias, holds a live sample) costs one locked probe. A counter that
 * reaches 255 sticks (no false negative). Both change only under heap_mu.
 */
#define HEAP_FILTER_BITS 15
#define HEAP_FILTER_GRAIN 8
#define HEAP_FILTER_STUCK 255
/*
 * Stack store, twice: index slots and arena words (frames + HS_PCS header
 * words per stack) per half. When the current half is full it is compacted
 * into the other one, keeping the stacks live samples still use and, while
 * there is room, those with allocations not drained yet.
 */
#define HEAP_STACK_SLOTS (1u << 17)
#define HEAP_ARENA_WORDS (1u << 21)
/* an entry's words: header (hash high bits | frames), samples << 32 | label set, sums, frames */
#define HS_HEAD 0
#define HS_TAG 1
#define HS_OBJECTS 2
#define HS_BYTES 3
#define HS_PCS 4

struct heap_live {
	uintptr_t ptr;		/* 0 = empty slot */
	uint32_t stack;		/* arena offset + 1 of the stack's header word */
	int64_t objects, bytes;	/* this sample's weights */
};

struct heap_stacks {
	uint32_t *slots;			/* HEAP_STACK_SLOTS: arena offset + 1 */
	uintptr_t *arena;			/* HEAP_ARENA_WORDS */
	uint32_t nstacks, used;			/* stacks and arena words in use */
};

struct heap_maps {
	struct heap_live *live;			/* HEAP_LIVE_SLOTS */
	struct heap_stacks st[2];		/* st[heap_cur] is in use */
	uint32_t *dirty;			/* stacks with undrained allocations */
	size_t live_len, slots_len, arena_len, dirty_len;
};

static _Atomic int heap_on;		/* sampling; read first by every hook */
static _Atomic int heap_inflight;	/* threads in a slow path (stop waits for 0) */
static _Atomic int heap_mu;		/* the spinlock of invariant 3 */
static _Atomic uint64_t heap_nsamples, heap_ndropped;
static uint64_t heap_alloc_lost;	/* samples whose allocations were lost: store full */
static double heap_mean = 524288.0;	/* T */
static double heap_inv_mean = 1.0 / 524288.0;
static int heap_max_frames = 128;
static bool heap_follow_fork;
static unsigned heap_max_stacks = HEAP_STACK_SLOTS / 2;
static struct heap_maps heap_m;
/* in .bss: the hot check needs no pointer load, and it is never unmapped */
static _Atomic uint8_t heap_filter[1u << HEAP_FILTER_BITS] __attribute__((aligned(64)));
/* 64-bit words: a register bit test takes its bit number modulo 64 (one masking step less) */
static _Atomic uint64_t heap_fbits[1u << (HEAP_FILTER_BITS - 6)] __attribute__((aligned(64)));
static uint32_t heap_nlive;		/* under heap_mu, as heap_cur */
static uint32_t heap_ndirty;		/* entries of heap_m.dirty */
static int heap_cur;			/* the stack store half in use */
static int heap_readers;		/* in-use snapshots reading the arena: no compaction */
static uint32_t heap_stack_gen;		/* compactions so far: stack references change */
static pthread_once_t heap_atfork_once = PTHREAD_ONCE_INIT;

/* libstdc++'s (or libc++'s) own operator new, for its out-of-memory behaviour */
static void *(*heap_real_new)(size_t);
static void *(*heap_real_new_nothrow)(size_t, const void *);
static void *(*heap_real_new_al)(size_t, size_t);
static void *(*heap_real_new_al_nothrow)(size_t, size_t, const void *);

/* ---- sampling state ------------------------------------------------------------ */

static uint64_t heap_rand(void)
{
	/* xorshift64*: per thread, seeded on the thread's first sampled path */
	uint64_t x = agent_self.rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	agent_self.rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* A uniform double in (0, 1]. */
static double heap_uniform(void)
{
	return (double)((heap_rand() >> 11) + 1) * (1.0 / 9007199254740992.0);
}

static void heap_seed(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	agent_self.rng = kl_hash_u64((uint64_t)syscall(SYS_gettid) << 32 ^
				     (uint64_t)ts.tv_nsec ^ (uint64_t)ts.tv_sec << 40 ^
				     (uintptr_t)&agent_self) | 1;
}

/* Bytes until the next sample: exponential with mean T, at least 1. */
static int64_t heap_draw(void)
{
	double d = -log(heap_uniform()) * heap_mean;

	return d >= 9e18 ? INT64_MAX : (int64_t)d + 1;
}

/* ---- the live table and its stack store (under heap_mu) ---------------------- */

static void heap_lock(void)
{
	unsigned spins = 0;

	while (atomic_exchange_explicit(&heap_mu, 1, memory_order_acquire)) {
		while (atomic_load_explicit(&heap_mu, memory_order_relaxed)) {
			if (++spins < 64)
				__builtin_ia32_pause();
			else
				sched_yield();
		}
	}
}

static void heap_unlock(void)
{
	atomic_store_explicit(&heap_mu, 0, memory_order_release);
}

static void heap_atfork_prepare(void)
{
	agent_self.in_agent++;
	heap_lock();
}

static void heap_atfork_parent(void)
{
	heap_unlock();
	agent_self.in_agent--;
}

static void heap_atfork_child(void)
{
	/* only the forking thread exists now: whoever else held the lock is gone */
	atomic_store_explicit(&heap_mu, 0, memory_order_relaxed);
	atomic_store_explicit(&heap_inflight, 0, memory_order_relaxed);
	/* a child that is not profiled stops sampling into tables nobody reads */
	if (!heap_follow_fork)
		atomic_store(&heap_on, 0);
	agent_self.in_agent--;
}

static void heap_register_atfork(void)
{
	pthread_atfork(heap_atfork_prepare, heap_atfork_parent, heap_atfork_child);
}

/*
 * The live table slot of p: the 256-byte granule within its 1 MiB region in
 * the low 12 bits, a hash of the region above. Samples from one region of
 * the heap then share a 128 KiB window of the table instead of touching a
 * new page (a fault on first use, a cache miss after) per sample, and the
 * regions still spread over the table. Two live samples in one granule are
 * rare at any sensible rate; linear probing takes care of them.
 */
static inline uint32_t heap_ptr_hash(uintptr_t p)
{
	return ((uint32_t)(p >> 8) & 0xfff) |
	       (uint32_t)(((p >> 20) * 0x9E3779B97F4A7C15ULL) >> 40) << 12;
}

static inline uint32_t heap_granule(uintptr_t p)
{
	return (uint32_t)(p >> HEAP_FILTER_GRAIN) & ((1u << HEAP_FILTER_BITS) - 1);
}

/* Lock-free negative answer of invariant 4: false = certainly not sampled. */
static inline bool heap_maybe_live(void *p)
{
	uint32_t g = heap_granule((uintptr_t)p);
	uint64_t w = atomic_load_explicit(&heap_fbits[g >> 6], memory_order_relaxed);

	return (w >> (g & 63)) & 1;
}

static void heap_filter_add(uintptr_t p, int d)
{
	uint32_t g = heap_granule(p);
	_Atomic uint8_t *f = &heap_filter[g];
	_Atomic uint64_t *b = &heap_fbits[g >> 6];
	uint8_t c = atomic_load_explicit(f, memory_order_relaxed);
	uint64_t bits = atomic_load_explicit(b, memory_order_relaxed);

	if (c == HEAP_FILTER_STUCK)
		return;
	c = (uint8_t)(c + d);
	atomic_store_explicit(f, c, memory_order_relaxed);
	/* the bit is set before the entry is visible to a free (both under heap_mu) */
	bits = c ? bits | (uint64_t)1 << (g & 63) : bits & ~((uint64_t)1 << (g & 63));
	atomic_store_explicit(b, bits, memory_order_relaxed);
}

/* The slot holding p, or -1. */
static long heap_live_find(uintptr_t p)
{
	uint32_t mask = HEAP_LIVE_SLOTS - 1, i = heap_ptr_hash(p) & mask;

	for (;; i = (i + 1) & mask) {
		if (heap_m.live[i].ptr == p)
			return i;
		if (heap_m.live[i].ptr == 0)
			return -1;
	}
}

/* Removes slot i, shifting later entries of the cluster back (no tombstones). */
static void heap_live_remove(uint32_t i)
{
	uint32_t mask = HEAP_LIVE_SLOTS - 1, j = i;

	heap_filter_add(heap_m.live[i].ptr, -1);
	heap_nlive--;
	for (;;) {
		j = (j + 1) & mask;
		if (heap_m.live[j].ptr == 0)
			break;
		uint32_t home = heap_ptr_hash(heap_m.live[j].ptr) & mask;
		/* j's entry may move to i only if its home is not in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			heap_m.live[i] = heap_m.live[j];
			i = j;
		}
	}
	memset(&heap_m.live[i], 0, sizeof(heap_m.live[i]));
}

static bool heap_live_insert(const struct heap_live *e)
{
	uint32_t mask = HEAP_LIVE_SLOTS - 1, i;
	long old = heap_live_find(e->ptr);

	/* a stale entry (its free passed through a nested hook) is replaced */
	if (old >= 0)
		heap_live_remove((uint32_t)old);
	if (heap_nlive >= HEAP_LIVE_MAX)
		return false;
	for (i = heap_ptr_hash(e->ptr) & mask; heap_m.live[i].ptr; i = (i + 1) & mask)
		;
	heap_m.live[i] = *e;
	heap_filter_add(e->ptr, 1);
	heap_nlive++;
	return true;
}

/*
 * The reference of (labelset, stack) in st, interned when add and st has
 * room for another of n frames (a new entry has zero sums); else 0.
 */
static uint32_t heap_stacks_intern(struct heap_stacks *st, uint32_t labelset,
				   const uintptr_t *pcs, uint32_t n, bool add)
{
	uint64_t h = kl_hash(pcs, n * sizeof(*pcs)) ^ ((uint64_t)labelset * 0x9E3779B97F4A7C15ULL);
	uint64_t head = (h & ~(uint64_t)0xffffffff) | n;
	uint32_t mask = HEAP_STACK_SLOTS - 1, i = (uint32_t)h & mask;
	uintptr_t *e;

	for (;; i = (i + 1) & mask) {
		uint32_t ref = st->slots[i];

		if (ref == 0)
			break;
		const uintptr_t *s = &st->arena[ref - 1];
		if (s[HS_HEAD] == head && (uint32_t)s[HS_TAG] == labelset &&
		    memcmp(s + HS_PCS, pcs, n * sizeof(*pcs)) == 0)
			return ref;
	}
	if (!add || st->nstacks >= heap_max_stacks || st->used + HS_PCS + n > HEAP_ARENA_WORDS)
		return 0;
	e = &st->arena[st->used];
	e[HS_HEAD] = head;
	e[HS_TAG] = labelset;
	e[HS_OBJECTS] = e[HS_BYTES] = 0;
	memcpy(e + HS_PCS, pcs, n * sizeof(*pcs));
	st->slots[i] = st->used + 1;
	st->used += HS_PCS + n;
	st->nstacks++;
	return st->slots[i];
}

/* Interns from's entry s in to (with its sums when it is new there); 0: no room. */
static uint32_t heap_stacks_copy(struct heap_stacks *to, const uintptr_t *s, bool add)
{
	uint32_t before = to->nstacks;
	uint32_t ref = heap_stacks_intern(to, (uint32_t)s[HS_TAG], s + HS_PCS,
					  (uint32_t)(s[HS_HEAD] & 0xffffffff), add);

	if (ref && to->nstacks != before)
		memcpy(&to->arena[ref - 1 + HS_TAG], s + HS_TAG, 3 * sizeof(*s));
	return ref;
}

static void heap_stacks_clear(struct heap_stacks *st)
{
	madvise(st->slots, heap_m.slots_len, MADV_DONTNEED);
	madvise(st->arena, heap_m.arena_len, MADV_DONTNEED);
	st->nstacks = st->used = 0;
}

/*
 * Moves the stacks live samples use into the other half and switches to it
 * (under heap_mu, with no snapshot reading the arena), then the stacks with
 * undrained allocations while the new half stays at most half full (their
 * allocations are lost beyond that, counted in heap_alloc_lost). Worth it
 * only while live samples use at most half the store, else it would run
 * again at once.
 */
static bool heap_stacks_compact(void)
{
	struct heap_stacks *from = &heap_m.st[heap_cur], *to = &heap_m.st[!heap_cur];
	uint32_t k, kept = 0;

	if (heap_readers > 0 || heap_nlive > heap_max_stacks / 2)
		return false;
	heap_stacks_clear(to);
	for (uint32_t i = 0; i < HEAP_LIVE_SLOTS; i++) {
		struct heap_live *e = &heap_m.live[i];

		if (!e->ptr)
			continue;
		/* cannot fail: fewer stacks than before, and at most the same words */
		e->stack = heap_stacks_copy(to, &from->arena[e->stack - 1], true);
	}
	/* the dirty list is rewritten in place: it never gains entries here */
	for (k = 0; k < heap_ndirty; k++) {
		const uintptr_t *s = &from->arena[heap_m.dirty[k] - 1];
		uint32_t ref = heap_stacks_copy(to, s, to->nstacks < heap_max_stacks / 2);

		if (ref)
			heap_m.dirty[kept++] = ref;
		else
			heap_alloc_lost += s[HS_TAG] >> 32;
	}
	heap_ndirty = kept;
	heap_cur = !heap_cur;
	heap_stack_gen++;
	heap_stacks_clear(from);
	return true;
}

/* The stack's reference in the current store, compacting it when full; 0: full. */
static uint32_t heap_stack_intern(uint32_t labelset, const uintptr_t *pcs, uint32_t n)
{
	uint32_t ref = heap_stacks_intern(&heap_m.st[heap_cur], labelset, pcs, n, true);

	if (ref == 0 && heap_stacks_compact())
		ref = heap_stacks_intern(&heap_m.st[heap_cur], labelset, pcs, n, true);
	return ref;
}

/* Adds one sample's weights to the allocations of stack ref (under heap_mu). */
static void heap_stack_count(uint32_t ref, int64_t objects, int64_t bytes)
{
	uintptr_t *s = &heap_m.st[heap_cur].arena[ref - 1];

	if ((s[HS_TAG] >> 32) == 0)
		heap_m.dirty[heap_ndirty++] = ref;	/* < nstacks <= the list's size */
	s[HS_TAG] += (uint64_t)1 << 32;
	s[HS_OBJECTS] = (uintptr_t)((int64_t)s[HS_OBJECTS] + objects);
	s[HS_BYTES] = (uintptr_t)((int64_t)s[HS_BYTES] + bytes);
}

/* ---- sampled slow paths ------------------------------------------------------------ */

/* Unbiased integer of w >= 0: floor(w) plus one with probability frac(w). */
static int64_t heap_round_random(double w)
{
	double f = floor(w);

	return (int64_t)f + (heap_uniform() <= w - f ? 1 : 0);
}

/*
 * Unwinds from here and drops the agent's own frames: everything up to the
 * hook's return address into its caller (ret), so the stack starts at the
 * allocating function whatever the compiler inlined or tail-called.
 */
static int heap_unwind(uintptr_t *pcs, int max, void *ret)
{
	int n = agent_unwind_here(pcs, max, 0), i;

	for (i = 0; i < n; i++) {
		if (pcs[i] == (uintptr_t)ret - 1) {
			memmove(pcs, pcs + i, (size_t)(n - i) * sizeof(*pcs));
			return n - i;
		}
	}
	/* not found (an unwinder that lost the hook's frame): keep what we have */
	return n;
}

/*
 * What the unwinder needs and nobody else provides when the sampler is off
 * (heap or lock profiling only), done on the sampled path, never in a
 * signal handler, with in_agent raised (hooks pass through):
 *   - the thread's stack bounds: without them every stack read is checked
 *     with a probe syscall (pthread_getattr_np allocates, and on the main
 *     thread reads /proc/self/maps: once per thread);
 *   - objects loaded by dlopen, when the process is single-threaded and so
 *     has no exporter or ticker thread polling for them (export.c starts
 *     its thread lazily). Only then: with one thread, nobody else can hold
 *     the loader's lock or mod_lock while we wait for them, and r_state
 *     says whether this thread is itself inside dlopen (a half-built link
 *     map). At most every 100 ms.
 */
static __attribute__((noinline)) void heap_unwind_prepare(void)
{
	static int64_t last_poll;

	if (!agent_stack_bounds.tried)
		agent_unwind_thread_init_nolock();
	if (__libc_single_threaded && _r_debug.r_state == RT_CONSISTENT) {
		struct timespec ts;
		int64_t now;

		clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
		now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
		if (now - last_poll >= 100000000) {
			last_poll = now;
			agent_modules_poll();
		}
	}
}

/*
 * Inlined into the one sampled path (heap_sampled): every agent frame on the
 * stack is one more frame the unwinder steps through and then throws away.
 */
static inline __attribute__((always_inline)) void heap_record(void *p, size_t s, void *ret)
{
	uintptr_t pcs[AGENT_MAX_FRAMES_LIMIT];
	struct heap_live e = {.ptr = (uintptr_t)p};
	uint32_t labelset = agent_labelset_current();
	double prob = -expm1(-(double)s * heap_inv_mean);
	int n;
	bool kept;

	e.objects = heap_round_random(1.0 / prob);
	e.bytes = (int64_t)((double)s / prob + 0.5);
	if (HEAP_UNLIKELY(!agent_stack_bounds.tried) || __libc_single_threaded)
		heap_unwind_prepare();
	n = heap_unwind(pcs, heap_max_frames, ret);
	if (n <= 0) {
		atomic_fetch_add_explicit(&heap_ndropped, 1, memory_order_relaxed);
		return;
	}
	atomic_fetch_add_explicit(&heap_nsamples, 1, memory_order_relaxed);
	heap_lock();
	e.stack = heap_stack_intern(labelset, pcs, (uint32_t)n);
	if (e.stack)
		heap_stack_count(e.stack, e.objects, e.bytes);
	else
		heap_alloc_lost++;
	kept = e.stack && heap_live_insert(&e);
	heap_unlock();
	if (!kept)
		atomic_fetch_add_explicit(&heap_ndropped, 1, memory_order_relaxed);
}

/*
 * The countdown of this thread crossed zero on an allocation of s bytes at p
 * (NULL: it failed). Decides whether it is a sample and records it.
 */
static inline __attribute__((always_inline)) void heap_sample(void *p, size_t s, void *ret)
{
	if (HEAP_UNLIKELY(agent_self.rng == 0)) {
		/* a thread's first crossing: start its countdown now, this allocation included */
		heap_seed();
		agent_self.heap_countdown = heap_draw() - (int64_t)s;
		if (agent_self.heap_countdown > 0)
			return;
	}
	agent_self.heap_countdown = heap_draw();
	/* the agent's own allocations are not the program's; s = 0 has p = 0 */
	if (agent_self.in_agent > 0 || p == NULL || s == 0)
		return;
	atomic_fetch_add(&heap_inflight, 1);
	if (atomic_load(&heap_on)) {
		agent_self.in_agent++;
		heap_record(p, s, ret);
		agent_self.in_agent--;
	}
	atomic_fetch_sub(&heap_inflight, 1);
}

/* Counts s bytes down this thread's countdown: true when it crossed zero. */
static inline bool heap_due(size_t s)
{
	/*
	 * Unsigned, wrapping: no masking of s. A size over INT64_MAX (it
	 * fails) may skip the crossing; heap_sample ignores failed ones anyway.
	 */
	int64_t c = (int64_t)((uint64_t)agent_self.heap_countdown - s);

	agent_self.heap_countdown = c;
	return HEAP_UNLIKELY(c <= 0);
}

/* p was just allocated with s bytes and the countdown crossed: returns p. */
static __attribute__((noinline, cold)) void *heap_sampled(void *p, size_t s, void *ret)
{
	heap_sample(p, s, ret);
	return p;
}

/*
 * The body of the allocating hooks. Off: one branch and a tail call. On:
 * the countdown first, so that the common case is still a tail call; the
 * sampled case allocates, then records. ALLOC is the glibc call.
 */
#define HEAP_ALLOC(ALLOC, SIZE)                                                 \
	do {                                                                    \
		if (HEAP_LIKELY(!heap_active()) || HEAP_LIKELY(!heap_due(SIZE)))  \
			return ALLOC;                                           \
		return heap_sampled(ALLOC, SIZE, HEAP_RET);                     \
	} while (0)

/*
 * Removes p from the live table if it is there; *out (if not NULL) gets its
 * entry and *gen the stack store generation its stack reference belongs to.
 */
static __attribute__((noinline)) bool heap_forget(void *p, struct heap_live *out, uint32_t *gen)
{
	bool found = false;
	long i;

	if (agent_self.in_agent > 0)
		return false;
	atomic_fetch_add(&heap_inflight, 1);
	if (atomic_load(&heap_on)) {
		agent_self.in_agent++;
		heap_lock();
		i = heap_live_find((uintptr_t)p);
		if (i >= 0) {
			if (out) {
				*out = heap_m.live[i];
				*gen = heap_stack_gen;
			}
			heap_live_remove((uint32_t)i);
			found = true;
		}
		heap_unlock();
		agent_self.in_agent--;
	}
	atomic_fetch_sub(&heap_inflight, 1);
	return found;
}

static inline bool heap_active(void)
{
	return HEAP_UNLIKELY(atomic_load_explicit(&heap_on, memory_order_acquire));
}

/*
 * No test of heap_on: the filter is all zero whenever sampling is off
 * (static, cleared by start and stop), so the filter byte alone decides, on
 * and off alike; heap_forget checks heap_on for a free racing with stop.
 */
static inline void heap_free(void *p)
{
	if (p && HEAP_UNLIKELY(heap_maybe_live(p)))
		heap_forget(p, NULL, NULL);
	__libc_free(p);
}

static __attribute__((noinline)) void *heap_realloc(void *p, size_t n, void *ret)
{
	struct heap_live old;
	uint32_t gen = 0;
	bool had = false;
	void *q;

	/* forget first: once glibc has p back another thread may get and sample it */
	if (p && heap_maybe_live(p))
		had = heap_forget(p, &old, &gen);
	q = __libc_realloc(p, n);
	if (q == NULL) {
		if (had && n != 0) {
			/* p is still allocated: keep counting it, if its stack is still there */
			agent_self.in_agent++;
			heap_lock();
			if (gen != heap_stack_gen || !heap_live_insert(&old))
				atomic_fetch_add_explicit(&heap_ndropped, 1, memory_order_relaxed);
			heap_unlock();
			agent_self.in_agent--;
		}
		return NULL;
	}
	return heap_due(n) ? heap_sampled(q, n, ret) : q;
}

/* ---- start, stop, in-use snapshot ----------------------------------------------- */

static void *heap_map(size_t *len, size_t want)
{
	long pg = sysconf(_SC_PAGESIZE);
	void *m;

	*len = (want + (size_t)pg - 1) & ~((size_t)pg - 1);
	m = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	return m == MAP_FAILED ? NULL : m;
}

static int heap_maps_init(void)
{
	struct heap_maps m = {0};

	if (heap_m.live)
		return 0;
	m.live = heap_map(&m.live_len, HEAP_LIVE_SLOTS * sizeof(struct heap_live));
	for (int k = 0; k < 2; k++) {
		m.st[k].slots = heap_map(&m.slots_len, HEAP_STACK_SLOTS * sizeof(uint32_t));
		m.st[k].arena = heap_map(&m.arena_len, HEAP_ARENA_WORDS * sizeof(uintptr_t));
	}
	m.dirty = heap_map(&m.dirty_len, HEAP_STACK_SLOTS / 2 * sizeof(uint32_t));
	if (!m.live || !m.dirty || !m.st[0].slots || !m.st[0].arena || !m.st[1].slots ||
	    !m.st[1].arena) {
		if (m.live)
			munmap(m.live, m.live_len);
		if (m.dirty)
			munmap(m.dirty, m.dirty_len);
		for (int k = 0; k < 2; k++) {
			if (m.st[k].slots)
				munmap(m.st[k].slots, m.slots_len);
			if (m.st[k].arena)
				munmap(m.st[k].arena, m.arena_len);
		}
		return -ENOMEM;
	}
	heap_m = m;
	return 0;
}

/* Empties the tables and gives their pages back (heap_on is 0, nobody inside). */
static void heap_maps_clear(void)
{
	madvise(heap_m.live, heap_m.live_len, MADV_DONTNEED);
	for (size_t i = 0; i < KL_ARRAY_SIZE(heap_filter); i++)
		atomic_store_explicit(&heap_filter[i], 0, memory_order_relaxed);
	for (size_t i = 0; i < KL_ARRAY_SIZE(heap_fbits); i++)
		atomic_store_explicit(&heap_fbits[i], 0, memory_order_relaxed);
	heap_stacks_clear(&heap_m.st[0]);
	heap_stacks_clear(&heap_m.st[1]);
	madvise(heap_m.dirty, heap_m.dirty_len, MADV_DONTNEED);
	heap_nlive = 0;
	heap_ndirty = 0;
	heap_alloc_lost = 0;
	heap_cur = 0;
}

int agent_heap_start(const struct agent_config *c)
{
	int err = 0;

	if (atomic_load(&heap_on))
		return -KILN_EALREADY;
	agent_self.in_agent++;
	err = heap_maps_init();
	if (err)
		goto out;
	/* the unwinder needs the module list even when the sampler is off */
	err = agent_modules_refresh();
	if (err)
		goto out;
	pthread_once(&heap_atfork_once, heap_register_atfork);
	heap_maps_clear();
	heap_mean = c->heap_sample_bytes ? (double)c->heap_sample_bytes : 524288.0;
	heap_inv_mean = 1.0 / heap_mean;
	heap_follow_fork = c->follow_fork;
	/*
	 * This thread draws its first countdown afresh with the new mean; other
	 * threads finish the countdown they had (at most one old interval each).
	 */
	agent_self.rng = 0;
	agent_self.heap_countdown = 0;
	heap_max_frames = (int)KL_MIN(KL_MAX(c->max_frames, 1u), AGENT_MAX_FRAMES_LIMIT);
	heap_max_stacks = KL_MIN(KL_MAX(c->max_stacks, 1u), HEAP_STACK_SLOTS / 2);
	atomic_store(&heap_nsamples, 0);
	atomic_store(&heap_ndropped, 0);
	atomic_store_explicit(&heap_on, 1, memory_order_release);
out:
	agent_self.in_agent--;
	return err;
}

void agent_heap_stop(void)
{
	atomic_store(&heap_on, 0);
	while (atomic_load(&heap_inflight) > 0)
		sched_yield();
	/* nobody is inside now: give the memory back (the tables stay mapped) */
	agent_self.in_agent++;
	if (heap_m.live)
		heap_maps_clear();
	agent_self.in_agent--;
}

uint64_t agent_heap_samples(void)
{
	return atomic_load_explicit(&heap_nsamples, memory_order_relaxed);
}

uint64_t agent_heap_dropped(void)
{
	return atomic_load_explicit(&heap_ndropped, memory_order_relaxed);
}

size_t agent_heap_stack_bytes(void)
{
	size_t n;

	if (!heap_m.live)
		return 0;
	agent_self.in_agent++;
	heap_lock();
	n = heap_m.st[heap_cur].used * sizeof(uintptr_t);
	heap_unlock();
	agent_self.in_agent--;
	return n;
}

struct heap_snap {
	uint32_t stack;
	int64_t objects, bytes;
};

static int heap_snap_cmp(const void *a, const void *b)
{
	const struct heap_snap *x = a, *y = b;

	return x->stack < y->stack ? -1 : x->stack > y->stack;
}

/*
 * Reports snap[0..n) (sorted by stack: equal stacks are summed) from arena,
 * which the caller keeps from compaction (heap_readers), then lets go of it.
 */
static void heap_report(const uintptr_t *arena, struct heap_snap *snap, size_t n,
			agent_stack_fn fn, void *ctx)
{
	size_t i, j;

	for (i = 0; i < n; i = j) {
		int64_t v[2] = {0, 0};
		const uintptr_t *s = &arena[snap[i].stack - 1];

		for (j = i; j < n && snap[j].stack == snap[i].stack; j++) {
			v[0] += snap[j].objects;
			v[1] += snap[j].bytes;
		}
		fn(ctx, (uint32_t)s[HS_TAG], s + HS_PCS, (uint32_t)(s[HS_HEAD] & 0xffffffff), v);
	}
	heap_lock();
	heap_readers--;
	heap_unlock();
}

uint64_t agent_heap_allocs(agent_stack_fn fn, void *ctx)
{
	struct heap_snap *snap = NULL;
	const uintptr_t *arena;
	uintptr_t *cur;
	uint64_t lost = 0;
	size_t n = 0, cap;

	if (!heap_m.live)
		return 0;
	agent_self.in_agent++;
	/* sized outside the lock; stacks sampled since wait for the next drain */
	heap_lock();
	cap = heap_ndirty;
	heap_unlock();
	snap = cap ? kl_malloc(cap * sizeof(*snap)) : NULL;
	if (cap && !snap)
		goto out;
	heap_lock();
	cur = heap_m.st[heap_cur].arena;
	for (uint32_t k = 0; k < heap_ndirty; k++) {
		uintptr_t *s = &cur[heap_m.dirty[k] - 1];

		if (n == cap) {
			/* no room: move it to the front for the next drain */
			heap_m.dirty[k - n] = heap_m.dirty[k];
			continue;
		}
		snap[n++] = (struct heap_snap){heap_m.dirty[k], (int64_t)s[HS_OBJECTS],
					       (int64_t)s[HS_BYTES]};
		s[HS_TAG] &= 0xffffffff;
		s[HS_OBJECTS] = s[HS_BYTES] = 0;
	}
	heap_ndirty -= (uint32_t)n;
	lost = heap_alloc_lost;
	heap_alloc_lost = 0;
	/* the arena only grows until we are done: no compaction meanwhile */
	arena = cur;
	heap_readers++;
	heap_unlock();
	heap_report(arena, snap, n, fn, ctx);
out:
	kl_free(snap);
	agent_self.in_agent--;
	return lost;
}

int agent_heap_inuse(agent_stack_fn fn, void *ctx)
{
	struct heap_snap *snap = NULL;
	const uintptr_t *arena;
	size_t n = 0, cap;
	int err = 0;

	if (!heap_m.live)
		return 0;
	agent_self.in_agent++;
	/* copy under the lock (no allocation there), report outside it */
	cap = HEAP_LIVE_MAX;
	snap = kl_malloc(cap * sizeof(*snap));
	if (!snap) {
		err = -ENOMEM;
		goto out;
	}
	heap_lock();
	for (size_t i = 0; i < HEAP_LIVE_SLOTS && n < cap; i++) {
		const struct heap_live *e = &heap_m.live[i];

		if (e->ptr)
			snap[n++] = (struct heap_snap){e->stack, e->objects, e->bytes};
	}
	arena = heap_m.st[heap_cur].arena;
	heap_readers++;
	heap_unlock();
	qsort(snap, n, sizeof(*snap), heap_snap_cmp);
	heap_report(arena, snap, n, fn, ctx);
out:
	kl_free(snap);
	agent_self.in_agent--;
	return err;
}

__attribute__((constructor)) static void heap_resolve_new(void)
{
	/* before any failure needs them; dlsym may allocate, which passes through */
	agent_self.in_agent++;
	heap_real_new = (void *(*)(size_t))dlsym(RTLD_NEXT, "_Znwm");
	heap_real_new_nothrow = (void *(*)(size_t, const void *))
		dlsym(RTLD_NEXT, "_ZnwmRKSt9nothrow_t");
	heap_real_new_al = (void *(*)(size_t, size_t))dlsym(RTLD_NEXT, "_ZnwmSt11align_val_t");
	heap_real_new_al_nothrow = (void *(*)(size_t, size_t, const void *))
		dlsym(RTLD_NEXT, "_ZnwmSt11align_val_tRKSt9nothrow_t");
	agent_self.in_agent--;
}

/* ---- the interposed C functions ------------------------------------------------------ */


HEAP_API void *malloc(size_t n)
{
	HEAP_ALLOC(__libc_malloc(n), n);
}

HEAP_API void free(void *p)
{
	heap_free(p);
}

HEAP_API void *calloc(size_t nmemb, size_t n)
{
	size_t s;

	if (__builtin_mul_overflow(nmemb, n, &s))
		return __libc_calloc(nmemb, n);	/* fails with ENOMEM */
	HEAP_ALLOC(__libc_calloc(nmemb, n), s);
}

HEAP_API void *realloc(void *p, size_t n)
{
	if (HEAP_LIKELY(!heap_active()))
		return __libc_realloc(p, n);
	return heap_realloc(p, n, HEAP_RET);
}

HEAP_API void *reallocarray(void *p, size_t nmemb, size_t n)
{
	size_t s;

	if (__builtin_mul_overflow(nmemb, n, &s)) {
		errno = ENOMEM;
		return NULL;
	}
	if (HEAP_LIKELY(!heap_active()))
		return __libc_realloc(p, s);
	return heap_realloc(p, s, HEAP_RET);
}

HEAP_API void *memalign(size_t align, size_t n)
{
	HEAP_ALLOC(__libc_memalign(align, n), n);
}

HEAP_API void *aligned_alloc(size_t align, size_t n)
{
	/* glibc 2.36's aligned_alloc is memalign itself */
	HEAP_ALLOC(__libc_memalign(align, n), n);
}

HEAP_API int posix_memalign(void **out, size_t align, size_t n)
{
	int saved = errno;
	void *p;

	if (align == 0 || align % sizeof(void *) != 0 || (align & (align - 1)) != 0)
		return EINVAL;
	if (HEAP_LIKELY(!heap_active()) || HEAP_LIKELY(!heap_due(n)))
		p = __libc_memalign(align, n);
	else
		p = heap_sampled(__libc_memalign(align, n), n, HEAP_RET);
	if (!p) {
		errno = saved;
		return ENOMEM;
	}
	*out = p;
	return 0;
}

HEAP_API void *valloc(size_t n)
{
	HEAP_ALLOC(__libc_valloc(n), n);
}

HEAP_API void *pvalloc(size_t n)
{
	size_t pg = (size_t)sysconf(_SC_PAGESIZE);

	/* pvalloc rounds up to whole pages */
	HEAP_ALLOC(__libc_pvalloc(n), n ? (n + pg - 1) & ~(pg - 1) : pg);
}

/* ---- C++ operator new / delete (Itanium ABI names, defined in C) ------------------- */

/* prototypes for -Wmissing-prototypes; std::nothrow_t is passed by reference */
HEAP_API void *_Znwm(size_t n);
HEAP_API void *_Znam(size_t n);
HEAP_API void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt);
HEAP_API void *_ZnamRKSt9nothrow_t(size_t n, const void *nt);
HEAP_API void *_ZnwmSt11align_val_t(size_t n, size_t al);
HEAP_API void *_ZnamSt11align_val_t(size_t n, size_t al);
HEAP_API void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt);
HEAP_API void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt);
HEAP_API void _ZdlPv(void *p);
HEAP_API void _ZdaPv(void *p);
HEAP_API void _ZdlPvm(void *p, size_t n);
HEAP_API void _ZdaPvm(void *p, size_t n);
HEAP_API void _ZdlPvSt11align_val_t(void *p, size_t al);
HEAP_API void _ZdaPvSt11align_val_t(void *p, size_t al);
HEAP_API void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al);
HEAP_API void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al);
HEAP_API void _ZdlPvRKSt9nothrow_t(void *p, const void *nt);
HEAP_API void _ZdaPvRKSt9nothrow_t(void *p, const void *nt);

/*
 * Out of memory: the C++ runtime's own operator new runs the new_handler
 * loop and throws std::bad_alloc (or returns NULL for nothrow); its malloc
 * comes back through our hooks.
 */
static void *heap_new_failed(size_t n, size_t al, const void *nt)
{
	if (al) {
		if (nt)
			return heap_real_new_al_nothrow ? heap_real_new_al_nothrow(n, al, nt)
							: NULL;
		if (heap_real_new_al)
			return heap_real_new_al(n, al);
	} else {
		if (nt)
			return heap_real_new_nothrow ? heap_real_new_nothrow(n, nt) : NULL;
		if (heap_real_new)
			return heap_real_new(n);
	}
	abort();	/* no C++ runtime, yet operator new was called */
}

static inline void *heap_new(size_t n, size_t al, const void *nt, void *ret)
{
	bool due = heap_active() && heap_due(n);
	void *p = al ? __libc_memalign(al, n) : __libc_malloc(n);

	if (HEAP_UNLIKELY(!p))
		return heap_new_failed(n, al, nt);
	return HEAP_UNLIKELY(due) ? heap_sampled(p, n, ret) : p;
}

HEAP_API void *_Znwm(size_t n)
{
	return heap_new(n, 0, NULL, HEAP_RET);
}

HEAP_API void *_Znam(size_t n)
{
	return heap_new(n, 0, NULL, HEAP_RET);
}

HEAP_API void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt)
{
	return heap_new(n, 0, nt, HEAP_RET);
}

HEAP_API void *_ZnamRKSt9nothrow_t(size_t n, const void *nt)
{
	return heap_new(n, 0, nt, HEAP_RET);
}

HEAP_API void *_ZnwmSt11align_val_t(size_t n, size_t al)
{
	return heap_new(n, al, NULL, HEAP_RET);
}

HEAP_API void *_ZnamSt11align_val_t(size_t n, size_t al)
{
	return heap_new(n, al, NULL, HEAP_RET);
}

HEAP_API void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
	return heap_new(n, al, nt, HEAP_RET);
}

HEAP_API void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t al, const void *nt)
{
	return heap_new(n, al, nt, HEAP_RET);
}

HEAP_API void _ZdlPv(void *p)
{
	heap_free(p);
}

HEAP_API void _ZdaPv(void *p)
{
	heap_free(p);
}

HEAP_API void _ZdlPvm(void *p, size_t n)
{
	heap_free(p);
}

HEAP_API void _ZdaPvm(void *p, size_t n)
{
	heap_free(p);
}

HEAP_API void _ZdlPvSt11align_val_t(void *p, size_t al)
{
	heap_free(p);
}

HEAP_API void _ZdaPvSt11align_val_t(void *p, size_t al)
{
	heap_free(p);
}

HEAP_API void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t al)
{
	heap_free(p);
}

HEAP_API void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t al)
{
	heap_free(p);
}

HEAP_API void _ZdlPvRKSt9nothrow_t(void *p, const void *nt)
{
	heap_free(p);
}

HEAP_API void _ZdaPvRKSt9nothrow_t(void *p, const void *nt)
{
	heap_free(p);
}
