/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query.c - the read side of the store: select (merge the matching
 * profiles of a range into one kl_profile, using the pre-aggregated
 * buckets for the interior of the range and raw profiles at its edges),
 * timelines with group_by, label names and values, series.
 *
 * Every query holds the tenant's read lock while it reads the head.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

void store_set_raw_only(struct kl_store *s, bool on)
{
	s->raw_only = on;
}

/* First profile of s that may overlap a range starting at from. */
static size_t prof_lower(const struct st_series *s, int64_t from)
{
	int64_t key = from > INT64_MIN + s->max_dur + 1 ? from - s->max_dur - 1 : INT64_MIN;
	size_t lo = 0, hi = s->nprof;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->prof[mid].start < key)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* First profile of s starting at or after t. */
static size_t prof_from(const struct st_series *s, int64_t t)
{
	size_t lo = 0, hi = s->nprof;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->prof[mid].start < t)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

bool store_series_has_data(const struct st_series *s, int64_t from, int64_t until)
{
	size_t i;

	if (!s->nprof || s->min_start >= until || KL_MAX(s->max_end, s->min_start + 1) <= from)
		return false;
	for (i = prof_lower(s, from); i < s->nprof && s->prof[i].start < until; i++)
		if (store_prof_overlaps(&s->prof[i], from, until))
			return true;
	return false;
}

/* True if block b may hold profiles overlapping [from, until). */
static bool block_overlaps(const struct st_block *b, int64_t from, int64_t until)
{
	return b->min_time < until && b->max_time > from;
}

static bool part_overlaps(const struct blk_series *bs, int64_t from, int64_t until)
{
	return bs->min_start < until && KL_MAX(bs->max_end, bs->min_start + 1) > from;
}

bool store_series_in_range(const struct st_tenant *t, uint32_t sid, int64_t from, int64_t until)
{
	size_t i;

	if (store_series_has_data(t->series[sid], from, until))
		return true;
	if (sid < t->nfrozen && t->frozen[sid] &&
	    store_series_has_data(t->frozen[sid], from, until))
		return true;
	for (i = 0; i < t->nblocks; i++) {
		const struct blk_series *bs;

		if (!block_overlaps(t->blocks[i], from, until))
			continue;
		bs = store_block_find(t->blocks[i], sid);
		if (bs && part_overlaps(bs, from, until))
			return true;
	}
	return false;
}

/* ---- matching --------------------------------------------------------------- */

/* The matching series with data in the range. */
static int match_range(const struct st_tenant *t, const struct kl_selector *sel, int64_t from,
		       int64_t until, uint32_t **ids, size_t *n)
{
	size_t i, k = 0;
	int rc = store_series_match(t, sel, ids, n);

	if (rc)
		return rc;
	for (i = 0; i < *n; i++)
		if (store_series_in_range(t, (*ids)[i], from, until))
			(*ids)[k++] = (*ids)[i];
	*n = k;
	return 0;
}

/* ---- select ----------------------------------------------------------------- */

/* A dense stack id -> value accumulator with the list of ids touched. */
struct acc {
	const struct st_tenant *t;
	ZSTD_DCtx *dc;
	struct kl_err *err;
	int64_t *v;
	uint8_t *seen;
	uint32_t *touched;
	size_t ntouched, cap;
	size_t nstacks;
	int rc;
};

static inline void acc_add(struct acc *a, uint32_t stk, int64_t val)
{
	if (!a->seen[stk]) {
		if (KL_GROW(a->touched, a->cap, a->ntouched + 1)) {
			a->rc = -ENOMEM;
			return;
		}
		a->seen[stk] = 1;
		a->touched[a->ntouched++] = stk;
	}
	a->v[stk] += val;
}

static void acc_list(struct acc *a, const uint32_t *stk, const int64_t *val, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		acc_add(a, stk[i], val[i]);
}

/*
 * Makes the sections what of s available: a block part reads each section
 * on first use, so a block in the middle of a long range costs one small
 * read (its coarsest aggregates), not all of its data.
 */
static bool need(struct acc *a, struct st_series *s, unsigned what)
{
	int rc;

	if (!s->blk || (s->loaded & what) == what)
		return true;
	rc = store_block_load(a->t, s->blk, s->bs, what, s, a->dc, a->err);
	if (rc && !a->rc)
		a->rc = rc;
	return !rc;
}

/* Makes the raw pairs of profiles [p0, p1) of s available (block parts: their chunks). */
static bool have_raw(struct acc *a, struct st_series *s, size_t p0, size_t p1)
{
	int rc;

	if (!s->blk || (s->loaded & BLK_WANT_RAW))
		return true;
	rc = store_block_load_raw(a->t, s, p0, p1, a->dc, a->err);
	if (rc && !a->rc)
		a->rc = rc;
	return !rc;
}

/* Adds the raw profiles of s starting in [lo, hi). span: only pairs with that span id. */
static void add_raw(struct acc *a, struct st_series *s, int64_t lo, int64_t hi, kl_strid span)
{
	size_t i, j, end;

	/* a block part's profiles start in [min_start, max_end] */
	if (s->blk && (s->bs->min_start >= hi || s->bs->max_end < lo))
		return;
	if (!need(a, s, BLK_WANT_META))
		return;
	i = prof_from(s, lo);
	end = prof_from(s, hi);
	if (i >= end || !have_raw(a, s, i, end))
		return;
	for (; i < end; i++) {
		const struct st_prof *p = &s->prof[i];

		if (!span) {
			/* a profile of no pairs may sit in a series with no pair arrays */
			if (p->npairs)
				acc_list(a, s->stk + p->pair_off, s->val + p->pair_off, p->npairs);
			continue;
		}
		for (j = 0; j < p->nspans; j++) {
			const struct st_span *sp = &s->spans[p->span_off + j];

			if (sp->span == span)
				acc_add(a, s->stk[p->pair_off + sp->pair],
					s->val[p->pair_off + sp->pair]);
		}
	}
}

/* Adds the buckets [i0, i1) of level k. */
static void add_buckets(struct acc *a, struct st_series *s, int k, int64_t i0, int64_t i1)
{
	const struct st_level *lv = &s->lv[k];
	size_t lo = 0, hi;

	if (s->blk && (store_floor_div(s->bs->min_start, store_level_ns[k]) >= i1 ||
		       store_floor_div(s->bs->max_end, store_level_ns[k]) < i0))
		return;
	if (!need(a, s, BLK_WANT_LEVEL(k)))
		return;
	hi = lv->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (lv->b[mid].idx < i0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (; lo < lv->n && lv->b[lo].idx < i1; lo++)
		acc_list(a, lv->b[lo].stk, lv->b[lo].val, lv->b[lo].n);
}

/*
 * Profiles starting in [lo, hi): the coarsest buckets that fit inside,
 * then the same for the two edges at the next finer level, down to the raw
 * profiles. A bucket holds exactly the profiles starting inside it.
 */
static void cover(struct acc *a, struct st_series *s, int64_t lo, int64_t hi, int level)
{
	int64_t res, i0, i1;

	if (lo >= hi)
		return;
	if (level < 0) {
		add_raw(a, s, lo, hi, 0);
		return;
	}
	res = store_level_ns[level];
	i0 = -store_floor_div(-lo, res);	/* ceil */
	i1 = store_floor_div(hi, res);
	if (i0 >= i1) {
		cover(a, s, lo, hi, level - 1);
		return;
	}
	cover(a, s, lo, i0 * res, level - 1);
	add_buckets(a, s, level, i0, i1);
	cover(a, s, i1 * res, hi, level - 1);
}

static void add_series(struct acc *a, struct st_series *s, int64_t from, int64_t until,
		       kl_strid span, bool raw_only)
{
	size_t i;

	/* profiles that started before from but reach into the range */
	if (s->blk && s->bs->min_start >= from)
		i = s->nprof;
	else if (!need(a, s, BLK_WANT_META))
		return;
	else
		i = prof_lower(s, from);
	for (; i < s->nprof && s->prof[i].start < from; i++) {
		const struct st_prof *p = &s->prof[i];

		if (!store_prof_overlaps(p, from, until) || !have_raw(a, s, i, i + 1))
			continue;
		if (span) {
			size_t j;

			for (j = 0; j < p->nspans; j++) {
				const struct st_span *sp = &s->spans[p->span_off + j];

				if (sp->span == span)
					acc_add(a, s->stk[p->pair_off + sp->pair],
						s->val[p->pair_off + sp->pair]);
			}
		} else if (p->npairs) {
			acc_list(a, s->stk + p->pair_off, s->val + p->pair_off, p->npairs);
		}
	}
	if (span)
		add_raw(a, s, from, until, span);
	else
		cover(a, s, from, until, raw_only ? -1 : STORE_NLEVELS - 1);
}

/* Adds series sid from the head and from every block holding part of the range. */
static void add_all(struct acc *a, uint32_t sid, int64_t from, int64_t until, kl_strid span,
		    bool raw_only)
{
	const struct st_tenant *t = a->t;
	size_t i;

	add_series(a, t->series[sid], from, until, span, raw_only);
	if (sid < t->nfrozen && t->frozen[sid])
		add_series(a, t->frozen[sid], from, until, span, raw_only);
	for (i = 0; i < t->nblocks && !a->rc; i++) {
		const struct st_block *b = t->blocks[i];
		const struct blk_series *bs;
		struct st_series part = { 0 };

		if (!block_overlaps(b, from, until))
			continue;
		bs = store_block_find(b, sid);
		if (!bs || !part_overlaps(bs, from, until))
			continue;
		part.blk = b;
		part.bs = bs;
		part.min_start = bs->min_start;
		part.max_end = bs->max_end;
		part.max_dur = bs->max_dur;
		add_series(a, &part, from, until, span, raw_only);
		store_series_data_release(&part);
	}
}

/* The sample type of an empty answer, from a __profile_type__ = matcher. */
static void empty_type(struct kl_profile *p, const struct kl_selector *sel)
{
	const char *pt = sel ? kl_selector_get_eq(sel, "__profile_type__") : NULL;
	const char *f[5] = { 0 };
	size_t len[5] = { 0 };
	int k = 0;

	if (!pt)
		return;
	f[0] = pt;
	for (const char *c = pt; *c; c++)
		if (*c == ':' && k < 4)
			f[++k] = c + 1;
	if (k != 4)
		return;
	for (k = 0; k < 4; k++)
		len[k] = (size_t)(f[k + 1] - f[k] - 1);
	len[4] = strlen(f[4]);
	kl_profile_add_sample_type(p, kl_profile_str(p, f[1], len[1]),
				   kl_profile_str(p, f[2], len[2]));
	p->period_type.type = kl_profile_str(p, f[3], len[3]);
	p->period_type.unit = kl_profile_str(p, f[4], len[4]);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* Output ids of the tenant's objects (0 = not yet, else index + 1). */
struct outmap {
	uint32_t *str, *map, *fn, *loc;
};

static kl_strid out_str(const struct st_tenant *t, struct kl_profile *p, struct outmap *m,
			kl_strid id)
{
	if (!id)
		return 0;
	if (!m->str[id])
		m->str[id] = kl_profile_str(p, kl_strtab_get(t->strs, id),
					    kl_strtab_len(t->strs, id)) + 1;
	return m->str[id] - 1;
}

static uint32_t out_loc(const struct st_tenant *t, struct kl_profile *p, struct outmap *m,
			uint32_t li, struct kl_line *lbuf)
{
	const struct st_location *l = &t->locations[li];
	struct kl_location ol = { .address = l->address, .is_folded = l->is_folded };
	uint32_t j;

	if (m->loc[li])
		return m->loc[li] - 1;
	if (l->mapping) {
		uint32_t mi = l->mapping - 1;

		if (!m->map[mi]) {
			const struct st_mapping *sm = &t->mappings[mi];
			struct kl_mapping om = { .id = p->nmappings + 1, .start = sm->start,
						 .limit = sm->limit, .offset = sm->offset,
						 .flags = sm->flags };

			om.filename = out_str(t, p, m, sm->filename);
			om.build_id = out_str(t, p, m, sm->build_id);
			m->map[mi] = kl_profile_add_mapping(p, &om) + 1;
		}
		ol.mapping = m->map[mi];
	}
	for (j = 0; j < l->nlines; j++) {
		const struct kl_line *sl = &t->lines[l->line_start + j];

		if (!m->fn[sl->function]) {
			const struct st_function *sf = &t->functions[sl->function];
			struct kl_function of = { .id = p->nfunctions + 1,
						  .start_line = sf->start_line };

			of.name = out_str(t, p, m, sf->name);
			of.system_name = out_str(t, p, m, sf->system_name);
			of.filename = out_str(t, p, m, sf->filename);
			m->fn[sl->function] = kl_profile_add_function(p, &of) + 1;
		}
		lbuf[j] = (struct kl_line){ .function = m->fn[sl->function] - 1, .line = sl->line,
					    .column = sl->column };
	}
	ol.id = p->nlocations + 1;
	m->loc[li] = kl_profile_add_location(p, &ol, lbuf, l->nlines) + 1;
	return m->loc[li] - 1;
}

/* Turns the accumulated stacks into samples of p. */
static int build_profile(const struct st_tenant *t, struct acc *a, struct kl_profile *p)
{
	struct outmap m = { 0 };
	size_t nstr = kl_strtab_count(t->strs), i;
	uint32_t maxlines = 1, maxdepth = 1, *locs = NULL;
	struct kl_line *lbuf = NULL;
	int rc = -ENOMEM;

	for (i = 0; i < t->nlocations; i++)
		maxlines = KL_MAX(maxlines, t->locations[i].nlines);
	m.str = kl_calloc(nstr + t->nmappings + t->nfunctions + t->nlocations + 1,
			  sizeof(uint32_t));
	lbuf = kl_malloc(maxlines * sizeof(*lbuf));
	if (!m.str || !lbuf)
		goto out;
	m.map = m.str + nstr;
	m.fn = m.map + t->nmappings;
	m.loc = m.fn + t->nfunctions;
	if (a->ntouched > 1)
		qsort(a->touched, a->ntouched, sizeof(*a->touched), cmp_u32);
	for (i = 0; i < a->ntouched; i++)
		maxdepth = KL_MAX(maxdepth, t->stacks[a->touched[i]].depth);
	locs = kl_malloc(maxdepth * sizeof(*locs));
	if (!locs)
		goto out;
	for (i = 0; i < a->ntouched; i++) {
		uint32_t id = a->touched[i], n = t->stacks[id].depth, k, node;
		int64_t v = a->v[id];

		if (!v)
			continue;
		for (node = id, k = 0; k < n; k++, node = t->stacks[node].parent)
			locs[k] = out_loc(t, p, &m, t->stacks[node].loc, lbuf);
		if (p->failed)
			goto out;
		kl_profile_add_sample(p, locs, n, &v, NULL, 0);
	}
	rc = kl_profile_failed(p) ? -ENOMEM : 0;
out:
	kl_free(m.str);
	kl_free(lbuf);
	kl_free(locs);
	return rc;
}

static kl_strid out_str_plain(const struct st_tenant *t, struct kl_profile *p, kl_strid id)
{
	return id ? kl_profile_str(p, kl_strtab_get(t->strs, id), kl_strtab_len(t->strs, id)) : 0;
}

int kl_store_select(struct kl_store *s, const struct kl_store_query *q, struct kl_profile **out,
		    struct kl_err *err)
{
	struct st_tenant *t = store_tenant_get(s, q->tenant, false);
	struct kl_profile *p = kl_profile_new();
	struct acc a = { 0 };
	uint32_t *ids = NULL;
	size_t n = 0, i;
	const struct st_series *first = NULL;
	kl_strid span = 0;
	int rc = -ENOMEM;
	bool locked = false;

	*out = NULL;
	if (!p)
		goto out;
	p->time_nanos = q->from_ns;
	p->duration_nanos = q->until_ns > q->from_ns ? q->until_ns - q->from_ns : 0;
	if (!t)
		goto empty;
	pthread_rwlock_rdlock(&t->lock);
	locked = true;
	rc = match_range(t, q->sel, q->from_ns, q->until_ns, &ids, &n);
	if (rc)
		goto out;
	for (i = 0; i < n; i++) {
		const struct st_series *se = t->series[ids[i]];

		if (!first)
			first = se;
		else if (strcmp(first->ptype, se->ptype)) {
			rc = kl_errf(err, -KL_EUSAGE,
				     "selector matches 2 profile types (%s and %s), "
				     "add __profile_type__ or a type id", first->ptype, se->ptype);
			goto out;
		}
	}
	if (!first)
		goto empty;
	if (q->span_id) {
		int64_t sid = kl_strtab_find(t->strs, q->span_id, strlen(q->span_id));

		if (sid <= 0)
			n = 0;
		span = sid > 0 ? (kl_strid)sid : 0;
	}
	if (t->nstacks * sizeof(int64_t) > s->o.query_memory_limit) {
		rc = kl_errf(err, -KL_ELIMIT, "query needs more than the query memory limit "
			     "(%zu bytes)", s->o.query_memory_limit);
		goto out;
	}
	rc = -ENOMEM;
	a.t = t;
	a.err = err;
	a.nstacks = t->nstacks;
	a.v = kl_calloc(t->nstacks, sizeof(*a.v));
	a.seen = kl_calloc(t->nstacks, 1);
	a.dc = t->nblocks ? ZSTD_createDCtx() : NULL;
	if (!a.v || !a.seen || (t->nblocks && !a.dc))
		goto out;
	for (i = 0; i < n && !a.rc; i++)
		add_all(&a, ids[i], q->from_ns, q->until_ns, span, s->raw_only);
	rc = a.rc;
	if (rc)
		goto out;
	/* a stack costs about 100 bytes in the output profile */
	if (a.ntouched * 100 + t->nstacks * sizeof(int64_t) > s->o.query_memory_limit) {
		rc = kl_errf(err, -KL_ELIMIT, "query result over the query memory limit "
			     "(%zu bytes)", s->o.query_memory_limit);
		goto out;
	}
	kl_profile_add_sample_type(p, out_str_plain(t, p, first->type),
				   out_str_plain(t, p, first->unit));
	p->period_type.type = out_str_plain(t, p, first->period_type);
	p->period_type.unit = out_str_plain(t, p, first->period_unit);
	p->period = first->period;
	rc = build_profile(t, &a, p);
	if (rc)
		goto out;
	goto done;
empty:
	empty_type(p, q->sel);
done:
	rc = kl_profile_failed(p) ? -ENOMEM : 0;
	if (!rc) {
		*out = p;
		p = NULL;
	}
out:
	if (locked)
		pthread_rwlock_unlock(&t->lock);
	if (rc == -ENOMEM && !a.rc)
		kl_errf(err, rc, "store: out of memory");
	kl_profile_free(p);
	kl_free(ids);
	ZSTD_freeDCtx(a.dc);
	kl_free(a.v);
	kl_free(a.seen);
	kl_free(a.touched);
	return rc;
}

/* ---- timeline ----------------------------------------------------------------- */

struct tl_group {
	const char *name;	/* borrowed from a series' labels */
	int64_t *values;
	int64_t total;
};

static int cmp_group(const void *a, const void *b)
{
	const struct kl_store_timeline *x = a, *y = b;

	if (x->total != y->total)
		return x->total > y->total ? -1 : 1;
	return strcmp(x->group ? x->group : "", y->group ? y->group : "");
}

/* The value of profile p of s, only the pairs of span when span is set. */
static int64_t prof_value(const struct st_series *s, const struct st_prof *p, kl_strid span)
{
	int64_t v = 0;
	uint32_t j;

	if (!span)
		return p->total;
	for (j = 0; j < p->nspans; j++)
		if (s->spans[p->span_off + j].span == span)
			v += s->val[p->pair_off + s->spans[p->span_off + j].pair];
	return v;
}

/* Adds the profiles of s overlapping the query to the buckets of tl. */
static void tl_add(struct kl_store_timeline *tl, const struct st_series *s,
		   const struct kl_store_query *q, int64_t start, int64_t step_ns, size_t nb,
		   kl_strid span)
{
	size_t k;

	for (k = prof_lower(s, q->from_ns); k < s->nprof && s->prof[k].start < q->until_ns; k++) {
		const struct st_prof *p = &s->prof[k];
		int64_t b, v;

		if (!store_prof_overlaps(p, q->from_ns, q->until_ns))
			continue;
		b = (KL_MAX(p->start, start) - start) / step_ns;
		v = prof_value(s, p, span);
		tl->values[KL_MIN((size_t)b, nb - 1)] += v;
		tl->total += v;
	}
}

int kl_store_timeline(struct kl_store *s, const struct kl_store_query *q, int64_t step_ns,
		      const char *group_by, struct kl_store_timeline **out, size_t *nout,
		      struct kl_err *err)
{
	struct st_tenant *t = store_tenant_get(s, q->tenant, false);
	struct kl_store_timeline *g = NULL;
	size_t ng = 0, gcap = 0, n = 0, i, k, nb;
	uint32_t *ids = NULL;
	int64_t start, span_range;
	kl_strid span = 0;
	bool locked = false, nospan = false;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if (step_ns < INT64_C(1000000000))
		step_ns = INT64_C(1000000000);
	if (q->until_ns <= q->from_ns)
		return kl_errf(err, -KL_EUSAGE, "timeline: until must be after from");
	start = store_floor_div(q->from_ns, step_ns) * step_ns;
	span_range = q->until_ns - start;
	if (span_range / step_ns > 10000)
		step_ns *= span_range / step_ns / 10000 + 1;
	start = store_floor_div(q->from_ns, step_ns) * step_ns;
	nb = (size_t)((q->until_ns - start + step_ns - 1) / step_ns);
	if (!group_by) {
		/* one timeline even without data */
		g = kl_calloc(1, sizeof(*g));
		if (!g || !(g->values = kl_calloc(nb, sizeof(int64_t))))
			goto nomem;
		g->start_ns = start;
		g->step_ns = step_ns;
		g->n = nb;
		ng = gcap = 1;
	}
	if (!t)
		goto done;
	pthread_rwlock_rdlock(&t->lock);
	locked = true;
	if (q->span_id) {
		int64_t sid = kl_strtab_find(t->strs, q->span_id, strlen(q->span_id));

		span = sid > 0 ? (kl_strid)sid : 0;
		nospan = sid <= 0;
	}
	rc = nospan ? 0 : match_range(t, q->sel, q->from_ns, q->until_ns, &ids, &n);
	if (rc)
		goto fail;
	for (i = 0; i < n; i++) {
		const struct st_series *se = t->series[ids[i]];
		struct kl_store_timeline *tl = g;

		if (group_by) {
			const char *v = kl_labels_get(&se->labels, group_by);

			if (!v)
				v = "";
			for (k = 0; k < ng; k++)
				if (!strcmp(g[k].group, v))
					break;
			if (k == ng) {
				if (KL_GROW(g, gcap, ng + 1))
					goto nomem;
				memset(&g[ng], 0, sizeof(*g));
				g[ng].group = kl_strndup(v, strlen(v));
				g[ng].values = kl_calloc(nb, sizeof(int64_t));
				g[ng].start_ns = start;
				g[ng].step_ns = step_ns;
				g[ng].n = nb;
				ng++;
				if (!g[k].group || !g[k].values)
					goto nomem;
			}
			tl = &g[k];
		}
		tl_add(tl, se, q, start, step_ns, nb, span);
		if (ids[i] < t->nfrozen && t->frozen[ids[i]])
			tl_add(tl, t->frozen[ids[i]], q, start, step_ns, nb, span);
		for (k = 0; k < t->nblocks; k++) {
			const struct st_block *b = t->blocks[k];
			const struct blk_series *bs;
			struct st_series part = { 0 };

			if (!block_overlaps(b, q->from_ns, q->until_ns))
				continue;
			bs = store_block_find(b, ids[i]);
			if (!bs || !part_overlaps(bs, q->from_ns, q->until_ns))
				continue;
			rc = store_block_load(t, b, bs,
					      BLK_WANT_META | (span ? BLK_WANT_RAW : 0), &part,
					      NULL, err);
			if (!rc)
				tl_add(tl, &part, q, start, step_ns, nb, span);
			store_series_data_release(&part);
			if (rc)
				goto fail;
		}
	}
done:
	if (locked)
		pthread_rwlock_unlock(&t->lock);
	locked = false;
	if (ng > 1)
		qsort(g, ng, sizeof(*g), cmp_group);
	kl_free(ids);
	*out = g;
	*nout = ng;
	return 0;
nomem:
	rc = kl_errf(err, -ENOMEM, "store: out of memory");
fail:
	if (locked)
		pthread_rwlock_unlock(&t->lock);
	kl_store_timelines_free(g, ng);
	kl_free(ids);
	return rc;
}

void kl_store_timelines_free(struct kl_store_timeline *t, size_t n)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < n; i++) {
		kl_free(t[i].group);
		kl_free(t[i].values);
	}
	kl_free(t);
}

/* ---- labels and series ------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorts v, drops duplicates and hands out owned copies in *out. */
static int strings_out(const char **v, size_t n, char ***out, size_t *nout)
{
	size_t i, k = 0;
	char **r;

	if (n > 1)
		qsort(v, n, sizeof(*v), cmp_str);
	r = kl_calloc(n + 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		if (k && !strcmp(r[k - 1], v[i]))
			continue;
		r[k] = kl_strndup(v[i], strlen(v[i]));
		if (!r[k++]) {
			kl_store_strings_free(r, k);
			return -ENOMEM;
		}
	}
	*out = r;
	*nout = k;
	return 0;
}

/* Label names (name NULL) or values of name over the matching series with data. */
static int label_query(struct kl_store *s, const char *tenant, const char *name,
		       const struct kl_selector *sel, int64_t from, int64_t until, char ***out,
		       size_t *nout, struct kl_err *err)
{
	struct st_tenant *t = store_tenant_get(s, tenant, false);
	const char **v = NULL;
	size_t nv = 0, cap = 0, n = 0, i, k;
	uint32_t *ids = NULL;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if (!t)
		return strings_out(v, 0, out, nout) ? kl_errf(err, -ENOMEM, "store: out of memory")
						    : 0;
	pthread_rwlock_rdlock(&t->lock);
	rc = match_range(t, sel, from, until, &ids, &n);
	for (i = 0; i < n && !rc; i++) {
		const struct kl_labels *ls = &t->series[ids[i]]->labels;

		for (k = 0; k < ls->n && !rc; k++) {
			if (name && strcmp(ls->v[k].name, name))
				continue;
			if (KL_GROW(v, cap, nv + 1))
				rc = -ENOMEM;
			else
				v[nv++] = name ? ls->v[k].value : ls->v[k].name;
		}
	}
	if (!rc)
		rc = strings_out(v, nv, out, nout);
	pthread_rwlock_unlock(&t->lock);
	kl_free(v);
	kl_free(ids);
	if (rc)
		kl_errf(err, rc, "store: out of memory");
	return rc;
}

int kl_store_label_names(struct kl_store *s, const char *tenant, const struct kl_selector *sel,
			 int64_t from_ns, int64_t until_ns, char ***out, size_t *n,
			 struct kl_err *err)
{
	return label_query(s, tenant, NULL, sel, from_ns, until_ns, out, n, err);
}

int kl_store_label_values(struct kl_store *s, const char *tenant, const char *name,
			  const struct kl_selector *sel, int64_t from_ns, int64_t until_ns,
			  char ***out, size_t *n, struct kl_err *err)
{
	if (!name)
		return kl_errf(err, -KL_EUSAGE, "label values: no label name");
	return label_query(s, tenant, name, sel, from_ns, until_ns, out, n, err);
}

void kl_store_strings_free(char **v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		kl_free(v[i]);
	kl_free(v);
}

struct keyed {
	char *key;
	const struct kl_labels *ls;
};

static int cmp_keyed(const void *a, const void *b)
{
	return strcmp(((const struct keyed *)a)->key, ((const struct keyed *)b)->key);
}

int kl_store_series(struct kl_store *s, const char *tenant, const struct kl_selector *sel,
		    int64_t from_ns, int64_t until_ns, struct kl_labels **out, size_t *nout,
		    struct kl_err *err)
{
	struct st_tenant *t = store_tenant_get(s, tenant, false);
	struct keyed *kv = NULL;
	struct kl_labels *r = NULL;
	uint32_t *ids = NULL;
	size_t n = 0, i, nk = 0;
	int rc = 0;

	*out = NULL;
	*nout = 0;
	if (!t)
		return 0;
	pthread_rwlock_rdlock(&t->lock);
	rc = match_range(t, sel, from_ns, until_ns, &ids, &n);
	if (rc)
		goto out;
	rc = -ENOMEM;
	kv = kl_calloc(n + 1, sizeof(*kv));
	r = kl_calloc(n + 1, sizeof(*r));
	if (!kv || !r)
		goto out;
	for (nk = 0; nk < n; nk++) {
		struct kl_buf b = KL_BUF_INIT;

		kl_series_key(&t->series[ids[nk]]->labels, &b);
		if (kl_buf_error(&b) || !b.data) {
			kl_buf_release(&b);
			if (!kl_buf_error(&b) && !b.data) {
				kv[nk].key = kl_strndup("", 0);
				if (kv[nk].key)
					goto have;
			}
			goto out;
		}
		kv[nk].key = kl_buf_detach(&b, NULL);
have:
		kv[nk].ls = &t->series[ids[nk]]->labels;
	}
	if (n > 1)
		qsort(kv, n, sizeof(*kv), cmp_keyed);
	for (i = 0; i < n; i++)
		if (kl_labels_copy(&r[i], kv[i].ls)) {
			kl_store_series_free(r, i + 1);
			r = NULL;
			goto out;
		}
	*out = r;
	*nout = n;
	r = NULL;
	rc = 0;
out:
	pthread_rwlock_unlock(&t->lock);
	for (i = 0; kv && i < nk; i++)
		kl_free(kv[i].key);
	kl_free(kv);
	kl_free(r);
	kl_free(ids);
	if (rc)
		kl_errf(err, rc, "store: out of memory");
	return rc;
}

void kl_store_series_free(struct kl_labels *v, size_t n)
{
	size_t i;

	if (!v)
		return;
	for (i = 0; i < n; i++)
		kl_labels_release(&v[i]);
	kl_free(v);
}
