/* SPDX-License-Identifier: Apache-2.0 */
/*
 * head.c - the in-memory part of a tenant: intern tables for strings,
 * mappings, functions and locations, the parent-pointer stack tree, the
 * series table with its inverted index (label pair -> series ids), and the
 * ingest of one series profile into (stack id, value) pairs.
 *
 * Sections: tenants, intern tables, stacks, series and postings, ingest,
 * publish. Callers hold the tenant's write lock for every change.
 */
#include <stdlib.h>
#include <string.h>

#include "store_internal.h"

/* ---- tenants -------------------------------------------------------------- */

struct st_tenant *store_tenant_new(const char *name)
{
	struct st_tenant *t = kl_calloc(1, sizeof(*t));
	pthread_rwlockattr_t attr;

	if (!t)
		return NULL;
	t->name = kl_strndup(name, strlen(name));
	t->strs = kl_strtab_new();
	t->stacks = kl_calloc(16, sizeof(*t->stacks));
	t->stacks_cap = 16;
	if (!t->name || !t->strs || !t->stacks || kl_hindex_init(&t->mapping_ix, 0) ||
	    kl_hindex_init(&t->function_ix, 0) || kl_hindex_init(&t->location_ix, 0) ||
	    kl_hindex_init(&t->child_ix, 0) || kl_hindex_init(&t->full_ix, 0) ||
	    kl_hindex_init(&t->series_ix, 0) || kl_hindex_init(&t->posting_ix, 0))
		goto fail;
	t->head_min = INT64_MAX;
	t->head_max = INT64_MIN;
	/* the root node: the empty stack */
	t->stacks[0] = (struct st_stack){ .path = STORE_PATH_ROOT, .parent = 0, .loc = UINT32_MAX,
					  .depth = 0 };
	t->nstacks = 1;
	/* writers first: a stream of queries must not starve ingest */
	pthread_rwlockattr_init(&attr);
	pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
	pthread_rwlock_init(&t->lock, &attr);
	pthread_rwlockattr_destroy(&attr);
	return t;
fail:
	kl_hindex_release(&t->mapping_ix);
	kl_hindex_release(&t->function_ix);
	kl_hindex_release(&t->location_ix);
	kl_hindex_release(&t->child_ix);
	kl_hindex_release(&t->full_ix);
	kl_hindex_release(&t->series_ix);
	kl_hindex_release(&t->posting_ix);
	kl_free(t->stacks);
	kl_strtab_free(t->strs);
	kl_free(t->name);
	kl_free(t);
	return NULL;
}

static void series_free(struct st_series *s)
{
	if (!s)
		return;
	kl_labels_release(&s->labels);
	kl_free(s->prof);
	kl_free(s->stk);
	kl_free(s->val);
	kl_free(s->spans);
	store_agg_release(s);
	kl_free(s);
}

void store_tenant_free(struct st_tenant *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->nseries; i++) {
		series_free(t->series[i]);
		kl_free(t->series_key[i]);
	}
	for (i = 0; i < t->npostings; i++)
		kl_free(t->postings[i].ids);
	for (i = 0; i < t->nblocks; i++)
		store_block_free(t->blocks[i]);
	store_frozen_free(t);
	kl_free(t->blocks);
	kl_free(t->series);
	kl_free(t->series_key);
	kl_free(t->postings);
	kl_free(t->mappings);
	kl_free(t->functions);
	kl_free(t->locations);
	kl_free(t->lines);
	kl_free(t->stacks);
	kl_hindex_release(&t->mapping_ix);
	kl_hindex_release(&t->function_ix);
	kl_hindex_release(&t->location_ix);
	kl_hindex_release(&t->child_ix);
	kl_hindex_release(&t->full_ix);
	kl_hindex_release(&t->series_ix);
	kl_hindex_release(&t->posting_ix);
	kl_strtab_free(t->strs);
	pthread_rwlock_destroy(&t->lock);
	kl_free(t->name);
	kl_free(t);
}

struct st_tenant *store_tenant_get(struct kl_store *s, const char *name, bool create)
{
	struct st_tenant *t = NULL;
	size_t i;

	pthread_rwlock_rdlock(&s->tlock);
	for (i = 0; i < s->ntenants; i++)
		if (!strcmp(s->tenants[i]->name, name)) {
			t = s->tenants[i];
			break;
		}
	pthread_rwlock_unlock(&s->tlock);
	if (t || !create)
		return t;

	pthread_rwlock_wrlock(&s->tlock);
	for (i = 0; i < s->ntenants; i++)
		if (!strcmp(s->tenants[i]->name, name)) {
			t = s->tenants[i];
			goto out;
		}
	if (KL_GROW(s->tenants, s->tenants_cap, s->ntenants + 1))
		goto out;
	t = store_tenant_new(name);
	if (t)
		s->tenants[s->ntenants++] = t;
out:
	pthread_rwlock_unlock(&s->tlock);
	return t;
}

void store_marks_get(const struct st_tenant *t, struct st_marks *m)
{
	m->strings = kl_strtab_count(t->strs);
	m->mappings = (uint32_t)t->nmappings;
	m->functions = (uint32_t)t->nfunctions;
	m->locations = (uint32_t)t->nlocations;
	m->stacks = (uint32_t)t->nstacks;
	m->series = (uint32_t)t->nseries;
}

/* ---- intern tables -------------------------------------------------------- */

static uint64_t hash_u64s(const uint64_t *v, size_t n)
{
	return kl_hash(v, n * sizeof(*v));
}

/*
 * The find_* functions look an entry up without changing anything (so
 * under the tenant's read lock too): its index, or KL_HINDEX_NONE with *p
 * left where the entry would go, for the store_intern_* that inserts it.
 */
static uint32_t find_mapping(const struct st_tenant *t, const struct st_mapping *m,
			     struct kl_hindex_probe *p)
{
	uint64_t k[6] = { m->start, m->limit, m->offset, m->filename, m->build_id, m->flags };
	uint32_t i;

	for (i = kl_hindex_first(&t->mapping_ix, hash_u64s(k, 6), p); i != KL_HINDEX_NONE;
	     i = kl_hindex_next(&t->mapping_ix, p)) {
		const struct st_mapping *e = &t->mappings[i];

		if (e->start == m->start && e->limit == m->limit && e->offset == m->offset &&
		    e->filename == m->filename && e->build_id == m->build_id &&
		    e->flags == m->flags)
			break;
	}
	return i;
}

int store_intern_mapping(struct st_tenant *t, const struct st_mapping *m, uint32_t *id)
{
	struct kl_hindex_probe p;
	uint32_t i = find_mapping(t, m, &p);

	if (i != KL_HINDEX_NONE) {
		*id = i;
		return 0;
	}
	if (KL_GROW(t->mappings, t->mappings_cap, t->nmappings + 1))
		return -ENOMEM;
	if (kl_hindex_insert_at(&t->mapping_ix, &p, (uint32_t)t->nmappings))
		return -ENOMEM;
	t->mappings[t->nmappings] = *m;
	*id = (uint32_t)t->nmappings++;
	t->bytes += sizeof(*m) + 16;
	return 0;
}

static uint32_t find_function(const struct st_tenant *t, const struct st_function *f,
			      struct kl_hindex_probe *p)
{
	uint64_t k[4] = { f->name, f->system_name, f->filename, (uint64_t)f->start_line };
	uint32_t i;

	for (i = kl_hindex_first(&t->function_ix, hash_u64s(k, 4), p); i != KL_HINDEX_NONE;
	     i = kl_hindex_next(&t->function_ix, p)) {
		const struct st_function *e = &t->functions[i];

		if (e->name == f->name && e->system_name == f->system_name &&
		    e->filename == f->filename && e->start_line == f->start_line)
			break;
	}
	return i;
}

int store_intern_function(struct st_tenant *t, const struct st_function *f, uint32_t *id)
{
	struct kl_hindex_probe p;
	uint32_t i = find_function(t, f, &p);

	if (i != KL_HINDEX_NONE) {
		*id = i;
		return 0;
	}
	if (KL_GROW(t->functions, t->functions_cap, t->nfunctions + 1))
		return -ENOMEM;
	if (kl_hindex_insert_at(&t->function_ix, &p, (uint32_t)t->nfunctions))
		return -ENOMEM;
	t->functions[t->nfunctions] = *f;
	*id = (uint32_t)t->nfunctions++;
	t->bytes += sizeof(*f) + 16;
	return 0;
}

static uint64_t location_hash(const struct st_location *l, const struct kl_line *lines)
{
	uint64_t h = kl_hash_u64(l->address ^ ((uint64_t)l->mapping << 1) ^ l->is_folded);
	uint32_t i;

	h ^= kl_hash_u64(l->nlines + 0x9e37u);
	for (i = 0; i < l->nlines; i++)
		h = kl_hash_u64(h ^ kl_hash_u64(((uint64_t)lines[i].function << 32) ^
						 (uint64_t)lines[i].line) ^
				(uint64_t)lines[i].column);
	return h;
}

static uint32_t find_location(const struct st_tenant *t, const struct st_location *l,
			      const struct kl_line *lines, struct kl_hindex_probe *p)
{
	uint32_t i, j;

	for (i = kl_hindex_first(&t->location_ix, location_hash(l, lines), p);
	     i != KL_HINDEX_NONE; i = kl_hindex_next(&t->location_ix, p)) {
		const struct st_location *e = &t->locations[i];
		const struct kl_line *el = t->lines + e->line_start;

		if (e->address != l->address || e->mapping != l->mapping ||
		    e->is_folded != l->is_folded || e->nlines != l->nlines)
			continue;
		for (j = 0; j < l->nlines; j++)
			if (el[j].function != lines[j].function || el[j].line != lines[j].line ||
			    el[j].column != lines[j].column)
				break;
		if (j == l->nlines)
			break;
	}
	return i;
}

int store_intern_location(struct st_tenant *t, const struct st_location *l,
			  const struct kl_line *lines, uint32_t *id)
{
	struct kl_hindex_probe p;
	uint32_t i = find_location(t, l, lines, &p);

	if (i != KL_HINDEX_NONE) {
		*id = i;
		return 0;
	}
	if (KL_GROW(t->locations, t->locations_cap, t->nlocations + 1) ||
	    KL_GROW(t->lines, t->lines_cap, t->nlines + l->nlines + 1))
		return -ENOMEM;
	if (kl_hindex_insert_at(&t->location_ix, &p, (uint32_t)t->nlocations))
		return -ENOMEM;
	t->locations[t->nlocations] = *l;
	t->locations[t->nlocations].line_start = (uint32_t)t->nlines;
	if (l->nlines)
		memcpy(t->lines + t->nlines, lines, l->nlines * sizeof(*lines));
	t->nlines += l->nlines;
	*id = (uint32_t)t->nlocations++;
	t->bytes += sizeof(*l) + 16 + l->nlines * sizeof(*lines);
	return 0;
}

/* ---- stacks ------------------------------------------------------------------ */

static uint64_t child_hash(uint32_t parent, uint32_t loc)
{
	return kl_hash_u64(((uint64_t)parent << 32) | loc);
}

int store_stack_child(struct st_tenant *t, uint32_t parent, uint32_t loc, uint32_t *id)
{
	struct kl_hindex_probe p;
	uint32_t i;

	for (i = kl_hindex_first(&t->child_ix, child_hash(parent, loc), &p); i != KL_HINDEX_NONE;
	     i = kl_hindex_next(&t->child_ix, &p))
		if (t->stacks[i].parent == parent && t->stacks[i].loc == loc) {
			*id = i;
			return 0;
		}
	if (t->nstacks >= KL_HINDEX_MAX_INDEX)
		return -KL_ELIMIT;
	if (KL_GROW(t->stacks, t->stacks_cap, t->nstacks + 1))
		return -ENOMEM;
	if (kl_hindex_insert_at(&t->child_ix, &p, (uint32_t)t->nstacks))
		return -ENOMEM;
	t->stacks[t->nstacks] = (struct st_stack){
		.path = store_path_step(t->stacks[parent].path, loc), .parent = parent, .loc = loc,
		.depth = t->stacks[parent].depth + 1,
	};
	*id = (uint32_t)t->nstacks++;
	t->bytes += sizeof(struct st_stack) + 16;
	return 0;
}

/*
 * Interning walks the tree from the root, one probe per frame. A second
 * index on whole stacks makes the common case (a stack seen before) one
 * probe: its key is the 64-bit path hash of the locations, computed
 * without touching memory, and a candidate is accepted when its path hash,
 * depth and leaf location all agree. Two different stacks of one tenant
 * would have to collide on 64 bits of xxh3 with the same depth and leaf
 * (below 3e-8 for a million stacks); walking the parent pointers instead
 * cost a cache miss per frame and a third of the append time.
 */
static uint32_t find_stack(const struct st_tenant *t, const uint32_t *locs, uint32_t n,
			   uint64_t h, struct kl_hindex_probe *p)
{
	uint32_t i;

	for (i = kl_hindex_first(&t->full_ix, h, p); i != KL_HINDEX_NONE;
	     i = kl_hindex_next(&t->full_ix, p)) {
		const struct st_stack *c = &t->stacks[i];

		if (c->path == h && c->depth == n && c->loc == locs[0])
			break;
	}
	return i;
}

static int intern_stack_hashed(struct st_tenant *t, const uint32_t *locs, uint32_t n, uint64_t h,
			       uint32_t *id)
{
	struct kl_hindex_probe p;
	uint32_t i = find_stack(t, locs, n, h, &p), node, k;
	int rc;

	if (i != KL_HINDEX_NONE) {
		*id = i;
		return 0;
	}
	for (node = 0, k = n; k > 0; k--) {
		rc = store_stack_child(t, node, locs[k - 1], &node);
		if (rc)
			return rc;
	}
	/* store_stack_child changed only child_ix, so the probe on full_ix is still valid */
	if (kl_hindex_insert_at(&t->full_ix, &p, node))
		return -ENOMEM;
	*id = node;
	return 0;
}

int store_intern_stack(struct st_tenant *t, const uint32_t *locs, uint32_t n, uint32_t *id)
{
	uint64_t h = STORE_PATH_ROOT;
	uint32_t k;

	if (n == 0) {
		*id = 0;
		return 0;
	}
	for (k = n; k > 0; k--)
		h = store_path_step(h, locs[k - 1]);
	return intern_stack_hashed(t, locs, n, h, id);
}

/* ---- series and postings ------------------------------------------------- */

static uint64_t posting_hash(kl_strid name, kl_strid value)
{
	return kl_hash_u64(((uint64_t)name << 32) | value);
}

static struct st_posting *posting_find(const struct st_tenant *t, kl_strid name, kl_strid value)
{
	struct kl_hindex_probe p;
	uint32_t i;

	for (i = kl_hindex_first(&t->posting_ix, posting_hash(name, value), &p);
	     i != KL_HINDEX_NONE; i = kl_hindex_next(&t->posting_ix, &p))
		if (t->postings[i].name == name && t->postings[i].value == value)
			return &t->postings[i];
	return NULL;
}

static int posting_add(struct st_tenant *t, kl_strid name, kl_strid value, uint32_t sid)
{
	struct kl_hindex_probe p;
	struct st_posting *e = NULL;
	uint32_t i;

	for (i = kl_hindex_first(&t->posting_ix, posting_hash(name, value), &p);
	     i != KL_HINDEX_NONE; i = kl_hindex_next(&t->posting_ix, &p))
		if (t->postings[i].name == name && t->postings[i].value == value) {
			e = &t->postings[i];
			break;
		}
	if (!e) {
		if (KL_GROW(t->postings, t->postings_cap, t->npostings + 1))
			return -ENOMEM;
		if (kl_hindex_insert_at(&t->posting_ix, &p, (uint32_t)t->npostings))
			return -ENOMEM;
		e = &t->postings[t->npostings++];
		*e = (struct st_posting){ .name = name, .value = value };
	}
	if (KL_GROW(e->ids, e->cap, e->n + 1))
		return -ENOMEM;
	e->ids[e->n++] = sid;
	t->bytes += sizeof(uint32_t);
	return 0;
}

/*
 * Writes the key of ls (st_lkey) into buf if it fits in cap bytes; returns
 * its length either way.
 */
static size_t labels_key(const struct kl_labels *ls, char *buf, size_t cap)
{
	size_t len = 0, i, a, b;

	for (i = 0; i < ls->n; i++) {
		a = strlen(ls->v[i].name) + 1;
		b = strlen(ls->v[i].value) + 1;
		if (len + a + b <= cap) {
			memcpy(buf + len, ls->v[i].name, a);
			memcpy(buf + len + a, ls->v[i].value, b);
		}
		len += a + b;
	}
	return len;
}

/* The key of ls in a new st_lkey, NULL on out of memory (or a key of 4 GiB). */
static struct st_lkey *lkey_new(const struct kl_labels *ls)
{
	size_t len = labels_key(ls, NULL, 0);
	struct st_lkey *k;

	if (len > UINT32_MAX)
		return NULL;
	k = kl_malloc(sizeof(*k) + len + 1);
	if (!k)
		return NULL;
	k->len = (uint32_t)labels_key(ls, k->s, len);
	return k;
}

/*
 * Series are found by their key: built on the stack (labels of a few
 * hundred bytes), hashed once, compared with one memcmp. Hashing and
 * comparing each name and value on its own, through the series' labels,
 * cost a cache miss per string.
 */
int store_series_get(struct st_tenant *t, const struct kl_labels *labels, uint32_t max_series,
		     bool find_only, uint32_t *id, bool *created)
{
	char stackbuf[1024], *key = stackbuf;
	struct st_lkey *lk = NULL;
	struct kl_hindex_probe p;
	struct st_series *s = NULL;
	size_t len, k;
	uint64_t h;
	uint32_t i;
	int rc = -ENOMEM;

	*created = false;
	len = labels_key(labels, stackbuf, sizeof(stackbuf));
	if (len > sizeof(stackbuf)) {
		key = kl_malloc(len);
		if (!key)
			return -ENOMEM;
		labels_key(labels, key, len);
	}
	h = kl_hash(key, len);
	for (i = kl_hindex_first(&t->series_ix, h, &p); i != KL_HINDEX_NONE;
	     i = kl_hindex_next(&t->series_ix, &p)) {
		const struct st_lkey *e = t->series_key[i];

		if (e->len == len && !memcmp(e->s, key, len)) {
			*id = i;
			rc = 0;
			goto out;
		}
	}
	if (find_only) {
		rc = -EAGAIN;
		goto out;
	}
	if (max_series && t->nseries >= max_series) {
		rc = -KL_ELIMIT;
		goto out;
	}
	if (KL_GROW(t->series, t->series_cap, t->nseries + 1) ||
	    KL_GROW(t->series_key, t->series_key_cap, t->nseries + 1))
		goto out;
	s = kl_calloc(1, sizeof(*s));
	if (!s || kl_labels_copy(&s->labels, labels))
		goto fail;
	kl_labels_sort(&s->labels);
	/* the key of the labels as stored (sorted), as before the key existed */
	lk = lkey_new(&s->labels);
	if (!lk)
		goto fail;
	s->hash = h;
	s->ptype = kl_labels_get(&s->labels, "__profile_type__");
	if (!s->ptype)
		s->ptype = "";
	s->min_start = INT64_MAX;
	s->max_end = INT64_MIN;
	/* postings first: a failure there leaves no series behind */
	for (k = 0; k < s->labels.n; k++) {
		kl_strid n = kl_strtab_intern_cstr(t->strs, s->labels.v[k].name);
		kl_strid v = kl_strtab_intern_cstr(t->strs, s->labels.v[k].value);

		if (kl_strtab_failed(t->strs) ||
		    posting_add(t, n, v, (uint32_t)t->nseries))
			goto fail_postings;
	}
	if (kl_hindex_insert_at(&t->series_ix, &p, (uint32_t)t->nseries))
		goto fail_postings;
	t->series[t->nseries] = s;
	t->series_key[t->nseries] = lk;
	*id = (uint32_t)t->nseries++;
	*created = true;
	t->bytes += sizeof(*s) + 64 * s->labels.n + sizeof(*lk) + lk->len;
	rc = 0;
	goto out;
fail_postings:
	/* undo the postings of this series (ids are the last entry when present) */
	for (i = 0; i < t->npostings; i++)
		if (t->postings[i].n && t->postings[i].ids[t->postings[i].n - 1] == t->nseries)
			t->postings[i].n--;
fail:
	series_free(s);
	kl_free(lk);
out:
	if (key != stackbuf)
		kl_free(key);
	return rc;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/*
 * Candidates come from the shortest posting list among the = matchers with
 * a non-empty value (a series must carry that pair); every candidate is
 * then checked with the full selector, so !=, =~ and !~ are exact.
 */
int store_series_match(const struct st_tenant *t, const struct kl_selector *sel, uint32_t **ids,
		       size_t *n)
{
	const uint32_t *cand = NULL;
	size_t ncand = t->nseries, i, k = 0;
	bool all = true;
	uint32_t *out;

	*ids = NULL;
	*n = 0;
	for (i = 0; sel && i < sel->n; i++) {
		const struct kl_matcher *m = &sel->m[i];
		int64_t nid, vid;
		struct st_posting *pl;

		if (m->op != KL_MATCH_EQ || !m->value[0])
			continue;
		nid = kl_strtab_find(t->strs, m->name, strlen(m->name));
		vid = kl_strtab_find(t->strs, m->value, strlen(m->value));
		pl = nid < 0 || vid < 0 ? NULL : posting_find(t, (kl_strid)nid, (kl_strid)vid);
		if (!pl)
			return 0;
		if (all || pl->n < ncand) {
			cand = pl->ids;
			ncand = pl->n;
			all = false;
		}
	}
	if (!ncand)
		return 0;
	out = kl_malloc(ncand * sizeof(*out));
	if (!out)
		return -ENOMEM;
	for (i = 0; i < ncand; i++) {
		uint32_t sid = all ? (uint32_t)i : cand[i];

		if (!sel || kl_selector_match(sel, &t->series[sid]->labels))
			out[k++] = sid;
	}
	if (!all && k > 1)
		qsort(out, k, sizeof(*out), cmp_u32);
	*ids = out;
	*n = k;
	return 0;
}

/* ---- ingest ---------------------------------------------------------------- */

void store_pending_release(struct st_pending *p)
{
	if (!p)
		return;
	if (p->mem) {
		kl_free(p->mem);
	} else {
		kl_free(p->stk);
		kl_free(p->val);
		kl_free(p->spans);
	}
	memset(p, 0, sizeof(*p));
}

/* Maps of one input profile's ids to the tenant's (UINT32_MAX = not yet). */
struct xlate {
	bool find_only;		/* st_xcache.find_only */
	uint32_t *str, *map, *fn, *loc;
	uint32_t nstr;
	/* the last two sample label keys seen and their class (see key_class) */
	kl_strid kmemo[2];
	uint8_t kcls[2];
};

static int xl_str(struct st_tenant *t, const struct kl_profile *p, struct xlate *x, kl_strid id,
		  kl_strid *out)
{
	if (id >= x->nstr) {
		*out = 0;
		return 0;
	}
	if (x->str[id] == UINT32_MAX && x->find_only) {
		int64_t f = kl_strtab_find(t->strs, kl_strtab_get(p->strs, id),
					   kl_strtab_len(p->strs, id));

		if (f < 0)
			return -EAGAIN;
		x->str[id] = (uint32_t)f;
	} else if (x->str[id] == UINT32_MAX) {
		x->str[id] = kl_strtab_intern(t->strs, kl_strtab_get(p->strs, id),
					      kl_strtab_len(p->strs, id));
		if (kl_strtab_failed(t->strs))
			return -ENOMEM;
	}
	*out = x->str[id];
	return 0;
}

/* A find_* result as an intern result: -EAGAIN when absent (find_only). */
static int found(uint32_t i, uint32_t *id)
{
	if (i == KL_HINDEX_NONE)
		return -EAGAIN;
	*id = i;
	return 0;
}

static int xl_location(struct st_tenant *t, const struct kl_profile *p, struct xlate *x,
		       struct st_xcache *xc, uint32_t li)
{
	const struct kl_location *l = &p->locations[li];
	const struct kl_line *ll = kl_location_lines(p, l);
	struct st_location sl = { .address = l->address, .is_folded = l->is_folded,
				  .nlines = l->nlines };
	struct kl_hindex_probe probe;
	struct kl_line *lbuf;
	uint32_t j;
	int rc;

	if (KL_GROW(xc->lbuf, xc->lbuf_cap, (size_t)l->nlines + 1))
		return -ENOMEM;
	lbuf = xc->lbuf;
	if (l->mapping) {
		uint32_t mi = l->mapping - 1;

		if (x->map[mi] == UINT32_MAX) {
			const struct kl_mapping *m = &p->mappings[mi];
			struct st_mapping sm = { .start = m->start, .limit = m->limit,
						 .offset = m->offset, .flags = m->flags };

			rc = xl_str(t, p, x, m->filename, &sm.filename);
			rc = rc ? rc : xl_str(t, p, x, m->build_id, &sm.build_id);
			if (!rc)
				rc = x->find_only ? found(find_mapping(t, &sm, &probe), &x->map[mi]) :
				     store_intern_mapping(t, &sm, &x->map[mi]);
			if (rc)
				return rc;
		}
		sl.mapping = x->map[mi] + 1;
	}
	for (j = 0; j < l->nlines; j++) {
		uint32_t fi = ll[j].function;

		if (x->fn[fi] == UINT32_MAX) {
			const struct kl_function *f = &p->functions[fi];
			struct st_function sf = { .start_line = f->start_line };

			rc = xl_str(t, p, x, f->name, &sf.name);
			rc = rc ? rc : xl_str(t, p, x, f->system_name, &sf.system_name);
			rc = rc ? rc : xl_str(t, p, x, f->filename, &sf.filename);
			if (!rc)
				rc = x->find_only ? found(find_function(t, &sf, &probe), &x->fn[fi]) :
				     store_intern_function(t, &sf, &x->fn[fi]);
			if (rc)
				return rc;
		}
		lbuf[j] = (struct kl_line){ .function = x->fn[fi], .line = ll[j].line,
					    .column = ll[j].column };
	}
	if (x->find_only)
		return found(find_location(t, &sl, lbuf, &probe), &x->loc[li]);
	return store_intern_location(t, &sl, lbuf, &x->loc[li]);
}

static int cmp_sref(const void *a, const void *b)
{
	const struct st_sref *x = a, *y = b;

	if (x->stk != y->stk)
		return x->stk < y->stk ? -1 : 1;
	if (x->span != y->span)
		return x->span < y->span ? -1 : 1;
	return x->trace < y->trace ? -1 : x->trace > y->trace;
}

/*
 * Sorts keyed samples by (stack, span, trace). Without span or trace ids
 * this is an LSD radix sort on the stack id's bytes (stable, linear, a
 * pass only for bytes where some keys differ): qsort's merge sort took a
 * third of the append time. With ids, qsort. tmp has room for n entries.
 */
static void sort_refs(struct st_sref *sp, size_t n, bool has_ids, struct st_sref *tmp)
{
	struct st_sref *a = sp, *b = tmp;
	uint32_t diff = 0;
	unsigned shift;
	size_t i, j;

	if (n < 2)
		return;
	if (has_ids) {
		qsort(sp, n, sizeof(*sp), cmp_sref);
		return;
	}
	if (n <= 48) {
		/* insertion sort: cheaper than counting passes for a few samples */
		for (i = 1; i < n; i++) {
			struct st_sref x = sp[i];

			for (j = i; j > 0 && sp[j - 1].stk > x.stk; j--)
				sp[j] = sp[j - 1];
			sp[j] = x;
		}
		return;
	}
	for (i = 1; i < n; i++)
		diff |= sp[i].stk ^ sp[0].stk;
	for (shift = 0; shift < 32; shift += 8) {
		uint32_t cnt[256], pos = 0, c;

		if (!((diff >> shift) & 0xff))
			continue;
		memset(cnt, 0, sizeof(cnt));
		for (i = 0; i < n; i++)
			cnt[(a[i].stk >> shift) & 0xff]++;
		for (i = 0; i < 256; i++) {
			c = cnt[i];
			cnt[i] = pos;
			pos += c;
		}
		for (i = 0; i < n; i++)
			b[cnt[(a[i].stk >> shift) & 0xff]++] = a[i];
		a = b;
		b = a == sp ? tmp : sp;
	}
	if (a != sp)
		memcpy(sp, a, n * sizeof(*sp));
}

enum { KEY_OTHER, KEY_SPAN, KEY_TRACE };

/*
 * The class of a sample label key: span_id and profile_id name a span,
 * trace_id a trace. Samples of a profile carry the same few keys, so the
 * last two are remembered instead of three strcmp per label and sample.
 */
static int key_class(const struct kl_profile *p, struct xlate *x, kl_strid key)
{
	const char *k;
	int c;

	if (key == x->kmemo[0])
		return x->kcls[0];
	if (key == x->kmemo[1])
		return x->kcls[1];
	k = kl_profile_sget(p, key);
	if (!strcmp(k, "span_id") || !strcmp(k, "profile_id"))
		c = KEY_SPAN;
	else if (!strcmp(k, "trace_id"))
		c = KEY_TRACE;
	else
		c = KEY_OTHER;
	x->kmemo[1] = x->kmemo[0];
	x->kcls[1] = x->kcls[0];
	x->kmemo[0] = key;
	x->kcls[0] = (uint8_t)c;
	return c;
}

static int sample_ids(struct st_tenant *t, const struct kl_profile *p, struct xlate *x,
		      const struct kl_sample *sm, struct st_skey *out)
{
	const struct kl_label *lb = kl_sample_labels(p, sm);
	uint32_t j;
	int rc, c;

	for (j = 0; j < sm->nlabels; j++) {
		if (!lb[j].str)
			continue;
		c = key_class(p, x, lb[j].key);
		if (c == KEY_SPAN)
			rc = xl_str(t, p, x, lb[j].str, &out->span);
		else if (c == KEY_TRACE)
			rc = xl_str(t, p, x, lb[j].str, &out->trace);
		else
			rc = 0;
		if (rc)
			return rc;
	}
	return 0;
}

void store_xcache_release(struct st_xcache *xc)
{
	if (!xc)
		return;
	kl_free(xc->ids);
	kl_free(xc->keys);
	kl_free(xc->sorted);
	kl_free(xc->sorttmp);
	kl_free(xc->locs);
	kl_free(xc->lbuf);
	memset(xc, 0, sizeof(*xc));
}

/*
 * Points x at xc's id maps for p, reset to "not yet" unless xc already
 * holds p's maps (an earlier series of the same source in this append:
 * what it interned is still the tenant's). 0 or -ENOMEM.
 */
static int xcache_get(struct st_xcache *xc, const struct kl_profile *p, struct xlate *x)
{
	size_t nids = (size_t)kl_strtab_count(p->strs) + p->nmappings + p->nfunctions +
		      p->nlocations + 1;

	if (xc->p != p) {
		xc->p = NULL;
		xc->sel_p = NULL;
		if (nids > xc->cap) {
			uint32_t *ids = kl_realloc(xc->ids, nids * sizeof(*ids));

			if (!ids)
				return -ENOMEM;
			xc->ids = ids;
			xc->cap = nids;
		}
		if (KL_GROW(xc->keys, xc->keys_cap, (size_t)p->nsamples + 1))
			return -ENOMEM;
		memset(xc->ids, 0xff, nids * sizeof(uint32_t));
		/* stk UINT32_MAX: not yet (the other members are set with it) */
		memset(xc->keys, 0xff, p->nsamples * sizeof(*xc->keys));
		xc->p = p;
	}
	x->find_only = xc->find_only;
	x->nstr = kl_strtab_count(p->strs);
	x->kmemo[0] = x->kmemo[1] = UINT32_MAX;
	x->str = xc->ids;
	x->map = x->str + x->nstr;
	x->fn = x->map + p->nmappings;
	x->loc = x->fn + p->nfunctions;
	return 0;
}

/*
 * Interns sample si of p: its locations, stack and trace ids, into
 * xc->keys[si]. Symbols are created in the order they always were (per
 * sample: locations leaf first, the stack, then the ids): their ids are
 * stored data.
 */
static int key_sample(struct st_tenant *t, const struct kl_profile *p, struct xlate *x,
		      struct st_xcache *xc, uint32_t si)
{
	const struct kl_sample *sm = &p->samples[si];
	const uint32_t *sl = kl_sample_locs(p, sm);
	struct st_skey k = { 0 };
	uint64_t h = STORE_PATH_ROOT;
	const uint32_t *xloc;
	uint32_t n = sm->nlocs, i, j, *locs;
	int rc = 0;

	if (KL_GROW(xc->locs, xc->locs_cap, (size_t)n + 1))
		return -ENOMEM;
	/* locals: without strict aliasing, stores to locs would reload every pointer */
	xloc = x->loc;
	locs = xc->locs;
	/* root first: translate the locations and hash the path in one pass */
	for (j = n; j > 0; j--) {
		uint32_t id = xloc[sl[j - 1]];

		if (id == UINT32_MAX) {
			/* those above j were known: the rest, leaf first, keeps the order */
			for (i = 0; i < j; i++) {
				if (xloc[sl[i]] == UINT32_MAX) {
					rc = xl_location(t, p, x, xc, sl[i]);
					if (rc)
						return rc;
				}
			}
			id = xloc[sl[j - 1]];
		}
		locs[j - 1] = id;
		h = store_path_step(h, id);
	}
	if (n && x->find_only) {
		struct kl_hindex_probe probe;

		rc = found(find_stack(t, locs, n, h, &probe), &k.stk);
	} else if (n) {
		rc = intern_stack_hashed(t, locs, n, h, &k.stk);
	}
	rc = rc ? rc : sample_ids(t, p, x, sm, &k);
	if (rc)
		return rc;
	xc->keys[si] = k;
	return 0;
}

/*
 * Lists the keyed samples of selection sel (NULL: all nin samples) of p in
 * xc->sorted, sorted by key; the next series of the same selection (another
 * sample type) reuses the list unless it keys new samples. 0 or -ENOMEM.
 */
static int sort_selection(struct st_xcache *xc, const struct kl_profile *p, const uint32_t *sel,
			  uint32_t nin)
{
	const struct st_skey *keys = xc->keys;
	struct st_sref *sorted;
	size_t n = 0, nsp = 0;
	bool has_ids = false;
	uint32_t k;

	xc->sel_p = NULL;
	if (KL_GROW(xc->sorted, xc->sorted_cap, (size_t)nin + 1) ||
	    KL_GROW(xc->sorttmp, xc->sorttmp_cap, (size_t)nin + 1))
		return -ENOMEM;
	sorted = xc->sorted;
	for (k = 0; k < nin; k++) {
		uint32_t si = sel ? sel[k] : k;
		const struct st_skey *key = &keys[si];

		if (key->stk == UINT32_MAX)
			continue;
		sorted[n++] = (struct st_sref){ .stk = key->stk, .span = key->span,
						.trace = key->trace, .si = si };
		if (key->span || key->trace) {
			has_ids = true;
			nsp++;
		}
	}
	sort_refs(xc->sorted, n, has_ids, xc->sorttmp);
	xc->sel_p = p;
	xc->sel = sel;
	xc->nsel = nin;
	xc->nsorted = n;
	xc->nspans = nsp;
	xc->has_ids = has_ids;
	return 0;
}

int store_ingest_profile(struct st_tenant *t, const struct kl_series *v, uint32_t max_series,
			 struct st_xcache *xc, struct st_pending *out, struct kl_err *err)
{
	/* a view reads type v->type of the samples v->sel of v->src */
	const struct kl_profile *p = v->profile ? v->profile : v->src;
	const uint32_t *sel = v->profile ? NULL : v->sel;
	uint32_t type = v->profile ? 0 : v->type, nin = sel ? v->nsel : p ? p->nsamples : 0;
	const struct st_sref *last = NULL, *sorted;
	const struct st_skey *keys;
	struct xlate x = { 0 };
	const int64_t *vals;
	int64_t *oval;
	uint32_t *ostk;
	struct st_span *ospans;
	struct st_series *s;
	uint32_t k, ns = 0, nsp = 0, ntypes;
	bool created, added = false;
	size_t i, cap;
	int rc = -ENOMEM;

	memset(out, 0, sizeof(*out));
	if (!p || (v->profile && p->nsample_types != 1) || type >= p->nsample_types)
		return kl_errf(err, -KL_EUSAGE,
			       "store: a series profile must have one sample type");
	rc = store_series_get(t, &v->labels, max_series, xc->find_only, &out->series, &created);
	if (rc == -EAGAIN)
		return rc;
	if (rc == -KL_ELIMIT)
		return kl_errf(err, rc, "tenant %s: series limit of %u reached", t->name,
			       max_series);
	if (rc)
		goto out;
	rc = -ENOMEM;
	s = t->series[out->series];
	if (xcache_get(xc, p, &x))
		goto out;
	vals = p->values ? p->values + type : NULL;
	ntypes = p->nsample_types;

	/* the samples with a value of this type, in order: intern those not yet keyed */
	keys = xc->keys;
	for (k = 0; k < nin; k++) {
		uint32_t si = sel ? sel[k] : k;

		if (!vals[(size_t)si * ntypes] || keys[si].stk != UINT32_MAX)
			continue;
		rc = key_sample(t, p, &x, xc, si);
		if (rc)
			goto out;
		added = true;
	}
	if (added || xc->sel_p != p || xc->sel != sel || xc->nsel != nin) {
		rc = sort_selection(xc, p, sel, nin);
		if (rc)
			goto out;
	}
	rc = -ENOMEM;
	/*
	 * The pairs: the selection's samples in key order, those of one key
	 * summed, zero values skipped. One allocation for the pending arrays,
	 * sized for every keyed sample (8-byte members first).
	 */
	cap = xc->nsorted + 1;
	out->mem = kl_malloc(cap * (sizeof(*out->val) + sizeof(*out->stk)) +
			     xc->nspans * sizeof(*out->spans));
	if (!out->mem)
		goto out;
	oval = out->val = out->mem;
	ostk = out->stk = (uint32_t *)(oval + cap);
	ospans = out->spans = (struct st_span *)(ostk + cap);
	sorted = xc->sorted;
	for (i = 0; i < xc->nsorted; i++) {
		const struct st_sref *e = &sorted[i];
		int64_t val = vals[(size_t)e->si * ntypes];

		if (!val)
			continue;
		if (last && e->stk == last->stk && e->span == last->span &&
		    e->trace == last->trace) {
			oval[ns - 1] += val;
			continue;
		}
		ostk[ns] = e->stk;
		oval[ns] = val;
		if (e->span || e->trace)
			ospans[nsp++] = (struct st_span){ .pair = ns, .span = e->span,
							  .trace = e->trace };
		ns++;
		last = e;
	}
	out->npairs = ns;
	out->nspans = nsp;
	if (!nsp)
		out->spans = NULL;
	out->start = v->start_ns;
	out->end = KL_MAX(v->end_ns, v->start_ns);
	out->period = p->period;
	/* the first profile of a series names its sample type */
	if (!s->type && !s->unit) {
		kl_strid a, b, c, d;

		if (xc->find_only) {
			rc = -EAGAIN;	/* a change to the series */
			goto out;
		}
		rc = xl_str(t, p, &x, p->sample_types[type].type, &a);
		rc = rc ? rc : xl_str(t, p, &x, p->sample_types[type].unit, &b);
		rc = rc ? rc : xl_str(t, p, &x, p->period_type.type, &c);
		rc = rc ? rc : xl_str(t, p, &x, p->period_type.unit, &d);
		if (rc)
			goto out;
		s->type = a;
		s->unit = b;
		s->period_type = c;
		s->period_unit = d;
	}
	rc = 0;
out:
	if (rc)
		store_pending_release(out);
	if (rc == -ENOMEM)
		kl_errf(err, rc, "store: out of memory");
	return rc;
}

/* ---- publish ------------------------------------------------------------- */

int store_publish(struct st_tenant *t, struct st_pending *p)
{
	struct st_series *s = t->series[p->series];
	struct st_prof pr;
	size_t lo = 0, hi, i, agg_bytes = 0;
	int64_t total = 0;

	if (KL_GROW(s->prof, s->prof_cap, s->nprof + 1) ||
	    KL_GROW(s->stk, s->pairs_cap, s->npairs + p->npairs) ||
	    KL_GROW(s->val, s->val_cap, s->npairs + p->npairs))
		return -ENOMEM;
	if (p->nspans && KL_GROW(s->spans, s->spans_cap, s->nspans + p->nspans))
		return -ENOMEM;
	if (store_agg_add(s, p->start, p->stk, p->val, p->npairs, &agg_bytes))
		return -ENOMEM;

	for (i = 0; i < p->npairs; i++)
		total += p->val[i];
	pr = (struct st_prof){ .start = p->start, .end = p->end, .total = total,
			       .pair_off = (uint32_t)s->npairs, .npairs = p->npairs,
			       .span_off = (uint32_t)s->nspans, .nspans = p->nspans };
	if (p->npairs) {
		memcpy(s->stk + s->npairs, p->stk, p->npairs * sizeof(*p->stk));
		memcpy(s->val + s->npairs, p->val, p->npairs * sizeof(*p->val));
	}
	if (p->nspans)
		memcpy(s->spans + s->nspans, p->spans, p->nspans * sizeof(*p->spans));
	s->npairs += p->npairs;
	s->nspans += p->nspans;
	/* profiles mostly arrive in order: find the place from the end */
	hi = s->nprof;
	if (hi && s->prof[hi - 1].start > pr.start) {
		lo = 0;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (s->prof[mid].start <= pr.start)
				lo = mid + 1;
			else
				hi = mid;
		}
		memmove(s->prof + lo + 1, s->prof + lo, (s->nprof - lo) * sizeof(*s->prof));
	}
	s->prof[hi] = pr;
	s->nprof++;
	s->min_start = KL_MIN(s->min_start, pr.start);
	s->max_end = KL_MAX(s->max_end, pr.end);
	s->max_dur = KL_MAX(s->max_dur, pr.end - pr.start);
	if (p->period)
		s->period = p->period;
	t->data_bytes += sizeof(pr) + p->npairs * 12 + p->nspans * sizeof(struct st_span) +
			 agg_bytes;
	t->head_min = KL_MIN(t->head_min, pr.start);
	t->head_max = KL_MAX(t->head_max, pr.end);
	return 0;
}
