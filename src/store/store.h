/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.h - Kiln's embedded profile store: durable, compact, fast over long
 * ranges. The server talks to storage only through this interface, so a
 * scale-out backend can replace it by producing the same results.
 *
 * Model (docs/storage.md): a tenant holds series; a series is a sorted label
 * set (with __profile_type__ and service_name) and one sample type; a series
 * holds profiles, each a time range and (stack, value) pairs. Stacks,
 * locations, functions, mappings and strings are interned per tenant.
 *
 * Thread safety: every function may be called from any number of threads
 * at once on one store (ingest and queries run concurrently and do not
 * stall each other). kl_store_close must not race with other calls.
 *
 * Errors: 0 or a negative code; text in *err. Codes callers map to HTTP:
 *   -ENOSPC      disk full or under the free-space margin (507)
 *   -EIO         the WAL or a block could not be written (503)
 *   -KL_ELIMIT   a tenant limit (series count, query memory cap) (429/422)
 *   -KL_EUSAGE   a bad query (400), e.g. the selector matches several
 *                profile types in kl_store_select
 *   -ENOMEM      out of memory (500)
 */
#ifndef KL_STORE_H
#define KL_STORE_H

#include "../core/profile.h"
#include "../server/ingest.h"
#include "../server/selector.h"
#include "fsio.h"

struct kl_store;		/* opaque */

/* Log levels of the store's log callback. */
enum kl_log_level { KL_LOG_ERROR, KL_LOG_WARN, KL_LOG_INFO, KL_LOG_DEBUG };

/* How appends reach the disk. */
enum kl_store_sync {
	KL_STORE_SYNC_FSYNC = 0,	/* acknowledged after fdatasync (group commit) */
	KL_STORE_SYNC_WRITE,	/* acknowledged after write(); survives kill -9, not power loss */
	KL_STORE_SYNC_NONE,	/* no WAL at all (benchmarks of the in-memory path only) */
};

/* Options of kl_store_open. Zero fields take the defaults in brackets. */
struct kl_store_opts {
	const char *dir;	/* data directory, created if missing [required] */
	size_t memory_limit;	/* bytes of in-memory (head) data before a cut [256 MiB] */
	int64_t block_span_ns;	/* the head is cut into a block after this span [2 h] */
	int64_t retention_ns;	/* blocks older than this are deleted [0 = keep] */
	uint64_t retention_bytes;	/* oldest blocks deleted above this size [0 = none] */
	uint32_t max_series;	/* series per tenant [100,000] */
	uint64_t min_free_bytes;	/* refuse ingest below this free disk [64 MiB] */
	size_t query_memory_limit;	/* bytes one query may hold [512 MiB] */
	enum kl_store_sync sync;
	const struct kl_fsio *io;	/* file system calls; NULL = the real ones */
	/* log lines (no newline); NULL = silent. Called from any thread. */
	void (*log)(void *ctx, enum kl_log_level level, const char *msg);
	void *log_ctx;
};

/*
 * Opens (creating if needed) the store in o->dir: loads block indexes,
 * replays the WAL (cutting a torn or corrupt tail, with a log line) and
 * starts the background threads (WAL writer, compaction, retention).
 * Only one process may open a directory (an flock on dir/LOCK; a second
 * open fails with -EBUSY and says so).
 */
int kl_store_open(const struct kl_store_opts *o, struct kl_store **out, struct kl_err *err);

/*
 * Stops the background threads, flushes and syncs the WAL, frees
 * everything. Pending appends are completed first (their done callbacks
 * run); their tickets must have been ended before. NULL is fine.
 */
void kl_store_close(struct kl_store *s);

/*
 * Appends n series (each a label set + a one-sample-type profile + time
 * range, from kl_series_split) to tenant. Returns 0 only once the data is
 * durable as o->sync says and visible to queries; on failure nothing of
 * the batch is visible or stored. The series' profiles are only read.
 * String sample labels other than span_id/trace_id and all numeric labels
 * are not kept (kl_series_split already made the rest series labels).
 */
int kl_store_append(struct kl_store *s, const char *tenant, const struct kl_series *v, size_t n,
		    struct kl_err *err);

/*
 * kl_store_append in two halves, so that no thread has to sleep through
 * the WAL's group commit (the server parks the connection instead).
 *
 * kl_store_append_start does the append's work (intern into the head,
 * encode, copy into the WAL buffer) and returns:
 *   - 0 with *ticket NULL: done, durable as o->sync says, visible (this is
 *     the case without a WAL);
 *   - negative with *ticket NULL: failed, nothing stored (text in err);
 *   - 0 with *ticket set: pending. done(ctx) is then called exactly once,
 *     from the store's completion thread, as soon as the outcome is known
 *     (the record is durable and its profiles are visible, or it failed);
 *     possibly before kl_store_append_start returns. done must be quick and
 *     must not call into the store (it wakes or resumes the waiter); ctx
 *     must stay valid until done has been called. done may be NULL.
 * The series are only read during the call. A pending append holds off
 * the head's cut (like a synchronous append in progress) until it ends.
 */
struct kl_store_ticket;
typedef void (*kl_store_done_fn)(void *ctx);

int kl_store_append_start(struct kl_store *s, const char *tenant, const struct kl_series *v,
			  size_t n, kl_store_done_fn done, void *ctx,
			  struct kl_store_ticket **ticket, struct kl_err *err);

/*
 * The outcome of a pending append: 0 (durable and visible) or the error
 * (-ENOSPC, -EIO ... with text, nothing stored); frees the ticket. Waits if
 * the outcome is not known yet (at most one group commit). Call it exactly
 * once per ticket, from any thread, before kl_store_close. NULL returns 0.
 */
int kl_store_append_end(struct kl_store_ticket *ticket, struct kl_err *err);

/* A query over one tenant. */
struct kl_store_query {
	const char *tenant;
	const struct kl_selector *sel;	/* which series */
	int64_t from_ns, until_ns;	/* profiles overlapping [from, until) */
	const char *span_id;	/* only samples labelled span_id=this; NULL = all */
};

/*
 * Merges every matching profile in the range into one profile (one sample
 * type; stacks with locations, functions, file/line and mappings as
 * ingested; period and period type of the series; time_nanos = from,
 * duration = until - from). No match is not an error: *out is an empty
 * profile with the selector's sample type when known. Matching series of
 * different profile types: -KL_EUSAGE ("selector matches 2 profile types,
 * add __profile_type__ or a type id"). A merge that would hold more than
 * query_memory_limit: -KL_ELIMIT. *out is owned by the caller.
 */
int kl_store_select(struct kl_store *s, const struct kl_store_query *q, struct kl_profile **out,
		    struct kl_err *err);

/* One timeline: the total value per time bucket. */
struct kl_store_timeline {
	char *group;		/* the group_by label's value (owned); NULL when not grouped */
	int64_t start_ns;	/* start of bucket 0 (from, aligned down to step) */
	int64_t step_ns;
	size_t n;		/* buckets */
	int64_t *values;	/* n totals (owned); 0 where nothing was stored */
	int64_t total;		/* sum of values */
};

/*
 * Timelines of the matching series over [from, until) in buckets of
 * step_ns (>= 1 s; the store may use a coarser step if the range would
 * need more than 10,000 buckets). group_by NULL: one timeline. Otherwise
 * one per value of that label (series without it: group ""), largest
 * total first. *out is an array of *n, freed with kl_store_timelines_free.
 */
int kl_store_timeline(struct kl_store *s, const struct kl_store_query *q, int64_t step_ns,
		      const char *group_by, struct kl_store_timeline **out, size_t *n,
		      struct kl_err *err);
void kl_store_timelines_free(struct kl_store_timeline *t, size_t n);

/*
 * Label names (sorted, unique) of the tenant's series that match sel
 * (NULL = all) and have data in [from, until). *out: array of owned
 * strings, freed with kl_store_strings_free.
 */
int kl_store_label_names(struct kl_store *s, const char *tenant, const struct kl_selector *sel,
			 int64_t from_ns, int64_t until_ns, char ***out, size_t *n,
			 struct kl_err *err);

/* Values (sorted, unique) of label name, otherwise as kl_store_label_names. */
int kl_store_label_values(struct kl_store *s, const char *tenant, const char *name,
			  const struct kl_selector *sel, int64_t from_ns, int64_t until_ns,
			  char ***out, size_t *n, struct kl_err *err);

void kl_store_strings_free(char **v, size_t n);

/*
 * Label sets of the matching series with data in the range, sorted by
 * their canonical key. *out: array of *n sets, freed with
 * kl_store_series_free.
 */
int kl_store_series(struct kl_store *s, const char *tenant, const struct kl_selector *sel,
		    int64_t from_ns, int64_t until_ns, struct kl_labels **out, size_t *n,
		    struct kl_err *err);
void kl_store_series_free(struct kl_labels *v, size_t n);

/* Figures for /metrics; all counters since open unless said otherwise. */
struct kl_store_stats {
	uint64_t profiles_appended;	/* series profiles appended */
	uint64_t series;	/* series now, all tenants */
	uint64_t tenants;
	uint64_t head_bytes;	/* memory held by in-memory data now */
	uint64_t disk_bytes;	/* bytes of blocks + symbols files + WAL now */
	uint64_t blocks;	/* blocks now */
	uint64_t wal_bytes;	/* WAL bytes now */
	uint64_t wal_lag_bytes;	/* written to the WAL but not yet synced */
	uint64_t wal_syncs;	/* fdatasync calls */
	uint64_t wal_records_cut;	/* torn/corrupt records cut at open */
	uint64_t compactions;
	uint64_t blocks_deleted;	/* by retention */
	bool disk_full;		/* ingest refused now for lack of space */
};

void kl_store_stats(struct kl_store *s, struct kl_store_stats *out);

#endif /* KL_STORE_H */
