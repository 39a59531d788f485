/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agent.h - libkiln's internal interfaces, shared by its files. Nothing here
 * is exported from libkiln.so (built with -fvisibility=hidden); the public
 * API is include/kiln/kiln.h.
 *
 *   config.c        struct agent_config from kiln_config + KILN_* environment
 *   kiln.c          kiln_start/stop/flush, the LD_PRELOAD constructor, fork
 *   labels.c        dynamic tags: label sets interned to ids, per-thread stack
 *   modules.c       the loaded ELF modules, snapshotted for the signal handler
 *   unwind_x86_64.c DWARF CFI (.eh_frame) + frame-pointer unwinding, signal-safe
 *   stacktab.c      lock-free stack tables written from signal handlers
 *   sampler.c       the sampling signal, per-thread CPU timers, wall ticks,
 *                   thread registry and thread snapshots
 *   heap.c          malloc family / operator new interposition, Poisson sampling
 *   lock.c          pthread mutex / rwlock interposition
 *   symbolize.c     addresses -> functions, files, lines, inlines (elfutils libdw)
 *   build.c         stack tables -> struct kl_profile per type
 *   export.c        the exporter thread: interval, queue, upload (libcurl), files
 *   pull.c          the /debug/pprof pull endpoint (libmicrohttpd)
 *
 * Signal-safety is stated per function: "async-signal-safe" functions take
 * no lock, allocate nothing, call no libc function that might, and touch
 * only memory that stays mapped.
 */
#ifndef KL_AGENT_H
#define KL_AGENT_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../include/kiln/kiln.h"

#define AGENT_TLS __attribute__((tls_model("initial-exec")))
#define AGENT_MAX_FRAMES_LIMIT 512

/* ---- settings ---------------------------------------------------------------- */

/* Resolved settings: every field has its final value (defaults applied). */
struct agent_config {
	char *application_name;	/* owned */
	char *server_address;	/* owned or NULL */
	char *tags;		/* owned "k=v,..." (validated) or NULL */
	unsigned profiles;	/* enum kiln_profile_type bits */
	unsigned cpu_hz, wall_hz, wall_threads_per_tick;
	size_t heap_sample_bytes;
	unsigned max_frames, max_stacks;
	unsigned upload_interval_ms, upload_timeout_ms, upload_queue;
	char *auth_token, *basic_auth, *tenant_id;	/* owned or NULL */
	char *pprof_listen;	/* owned or NULL */
	char *output;		/* owned or NULL */
	bool print_top;		/* KILN_PRINT_TOP: print a top table at exit (kiln record -p) */
	bool follow_fork;
	int signal;		/* 0 = choose */
	void (*log)(void *ctx, enum kiln_log_level level, const char *msg);
	void *log_ctx;
};

/*
 * Resolves cfg (NULL = none) over the environment envp over defaults into
 * *out. A bad value: -KILN_ECONFIG and msg (size msgsz) says which setting
 * and why, e.g. "KILN_CPU_HZ: \"abc\" is not a number in 1..10000".
 */
int agent_config_resolve(const struct kiln_config *cfg, char *const *envp,
			 struct agent_config *out, char *msg, size_t msgsz);
void agent_config_release(struct agent_config *c);

/* Logs through the configured callback, or "kiln: msg" on stderr. Not signal-safe. */
void agent_log(enum kiln_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- per-thread state ---------------------------------------------------------- */

/*
 * Each thread's agent state, in initial-exec TLS so that the signal
 * handler and malloc hooks read it without __tls_get_addr (which may
 * allocate). Zero-initialised: a thread the agent has never seen is valid.
 */
struct agent_thread {
	uint32_t labelset;	/* current dynamic tags (0 = none); read in the handler */
	int in_agent;		/* > 0 while agent code runs here: hooks pass through */
	int64_t heap_countdown;	/* bytes until the next heap sample; <= 0 = draw a new one */
	uint64_t rng;		/* per-thread PRNG state for heap sampling (0 = unseeded) */
	void *tags;		/* labels.c's per-thread tag stack */
};

extern __thread struct agent_thread agent_self AGENT_TLS;

/* ---- label sets (labels.c) ------------------------------------------------------- */

/*
 * The label set of the calling thread's tags, as an id (0 = none). A plain
 * TLS read: async-signal-safe.
 */
static inline uint32_t agent_labelset_current(void)
{
	return agent_self.labelset;
}

/*
 * The pairs of label set id (borrowed, valid until agent_labels_reset).
 * 0 or -ENOENT. Not signal-safe.
 */
int agent_labelset_get(uint32_t id, const char *const **names, const char *const **values,
		       size_t *n);

/* Frees all label sets (after the agent stopped). */
void agent_labels_reset(void);

/* ---- modules and unwinding (modules.c, unwind_x86_64.c) ------------------------- */

/*
 * Snapshots the loaded modules (dl_iterate_phdr: text ranges, .eh_frame_hdr
 * tables, build ids) and publishes the snapshot for the signal handler with
 * an atomic pointer swap; old snapshots are kept until no handler can use
 * them. Call at start; dlclose is interposed, dlopen is found by
 * agent_modules_poll.
 * Not signal-safe. 0 or -ENOMEM.
 */
int agent_modules_refresh(void);
void agent_modules_free(void);

/*
 * Refreshes the snapshot if objects were loaded or unloaded since it was
 * taken (dlopen is not interposed, see modules.c); cheap when nothing
 * changed. The sampler's ticker calls it every tick; call it from other
 * periodic agent threads too. Not signal-safe. 0 or -ENOMEM.
 */
int agent_modules_poll(void);

/* What symbolization needs to know about the module holding an address. */
struct agent_module_info {
	const char *path;	/* as the loader knows it ("" = main program: use /proc/self/exe) */
	uintptr_t bias;		/* load bias: file vaddr = address - bias */
	uintptr_t start, end;	/* mapped text range */
	uint64_t file_offset;	/* file offset of start */
	const char *build_id;	/* hex, "" when none */
};

/*
 * Finds the module holding addr in the current snapshot. Strings are
 * valid until the next agent_modules_refresh. 0 or -ENOENT. Not signal-safe
 * (takes the refresh lock).
 */
int agent_module_lookup(uintptr_t addr, struct agent_module_info *out);

/*
 * Unwinds the interrupted context of a signal handler (ucontext is the
 * handler's third argument) into pcs (at most max). pcs[0] is the exact
 * interrupted PC; every later entry is a return address minus 1, so all
 * entries can be symbolized as they are. Uses .eh_frame CFI, falls back to
 * the frame pointer, validates every memory read against the thread's
 * stack and the known modules. Async-signal-safe. Returns the count (>= 1).
 */
int agent_unwind_signal(void *ucontext, uintptr_t *pcs, int max);

/*
 * Unwinds the caller's own stack (for malloc and lock hooks), skipping
 * skip frames of the agent itself; entries are return addresses minus 1.
 * Async-signal-safe. Returns the count.
 */
int agent_unwind_here(uintptr_t *pcs, int max, int skip);

/* ---- stack tables (stacktab.c) ---------------------------------------------------- */

/*
 * A fixed-capacity table of (label set, stack) -> nvalues int64 sums,
 * allocated once with mmap. Adding is lock-free and async-signal-safe:
 * a full table drops the sample and counts it. A profbuf pairs two
 * tables: writers add to the active one; the exporter swaps them, waits
 * for writers still in the old one, reads it, and clears it.
 */
struct agent_profbuf;

typedef void (*agent_stack_fn)(void *ctx, uint32_t labelset, const uintptr_t *pcs, uint32_t n,
			       const int64_t *values);

/* max_stacks unique stacks, each up to max_frames, nvalues (<= 4) sums. NULL on failure. */
struct agent_profbuf *agent_profbuf_new(uint32_t max_stacks, uint32_t max_frames,
					 uint32_t nvalues);

/* Adds values to (labelset, pcs[0..n)). Async-signal-safe. 0, or -1 when dropped. */
int agent_profbuf_add(struct agent_profbuf *b, uint32_t labelset, const uintptr_t *pcs,
		      uint32_t n, const int64_t *values);

/*
 * Swaps, then calls fn for every entry of what was collected since the
 * last drain, then clears it. One drainer at a time (a mutex inside).
 * Returns the number of samples dropped since the last drain.
 */
uint64_t agent_profbuf_drain(struct agent_profbuf *b, agent_stack_fn fn, void *ctx);

void agent_profbuf_free(struct agent_profbuf *b);

/* ---- sampler (sampler.c): cpu, wall, threads ------------------------------------ */

/*
 * Installs the sampling signal handler (SIGPROF, or with a handler of the
 * host already there, a free real-time signal; -KILN_ESIGNAL when none),
 * starts CPU timers on every thread (existing ones via /proc/self/task,
 * new ones from the pthread_create hook) and the wall ticker thread, per
 * c->profiles. Values recorded: cpu [samples, ns], wall [samples, ns],
 * threads [count]. 0 or negative (nothing left running on failure).
 */
int agent_sampler_start(const struct agent_config *c);
void agent_sampler_stop(void);

/* In the child after fork(): no timers or ticker exist there; restart or stay off. */
void agent_sampler_atfork_child(bool keep_profiling);

extern struct agent_profbuf *agent_cpu_buf, *agent_wall_buf;

/* Takes a snapshot of every live thread's stack (threads profile) into fn. */
int agent_threads_snapshot(agent_stack_fn fn, void *ctx);

/*
 * Marks the calling thread as the agent's own (exporter, pull server): it
 * gets no CPU timer and no wall or snapshot signals. Not signal-safe.
 */
void agent_sampler_thread_exclude(void);

/* The sampler's signal number (0 when not running). */
int agent_sampler_signal(void);
uint64_t agent_sampler_threads(void);

/* ---- heap and lock (heap.c, lock.c) ------------------------------------------------ */

/*
 * Heap sampling: the malloc hooks are always linked in and pass straight
 * through until agent_heap_start. Values: allocations [objects, bytes] per
 * interval (unbiased, each sample weighted 1/p); in-use [objects, bytes]
 * of sampled allocations not yet freed. Both come from one stack store
 * (each stack's frames are kept once).
 */
int agent_heap_start(const struct agent_config *c);
void agent_heap_stop(void);
/*
 * Calls fn for every stack with allocations sampled since the last call,
 * with [alloc_objects, alloc_bytes], and starts counting afresh. Returns
 * the samples whose allocations were lost since the last call (stack store
 * full). One caller at a time (the builder); not signal-safe.
 */
uint64_t agent_heap_allocs(agent_stack_fn fn, void *ctx);
/* Calls fn for every live sampled stack with [inuse_objects, inuse_bytes]. */
int agent_heap_inuse(agent_stack_fn fn, void *ctx);
/*
 * When agent_heap_stop returns, no hook records any more and the in-use
 * table and the undrained allocations are released: build the last
 * profiles before stopping. Counters for kiln_get_stats: samples recorded,
 * samples lost (stack store or live table full, or no stack).
 */
uint64_t agent_heap_samples(void);
uint64_t agent_heap_dropped(void);
/*
 * Bytes of stacks the heap's store holds now: frames plus 4 words per
 * (label set, stack), its fixed index (512 KiB once touched) not included.
 * For tests of what a stack costs. Not signal-safe.
 */
size_t agent_heap_stack_bytes(void);

/* Lock contention: values [contentions, delay ns]. */
int agent_lock_start(const struct agent_config *c);
void agent_lock_stop(void);
/* Contended waits recorded. agent_lock_stop releases agent_lock_buf (set to NULL). */
uint64_t agent_lock_samples(void);
extern struct agent_profbuf *agent_lock_buf;

/* ---- profiles and export (symbolize.c, build.c, export.c, pull.c) ------------------ */

struct kl_profile;

/*
 * Builds the pprof-shaped profile of type (one KILN_PROFILE_* bit) from
 * what was collected since the last build (cpu, wall, heap alloc and lock
 * are drained; heap in-use and threads are snapshots). Locations carry
 * mappings with build ids, functions (demangled), files and lines, inline
 * frames; unknown frames are "module+0xoffset". NULL on out of memory.
 */
struct kl_profile *agent_build_profile(unsigned type, int64_t start_ns, int64_t end_ns);
/*
 * The same, added to into (a profile of type built by these functions, or
 * NULL for a new one), which it takes: equal samples are summed in place,
 * so a run's total grows without being copied. Returns into (or the new
 * profile); NULL on out of memory, into freed. Not for threads (a snapshot).
 */
struct kl_profile *agent_build_into(unsigned type, struct kl_profile *into, int64_t start_ns,
				    int64_t end_ns);

/* ---- added by the export helper: kiln.c, symbolize.c, build.c, export.c, pull.c --------- */

struct kl_buf;

/* The running agent's settings (kiln.c); NULL when off. Valid until kiln_stop. */
const struct agent_config *agent_config_current(void);

/* Short name of a profile type bit: "cpu", "wall", "heap", "lock", "threads". */
const char *agent_type_name(unsigned type);

/* One address, symbolized. Strings are borrowed until the next agent_symbolize call. */
#define AGENT_SYM_MAX_FRAMES 32	/* inline chain depth kept per address */
struct agent_symframe {
	const char *function;		/* demangled */
	const char *system_name;	/* as in the symbol table */
	const char *file;		/* "" when unknown */
	int64_t line;
};
struct agent_sym {
	uint32_t nframes;		/* >= 1; innermost (inlined callee) first */
	struct agent_symframe frames[AGENT_SYM_MAX_FRAMES];
	bool has_map;			/* false: the address is in no known module */
	uint32_t map_index;		/* stable until the next refresh */
	uint64_t map_start, map_limit;
	const char *map_path, *map_build_id;	/* build id in hex, "" when none */
	bool map_has_lines;
};

/*
 * A symbolizer of this process (libdwfl over /proc/self/maps), with a cache
 * by address. One thread at a time. agent_symbolizer_refresh() re-reads the
 * module list when /proc/self/maps changed, which empties the cache (map
 * indexes change then). agent_symbolize: 0 or -ENOMEM; unknown code gets a
 * "module+0xoffset" (file address) or "[unknown]+0xaddress" frame.
 */
struct agent_symbolizer;
struct agent_symbolizer *agent_symbolizer_new(void);
void agent_symbolizer_free(struct agent_symbolizer *s);
int agent_symbolizer_refresh(struct agent_symbolizer *s);
int agent_symbolize(struct agent_symbolizer *s, uintptr_t pc, struct agent_sym *out);
/*
 * Frees libdwfl's state (MBs once DWARF was read) but keeps the address
 * cache; the next cache miss re-opens it. Same thread rules as the others;
 * NULL-tolerant.
 */
void agent_symbolizer_idle(struct agent_symbolizer *s);

/* build.c: frees the builder's symbolizer (after the agent stopped). */
void agent_build_reset(void);
/* build.c: drops the symbolizer's libdwfl state between build rounds (cache kept). */
void agent_build_idle(void);
/* Samples dropped by full stack tables, summed over every drain so far. */
uint64_t agent_build_dropped(void);
/* cpu + wall samples seen by the builder so far. */
uint64_t agent_build_samples(void);

/*
 * export.c: the exporter. start: the interval thread (and the upload thread
 * when c->server_address is set); 0 or negative, nothing left running on
 * failure. stop: final build, KILN_OUTPUT written, queue uploaded within
 * the upload timeout, threads joined. flush: one build now (waits for it).
 * take: builds type now for the pull endpoint, passes the profile on to
 * the push queue / output as an interval would, and hands a gzipped pprof
 * to *out. The atfork hooks keep the exporter's locks consistent in a
 * child; agent_export_atfork_child restarts the threads when restart.
 */
int agent_export_start(const struct agent_config *c);
/*
 * Readies uploads to url (the config's server_address, which must stay
 * valid until the next call): a plain http:// address is posted to by the
 * exporter's own HTTP/1.1 client, anything else (https://, user info, a
 * query) through libcurl, opened here (dlopen, once per process; it and
 * its ~30 libraries are mapped only by agents that need it) and
 * initialised. Before starting an exporter with a server address. 0, or
 * -ENOENT / -ENOMEM with why in msg.
 */
int agent_export_curl_init(const char *url, char *msg, size_t msgsz);

/* A symbol to look up and where its address goes (offset in a table of function pointers). */
struct agent_dlsym {
	const char *name;
	size_t off;
};

/*
 * export.c: dlopen(soname) (RTLD_LOCAL, never unloaded) and stores the
 * address of each of syms[0..n) at table + off, so that a library (and
 * what it pulls in) is mapped only by agents that use it. 0, or -ENOENT
 * with why in msg. Not signal-safe; callers serialise per table.
 */
int agent_dlopen_syms(const char *soname, const struct agent_dlsym *syms, size_t n,
		      void *table, char *msg, size_t msgsz);
void agent_export_stop(void);
int agent_export_flush(void);
int agent_export_take(unsigned type, struct kl_buf *out);
void agent_export_stats(struct kiln_stats *st);
void agent_export_atfork_prepare(void);
void agent_export_atfork_parent(void);
void agent_export_atfork_child(bool restart);
/*
 * The host is about to start a thread (the pthread_create interposer calls
 * this while the sampler is off): starts the interval thread if export.c
 * deferred it (KILN_OUTPUT only, single-threaded host). Cheap when not.
 * Not signal-safe.
 */
void agent_export_host_thread(void);

/* pull.c: the /debug/pprof endpoint (libmicrohttpd) on c->pprof_listen. */
int agent_pull_start(const struct agent_config *c);
void agent_pull_stop(void);

#endif /* KL_AGENT_H */
