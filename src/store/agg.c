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
 * The first index of bs[0, n) above lo whose stack is not below key, given
 * bs[lo] < key: a galloping search. A profile brings a few dozen stacks
 * while the buckets of the long levels hold every stack of days of a
 * service: walking those lists one by one made publish O(bucket).
 */
static size_t bucket_gallop(const uint32_t *bs, size_t n, size_t lo, uint32_t key)
{
	size_t hi, step = 1;

	/* bs[lo] < key throughout; then bs[hi] >= key, or hi == n */
	while (lo + step < n && bs[lo + step] < key) {
		lo += step;
		step *= 2;
	}
	hi = KL_MIN(lo + step, n);
	lo++;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (bs[mid] < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * The first index >= i of bs[0, n) whose stack is not below key: one step
 * inline (a bucket about as dense as the profile, the common case), else a
 * gallop. The callers keep bs and n in locals: the build has no strict
 * aliasing, so reading them through the bucket reloads them after every
 * store.
 */
static inline size_t bucket_seek(const uint32_t *bs, size_t n, size_t i, uint32_t key)
{
	if (i == n || bs[i] >= key)
		return i;
	if (i + 1 == n || bs[i + 1] >= key)
		return i + 1;
	return bucket_gallop(bs, n, i + 1, key);
}

/* Positions remembered by bucket_missing for the in-place add, up to this many pairs. */
#define AGG_POS_MAX 256

/*
 * For each level l, miss[l]: the number of distinct stacks of the sorted
 * pairs that bucket b[l] lacks. When it has them all and pos is not NULL,
 * pos[l][j] gets the index of stk[j] in b[l]. The levels are walked
 * together, pair by pair: their buckets are cold, and four independent
 * seeks give the processor four cache misses to wait for at once.
 */
static void buckets_missing(struct st_bucket *const *b, const uint32_t *stk, uint32_t n,
			    uint32_t *miss, uint32_t (*pos)[AGG_POS_MAX])
{
	const uint32_t *bs[STORE_NLEVELS];
	const int64_t *bv[STORE_NLEVELS];
	size_t bn[STORE_NLEVELS], at[STORE_NLEVELS];
	bool keep[STORE_NLEVELS];
	uint32_t j;
	int l;

	for (l = 0; l < STORE_NLEVELS; l++) {
		bs[l] = b[l]->stk;
		bv[l] = b[l]->val;
		bn[l] = b[l]->n;
		at[l] = 0;
		miss[l] = 0;
		keep[l] = pos != NULL;
	}
	for (j = 0; j < n; j++) {
		/* a repeated stack (another span id) is missing once */
		bool rep = j && stk[j - 1] == stk[j];

#pragma GCC unroll 4
		for (l = 0; l < STORE_NLEVELS; l++) {
			size_t i = bucket_seek(bs[l], bn[l], at[l], stk[j]);

			at[l] = i;
			if (i == bn[l] || bs[l][i] != stk[j]) {
				miss[l] += !rep;
				keep[l] = false;
			} else if (keep[l]) {
				pos[l][j] = (uint32_t)i;
				/* the add comes after the seeks: start loading its line now */
				__builtin_prefetch(&bv[l][i], 1);
			}
		}
	}
}

static void bucket_add_in_place(struct st_bucket *b, const uint32_t *stk, const int64_t *val,
				uint32_t n)
{
	const uint32_t *bs = b->stk;
	int64_t *bv = b->val;
	size_t i = 0, bn = b->n;
	uint32_t j;

	for (j = 0; j < n; j++) {
		i = bucket_seek(bs, bn, i, stk[j]);
		bv[i] += val[j];
	}
}

/*
 * Room in b's lists for need entries (a little more, so that a bucket
 * taking a few new stacks per profile is not copied every time). On
 * failure the lists are unchanged (one may have moved). 0 or -ENOMEM.
 */
static int bucket_reserve(struct st_bucket *b, size_t need)
{
	size_t ncap = need + need / 8 + 4;
	uint32_t *stk;
	int64_t *val;

	if (need <= b->cap)
		return 0;
	if (ncap > UINT32_MAX)
		return -ENOMEM;
	stk = kl_realloc(b->stk, ncap * sizeof(*stk));
	if (!stk)
		return -ENOMEM;
	b->stk = stk;
	val = kl_realloc(b->val, ncap * sizeof(*val));
	if (!val)
		return -ENOMEM;
	b->val = val;
	b->cap = (uint32_t)ncap;
	return 0;
}

/*
 * Merges the sorted pairs, miss of whose stacks b lacks, into b's lists
 * (room reserved) from the back: what precedes the first new stack stays
 * where it is, and the rest of the pairs is added in place.
 */
static void bucket_merge_in_place(struct st_bucket *b, const uint32_t *stk, const int64_t *val,
				  uint32_t n, uint32_t miss)
{
	size_t i = b->n, k = (size_t)b->n + miss;
	uint32_t j = n, *bs = b->stk;
	int64_t *bv = b->val;

	/* while k > i some new stack is left, so some pair is (j > 0) */
	while (k > i) {
		uint32_t s = stk[--j];
		int64_t v = val[j];

		while (j > 0 && stk[j - 1] == s)
			v += val[--j];
		while (i > 0 && bs[i - 1] > s) {
			i--;
			k--;
			bs[k] = bs[i];
			bv[k] = bv[i];
		}
		if (i > 0 && bs[i - 1] == s)
			v += bv[--i];
		k--;
		bs[k] = s;
		bv[k] = v;
	}
	/* k == i: the stacks of pairs [0, j) are all in b[0, i) */
	b->n += miss;
	if (j)
		bucket_add_in_place(b, stk, val, j);
}

/*
 * All allocation happens before any list changes, so that a failure
 * leaves every level as it was and aggregates always equal the raw data.
 * In a steady service most profiles bring no new stack to a bucket: their
 * values are then added in place, at positions found once. New stacks are
 * merged into the bucket's lists where they are (grown with some room),
 * not into new lists: the long levels' buckets hold every stack of days.
 */
int store_agg_add(struct st_series *s, int64_t start, const uint32_t *stk, const int64_t *val,
		  uint32_t n, size_t *added_bytes)
{
	uint32_t miss[STORE_NLEVELS], pos[STORE_NLEVELS][AGG_POS_MAX], j;
	struct st_bucket *b[STORE_NLEVELS];
	int i;

	*added_bytes = 0;
	if (!n)
		return 0;
	/* buckets are created first (an empty bucket is harmless) */
	for (i = 0; i < STORE_NLEVELS; i++) {
		b[i] = bucket_get(&s->lv[i], store_floor_div(start, store_level_ns[i]));
		if (!b[i])
			return -ENOMEM;
	}
	buckets_missing(b, stk, n, miss, n <= AGG_POS_MAX ? pos : NULL);
	for (i = 0; i < STORE_NLEVELS; i++)
		if (miss[i] && bucket_reserve(b[i], (size_t)b[i]->n + miss[i]))
			return -ENOMEM;
	for (i = 0; i < STORE_NLEVELS; i++) {
		if (miss[i]) {
			bucket_merge_in_place(b[i], stk, val, n, miss[i]);
			*added_bytes += miss[i] * (sizeof(uint32_t) + sizeof(int64_t));
		} else if (n <= AGG_POS_MAX) {
			int64_t *bv = b[i]->val;
			const uint32_t *pi = pos[i];

			for (j = 0; j < n; j++)
				bv[pi[j]] += val[j];
		} else {
			bucket_add_in_place(b[i], stk, val, n);
		}
	}
	return 0;
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
