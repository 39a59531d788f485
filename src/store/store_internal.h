/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_internal.h - the data structures shared by the store's files:
 * the per-tenant head (intern tables, stack tree, series, postings,
 * aggregates), blocks, the WAL record codec and the query helpers. Not an
 * interface: only the store's .c files, its unit tests and its benchmark
 * include it.
 *
 * Locking (docs/storage.md "Read path and concurrency"): cut_mu (one cut,
 * compaction or retention pass at a time) -> the append gate (appends in
 * flight, the freeze of a cut exclusive; store.c) -> tlock (the tenant table) -> each tenant's
 * rwlock (everything inside the tenant). Ingest takes the tenant's write
 * lock twice per batch, briefly (intern + encode, then publish after the
 * WAL wait, which holds no tenant lock); queries take the read lock.
 */
#ifndef KL_STORE_INTERNAL_H
#define KL_STORE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <zstd.h>

#include "../core/buf.h"
#include "../core/hindex.h"
#include "../core/strtab.h"
#include "enc.h"
#include "store.h"
#include "wal.h"

/* Resolutions of the pre-aggregated levels, in seconds (raw profiles are the finest level). */
#define STORE_NLEVELS 4
extern const int64_t store_level_ns[STORE_NLEVELS];
/* a / b rounded towards minus infinity (b > 0) */
int64_t store_floor_div(int64_t a, int64_t b);

/* ---- intern tables ------------------------------------------------------- */

struct st_mapping {
	uint64_t start, limit, offset;
	kl_strid filename, build_id;
	uint32_t flags;
};

struct st_function {
	kl_strid name, system_name, filename;
	int64_t start_line;
};

struct st_location {
	uint64_t address;
	uint32_t mapping;	/* index + 1, 0 = none */
	uint32_t line_start, nlines;	/* into tenant->lines */
	bool is_folded;
};

/*
 * A node of the stack tree: node 0 is the root (the empty stack). path is
 * a 64-bit hash of the locations from the root down (store_path_step), the
 * key of whole stacks in full_ix.
 */
struct st_stack {
	uint64_t path;
	uint32_t parent;
	uint32_t loc;
	uint32_t depth;		/* frames from the root; the root has 0 */
};

#define STORE_PATH_ROOT UINT64_C(0x9e3779b97f4a7c15)

static inline uint64_t store_path_step(uint64_t parent_path, uint32_t loc)
{
	return kl_hash_u64(parent_path ^ (((uint64_t)loc + 1) * UINT64_C(0xff51afd7ed558ccd)));
}

/* Counts of every table: the "symbols so far" of a tenant. */
struct st_marks {
	uint32_t strings, mappings, functions, locations, stacks, series;
};

/* ---- series ------------------------------------------------------------------ */

/* One stored profile of a series. Pairs are sorted by (stack, span, trace). */
struct st_prof {
	int64_t start, end;	/* end >= start */
	int64_t total;		/* sum of the values */
	uint32_t pair_off, npairs;	/* into series->stk / val */
	uint32_t span_off, nspans;	/* into series->spans */
};

/* A sample's trace identifiers: pair index within its profile. */
struct st_span {
	uint32_t pair;
	kl_strid span, trace;
};

/*
 * One aggregate bucket: (stack, value) sorted by stack, values summed.
 * cap: entries allocated in stk and val when agg.c made them (0: exactly
 * n, as block loads and compaction make them).
 */
struct st_bucket {
	int64_t idx;		/* bucket number: start / resolution */
	uint32_t n, cap;
	uint32_t *stk;
	int64_t *val;
};

struct st_level {
	struct st_bucket *b;	/* sorted by idx */
	size_t n, cap;
};

/*
 * A series' labels as one string, "name\0value\0" per label in order: a
 * lookup compares one block of memory, not a string per name and value.
 */
struct st_lkey {
	uint32_t len;
	char s[];
};

struct st_series {
	struct kl_labels labels;	/* sorted, owned */
	const char *ptype;	/* value of __profile_type__ (borrowed from labels) or "" */
	uint64_t hash;		/* kl_hash of its key (st_lkey) */
	kl_strid type, unit, period_type, period_unit;
	int64_t period;

	struct st_prof *prof;	/* sorted by start */
	size_t nprof, prof_cap;
	uint32_t *stk;
	int64_t *val;
	size_t npairs, pairs_cap, val_cap;
	struct st_span *spans;
	size_t nspans, spans_cap;
	int64_t min_start, max_end, max_dur;

	struct st_level lv[STORE_NLEVELS];

	/* a copy loaded from a block for one query: raw pairs are read on first use */
	const struct st_block *blk;
	const struct blk_series *bs;
	unsigned loaded;	/* BLK_WANT_* bits already read */
	uint8_t *chunk_loaded;	/* per raw chunk of bs: read */
};

/* A posting list: the series (ids, increasing) carrying name=value. */
struct st_posting {
	kl_strid name, value;
	uint32_t *ids;
	size_t n, cap;
};

/* ---- blocks ----------------------------------------------------------------- */

/* Sections of one series in a block's data file. */
enum { BLK_META, BLK_RAW, BLK_LEVEL0, BLK_NSECT = BLK_LEVEL0 + STORE_NLEVELS };

/*
 * Raw pairs are stored in chunks of STORE_RAW_CHUNK profiles (2 h of 10-s
 * profiles), so a query edge inside a 1-day block reads 2 h, not the day.
 */
#define STORE_RAW_CHUNK 720

struct blk_chunk {
	uint64_t off;
	uint32_t len;
};

struct blk_series {
	uint32_t series;	/* the tenant's series id */
	uint32_t chunk0, nchunks;	/* its raw chunks in block->chunks (BLK_RAW is unused) */
	uint32_t nprof;
	int64_t min_start, max_end, max_dur;
	uint64_t npairs, nspans;
	uint64_t off[BLK_NSECT];
	uint32_t len[BLK_NSECT];	/* compressed bytes */
};

/* An immutable block: its index is in memory, its sections are read on demand. */
struct st_block {
	char *path;		/* the block's directory */
	int fd;			/* its data file, open for pread */
	const struct kl_fsio *io;
	int64_t min_time, max_time;	/* earliest profile start, latest profile end */
	uint64_t lsn_end;	/* the cut it was made by (WAL records below are in it) */
	uint64_t bytes;		/* on disk */
	struct blk_series *s;	/* sorted by series */
	size_t n;
	struct blk_chunk *chunks;
	size_t nchunks, chunks_cap;
	char **replaces;	/* names of the blocks a compaction merged into this one */
	size_t nreplaces;
};

/* ---- tenant ------------------------------------------------------------------ */

struct st_tenant {
	char *name;
	pthread_rwlock_t lock;

	struct kl_strtab *strs;
	struct st_mapping *mappings;
	size_t nmappings, mappings_cap;
	struct kl_hindex mapping_ix;
	struct st_function *functions;
	size_t nfunctions, functions_cap;
	struct kl_hindex function_ix;
	struct st_location *locations;
	size_t nlocations, locations_cap;
	struct kl_hindex location_ix;
	struct kl_line *lines;
	size_t nlines, lines_cap;
	struct st_stack *stacks;
	size_t nstacks, stacks_cap;
	struct kl_hindex child_ix;	/* (parent, loc) -> node */
	struct kl_hindex full_ix;	/* whole stacks used by samples -> node */

	struct st_series **series;
	size_t nseries, series_cap;
	struct kl_hindex series_ix;	/* by kl_hash of the series' key */
	struct st_lkey **series_key;	/* by series id, as series */
	size_t series_key_cap;
	struct st_posting *postings;
	size_t npostings, postings_cap;
	struct kl_hindex posting_ix;

	struct st_block **blocks;	/* sorted by min_time */
	size_t nblocks, blocks_cap;
	/* the head of a cut in progress, by series id (NULL: nothing) */
	struct st_series **frozen;
	size_t nfrozen, frozen_bytes;

	/* bytes of the symbols file on disk (written by cuts without t->lock) */
	atomic_uint_least64_t symbols_bytes;
	/* WAL: symbols below these counts are in a durable record */
	struct st_marks durable;
	size_t bytes;		/* approximate memory of the symbols and series */
	size_t data_bytes;	/* approximate memory of the head's profiles and aggregates */
	int64_t head_min, head_max;	/* time range of the head's profiles */
};

/* ---- the store --------------------------------------------------------------- */

struct kl_store {
	struct kl_store_opts o;
	char *dir;
	int lock_fd;
	struct kl_wal *wal;
	uint64_t checkpoint;	/* WAL records below this LSN live in blocks */
	uint64_t frozen_lsn;	/* the cut in progress (0: none); under cut_mu */
	pthread_mutex_t cut_mu;	/* one cut at a time */

	/*
	 * The append gate (store.c): appends_inflight counts appends from
	 * their first step to their publish (or failure), pending ones
	 * included; a cut closes the gate (new appends wait) and waits for the
	 * count to reach 0 before it freezes the heads. Not a rwlock: a pending
	 * append is published by the completion thread, not the thread that
	 * started it. Guarded by tk_mu, as is the queue of pending appends.
	 */
	pthread_mutex_t tk_mu;
	pthread_cond_t tk_work;		/* the completion thread: a ticket queued, or stop */
	pthread_cond_t tk_done;		/* kl_store_append_end: a ticket finished */
	pthread_cond_t gate_cv;		/* the gate opened, or no append in flight */
	struct kl_store_ticket *tk_head;	/* pending appends, any order */
	size_t appends_inflight;
	bool gate_closed, tk_stop, completer_started;
	pthread_t completer;		/* publishes pending appends once durable */
	pthread_t bg;		/* cuts and retention */
	bool bg_started, bg_stop;
	pthread_mutex_t bg_mu;
	pthread_cond_t bg_cv;
	atomic_uint_least64_t blocks_deleted, cut_failures, compactions;

	pthread_rwlock_t tlock;	/* the tenant table */
	struct st_tenant **tenants;
	size_t ntenants, tenants_cap;

	atomic_uint_least64_t profiles_appended;
	atomic_bool disk_full;	/* the last append failed for lack of space */
	atomic_uint_least64_t space_checked;	/* second of the last statvfs */
	bool raw_only;		/* tests: never use aggregates */
};

/* ---- store.c ---------------------------------------------------------------- */

/* Formats a log line for the store's log callback (no-op without one). */
void store_log(struct kl_store *s, enum kl_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * The cut's side of the append gate: store_appends_hold closes it and
 * returns once no append is in flight (every WAL record appended so far is
 * published or failed); store_appends_release reopens it.
 */
void store_appends_hold(struct kl_store *s);
void store_appends_release(struct kl_store *s);

/* ---- head.c ------------------------------------------------------------------ */

struct st_tenant *store_tenant_new(const char *name);
void store_tenant_free(struct st_tenant *t);
/* Finds a tenant (NULL if absent) or, with create, makes it. Takes store->tlock. */
struct st_tenant *store_tenant_get(struct kl_store *s, const char *name, bool create);

void store_marks_get(const struct st_tenant *t, struct st_marks *m);

/* Intern one object; 0 / -ENOMEM; *id gets the tenant id. */
int store_intern_mapping(struct st_tenant *t, const struct st_mapping *m, uint32_t *id);
int store_intern_function(struct st_tenant *t, const struct st_function *f, uint32_t *id);
int store_intern_location(struct st_tenant *t, const struct st_location *l,
			  const struct kl_line *lines, uint32_t *id);
/* The child of stack node parent at location loc, created if absent. */
int store_stack_child(struct st_tenant *t, uint32_t parent, uint32_t loc, uint32_t *id);
/* Interns the stack whose locations (tenant ids) are locs[0..n), leaf first. */
int store_intern_stack(struct st_tenant *t, const uint32_t *locs, uint32_t n, uint32_t *id);
/*
 * Finds or creates the series for labels (sorted). -KL_ELIMIT past
 * max_series. find_only: -EAGAIN instead of creating (nothing changes, so
 * the tenant's read lock is enough).
 */
int store_series_get(struct st_tenant *t, const struct kl_labels *labels, uint32_t max_series,
		     bool find_only, uint32_t *id, bool *created);
/* The series ids matching sel (NULL = all); *ids owned by the caller. */
int store_series_match(const struct st_tenant *t, const struct kl_selector *sel, uint32_t **ids,
		       size_t *n);

/*
 * A profile ready to be published: its series, time range and pairs
 * (owned arrays, sorted by (stack, span, trace)).
 */
struct st_pending {
	uint32_t series;
	int64_t start, end;
	int64_t period;
	uint32_t *stk;
	int64_t *val;
	uint32_t npairs;
	struct st_span *spans;
	uint32_t nspans;
	void *mem;		/* non-NULL: stk, val and spans live in this one allocation */
};

void store_pending_release(struct st_pending *p);

/* A source sample once interned: its stack and trace ids (stk UINT32_MAX: not yet). */
struct st_skey {
	uint32_t stk;
	kl_strid span, trace;
};

/* A keyed sample of a selection: its key and source sample index. */
struct st_sref {
	uint32_t stk;
	kl_strid span, trace;
	uint32_t si;
};

/*
 * Id maps of one source profile to a tenant's ids, shared by the series of
 * one append (all under one hold of the tenant's write lock): series split
 * from the same profile intern its strings, functions and locations once.
 * A profile with several sample types is several series over the same
 * samples (kl_series.sel): each sample's stack is interned once (keys),
 * and the selection's samples are sorted once (sorted), for all types.
 */
struct st_xcache {
	/*
	 * Set by the caller: look symbols, stacks and series up without
	 * creating any; store_ingest_profile then gives -EAGAIN where it would
	 * create one (and may run under the tenant's read lock). What it found
	 * stays cached for a retry with find_only false.
	 */
	bool find_only;
	const struct kl_profile *p;	/* whose maps ids and keys hold; NULL = none */
	uint32_t *ids;
	size_t cap;
	struct st_skey *keys;	/* by sample index of p */
	size_t keys_cap;
	/* the samples of selection sel (NULL: all) of sel_p keyed so far, sorted by key */
	const struct kl_profile *sel_p;	/* NULL = none */
	const uint32_t *sel;
	uint32_t nsel;
	bool has_ids;		/* some sorted sample has a span or trace id */
	struct st_sref *sorted, *sorttmp;
	size_t nsorted, nspans, sorted_cap, sorttmp_cap;
	/* scratch: one stack's tenant location ids, one location's lines */
	uint32_t *locs;
	size_t locs_cap;
	struct kl_line *lbuf;
	size_t lbuf_cap;
};

/* Frees xc's maps; xc is left empty. NULL is fine. */
void store_xcache_release(struct st_xcache *xc);

/*
 * Interns a series profile of the split (or a view: kl_series.src) into the
 * tenant, producing *out. xc: zeroed before the first series of an append,
 * kept across its series while the tenant's lock is held (the write lock,
 * or the read lock with xc->find_only: -EAGAIN, no message, where
 * something would have to be created).
 */
int store_ingest_profile(struct st_tenant *t, const struct kl_series *v, uint32_t max_series,
			 struct st_xcache *xc, struct st_pending *out, struct kl_err *err);

/* Makes p visible in its series (and aggregates). 0 or -ENOMEM (nothing changed then). */
int store_publish(struct st_tenant *t, struct st_pending *p);

/* ---- agg.c ------------------------------------------------------------------- */

/* Adds sorted (stack, value) pairs of a profile starting at start to s's aggregates. */
int store_agg_add(struct st_series *s, int64_t start, const uint32_t *stk, const int64_t *val,
		  uint32_t n, size_t *added_bytes);
void store_agg_release(struct st_series *s);
size_t store_agg_memory(const struct st_series *s);

/* ---- record.c ---------------------------------------------------------------- */

/*
 * Encodes a WAL record: tenant name, every symbol from *from up to the
 * tenant's current counts, then the profiles. Appends to out.
 */
int store_record_encode(const struct st_tenant *t, const struct st_marks *from,
			const struct st_pending *p, size_t n, struct kl_buf *out);

/*
 * Replays one record into the store: creates the tenant if needed, adds
 * the symbols (ids already present are skipped, a gap is -KL_EFORMAT) and
 * publishes the profiles.
 */
int store_record_apply(struct kl_store *s, const uint8_t *data, size_t len, struct kl_err *err);

/* ---- block.c ------------------------------------------------------------------ */

/*
 * Writes series src[0..nsrc) (indexed by series id, NULL = none) of t as a
 * block of cut lsn_end; *out is not yet listed in t.
 */
int store_block_write(struct kl_store *s, const struct st_tenant *t, struct st_series *const *src,
		      size_t nsrc, uint64_t lsn_end, struct st_block **out, struct kl_err *err);
/* A block being written: store_bw_begin, store_bw_add per series (ids increasing), finish. */
struct store_bw {
	const struct kl_fsio *io;
	int fd;			/* the data file in tmp */
	uint64_t off;		/* bytes of it written */
	char tdir[2048], tmp[2200];	/* the tenant's directory; the block's tmp directory */
	ZSTD_CCtx *cc;
	struct kl_buf data, sec;	/* data: not yet written bytes; sec: one section */
	struct st_block *b;
	size_t cap;
	uint64_t nprof;
	char **replaces;	/* compaction: the merged blocks' names (array owned, names not) */
	size_t nreplaces;
	const char *suffix;	/* compaction: of the final name ("-c" day, "-w" week); NULL = "-c" */
};

/* Starts a block of tenant (at most max_series series) in a tmp directory. 0 or negative. */
int store_bw_begin(struct store_bw *w, struct kl_store *s, const char *tenant,
		   size_t max_series, uint64_t lsn_end, bool compacted, struct kl_err *err);
/* Adds series sid (ids increasing; NULL or empty: skipped). 0, -ENOMEM or -errno. */
int store_bw_add(struct store_bw *w, uint32_t sid, const struct st_series *se);
/* Writes index and footer, syncs, renames into place; *out is not yet listed in the tenant. */
int store_bw_finish(struct store_bw *w, const char *tenant, struct st_block **out,
		    struct kl_err *err);
/* Frees the writer and removes an unfinished tmp directory. */
void store_bw_release(struct store_bw *w);

/* Frees t's frozen head (after its block is listed, or at close). */
void store_frozen_free(struct st_tenant *t);
void store_block_free(struct st_block *b);
/* Deletes a block's directory (rename to deleted/, then remove). */
void store_block_delete(struct kl_store *s, struct st_block *b);
/* The entry of series sid in b, or NULL. */
const struct blk_series *store_block_find(const struct st_block *b, uint32_t sid);

enum { BLK_WANT_META = 1, BLK_WANT_RAW = 2 };
#define BLK_WANT_LEVEL(k) (4u << (k))
#define BLK_WANT_LEVELS (BLK_WANT_LEVEL(0) | BLK_WANT_LEVEL(1) | BLK_WANT_LEVEL(2) | \
			 BLK_WANT_LEVEL(3))

/*
 * Reads the sections want (BLK_WANT_* bits; RAW implies META) of series
 * bs of block b into *out, which starts zeroed and keeps what earlier
 * calls read (out->loaded); release with store_series_data_release. dc:
 * a decompression context to reuse, or NULL. 0 or -EIO/-ENOMEM.
 */
int store_block_load(const struct st_tenant *t, const struct st_block *b,
		     const struct blk_series *bs, unsigned want, struct st_series *out,
		     ZSTD_DCtx *dc, struct kl_err *err);
/*
 * Reads the raw pairs of profiles [p0, p1) of a block part (META first if
 * needed): only the chunks holding them. 0 or -EIO/-ENOMEM.
 */
int store_block_load_raw(const struct st_tenant *t, struct st_series *part, size_t p0, size_t p1,
			 ZSTD_DCtx *dc, struct kl_err *err);
/* Frees the profiles, pairs and aggregates of s (not its labels). */
void store_series_data_release(struct st_series *s);

/* Writes t's symbols file; *marks gets the counts it holds. Takes t->lock (read). */
int store_symbols_write(struct kl_store *s, struct st_tenant *t, struct st_marks *marks,
			struct kl_err *err);
/* Loads symbols files and blocks at open (deleting blocks of an unfinished cut). */
int store_blocks_load(struct kl_store *s, struct kl_err *err);
/* Cuts every tenant's head into blocks, then checkpoints the WAL. */
int store_cut(struct kl_store *s, struct kl_err *err);
/* Applies retention by age and size (now_ns: wall clock). */
void store_retention(struct kl_store *s, int64_t now_ns);
/* Orders blocks by min_time, then cut (qsort of struct st_block *). */
int store_block_cmp(const void *a, const void *b);

/* ---- compact.c / agg.c ------------------------------------------------------- */

/*
 * Merges the blocks of a finished day into one block (2-h blocks into a
 * day), or when no day is left, the blocks of a finished week into one
 * (weeks only without retention by age or with one of 10 weeks or more).
 * At most one merge per tenant per call. The number of merges, or
 * negative. store_compact uses the wall clock as now_ns (retention's
 * "now"); store_compact_at takes it (tests).
 */
int store_compact(struct kl_store *s, struct kl_err *err);
int store_compact_at(struct kl_store *s, int64_t now_ns, struct kl_err *err);
/* Adds every bucket of add to acc (same bucket numbers are summed). 0 or -ENOMEM. */
int store_level_merge(struct st_level *acc, const struct st_level *add);

/* ---- query.c ----------------------------------------------------------------- */

/* True if profile p overlaps [from, until) (zero-length profiles count as points). */
static inline bool store_prof_overlaps(const struct st_prof *p, int64_t from, int64_t until)
{
	int64_t end = p->end > p->start ? p->end : p->start + 1;

	return p->start < until && end > from;
}

/* True if series s holds a profile overlapping [from, until). */
bool store_series_has_data(const struct st_series *s, int64_t from, int64_t until);
/* The same over the head and the blocks of t (block parts: by their time range). */
bool store_series_in_range(const struct st_tenant *t, uint32_t sid, int64_t from, int64_t until);

/* Tests: makes select use only raw profiles (no aggregates). */
void store_set_raw_only(struct kl_store *s, bool on);

#endif /* KL_STORE_INTERNAL_H */
