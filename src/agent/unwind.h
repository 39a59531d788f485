/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unwind.h - what modules.c, unwind_x86_64.c and sampler.c share privately:
 * the module snapshot read by the unwinder inside signal handlers, its
 * grace-period protocol, and each thread's known stack bounds.
 */
#ifndef KL_AGENT_UNWIND_H
#define KL_AGENT_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

#include "agent.h"

/* One loaded ELF object as the signal handler sees it. Read-only once published. */
struct agent_mod {
	uintptr_t start, end;		/* executable PT_LOAD range(s), [start, end) */
	uintptr_t lo, hi;		/* every PT_LOAD, [lo, hi): all of it is mapped */
	uintptr_t bias;			/* dlpi_addr */
	const uint8_t *eh_frame;	/* .eh_frame (from .eh_frame_hdr), or NULL */
	const uint8_t *fde_table;	/* sorted {int32 pc, int32 fde} pairs, hdr-relative */
	const uint8_t *eh_hdr;		/* base of the datarel offsets in fde_table */
	uint32_t fde_count;
	uint64_t file_offset;		/* p_offset of the first executable segment */
	const char *path;		/* interned: valid until agent_modules_free */
	const char *build_id;		/* interned hex, "" when none */
	bool dynamic;			/* not in the first snapshot: dlclose may unmap it */
};

/* Sorted by start, non-overlapping text ranges. */
struct agent_modsnap {
	uint32_t n;
	uint32_t gen;			/* 1..65535, differs from the previous snapshot's */
	struct agent_mod mods[];
};

/*
 * Enters a read-side section and returns the current snapshot (NULL when
 * none was taken yet). Everything reachable from it, including the modules'
 * .eh_frame data, stays valid and mapped until agent_modules_leave(token).
 * Async-signal-safe, never blocks; sections must be short (no blocking in
 * between) because refreshes wait for them.
 */
const struct agent_modsnap *agent_modules_enter(int *token);
void agent_modules_leave(int token);

/* The module whose text holds pc, or NULL. Async-signal-safe (binary search). */
const struct agent_mod *agent_modsnap_find(const struct agent_modsnap *s, uintptr_t pc);

/*
 * The calling thread's stack, [lo, hi), captured outside signal handlers
 * (agent_unwind_thread_init); lo == hi == 0 when unknown, and the unwinder
 * then probes each page with a non-faulting syscall instead.
 */
struct agent_stack {
	uintptr_t lo, hi;
	bool tried;		/* agent_unwind_thread_init ran on this thread */
};

extern __thread struct agent_stack agent_stack_bounds AGENT_TLS;

/*
 * Fills agent_stack_bounds without locks or allocation (main thread only;
 * other threads stay unknown): for the malloc and lock hooks, where
 * agent_unwind_thread_init could deadlock. Not signal-safe.
 */
void agent_unwind_thread_init_nolock(void);

/*
 * Records the calling thread's stack bounds (pthread_getattr_np, which may
 * allocate and, on the main thread, read /proc/self/maps: raise in_agent
 * around it in hooks). Not signal-safe.
 */
void agent_unwind_thread_init(void);

/*
 * The per-PC unwind-rule cache (unwind_x86_64.c): a fixed table, mapped
 * once, filled lock-free from handlers with whole-entry 16-byte atomic
 * stores, keyed by (PC, snapshot gen). agent_uwcache_init maps it (at the
 * first module refresh; 0 or -ENOMEM, the unwinder works without it);
 * agent_uwcache_clear empties it and is called by modules.c before a
 * snapshot whose gen wrapped around is published, so that no entry of an
 * older snapshot with the same gen can be hit. Not signal-safe.
 */
int agent_uwcache_init(void);
void agent_uwcache_clear(void);

/*
 * Tests and benchmarks: turns the cache off (false) or back on, for every
 * thread; the calling thread's counters of frames stepped from the cache
 * and of entries it filled since the thread started.
 */
void agent_uwcache_enable(bool on);
void agent_uwcache_counters(uint64_t *hits, uint64_t *fills);

/* Frame-pointer only unwinding of a signal context (tests compare it with CFI). */
int agent_unwind_signal_fp(void *ucontext, uintptr_t *pcs, int max);

#endif /* KL_AGENT_UNWIND_H */
