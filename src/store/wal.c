/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wal.c - the write-ahead log (contract in wal.h): checksummed records in
 * segment files kept ahead of the writer by a tail of zeros, replay with
 * torn-tail cutting at open, and one writer thread that commits batches of
 * records with one write and one fdatasync.
 *
 * Sections: design notes; framing and helpers; replay at open; the writer
 * thread; append, wait, checkpoint, stats, close.
 */

/*
 * Design notes
 * ============
 * LSN. The LSN is a record counter: the first record ever written is LSN 1,
 * each append takes the next number. A segment is named by the LSN of its
 * first record, so replay knows every record's LSN without storing it: the
 * i-th record of segment S has LSN S + i, except where a JUMP record (flag
 * bit 0, payload: u64 LE, the LSN of the next record) moves the count
 * forward. JUMP records are the WAL's own and are never handed to replay.
 *
 * Invariants
 *  1. Records on disk are in LSN order, and replay gives each record the
 *     LSN its append returned (names + JUMPs encode every gap).
 *  2. Only the writer thread writes segments; the bytes [0, seg_size) of
 *     the current segment are whole records, written (and in FSYNC mode
 *     synced) by batches that succeeded. Between batches, unless the
 *     writer is BROKEN, the bytes [seg_size, file_end) are zeros (the
 *     preallocated tail, below).
 *  3. kl_wal_wait returns 0 for an LSN only after its batch's pwrite and,
 *     in FSYNC mode, its fdatasync succeeded: acknowledged = durable.
 *  4. A failed batch is cut (ftruncate to seg_size, then fdatasync) before
 *     any later byte is written or a segment is rotated; while the cut keeps
 *     failing the writer is BROKEN and every batch fails. So bytes of a
 *     failed batch are never followed by good ones, never replayed. The cut
 *     drops the zero tail too (file_end = seg_size); the next batch extends
 *     the file again.
 *  5. LSNs are never reused within a process: the next batch written after
 *     a failure starts with a JUMP over the failed LSNs (or starts a new
 *     segment named by its first LSN).
 *  6. The fill buffer holds the records [fill_first, next_lsn), in order;
 *     its size stays <= max_buffer unless it holds a single record.
 *  7. Every LSN <= resolved_lsn has a known outcome: success, unless it is
 *     in a range of the failure ring.
 *  8. Segments are deleted whole, oldest first, never the current one; the
 *     segment list (segs) is in LSN order and its last entry is current.
 *
 * Preallocated tail (FSYNC mode). A batch that appends to a file makes
 * its fdatasync allocate blocks and write the inode (size, extents) with
 * the data, every batch. So the current segment is kept written ahead of
 * seg_size with real zero bytes (not fallocate: unwritten extents need
 * metadata on their first write too), up to the next WAL_PREALLOC boundary
 * and not past segment_bytes unless a batch itself goes past it; a batch
 * then overwrites blocks that exist, and its fdatasync has no size or
 * extent to write (ext4 without a journal still writes the inode when the
 * mtime moved: at most once per clock tick, not once per batch). The batch
 * that needs the extension writes the zeros [end of the batch, new end)
 * first and its one fdatasync makes both durable before anything in them
 * is acknowledged: one size change per WAL_PREALLOC bytes, not per batch.
 * The zeros go in aligned 16 KiB pwrites, never in one big write: a big
 * write makes the page cache hold that range in large folios (ext4, Linux
 * 6.16 on), and every small batch written over them then costs several
 * times the CPU in write_begin, copy and writeback (measured: 15-20% of a
 * batch's CPU against 2% with 4-64 KiB pieces); 64 syscalls per MiB cost
 * far less.
 * A failed extension (ENOSPC) fails its batch like a failed write. WRITE
 * mode syncs nothing per batch, so it does not preallocate (its segments
 * are byte for byte what they were, tests/unit/data/store-v1). Rotation
 * and a clean close cut the tail back (ftruncate; the rotation's cut is not
 * synced, a tail left by a crash is harmless), so only the current segment
 * of a live or crashed process has one.
 *
 * At open, a header of 16 zero bytes, or fewer than 16 bytes left, where
 * the next record would start, with nothing but zeros from there to the
 * end of the file, is the clean end of the segment: no record can look
 * like that (its checksum would be xxh3 of its payload, never 0), nothing
 * is cut and nothing is logged. Anything else that is not a whole record
 * is torn or corrupt as before (a checksum mismatch or an impossible
 * frame), including a batch torn by a crash inside the zero tail.
 *
 * Writer states (writer_main; one batch = everything in the fill buffer)
 *
 *   IDLE    --append signals cv_work; swap buffers-->  WRITING   (writer_main)
 *   WRITING --seg_size >= segment_bytes-->  ROTATE -->  WRITING  (rotate)
 *   WRITING --pwrite, fdatasync ok; wake waiters-->  IDLE        (write_batch)
 *   WRITING --error-->  CUT --ftruncate, fdatasync ok-->  IDLE   (cut_batch)
 *                       CUT --fails-->  BROKEN
 *   BROKEN  --next batch or checkpoint retries the cut-->  CUT   (cut_batch)
 *   IDLE    --checkpoint sets rotate_req-->  ROTATE -->  IDLE    (rotate)
 *   IDLE    --closing, fill buffer empty-->  EXIT                (kl_wal_close)
 *
 * Damage found at open (replay_all): a bad record in the LAST segment is
 * the normal result of a crash mid-write: the segment is cut there (a log
 * line says how much). A bad record in an earlier segment is real damage:
 * the segment's bytes from the bad record on are saved to NAME.wal.corrupt,
 * the segment is cut there, every later segment is renamed NAME.wal.corrupt
 * (kept for inspection, never replayed; .corrupt.N if the name is taken),
 * and an error is logged. Replay stops at the first bad record rather than
 * skipping it, so the store never sees a log with a hole in it; nothing is
 * silently dropped.
 *
 * Limits. If the process dies after a batch failed but before its cut is
 * done (or the cut's sync fails and power is lost), the failed records may
 * be on disk and are replayed at the next open: their appends got an error,
 * so a client that retries stores them twice; nothing acknowledged is lost.
 * Group commit takes whatever is buffered when the writer is free; after a
 * shared batch it yields once so the appenders it woke can append again
 * (64 waiting threads on 2 cores: ~60 records per sync instead of ~32; 8
 * threads: 7 instead of 4, and a third less CPU per record). One pwrite
 * and one fdatasync per batch: pwritev2(RWF_DSYNC) or O_DSYNC save a
 * syscall but measured no faster on ext4 here (the same kernel work).
 * A disk that loses synced data by reading back zeros at the end of the
 * current segment makes those records look like a clean end, where a file
 * without a zero tail would show them as damage: only a disk that breaks
 * fdatasync's promise can do that, and checksums still catch any other
 * garbage. File sizes come from fstat and segment names from opendir,
 * which are not in struct kl_fsio (reads only; no fault to inject there).
 */
#include "wal.h"

#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "../core/buf.h"

/* --- framing and helpers ------------------------------------------------- */

#define WAL_HDR 16			/* u32 len | u32 flags | u64 xxh3 */
#define WAL_MAX_RECORD (256u << 20)	/* the contract's record size limit */
#define WAL_F_JUMP 1u			/* the payload is the next record's LSN */
#define WAL_F_KNOWN WAL_F_JUMP
#define WAL_WINDOW (1u << 20)		/* replay reads segments in 1 MiB windows */
#define FAIL_RING 256			/* failed LSN ranges remembered for kl_wal_wait */
#define WAL_PREALLOC (1u << 20)		/* FSYNC mode: zero tail written in steps of this */
#define WAL_ZCHUNK (16u << 10)		/* ... in aligned pwrites of this (design notes) */

static const uint8_t wal_zeros[WAL_ZCHUNK];

struct wal_seg {
	uint64_t first;		/* the name: LSN of the segment's first record */
	uint64_t bytes;
};

/* A range of LSNs whose batch failed. */
struct wal_fail {
	uint64_t first, last;
	int err;
	const char *op;		/* the failed call: "write", "fdatasync", "truncate" ... */
};

struct kl_wal {
	/* set at open, then constant */
	char *dir;
	size_t segment_bytes, max_buffer;
	enum kl_store_sync sync;
	const struct kl_fsio *io;
	void (*log)(void *ctx, enum kl_log_level level, const char *msg);
	void *log_ctx;
	pthread_t writer;
	bool writer_started;
	pthread_mutex_t ckpt_mu;	/* one checkpoint at a time */

	/* guarded by mu */
	pthread_mutex_t mu;
	pthread_cond_t cv_work;		/* the writer: records or a request arrived */
	pthread_cond_t cv_space;	/* appenders: the fill buffer has room */
	pthread_cond_t cv_done;		/* checkpoint: rotate_done moved */
	/*
	 * kl_wal_wait sleeps on cv_batch[g & 1] for the batch g holding its
	 * LSN: batch_gen is in flight (LSNs <= batch_last), batch_gen + 1 is
	 * the fill buffer. A finished batch wakes only its own waiters, not
	 * those of the next one (with 64 waiters, half of the wake-ups were
	 * for nothing, and each woken thread fought for mu).
	 */
	pthread_cond_t cv_batch[2];
	uint64_t batch_gen, batch_last;
	struct kl_buf fill;
	uint64_t fill_first;
	uint64_t next_lsn;
	uint64_t resolved_lsn;
	uint64_t flushing_bytes;
	struct wal_fail fails[FAIL_RING];	/* a ring, oldest at fail_head */
	size_t fail_head, nfail;
	uint64_t forgotten_lsn;		/* failure outcomes <= this may be lost */
	struct wal_seg *segs;
	size_t nsegs, segs_cap;
	uint64_t rotate_req, rotate_done;
	int rotate_err;
	bool closing;
	struct kl_wal_stats st;

	/* owned by the writer thread (by kl_wal_open before it starts) */
	struct kl_buf flush;
	int fd;			/* the current segment */
	uint64_t seg_first;	/* its name */
	uint64_t seg_size;	/* its bytes of whole, good records */
	uint64_t file_end;	/* its file size: zeros from seg_size on (invariant 2) */
	uint64_t disk_next;	/* the LSN the next record written will replay as */
	bool broken;		/* seg_size bytes must be cut back before anything else */
	bool fail_logged;	/* a failure was logged; log the recovery once */
};

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void frame_header(uint8_t *hdr, const void *payload, size_t len, uint32_t flags)
{
	put_le32(hdr, (uint32_t)len);
	put_le32(hdr + 4, flags);
	put_le64(hdr + 8, XXH3_64bits(payload, len));
}

static void wal_log(const struct kl_wal *w, enum kl_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void wal_log(const struct kl_wal *w, enum kl_log_level level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (!w->log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	w->log(w->log_ctx, level, msg);
}

static void seg_path(const struct kl_wal *w, uint64_t first, const char *suffix, char *out,
		     size_t size)
{
	snprintf(out, size, "%s/%016" PRIx64 ".wal%s", w->dir, first, suffix);
}

/* Adds a segment at the end of the list. Caller holds mu (or is alone). */
static int segs_push(struct kl_wal *w, uint64_t first, uint64_t bytes)
{
	if (KL_GROW(w->segs, w->segs_cap, w->nsegs + 1))
		return -ENOMEM;
	w->segs[w->nsegs].first = first;
	w->segs[w->nsegs].bytes = bytes;
	w->nsegs++;
	return 0;
}

/* --- replay at open ------------------------------------------------------ */

/* A read window over one segment file. */
struct scan {
	const struct kl_fsio *io;
	int fd;
	uint64_t size;		/* of the file */
	uint8_t *buf;
	size_t cap;
	uint64_t boff;		/* file offset of buf[0] */
	size_t blen;
};

/* Points *p at the n bytes at off (the caller checked off + n <= size). */
static int scan_get(struct scan *s, uint64_t off, size_t n, const uint8_t **p)
{
	size_t want;
	int rc;

	if (n == 0) {
		*p = (const uint8_t *)"";	/* an empty payload still gets a valid pointer */
		return 0;
	}
	if (off >= s->boff && off + n <= s->boff + s->blen) {
		*p = s->buf + (off - s->boff);
		return 0;
	}
	want = (size_t)KL_MIN((uint64_t)KL_MAX(n, (size_t)WAL_WINDOW), s->size - off);
	if (want > s->cap) {
		uint8_t *nb = kl_realloc(s->buf, want);

		if (!nb)
			return -ENOMEM;
		s->buf = nb;
		s->cap = want;
	}
	s->blen = 0;
	rc = kl_fsio_pread_all(s->io, s->fd, s->buf, want, (off_t)off);
	if (rc)
		return rc;
	s->boff = off;
	s->blen = want;
	*p = s->buf + (off - s->boff);
	return 0;
}

/* REC_END: the zero tail, the clean end of a segment (design notes) */
enum rec_state { REC_OK, REC_TORN, REC_CORRUPT, REC_END };

/* 1 if the bytes [off, size) of the file are all zero, else 0; or -errno. */
static int scan_zeros(struct scan *s, uint64_t off)
{
	const uint8_t *p;
	int rc;

	while (off < s->size) {
		size_t n = (size_t)KL_MIN(s->size - off, (uint64_t)WAL_WINDOW);

		if ((rc = scan_get(s, off, n, &p)))
			return rc;
		if (p[0] || memcmp(p, p + 1, n - 1))
			return 0;
		off += n;
	}
	return 1;
}

/*
 * Reads the record at off: *payload, *len, *flags. REC_END: only zeros
 * from off on; REC_TORN: it runs past the end of the file; REC_CORRUPT:
 * bad header or checksum. rc < 0 on a read error.
 */
static enum rec_state scan_record(struct scan *s, uint64_t off, const uint8_t **payload,
				  uint32_t *len, uint32_t *flags, int *rc)
{
	static const uint8_t zero_hdr[WAL_HDR];
	const uint8_t *h;

	*rc = 0;
	if (s->size - off < WAL_HDR ||
	    ((*rc = scan_get(s, off, WAL_HDR, &h)) == 0 && !memcmp(h, zero_hdr, WAL_HDR))) {
		int z = scan_zeros(s, off);

		if (z < 0)
			*rc = z;
		if (z)
			return z > 0 ? REC_END : REC_CORRUPT;
		/* zeros, then something else: a zero header is never a record */
		return s->size - off < WAL_HDR ? REC_TORN : REC_CORRUPT;
	}
	if (*rc)
		return REC_CORRUPT;
	*len = get_le32(h);
	*flags = get_le32(h + 4);
	uint64_t sum = get_le64(h + 8);

	if (*len > WAL_MAX_RECORD || (*flags & ~WAL_F_KNOWN))
		return REC_CORRUPT;
	if (*len > s->size - off - WAL_HDR)
		return REC_TORN;
	if ((*rc = scan_get(s, off + WAL_HDR, *len, payload)))
		return REC_CORRUPT;
	if (XXH3_64bits(*payload, *len) != sum)
		return REC_CORRUPT;
	if ((*flags & WAL_F_JUMP) && *len != 8)
		return REC_CORRUPT;
	return REC_OK;
}

/* Counts the intact records from off on (what a cut throws away). */
static uint64_t scan_count(struct scan *s, uint64_t off)
{
	const uint8_t *p;
	uint32_t len, flags;
	uint64_t n = 0;
	int rc;

	while (off < s->size && scan_record(s, off, &p, &len, &flags, &rc) == REC_OK) {
		n += !(flags & WAL_F_JUMP);
		off += WAL_HDR + len;
	}
	return n;
}

/* Copies the bytes [off, size) of the scanned file to path (damage kept aside). */
static int save_tail(struct kl_wal *w, struct scan *s, uint64_t off, const char *path)
{
	const uint8_t *p;
	int fd, rc = 0;

	fd = w->io->open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	for (uint64_t o = off; o < s->size && !rc;) {
		size_t n = (size_t)KL_MIN(s->size - o, (uint64_t)WAL_WINDOW);

		rc = scan_get(s, o, n, &p);
		if (!rc)
			rc = kl_fsio_pwrite_all(w->io, fd, p, n, (off_t)(o - off));
		o += n;
	}
	if (!rc && w->io->fdatasync(fd))
		rc = -errno;
	w->io->close(fd);
	return rc;
}

struct replay_ctx {
	kl_wal_replay_fn fn;
	void *ctx;
	uint64_t lsn;		/* the LSN of the next record */
};

/*
 * Replays one segment. *bad gets the offset of the first bad record (or of
 * the zero tail, or the file size), *kind its kind. Returns 0, a read error
 * or the replay callback's code.
 */
static int replay_segment(struct scan *s, struct replay_ctx *rc_, uint64_t *bad,
			  enum rec_state *kind, struct kl_err *err)
{
	uint64_t off = 0;
	const uint8_t *p;
	uint32_t len, flags;
	int rc = 0;

	*kind = REC_OK;
	while (off < s->size) {
		*kind = scan_record(s, off, &p, &len, &flags, &rc);
		if (rc)
			return kl_errf(err, rc, "wal: cannot read a segment at offset %" PRIu64
				       ": %s", off, kl_strerror(rc));
		if (*kind == REC_OK && (flags & WAL_F_JUMP) && get_le64(p) < rc_->lsn)
			*kind = REC_CORRUPT;	/* a jump backwards breaks invariant 1 */
		if (*kind != REC_OK)
			break;
		if (flags & WAL_F_JUMP) {
			rc_->lsn = get_le64(p);
		} else {
			rc = rc_->fn(rc_->ctx, rc_->lsn, p, len);
			if (rc)
				return kl_errf(err, rc < 0 ? rc : -KL_EIO,
					       "wal: replay of record %" PRIu64 " failed (%d)",
					       rc_->lsn, rc);
			rc_->lsn++;
		}
		off += WAL_HDR + len;
	}
	*bad = off;
	return 0;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Lists the NNNNNNNNNNNNNNNN.wal names of dir, sorted. */
static int list_segments(const char *dir, uint64_t **out, size_t *n, struct kl_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	uint64_t *v = NULL;
	size_t cap = 0;
	int rc = 0;

	*n = 0;
	if (!d)
		return kl_errf(err, -errno, "wal: cannot list %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		char *end;
		uint64_t first;

		if (strlen(e->d_name) != 20 || strcmp(e->d_name + 16, ".wal"))
			continue;
		if (strspn(e->d_name, "0123456789abcdef") != 16)
			continue;
		first = strtoull(e->d_name, &end, 16);
		if (end != e->d_name + 16)
			continue;
		if (KL_GROW(v, cap, *n + 1)) {
			rc = kl_errf(err, -ENOMEM, "wal: out of memory listing %s", dir);
			goto out;
		}
		v[(*n)++] = first;
	}
	if (*n > 1)
		qsort(v, *n, sizeof(*v), cmp_u64);
out:
	closedir(d);
	if (rc) {
		kl_free(v);
		v = NULL;
		*n = 0;
	}
	*out = v;
	return rc;
}

/*
 * The name damage of segment `first` is kept under: NAME.wal.corrupt, or
 * NAME.wal.corrupt.N if an earlier damage already took that name.
 */
static void aside_path(const struct kl_wal *w, uint64_t first, char *out, size_t size)
{
	struct stat sb;
	char suffix[32];

	seg_path(w, first, ".corrupt", out, size);
	for (int n = 1; n < 1000 && !stat(out, &sb); n++) {
		snprintf(suffix, sizeof(suffix), ".corrupt.%d", n);
		seg_path(w, first, suffix, out, size);
	}
}

/* Renames the segments names[from..n) aside to NAME.wal.corrupt. */
static void set_aside(struct kl_wal *w, const uint64_t *names, size_t from, size_t n,
		      struct scan *s)
{
	char path[4096], aside[4096];

	for (size_t i = from; i < n; i++) {
		uint64_t records = 0, bytes = 0;
		struct stat sb;
		int fd;

		seg_path(w, names[i], "", path, sizeof(path));
		aside_path(w, names[i], aside, sizeof(aside));
		fd = w->io->open(path, O_RDONLY, 0);
		if (fd >= 0 && !fstat(fd, &sb)) {
			/* the window buffer is reused */
			s->fd = fd;
			s->size = (uint64_t)sb.st_size;
			s->boff = 0;
			s->blen = 0;
			records = scan_count(s, 0);
			bytes = s->size;
		}
		if (fd >= 0)
			w->io->close(fd);
		if (w->io->rename(path, aside))
			wal_log(w, KL_LOG_ERROR, "wal: cannot rename %s aside: %s", path,
				strerror(errno));
		else
			wal_log(w, KL_LOG_ERROR, "wal: segment %s follows damage: not replayed, "
				"kept as %s (%" PRIu64 " records, %" PRIu64 " bytes)", path, aside,
				records, bytes);
		w->st.records_cut += records;
		w->st.bytes_cut += bytes;
	}
}

/*
 * Cuts the segment being scanned at bad (its first bad record, of kind):
 * counts what is lost, saves it first if the segment is not the last one,
 * truncates, logs.
 */
static int cut_segment(struct kl_wal *w, struct scan *s, uint64_t first, uint64_t bad,
		       enum rec_state kind, bool last, struct kl_err *err)
{
	uint64_t cut = s->size - bad, records = 1;
	char path[4096], aside[4096];
	const uint8_t *h;
	uint32_t len;
	int rc;

	seg_path(w, first, "", path, sizeof(path));
	aside_path(w, first, aside, sizeof(aside));
	/* count the intact records after the bad one, when its length is plausible */
	if (kind == REC_CORRUPT && cut >= WAL_HDR && !scan_get(s, bad, WAL_HDR, &h)) {
		len = get_le32(h);
		if (len <= WAL_MAX_RECORD && len <= cut - WAL_HDR)
			records += scan_count(s, bad + WAL_HDR + len);
	}
	if (!last && (rc = save_tail(w, s, bad, aside)))
		return kl_errf(err, rc, "wal: cannot save damaged %s to %s: %s", path, aside,
			       kl_strerror(rc));
	if (w->io->ftruncate(s->fd, (off_t)bad) ||
	    (w->sync == KL_STORE_SYNC_FSYNC && w->io->fdatasync(s->fd)))
		return kl_errf(err, -errno, "wal: cannot cut %s at offset %" PRIu64 ": %s", path,
			       bad, strerror(errno));
	wal_log(w, last ? KL_LOG_WARN : KL_LOG_ERROR,
		"wal: cut %" PRIu64 " bytes of a %s record at %s offset %" PRIu64 "%s", cut,
		kind == REC_TORN ? "torn" : "corrupt", path, bad,
		last ? "" : " (damage before the last segment: rest kept as .corrupt)");
	w->st.records_cut += records;
	w->st.bytes_cut += cut;
	return 0;
}

/*
 * Replays every segment oldest first and leaves the last one open as the
 * current segment (creating one if there is none).
 */
static int replay_all(struct kl_wal *w, kl_wal_replay_fn fn, void *ctx, struct kl_err *err)
{
	struct replay_ctx r = { .fn = fn, .ctx = ctx, .lsn = 1 };
	struct scan s = { .io = w->io, .fd = -1 };
	uint64_t *names = NULL;
	char path[4096];
	size_t n = 0;
	int rc;

	rc = list_segments(w->dir, &names, &n, err);
	if (rc)
		goto out;
	for (size_t i = 0; i < n; i++) {
		bool last = i + 1 == n;
		enum rec_state kind = REC_OK;
		uint64_t bad = 0, size, file_end;
		struct stat sb;
		int fd;

		seg_path(w, names[i], "", path, sizeof(path));
		if (i > 0 && names[i] < r.lsn) {
			/* overlaps the previous segment's records: invariant 1 is broken */
			wal_log(w, KL_LOG_ERROR, "wal: segment %s starts at record %" PRIu64
				" inside the previous one (next is %" PRIu64 ")", path, names[i],
				r.lsn);
			set_aside(w, names, i, n, &s);
			n = i;
			break;
		}
		r.lsn = KL_MAX(r.lsn, names[i]);
		fd = w->io->open(path, O_RDWR, 0);
		if (fd < 0) {
			rc = kl_errf(err, -errno, "wal: cannot open %s: %s", path, strerror(errno));
			goto out;
		}
		if (fstat(fd, &sb)) {
			rc = kl_errf(err, -errno, "wal: cannot stat %s: %s", path, strerror(errno));
			w->io->close(fd);
			goto out;
		}
		s.fd = fd;
		s.size = size = (uint64_t)sb.st_size;
		s.boff = 0;
		s.blen = 0;
		rc = replay_segment(&s, &r, &bad, &kind, err);
		file_end = size;
		if (kind == REC_END) {
			size = bad;	/* a clean end: the zero tail is kept, not cut */
		} else if (!rc && kind != REC_OK) {
			rc = cut_segment(w, &s, names[i], bad, kind, last, err);
			size = file_end = bad;
			if (!rc && !last) {
				set_aside(w, names, i + 1, n, &s);
				n = i + 1;
				last = true;
			}
		}
		if (rc) {
			w->io->close(fd);
			goto out;
		}
		rc = segs_push(w, names[i], size);
		if (rc) {
			rc = kl_errf(err, rc, "wal: out of memory");
			w->io->close(fd);
			goto out;
		}
		if (last) {
			w->fd = fd;
			w->seg_first = names[i];
			w->seg_size = size;
			w->file_end = file_end;
		} else {
			w->io->close(fd);
		}
	}
	w->next_lsn = r.lsn;
	w->disk_next = r.lsn;
	if (w->fd < 0) {
		/* an empty log: its first segment is named by the next LSN */
		seg_path(w, r.lsn, "", path, sizeof(path));
		w->fd = w->io->open(path, O_RDWR | O_CREAT, 0644);
		if (w->fd < 0) {
			rc = kl_errf(err, -errno, "wal: cannot create %s: %s", path,
				     strerror(errno));
			goto out;
		}
		w->seg_first = r.lsn;
		w->seg_size = w->file_end = 0;
		rc = segs_push(w, r.lsn, 0);
		if (rc) {
			rc = kl_errf(err, rc, "wal: out of memory");
			goto out;
		}
	}
	if (w->sync == KL_STORE_SYNC_FSYNC && w->io->fsync_dir(w->dir)) {
		rc = kl_errf(err, -errno, "wal: cannot sync %s: %s", w->dir, strerror(errno));
		goto out;
	}
out:
	kl_free(s.buf);
	kl_free(names);
	return rc;
}

/* --- the writer thread --------------------------------------------------- */

/* Cuts the current segment back to seg_size, zero tail included (invariant 4). 0 or -errno. */
static int cut_batch(struct kl_wal *w)
{
	int rc = 0;

	if (w->io->ftruncate(w->fd, (off_t)w->seg_size))
		rc = errno ? -errno : -EIO;
	else
		w->file_end = w->seg_size;
	if (!rc && w->sync == KL_STORE_SYNC_FSYNC && w->io->fdatasync(w->fd))
		rc = errno ? -errno : -EIO;
	w->broken = rc != 0;
	return rc;
}

/*
 * Cuts the zero tail off the current segment (rotation, close): a closed
 * segment ends at its last record, as a WAL without preallocation writes
 * it. Not synced: a tail left by a crash is a clean end at the next open.
 */
static void trim_tail(struct kl_wal *w)
{
	if (w->file_end > w->seg_size && !w->broken &&
	    !w->io->ftruncate(w->fd, (off_t)w->seg_size))
		w->file_end = w->seg_size;
}

/*
 * FSYNC mode: extends the current segment with zeros from end (where the
 * batch being written ends) to the next WAL_PREALLOC boundary, capped at
 * segment_bytes, if end is past file_end (design notes: preallocated
 * tail). The batch's fdatasync makes them durable. 0 or -errno.
 */
static int prealloc(struct kl_wal *w, uint64_t end)
{
	uint64_t to;
	int rc;

	if (w->sync != KL_STORE_SYNC_FSYNC || end <= w->file_end)
		return 0;
	to = (end + WAL_PREALLOC - 1) / WAL_PREALLOC * WAL_PREALLOC;
	if (to > w->segment_bytes)
		to = KL_MAX(end, (uint64_t)w->segment_bytes);
	for (uint64_t at = end; at < to; at += WAL_ZCHUNK - at % WAL_ZCHUNK) {
		size_t n = (size_t)KL_MIN(to - at, (uint64_t)(WAL_ZCHUNK - at % WAL_ZCHUNK));

		if ((rc = kl_fsio_pwrite_all(w->io, w->fd, wal_zeros, n, (off_t)at)))
			return rc;
	}
	w->file_end = to;
	return 0;
}

/*
 * Starts segment `first` (the LSN of the next record to be written) and
 * makes it current. The old one stays as it is. 0 or -errno.
 */
static int rotate(struct kl_wal *w, uint64_t first)
{
	char path[4096];
	int fd, rc;

	if (w->broken && (rc = cut_batch(w)))
		return rc;
	seg_path(w, first, "", path, sizeof(path));
	fd = w->io->open(path, O_RDWR | O_CREAT | O_EXCL, 0644);
	if (fd < 0)
		return -errno;
	/* the new name must survive a power loss before records in it are acknowledged */
	if (w->sync == KL_STORE_SYNC_FSYNC && w->io->fsync_dir(w->dir)) {
		rc = -errno;
		w->io->close(fd);
		w->io->unlink(path);
		return rc;
	}
	pthread_mutex_lock(&w->mu);
	rc = segs_push(w, first, 0);
	pthread_mutex_unlock(&w->mu);
	if (rc) {
		w->io->close(fd);
		w->io->unlink(path);
		return rc;
	}
	trim_tail(w);
	w->io->close(w->fd);
	w->fd = fd;
	w->seg_first = first;
	w->seg_size = w->file_end = 0;
	w->disk_next = first;
	return 0;
}

/*
 * Writes the flush buffer, records [first, last], at the end of the
 * current segment and syncs it. On failure, *op names the failing call.
 */
static int write_batch(struct kl_wal *w, uint64_t first, uint64_t last, const char **op)
{
	uint64_t off, jump_len;
	int rc, crc;

	if (w->broken && (rc = cut_batch(w))) {
		*op = "truncate (after an earlier failure)";
		return rc;
	}
	if (w->seg_size >= w->segment_bytes && (rc = rotate(w, first)))
		/* keep writing to the old segment: the size limit is soft */
		wal_log(w, KL_LOG_WARN, "wal: cannot start segment %016" PRIx64 ": %s",
			first, kl_strerror(rc));
	off = w->seg_size;
	jump_len = first != w->disk_next ? WAL_HDR + 8 : 0;
	/* the zeros first: a disk too full for them fails the batch before it is written */
	rc = prealloc(w, off + jump_len + w->flush.len);
	if (rc) {
		*op = "write (extending the segment)";
		goto fail;
	}
	if (jump_len) {
		uint8_t jump[WAL_HDR + 8];

		/* invariant 5: skip the LSNs of failed batches */
		put_le64(jump + WAL_HDR, first);
		frame_header(jump, jump + WAL_HDR, 8, WAL_F_JUMP);
		rc = kl_fsio_pwrite_all(w->io, w->fd, jump, sizeof(jump), (off_t)off);
		if (rc) {
			*op = "write";
			goto fail;
		}
		off += sizeof(jump);
	}
	rc = kl_fsio_pwrite_all(w->io, w->fd, w->flush.data, w->flush.len, (off_t)off);
	if (rc) {
		*op = "write";
		goto fail;
	}
	if (w->sync == KL_STORE_SYNC_FSYNC) {
		pthread_mutex_lock(&w->mu);
		w->st.syncs++;
		pthread_mutex_unlock(&w->mu);
		if (w->io->fdatasync(w->fd)) {
			rc = errno ? -errno : -EIO;
			*op = "fdatasync";
			goto fail;
		}
	}
	w->seg_size = off + w->flush.len;
	w->file_end = KL_MAX(w->file_end, w->seg_size);
	w->disk_next = last + 1;
	return 0;
fail:
	/* invariant 4: the failed bytes go before anything else is written */
	crc = cut_batch(w);
	if (crc)
		wal_log(w, KL_LOG_ERROR, "wal: cannot cut a failed batch from segment %016" PRIx64
			": %s; retrying before the next write", w->seg_first, kl_strerror(crc));
	return rc;
}

/* Records that [first, last] failed with err. Caller holds mu. */
static void fail_push(struct kl_wal *w, uint64_t first, uint64_t last, int err, const char *op)
{
	struct wal_fail *f;

	if (w->nfail) {
		f = &w->fails[(w->fail_head + w->nfail - 1) % FAIL_RING];
		if (f->last + 1 == first && f->err == err && f->op == op) {
			f->last = last;
			return;
		}
	}
	if (w->nfail == FAIL_RING) {
		w->forgotten_lsn = w->fails[w->fail_head].last;
		w->fail_head = (w->fail_head + 1) % FAIL_RING;
		w->nfail--;
	}
	f = &w->fails[(w->fail_head + w->nfail) % FAIL_RING];
	*f = (struct wal_fail){ .first = first, .last = last, .err = err, .op = op };
	w->nfail++;
}

static void *writer_main(void *arg)
{
	struct kl_wal *w = arg;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		uint64_t first, last, rot;
		const char *op = NULL;
		struct kl_buf tmp;
		int rc = 0, rrc = 0;

		while (!w->fill.len && !w->closing && w->rotate_req == w->rotate_done)
			pthread_cond_wait(&w->cv_work, &w->mu);
		if (!w->fill.len && w->rotate_req == w->rotate_done)
			break;	/* closing, and everything is written */
		/* take the whole fill buffer as one batch (invariant 6) */
		first = w->fill.len ? w->fill_first : w->next_lsn;
		last = w->next_lsn - 1;
		tmp = w->fill;
		w->fill = w->flush;
		w->fill.len = 0;
		w->flush = tmp;
		w->batch_gen++;
		w->batch_last = last;
		w->flushing_bytes = w->flush.len;
		rot = w->rotate_req;
		pthread_cond_broadcast(&w->cv_space);
		pthread_mutex_unlock(&w->mu);

		if (rot != w->rotate_done && w->seg_size > 0)
			rrc = rotate(w, first);
		if (w->flush.len)
			rc = write_batch(w, first, last, &op);
		if (rc && !w->fail_logged) {
			wal_log(w, KL_LOG_ERROR, "wal: %s of records %" PRIu64 "-%" PRIu64
				" to segment %016" PRIx64 " failed: %s; they are not acknowledged",
				op, first, last, w->seg_first, kl_strerror(rc));
			w->fail_logged = true;
		} else if (!rc && w->flush.len && w->fail_logged) {
			wal_log(w, KL_LOG_INFO, "wal: writing again from record %" PRIu64, first);
			w->fail_logged = false;
		}

		pthread_mutex_lock(&w->mu);
		if (rot != w->rotate_done) {
			w->rotate_done = rot;
			w->rotate_err = rrc;
		}
		if (w->flush.len) {
			if (rc) {
				fail_push(w, first, last, rc, op);
				w->st.batches_failed++;
			}
			w->segs[w->nsegs - 1].bytes = w->seg_size;
			w->resolved_lsn = last;
		}
		w->flushing_bytes = 0;
		w->flush.len = 0;
		/* a buffer grown for one huge record is not kept */
		if (w->flush.cap > 2 * w->max_buffer + WAL_HDR)
			kl_buf_release(&w->flush);
		pthread_cond_broadcast(&w->cv_batch[w->batch_gen & 1]);
		pthread_cond_broadcast(&w->cv_done);
		/*
		 * Several appenders shared this batch and were just woken: let
		 * them run and append again before the next batch is taken, or
		 * it catches only the first few (measured with 64 threads on 2
		 * cores: 32 records per sync without the yield, 60 with it).
		 */
		if (last > first) {
			pthread_mutex_unlock(&w->mu);
			sched_yield();
			pthread_mutex_lock(&w->mu);
		}
	}
	pthread_mutex_unlock(&w->mu);
	return NULL;
}

/* --- the interface ------------------------------------------------------- */

int kl_wal_open(const struct kl_wal_opts *o, kl_wal_replay_fn replay, void *ctx,
		struct kl_wal **out, struct kl_err *err)
{
	struct kl_wal *w;
	size_t limit;
	int rc;

	*out = NULL;
	if (!o || !o->dir || !replay || o->sync == KL_STORE_SYNC_NONE)
		return kl_errf(err, -KL_EUSAGE, "wal: open needs a directory, a replay function "
			       "and a sync mode other than none");
	w = kl_calloc(1, sizeof(*w));
	if (!w)
		return kl_errf(err, -ENOMEM, "wal: out of memory");
	pthread_mutex_init(&w->mu, NULL);
	pthread_mutex_init(&w->ckpt_mu, NULL);
	pthread_cond_init(&w->cv_work, NULL);
	pthread_cond_init(&w->cv_space, NULL);
	pthread_cond_init(&w->cv_done, NULL);
	pthread_cond_init(&w->cv_batch[0], NULL);
	pthread_cond_init(&w->cv_batch[1], NULL);
	w->fd = -1;
	w->segment_bytes = o->segment_bytes ? o->segment_bytes : 64u << 20;
	w->max_buffer = o->max_buffer ? o->max_buffer : 64u << 20;
	w->sync = o->sync;
	w->io = o->io ? o->io : kl_fsio_default();
	w->log = o->log;
	w->log_ctx = o->log_ctx;
	/* the ceiling: a full buffer plus one record of the largest size */
	limit = w->max_buffer + WAL_MAX_RECORD + 2 * WAL_HDR;
	kl_buf_init(&w->fill, limit);
	kl_buf_init(&w->flush, limit);
	w->dir = kl_strndup(o->dir, strlen(o->dir));
	if (!w->dir) {
		rc = kl_errf(err, -ENOMEM, "wal: out of memory");
		goto fail;
	}
	if (!w->io->mkdir(w->dir, 0755)) {
		/* a new directory: its name must be durable before anything in it */
		if (w->sync == KL_STORE_SYNC_FSYNC && (rc = kl_fsio_sync_parent(w->io, w->dir))) {
			rc = kl_errf(err, rc, "wal: cannot sync the parent of %s: %s", w->dir,
				     kl_strerror(rc));
			goto fail;
		}
	} else if (errno != EEXIST) {
		rc = kl_errf(err, -errno, "wal: cannot create %s: %s", w->dir, strerror(errno));
		goto fail;
	}
	rc = replay_all(w, replay, ctx, err);
	if (rc)
		goto fail;
	w->resolved_lsn = w->next_lsn - 1;
	w->forgotten_lsn = 0;
	rc = -pthread_create(&w->writer, NULL, writer_main, w);
	if (rc) {
		rc = kl_errf(err, rc, "wal: cannot start the writer thread: %s", kl_strerror(rc));
		goto fail;
	}
	w->writer_started = true;
	*out = w;
	return 0;
fail:
	kl_wal_close(w);
	return rc;
}

int kl_wal_append(struct kl_wal *w, const void *payload, size_t len, uint64_t *lsn,
		  struct kl_err *err)
{
	uint8_t hdr[WAL_HDR];
	size_t need = WAL_HDR + len;

	if (len > WAL_MAX_RECORD)
		return kl_errf(err, -KL_ELIMIT, "wal: a record of %zu bytes is over the limit "
			       "of %u", len, WAL_MAX_RECORD);
	/* checksum outside the lock: appenders hash in parallel */
	frame_header(hdr, payload, len, 0);
	pthread_mutex_lock(&w->mu);
	/* backpressure: wait for the writer, unless the record is alone (invariant 6) */
	while (w->fill.len && w->fill.len + need > w->max_buffer)
		pthread_cond_wait(&w->cv_space, &w->mu);
	if (kl_buf_reserve(&w->fill, need)) {
		w->fill.error = 0;	/* the buffer is intact; later appends may fit */
		pthread_mutex_unlock(&w->mu);
		return kl_errf(err, -ENOMEM, "wal: out of memory buffering %zu bytes", need);
	}
	if (!w->fill.len) {
		w->fill_first = w->next_lsn;
		pthread_cond_signal(&w->cv_work);
	}
	memcpy(w->fill.data + w->fill.len, hdr, WAL_HDR);
	if (len)
		memcpy(w->fill.data + w->fill.len + WAL_HDR, payload, len);
	w->fill.len += need;
	*lsn = w->next_lsn++;
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* The outcome of a resolved lsn (invariant 7). Caller holds mu. */
static const struct wal_fail *find_fail(const struct kl_wal *w, uint64_t lsn)
{
	static const struct wal_fail forgotten = { .err = -EIO, .op = "write (outcome "
						   "forgotten: too many failures since)" };

	for (size_t i = w->nfail; i-- > 0;) {
		const struct wal_fail *f = &w->fails[(w->fail_head + i) % FAIL_RING];

		if (f->last < lsn)
			return NULL;
		if (f->first <= lsn)
			return f;
	}
	return lsn <= w->forgotten_lsn ? &forgotten : NULL;
}

/*
 * kl_wal_wait (wait) and kl_wal_poll (!wait): the outcome of lsn, or 1
 * when not waiting and its batch is not written yet.
 */
static int wal_outcome(struct kl_wal *w, uint64_t lsn, bool wait, struct kl_err *err)
{
	const struct wal_fail *f;
	struct wal_fail copy;

	pthread_mutex_lock(&w->mu);
	if (lsn == 0 || lsn >= w->next_lsn) {
		pthread_mutex_unlock(&w->mu);
		return kl_errf(err, -KL_EUSAGE, "wal: record %" PRIu64 " was never appended", lsn);
	}
	while (wait && w->resolved_lsn < lsn)
		pthread_cond_wait(&w->cv_batch[(w->batch_gen + (lsn > w->batch_last)) & 1],
				  &w->mu);
	if (w->resolved_lsn < lsn) {
		pthread_mutex_unlock(&w->mu);
		return 1;
	}
	f = find_fail(w, lsn);
	if (f)
		copy = *f;
	pthread_mutex_unlock(&w->mu);
	if (!f)
		return 0;
	return kl_errf(err, copy.err, "wal: %s failed: %s (record %" PRIu64 " not stored)",
		       copy.op, kl_strerror(copy.err), lsn);
}

int kl_wal_wait(struct kl_wal *w, uint64_t lsn, struct kl_err *err)
{
	return wal_outcome(w, lsn, true, err);
}

int kl_wal_poll(struct kl_wal *w, uint64_t lsn, struct kl_err *err)
{
	return wal_outcome(w, lsn, false, err);
}

int kl_wal_checkpoint(struct kl_wal *w, uint64_t lsn, struct kl_err *err)
{
	uint64_t *del = NULL, req;
	size_t ndel = 0, done = 0;
	char path[4096];
	int rc = 0;

	pthread_mutex_lock(&w->ckpt_mu);
	/* the writer starts a new segment at a batch boundary, so the records
	 * buffered now land in a segment this checkpoint keeps */
	pthread_mutex_lock(&w->mu);
	req = ++w->rotate_req;
	pthread_cond_signal(&w->cv_work);
	while (w->rotate_done < req)
		pthread_cond_wait(&w->cv_done, &w->mu);
	rc = w->rotate_err;
	/* segment i holds records < segs[i + 1].first (invariant 8) */
	while (!rc && ndel + 1 < w->nsegs && w->segs[ndel + 1].first <= lsn)
		ndel++;
	if (ndel && !(del = kl_malloc(ndel * sizeof(*del))))
		rc = -ENOMEM;
	for (size_t i = 0; del && i < ndel; i++)
		del[i] = w->segs[i].first;
	pthread_mutex_unlock(&w->mu);
	if (rc) {
		rc = kl_errf(err, rc, "wal: checkpoint cannot start a new segment: %s",
			     kl_strerror(rc));
		goto out;
	}
	/* oldest first, so a crash in between leaves a log without holes */
	for (; done < ndel; done++) {
		seg_path(w, del[done], "", path, sizeof(path));
		if (w->io->unlink(path) && errno != ENOENT) {
			rc = kl_errf(err, -errno, "wal: cannot delete %s: %s", path,
				     strerror(errno));
			break;
		}
	}
	pthread_mutex_lock(&w->mu);
	memmove(w->segs, w->segs + done, (w->nsegs - done) * sizeof(*w->segs));
	w->nsegs -= done;
	pthread_mutex_unlock(&w->mu);
	if (done && w->sync == KL_STORE_SYNC_FSYNC && w->io->fsync_dir(w->dir) && !rc)
		rc = kl_errf(err, -errno, "wal: cannot sync %s: %s", w->dir, strerror(errno));
out:
	pthread_mutex_unlock(&w->ckpt_mu);
	kl_free(del);
	return rc;
}

uint64_t kl_wal_next_lsn(struct kl_wal *w)
{
	uint64_t n;

	pthread_mutex_lock(&w->mu);
	n = w->next_lsn;
	pthread_mutex_unlock(&w->mu);
	return n;
}

void kl_wal_stats(struct kl_wal *w, struct kl_wal_stats *out)
{
	pthread_mutex_lock(&w->mu);
	*out = w->st;
	out->bytes = 0;
	for (size_t i = 0; i < w->nsegs; i++)
		out->bytes += w->segs[i].bytes;
	out->lag_bytes = w->fill.len + w->flushing_bytes;
	pthread_mutex_unlock(&w->mu);
}

void kl_wal_close(struct kl_wal *w)
{
	if (!w)
		return;
	if (w->writer_started) {
		pthread_mutex_lock(&w->mu);
		w->closing = true;
		pthread_cond_signal(&w->cv_work);
		pthread_mutex_unlock(&w->mu);
		pthread_join(w->writer, NULL);
	}
	if (w->fd >= 0) {
		/* WRITE mode syncs nothing per batch; a clean close still should */
		if (w->writer_started && w->sync == KL_STORE_SYNC_WRITE && !w->broken)
			w->io->fdatasync(w->fd);
		if (w->writer_started && w->file_end > w->seg_size && !w->broken) {
			trim_tail(w);
			if (w->sync == KL_STORE_SYNC_FSYNC)
				w->io->fdatasync(w->fd);
		}
		w->io->close(w->fd);
	}
	kl_buf_release(&w->fill);
	kl_buf_release(&w->flush);
	kl_free(w->segs);
	kl_free(w->dir);
	pthread_cond_destroy(&w->cv_done);
	pthread_cond_destroy(&w->cv_batch[0]);
	pthread_cond_destroy(&w->cv_batch[1]);
	pthread_cond_destroy(&w->cv_space);
	pthread_cond_destroy(&w->cv_work);
	pthread_mutex_destroy(&w->ckpt_mu);
	pthread_mutex_destroy(&w->mu);
	kl_free(w);
}
