/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flat.c - flat/cum values and the trimmed call graph of pprof's text
 * reports (graph.New + report.newTrimmedGraph in pprof's Go source).
 *
 * Sections: node and edge tables; accumulation (kl_flat_add_view); the
 * edge pass over kept nodes; ordering and trimming (kl_flat_trim).
 *
 * Values are summed with wrap-around, as Go's int64 arithmetic does, so
 * that absurd inputs cannot trigger undefined behaviour.
 */
#include <stdlib.h>
#include <string.h>

#include "flat.h"

static inline int64_t add_wrap(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static inline int64_t abs_wrap(int64_t v)
{
	return v < 0 ? (int64_t)(0 - (uint64_t)v) : v;
}

void kl_flat_init(struct kl_flat *f, struct kl_strtab *names)
{
	memset(f, 0, sizeof(*f));
	f->names = names;
}

void kl_flat_release(struct kl_flat *f)
{
	if (!f)
		return;
	kl_free(f->nodes);
	kl_free(f->node_of_name);
	kl_free(f->edges);
	kl_hindex_release(&f->edge_index);
	kl_free(f->in);
	kl_free(f->out);
	kl_free(f->srcs);
	kl_free(f->frames);
	kl_free(f->flags);
	kl_free(f->shown);
	memset(f, 0, sizeof(*f));
}

/* ---- node and edge tables ------------------------------------------- */

uint32_t kl_flat_find(const struct kl_flat *f, uint32_t name)
{
	if (name >= f->nnames || !f->node_of_name[name])
		return KL_FLAT_NONE;
	return f->node_of_name[name] - 1;
}

/* Makes node_of_name cover every id the name table holds now. */
static int cover_names(struct kl_flat *f)
{
	size_t n = kl_strtab_count(f->names);
	uint32_t *m;

	if (n <= f->nnames)
		return 0;
	m = kl_reallocarray(f->node_of_name, n, sizeof(*m));
	if (!m)
		return -ENOMEM;
	memset(m + f->nnames, 0, (n - f->nnames) * sizeof(*m));
	f->node_of_name = m;
	f->nnames = n;
	return 0;
}

/* Returns the node of name (which must be covered), creating it. */
static uint32_t node_get(struct kl_flat *f, uint32_t name)
{
	struct kl_flat_node *n;

	if (f->node_of_name[name])
		return f->node_of_name[name] - 1;
	if (KL_GROW(f->nodes, f->nodes_cap, (size_t)f->nnodes + 1))
		return KL_FLAT_NONE;
	n = &f->nodes[f->nnodes];
	memset(n, 0, sizeof(*n));
	n->name = name;
	f->node_of_name[name] = ++f->nnodes;
	return f->nnodes - 1;
}

static inline uint64_t edge_hash(uint32_t src, uint32_t dst)
{
	return kl_hash_u64(((uint64_t)src << 32) | dst);
}

/* Returns the edge src -> dst, creating it (inlined, weight 0). */
static struct kl_flat_edge *edge_get(struct kl_flat *f, uint32_t src, uint32_t dst)
{
	struct kl_hindex_probe p;
	struct kl_flat_edge *e;
	uint32_t i;

	if (!f->edge_index.slots && kl_hindex_init(&f->edge_index, 512))
		return NULL;
	for (i = kl_hindex_first(&f->edge_index, edge_hash(src, dst), &p); i != KL_HINDEX_NONE;
	     i = kl_hindex_next(&f->edge_index, &p)) {
		e = &f->edges[i];
		if (e->src == src && e->dst == dst)
			return e;
	}
	if (KL_GROW(f->edges, f->edges_cap, (size_t)f->nedges + 1) ||
	    kl_hindex_insert_at(&f->edge_index, &p, f->nedges))
		return NULL;
	e = &f->edges[f->nedges++];
	memset(e, 0, sizeof(*e));
	e->src = src;
	e->dst = dst;
	e->inlined = true;
	return e;
}

/* ---- accumulation --------------------------------------------------- */

static int reserve_frames(struct kl_flat *f, size_t n)
{
	if (n <= f->frames_cap)
		return 0;
	kl_free(f->frames);
	kl_free(f->flags);
	f->frames = kl_malloc(n * sizeof(*f->frames));
	f->flags = kl_malloc(n);
	f->frames_cap = f->frames && f->flags ? n : 0;
	return f->frames_cap ? 0 : -ENOMEM;
}

/* Advances the sample clock used by the per-sample stamps. */
static int tick(struct kl_flat *f)
{
	if (f->clock == UINT32_MAX - 1)
		return -KL_ELIMIT;
	f->clock++;
	return 0;
}

int kl_flat_add_view(struct kl_flat *f, const struct kl_view *v, bool base)
{
	const struct kl_profile *p = v->profile;
	int rc;

	if (KL_GROW(f->srcs, f->srcs_cap, (size_t)f->nsrcs + 1))
		return -ENOMEM;
	if ((rc = cover_names(f)) || (rc = reserve_frames(f, KL_MAX(v->max_depth, 1u))))
		return rc;
	f->srcs[f->nsrcs].view = v;
	f->srcs[f->nsrcs++].base = base;
	for (uint32_t s = 0; s < p->nsamples; s++) {
		int64_t val = kl_view_value(v, s);
		uint32_t n, leaf = KL_FLAT_NONE;

		f->total_all = add_wrap(f->total_all, abs_wrap(val));
		if (base) {
			f->total_base = add_wrap(f->total_base, abs_wrap(val));
			val = (int64_t)(0 - (uint64_t)val);
		}
		/* pprof skips zero samples entirely: no nodes, no edges */
		if (val == 0)
			continue;
		n = kl_view_stack(v, s, f->frames, NULL);
		if (n == 0)
			continue;
		if ((rc = tick(f)))
			return rc;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t id = node_get(f, f->frames[i]);
			struct kl_flat_node *node;

			if (id == KL_FLAT_NONE)
				return -ENOMEM;
			node = &f->nodes[id];
			if (node->stamp != f->clock) {
				node->stamp = f->clock;
				node->cum = add_wrap(node->cum, val);
			}
			if (i == 0)
				leaf = id;
		}
		f->nodes[leaf].flat = add_wrap(f->nodes[leaf].flat, val);
	}
	return 0;
}

/* ---- edges between shown nodes -------------------------------------- */

/*
 * pprof rebuilds the graph from the samples keeping only the selected
 * nodes: frames of other nodes are skipped and the edge over them is
 * marked residual. Each (caller, callee) pair counts once per sample.
 */
static int edge_pass(struct kl_flat *f)
{
	int rc;

	f->nedges = 0;
	kl_hindex_clear(&f->edge_index);
	for (uint32_t si = 0; si < f->nsrcs; si++) {
		const struct kl_view *v = f->srcs[si].view;
		const struct kl_profile *p = v->profile;

		for (uint32_t s = 0; s < p->nsamples; s++) {
			int64_t val = kl_view_value(v, s);
			uint32_t n, parent = KL_FLAT_NONE;
			bool residual = false;

			if (f->srcs[si].base)
				val = (int64_t)(0 - (uint64_t)val);
			if (val == 0)
				continue;
			n = kl_view_stack(v, s, f->frames, f->flags);
			if (n == 0)
				continue;
			if ((rc = tick(f)))
				return rc;
			/* root first, as pprof walks a sample */
			for (uint32_t i = n; i-- > 0;) {
				uint32_t id = kl_flat_find(f, f->frames[i]);
				struct kl_flat_edge *e;

				if (id == KL_FLAT_NONE || !f->nodes[id].shown) {
					residual = true;
					continue;
				}
				if (parent != KL_FLAT_NONE && parent != id) {
					e = edge_get(f, parent, id);
					if (!e)
						return -ENOMEM;
					if (e->stamp != f->clock) {
						e->stamp = f->clock;
						e->weight = add_wrap(e->weight, val);
						if (residual)
							e->residual = true;
						if (!(f->flags[i] & KL_FRAME_INLINED))
							e->inlined = false;
					}
				}
				parent = id;
				residual = false;
			}
		}
	}
	return 0;
}

/* ---- ordering ------------------------------------------------------- */

struct sort_ctx {
	const struct kl_flat *f;
	bool cum;
};

static int cmp_mag(int64_t a, int64_t b)
{
	a = abs_wrap(a);
	b = abs_wrap(b);
	return a > b ? -1 : a < b;
}

/*
 * pprof's FlatNameOrder (|flat| desc, name, |cum| desc) and CumNameOrder
 * (|cum| desc, name, |flat| desc). Names are unique here, so the third
 * key never decides; it is kept to mirror pprof.
 */
static int node_cmp(const void *pa, const void *pb, void *arg)
{
	const struct sort_ctx *c = arg;
	const struct kl_flat_node *a = &c->f->nodes[*(const uint32_t *)pa];
	const struct kl_flat_node *b = &c->f->nodes[*(const uint32_t *)pb];
	int r = c->cum ? cmp_mag(a->cum, b->cum) : cmp_mag(a->flat, b->flat);

	if (r)
		return r;
	r = strcmp(kl_strtab_get(c->f->names, a->name), kl_strtab_get(c->f->names, b->name));
	if (r)
		return r;
	return c->cum ? cmp_mag(a->flat, b->flat) : cmp_mag(a->cum, b->cum);
}

/* pprof's edgeList order: |weight| desc, caller name, callee name. */
static int edge_cmp(const void *pa, const void *pb, void *arg)
{
	const struct kl_flat *f = arg;
	const struct kl_flat_edge *a = &f->edges[*(const uint32_t *)pa];
	const struct kl_flat_edge *b = &f->edges[*(const uint32_t *)pb];
	int r = cmp_mag(a->weight, b->weight);

	if (r)
		return r;
	if (a->src != b->src)
		return strcmp(kl_flat_name(f, a->src), kl_flat_name(f, b->src));
	if (a->dst != b->dst)
		return strcmp(kl_flat_name(f, a->dst), kl_flat_name(f, b->dst));
	return 0;
}

/* Groups the untrimmed edges per node into f->in / f->out, sorted. */
static int group_edges(struct kl_flat *f)
{
	uint32_t nin = 0, nout = 0;

	kl_free(f->in);
	kl_free(f->out);
	f->in = kl_malloc(KL_MAX((size_t)f->nedges, (size_t)1) * sizeof(*f->in));
	f->out = kl_malloc(KL_MAX((size_t)f->nedges, (size_t)1) * sizeof(*f->out));
	if (!f->in || !f->out)
		return -ENOMEM;
	for (uint32_t i = 0; i < f->nnodes; i++)
		f->nodes[i].nin = f->nodes[i].nout = 0;
	for (uint32_t i = 0; i < f->nedges; i++) {
		if (f->edges[i].trimmed)
			continue;
		f->nodes[f->edges[i].dst].nin++;
		f->nodes[f->edges[i].src].nout++;
	}
	for (uint32_t i = 0; i < f->nnodes; i++) {
		f->nodes[i].in_start = nin;
		f->nodes[i].out_start = nout;
		nin += f->nodes[i].nin;
		nout += f->nodes[i].nout;
		f->nodes[i].nin = f->nodes[i].nout = 0;
	}
	for (uint32_t i = 0; i < f->nedges; i++) {
		struct kl_flat_node *src = &f->nodes[f->edges[i].src];
		struct kl_flat_node *dst = &f->nodes[f->edges[i].dst];

		if (f->edges[i].trimmed)
			continue;
		f->in[dst->in_start + dst->nin++] = i;
		f->out[src->out_start + src->nout++] = i;
	}
	for (uint32_t i = 0; i < f->nnodes; i++) {
		struct kl_flat_node *n = &f->nodes[i];
		bool inl = false, noinl = false;

		qsort_r(f->in + n->in_start, n->nin, sizeof(*f->in), edge_cmp, f);
		qsort_r(f->out + n->out_start, n->nout, sizeof(*f->out), edge_cmp, f);
		for (uint32_t j = 0; j < n->nin; j++) {
			if (f->edges[f->in[n->in_start + j]].inlined)
				inl = true;
			else
				noinl = true;
		}
		n->inline_kind = !inl ? KL_FLAT_INL_NONE
			       : noinl ? KL_FLAT_INL_PARTIAL
				       : KL_FLAT_INL_FULL;
	}
	return 0;
}

/* int64(float64(total) * fraction), made positive, as pprof's cutoffs. */
static int64_t cutoff(int64_t total, double fraction)
{
	double c = (double)total * fraction;

	if (c >= 9.2e18 || c <= -9.2e18)
		return INT64_MAX;
	return abs_wrap((int64_t)c);
}

int kl_flat_trim(struct kl_flat *f, const struct kl_flat_opts *o)
{
	struct sort_ctx ctx = { f, o->cum_sort };
	int64_t node_cut, edge_cut;
	uint32_t nkept = 0;
	int rc;

	f->total = f->total_base > 0 ? f->total_base : f->total_all;
	kl_free(f->shown);
	f->shown = kl_malloc(KL_MAX((size_t)f->nnodes, (size_t)1) * sizeof(*f->shown));
	if (!f->shown)
		return -ENOMEM;
	f->nvisible = f->ndropped = 0;
	f->flat_sum = 0;
	for (uint32_t i = 0; i < f->nnodes; i++) {
		struct kl_flat_node *n = &f->nodes[i];

		n->shown = false;
		if (n->flat == 0 && n->cum == 0)
			continue;	/* pprof leaves such nodes out of the graph */
		f->nvisible++;
		f->flat_sum = add_wrap(f->flat_sum, n->flat);
	}
	node_cut = cutoff(f->flat_sum, o->node_fraction);
	edge_cut = cutoff(f->flat_sum, o->edge_fraction);
	for (uint32_t i = 0; i < f->nnodes; i++) {
		const struct kl_flat_node *n = &f->nodes[i];

		if (n->flat == 0 && n->cum == 0)
			continue;
		if (node_cut > 0 && abs_wrap(n->cum) < node_cut)
			continue;
		f->shown[nkept++] = i;
	}
	f->ndropped = f->nvisible - nkept;
	f->norig = nkept;
	qsort_r(f->shown, nkept, sizeof(*f->shown), node_cmp, &ctx);
	if (o->node_count > 0 && (unsigned long)o->node_count < nkept)
		nkept = (uint32_t)o->node_count;
	f->nshown = nkept;
	f->shown_flat = 0;
	for (uint32_t i = 0; i < nkept; i++) {
		f->nodes[f->shown[i]].shown = true;
		f->shown_flat = add_wrap(f->shown_flat, f->nodes[f->shown[i]].flat);
	}
	if ((rc = edge_pass(f)))
		return rc;
	for (uint32_t i = 0; i < f->nedges; i++)
		f->edges[i].trimmed = abs_wrap(f->edges[i].weight) < edge_cut;
	return group_edges(f);
}

int64_t kl_flat_min_value(const struct kl_flat *f)
{
	int64_t min = 0;

	for (uint32_t i = 0; i < f->nshown; i++) {
		const struct kl_flat_node *n = &f->nodes[f->shown[i]];
		int64_t v = abs_wrap(n->flat);

		if (v == 0)
			v = abs_wrap(n->cum);
		if (v > 0 && (min == 0 || v < min))
			min = v;
	}
	return min;
}
