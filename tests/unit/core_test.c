/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core_test.c - unit tests of the profile model: string interning, the
 * builder, frame naming at each granularity, filters and call trees.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/filter.h"
#include "core/profile.h"
#include "core/tree.h"
#include "core/view.h"

static void test_strtab(void **state)
{
	struct kl_strtab *st = kl_strtab_new();
	char buf[32];

	(void)state;
	assert_non_null(st);
	assert_int_equal(kl_strtab_intern_cstr(st, ""), 0);
	assert_int_equal(kl_strtab_intern_cstr(st, "a"), 1);
	assert_int_equal(kl_strtab_intern_cstr(st, "b"), 2);
	assert_int_equal(kl_strtab_intern_cstr(st, "a"), 1);
	assert_int_equal(kl_strtab_append(st, "a", 1), 3);	/* duplicates kept apart */
	assert_int_equal(kl_strtab_intern_cstr(st, "a"), 1);
	/* growth past the initial table and arena */
	for (int i = 0; i < 100000; i++) {
		snprintf(buf, sizeof(buf), "name-%d", i);
		assert_int_equal(kl_strtab_intern_cstr(st, buf), 4 + i);
	}
	assert_string_equal(kl_strtab_get(st, 4 + 99999), "name-99999");
	assert_int_equal(kl_strtab_find(st, "name-500", 8), 4 + 500);
	assert_int_equal(kl_strtab_find(st, "missing", 7), -1);
	assert_string_equal(kl_strtab_get(st, 999999999), "");
	assert_false(kl_strtab_failed(st));
	kl_strtab_free(st);
}

/* The copy helpers the series split uses: hashed adds, duplicates flag, reserve. */
static void test_strtab_copy(void **state)
{
	struct kl_strtab *src = kl_strtab_new(), *dst = kl_strtab_new();
	const char *words[] = { "alpha", "beta", "gamma" };
	size_t bytes;

	(void)state;
	assert_non_null(src);
	assert_non_null(dst);
	for (size_t i = 0; i < 3; i++)
		kl_strtab_append(src, words[i], strlen(words[i]));
	assert_false(kl_strtab_has_duplicates(src));
	kl_strtab_append(src, "", 0);	/* an extra "" is not a duplicate that matters */
	assert_false(kl_strtab_has_duplicates(src));
	assert_int_equal(kl_strtab_append(src, "beta", 4), 5);
	assert_true(kl_strtab_has_duplicates(src));
	/* "" + 3 words with NULs + "" + "beta" */
	assert_int_equal(kl_strtab_bytes(src), 1 + 6 + 5 + 6 + 1 + 5);

	assert_int_equal(kl_strtab_reserve(dst, 100000, 1000000), 0);
	bytes = kl_strtab_memory(dst);
	for (size_t i = 0; i < 3; i++) {
		size_t len = strlen(words[i]);
		/* the low bits may carry a mark: only the high ones are used */
		uint64_t h = kl_hash(words[i], len) | 1;

		assert_int_equal(kl_strtab_add_hashed(dst, words[i], len, h), i + 1);
	}
	assert_int_equal(kl_strtab_add_hashed(dst, "", 0, kl_hash("", 0)), 0);
	/* added strings are found by content, by find and intern alike */
	assert_int_equal(kl_strtab_find(dst, "gamma", 5), 3);
	assert_int_equal(kl_strtab_intern_cstr(dst, "beta"), 2);
	assert_int_equal(kl_strtab_intern_cstr(dst, "delta"), 4);
	assert_string_equal(kl_strtab_get(dst, 4), "delta");
	for (int i = 0; i < 50000; i++) {
		char buf[24];

		snprintf(buf, sizeof(buf), "w%d", i);
		assert_int_equal(kl_strtab_add_hashed(dst, buf, strlen(buf),
						      kl_hash(buf, strlen(buf))), 5 + i);
	}
	/* the reservation covered all of it: nothing was reallocated */
	assert_int_equal(kl_strtab_memory(dst), bytes);
	assert_int_equal(kl_strtab_find(dst, "w49999", 6), 5 + 49999);
	assert_false(kl_strtab_failed(dst));
	kl_strtab_free(src);
	kl_strtab_free(dst);
}

/*
 * A small profile:
 *   loc0 (addr 0x10, lines: inlined "inl" at a.go:5 into "main.work" a.go:10)
 *   loc1 ("main.main" b.go:3)
 *   loc2 (no lines, mapping /lib/libc.so.6)
 *   samples: [loc0, loc1] = 5, [loc2, loc1] = 3, [loc1] = 2 (label k=v)
 */
static struct kl_profile *small_profile(void)
{
	struct kl_profile *p = kl_profile_new();
	struct kl_function f = { 0 };
	struct kl_mapping m = { 0 };
	struct kl_location loc = { 0 };
	struct kl_line lines[2];
	struct kl_label lb = { 0 };
	uint32_t s1[] = { 0, 1 }, s2[] = { 2, 1 }, s3[] = { 1 };
	int64_t v;

	kl_profile_add_sample_type(p, kl_profile_cstr(p, "samples"), kl_profile_cstr(p, "count"));
	f.id = 1;
	f.name = kl_profile_cstr(p, "inl");
	f.filename = kl_profile_cstr(p, "/src//a.go");
	kl_profile_add_function(p, &f);
	f.id = 2;
	f.name = kl_profile_cstr(p, "main.work");
	kl_profile_add_function(p, &f);
	f.id = 3;
	f.name = kl_profile_cstr(p, "main.main");
	f.filename = kl_profile_cstr(p, "b.go");
	kl_profile_add_function(p, &f);
	m.id = 1;
	m.filename = kl_profile_cstr(p, "/lib/libc.so.6");
	kl_profile_add_mapping(p, &m);

	loc.id = 1;
	loc.address = 0x10;
	lines[0] = (struct kl_line){ .function = 0, .line = 5 };
	lines[1] = (struct kl_line){ .function = 1, .line = 10 };
	kl_profile_add_location(p, &loc, lines, 2);
	loc.id = 2;
	loc.address = 0x20;
	lines[0] = (struct kl_line){ .function = 2, .line = 3 };
	kl_profile_add_location(p, &loc, lines, 1);
	loc.id = 3;
	loc.address = 0x30;
	loc.mapping = 1;
	kl_profile_add_location(p, &loc, NULL, 0);

	v = 5;
	kl_profile_add_sample(p, s1, 2, &v, NULL, 0);
	v = 3;
	kl_profile_add_sample(p, s2, 2, &v, NULL, 0);
	v = 2;
	lb.key = kl_profile_cstr(p, "k");
	lb.str = kl_profile_cstr(p, "v");
	kl_profile_add_sample(p, s3, 1, &v, &lb, 1);
	assert_false(kl_profile_failed(p));
	assert_int_equal(kl_profile_validate(p, NULL), 0);
	return p;
}

/* Joins the names of sample i's stack (leaf first) with '|'. */
static void stack_string(const struct kl_view *v, uint32_t i, char *out, size_t cap)
{
	uint32_t buf[16];
	uint32_t n = kl_view_stack(v, i, buf, NULL);
	size_t used = 0;

	out[0] = '\0';
	for (uint32_t j = 0; j < n; j++)
		used += (size_t)snprintf(out + used, cap - used, "%s%s", j ? "|" : "",
					 kl_strtab_get(v->names, buf[j]));
}

static void check_view(const struct kl_profile *p, const struct kl_view_opts *o,
		       const char *want0, const char *want1, const char *want2)
{
	struct kl_strtab *names = kl_strtab_new();
	struct kl_view v;
	char got[256];

	assert_int_equal(kl_view_init(&v, p, o, names, NULL), 0);
	stack_string(&v, 0, got, sizeof(got));
	assert_string_equal(got, want0);
	stack_string(&v, 1, got, sizeof(got));
	assert_string_equal(got, want1);
	stack_string(&v, 2, got, sizeof(got));
	assert_string_equal(got, want2);
	kl_view_release(&v);
	kl_strtab_free(names);
}

static void test_view_granularity(void **state)
{
	struct kl_profile *p = small_profile();
	struct kl_view_opts o = { 0 };

	(void)state;
	o.granularity = KL_GRAN_FUNCTIONS;
	check_view(p, &o, "inl|main.work|main.main", "[libc.so.6]|main.main", "main.main");
	o.granularity = KL_GRAN_LINES;
	check_view(p, &o, "inl /src/a.go:5|main.work /src/a.go:10|main.main b.go:3",
		   "[libc.so.6]|main.main b.go:3", "main.main b.go:3");
	o.granularity = KL_GRAN_FILES;
	check_view(p, &o, "/src/a.go|/src/a.go|b.go", "[libc.so.6]|b.go", "b.go");
	o.granularity = KL_GRAN_ADDRESSES;
	check_view(p, &o,
		   "0000000000000010 inl /src/a.go:5|0000000000000010 main.work /src/a.go:10|"
		   "0000000000000020 main.main b.go:3",
		   "0000000000000030 [libc.so.6]|0000000000000020 main.main b.go:3",
		   "0000000000000020 main.main b.go:3");
	o.granularity = KL_GRAN_FUNCTIONS;
	o.no_inlines = true;
	check_view(p, &o, "main.work|main.main", "[libc.so.6]|main.main", "main.main");
	kl_profile_free(p);
}

static void check_filter(const struct kl_profile *p, const struct kl_filter_opts *fo,
			 const char *want0, const char *want1, const char *want2)
{
	struct kl_filter *f;
	struct kl_view_opts o = { 0 };

	assert_int_equal(kl_filter_new(fo, &f, NULL), 0);
	o.filter = f;
	check_view(p, &o, want0, want1, want2);
	kl_filter_free(f);
}

static void test_filters(void **state)
{
	struct kl_profile *p = small_profile();
	struct kl_filter_opts fo;
	struct kl_filter *f;
	struct kl_err err;

	(void)state;
	memset(&fo, 0, sizeof(fo));
	fo.focus = "work";	/* only sample 0 has main.work */
	check_filter(p, &fo, "inl|main.work|main.main", "", "");
	fo.focus = "libc";	/* matches the mapping file */
	check_filter(p, &fo, "", "[libc.so.6]|main.main", "");
	fo.focus = NULL;
	fo.ignore = "a\\.go";	/* matches a file name */
	check_filter(p, &fo, "", "[libc.so.6]|main.main", "main.main");
	fo.ignore = NULL;
	fo.hide = "^inl$";
	check_filter(p, &fo, "main.work|main.main", "[libc.so.6]|main.main", "main.main");
	fo.hide = "main";	/* sample 2 loses every frame and is dropped */
	check_filter(p, &fo, "inl", "[libc.so.6]", "");
	fo.hide = NULL;
	fo.show = "main\\.";
	check_filter(p, &fo, "main.work|main.main", "main.main", "main.main");
	fo.show = NULL;
	fo.tagfocus = "k=v";
	check_filter(p, &fo, "", "", "main.main");
	fo.tagfocus = "k:v";
	check_filter(p, &fo, "", "", "main.main");
	fo.tagfocus = NULL;
	fo.tagignore = "k=v";
	check_filter(p, &fo, "inl|main.work|main.main", "[libc.so.6]|main.main", "");

	memset(&fo, 0, sizeof(fo));
	fo.focus = "(unclosed";
	assert_int_equal(kl_filter_new(&fo, &f, &err), -KL_EREGEX);
	assert_non_null(strstr(err.msg, "-focus"));
	kl_profile_free(p);
}

static void test_tree(void **state)
{
	struct kl_profile *p = small_profile();
	struct kl_view_opts o = { 0 };
	struct kl_tree *t = kl_tree_new(NULL, 1);
	struct kl_view v;
	uint32_t main_name, mm, w, other;

	(void)state;
	assert_non_null(t);
	assert_int_equal(kl_view_init(&v, p, &o, t->names, NULL), 0);
	assert_int_equal(kl_tree_add_view(t, &v, 0, false), 0);
	assert_int_equal(kl_tree_sort(t), 0);
	/* total -> main.main -> {[libc.so.6] 3, main.work -> inl 5}, main.main self 2 */
	assert_int_equal(t->nodes[0].total[0], 10);
	main_name = (uint32_t)kl_strtab_find(t->names, "main.main", 9);
	mm = kl_tree_child(t, 0, main_name);
	assert_int_not_equal(mm, KL_TREE_NONE);
	assert_int_equal(t->nodes[mm].total[0], 10);
	assert_int_equal(t->nodes[mm].self[0], 2);
	/* children sorted by name: "[libc.so.6]" < "main.work" */
	assert_string_equal(kl_tree_name(t, t->nodes[mm].first_child), "[libc.so.6]");
	w = t->nodes[t->nodes[mm].first_child].next_sibling;
	assert_string_equal(kl_tree_name(t, w), "main.work");
	assert_int_equal(t->nodes[w].total[0], 5);
	/* the deepest node: inl, inlined into main.work, holds the largest self */
	assert_int_equal(t->nodes[kl_tree_child(t, w, (uint32_t)kl_strtab_find(t->names, "inl", 3))]
				 .self[0], 5);

	/* keep 3 nodes: total, main.main, main.work; the libc and inl go to "other" */
	assert_int_equal(kl_tree_truncate(t, 3), 0);
	mm = kl_tree_child(t, 0, main_name);
	other = (uint32_t)kl_strtab_find(t->names, "other", 5);
	assert_int_equal(t->nodes[kl_tree_child(t, mm, other)].total[0], 3);
	w = kl_tree_child(t, mm, (uint32_t)kl_strtab_find(t->names, "main.work", 9));
	assert_int_equal(t->nodes[w].total[0], 5);
	assert_int_equal(t->nodes[kl_tree_child(t, w, other)].self[0], 5);
	assert_int_equal(t->nodes[0].total[0], 10);
	kl_view_release(&v);
	kl_tree_free(t);
	kl_profile_free(p);
}

static void test_tree_prune_and_diff(void **state)
{
	struct kl_tree *t = kl_tree_new(NULL, 2);
	uint32_t a = kl_strtab_intern_cstr(t->names, "a"), b = kl_strtab_intern_cstr(t->names, "b");
	uint32_t c = kl_strtab_intern_cstr(t->names, "c");
	uint32_t ab[] = { a, b }, ac[] = { a, c };
	uint32_t na;

	(void)state;
	assert_int_equal(kl_tree_add_stack(t, ab, 2, 100, 0, true), 0);
	assert_int_equal(kl_tree_add_stack(t, ac, 2, 1, 0, true), 0);
	assert_int_equal(kl_tree_add_stack(t, ab, 2, 50, 1, true), 0);
	assert_int_equal(kl_tree_add_stack(t, ac, 2, 50, 1, true), 0);
	kl_tree_normalize(t);	/* right total 100 -> 101 */
	assert_int_equal(t->nodes[0].total[1], 101);
	na = kl_tree_child(t, 0, a);
	assert_int_equal(t->nodes[kl_tree_child(t, na, c)].total[1], 51);
	/* prune below 10 in both columns: nothing goes (c has 51 on the right) */
	assert_int_equal(kl_tree_prune(t, 10), 0);
	na = kl_tree_child(t, 0, a);
	assert_int_not_equal(kl_tree_child(t, na, c), KL_TREE_NONE);
	assert_int_equal(kl_tree_prune(t, 60), 0);
	na = kl_tree_child(t, 0, a);
	assert_int_equal(kl_tree_child(t, na, c), KL_TREE_NONE);
	assert_int_equal(t->nodes[na].self[0], 1);
	assert_int_equal(t->nodes[na].self[1], 51);
	kl_tree_free(t);
}

/* Largest total over both columns, as kl_tree_truncate ranks nodes. */
static int64_t key_of(const struct kl_tree *t, uint32_t i)
{
	int64_t a = t->nodes[i].total[0], b = t->nodes[i].total[1];

	return a > b ? a : b;
}

/*
 * Truncation on a random tree with many equal values: totals are kept,
 * at most max_nodes named nodes survive, and no dropped subtree outweighs
 * a kept node (so the selection of the N-th largest total is right).
 */
static void test_tree_truncate_random(void **state)
{
	unsigned seed = 12345;

	(void)state;
	for (int round = 0; round < 20; round++) {
		struct kl_tree *t = kl_tree_new(NULL, 2);
		uint32_t names[8], stack[6], other, named = 0, max_nodes = 5 + (uint32_t)round * 7;
		uint32_t before;
		int64_t total0, total1, max_dropped = 0, min_kept = INT64_MAX;
		char nm[8];

		for (int i = 0; i < 8; i++) {
			snprintf(nm, sizeof(nm), "f%d", i);
			names[i] = kl_strtab_intern_cstr(t->names, nm);
		}
		for (int s = 0; s < 300; s++) {
			uint32_t depth = 1 + (seed = seed * 1103515245 + 12345) % 6;

			for (uint32_t d = 0; d < depth; d++)
				stack[d] = names[(seed = seed * 1103515245 + 12345) % 8];
			assert_int_equal(kl_tree_add_stack(t, stack, depth, 1 + (seed >> 16) % 3,
							   (seed >> 8) & 1, true), 0);
		}
		total0 = t->nodes[0].total[0];
		total1 = t->nodes[0].total[1];
		/* the heaviest dropped node can weigh at most the lightest kept one */
		{
			int64_t *keys = malloc(t->nnodes * sizeof(*keys));

			for (uint32_t i = 0; i < t->nnodes; i++)
				keys[i] = key_of(t, i);
			for (uint32_t i = 0; i + 1 < t->nnodes; i++)	/* simple sort, small n */
				for (uint32_t j = i + 1; j < t->nnodes; j++)
					if (keys[j] > keys[i]) {
						int64_t x = keys[i];
						keys[i] = keys[j];
						keys[j] = x;
					}
			if (t->nnodes > max_nodes)
				max_dropped = keys[max_nodes];
			free(keys);
		}
		before = t->nnodes;
		assert_int_equal(kl_tree_truncate(t, max_nodes), 0);
		other = (uint32_t)kl_strtab_find(t->names, "other", 5);
		assert_int_equal(t->nodes[0].total[0], total0);
		assert_int_equal(t->nodes[0].total[1], total1);
		for (uint32_t i = 0; i < t->nnodes; i++) {
			int64_t sum[2] = { t->nodes[i].self[0], t->nodes[i].self[1] };

			for (uint32_t c = t->nodes[i].first_child; c != KL_TREE_NONE;
			     c = t->nodes[c].next_sibling) {
				sum[0] += t->nodes[c].total[0];
				sum[1] += t->nodes[c].total[1];
			}
			assert_int_equal(sum[0], t->nodes[i].total[0]);	/* consistent */
			assert_int_equal(sum[1], t->nodes[i].total[1]);
			if (t->nodes[i].name != other) {
				named++;
				if (key_of(t, i) < min_kept)
					min_kept = key_of(t, i);
			}
		}
		/* exactly max_nodes real nodes survive: ties are filled shallow first */
		assert_int_equal(named, before > max_nodes ? max_nodes : before);
		assert_true(min_kept >= max_dropped);
		kl_tree_free(t);
	}
}

/*
 * kl_tree_add_view reuses the nodes of the stack part a sample shares with
 * the previous one: the tree must be the one kl_tree_add_stack builds
 * sample by sample, node for node, for stacks that share long or no
 * prefixes, with zero values and empty stacks in between, in both
 * directions and into a tree that already has nodes.
 */
static void test_tree_add_view_shared_prefixes(void **state)
{
	unsigned seed = 777;

	(void)state;
	for (int round = 0; round < 8; round++) {
		struct kl_profile *p = kl_profile_new();
		struct kl_strtab *names = kl_strtab_new();
		struct kl_view_opts o = { 0 };
		struct kl_tree *a = kl_tree_new(names, 2), *b = kl_tree_new(names, 2);
		bool reverse = round & 1;
		uint32_t locs[12], prev[12] = { 0 }, nprev = 0, buf[16];
		struct kl_view v;

		kl_profile_add_sample_type(p, kl_profile_cstr(p, "samples"),
					   kl_profile_cstr(p, "count"));
		for (int f = 0; f < 6; f++) {
			char nm[8];
			struct kl_function fn = { .id = (uint64_t)f + 1 };
			struct kl_location loc = { .id = (uint64_t)f + 1 };
			struct kl_line line = { 0 };

			snprintf(nm, sizeof(nm), "fn%d", f);
			fn.name = kl_profile_cstr(p, nm);
			line.function = kl_profile_add_function(p, &fn);
			kl_profile_add_location(p, &loc, &line, 1);
		}
		for (int s = 0; s < 400; s++) {
			uint32_t depth = (seed = seed * 1103515245 + 12345) % 12, keep;
			int64_t value = (seed >> 9) % 4;	/* some zeros */

			/* keep a random part of the previous stack's root end */
			keep = KL_MIN(depth, nprev ? (seed >> 13) % (nprev + 1) : 0);
			for (uint32_t d = 0; d < depth; d++)
				locs[depth - 1 - d] = d < keep ? prev[nprev - 1 - d] :
					(seed = seed * 1103515245 + 12345) % 6;
			kl_profile_add_sample(p, locs, depth, &value, NULL, 0);
			memcpy(prev, locs, sizeof(locs));
			nprev = depth;
		}
		assert_false(kl_profile_failed(p));
		assert_int_equal(kl_view_init(&v, p, &o, names, NULL), 0);
		/* column 1 holds something already: the reuse starts from the root */
		for (uint32_t i = 0; i < p->nsamples; i += 50) {
			uint32_t n = kl_view_stack(&v, i, buf, NULL);

			assert_int_equal(kl_tree_add_stack(a, buf, n, 1, 1, reverse), 0);
			assert_int_equal(kl_tree_add_stack(b, buf, n, 1, 1, reverse), 0);
		}
		assert_int_equal(kl_tree_add_view(a, &v, 0, reverse), 0);
		for (uint32_t i = 0; i < p->nsamples; i++) {
			uint32_t n;

			if (kl_view_value(&v, i) == 0)
				continue;
			n = kl_view_stack(&v, i, buf, NULL);
			if (n)
				assert_int_equal(kl_tree_add_stack(b, buf, n, kl_view_value(&v, i), 0,
								   reverse), 0);
		}
		assert_int_equal(a->nnodes, b->nnodes);
		assert_true(a->nnodes > 20);
		assert_memory_equal(a->nodes, b->nodes, a->nnodes * sizeof(*a->nodes));
		for (uint32_t i = 1; i < a->nnodes; i++)
			assert_int_equal(kl_tree_child(a, a->nodes[i].parent, a->nodes[i].name), i);
		assert_int_equal(kl_tree_add_view(a, &v, 2, reverse), -EINVAL);
		kl_view_release(&v);
		kl_tree_free(a);
		kl_tree_free(b);
		kl_strtab_free(names);
		kl_profile_free(p);
	}
}

static void test_sample_index(void **state)
{
	struct kl_profile *p = kl_profile_new();
	struct kl_err err;

	(void)state;
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "alloc_space"), kl_profile_cstr(p, "bytes"));
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "inuse_space"), kl_profile_cstr(p, "bytes"));
	assert_int_equal(kl_profile_sample_index(p, NULL, NULL), 1);
	p->default_sample_type = kl_profile_cstr(p, "alloc_space");
	assert_int_equal(kl_profile_sample_index(p, "", NULL), 0);
	assert_int_equal(kl_profile_sample_index(p, "inuse_space", NULL), 1);
	assert_int_equal(kl_profile_sample_index(p, "1", NULL), 1);
	assert_int_equal(kl_profile_sample_index(p, "nope", &err), -KL_ENOTFOUND);
	assert_non_null(strstr(err.msg, "alloc_space, inuse_space"));
	kl_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strtab),
		cmocka_unit_test(test_strtab_copy),
		cmocka_unit_test(test_view_granularity),
		cmocka_unit_test(test_filters),
		cmocka_unit_test(test_tree),
		cmocka_unit_test(test_tree_prune_and_diff),
		cmocka_unit_test(test_tree_truncate_random),
		cmocka_unit_test(test_tree_add_view_shared_prefixes),
		cmocka_unit_test(test_sample_index),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
