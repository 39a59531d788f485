/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c - the store's life cycle and write path: open (lock the data
 * directory, load blocks, replay the WAL into the head), append (intern
 * into the head and encode a WAL record under the tenant's lock, wait for
 * durability outside the tenant's lock, then publish), the background
 * thread (cuts, retention, compaction), stats and close.
 *
 * Invariants of the write path:
 *  1. WAL records of a tenant are appended in the order their symbols were
 *     created (encode and kl_wal_append happen under the tenant's lock).
 *  2. A record defines every symbol created since the tenant's last record
 *     known to be durable (t->durable), so losing a failed batch never
 *     leaves a later record referring to ids replay has not seen.
 *  3. A profile becomes visible only after its record is durable; on any
 *     failure nothing of the batch is visible (interned symbols and empty
 *     series may remain: they are invisible to queries).
 *  4. An append holds cut_lock shared from its first step to its publish,
 *     so a cut (exclusive) sees every WAL record below its LSN published.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "store_internal.h"

#define MIB ((size_t)1 << 20)

void store_log(struct kl_store *s, enum kl_log_level level, const char *fmt, ...)
{
	char msg[600];
	va_list ap;

	if (!s->o.log)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->o.log(s->o.log_ctx, level, msg);
}

static int replay_one(void *ctx, uint64_t lsn, const uint8_t *payload, size_t len)
{
	struct kl_store *s = ctx;
	struct kl_err err;
	int rc;

	/* records below the checkpoint are in blocks already */
	if (lsn < s->checkpoint)
		return 0;
	rc = store_record_apply(s, payload, len, &err);

	if (rc)
		store_log(s, KL_LOG_ERROR, "wal replay: record at lsn %llu: %s",
			  (unsigned long long)lsn, err.msg);
	return rc;
}

static char *path_join(const char *a, const char *b)
{
	size_t n = strlen(a) + strlen(b) + 2;
	char *p = kl_malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", a, b);
	return p;
}

/* Whether the heads should be cut now: memory over the limit or a head spanning block_span. */
static bool cut_due(struct kl_store *s)
{
	size_t bytes = 0, i;
	bool due = false;

	pthread_rwlock_rdlock(&s->tlock);
	for (i = 0; i < s->ntenants && !due; i++) {
		struct st_tenant *t = s->tenants[i];

		pthread_rwlock_rdlock(&t->lock);
		bytes += t->data_bytes;
		if (t->head_max > t->head_min && t->head_max - t->head_min >= s->o.block_span_ns)
			due = true;
		pthread_rwlock_unlock(&t->lock);
	}
	pthread_rwlock_unlock(&s->tlock);
	return due || bytes > s->o.memory_limit;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * The background thread: cuts when due (checked every 200 ms); retention
 * and compaction (one day per tenant) every 10 s.
 */
static void *background(void *arg)
{
	struct kl_store *s = arg;
	int64_t last_retention = wall_ns();	/* first pass 10 s after open */
	int failures = 0;

	pthread_mutex_lock(&s->bg_mu);
	while (!s->bg_stop) {
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 200 * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&s->bg_cv, &s->bg_mu, &ts);
		if (s->bg_stop)
			break;
		pthread_mutex_unlock(&s->bg_mu);
		/* after a failed cut (disk full ...), wait a few rounds before trying again */
		if (failures > 0) {
			failures--;
		} else if (cut_due(s)) {
			struct kl_err err;

			if (store_cut(s, &err)) {
				store_log(s, KL_LOG_ERROR, "%s", err.msg);
				atomic_fetch_add(&s->cut_failures, 1);
				failures = 25;
			}
		}
		if (wall_ns() - last_retention > INT64_C(10) * 1000000000) {
			struct kl_err err;

			last_retention = wall_ns();
			if (s->o.retention_ns || s->o.retention_bytes)
				store_retention(s, last_retention);
			if (store_compact(s, &err) < 0)
				store_log(s, KL_LOG_ERROR, "%s", err.msg);
		}
		pthread_mutex_lock(&s->bg_mu);
	}
	pthread_mutex_unlock(&s->bg_mu);
	return NULL;
}

int kl_store_open(const struct kl_store_opts *o, struct kl_store **out, struct kl_err *err)
{
	struct kl_store *s;
	char *lock = NULL, *wdir = NULL;
	int rc = -ENOMEM;

	*out = NULL;
	if (!o || !o->dir || !o->dir[0])
		return kl_errf(err, -KL_EUSAGE, "store: no data directory");
	s = kl_calloc(1, sizeof(*s));
	if (!s)
		return kl_errf(err, -ENOMEM, "store: out of memory");
	s->o = *o;
	s->lock_fd = -1;
	pthread_rwlock_init(&s->tlock, NULL);
	{
		pthread_rwlockattr_t attr;

		/* a waiting cut goes before new appends */
		pthread_rwlockattr_init(&attr);
		pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
		pthread_rwlock_init(&s->cut_lock, &attr);
		pthread_rwlockattr_destroy(&attr);
	}
	pthread_mutex_init(&s->bg_mu, NULL);
	pthread_mutex_init(&s->cut_mu, NULL);
	pthread_cond_init(&s->bg_cv, NULL);
	if (!s->o.memory_limit)
		s->o.memory_limit = 256 * MIB;
	if (!s->o.block_span_ns)
		s->o.block_span_ns = INT64_C(2) * 3600 * 1000000000;
	if (!s->o.max_series)
		s->o.max_series = 100000;
	if (!s->o.min_free_bytes)
		s->o.min_free_bytes = 64 * MIB;
	if (!s->o.query_memory_limit)
		s->o.query_memory_limit = 512 * MIB;
	if (!s->o.io)
		s->o.io = kl_fsio_default();
	s->dir = kl_strndup(o->dir, strlen(o->dir));
	lock = path_join(o->dir, "LOCK");
	wdir = path_join(o->dir, "wal");
	if (!s->dir || !lock || !wdir)
		goto fail_nomem;

	if (s->o.io->mkdir(o->dir, 0755) && errno != EEXIST) {
		rc = kl_errf(err, -errno, "store: cannot create %s: %s", o->dir, strerror(errno));
		goto fail;
	}
	s->lock_fd = s->o.io->open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (s->lock_fd < 0) {
		rc = kl_errf(err, -errno, "store: cannot open %s: %s", lock, strerror(errno));
		goto fail;
	}
	if (flock(s->lock_fd, LOCK_EX | LOCK_NB)) {
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		kl_errf(err, rc, "store: data directory %s is in use by another process", o->dir);
		goto fail;
	}
	rc = store_blocks_load(s, err);
	if (rc)
		goto fail;
	if (s->o.sync != KL_STORE_SYNC_NONE) {
		struct kl_wal_opts wo = { .dir = wdir, .sync = s->o.sync, .io = s->o.io,
					  .log = s->o.log, .log_ctx = s->o.log_ctx };

		rc = kl_wal_open(&wo, replay_one, s, &s->wal, err);
		if (rc) {
			kl_err_prefix(err, "store");
			goto fail;
		}
	}
	if (pthread_create(&s->bg, NULL, background, s)) {
		rc = kl_errf(err, -EAGAIN, "store: cannot start the background thread");
		goto fail;
	}
	s->bg_started = true;
	kl_free(lock);
	kl_free(wdir);
	*out = s;
	return 0;
fail_nomem:
	rc = kl_errf(err, -ENOMEM, "store: out of memory");
fail:
	kl_free(lock);
	kl_free(wdir);
	kl_store_close(s);
	return rc;
}

void kl_store_close(struct kl_store *s)
{
	size_t i;

	if (!s)
		return;
	if (s->bg_started) {
		pthread_mutex_lock(&s->bg_mu);
		s->bg_stop = true;
		pthread_cond_signal(&s->bg_cv);
		pthread_mutex_unlock(&s->bg_mu);
		pthread_join(s->bg, NULL);
	}
	kl_wal_close(s->wal);
	for (i = 0; i < s->ntenants; i++)
		store_tenant_free(s->tenants[i]);
	kl_free(s->tenants);
	if (s->lock_fd >= 0)
		s->o.io->close(s->lock_fd);
	pthread_rwlock_destroy(&s->tlock);
	pthread_rwlock_destroy(&s->cut_lock);
	pthread_mutex_destroy(&s->bg_mu);
	pthread_mutex_destroy(&s->cut_mu);
	pthread_cond_destroy(&s->bg_cv);
	kl_free(s->dir);
	kl_free(s);
}

/* -ENOSPC when the data directory's file system is under the free-space margin. */
static int check_space(struct kl_store *s, struct kl_err *err)
{
	struct statvfs st;
	uint64_t now = (uint64_t)time(NULL), free_bytes;

	/* statvfs at most once a second while there is room */
	if (!atomic_load(&s->disk_full) && atomic_load(&s->space_checked) == now)
		return 0;
	atomic_store(&s->space_checked, now);
	if (s->o.io->fstatvfs(s->lock_fd, &st))
		return 0;	/* cannot tell: let the write itself fail */
	free_bytes = (uint64_t)st.f_bavail * st.f_frsize;
	if (free_bytes < s->o.min_free_bytes) {
		atomic_store(&s->disk_full, true);
		return kl_errf(err, -ENOSPC, "disk full: %llu bytes free in %s, under the margin "
			       "of %llu", (unsigned long long)free_bytes, s->dir,
			       (unsigned long long)s->o.min_free_bytes);
	}
	atomic_store(&s->disk_full, false);
	return 0;
}

static void marks_max(struct st_marks *a, const struct st_marks *b)
{
	a->strings = KL_MAX(a->strings, b->strings);
	a->mappings = KL_MAX(a->mappings, b->mappings);
	a->functions = KL_MAX(a->functions, b->functions);
	a->locations = KL_MAX(a->locations, b->locations);
	a->stacks = KL_MAX(a->stacks, b->stacks);
	a->series = KL_MAX(a->series, b->series);
}

int kl_store_append(struct kl_store *s, const char *tenant, const struct kl_series *v, size_t n,
		    struct kl_err *err)
{
	struct st_pending *pend = NULL;
	struct kl_buf rec = KL_BUF_INIT;
	struct st_marks marks = { 0 };
	struct st_xcache xc = { 0 };
	struct st_tenant *t;
	uint64_t lsn = 0;
	size_t i, k = 0;
	int rc = 0;

	if (!n)
		return 0;
	if (!tenant || !tenant[0])
		return kl_errf(err, -KL_EUSAGE, "store: empty tenant name");
	if (s->wal) {
		rc = check_space(s, err);
		if (rc)
			return rc;
	}
	t = store_tenant_get(s, tenant, true);
	pend = kl_calloc(n, sizeof(*pend));
	if (!t || !pend) {
		kl_free(pend);
		return kl_errf(err, -ENOMEM, "store: out of memory");
	}
	/* a cut waits until this append is published or has failed */
	pthread_rwlock_rdlock(&s->cut_lock);

	pthread_rwlock_wrlock(&t->lock);
	for (k = 0; k < n && !rc; k++)
		rc = store_ingest_profile(t, &v[k], s->o.max_series, &xc, &pend[k], err);
	store_xcache_release(&xc);
	if (!rc && s->wal) {
		size_t est = 64 + strlen(tenant);

		/* one allocation in the common case (no new symbols): varint pairs, spans */
		for (i = 0; i < n; i++)
			est += 40 + (size_t)pend[i].npairs * 8 + (size_t)pend[i].nspans * 12;
		kl_buf_init(&rec, 300 * MIB);
		(void)kl_buf_reserve(&rec, est);
		rc = store_record_encode(t, &t->durable, pend, n, &rec);
		if (rc)
			kl_errf(err, rc, "store: cannot encode the wal record: %s",
				kl_strerror(rc));
		else
			rc = kl_wal_append(s->wal, rec.data, rec.len, &lsn, err);
		store_marks_get(t, &marks);
	}
	pthread_rwlock_unlock(&t->lock);
	kl_buf_release(&rec);

	if (!rc && s->wal) {
		rc = kl_wal_wait(s->wal, lsn, err);
		if (rc == -ENOSPC)
			atomic_store(&s->disk_full, true);
	}
	if (!rc) {
		pthread_rwlock_wrlock(&t->lock);
		if (s->wal)
			marks_max(&t->durable, &marks);
		for (i = 0; i < n && !rc; i++)
			rc = store_publish(t, &pend[i]);
		pthread_rwlock_unlock(&t->lock);
		if (rc)
			kl_errf(err, rc, "store: out of memory while publishing");
		else
			atomic_fetch_add(&s->profiles_appended, n);
		if (!rc && s->wal)
			atomic_store(&s->disk_full, false);
	}
	pthread_rwlock_unlock(&s->cut_lock);
	for (i = 0; i < n; i++)
		store_pending_release(&pend[i]);
	kl_free(pend);
	return rc;
}

void kl_store_stats(struct kl_store *s, struct kl_store_stats *out)
{
	size_t i;

	memset(out, 0, sizeof(*out));
	out->profiles_appended = atomic_load(&s->profiles_appended);
	pthread_rwlock_rdlock(&s->tlock);
	out->tenants = s->ntenants;
	for (i = 0; i < s->ntenants; i++) {
		struct st_tenant *t = s->tenants[i];

		pthread_rwlock_rdlock(&t->lock);
		out->series += t->nseries;
		out->head_bytes += t->bytes + t->data_bytes + t->frozen_bytes +
				   kl_strtab_memory(t->strs);
		out->blocks += t->nblocks;
		for (size_t k = 0; k < t->nblocks; k++)
			out->disk_bytes += t->blocks[k]->bytes;
		out->disk_bytes += atomic_load(&t->symbols_bytes);
		pthread_rwlock_unlock(&t->lock);
	}
	pthread_rwlock_unlock(&s->tlock);
	if (s->wal) {
		struct kl_wal_stats ws;

		kl_wal_stats(s->wal, &ws);
		out->wal_bytes = ws.bytes;
		out->wal_lag_bytes = ws.lag_bytes;
		out->wal_syncs = ws.syncs;
		out->wal_records_cut = ws.records_cut;
		out->disk_bytes += ws.bytes;
	}
	out->disk_full = atomic_load(&s->disk_full);
	out->blocks_deleted = atomic_load(&s->blocks_deleted);
	out->compactions = atomic_load(&s->compactions);
}
