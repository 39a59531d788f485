/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flat.h - the flat/cumulative table and call graph behind `kiln top`,
 * `kiln tree` and `kiln peek`, computed as pprof's graph package does.
 *
 * A node is a frame name (an id in a view's name table; views that share
 * the table share nodes). For every sample with a non-zero value:
 *
 *   flat  is added to the sample's leaf frame;
 *   cum   is added to every frame of the stack, once per sample even when
 *         the frame recurs (a per-node stamp of the last sample seen makes
 *         this O(frames));
 *   edges caller -> callee get the value once per sample, skipping direct
 *         self-calls; an edge is "inline" when every contribution came from
 *         a callee frame inlined into its caller (KL_FRAME_INLINED).
 *
 * Then, as pprof's report trims the graph for text output: nodes whose
 * flat and cum are both 0 disappear; nodes with |cum| below node_fraction
 * of the sum of all flat values are dropped; the rest are sorted (flat or
 * cum order) and cut to node_count; edges are recomputed between the nodes
 * left, bridging dropped frames ("residual" edges), and edges lighter than
 * edge_fraction of the flat sum are removed. A node is printed "(inline)"
 * when all its remaining incoming edges are inline and "(partial-inline)"
 * when some are.
 *
 * Diffs (-diff_base): views added with base set contribute negated
 * values; the report total (percentages) is then the base's total, as in
 * pprof. Sorting compares magnitudes.
 *
 * Typical use:
 *
 *	kl_flat_init(&f, names);
 *	kl_flat_add_view(&f, &view, false);
 *	kl_flat_trim(&f, &(struct kl_flat_opts){ .node_fraction = 0.005, ... });
 *	for (i = 0; i < f.nshown; i++) node = &f.nodes[f.shown[i]] ...
 *	kl_flat_release(&f);
 *
 * The views must stay alive until kl_flat_trim has run (it walks them
 * again for edges). Not thread-safe; no output.
 */
#ifndef KL_FLAT_H
#define KL_FLAT_H

#include "hindex.h"
#include "view.h"

#define KL_FLAT_NONE UINT32_MAX

enum kl_flat_inline {
	KL_FLAT_INL_NONE = 0,		/* no inline incoming edge */
	KL_FLAT_INL_FULL,		/* every incoming edge is inline: "(inline)" */
	KL_FLAT_INL_PARTIAL,		/* some are: "(partial-inline)" */
};

struct kl_flat_node {
	uint32_t name;			/* id in the names table */
	int64_t flat, cum;
	uint32_t stamp;			/* internal: last sample counted */
	uint8_t inline_kind;		/* enum kl_flat_inline, set by trim */
	bool shown;			/* in the final table */
	/* incoming / outgoing edges: f->in[in_start .. +nin), sorted as pprof */
	uint32_t in_start, nin;
	uint32_t out_start, nout;
};

struct kl_flat_edge {
	uint32_t src, dst;		/* node indexes: caller, callee */
	int64_t weight;
	uint32_t stamp;			/* internal: last sample counted */
	bool inlined;			/* every contribution was an inlined call */
	bool residual;			/* bridges frames that were dropped */
	bool trimmed;			/* below edge_fraction: not listed */
};

struct kl_flat_opts {
	double node_fraction;		/* 0 keeps every node */
	double edge_fraction;		/* 0 keeps every edge */
	long node_count;		/* 0 = no limit */
	bool cum_sort;			/* order by cum (else flat) */
};

struct kl_flat_source {
	const struct kl_view *view;	/* borrowed */
	bool base;
};

struct kl_flat {
	struct kl_strtab *names;	/* borrowed, shared with the views */

	struct kl_flat_node *nodes;
	uint32_t nnodes;
	size_t nodes_cap;
	uint32_t *node_of_name;		/* name id -> node index + 1, 0 = none */
	size_t nnames;

	struct kl_flat_edge *edges;
	uint32_t nedges;
	size_t edges_cap;
	struct kl_hindex edge_index;	/* edges by (src, dst); made on first use */
	uint32_t *in, *out;		/* edge indexes grouped per node */

	struct kl_flat_source *srcs;
	uint32_t nsrcs;
	size_t srcs_cap;

	uint32_t clock;			/* samples counted so far, for stamps */
	uint32_t *frames;		/* scratch stack */
	uint8_t *flags;
	size_t frames_cap;

	int64_t total_all;		/* sum of |value| over every sample */
	int64_t total_base;		/* same over base samples */
	int64_t total;			/* the report total (percentages) */

	/* results of kl_flat_trim */
	uint32_t *shown;		/* node indexes in table order */
	uint32_t nshown;
	uint32_t nvisible;		/* nodes with a non-zero flat or cum */
	uint32_t ndropped;		/* dropped by node_fraction */
	uint32_t norig;			/* left after node_fraction, before node_count */
	int64_t flat_sum;		/* sum of flat over the visible nodes */
	int64_t shown_flat;		/* sum of flat over the shown nodes */
};

/* Prepares an empty table whose nodes are names in names (borrowed). */
void kl_flat_init(struct kl_flat *f, struct kl_strtab *names);

/* Frees what the table holds. Safe on a zeroed or failed table. */
void kl_flat_release(struct kl_flat *f);

/*
 * Adds every sample of v (v->names must be f->names). With base set the
 * values are negated and counted in total_base. Every sample of the
 * profile, also those the view's filters drop, counts in the totals,
 * because pprof computes its total before focusing. Returns 0 or -ENOMEM
 * or -KL_ELIMIT (more than 4G samples over all views).
 */
int kl_flat_add_view(struct kl_flat *f, const struct kl_view *v, bool base);

/*
 * Selects, orders and connects the nodes to show (see the file comment)
 * and sets f->total. May be called again with other options. Returns 0 or
 * -ENOMEM.
 */
int kl_flat_trim(struct kl_flat *f, const struct kl_flat_opts *o);

/* Name of node i. */
static inline const char *kl_flat_name(const struct kl_flat *f, uint32_t i)
{
	return kl_strtab_get(f->names, f->nodes[i].name);
}

/* Node index of a name id, or KL_FLAT_NONE if the name has no node. */
uint32_t kl_flat_find(const struct kl_flat *f, uint32_t name);

/*
 * The smallest non-zero magnitude among the shown nodes (flat, or cum
 * when flat is 0), 0 if there is none: the input of kl_unit_select.
 */
int64_t kl_flat_min_value(const struct kl_flat *f);

#endif /* KL_FLAT_H */
