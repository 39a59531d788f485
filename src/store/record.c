/* SPDX-License-Identifier: Apache-2.0 */
/*
 * record.c - the store's WAL records: encode an append (new symbols with
 * their explicit ids, then the profiles as (stack, value) pairs) and apply
 * a record at replay.
 *
 * A record carries every symbol created since the tenant's last record
 * known to be durable, not just since the last record: if a batch of the
 * WAL fails (ENOSPC) and is cut away, the next record still defines every
 * id it uses, so replay never meets an unknown id. Symbols already known
 * at replay are skipped; an id beyond the next expected one is corruption.
 *
 * Layout (integers are LEB128 varints, s = zigzag; the codec is enc.c):
 *   u8 version (1) | tenant (len, bytes)
 *   for strings, mappings, functions, locations, stacks, series: first id, count, entries
 *   profiles: count, then each: series, s start, duration, s period, npairs,
 *             pairs (stack delta from the previous, s value), nspans, (pair, span, trace)
 */
#include <string.h>

#include "store_internal.h"

#define RECORD_VERSION 1

/* ---- encoding --------------------------------------------------------------- */

/* The head of a symbol section: the first id it defines and how many follow. */
static void put_range(struct kl_buf *b, uint32_t from, uint32_t to)
{
	store_put_u(b, from);
	store_put_u(b, to - from);
}

int store_record_encode(const struct st_tenant *t, const struct st_marks *from,
			const struct st_pending *p, size_t n, struct kl_buf *out)
{
	struct st_marks to;
	uint32_t i, j;
	size_t k;

	store_marks_get(t, &to);
	kl_buf_addch(out, RECORD_VERSION);
	store_put_str(out, t->name);

	put_range(out, from->strings, to.strings);
	for (i = from->strings; i < to.strings; i++)
		store_put_bytes(out, kl_strtab_get(t->strs, i), kl_strtab_len(t->strs, i));

	put_range(out, from->mappings, to.mappings);
	for (i = from->mappings; i < to.mappings; i++) {
		const struct st_mapping *m = &t->mappings[i];

		store_put_u(out, m->start);
		store_put_u(out, m->limit);
		store_put_u(out, m->offset);
		store_put_u(out, m->filename);
		store_put_u(out, m->build_id);
		store_put_u(out, m->flags);
	}

	put_range(out, from->functions, to.functions);
	for (i = from->functions; i < to.functions; i++) {
		const struct st_function *f = &t->functions[i];

		store_put_u(out, f->name);
		store_put_u(out, f->system_name);
		store_put_u(out, f->filename);
		store_put_s(out, f->start_line);
	}

	put_range(out, from->locations, to.locations);
	for (i = from->locations; i < to.locations; i++) {
		const struct st_location *l = &t->locations[i];

		store_put_u(out, l->mapping);
		store_put_u(out, l->address);
		store_put_u(out, l->is_folded);
		store_put_u(out, l->nlines);
		for (j = 0; j < l->nlines; j++) {
			const struct kl_line *ln = &t->lines[l->line_start + j];

			store_put_u(out, ln->function);
			store_put_s(out, ln->line);
			store_put_s(out, ln->column);
		}
	}

	put_range(out, from->stacks, to.stacks);
	for (i = from->stacks; i < to.stacks; i++) {
		uint32_t loc = t->stacks[i].loc;

		store_put_u(out, t->stacks[i].parent);
		store_put_u(out, loc == UINT32_MAX ? 0 : (uint64_t)loc + 1);
	}

	put_range(out, from->series, to.series);
	for (i = from->series; i < to.series; i++) {
		const struct st_series *s = t->series[i];

		store_put_u(out, s->labels.n);
		for (k = 0; k < s->labels.n; k++) {
			store_put_str(out, s->labels.v[k].name);
			store_put_str(out, s->labels.v[k].value);
		}
		store_put_u(out, s->type);
		store_put_u(out, s->unit);
		store_put_u(out, s->period_type);
		store_put_u(out, s->period_unit);
	}

	store_put_u(out, n);
	for (k = 0; k < n; k++) {
		const struct st_pending *q = &p[k];

		store_put_u(out, q->series);
		store_put_s(out, q->start);
		store_put_u(out, (uint64_t)(q->end - q->start));
		store_put_s(out, q->period);
		store_put_u(out, q->npairs);
		store_put_pairs(out, q->stk, q->val, q->npairs);
		store_put_u(out, q->nspans);
		store_put_spans(out, q->spans, q->nspans);
	}
	return kl_buf_error(out);
}

/* ---- decoding ---------------------------------------------------------------- */

/* Reads "first id, count" and checks that first is not beyond the next id. */
static bool get_range(struct store_rd *r, size_t have, uint64_t *first, uint64_t *count)
{
	*first = store_get_u(r);
	*count = store_get_u(r);
	if (r->bad || *first > have || *count > (uint64_t)(r->end - r->p)) {
		r->bad = true;
		return false;
	}
	return true;
}

static int apply_symbols(struct st_tenant *t, struct store_rd *r, struct kl_line **lbuf,
			 size_t *lcap)
{
	uint64_t first, count, i, j;
	uint32_t id;
	int rc;

	/* strings */
	if (!get_range(r, kl_strtab_count(t->strs), &first, &count))
		return -KL_EFORMAT;
	for (i = first; i < first + count && !r->bad; i++) {
		size_t n;
		const char *s = store_get_bytes(r, &n);

		if (i < kl_strtab_count(t->strs) || r->bad)
			continue;
		id = kl_strtab_intern(t->strs, s, n);
		if (kl_strtab_failed(t->strs))
			return -ENOMEM;
		if (id != i)
			return -KL_EFORMAT;
	}
	/* mappings */
	if (!get_range(r, t->nmappings, &first, &count))
		return -KL_EFORMAT;
	for (i = first; i < first + count && !r->bad; i++) {
		struct st_mapping m = { 0 };
		uint32_t nstr = kl_strtab_count(t->strs);

		m.start = store_get_u(r);
		m.limit = store_get_u(r);
		m.offset = store_get_u(r);
		m.filename = store_get_id(r, nstr);
		m.build_id = store_get_id(r, nstr);
		m.flags = (uint32_t)store_get_u(r);
		if (i < t->nmappings || r->bad)
			continue;
		rc = store_intern_mapping(t, &m, &id);
		if (rc)
			return rc;
		if (id != i)
			return -KL_EFORMAT;
	}
	/* functions */
	if (!get_range(r, t->nfunctions, &first, &count))
		return -KL_EFORMAT;
	for (i = first; i < first + count && !r->bad; i++) {
		struct st_function f = { 0 };
		uint32_t nstr = kl_strtab_count(t->strs);

		f.name = store_get_id(r, nstr);
		f.system_name = store_get_id(r, nstr);
		f.filename = store_get_id(r, nstr);
		f.start_line = store_get_s(r);
		if (i < t->nfunctions || r->bad)
			continue;
		rc = store_intern_function(t, &f, &id);
		if (rc)
			return rc;
		if (id != i)
			return -KL_EFORMAT;
	}
	/* locations */
	if (!get_range(r, t->nlocations, &first, &count))
		return -KL_EFORMAT;
	for (i = first; i < first + count && !r->bad; i++) {
		struct st_location l = { 0 };

		l.mapping = store_get_id(r, t->nmappings + 1);
		l.address = store_get_u(r);
		l.is_folded = store_get_u(r) != 0;
		l.nlines = store_get_id(r, (uint64_t)(r->end - r->p) + 1);
		if (r->bad)
			break;
		if (l.nlines > *lcap) {
			struct kl_line *nl = kl_realloc(*lbuf, l.nlines * sizeof(*nl));

			if (!nl)
				return -ENOMEM;
			*lbuf = nl;
			*lcap = l.nlines;
		}
		for (j = 0; j < l.nlines; j++) {
			(*lbuf)[j].function = store_get_id(r, t->nfunctions);
			(*lbuf)[j].line = store_get_s(r);
			(*lbuf)[j].column = store_get_s(r);
		}
		if (i < t->nlocations || r->bad)
			continue;
		rc = store_intern_location(t, &l, *lbuf, &id);
		if (rc)
			return rc;
		if (id != i)
			return -KL_EFORMAT;
	}
	/* stacks */
	if (!get_range(r, t->nstacks, &first, &count))
		return -KL_EFORMAT;
	for (i = first; i < first + count && !r->bad; i++) {
		uint32_t parent = store_get_id(r, t->nstacks);
		uint32_t loc = store_get_id(r, t->nlocations + 1);

		if (i < t->nstacks || r->bad)
			continue;
		if (!loc)
			return -KL_EFORMAT;	/* only the root has no location */
		rc = store_stack_child(t, parent, loc - 1, &id);
		if (rc)
			return rc;
		if (id != i)
			return -KL_EFORMAT;
	}
	return r->bad ? -KL_EFORMAT : 0;
}

static int apply_series(struct st_tenant *t, struct store_rd *r)
{
	uint64_t first, count, i, j, nl;
	struct kl_labels ls = { 0 };
	int rc = 0;

	if (!get_range(r, t->nseries, &first, &count))
		return -KL_EFORMAT;
	for (i = first; i < first + count && !r->bad && !rc; i++) {
		uint32_t nstr = kl_strtab_count(t->strs), id;
		kl_strid ty, un, pt, pu;
		bool created;

		kl_labels_release(&ls);
		nl = store_get_u(r);
		for (j = 0; j < nl && !r->bad && !rc; j++) {
			size_t nn, vn;
			const char *n = store_get_bytes(r, &nn);
			const char *v = store_get_bytes(r, &vn);
			char *name = kl_strndup(n, nn);

			if (!name)
				rc = -ENOMEM;
			else if (kl_labels_set(&ls, name, v, vn))
				rc = -ENOMEM;
			kl_free(name);
		}
		ty = store_get_id(r, nstr);
		un = store_get_id(r, nstr);
		pt = store_get_id(r, nstr);
		pu = store_get_id(r, nstr);
		if (rc || r->bad || i < t->nseries)
			continue;
		kl_labels_sort(&ls);
		rc = store_series_get(t, &ls, 0, false, &id, &created);
		if (!rc && (id != i || !created))
			rc = -KL_EFORMAT;
		if (!rc) {
			t->series[id]->type = ty;
			t->series[id]->unit = un;
			t->series[id]->period_type = pt;
			t->series[id]->period_unit = pu;
		}
	}
	kl_labels_release(&ls);
	if (rc)
		return rc;
	return r->bad ? -KL_EFORMAT : 0;
}

static int apply_profiles(struct st_tenant *t, struct store_rd *r)
{
	uint64_t count = store_get_u(r), k;
	struct st_pending p = { 0 };
	int rc = 0;

	for (k = 0; k < count && !r->bad && !rc; k++) {
		store_pending_release(&p);
		p.series = store_get_id(r, t->nseries);
		p.start = store_get_s(r);
		p.end = p.start + (int64_t)store_get_u(r);
		p.period = store_get_s(r);
		p.npairs = store_get_id(r, (uint64_t)(r->end - r->p) + 1);
		if (r->bad)
			break;
		p.stk = kl_malloc(((size_t)p.npairs + 1) * sizeof(*p.stk));
		p.val = kl_malloc(((size_t)p.npairs + 1) * sizeof(*p.val));
		if (!p.stk || !p.val) {
			rc = -ENOMEM;
			break;
		}
		store_get_pairs(r, p.stk, p.val, p.npairs, t->nstacks);
		p.nspans = store_get_id(r, (uint64_t)(r->end - r->p) + 1);
		if (r->bad)
			break;
		if (p.nspans) {
			p.spans = kl_malloc(p.nspans * sizeof(*p.spans));
			if (!p.spans) {
				rc = -ENOMEM;
				break;
			}
			store_get_spans(r, p.spans, p.nspans, p.npairs, kl_strtab_count(t->strs));
		}
		if (r->bad)
			break;
		rc = store_publish(t, &p);
	}
	store_pending_release(&p);
	if (rc)
		return rc;
	return r->bad ? -KL_EFORMAT : 0;
}

int store_record_apply(struct kl_store *s, const uint8_t *data, size_t len, struct kl_err *err)
{
	struct store_rd r = { .p = data, .end = data + len };
	struct kl_line *lbuf = NULL;
	size_t lcap = 0, tn;
	struct st_tenant *t;
	const char *tname;
	char *name;
	int rc;

	if (len < 2 || data[0] != RECORD_VERSION)
		return kl_errf(err, -KL_EFORMAT, "wal record: unknown version");
	r.p++;
	tname = store_get_bytes(&r, &tn);
	if (r.bad || !tn)
		return kl_errf(err, -KL_EFORMAT, "wal record: bad tenant");
	name = kl_strndup(tname, tn);
	if (!name)
		return kl_errf(err, -ENOMEM, "store: out of memory");
	t = store_tenant_get(s, name, true);
	kl_free(name);
	if (!t)
		return kl_errf(err, -ENOMEM, "store: out of memory");
	pthread_rwlock_wrlock(&t->lock);
	rc = apply_symbols(t, &r, &lbuf, &lcap);
	rc = rc ? rc : apply_series(t, &r);
	rc = rc ? rc : apply_profiles(t, &r);
	/* everything replayed is durable */
	store_marks_get(t, &t->durable);
	pthread_rwlock_unlock(&t->lock);
	kl_free(lbuf);
	if (rc == -ENOMEM)
		return kl_errf(err, rc, "store: out of memory");
	if (rc)
		return kl_errf(err, rc, "wal record of tenant %s: bad or inconsistent contents",
			       t->name);
	return 0;
}
