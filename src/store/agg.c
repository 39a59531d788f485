/* SPDX-License-Identifier: Apache-2.0 */
/*
 * agg.c - per-series pre-aggregation at several resolutions (100 s,
 * 1,000 s, 10,000 s and 100,000 s; the raw 10-s profiles are the finest
 * level). Each bucket is a (stack, value) list sorted by stack id with the
 * values of every profile starting in the bucket summed, so a query over a
 * long range merges a few dozen lists instead of every profile. Totals
 * stay exact: nothing is ever truncated here.
 */
#include <string.h>

#include "store_internal.h"

const int64_t store_level_ns[STORE_NLEVELS] = {
	INT64_C(100) * 1000000000, INT64_C(1000) * 1000000000, INT64_C(10000) * 1000000000,
	INT64_C(100000) * 1000000000,
};

int64_t store_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Finds (or inserts, empty) the bucket idx of level lv. NULL on out of memory. */
static struct st_bucket *bucket_get(struct st_level *lv, int64_t idx)
{
	size_t lo = 0, hi = lv->n;

	/* buckets mostly grow at the end */
	if (hi && lv->b[hi - 1].idx == idx)
		return &lv->b[hi - 1];
	if (hi && lv->b[hi - 1].idx < idx) {
		lo = hi;
	} else {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (lv->b[mid].idx < idx)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < lv->n && lv->b[lo].idx == idx)
			return &lv->b[lo];
	}
	if (KL_GROW(lv->b, lv->cap, lv->n + 1))
		return NULL;
	memmove(lv->b + lo + 1, lv->b + lo, (lv->n - lo) * sizeof(*lv->b));
	lv->b[lo] = (struct st_bucket){ .idx = idx };
	lv->n++;
	return &lv->b[lo];
}

/* A merged list waiting to replace a bucket's. */
struct merged {
	uint32_t *stk;
	int64_t *val;
	uint32_t n;
};

/*
 * Merges bucket b's list with the sorted pairs into m. The profile's pairs
 * may repeat a stack (different span ids); they are summed.
 */
static int bucket_merge(const struct st_bucket *b, const uint32_t *stk, const int64_t *val,
			uint32_t n, struct merged *m)
{
	size_t cap = (size_t)b->n + n + 1, i = 0, j = 0, k = 0;

	m->stk = kl_malloc(cap * sizeof(*m->stk));
	m->val = kl_malloc(cap * sizeof(*m->val));
	if (!m->stk || !m->val) {
		kl_free(m->stk);
		kl_free(m->val);
		m->stk = NULL;
		m->val = NULL;
		return -ENOMEM;
	}
	while (i < b->n || j < n) {
		uint32_t s;
		int64_t v;

		if (j >= n || (i < b->n && b->stk[i] <= stk[j])) {
			s = b->stk[i];
			v = b->val[i++];
		} else {
			s = stk[j];
			v = val[j++];
		}
		if (k && m->stk[k - 1] == s) {
			m->val[k - 1] += v;
		} else {
			m->stk[k] = s;
			m->val[k++] = v;
		}
	}
	m->n = (uint32_t)k;
	return 0;
}

/*
 * The first index of b's list above lo whose stack is not below key, given
 * b->stk[lo] < key: a galloping search. A profile brings a few dozen
 * stacks while the buckets of the long levels hold every stack of days of
 * a service: walking those lists one by one made publish O(bucket).
 */
static size_t bucket_gallop(const struct st_bucket *b, size_t lo, uint32_t key)
{
	size_t hi, step = 1;

	/* b->stk[lo] < key throughout; then b->stk[hi] >= key, or hi == b->n */
	while (lo + step < b->n && b->stk[lo + step] < key) {
		lo += step;
		step *= 2;
	}
	hi = KL_MIN(lo + step, (size_t)b->n);
	lo++;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (b->stk[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The first index >= i whose stack is not below key: one step inline (a
 * bucket about as dense as the profile, the common case), else a gallop.
 */
static inline size_t bucket_seek(const struct st_bucket *b, size_t i, uint32_t key)
{
	if (i == b->n || b->stk[i] >= key)
		return i;
	if (i + 1 == b->n || b->stk[i + 1] >= key)
		return i + 1;
	return bucket_gallop(b, i + 1, key);
}

/* True if every stack of the pairs is already in b (then values are added in place). */
static bool bucket_covers(const struct st_bucket *b, const uint32_t *stk, uint32_t n)
{
	size_t i = 0;
	uint32_t j;

	for (j = 0; j < n; j++) {
		i = bucket_seek(b, i, stk[j]);
		if (i == b->n || b->stk[i] != stk[j])
			return false;
	}
	return true;
}

static void bucket_add_in_place(struct st_bucket *b, const uint32_t *stk, const int64_t *val,
				uint32_t n)
{
	size_t i = 0;
	uint32_t j;

	for (j = 0; j < n; j++) {
		i = bucket_seek(b, i, stk[j]);
		b->val[i] += val[j];
	}
}

/*
 * All allocation happens before any list changes, so that a failure
 * leaves every level as it was and aggregates always equal the raw data.
 * In a steady service most profiles bring no new stack to a bucket: their
 * values are then added in place, without allocating.
 */
int store_agg_add(struct st_series *s, int64_t start, const uint32_t *stk, const int64_t *val,
		  uint32_t n, size_t *added_bytes)
{
	struct merged m[STORE_NLEVELS] = { 0 };
	bool in_place[STORE_NLEVELS] = { false };
	struct st_bucket *b;
	int i, rc = 0;

	*added_bytes = 0;
	if (!n)
		return 0;
	/* buckets are created first (an empty bucket is harmless) */
	for (i = 0; i < STORE_NLEVELS && !rc; i++) {
		b = bucket_get(&s->lv[i], store_floor_div(start, store_level_ns[i]));
		if (!b)
			rc = -ENOMEM;
		else if (bucket_covers(b, stk, n))
			in_place[i] = true;
		else
			rc = bucket_merge(b, stk, val, n, &m[i]);
	}
	for (i = 0; i < STORE_NLEVELS; i++) {
		if (rc) {
			kl_free(m[i].stk);
			kl_free(m[i].val);
			continue;
		}
		b = bucket_get(&s->lv[i], store_floor_div(start, store_level_ns[i]));
		if (in_place[i]) {
			bucket_add_in_place(b, stk, val, n);
			continue;
		}
		*added_bytes += (m[i].n - b->n) * (sizeof(uint32_t) + sizeof(int64_t));
		kl_free(b->stk);
		kl_free(b->val);
		b->stk = m[i].stk;
		b->val = m[i].val;
		b->n = m[i].n;
	}
	return rc;
}

void store_agg_release(struct st_series *s)
{
	size_t i, k;

	for (i = 0; i < STORE_NLEVELS; i++) {
		for (k = 0; k < s->lv[i].n; k++) {
			kl_free(s->lv[i].b[k].stk);
			kl_free(s->lv[i].b[k].val);
		}
		kl_free(s->lv[i].b);
		memset(&s->lv[i], 0, sizeof(s->lv[i]));
	}
}

size_t store_agg_memory(const struct st_series *s)
{
	size_t i, k, m = 0;

	for (i = 0; i < STORE_NLEVELS; i++) {
		m += s->lv[i].cap * sizeof(struct st_bucket);
		for (k = 0; k < s->lv[i].n; k++)
			m += s->lv[i].b[k].n * (sizeof(uint32_t) + sizeof(int64_t));
	}
	return m;
}

/*
 * Adds every bucket of add to acc (compaction of blocks): buckets of the
 * same number are summed. acc is replaced only on success.
 */
int store_level_merge(struct st_level *acc, const struct st_level *add)
{
	struct st_bucket *nb;
	size_t i = 0, j = 0, k = 0, cap = acc->n + add->n + 1;

	if (!add->n)
		return 0;
	nb = kl_calloc(cap, sizeof(*nb));
	if (!nb)
		return -ENOMEM;
	while (i < acc->n || j < add->n) {
		if (j >= add->n || (i < acc->n && acc->b[i].idx < add->b[j].idx)) {
			nb[k++] = acc->b[i++];
		} else if (i >= acc->n || add->b[j].idx < acc->b[i].idx) {
			struct merged m;

			if (bucket_merge(&(struct st_bucket){ 0 }, add->b[j].stk, add->b[j].val,
					 add->b[j].n, &m))
				goto fail;
			nb[k++] = (struct st_bucket){ .idx = add->b[j].idx, .n = m.n, .stk = m.stk,
						      .val = m.val };
			j++;
		} else {
			struct merged m;

			if (bucket_merge(&acc->b[i], add->b[j].stk, add->b[j].val, add->b[j].n, &m))
				goto fail;
			nb[k++] = (struct st_bucket){ .idx = acc->b[i].idx, .n = m.n, .stk = m.stk,
						      .val = m.val };
			i++;
			j++;
		}
	}
	/* the merged lists replaced acc's where they were summed: free those old lists */
	for (i = 0, j = 0; i < acc->n; i++) {
		while (j < k && nb[j].idx < acc->b[i].idx)
			j++;
		if (nb[j].stk != acc->b[i].stk) {
			kl_free(acc->b[i].stk);
			kl_free(acc->b[i].val);
		}
	}
	kl_free(acc->b);
	acc->b = nb;
	acc->n = k;
	acc->cap = cap;
	return 0;
fail:
	/* free only the lists made here */
	for (i = 0, j = 0; j < k; j++) {
		bool owned = true;

		for (i = 0; i < acc->n; i++)
			if (acc->b[i].stk == nb[j].stk)
				owned = false;
		if (owned) {
			kl_free(nb[j].stk);
			kl_free(nb[j].val);
		}
	}
	kl_free(nb);
	return -ENOMEM;
}
