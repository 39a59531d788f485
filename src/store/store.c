/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store.c - the store's life cycle and write path: open (lock the data
 * directory, load blocks, replay the WAL into the head), append (intern
 * into the head and encode a WAL record under the tenant's lock; once the
 * record is durable the completion thread publishes it and tells the
 * caller), the background thread (cuts, retention, compaction), stats and
 * close.
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
 *  4. An append is counted in flight by the append gate from its first
 *     step to its publish (or failure), pending ones included, and a cut
 *     freezes only with none in flight: it sees every WAL record below its
 *     LSN published.
 *  5. Pending appends (kl_store_append_start) are published by one
 *     completion thread once their batch is durable, in groups per tenant,
 *     and only then told done: a thread per request never sleeps on the WAL.
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

static void *completer_main(void *arg);

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
	pthread_mutex_init(&s->tk_mu, NULL);
	pthread_cond_init(&s->tk_work, NULL);
	pthread_cond_init(&s->tk_done, NULL);
	pthread_cond_init(&s->gate_cv, NULL);
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
		if (pthread_create(&s->completer, NULL, completer_main, s)) {
			rc = kl_errf(err, -EAGAIN, "store: cannot start the completion thread");
			goto fail;
		}
		s->completer_started = true;
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
	if (s->completer_started) {
		/* pending appends complete first: the WAL writer still runs */
		pthread_mutex_lock(&s->tk_mu);
		s->tk_stop = true;
		pthread_cond_signal(&s->tk_work);
		pthread_mutex_unlock(&s->tk_mu);
		pthread_join(s->completer, NULL);
	}
	kl_wal_close(s->wal);
	for (i = 0; i < s->ntenants; i++)
		store_tenant_free(s->tenants[i]);
	kl_free(s->tenants);
	if (s->lock_fd >= 0)
		s->o.io->close(s->lock_fd);
	pthread_rwlock_destroy(&s->tlock);
	pthread_mutex_destroy(&s->tk_mu);
	pthread_cond_destroy(&s->tk_work);
	pthread_cond_destroy(&s->tk_done);
	pthread_cond_destroy(&s->gate_cv);
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

/* ---- appends: the gate, tickets and the completion thread ----------------- */

/* A pending append (store.h). */
struct kl_store_ticket {
	struct kl_store *s;
	struct kl_store_ticket *next;	/* in s->tk_head while pending */
	struct st_tenant *t;
	uint64_t lsn;
	struct st_pending *pend;
	size_t n;
	struct st_marks marks;	/* the tenant's symbols once the record is durable */
	kl_store_done_fn done;
	void *ctx;
	bool finished;		/* under tk_mu: rc and err are final */
	bool handled;		/* the completion thread's: published or failed this pass */
	int rc;
	struct kl_err err;
};

/* An append enters the gate (waiting while a cut freezes the heads). */
static void gate_enter(struct kl_store *s)
{
	pthread_mutex_lock(&s->tk_mu);
	while (s->gate_closed)
		pthread_cond_wait(&s->gate_cv, &s->tk_mu);
	s->appends_inflight++;
	pthread_mutex_unlock(&s->tk_mu);
}

/* Caller holds tk_mu. */
static void gate_leave_locked(struct kl_store *s)
{
	if (!--s->appends_inflight && s->gate_closed)
		pthread_cond_broadcast(&s->gate_cv);
}

void store_appends_hold(struct kl_store *s)
{
	pthread_mutex_lock(&s->tk_mu);
	while (s->gate_closed)
		pthread_cond_wait(&s->gate_cv, &s->tk_mu);
	s->gate_closed = true;
	while (s->appends_inflight)
		pthread_cond_wait(&s->gate_cv, &s->tk_mu);
	pthread_mutex_unlock(&s->tk_mu);
}

void store_appends_release(struct kl_store *s)
{
	pthread_mutex_lock(&s->tk_mu);
	s->gate_closed = false;
	pthread_cond_broadcast(&s->gate_cv);
	pthread_mutex_unlock(&s->tk_mu);
}

static void ticket_free(struct kl_store_ticket *tk)
{
	if (!tk)
		return;
	for (size_t i = 0; tk->pend && i < tk->n; i++)
		store_pending_release(&tk->pend[i]);
	kl_free(tk->pend);
	kl_free(tk);
}

/*
 * Publishes the durable tickets of list (rc 0) that belong to tk->t under
 * one hold of the tenant's write lock: one lock round per tenant and
 * group commit, not per request.
 */
static void publish_tenant(struct kl_store *s, struct kl_store_ticket *first)
{
	struct st_tenant *t = first->t;

	pthread_rwlock_wrlock(&t->lock);
	for (struct kl_store_ticket *tk = first; tk; tk = tk->next) {
		int rc = 0;

		if (tk->t != t || tk->handled)
			continue;
		marks_max(&t->durable, &tk->marks);
		for (size_t i = 0; i < tk->n && !rc; i++)
			rc = store_publish(t, &tk->pend[i]);
		if (rc) {
			tk->rc = kl_errf(&tk->err, rc, "store: out of memory while publishing");
		} else {
			atomic_fetch_add(&s->profiles_appended, tk->n);
			atomic_store(&s->disk_full, false);
		}
		tk->handled = true;
	}
	pthread_rwlock_unlock(&t->lock);
}

/*
 * The completion thread: waits for the oldest pending record's batch, then
 * publishes every pending append whose batch is resolved and tells its
 * owner (done). One wake-up per group commit instead of one sleeping
 * thread per request.
 */
static void *completer_main(void *arg)
{
	struct kl_store *s = arg;

	pthread_mutex_lock(&s->tk_mu);
	for (;;) {
		struct kl_store_ticket *list, *ready = NULL, *wait = NULL, *tk, *next;
		uint64_t oldest = UINT64_MAX;
		struct kl_err err;

		while (!s->tk_head && !s->tk_stop)
			pthread_cond_wait(&s->tk_work, &s->tk_mu);
		if (!s->tk_head)
			break;	/* stopping, and nothing is pending */
		list = s->tk_head;
		s->tk_head = NULL;
		for (tk = list; tk; tk = tk->next)
			oldest = KL_MIN(oldest, tk->lsn);
		pthread_mutex_unlock(&s->tk_mu);

		(void)kl_wal_wait(s->wal, oldest, &err);
		for (tk = list; tk; tk = next) {
			next = tk->next;
			tk->rc = kl_wal_poll(s->wal, tk->lsn, &tk->err);
			if (tk->rc == 1) {
				tk->next = wait;
				wait = tk;
				continue;
			}
			if (tk->rc == -ENOSPC)
				atomic_store(&s->disk_full, true);
			tk->handled = tk->rc != 0;	/* failed: nothing to publish */
			tk->next = ready;
			ready = tk;
		}
		for (tk = ready; tk; tk = tk->next) {
			if (!tk->handled)
				publish_tenant(s, tk);
		}

		pthread_mutex_lock(&s->tk_mu);
		/* still in flight: back to the queue */
		while (wait) {
			tk = wait;
			wait = tk->next;
			tk->next = s->tk_head;
			s->tk_head = tk;
		}
		for (tk = ready; tk; tk = next) {
			kl_store_done_fn done = tk->done;
			void *ctx = tk->ctx;

			next = tk->next;
			tk->next = NULL;
			tk->finished = true;
			gate_leave_locked(s);
			/* once unlocked, kl_store_append_end may free tk: done, ctx are copies */
			pthread_cond_broadcast(&s->tk_done);
			if (done) {
				pthread_mutex_unlock(&s->tk_mu);
				done(ctx);
				pthread_mutex_lock(&s->tk_mu);
			}
		}
	}
	pthread_mutex_unlock(&s->tk_mu);
	return NULL;
}

/*
 * The pending data of each of the n series profiles of an append; on an
 * error none is left (pend zeroed). Under the tenant's lock (see xc).
 */
static int ingest_all(struct st_tenant *t, const struct kl_series *v, size_t n,
		      uint32_t max_series, struct st_xcache *xc, struct st_pending *pend,
		      struct kl_err *err)
{
	size_t k;
	int rc = 0;

	for (k = 0; k < n && !rc; k++)
		rc = store_ingest_profile(t, &v[k], max_series, xc, &pend[k], err);
	if (rc)
		for (k = 0; k < n; k++)
			store_pending_release(&pend[k]);
	return rc;
}

int kl_store_append_start(struct kl_store *s, const char *tenant, const struct kl_series *v,
			  size_t n, kl_store_done_fn done, void *ctx,
			  struct kl_store_ticket **ticket, struct kl_err *err)
{
	struct kl_store_ticket *tk = NULL;
	struct kl_buf rec = KL_BUF_INIT;
	struct st_xcache xc = { 0 };
	struct st_tenant *t;
	size_t i;
	int rc = 0;

	*ticket = NULL;
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
	tk = kl_calloc(1, sizeof(*tk));
	if (tk)
		tk->pend = kl_calloc(n, sizeof(*tk->pend));
	if (!t || !tk || !tk->pend) {
		ticket_free(tk);
		return kl_errf(err, -ENOMEM, "store: out of memory");
	}
	tk->s = s;
	tk->t = t;
	tk->n = n;
	tk->done = done;
	tk->ctx = ctx;
	/* a cut waits until this append is published or has failed */
	gate_enter(s);

	/*
	 * With a WAL, first under the read lock, finding everything (the
	 * common case once a service's stacks are known): appends on other
	 * threads run alongside instead of queueing on the write lock. Only
	 * if something must be created, again under the write lock, reusing
	 * what was found. Without a WAL, publishing needs the write lock.
	 */
	xc.find_only = s->wal != NULL;
	if (xc.find_only) {
		pthread_rwlock_rdlock(&t->lock);
		rc = ingest_all(t, v, n, s->o.max_series, &xc, tk->pend, err);
		if (rc == -EAGAIN) {
			pthread_rwlock_unlock(&t->lock);
			xc.find_only = false;
			rc = 0;
		}
	}
	if (!xc.find_only) {
		pthread_rwlock_wrlock(&t->lock);
		rc = ingest_all(t, v, n, s->o.max_series, &xc, tk->pend, err);
	}
	store_xcache_release(&xc);
	if (!rc && s->wal) {
		size_t est = 64 + strlen(tenant);

		/* one allocation in the common case (no new symbols): varint pairs, spans */
		for (i = 0; i < n; i++)
			est += 40 + (size_t)tk->pend[i].npairs * 8 +
			       (size_t)tk->pend[i].nspans * 12;
		kl_buf_init(&rec, 300 * MIB);
		(void)kl_buf_reserve(&rec, est);
		rc = store_record_encode(t, &t->durable, tk->pend, n, &rec);
		if (rc)
			kl_errf(err, rc, "store: cannot encode the wal record: %s",
				kl_strerror(rc));
		else
			rc = kl_wal_append(s->wal, rec.data, rec.len, &tk->lsn, err);
		store_marks_get(t, &tk->marks);
	} else if (!rc) {
		/* no WAL: visible at once, under the same hold of the lock */
		for (i = 0; i < n && !rc; i++)
			rc = store_publish(t, &tk->pend[i]);
		if (rc)
			kl_errf(err, rc, "store: out of memory while publishing");
		else
			atomic_fetch_add(&s->profiles_appended, n);
	}
	pthread_rwlock_unlock(&t->lock);
	kl_buf_release(&rec);

	pthread_mutex_lock(&s->tk_mu);
	if (rc || !s->wal) {
		gate_leave_locked(s);
		pthread_mutex_unlock(&s->tk_mu);
		ticket_free(tk);
		return rc;
	}
	tk->next = s->tk_head;
	s->tk_head = tk;
	pthread_cond_signal(&s->tk_work);
	pthread_mutex_unlock(&s->tk_mu);
	*ticket = tk;
	return 0;
}

int kl_store_append_end(struct kl_store_ticket *tk, struct kl_err *err)
{
	struct kl_store *s;
	int rc;

	if (!tk)
		return 0;
	s = tk->s;
	pthread_mutex_lock(&s->tk_mu);
	while (!tk->finished)
		pthread_cond_wait(&s->tk_done, &s->tk_mu);
	pthread_mutex_unlock(&s->tk_mu);
	rc = tk->rc;
	if (rc && err)
		*err = tk->err;
	ticket_free(tk);
	return rc;
}

int kl_store_append(struct kl_store *s, const char *tenant, const struct kl_series *v, size_t n,
		    struct kl_err *err)
{
	struct kl_store_ticket *tk;
	int rc;

	rc = kl_store_append_start(s, tenant, v, n, NULL, NULL, &tk, err);
	if (!rc && tk)
		rc = kl_store_append_end(tk, err);
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
