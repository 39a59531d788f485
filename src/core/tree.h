/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tree.h - the call tree (flame tree): stacks merged from the root down.
 *
 * Node 0 is the root ("total"). Each node has a frame name (an id in the
 * tree's name table), self and total values, and for diffs a second column
 * of values (column 1 = the right / new side). Children are found through a
 * hash table on (parent, name) while building, and are linked as a sibling
 * list for traversal. kl_tree_sort orders siblings by name, which is the
 * order flame graphs and flamebearer use.
 *
 * Every renderer (SVG, HTML, flamebearer, speedscope, folded output) reads
 * a kl_tree, so truncation ("other" nodes) and diff alignment are done once,
 * here.
 */
#ifndef KL_TREE_H
#define KL_TREE_H

#include "hindex.h"
#include "view.h"

#define KL_TREE_NONE UINT32_MAX

struct kl_tree_node {
	uint32_t name;		/* id in tree->names */
	uint32_t parent;	/* KL_TREE_NONE for the root */
	uint32_t first_child;	/* KL_TREE_NONE if a leaf */
	uint32_t next_sibling;	/* KL_TREE_NONE if last */
	int64_t self[2];	/* column 0 = single / left, 1 = right */
	int64_t total[2];
};

struct kl_tree {
	struct kl_strtab *names;	/* frame names; owned if owns_names */
	bool owns_names;
	struct kl_tree_node *nodes;
	uint32_t nnodes;
	size_t nodes_cap;
	uint32_t ncols;		/* 1, or 2 for a diff */
	/* child lookup: every non-root node, keyed by the hash of (parent, name) */
	struct kl_hindex index;
	/* description for renderers: the sample type and unit of column 0 */
	char sample_type[64];
	char unit[32];
};

/*
 * Creates a tree with just the root. names may be NULL, in which case the
 * tree makes and owns a name table; otherwise it borrows names (which must
 * outlive the tree). ncols is 1 or 2. NULL on out of memory.
 */
struct kl_tree *kl_tree_new(struct kl_strtab *names, uint32_t ncols);

void kl_tree_free(struct kl_tree *t);

/*
 * Adds one stack with value to column col. frames are name ids, leaf first
 * (as kl_view_stack writes them) unless root_first is set. Returns 0 or
 * -ENOMEM.
 */
int kl_tree_add_stack(struct kl_tree *t, const uint32_t *frames, uint32_t nframes,
		      int64_t value, uint32_t col, bool root_first);

/*
 * Adds every sample kept by view v to column col. With reverse, stacks are
 * added leaf first so the tree's roots are the leaf functions (an inverted
 * or "bottom-up" tree). Returns 0 or -ENOMEM.
 */
int kl_tree_add_view(struct kl_tree *t, const struct kl_view *v, uint32_t col, bool reverse);

/* Finds the child of parent named name, or KL_TREE_NONE. */
uint32_t kl_tree_child(const struct kl_tree *t, uint32_t parent, uint32_t name);

/* Orders every sibling list by name (byte order). Returns 0 or -ENOMEM. */
int kl_tree_sort(struct kl_tree *t);

/*
 * Truncates t in place to about max_nodes nodes: the nodes with the largest
 * totals (max over columns; the root always stays) are kept, and below each
 * kept node the removed children are replaced by one child named "other"
 * holding their sum (so totals are unchanged). "other" nodes come on top of
 * max_nodes. Sorts the tree. max_nodes 0 means no limit (sort only).
 * Returns 0 or -ENOMEM (t is unchanged on failure).
 */
int kl_tree_truncate(struct kl_tree *t, uint32_t max_nodes);

/*
 * Drops, in place, nodes whose total is below min_total in every column,
 * adding their values to their parent's self (flamegraph.pl's --minwidth
 * idea applied to values). Sorts the tree. Returns 0 or -ENOMEM.
 */
int kl_tree_prune(struct kl_tree *t, int64_t min_total);

/*
 * Scales column 1 so its root total equals column 0's (diff
 * normalisation). No-op when either total is 0.
 */
void kl_tree_normalize(struct kl_tree *t);

/* Name of node i as a C string. */
static inline const char *kl_tree_name(const struct kl_tree *t, uint32_t i)
{
	return kl_strtab_get(t->names, t->nodes[i].name);
}

#endif /* KL_TREE_H */
