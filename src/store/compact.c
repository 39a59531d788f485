/* SPDX-License-Identifier: Apache-2.0 */
/*
 * compact.c - background compaction in two levels: the 2-h blocks of a
 * finished UTC day of one tenant are merged into one block, then the day
 * blocks of a finished week (Monday to Sunday, UTC) into one, series by
 * series, so 90 days are ~20 blocks instead of 1,080 (fewer open files,
 * fewer sections per long query, better compression). A merged block lists
 * the blocks it replaces; it is renamed into place before they are
 * deleted, and an open that finds both deletes the inputs (block.c,
 * drop_replaced), at either level.
 *
 * Retention deletes whole blocks, so a week block keeps its oldest day up
 * to 6 days past the retention period: weeks are made only without an age
 * limit or with one of 10 weeks or more (at most 10 % longer), and never of
 * a week whose oldest data expires within a week anyway.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store_internal.h"

#define DAY_NS (INT64_C(86400) * 1000000000)
#define WEEK_NS (7 * DAY_NS)

/*
 * A level: blocks whose earliest profile starts in one window
 * [origin + k * span, origin + (k + 1) * span) are merged once a block
 * starts grace after the window's end (data time, not the wall clock, so
 * that backfilled data compacts as live data does).
 */
struct level {
	int64_t span, origin, grace;
	const char *suffix;	/* of the merged block's name */
};

static const struct level levels[] = {
	{ DAY_NS, 0, 0, "-c" },
	/* 1970-01-05 was a Monday; a day of grace lets the last day's blocks merge first */
	{ WEEK_NS, 4 * DAY_NS, DAY_NS, "-w" },
};

/* A week block outlives the retention period by up to this share of it (1/10). */
#define WEEK_RETENTION_FACTOR 10

static int cmp_prof(const void *a, const void *b)
{
	const struct st_prof *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Appends a block part (fully loaded) to acc. */
static int merge_part(struct st_series *acc, const struct st_series *part)
{
	size_t i;
	int k;

	if (KL_GROW(acc->prof, acc->prof_cap, acc->nprof + part->nprof) ||
	    KL_GROW(acc->stk, acc->pairs_cap, acc->npairs + part->npairs + 1) ||
	    KL_GROW(acc->val, acc->val_cap, acc->npairs + part->npairs + 1) ||
	    KL_GROW(acc->spans, acc->spans_cap, acc->nspans + part->nspans + 1))
		return -ENOMEM;
	for (k = 0; k < STORE_NLEVELS; k++)
		if (store_level_merge(&acc->lv[k], &part->lv[k]))
			return -ENOMEM;
	for (i = 0; i < part->nprof; i++) {
		struct st_prof p = part->prof[i];

		p.pair_off += (uint32_t)acc->npairs;
		p.span_off += (uint32_t)acc->nspans;
		acc->prof[acc->nprof + i] = p;
	}
	if (part->npairs) {
		memcpy(acc->stk + acc->npairs, part->stk, part->npairs * sizeof(*acc->stk));
		memcpy(acc->val + acc->npairs, part->val, part->npairs * sizeof(*acc->val));
	}
	if (part->nspans)
		memcpy(acc->spans + acc->nspans, part->spans, part->nspans * sizeof(*acc->spans));
	acc->nprof += part->nprof;
	acc->npairs += part->npairs;
	acc->nspans += part->nspans;
	acc->min_start = KL_MIN(acc->min_start, part->min_start);
	acc->max_end = KL_MAX(acc->max_end, part->max_end);
	acc->max_dur = KL_MAX(acc->max_dur, part->max_dur);
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Merges the n blocks in[] of t into one named with suffix and swaps it in. */
static int compact_group(struct kl_store *s, struct st_tenant *t, struct st_block **in, size_t n,
			 const char *suffix, struct kl_err *err)
{
	struct store_bw w;
	struct st_block *nb = NULL;
	uint32_t *ids = NULL;
	size_t nids = 0, i, k, j;
	uint64_t lsn = 0;
	int rc = -ENOMEM;

	for (i = 0; i < n; i++) {
		nids += in[i]->n;
		lsn = KL_MAX(lsn, in[i]->lsn_end);
	}
	ids = kl_malloc((nids + 1) * sizeof(*ids));
	if (!ids) {
		kl_errf(err, rc, "store: out of memory compacting blocks");
		goto out_ids;
	}
	for (i = 0, k = 0; i < n; i++)
		for (j = 0; j < in[i]->n; j++)
			ids[k++] = in[i]->s[j].series;
	qsort(ids, nids, sizeof(*ids), cmp_u32);
	for (i = 0, k = 0; i < nids; i++)
		if (!k || ids[k - 1] != ids[i])
			ids[k++] = ids[i];
	nids = k;
	rc = store_bw_begin(&w, s, t->name, nids, lsn, true, err);
	if (rc)
		goto out_ids;
	rc = -ENOMEM;
	w.replaces = kl_calloc(n + 1, sizeof(*w.replaces));
	if (!w.replaces)
		goto out;
	for (i = 0; i < n; i++) {
		const char *b = strrchr(in[i]->path, '/');

		w.replaces[i] = (char *)(b ? b + 1 : in[i]->path);
	}
	w.nreplaces = n;
	w.suffix = suffix;
	for (i = 0, rc = 0; i < nids && !rc; i++) {
		struct st_series acc = { .min_start = INT64_MAX, .max_end = INT64_MIN };

		for (k = 0; k < n && !rc; k++) {
			const struct blk_series *bs = store_block_find(in[k], ids[i]);
			struct st_series part = { 0 };

			if (!bs)
				continue;
			/* the lock: the load checks ids against t's tables, which appends grow */
			pthread_rwlock_rdlock(&t->lock);
			rc = store_block_load(t, in[k], bs, BLK_WANT_RAW | BLK_WANT_LEVELS, &part,
					      NULL, err);
			pthread_rwlock_unlock(&t->lock);
			rc = rc ? rc : merge_part(&acc, &part);
			store_series_data_release(&part);
		}
		if (!rc && acc.nprof > 1)
			qsort(acc.prof, acc.nprof, sizeof(*acc.prof), cmp_prof);
		if (!rc) {
			rc = store_bw_add(&w, ids[i], &acc);
			if (rc && rc != -ENOMEM)
				kl_errf(err, rc, "store: cannot write a block of tenant %s: %s",
					t->name, kl_strerror(rc));
		}
		store_series_data_release(&acc);
	}
	if (rc) {
		if (rc == -ENOMEM)
			kl_errf(err, rc, "store: out of memory compacting blocks");
		goto out;
	}
	rc = store_bw_finish(&w, t->name, &nb, err);
	if (rc)
		goto out;
	pthread_rwlock_wrlock(&t->lock);
	for (i = 0, k = 0; i < t->nblocks; i++) {
		bool merged = false;

		for (j = 0; j < n; j++)
			merged |= t->blocks[i] == in[j];
		if (!merged)
			t->blocks[k++] = t->blocks[i];
	}
	/* n >= 2 blocks left the list: room for the new one */
	t->blocks[k++] = nb;
	t->nblocks = k;
	qsort(t->blocks, t->nblocks, sizeof(*t->blocks), store_block_cmp);
	pthread_rwlock_unlock(&t->lock);
	/* no query can hold them now: queries hold the tenant lock while they read */
	for (i = 0; i < n; i++)
		store_block_delete(s, in[i]);
	atomic_fetch_add(&s->compactions, 1);
	store_log(s, KL_LOG_INFO, "store: compacted %zu blocks of tenant %s into %s", n, t->name,
		  nb->path);
out:
	store_bw_release(&w);
out_ids:
	kl_free(ids);
	return rc;
}

/*
 * Finds the oldest finished window of level lv in t with two or more
 * blocks (a window is finished once a block starts grace after its end).
 * retention_ns, now_ns: with an age limit, a window whose oldest data
 * expires within one span is left alone (retention deletes its blocks
 * soon; merging them would keep that data longer). *in gets the blocks
 * (owned array); returns their number.
 */
static size_t pick(struct st_tenant *t, const struct level *lv, int64_t retention_ns,
		   int64_t now_ns, struct st_block ***in)
{
	size_t i, j, n = 0;
	int64_t newest = INT64_MIN;

	*in = NULL;
	pthread_rwlock_rdlock(&t->lock);
	for (i = 0; i < t->nblocks; i++)
		newest = KL_MAX(newest, t->blocks[i]->min_time);
	for (i = 0; i < t->nblocks && !n; i = j) {
		int64_t w = store_floor_div(t->blocks[i]->min_time - lv->origin, lv->span);
		int64_t start = lv->origin + w * lv->span;

		/* blocks are sorted by min_time: later windows are not finished either */
		if (start + lv->span + lv->grace > newest)
			break;
		for (j = i; j < t->nblocks &&
		     store_floor_div(t->blocks[j]->min_time - lv->origin, lv->span) == w; j++)
			;
		if (j - i < 2)
			continue;
		if (retention_ns && t->blocks[i]->max_time < now_ns - retention_ns + lv->span)
			continue;
		*in = kl_malloc((j - i) * sizeof(**in));
		if (*in) {
			memcpy(*in, t->blocks + i, (j - i) * sizeof(**in));
			n = j - i;
		}
	}
	pthread_rwlock_unlock(&t->lock);
	return n;
}

int store_compact_at(struct kl_store *s, int64_t now_ns, struct kl_err *err)
{
	struct st_tenant **ts = NULL;
	int64_t ret = s->o.retention_ns;
	size_t nt, i, nlv = KL_ARRAY_SIZE(levels), k;
	int done = 0, rc = 0;

	/* weeks only where they keep data at most a tenth longer than retention asks */
	if (ret && ret < WEEK_RETENTION_FACTOR * WEEK_NS)
		nlv = 1;
	pthread_rwlock_rdlock(&s->tlock);
	nt = s->ntenants;
	ts = kl_malloc((nt + 1) * sizeof(*ts));
	if (ts && nt)
		memcpy(ts, s->tenants, nt * sizeof(*ts));
	pthread_rwlock_unlock(&s->tlock);
	if (!ts)
		return kl_errf(err, -ENOMEM, "store: out of memory compacting blocks");
	/* one cut or compaction at a time: both replace block lists */
	pthread_mutex_lock(&s->cut_mu);
	for (i = 0; i < nt && !rc; i++) {
		/* days first: a week then merges 7 day blocks, not 84 of 2 h */
		for (k = 0; k < nlv; k++) {
			struct st_block **in;
			size_t n = pick(ts[i], &levels[k], ret, now_ns, &in);

			if (n) {
				rc = compact_group(s, ts[i], in, n, levels[k].suffix, err);
				done += !rc;
			}
			kl_free(in);
			if (n)
				break;
		}
	}
	pthread_mutex_unlock(&s->cut_mu);
	kl_free(ts);
	return rc ? rc : done;
}

int store_compact(struct kl_store *s, struct kl_err *err)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return store_compact_at(s, (int64_t)now.tv_sec * 1000000000 + now.tv_nsec, err);
}
