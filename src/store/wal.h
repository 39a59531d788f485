/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wal.h - the write-ahead log: an append-only sequence of opaque records
 * in segment files, made durable by one writer thread with group commit.
 *
 * Records: the store's encoded appends (the WAL does not look inside).
 * On disk (docs/storage.md): dir/NNNNNNNNNNNNNNNN.wal segments (the number
 * is the LSN of the first record, 16 hex digits), each record framed as
 *
 *     u32 length | u32 flags | u64 xxh3-64(payload) | payload
 *
 * little endian. A record whose frame or checksum is bad, or that runs past
 * the end of the file, ends the log: at open it is cut (ftruncate) with a
 * log line giving the bytes cut, and nothing after it is replayed.
 * In FSYNC mode the current segment goes on past its last record with
 * zero bytes written ahead (so that a batch's fdatasync has no file size
 * to write); a zero header followed by nothing but zeros is the clean end
 * of a segment: not cut, not logged.
 *
 * Durability: kl_wal_append copies the record into the writer's buffer and
 * returns its LSN at once; kl_wal_wait blocks until that LSN is durable.
 * The writer thread takes everything buffered, writes it with one pwrite
 * and syncs once (fdatasync, per the sync mode), then wakes all waiters of
 * the batch: many requests share one fsync.
 *
 * Failure: if a batch cannot be written or synced (ENOSPC, EIO), the bytes
 * of that batch are truncated away, every waiter in it gets the error, and
 * the WAL stays usable: later appends are tried again (so ingest resumes
 * when space returns). A failed record is never replayed.
 *
 * Thread safety: append/wait/stats from any thread; replay happens inside
 * kl_wal_open before it returns.
 */
#ifndef KL_WAL_H
#define KL_WAL_H

#include "../core/base.h"
#include "fsio.h"
#include "store.h"

struct kl_wal;

struct kl_wal_opts {
	const char *dir;	/* the WAL directory (created if missing) */
	size_t segment_bytes;	/* start a new segment past this size [64 MiB] */
	size_t max_buffer;	/* bytes buffered before appends wait for the writer [64 MiB] */
	enum kl_store_sync sync;	/* FSYNC or WRITE (NONE: kl_wal_open is not used) */
	const struct kl_fsio *io;	/* NULL = kl_fsio_default() */
	void (*log)(void *ctx, enum kl_log_level level, const char *msg);
	void *log_ctx;
};

/*
 * Called by kl_wal_open for every intact record, oldest first. A non-zero
 * return stops the replay and kl_wal_open fails with that code.
 */
typedef int (*kl_wal_replay_fn)(void *ctx, uint64_t lsn, const uint8_t *payload, size_t len);

/*
 * Opens the WAL in o->dir, replays every record with replay(ctx, ...), cuts
 * a torn/corrupt tail, starts the writer thread. 0 or negative.
 */
int kl_wal_open(const struct kl_wal_opts *o, kl_wal_replay_fn replay, void *ctx,
		struct kl_wal **out, struct kl_err *err);

/*
 * Copies a record into the log buffer; *lsn gets its LSN (increasing).
 * Returns at once unless the buffer is full (then waits for the writer).
 * Records appended by one thread keep their order; records appended by
 * different threads are ordered by the time of their append calls.
 * Maximum record size: 256 MiB (-KL_ELIMIT).
 */
int kl_wal_append(struct kl_wal *w, const void *payload, size_t len, uint64_t *lsn,
		  struct kl_err *err);

/* Blocks until lsn is durable (0) or its batch failed (-ENOSPC, -EIO ... with text). */
int kl_wal_wait(struct kl_wal *w, uint64_t lsn, struct kl_err *err);

/*
 * kl_wal_wait without the wait: 1 while lsn's batch is not written yet,
 * else what kl_wal_wait would return (0, or the batch's error with text).
 * The store's completion thread waits once (kl_wal_wait) for the oldest
 * record it tracks, then polls the others: one wake-up per batch.
 */
int kl_wal_poll(struct kl_wal *w, uint64_t lsn, struct kl_err *err);

/*
 * Declares every record with LSN < lsn no longer needed (its data now lives
 * in a block): whole segments below it are deleted. The current segment is
 * closed and a new one started first, so the next records land in a
 * segment that survives. 0 or -errno.
 */
int kl_wal_checkpoint(struct kl_wal *w, uint64_t lsn, struct kl_err *err);

/* The LSN the next append will get. */
uint64_t kl_wal_next_lsn(struct kl_wal *w);

struct kl_wal_stats {
	uint64_t bytes;		/* in live segments */
	uint64_t lag_bytes;	/* appended, not yet durable */
	uint64_t syncs;
	uint64_t batches_failed;
	uint64_t records_cut;	/* at open */
	uint64_t bytes_cut;	/* at open */
};

void kl_wal_stats(struct kl_wal *w, struct kl_wal_stats *out);

/* Flushes and syncs what is buffered, stops the writer, closes. NULL is fine. */
void kl_wal_close(struct kl_wal *w);

#endif /* KL_WAL_H */
