/* SPDX-License-Identifier: Apache-2.0 */
/*
 * block.c - immutable blocks: the head of a tenant written to disk at a
 * cut, read back section by section by queries, loaded at open, deleted
 * by retention. Also the tenant's symbols file and the store-wide cut.
 *
 * Layout (docs/storage.md "Blocks"):
 *   DIR/blocks/<tenant hex>/symbols          zstd(all symbols as one WAL record)
 *   DIR/blocks/<tenant hex>/<min>-<max>-<cut>[-c|-w]/data   (-c, -w: compacted)
 *       "KLBLK001" | per series: 2 + levels zstd sections (meta, raw, levels)
 *       | zstd(index) | u64 index offset | u64 index length | u64 xxh3 of
 *       the index | "KLBLKEND"   (varints etc.: enc.c, as in WAL records)
 *   DIR/blocks/<tenant hex>/<min>-<max>-<cut>/meta.json   (for people and tools)
 *   DIR/CHECKPOINT                           the last finished cut (its LSN)
 *
 * Crash safety: a block is written in NAME.tmp, synced, and renamed; the
 * cut then writes the symbols files and CHECKPOINT, and only then
 * checkpoints the WAL. At open, blocks of a cut newer than CHECKPOINT are
 * deleted (their data is still in the WAL) and WAL records below
 * CHECKPOINT are skipped, so no profile is lost or counted twice.
 */
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "store_internal.h"

#define BLK_MAGIC "KLBLK001"
#define BLK_END "KLBLKEND"
#define BLK_FOOTER 32
#define ZLEVEL 3

/* ---- paths ------------------------------------------------------------------- */

/* snprintf for paths: -ENAMETOOLONG instead of a silently cut name. */
static int pathf(char *out, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int pathf(char *out, size_t size, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(out, size, fmt, ap);
	va_end(ap);
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int tenant_dir(const struct kl_store *s, const char *tenant, char *out, size_t size)
{
	size_t n = (size_t)snprintf(out, size, "%s/blocks/", s->dir), i;

	for (i = 0; tenant[i] && n + 3 < size; i++)
		n += (size_t)snprintf(out + n, size - n, "%02x", (unsigned char)tenant[i]);
	return tenant[i] || n >= size ? -ENAMETOOLONG : 0;
}

static int mkdir_p(const struct kl_fsio *io, const char *path)
{
	char tmp[4096];
	size_t i, n = strlen(path);

	if (n >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] != '/' && tmp[i] != '\0')
			continue;
		tmp[i] = '\0';
		if (io->mkdir(tmp, 0755) && errno != EEXIST)
			return -errno;
		tmp[i] = path[i];
	}
	return 0;
}

/* Removes a block directory's files and the directory (one level). */
static void rm_dir(const struct kl_fsio *io, const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[4096];

	if (d) {
		while ((e = readdir(d))) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			if ((size_t)pathf(p, sizeof(p), "%s/%s", path, e->d_name) < sizeof(p))
				io->unlink(p);
		}
		closedir(d);
	}
	io->rmdir(path);
}

/* ---- zstd ---------------------------------------------------------------------- */

/* A compression context for sections and symbols files: level ZLEVEL, content checksums. */
static ZSTD_CCtx *zcctx_new(void)
{
	ZSTD_CCtx *cc = ZSTD_createCCtx();

	if (cc) {
		ZSTD_CCtx_setParameter(cc, ZSTD_c_compressionLevel, ZLEVEL);
		ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
	}
	return cc;
}

/* Compresses in and appends the frame to out; *len gets its size. */
static int zappend(ZSTD_CCtx *cc, const struct kl_buf *in, struct kl_buf *out, uint32_t *len)
{
	size_t bound = ZSTD_compressBound(in->len), n;

	if (bound > UINT32_MAX || kl_buf_reserve(out, bound + 1))
		return -ENOMEM;
	n = ZSTD_compress2(cc, out->data + out->len, bound, in->data ? in->data : "", in->len);
	if (ZSTD_isError(n))
		return -ENOMEM;
	out->len += n;
	*len = (uint32_t)n;
	return 0;
}

/* Reads and decompresses the frame at off (len bytes) of fd into a new buffer. */
static int zread(const struct kl_fsio *io, ZSTD_DCtx *dc, int fd, uint64_t off, uint32_t len,
		 uint8_t **out, size_t *n)
{
	uint8_t *c = kl_malloc((size_t)len + 1), *d = NULL;
	unsigned long long size;
	size_t got;
	int rc;

	*out = NULL;
	*n = 0;
	if (!c)
		return -ENOMEM;
	rc = kl_fsio_pread_all(io, fd, c, len, (off_t)off);
	if (rc)
		goto out;
	rc = -EIO;
	size = ZSTD_getFrameContentSize(c, len);
	if (size == ZSTD_CONTENTSIZE_ERROR || size == ZSTD_CONTENTSIZE_UNKNOWN ||
	    size > ((uint64_t)1 << 32))
		goto out;
	rc = -ENOMEM;
	d = kl_malloc((size_t)size + 1);
	if (!d)
		goto out;
	rc = -EIO;
	got = dc ? ZSTD_decompressDCtx(dc, d, (size_t)size + 1, c, len) :
		   ZSTD_decompress(d, (size_t)size + 1, c, len);
	if (ZSTD_isError(got) || got != size)
		goto out;
	*out = d;
	*n = got;
	d = NULL;
	rc = 0;
out:
	kl_free(c);
	kl_free(d);
	return rc;
}

/* ---- writing ------------------------------------------------------------------ */

static void enc_meta(const struct st_series *s, struct kl_buf *b)
{
	int64_t prev = 0;
	size_t i;

	store_put_u(b, s->nprof);
	for (i = 0; i < s->nprof; i++) {
		const struct st_prof *p = &s->prof[i];

		store_put_s(b, p->start - prev);
		prev = p->start;
		store_put_u(b, (uint64_t)(p->end - p->start));
		store_put_s(b, p->total);
		store_put_u(b, p->npairs);
		store_put_u(b, p->nspans);
	}
}

/* Raw pairs and spans of profiles [p0, p1). */
static void enc_raw(const struct st_series *s, size_t p0, size_t p1, struct kl_buf *b)
{
	size_t i;

	for (i = p0; i < p1; i++) {
		const struct st_prof *p = &s->prof[i];

		/* none: the arrays may be NULL */
		if (p->npairs)
			store_put_pairs(b, s->stk + p->pair_off, s->val + p->pair_off, p->npairs);
		if (p->nspans)
			store_put_spans(b, s->spans + p->span_off, p->nspans);
	}
}

static void enc_level(const struct st_level *lv, struct kl_buf *b)
{
	int64_t prev = 0;
	size_t i;

	store_put_u(b, lv->n);
	for (i = 0; i < lv->n; i++) {
		store_put_s(b, lv->b[i].idx - prev);
		prev = lv->b[i].idx;
		store_put_u(b, lv->b[i].n);
		store_put_pairs(b, lv->b[i].stk, lv->b[i].val, lv->b[i].n);
	}
}

static void enc_index(const struct st_block *blk, char *const *replaces, size_t nreplaces,
		      struct kl_buf *b)
{
	size_t i, k;

	store_put_s(b, blk->min_time);
	store_put_s(b, blk->max_time);
	store_put_u(b, blk->lsn_end);
	store_put_u(b, blk->n);
	for (i = 0; i < blk->n; i++) {
		const struct blk_series *e = &blk->s[i];

		store_put_u(b, e->series);
		store_put_u(b, e->nprof);
		store_put_s(b, e->min_start);
		store_put_s(b, e->max_end);
		store_put_s(b, e->max_dur);
		store_put_u(b, e->npairs);
		store_put_u(b, e->nspans);
		for (k = 0; k < BLK_NSECT; k++) {
			store_put_u(b, e->off[k]);
			store_put_u(b, e->len[k]);
		}
		store_put_u(b, e->nchunks);
		for (k = 0; k < e->nchunks; k++) {
			store_put_u(b, blk->chunks[e->chunk0 + k].off);
			store_put_u(b, blk->chunks[e->chunk0 + k].len);
		}
	}
	/* the blocks a compaction merged into this one (their directory names) */
	store_put_u(b, nreplaces);
	for (i = 0; i < nreplaces; i++)
		store_put_str(b, replaces[i]);
}

static void put_le64(struct kl_buf *b, uint64_t v)
{
	uint8_t x[8];
	int i;

	for (i = 0; i < 8; i++)
		x[i] = (uint8_t)(v >> (8 * i));
	kl_buf_add(b, x, 8);
}

static uint64_t get_le64(const uint8_t *x)
{
	uint64_t v = 0;
	int i;

	for (i = 7; i >= 0; i--)
		v = v << 8 | x[i];
	return v;
}

/* Writes data + meta.json into the directory tmp, synced. */
/* ---- the block writer: begin, add series in id order, finish ---------------------- */

/*
 * Sections are streamed to DIR/blocks/<tenant>/cut-<lsn>[-c].tmp/data in
 * pieces of about 4 MiB, so writing a block (a day's compaction
 * included) holds one series and one piece in memory, not the block.
 */
#define BW_FLUSH ((size_t)4 << 20)

static int bw_flush(struct store_bw *w)
{
	int rc;

	if (!w->data.len)
		return 0;
	rc = kl_fsio_pwrite_all(w->io, w->fd, w->data.data, w->data.len, (off_t)w->off);
	if (rc)
		return rc;
	w->off += w->data.len;
	w->data.len = 0;
	return 0;
}

void store_bw_release(struct store_bw *w)
{
	if (w->fd >= 0 && w->io)
		w->io->close(w->fd);
	if (w->tmp[0])
		rm_dir(w->io, w->tmp);
	ZSTD_freeCCtx(w->cc);
	kl_buf_release(&w->data);
	kl_buf_release(&w->sec);
	store_block_free(w->b);
	kl_free(w->replaces);
	memset(w, 0, sizeof(*w));
	w->fd = -1;
}

int store_bw_begin(struct store_bw *w, struct kl_store *s, const char *tenant,
		   size_t max_series, uint64_t lsn_end, bool compacted, struct kl_err *err)
{
	char p[4200];
	int rc = -ENOMEM;

	memset(w, 0, sizeof(*w));
	w->io = s->o.io;
	w->fd = -1;
	w->cc = zcctx_new();
	w->b = kl_calloc(1, sizeof(*w->b));
	if (!w->cc || !w->b)
		goto fail;
	w->b->fd = -1;
	w->b->min_time = INT64_MAX;
	w->b->max_time = INT64_MIN;
	w->b->lsn_end = lsn_end;
	w->b->s = kl_calloc(max_series + 1, sizeof(*w->b->s));
	if (!w->b->s)
		goto fail;
	w->cap = max_series;
	kl_buf_init(&w->data, (size_t)4 << 30);
	kl_buf_init(&w->sec, (size_t)4 << 30);
	kl_buf_add(&w->data, BLK_MAGIC, 8);
	if (kl_buf_error(&w->data))
		goto fail;
	rc = tenant_dir(s, tenant, w->tdir, sizeof(w->tdir));
	rc = rc ? rc : mkdir_p(w->io, w->tdir);
	rc = rc ? rc : pathf(w->tmp, sizeof(w->tmp), "%s/cut-%016" PRIx64 "%s.tmp", w->tdir,
			     lsn_end, compacted ? "-c" : "");
	if (rc)
		goto fail_io;
	rm_dir(w->io, w->tmp);
	if (w->io->mkdir(w->tmp, 0755)) {
		rc = -errno;
		w->tmp[0] = '\0';
		goto fail_io;
	}
	pathf(p, sizeof(p), "%s/data", w->tmp);
	w->fd = w->io->open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (w->fd < 0) {
		rc = -errno;
		goto fail_io;
	}
	return 0;
fail_io:
	kl_errf(err, rc, "store: cannot write a block of tenant %s: %s", tenant, kl_strerror(rc));
	store_bw_release(w);
	return rc;
fail:
	store_bw_release(w);
	return kl_errf(err, rc, "store: out of memory writing a block");
}

int store_bw_add(struct store_bw *w, uint32_t sid, const struct st_series *se)
{
	struct st_block *b = w->b;
	struct blk_series *e;
	size_t k;

	if (!se || !se->nprof)
		return 0;
	if (b->n >= w->cap || (b->n && b->s[b->n - 1].series >= sid))
		return -KL_EUSAGE;
	e = &b->s[b->n];
	*e = (struct blk_series){ .series = sid, .nprof = (uint32_t)se->nprof,
				  .min_start = se->min_start, .max_end = se->max_end,
				  .max_dur = se->max_dur, .npairs = se->npairs,
				  .nspans = se->nspans };
	for (k = 0; k < BLK_NSECT; k++) {
		if (k == BLK_RAW)
			continue;
		w->sec.len = 0;
		if (k == BLK_META)
			enc_meta(se, &w->sec);
		else
			enc_level(&se->lv[k - BLK_LEVEL0], &w->sec);
		e->off[k] = w->off + w->data.len;
		if (kl_buf_error(&w->sec) || zappend(w->cc, &w->sec, &w->data, &e->len[k]))
			return -ENOMEM;
	}
	e->chunk0 = (uint32_t)b->nchunks;
	for (k = 0; k < se->nprof; k += STORE_RAW_CHUNK) {
		struct blk_chunk *c;

		if (KL_GROW(b->chunks, b->chunks_cap, b->nchunks + 1))
			return -ENOMEM;
		c = &b->chunks[b->nchunks];
		w->sec.len = 0;
		enc_raw(se, k, KL_MIN(k + STORE_RAW_CHUNK, se->nprof), &w->sec);
		c->off = w->off + w->data.len;
		if (kl_buf_error(&w->sec) || zappend(w->cc, &w->sec, &w->data, &c->len))
			return -ENOMEM;
		b->nchunks++;
		e->nchunks++;
	}
	b->min_time = KL_MIN(b->min_time, se->min_start);
	b->max_time = KL_MAX(b->max_time, KL_MAX(se->max_end, se->min_start + 1));
	w->nprof += se->nprof;
	b->n++;
	return w->data.len >= BW_FLUSH ? bw_flush(w) : 0;
}

int store_bw_finish(struct store_bw *w, const char *tenant, struct st_block **out,
		    struct kl_err *err)
{
	const struct kl_fsio *io = w->io;
	struct kl_buf meta = KL_BUF_INIT;
	struct st_block *b = w->b;
	char final[4096], p[4200];
	uint64_t ioff, ihash;
	uint32_t ilen;
	int rc = -ENOMEM;

	*out = NULL;
	w->sec.len = 0;
	enc_index(b, w->replaces, w->nreplaces, &w->sec);
	ioff = w->off + w->data.len;
	if (kl_buf_error(&w->sec) || zappend(w->cc, &w->sec, &w->data, &ilen))
		goto out;
	ihash = kl_hash(w->data.data + (ioff - w->off), ilen);
	put_le64(&w->data, ioff);
	put_le64(&w->data, ilen);
	put_le64(&w->data, ihash);
	kl_buf_add(&w->data, BLK_END, 8);
	kl_buf_addf(&meta, "{\"version\":1,\"tenant\":\"");
	kl_buf_add_json_str(&meta, tenant, strlen(tenant));
	kl_buf_addf(&meta, "\",\"min_time_ns\":%" PRId64 ",\"max_time_ns\":%" PRId64
		    ",\"cut\":%" PRIu64 ",\"series\":%zu,\"profiles\":%" PRIu64
		    ",\"compacted_from\":%zu,\"data_bytes\":%" PRIu64 ",\"index_xxh3\":\"%016"
		    PRIx64 "\"}\n", b->min_time, b->max_time, b->lsn_end, b->n, w->nprof,
		    w->nreplaces, ioff + ilen + BLK_FOOTER, ihash);
	if (kl_buf_error(&w->data) || kl_buf_error(&meta))
		goto out;
	/* a compacted block gets a name of its own (its cut number may repeat an input's) */
	rc = pathf(final, sizeof(final), "%s/%" PRId64 "-%" PRId64 "-%016" PRIx64 "%s", w->tdir,
		   b->min_time, b->max_time, b->lsn_end,
		   w->nreplaces ? (w->suffix ? w->suffix : "-c") : "");
	rc = rc ? rc : bw_flush(w);
	if (!rc && io->fdatasync(w->fd))
		rc = -errno;
	if (io->close(w->fd) && !rc)
		rc = -errno;
	w->fd = -1;
	if (!rc) {
		pathf(p, sizeof(p), "%s/meta.json", w->tmp);
		rc = kl_fsio_write_file(io, p, meta.data, meta.len);
	}
	if (!rc && io->fsync_dir(w->tmp))
		rc = -errno;
	if (!rc && io->rename(w->tmp, final))
		rc = -errno;
	if (!rc) {
		w->tmp[0] = '\0';	/* renamed: nothing to clean up */
		if (io->fsync_dir(w->tdir)) {
			/* not listed, so not in use: out of the way of the next try's name */
			rc = -errno;
			rm_dir(io, final);
		}
	}
	if (rc)
		goto fail_io;
	b->path = kl_strndup(final, strlen(final));
	b->io = io;
	pathf(p, sizeof(p), "%s/data", final);
	b->fd = io->open(p, O_RDONLY | O_CLOEXEC, 0);
	if (!b->path || b->fd < 0) {
		rc = b->path ? -errno : -ENOMEM;
		rm_dir(io, final);
		goto fail_io;
	}
	b->bytes = w->off + meta.len;
	*out = b;
	w->b = NULL;
	rc = 0;
	goto out;
fail_io:
	kl_errf(err, rc, "store: cannot write block of tenant %s: %s", tenant, kl_strerror(rc));
out:
	if (rc == -ENOMEM)
		kl_errf(err, rc, "store: out of memory writing a block");
	kl_buf_release(&meta);
	return rc;
}

int store_block_write(struct kl_store *s, const struct st_tenant *t, struct st_series *const *src,
		      size_t nsrc, uint64_t lsn_end, struct st_block **out, struct kl_err *err)
{
	struct store_bw w;
	size_t i;
	int rc;

	*out = NULL;
	rc = store_bw_begin(&w, s, t->name, nsrc, lsn_end, false, err);
	if (rc)
		return rc;
	for (i = 0; i < nsrc && !rc; i++)
		rc = store_bw_add(&w, (uint32_t)i, src[i]);
	if (rc == -ENOMEM)
		kl_errf(err, rc, "store: out of memory writing a block");
	else if (rc)
		kl_errf(err, rc, "store: cannot write a block of tenant %s: %s", t->name,
			kl_strerror(rc));
	else
		rc = store_bw_finish(&w, t->name, out, err);
	store_bw_release(&w);
	return rc;
}

void store_block_free(struct st_block *b)
{
	if (!b)
		return;
	if (b->fd >= 0)
		close(b->fd);
	for (size_t i = 0; i < b->nreplaces; i++)
		kl_free(b->replaces[i]);
	kl_free(b->replaces);
	kl_free(b->chunks);
	kl_free(b->path);
	kl_free(b->s);
	kl_free(b);
}

void store_block_delete(struct kl_store *s, struct st_block *b)
{
	char del[4096], to[4200];
	const char *base = strrchr(b->path, '/');

	pathf(del, sizeof(del), "%s/deleted", s->dir);
	s->o.io->mkdir(del, 0755);
	/* the tenant dir name keeps deleted names unique */
	pathf(to, sizeof(to), "%s/%.*s", del, (int)strcspn(base + 1, "/"), base + 1);
	if (s->o.io->rename(b->path, to) == 0)
		rm_dir(s->o.io, to);
	else
		rm_dir(s->o.io, b->path);
	store_block_free(b);
}

const struct blk_series *store_block_find(const struct st_block *b, uint32_t sid)
{
	size_t lo = 0, hi = b->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->s[mid].series < sid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < b->n && b->s[lo].series == sid ? &b->s[lo] : NULL;
}

/* ---- reading ------------------------------------------------------------------ */

void store_series_data_release(struct st_series *s)
{
	kl_free(s->prof);
	kl_free(s->stk);
	kl_free(s->val);
	kl_free(s->spans);
	store_agg_release(s);
	s->prof = NULL;
	s->stk = NULL;
	s->val = NULL;
	s->spans = NULL;
	s->nprof = s->prof_cap = s->npairs = s->pairs_cap = s->val_cap = 0;
	s->nspans = s->spans_cap = 0;
	s->min_start = INT64_MAX;
	s->max_end = INT64_MIN;
	s->max_dur = 0;
	s->loaded = 0;
	kl_free(s->chunk_loaded);
	s->chunk_loaded = NULL;
}

static int load_meta(const uint8_t *d, size_t n, const struct blk_series *bs, struct st_series *s)
{
	struct store_rd r = { .p = d, .end = d + n };
	uint64_t np = store_get_u(&r), i, poff = 0, soff = 0;
	int64_t prev = 0;

	if (np != bs->nprof)
		return -EIO;
	s->prof = kl_calloc(np + 1, sizeof(*s->prof));
	if (!s->prof)
		return -ENOMEM;
	for (i = 0; i < np && !r.bad; i++) {
		struct st_prof *p = &s->prof[i];

		p->start = prev + store_get_s(&r);
		prev = p->start;
		p->end = p->start + (int64_t)store_get_u(&r);
		p->total = store_get_s(&r);
		p->npairs = (uint32_t)store_get_u(&r);
		p->nspans = (uint32_t)store_get_u(&r);
		p->pair_off = (uint32_t)poff;
		p->span_off = (uint32_t)soff;
		poff += p->npairs;
		soff += p->nspans;
	}
	if (r.bad || poff != bs->npairs || soff != bs->nspans)
		return -EIO;
	s->nprof = s->prof_cap = np;
	s->min_start = bs->min_start;
	s->max_end = bs->max_end;
	s->max_dur = bs->max_dur;
	return 0;
}

/* Decodes the raw pairs of profiles [p0, p1) of s from one chunk. */
static int load_raw(const uint8_t *d, size_t n, struct st_series *s, size_t p0, size_t p1,
		    uint64_t nstk, uint64_t nstr)
{
	struct store_rd r = { .p = d, .end = d + n };
	size_t i;

	for (i = p0; i < p1 && !r.bad; i++) {
		const struct st_prof *p = &s->prof[i];

		if (p->npairs)
			store_get_pairs(&r, s->stk + p->pair_off, s->val + p->pair_off, p->npairs,
					nstk);
		if (p->nspans)
			store_get_spans(&r, s->spans + p->span_off, p->nspans, p->npairs, nstr);
	}
	return r.bad ? -EIO : 0;
}

/* Reads the raw chunks of part holding profiles [p0, p1) (META must be loaded). */
static int load_chunks(const struct kl_fsio *io, ZSTD_DCtx *dc, const struct st_block *b,
		       struct st_series *s, size_t p0, size_t p1, uint64_t nstk, uint64_t nstr)
{
	const struct blk_series *bs = s->bs;
	size_t c, all = 1;
	uint8_t *d;
	size_t n;
	int rc = 0;

	if (p1 > s->nprof)
		p1 = s->nprof;
	if (p0 >= p1)
		return 0;
	if (!s->stk) {
		s->stk = kl_malloc((bs->npairs + 1) * sizeof(*s->stk));
		s->val = kl_malloc((bs->npairs + 1) * sizeof(*s->val));
		s->spans = kl_malloc((bs->nspans + 1) * sizeof(*s->spans));
		s->chunk_loaded = kl_calloc(bs->nchunks + 1, 1);
		if (!s->stk || !s->val || !s->spans || !s->chunk_loaded)
			return -ENOMEM;
		s->npairs = s->pairs_cap = s->val_cap = bs->npairs;
		s->nspans = s->spans_cap = bs->nspans;
	}
	for (c = p0 / STORE_RAW_CHUNK; c <= (p1 - 1) / STORE_RAW_CHUNK && !rc; c++) {
		const struct blk_chunk *ch;

		if (c >= bs->nchunks)
			return -EIO;
		ch = &b->chunks[bs->chunk0 + c];
		if (s->chunk_loaded[c])
			continue;
		rc = zread(io, dc, b->fd, ch->off, ch->len, &d, &n);
		rc = rc ? rc : load_raw(d, n, s, c * STORE_RAW_CHUNK,
					KL_MIN((c + 1) * STORE_RAW_CHUNK, s->nprof), nstk, nstr);
		kl_free(d);
		if (!rc)
			s->chunk_loaded[c] = 1;
	}
	for (c = 0; c < bs->nchunks; c++)
		all &= s->chunk_loaded[c];
	if (!rc && all)
		s->loaded |= BLK_WANT_RAW;
	return rc;
}

static int load_level(const uint8_t *d, size_t n, struct st_level *lv, uint64_t nstk)
{
	struct store_rd r = { .p = d, .end = d + n };
	uint64_t nb = store_get_u(&r), i;
	int64_t prev = 0;

	if (r.bad || nb > n)
		return -EIO;
	lv->b = kl_calloc(nb + 1, sizeof(*lv->b));
	if (!lv->b)
		return -ENOMEM;
	lv->cap = nb + 1;
	for (i = 0; i < nb && !r.bad; i++) {
		struct st_bucket *b = &lv->b[i];
		uint64_t m;

		b->idx = prev + store_get_s(&r);
		prev = b->idx;
		m = store_get_u(&r);
		if (m > n) {
			r.bad = true;
			break;
		}
		b->stk = kl_malloc((m + 1) * sizeof(*b->stk));
		b->val = kl_malloc((m + 1) * sizeof(*b->val));
		lv->n = i + 1;
		if (!b->stk || !b->val)
			return -ENOMEM;
		b->n = (uint32_t)m;
		if (!store_get_pairs(&r, b->stk, b->val, m, nstk))
			return -EIO;
	}
	return r.bad ? -EIO : 0;
}

int store_block_load(const struct st_tenant *t, const struct st_block *b,
		     const struct blk_series *bs, unsigned want, struct st_series *out,
		     ZSTD_DCtx *dc, struct kl_err *err)
{
	/* ids in the sections are checked against the tenant's tables */
	const struct kl_fsio *io = b->io;
	uint64_t nstk = t->nstacks, nstr = kl_strtab_count(t->strs);
	uint8_t *d = NULL;
	size_t n, k;
	int rc = 0;

	if (want & BLK_WANT_RAW)
		want |= BLK_WANT_META;
	want &= ~out->loaded;
	if (want & BLK_WANT_META) {
		rc = zread(io, dc, b->fd, bs->off[BLK_META], bs->len[BLK_META], &d, &n);
		rc = rc ? rc : load_meta(d, n, bs, out);
		kl_free(d);
		d = NULL;
		if (!rc)
			out->loaded |= BLK_WANT_META;
	}
	for (k = 0; k < STORE_NLEVELS && !rc; k++) {
		if (!(want & BLK_WANT_LEVEL(k)))
			continue;
		rc = zread(io, dc, b->fd, bs->off[BLK_LEVEL0 + k], bs->len[BLK_LEVEL0 + k], &d, &n);
		rc = rc ? rc : load_level(d, n, &out->lv[k], nstk);
		kl_free(d);
		d = NULL;
		if (!rc)
			out->loaded |= BLK_WANT_LEVEL(k);
	}
	if (!rc && (want & BLK_WANT_RAW)) {
		out->blk = b;
		out->bs = bs;
		rc = load_chunks(io, dc, b, out, 0, out->nprof, nstk, nstr);
	}
	if (rc == -ENOMEM)
		return kl_errf(err, rc, "store: out of memory reading block %s", b->path);
	if (rc)
		return kl_errf(err, -EIO, "store: block %s is damaged or unreadable (%s)", b->path,
			       kl_strerror(rc));
	return 0;
}

int store_block_load_raw(const struct st_tenant *t, struct st_series *part, size_t p0, size_t p1,
			 ZSTD_DCtx *dc, struct kl_err *err)
{
	const struct st_block *b = part->blk;
	int rc = store_block_load(t, b, part->bs, BLK_WANT_META, part, dc, err);

	if (rc)
		return rc;
	rc = load_chunks(b->io, dc, b, part, p0, p1, t->nstacks, kl_strtab_count(t->strs));
	if (rc == -ENOMEM)
		return kl_errf(err, rc, "store: out of memory reading block %s", b->path);
	if (rc)
		return kl_errf(err, -EIO, "store: block %s is damaged or unreadable (%s)", b->path,
			       kl_strerror(rc));
	return 0;
}

/* ---- open: symbols files and blocks ----------------------------------------- */

int store_symbols_write(struct kl_store *s, struct st_tenant *t, struct st_marks *marks,
			struct kl_err *err)
{
	struct kl_buf rec = KL_BUF_INIT, z = KL_BUF_INIT;
	struct st_marks zero = { 0 };
	char tdir[2048], path[2100];
	ZSTD_CCtx *cc = zcctx_new();
	uint32_t len;
	int rc = -ENOMEM;

	kl_buf_init(&rec, (size_t)2 << 30);
	kl_buf_init(&z, (size_t)2 << 30);
	if (!cc)
		goto out;
	/* appends may go on meanwhile: encode under the read lock */
	pthread_rwlock_rdlock(&t->lock);
	rc = store_record_encode(t, &zero, NULL, 0, &rec);
	store_marks_get(t, marks);
	pthread_rwlock_unlock(&t->lock);
	rc = -ENOMEM;
	if (kl_buf_error(&rec) || zappend(cc, &rec, &z, &len))
		goto out;
	rc = tenant_dir(s, t->name, tdir, sizeof(tdir));
	rc = rc ? rc : mkdir_p(s->o.io, tdir);
	if (!rc) {
		pathf(path, sizeof(path), "%s/symbols", tdir);
		rc = kl_fsio_write_file(s->o.io, path, z.data, z.len);
	}
	if (!rc)
		atomic_store(&t->symbols_bytes, z.len);
	if (rc)
		kl_errf(err, rc, "store: cannot write the symbols of tenant %s: %s", t->name,
			kl_strerror(rc));
out:
	if (rc == -ENOMEM)
		kl_errf(err, rc, "store: out of memory writing symbols");
	ZSTD_freeCCtx(cc);
	kl_buf_release(&rec);
	kl_buf_release(&z);
	return rc;
}

/* Reads one block's footer and index. */
static int block_open(struct kl_store *s, const char *path, struct st_block **out)
{
	const struct kl_fsio *io = s->o.io;
	struct st_block *b = kl_calloc(1, sizeof(*b));
	uint8_t foot[BLK_FOOTER], *idx = NULL;
	char p[4200];
	struct stat st;
	uint64_t ioff, ilen, nser, i, k;
	size_t n;
	int rc = -ENOMEM;

	*out = NULL;
	if (!b)
		return rc;
	b->fd = -1;
	b->io = io;
	b->path = kl_strndup(path, strlen(path));
	if (!b->path)
		goto out;
	pathf(p, sizeof(p), "%s/data", path);
	b->fd = io->open(p, O_RDONLY | O_CLOEXEC, 0);
	if (b->fd < 0 || fstat(b->fd, &st) || st.st_size < 8 + BLK_FOOTER) {
		rc = -EIO;
		goto out;
	}
	rc = kl_fsio_pread_all(io, b->fd, foot, BLK_FOOTER, st.st_size - BLK_FOOTER);
	if (rc)
		goto out;
	rc = -EIO;
	ioff = get_le64(foot);
	ilen = get_le64(foot + 8);
	if (memcmp(foot + 24, BLK_END, 8) || ioff + ilen + BLK_FOOTER != (uint64_t)st.st_size ||
	    ilen > UINT32_MAX)
		goto out;
	{
		uint8_t *c = kl_malloc(ilen + 1);

		if (!c) {
			rc = -ENOMEM;
			goto out;
		}
		rc = kl_fsio_pread_all(io, b->fd, c, ilen, (off_t)ioff);
		if (!rc && kl_hash(c, ilen) != get_le64(foot + 16))
			rc = -EIO;
		kl_free(c);
		if (rc)
			goto out;
	}
	rc = zread(io, NULL, b->fd, ioff, (uint32_t)ilen, &idx, &n);
	if (rc)
		goto out;
	{
		struct store_rd r = { .p = idx, .end = idx + n };

		b->min_time = store_get_s(&r);
		b->max_time = store_get_s(&r);
		b->lsn_end = store_get_u(&r);
		nser = store_get_u(&r);
		rc = -EIO;
		if (r.bad || nser > n)
			goto out;
		b->s = kl_calloc(nser + 1, sizeof(*b->s));
		if (!b->s) {
			rc = -ENOMEM;
			goto out;
		}
		for (i = 0; i < nser && !r.bad; i++) {
			struct blk_series *e = &b->s[i];

			e->series = (uint32_t)store_get_u(&r);
			e->nprof = (uint32_t)store_get_u(&r);
			e->min_start = store_get_s(&r);
			e->max_end = store_get_s(&r);
			e->max_dur = store_get_s(&r);
			e->npairs = store_get_u(&r);
			e->nspans = store_get_u(&r);
			for (k = 0; k < BLK_NSECT; k++) {
				e->off[k] = store_get_u(&r);
				e->len[k] = (uint32_t)store_get_u(&r);
				if (e->off[k] + e->len[k] > ioff)
					r.bad = true;
			}
			{
				uint64_t nc = store_get_u(&r), c;

				if (r.bad ||
				    nc != (e->nprof + STORE_RAW_CHUNK - 1) / STORE_RAW_CHUNK) {
					r.bad = true;
					break;
				}
				if (KL_GROW(b->chunks, b->chunks_cap, b->nchunks + nc + 1)) {
					rc = -ENOMEM;
					goto out;
				}
				e->chunk0 = (uint32_t)b->nchunks;
				e->nchunks = (uint32_t)nc;
				for (c = 0; c < nc; c++) {
					struct blk_chunk *ch = &b->chunks[b->nchunks++];

					ch->off = store_get_u(&r);
					ch->len = (uint32_t)store_get_u(&r);
					if (ch->off + ch->len > ioff)
						r.bad = true;
				}
			}
			if (i && e->series <= b->s[i - 1].series)
				r.bad = true;
		}
		b->n = nser;
		{
			uint64_t nrep = store_get_u(&r), j;

			if (r.bad || nrep > n)
				goto out;
			b->replaces = kl_calloc(nrep + 1, sizeof(*b->replaces));
			if (!b->replaces) {
				rc = -ENOMEM;
				goto out;
			}
			for (j = 0; j < nrep && !r.bad; j++) {
				size_t len;
				const char *name = store_get_bytes(&r, &len);

				if (r.bad)
					break;
				b->replaces[j] = kl_strndup(name, len);
				if (!b->replaces[j]) {
					rc = -ENOMEM;
					goto out;
				}
				b->nreplaces = j + 1;
			}
		}
		if (r.bad)
			goto out;
	}
	/* data and meta.json, as store_bw_finish counts a new block */
	b->bytes = (uint64_t)st.st_size;
	pathf(p, sizeof(p), "%s/meta.json", path);
	if (!stat(p, &st))
		b->bytes += (uint64_t)st.st_size;
	*out = b;
	b = NULL;
	rc = 0;
out:
	kl_free(idx);
	store_block_free(b);
	return rc;
}

int store_block_cmp(const void *a, const void *b)
{
	const struct st_block *x = *(struct st_block *const *)a, *y = *(struct st_block *const *)b;

	if (x->min_time != y->min_time)
		return x->min_time < y->min_time ? -1 : 1;
	return x->lsn_end < y->lsn_end ? -1 : x->lsn_end > y->lsn_end;
}

static const char *base_name(const char *path)
{
	const char *b = strrchr(path, '/');

	return b ? b + 1 : path;
}

/*
 * A compaction renames its merged block into place before deleting the
 * blocks it replaces: after a crash in between, the inputs are deleted
 * here, so no profile is counted twice.
 */
static void drop_replaced(struct kl_store *s, struct st_tenant *t)
{
	size_t i, j, k;

	for (i = 0; i < t->nblocks; i++)
		for (j = 0; j < t->blocks[i]->nreplaces; j++)
			for (k = 0; k < t->nblocks; k++) {
				struct st_block *old = t->blocks[k];
				const char *name = t->blocks[i]->replaces[j];

				if (k == i || strcmp(base_name(old->path), name))
					continue;
				store_log(s, KL_LOG_WARN,
					  "store: removing block %s, merged into %s", old->path,
					  t->blocks[i]->path);
				memmove(t->blocks + k, t->blocks + k + 1,
					(t->nblocks - k - 1) * sizeof(*t->blocks));
				t->nblocks--;
				if (k < i)
					i--;
				store_block_delete(s, old);
				break;
			}
}

/* Loads DIR/blocks/<hex>/: the symbols file, then every finished block. */
static int load_tenant(struct kl_store *s, const char *tdir, struct kl_err *err)
{
	char p[4200];
	uint8_t *d = NULL;
	size_t n;
	struct st_tenant *t = NULL;
	DIR *dir;
	struct dirent *e;
	int rc = 0, fd;
	struct stat st;

	pathf(p, sizeof(p), "%s/symbols", tdir);
	fd = s->o.io->open(p, O_RDONLY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0;	/* a cut that never finished its first symbols file */
	if (fstat(fd, &st) || st.st_size > UINT32_MAX)
		rc = -EIO;
	else
		rc = zread(s->o.io, NULL, fd, 0, (uint32_t)st.st_size, &d, &n);
	s->o.io->close(fd);
	if (rc)
		return kl_errf(err, rc, "store: cannot read %s: %s", p, kl_strerror(rc));
	rc = store_record_apply(s, d, n, err);
	if (!rc && n > 1) {
		/* the record names its tenant: find it back */
		struct store_rd r = { .p = d + 1, .end = d + n };
		size_t len;
		const char *tn = store_get_bytes(&r, &len);
		char *name = r.bad ? NULL : kl_strndup(tn, len);

		t = name ? store_tenant_get(s, name, false) : NULL;
		kl_free(name);
	}
	kl_free(d);
	if (rc)
		return rc;
	if (!t)
		return kl_errf(err, -EIO, "store: %s names no tenant", p);
	atomic_store(&t->symbols_bytes, (uint64_t)st.st_size);

	dir = opendir(tdir);
	if (!dir)
		return 0;
	while ((e = readdir(dir)) && !rc) {
		struct st_block *b;
		size_t len = strlen(e->d_name);

		if (e->d_name[0] == '.' || !strcmp(e->d_name, "symbols") ||
		    !strcmp(e->d_name, "symbols.tmp"))
			continue;
		pathf(p, sizeof(p), "%s/%s", tdir, e->d_name);
		if (len > 4 && !strcmp(e->d_name + len - 4, ".tmp")) {
			rm_dir(s->o.io, p);	/* a block write that was cut short */
			continue;
		}
		rc = block_open(s, p, &b);
		if (rc == -ENOMEM)
			break;
		if (rc) {
			store_log(s, KL_LOG_ERROR, "store: block %s is damaged (%s): not loaded", p,
				  kl_strerror(rc));
			rc = 0;
			continue;
		}
		if (b->lsn_end > s->checkpoint) {
			/* from a cut that did not finish: its data is still in the WAL */
			store_log(s, KL_LOG_WARN, "store: removing block %s of an unfinished cut",
				  p);
			store_block_delete(s, b);
			continue;
		}
		for (size_t i = 0; i < b->n; i++)
			if (b->s[i].series >= t->nseries)
				rc = -EIO;
		if (rc || KL_GROW(t->blocks, t->blocks_cap, t->nblocks + 1)) {
			if (rc)
				store_log(s, KL_LOG_ERROR, "store: block %s names unknown series",
					  p);
			rc = rc == -EIO ? 0 : -ENOMEM;
			store_block_free(b);
			continue;
		}
		t->blocks[t->nblocks++] = b;
	}
	closedir(dir);
	drop_replaced(s, t);
	if (t->nblocks > 1)
		qsort(t->blocks, t->nblocks, sizeof(*t->blocks), store_block_cmp);
	if (rc)
		return kl_errf(err, rc, "store: out of memory loading blocks");
	return 0;
}

int store_blocks_load(struct kl_store *s, struct kl_err *err)
{
	char p[4200], buf[64] = "";
	DIR *dir;
	struct dirent *e;
	int fd, rc = 0;
	ssize_t n;

	pathf(p, sizeof(p), "%s/CHECKPOINT", s->dir);
	fd = s->o.io->open(p, O_RDONLY | O_CLOEXEC, 0);
	if (fd >= 0) {
		n = s->o.io->pread(fd, buf, sizeof(buf) - 1, 0);
		s->o.io->close(fd);
		buf[n > 0 ? n : 0] = '\0';
		s->checkpoint = strtoull(buf, NULL, 10);
	}
	pathf(p, sizeof(p), "%s/deleted", s->dir);
	dir = opendir(p);
	if (dir) {
		/* removals a crash interrupted */
		while ((e = readdir(dir))) {
			char q[4400];

			if (e->d_name[0] == '.')
				continue;
			pathf(q, sizeof(q), "%s/%s", p, e->d_name);
			rm_dir(s->o.io, q);
		}
		closedir(dir);
	}
	pathf(p, sizeof(p), "%s/blocks", s->dir);
	dir = opendir(p);
	if (!dir)
		return 0;
	while ((e = readdir(dir)) && !rc) {
		char q[4400];

		if (e->d_name[0] == '.')
			continue;
		pathf(q, sizeof(q), "%s/%s", p, e->d_name);
		rc = load_tenant(s, q, err);
	}
	closedir(dir);
	return rc;
}

/* ---- the cut ---------------------------------------------------------------------- */

/*
 * Moves the head's data of every series into t->frozen (the series keep
 * their labels and start empty). Caller holds t->lock for writing.
 */
static int freeze(struct st_tenant *t)
{
	struct st_series **fz;
	size_t i, n = 0;

	for (i = 0; i < t->nseries; i++)
		n += t->series[i]->nprof != 0;
	if (!n)
		return 0;
	fz = kl_calloc(t->nseries + 1, sizeof(*fz));
	if (!fz)
		return -ENOMEM;
	for (i = 0; i < t->nseries; i++) {
		struct st_series *se = t->series[i], *f;

		if (!se->nprof)
			continue;
		f = kl_calloc(1, sizeof(*f));
		if (!f) {
			while (i-- > 0)
				kl_free(fz[i]);
			kl_free(fz);
			return -ENOMEM;
		}
		fz[i] = f;
	}
	/* nothing can fail from here: move the data */
	for (i = 0; i < t->nseries; i++) {
		struct st_series *se = t->series[i], *f = fz[i];

		if (!f)
			continue;
		f->prof = se->prof;
		f->nprof = se->nprof;
		f->prof_cap = se->prof_cap;
		f->pairs_cap = se->pairs_cap;
		f->val_cap = se->val_cap;
		f->spans_cap = se->spans_cap;
		f->stk = se->stk;
		f->val = se->val;
		f->npairs = se->npairs;
		f->spans = se->spans;
		f->nspans = se->nspans;
		memcpy(f->lv, se->lv, sizeof(f->lv));
		f->min_start = se->min_start;
		f->max_end = se->max_end;
		f->max_dur = se->max_dur;
		se->prof = NULL;
		se->stk = NULL;
		se->val = NULL;
		se->spans = NULL;
		memset(se->lv, 0, sizeof(se->lv));
		store_series_data_release(se);
	}
	t->frozen = fz;
	t->nfrozen = t->nseries;
	t->frozen_bytes = t->data_bytes;
	t->data_bytes = 0;
	t->head_min = INT64_MAX;
	t->head_max = INT64_MIN;
	return 0;
}

/* Undoes freeze() while the cut lock still excludes appends (the heads are empty). */
static void unfreeze(struct st_tenant *t)
{
	size_t i;

	for (i = 0; t->frozen && i < t->nfrozen; i++) {
		struct st_series *se = t->series[i], *f = t->frozen[i];

		if (!f)
			continue;
		store_series_data_release(se);
		*se = (struct st_series){ .labels = se->labels, .ptype = se->ptype,
					  .hash = se->hash, .type = se->type, .unit = se->unit,
					  .period_type = se->period_type,
					  .period_unit = se->period_unit, .period = se->period,
					  .prof = f->prof, .nprof = f->nprof, .prof_cap = f->nprof,
					  .stk = f->stk, .val = f->val, .npairs = f->npairs,
					  .pairs_cap = f->npairs, .val_cap = f->npairs,
					  .spans = f->spans, .nspans = f->nspans,
					  .spans_cap = f->nspans, .min_start = f->min_start,
					  .max_end = f->max_end, .max_dur = f->max_dur };
		memcpy(se->lv, f->lv, sizeof(se->lv));
		kl_free(f);
		t->frozen[i] = NULL;
	}
	t->data_bytes = t->frozen_bytes;
	kl_free(t->frozen);
	t->frozen = NULL;
	t->nfrozen = 0;
	t->frozen_bytes = 0;
	for (i = 0; i < t->nseries; i++)
		if (t->series[i]->nprof) {
			t->head_min = KL_MIN(t->head_min, t->series[i]->min_start);
			t->head_max = KL_MAX(t->head_max, t->series[i]->max_end);
		}
}

void store_frozen_free(struct st_tenant *t)
{
	size_t i;

	for (i = 0; t->frozen && i < t->nfrozen; i++) {
		if (t->frozen[i])
			store_series_data_release(t->frozen[i]);
		kl_free(t->frozen[i]);
	}
	kl_free(t->frozen);
	t->frozen = NULL;
	t->nfrozen = 0;
	t->frozen_bytes = 0;
}

/*
 * A cut, in three steps so that ingest waits only for the first:
 *   1. under the exclusive cut lock (no append in flight): note the WAL's
 *      next LSN and move every tenant's head into t->frozen (queries still
 *      see it there); appends go on into fresh heads;
 *   2. write the frozen data as blocks, the symbols files and CHECKPOINT;
 *   3. list the blocks, drop the frozen data, checkpoint the WAL.
 * If step 2 fails the frozen data stays (visible) and the next cut writes
 * it again before freezing anything new.
 */
int store_cut(struct kl_store *s, struct kl_err *err)
{
	struct st_block **nb = NULL;
	struct st_tenant **ts = NULL;
	struct st_marks *marks = NULL;
	size_t nt, i;
	char p[4200], num[32];
	int rc = 0;

	pthread_mutex_lock(&s->cut_mu);
	store_appends_hold(s);
	pthread_rwlock_rdlock(&s->tlock);
	nt = s->ntenants;
	ts = kl_calloc(nt + 1, sizeof(*ts));
	nb = kl_calloc(nt + 1, sizeof(*nb));
	marks = kl_calloc(nt + 1, sizeof(*marks));
	if (ts && nt)
		memcpy(ts, s->tenants, nt * sizeof(*ts));
	pthread_rwlock_unlock(&s->tlock);
	if (!ts || !nb || !marks) {
		store_appends_release(s);
		rc = kl_errf(err, -ENOMEM, "store: out of memory cutting blocks");
		goto out;
	}
	if (!s->frozen_lsn) {
		uint64_t lsn = s->wal ? kl_wal_next_lsn(s->wal) : s->checkpoint + 1;

		s->frozen_lsn = KL_MAX(lsn, s->checkpoint + 1);
		for (i = 0; i < nt && !rc; i++) {
			pthread_rwlock_wrlock(&ts[i]->lock);
			rc = freeze(ts[i]);
			pthread_rwlock_unlock(&ts[i]->lock);
		}
		if (rc) {
			/* all or nothing: the checkpoint must not pass unfrozen heads */
			while (i-- > 0) {
				pthread_rwlock_wrlock(&ts[i]->lock);
				unfreeze(ts[i]);
				pthread_rwlock_unlock(&ts[i]->lock);
			}
			s->frozen_lsn = 0;
			kl_errf(err, rc, "store: out of memory cutting blocks");
		}
	}
	store_appends_release(s);
	if (rc)
		goto out;

	/* room to list the new blocks, so that listing them cannot fail later */
	for (i = 0; i < nt && !rc; i++) {
		pthread_rwlock_wrlock(&ts[i]->lock);
		if (KL_GROW(ts[i]->blocks, ts[i]->blocks_cap, ts[i]->nblocks + 1))
			rc = kl_errf(err, -ENOMEM, "store: out of memory cutting blocks");
		pthread_rwlock_unlock(&ts[i]->lock);
	}
	/* frozen data does not change: no lock needed to read it (only the cut frees it) */
	for (i = 0; i < nt && !rc; i++)
		if (ts[i]->frozen)
			rc = store_block_write(s, ts[i], ts[i]->frozen, ts[i]->nfrozen,
					       s->frozen_lsn, &nb[i], err);
	for (i = 0; i < nt && !rc; i++)
		rc = store_symbols_write(s, ts[i], &marks[i], err);
	if (!rc) {
		pathf(p, sizeof(p), "%s/CHECKPOINT", s->dir);
		snprintf(num, sizeof(num), "%" PRIu64 "\n", s->frozen_lsn);
		rc = kl_fsio_write_file(s->o.io, p, num, strlen(num));
		if (rc)
			kl_errf(err, rc, "store: cannot write %s: %s", p, kl_strerror(rc));
	}
	if (rc) {
		for (i = 0; i < nt; i++)
			if (nb[i])
				store_block_delete(s, nb[i]);
		goto out;
	}
	s->checkpoint = s->frozen_lsn;
	s->frozen_lsn = 0;
	for (i = 0; i < nt; i++) {
		struct st_tenant *t = ts[i];
		struct st_marks *d = &t->durable;

		pthread_rwlock_wrlock(&t->lock);
		if (nb[i]) {
			/* the room was reserved above */
			t->blocks[t->nblocks++] = nb[i];
			nb[i] = NULL;
			if (t->nblocks > 1)
				qsort(t->blocks, t->nblocks, sizeof(*t->blocks), store_block_cmp);
		}
		store_frozen_free(t);
		/* the symbols file holds these now: later records need not repeat them */
		d->strings = KL_MAX(d->strings, marks[i].strings);
		d->mappings = KL_MAX(d->mappings, marks[i].mappings);
		d->functions = KL_MAX(d->functions, marks[i].functions);
		d->locations = KL_MAX(d->locations, marks[i].locations);
		d->stacks = KL_MAX(d->stacks, marks[i].stacks);
		d->series = KL_MAX(d->series, marks[i].series);
		pthread_rwlock_unlock(&t->lock);
	}
	if (s->wal && kl_wal_checkpoint(s->wal, s->checkpoint, err))
		store_log(s, KL_LOG_WARN, "store: wal checkpoint: %s", err->msg);
out:
	pthread_mutex_unlock(&s->cut_mu);
	kl_free(ts);
	kl_free(nb);
	kl_free(marks);
	return rc;
}

/* ---- retention -------------------------------------------------------------------- */

void store_retention(struct kl_store *s, int64_t now_ns)
{
	size_t i, k;

	/* not while a cut or a compaction lists or merges blocks */
	pthread_mutex_lock(&s->cut_mu);
	pthread_rwlock_rdlock(&s->tlock);
	for (;;) {
		struct st_tenant *ot = NULL;
		size_t oi = 0;
		uint64_t total = 0;
		bool age;

		/*
		 * the oldest block of all tenants, and the total size: blocks and
		 * symbols files (which retention cannot shrink, but which count
		 * against the limit as the disk sees them)
		 */
		for (i = 0; i < s->ntenants; i++) {
			struct st_tenant *t = s->tenants[i];

			total += atomic_load(&t->symbols_bytes);
			pthread_rwlock_rdlock(&t->lock);
			for (k = 0; k < t->nblocks; k++) {
				total += t->blocks[k]->bytes;
				if (!ot || t->blocks[k]->max_time < ot->blocks[oi]->max_time) {
					ot = t;
					oi = k;
				}
			}
			pthread_rwlock_unlock(&t->lock);
		}
		if (!ot)
			break;
		pthread_rwlock_wrlock(&ot->lock);
		age = s->o.retention_ns && oi < ot->nblocks &&
		      ot->blocks[oi]->max_time < now_ns - s->o.retention_ns;
		if (oi >= ot->nblocks ||
		    (!age && !(s->o.retention_bytes && total > s->o.retention_bytes))) {
			pthread_rwlock_unlock(&ot->lock);
			break;
		}
		{
			struct st_block *b = ot->blocks[oi];

			memmove(ot->blocks + oi, ot->blocks + oi + 1,
				(ot->nblocks - oi - 1) * sizeof(*ot->blocks));
			ot->nblocks--;
			pthread_rwlock_unlock(&ot->lock);
			store_log(s, KL_LOG_INFO, "store: retention deletes block %s (%s)", b->path,
				  age ? "older than the retention period" : "over the size limit");
			store_block_delete(s, b);
			atomic_fetch_add(&s->blocks_deleted, 1);
		}
	}
	pthread_rwlock_unlock(&s->tlock);
	pthread_mutex_unlock(&s->cut_mu);
}
