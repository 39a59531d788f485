/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tree.c - building, sorting, truncating and normalising call trees.
 *
 * Invariants:
 *   1. node 0 is the root; a node's parent has a smaller index than the
 *      node (nodes are created parent first, and rebuilds keep that order);
 *   2. the hash index holds every non-root node, keyed by (parent, name)
 *      (no node has index UINT32_MAX, which hindex reserves), except
 *      inside kl_tree_add_view's walk of one stack, where the nodes it
 *      creates are indexed when the walk ends;
 *   3. for non-negative inputs, total >= self and a parent's total is at
 *      least the sum of its children's totals plus its self.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "tree.h"

#define EMPTY UINT32_MAX

static uint64_t child_key_hash(uint32_t parent, uint32_t name)
{
	return kl_hash_u64(((uint64_t)parent << 32) | name);
}

struct kl_tree *kl_tree_new(struct kl_strtab *names, uint32_t ncols)
{
	struct kl_tree *t = kl_calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->ncols = ncols == 2 ? 2 : 1;
	if (names) {
		t->names = names;
	} else {
		t->names = kl_strtab_new();
		t->owns_names = true;
	}
	if (!t->names || kl_hindex_init(&t->index, 512) || KL_GROW(t->nodes, t->nodes_cap, 64)) {
		kl_tree_free(t);
		return NULL;
	}
	memset(&t->nodes[0], 0, sizeof(t->nodes[0]));
	t->nodes[0].name = kl_strtab_intern_cstr(t->names, "total");
	t->nodes[0].parent = t->nodes[0].first_child = t->nodes[0].next_sibling = KL_TREE_NONE;
	t->nnodes = 1;
	return t;
}

void kl_tree_free(struct kl_tree *t)
{
	if (!t)
		return;
	if (t->owns_names)
		kl_strtab_free(t->names);
	kl_free(t->nodes);
	kl_hindex_release(&t->index);
	kl_free(t);
}

/* The child of parent named name, or KL_HINDEX_NONE with p at its slot. */
static inline uint32_t child_find(const struct kl_tree *t, uint32_t parent, uint32_t name,
				  struct kl_hindex_probe *p)
{
	uint32_t idx;

	for (idx = kl_hindex_first(&t->index, child_key_hash(parent, name), p);
	     idx != KL_HINDEX_NONE; idx = kl_hindex_next(&t->index, p))
		if (t->nodes[idx].parent == parent && t->nodes[idx].name == name)
			return idx;
	return KL_HINDEX_NONE;
}

uint32_t kl_tree_child(const struct kl_tree *t, uint32_t parent, uint32_t name)
{
	struct kl_hindex_probe p;

	_Static_assert(KL_HINDEX_NONE == KL_TREE_NONE, "a miss is returned as is");
	return child_find(t, parent, name, &p);
}

/* Appends a node as the first child of parent, outside the hash index. */
static uint32_t node_append(struct kl_tree *t, uint32_t parent, uint32_t name)
{
	struct kl_tree_node *n;
	uint32_t idx;

	if (t->nnodes == UINT32_MAX - 1 || KL_GROW(t->nodes, t->nodes_cap, t->nnodes + 1))
		return EMPTY;
	idx = t->nnodes++;
	n = &t->nodes[idx];
	memset(n, 0, sizeof(*n));
	n->name = name;
	n->parent = parent;
	n->first_child = KL_TREE_NONE;
	n->next_sibling = t->nodes[parent].first_child;
	t->nodes[parent].first_child = idx;
	return idx;
}

/* Takes back the node node_append() just made. */
static void node_unappend(struct kl_tree *t, uint32_t idx)
{
	struct kl_tree_node *n = &t->nodes[idx];

	t->nodes[n->parent].first_child = n->next_sibling;
	t->nnodes--;
}

/*
 * Finds or creates the child of parent named name, hashing once: the probe
 * that fails to find the child ends at the slot the new child takes.
 * EMPTY on failure.
 */
static uint32_t child_get(struct kl_tree *t, uint32_t parent, uint32_t name)
{
	struct kl_hindex_probe p;
	uint32_t idx = child_find(t, parent, name, &p);

	if (idx != KL_HINDEX_NONE)
		return idx;
	idx = node_append(t, parent, name);
	if (idx != EMPTY && kl_hindex_insert_at(&t->index, &p, idx)) {
		node_unappend(t, idx);
		return EMPTY;
	}
	return idx;
}

int kl_tree_add_stack(struct kl_tree *t, const uint32_t *frames, uint32_t nframes,
		      int64_t value, uint32_t col, bool root_first)
{
	uint32_t node = 0;

	if (col >= t->ncols)
		return -EINVAL;
	t->nodes[0].total[col] += value;
	for (uint32_t i = 0; i < nframes; i++) {
		uint32_t name = root_first ? frames[i] : frames[nframes - 1 - i];

		node = child_get(t, node, name);
		if (node == EMPTY)
			return -ENOMEM;
		t->nodes[node].total[col] += value;
	}
	t->nodes[node].self[col] += value;
	return 0;
}

/*
 * Makes room for the nodes v can add, so that the node array and the hash
 * index do not grow by doubling: on profiles of 100k+ nodes the copying and
 * rehashing cost as much as the lookups. The estimate counts, per sample,
 * the locations it does not share with the previous sample from the root
 * end (only those can make nodes; inlined frames aside): on go-large.cpu
 * 439k for 425k nodes. It is higher when samples share callers with other
 * samples than their neighbours (unsorted merged profiles), costing index
 * memory (16-32 bytes per unit, at most 8x the profile's own location lists),
 * never correctness. Failure is not an error here: growth will then be
 * tried, and fail, where it is needed.
 */
static void reserve_for(struct kl_tree *t, const struct kl_view *v)
{
	const struct kl_profile *p = v->profile;
	const uint32_t *prev = NULL;
	uint32_t nprev = 0;
	size_t want = t->nnodes;

	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *s = &p->samples[i];
		const uint32_t *locs = kl_sample_locs(p, s);
		uint32_t shared = 0;

		if ((v->keep && !v->keep[i]) || !kl_view_value(v, i) || !s->nlocs)
			continue;
		while (shared < s->nlocs && shared < nprev &&
		       locs[s->nlocs - 1 - shared] == prev[nprev - 1 - shared])
			shared++;
		want += s->nlocs - shared;
		prev = locs;
		nprev = s->nlocs;
	}
	want = KL_MIN(want, (size_t)UINT32_MAX - 2);
	if (!KL_GROW(t->nodes, t->nodes_cap, want))
		(void)kl_hindex_reserve(&t->index, want);
}

/*
 * Adds nodes [from, nnodes) to the hash index. The inserts are independent
 * of each other, so the processor overlaps their cache misses, which a
 * probe per new frame inside the stack walk cannot do. On failure the
 * nodes are taken back (newest first, as node_unappend needs), so that
 * every node stays in the index.
 */
static int index_pending(struct kl_tree *t, uint32_t from)
{
	if (kl_hindex_reserve(&t->index, t->nnodes)) {
		while (t->nnodes > from)
			node_unappend(t, t->nnodes - 1);
		return -ENOMEM;
	}
	/* hash a batch and prefetch its home slots, then insert it */
	for (uint32_t i = from; i < t->nnodes; i += 32) {
		uint32_t n = KL_MIN(t->nnodes - i, 32u);
		uint64_t h[32];

		for (uint32_t k = 0; k < n; k++) {
			h[k] = child_key_hash(t->nodes[i + k].parent, t->nodes[i + k].name);
			__builtin_prefetch(&t->index.slots[(size_t)(h[k] >> 32) & t->index.mask], 1);
		}
		for (uint32_t k = 0; k < n; k++)
			kl_hindex_insert(&t->index, h[k], i + k);
	}
	return 0;
}

/*
 * Like kl_tree_add_stack for each sample, but cheaper on big profiles,
 * where most frames make new nodes:
 *   - a sample's stack is walked from the end it shares with the previous
 *     sample's: the nodes of that common part are known (path), so they
 *     need no lookup;
 *   - below a node this walk created no child can exist, so the rest of
 *     the stack is appended without lookups and indexed in one batch after
 *     the walk (index_pending), before the next sample looks anything up.
 * Nodes are created in the same order as kl_tree_add_stack creates them.
 */
int kl_tree_add_view(struct kl_tree *t, const struct kl_view *v, uint32_t col, bool reverse)
{
	const struct kl_profile *p = v->profile;
	size_t depth = KL_MAX(v->max_depth, 1u);
	uint32_t *buf = kl_malloc(depth * 3 * sizeof(*buf));
	uint32_t *names = buf + depth, *path = buf + 2 * depth;	/* root first */
	uint32_t prev = 0;	/* frames of the previous stack in names/path */
	uint32_t pending = EMPTY;	/* first node of this walk not yet indexed */
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	if (col >= t->ncols)
		rc = -EINVAL;
	reserve_for(t, v);
	for (uint32_t i = 0; i < p->nsamples && !rc; i++) {
		int64_t value = kl_view_value(v, i);
		uint32_t n, d = 0, node = 0;

		if (value == 0)
			continue;
		n = kl_view_stack(v, i, buf, NULL);
		if (!n)
			continue;
		t->nodes[0].total[col] += value;
		for (; d < n && d < prev; d++) {
			if (names[d] != (reverse ? buf[d] : buf[n - 1 - d]))
				break;
			node = path[d];
			t->nodes[node].total[col] += value;
		}
		for (; d < n; d++) {
			uint32_t name = reverse ? buf[d] : buf[n - 1 - d];

			if (pending == EMPTY) {
				uint32_t before = t->nnodes;

				node = child_get(t, node, name);
				/* a new node: the rest of the stack is new too */
				if (t->nnodes != before)
					pending = t->nnodes;
			} else {
				node = node_append(t, node, name);
			}
			if (node == EMPTY) {
				rc = -ENOMEM;
				break;
			}
			t->nodes[node].total[col] += value;
			names[d] = name;
			path[d] = node;
		}
		if (pending != EMPTY && index_pending(t, pending) && !rc)
			rc = -ENOMEM;
		pending = EMPTY;
		prev = rc ? 0 : n;
		if (!rc)
			t->nodes[node].self[col] += value;
	}
	kl_free(buf);
	return rc;
}

/* ---- sorting ------------------------------------------------------------ */

static int cmp_name_ids(const void *a, const void *b, void *ctx)
{
	const struct kl_strtab *names = ctx;
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	size_t lx = kl_strtab_len(names, x), ly = kl_strtab_len(names, y);
	int c = memcmp(kl_strtab_get(names, x), kl_strtab_get(names, y), KL_MIN(lx, ly));

	/* equal names (a table with duplicates) keep id order, whatever the input order */
	if (!c)
		c = (lx > ly) - (lx < ly);
	return c ? c : (x > y) - (x < y);
}

struct rank_ctx {
	const uint32_t *rank;
	const struct kl_tree_node *nodes;
};

/* Orders node indexes by the rank of their names. */
static int cmp_by_rank(const void *a, const void *b, void *ctx)
{
	const struct rank_ctx *c = ctx;
	uint32_t x = c->rank[c->nodes[*(const uint32_t *)a].name];
	uint32_t y = c->rank[c->nodes[*(const uint32_t *)b].name];

	return (x > y) - (x < y);
}

/*
 * rank[name id] = position of the name in byte order, for every name used
 * by a node. Sorting children then compares integers, not strings. Only
 * the names nodes use are sorted: a table shared by many trees, or a
 * truncated tree, uses few of its names.
 */
static uint32_t *name_ranks(const struct kl_tree *t)
{
	uint32_t nnames = kl_strtab_count(t->names), *ids, *rank, n = 0;

	ids = kl_malloc(KL_MIN((size_t)nnames, (size_t)t->nnodes) * sizeof(*ids));
	rank = kl_calloc(nnames, sizeof(*rank));
	if (!ids || !rank) {
		kl_free(ids);
		kl_free(rank);
		return NULL;
	}
	/* rank doubles as the "seen" mark while collecting */
	for (uint32_t i = 0; i < t->nnodes; i++) {
		uint32_t name = t->nodes[i].name;

		if (name < nnames && !rank[name]) {
			rank[name] = 1;
			ids[n++] = name;
		}
	}
	qsort_r(ids, n, sizeof(*ids), cmp_name_ids, t->names);
	for (uint32_t i = 0; i < n; i++)
		rank[ids[i]] = i;
	kl_free(ids);
	return rank;
}

int kl_tree_sort(struct kl_tree *t)
{
	uint32_t *rank = name_ranks(t), *kids = NULL;
	struct rank_ctx ctx = { rank, t->nodes };
	size_t cap = 0;
	int rc = 0;

	if (!rank)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nnodes; i++) {
		uint32_t n = 0;

		for (uint32_t c = t->nodes[i].first_child; c != KL_TREE_NONE;
		     c = t->nodes[c].next_sibling) {
			if (KL_GROW(kids, cap, (size_t)n + 1)) {
				rc = -ENOMEM;
				goto out;
			}
			kids[n++] = c;
		}
		if (n < 2)
			continue;
		qsort_r(kids, n, sizeof(*kids), cmp_by_rank, &ctx);
		t->nodes[i].first_child = kids[0];
		for (uint32_t k = 0; k + 1 < n; k++)
			t->nodes[kids[k]].next_sibling = kids[k + 1];
		t->nodes[kids[n - 1]].next_sibling = KL_TREE_NONE;
	}
out:
	kl_free(rank);
	kl_free(kids);
	return rc;
}

/* ---- truncation and pruning --------------------------------------------- */

static int64_t node_key(const struct kl_tree *t, uint32_t i)
{
	int64_t k = llabs(t->nodes[i].total[0]);

	if (t->ncols == 2)
		k = KL_MAX(k, llabs(t->nodes[i].total[1]));
	return k;
}

/*
 * Replaces t's nodes with the kept ones (keep[i] != 0; keep[0] must be set
 * and a kept node's parent must be kept). The values of removed children go
 * to one "other" child per parent (as_other) or to the parent's self.
 * Nodes are copied in index order, so parents still precede children, and
 * the hash index is rebuilt once at the end.
 */
/*
 * Truncation's rule, applied by rebuild as it goes (parents come first, so
 * a node's parent is decided before it), which saves a pass over the
 * nodes: keep a node whose parent is kept and whose key is above
 * threshold, or equal to it while at_threshold lasts.
 */
struct keep_rule {
	int64_t threshold;
	uint32_t at_threshold;
};

static int rebuild(struct kl_tree *t, uint8_t *keep, bool as_other, struct keep_rule *rule)
{
	struct kl_tree *n = kl_tree_new(t->names, t->ncols);
	uint32_t *map = kl_malloc((size_t)t->nnodes * sizeof(*map));
	uint32_t *other_of = kl_malloc((size_t)t->nnodes * sizeof(*other_of));
	uint32_t other = kl_strtab_intern_cstr(t->names, "other");
	int rc = -ENOMEM;

	if (!n || !map || !other_of || kl_strtab_failed(t->names))
		goto out;
	memset(other_of, 0xff, (size_t)t->nnodes * sizeof(*other_of));
	map[0] = 0;
	for (uint32_t c = 0; c < t->ncols; c++) {
		n->nodes[0].self[c] = t->nodes[0].self[c];
		n->nodes[0].total[c] = t->nodes[0].total[c];
	}
	for (uint32_t i = 1; i < t->nnodes; i++) {
		const struct kl_tree_node *o = &t->nodes[i];
		uint32_t parent = map[o->parent], idx;

		map[i] = EMPTY;
		if (parent == EMPTY)
			continue;	/* below a removed node: already counted */
		if (rule) {
			int64_t k = node_key(t, i);

			if (k > rule->threshold) {
				keep[i] = 1;
			} else if (k == rule->threshold && rule->at_threshold > 0) {
				keep[i] = 1;
				rule->at_threshold--;
			}
		}
		if (!keep[i] && !as_other) {
			for (uint32_t c = 0; c < t->ncols; c++)
				n->nodes[parent].self[c] += o->total[c];
			continue;
		}
		if (keep[i]) {
			idx = map[i] = node_append(n, parent, o->name);
		} else {
			/* new parents are numbered below t->nnodes: other_of fits */
			if (other_of[parent] == EMPTY)
				other_of[parent] = node_append(n, parent, other);
			idx = other_of[parent];
		}
		if (idx == EMPTY)
			goto out;
		for (uint32_t c = 0; c < t->ncols; c++) {
			n->nodes[idx].total[c] += o->total[c];
			/* a removed subtree becomes self time of "other" */
			n->nodes[idx].self[c] += keep[i] ? o->self[c] : o->total[c];
		}
	}
	if (kl_hindex_reserve(&n->index, n->nnodes))
		goto out;
	for (uint32_t i = 1; i < n->nnodes; i++)
		kl_hindex_insert(&n->index, child_key_hash(n->nodes[i].parent, n->nodes[i].name), i);
	/* swap the new nodes into t, keeping t's identity and name table */
	kl_free(t->nodes);
	kl_hindex_release(&t->index);
	t->nodes = n->nodes;
	t->nnodes = n->nnodes;
	t->nodes_cap = n->nodes_cap;
	t->index = n->index;
	n->nodes = NULL;
	n->index.slots = NULL;
	rc = kl_tree_sort(t);
out:
	kl_tree_free(n);
	kl_free(map);
	kl_free(other_of);
	return rc;
}

static void swap_i64(int64_t *a, int64_t *b)
{
	int64_t t = *a;

	*a = *b;
	*b = t;
}

/*
 * Returns the k-th largest (0-based) of keys[0..n), reordering keys:
 * quickselect with a median-of-three pivot, linear on average, so that
 * truncating a tree of tens of millions of nodes does not sort them all.
 */
static int64_t select_kth_largest(int64_t *keys, size_t n, size_t k)
{
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2, i = lo, j = hi;
		int64_t pivot;

		/* median of three, in descending order */
		if (keys[mid] > keys[lo])
			swap_i64(&keys[mid], &keys[lo]);
		if (keys[hi] > keys[lo])
			swap_i64(&keys[hi], &keys[lo]);
		if (keys[hi] > keys[mid])
			swap_i64(&keys[hi], &keys[mid]);
		pivot = keys[mid];
		while (i <= j) {
			while (keys[i] > pivot)
				i++;
			while (keys[j] < pivot)
				j--;
			if (i <= j) {
				swap_i64(&keys[i], &keys[j]);
				i++;
				if (j == 0)
					break;
				j--;
			}
		}
		if (k <= j)
			hi = j;
		else if (k >= i)
			lo = i;
		else
			return keys[k];
	}
	return keys[k];
}

int kl_tree_truncate(struct kl_tree *t, uint32_t max_nodes)
{
	struct keep_rule rule;
	int64_t *keys;
	uint8_t *keep;
	int rc;

	if (max_nodes == 0 || t->nnodes <= max_nodes)
		return kl_tree_sort(t);
	keys = kl_malloc((size_t)t->nnodes * sizeof(*keys));
	keep = kl_calloc(t->nnodes, 1);
	if (!keys || !keep) {
		kl_free(keys);
		kl_free(keep);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->nnodes; i++)
		keys[i] = node_key(t, i);
	rule.threshold = select_kth_largest(keys, t->nnodes, max_nodes - 1);
	/*
	 * nodes equal to the threshold that fit: earlier (shallower) first.
	 * The selection left every key above the threshold in keys[0..max_nodes),
	 * so counting them needs no pass over the nodes.
	 */
	rule.at_threshold = max_nodes;
	for (uint32_t i = 0; i < max_nodes; i++)
		rule.at_threshold -= keys[i] > rule.threshold;
	keep[0] = 1;	/* the root stays whatever its key */
	rc = rebuild(t, keep, true, &rule);
	kl_free(keys);
	kl_free(keep);
	return rc;
}

int kl_tree_prune(struct kl_tree *t, int64_t min_total)
{
	uint8_t *keep;
	int rc;

	if (min_total <= 0)
		return kl_tree_sort(t);
	keep = kl_calloc(t->nnodes, 1);
	if (!keep)
		return -ENOMEM;
	for (uint32_t i = 0; i < t->nnodes; i++)
		keep[i] = i == 0 || (keep[t->nodes[i].parent] && node_key(t, i) >= min_total);
	rc = rebuild(t, keep, false, NULL);
	kl_free(keep);
	return rc;
}

/* ---- queries ------------------------------------------------------------ */

void kl_tree_normalize(struct kl_tree *t)
{
	double f;

	if (t->ncols != 2 || t->nodes[0].total[0] == 0 || t->nodes[0].total[1] == 0)
		return;
	f = (double)t->nodes[0].total[0] / (double)t->nodes[0].total[1];
	for (uint32_t i = 0; i < t->nnodes; i++) {
		t->nodes[i].self[1] = llround((double)t->nodes[i].self[1] * f);
		t->nodes[i].total[1] = llround((double)t->nodes[i].total[1] * f);
	}
}

