/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flat_test.c - the flat/cum table and trimmed call graph (core/flat.c):
 * values under recursion and inlining, zero samples, node and edge
 * cut-offs with residual edges, ordering, node limits and diff bases, on a
 * small profile built by hand so that every expected number is derived in
 * the comments, plus a run on a real Go CPU profile.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/flat.h"
#include "core/units.h"
#include "formats/formats.h"

/*
 * Functions main, a, b, c. Locations: L0 = main, L1 = a, L2 = c inlined
 * into b (lines innermost first), L3 = b. Samples, leaf first:
 *
 *   S0 [L2 L1 L0] 10   main > a > b > c(inline)
 *   S1 [L3 L1 L3 L1 L0] 5   main > a > b > a > b (recursion)
 *   S2 [L1 L0] 0       zero: ignored entirely
 *   S3 [L0] 3          main
 *   S4 [L3 L0] 2       main > b
 *
 * flat: c 10, b 7, main 3, a 0; cum: main 20, b 17, a 15, c 10.
 */
static struct kl_profile *small_profile(void)
{
	struct kl_profile *p = kl_profile_new();
	const char *fn[] = { "main", "a", "b", "c" };
	struct kl_line lines[2];
	static const uint32_t s0[] = { 2, 1, 0 }, s1[] = { 3, 1, 3, 1, 0 }, s2[] = { 1, 0 },
			      s3[] = { 0 }, s4[] = { 3, 0 };
	int64_t v;

	assert_non_null(p);
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "cpu"), kl_profile_cstr(p, "nanoseconds"));
	for (int i = 0; i < 4; i++) {
		struct kl_function f = { .id = (uint64_t)i + 1, .name = kl_profile_cstr(p, fn[i]) };

		kl_profile_add_function(p, &f);
	}
	for (uint32_t i = 0; i < 4; i++) {
		struct kl_location loc = { .id = i + 1 };
		uint32_t n = 1;

		lines[0] = (struct kl_line){ .function = i == 3 ? 2 : i, .line = 1 };
		if (i == 2) {
			lines[0] = (struct kl_line){ .function = 3, .line = 7 };
			lines[1] = (struct kl_line){ .function = 2, .line = 3 };
			n = 2;
		}
		kl_profile_add_location(p, &loc, lines, n);
	}
	v = 10;
	kl_profile_add_sample(p, s0, 3, &v, NULL, 0);
	v = 5;
	kl_profile_add_sample(p, s1, 5, &v, NULL, 0);
	v = 0;
	kl_profile_add_sample(p, s2, 2, &v, NULL, 0);
	v = 3;
	kl_profile_add_sample(p, s3, 1, &v, NULL, 0);
	v = 2;
	kl_profile_add_sample(p, s4, 2, &v, NULL, 0);
	assert_false(kl_profile_failed(p));
	return p;
}

struct fixture {
	struct kl_profile *p;
	struct kl_strtab *names;
	struct kl_view view, base_view;
	struct kl_flat f;
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	struct kl_view_opts vo = { .granularity = KL_GRAN_FUNCTIONS };
	struct kl_err err;

	fx->p = small_profile();
	fx->names = kl_strtab_new();
	assert_int_equal(kl_view_init(&fx->view, fx->p, &vo, fx->names, &err), 0);
	kl_flat_init(&fx->f, fx->names);
	assert_int_equal(kl_flat_add_view(&fx->f, &fx->view, false), 0);
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	kl_flat_release(&fx->f);
	kl_view_release(&fx->view);
	kl_view_release(&fx->base_view);
	kl_strtab_free(fx->names);
	kl_profile_free(fx->p);
	free(fx);
	return 0;
}

static const struct kl_flat_node *node(const struct kl_flat *f, const char *name)
{
	int64_t id = kl_strtab_find(f->names, name, strlen(name));
	uint32_t n;

	assert_true(id >= 0);
	n = kl_flat_find(f, (uint32_t)id);
	assert_int_not_equal(n, KL_FLAT_NONE);
	return &f->nodes[n];
}

/* The edge src -> dst among the untrimmed edges, or NULL. */
static const struct kl_flat_edge *edge(const struct kl_flat *f, const char *src, const char *dst)
{
	const struct kl_flat_node *s = node(f, src);

	for (uint32_t i = 0; i < s->nout; i++) {
		const struct kl_flat_edge *e = &f->edges[f->out[s->out_start + i]];

		if (!strcmp(kl_flat_name(f, e->dst), dst))
			return e;
	}
	return NULL;
}

static void test_values(void **state)
{
	struct fixture *fx = *state;
	struct kl_flat *f = &fx->f;
	struct kl_flat_opts o = { 0 };

	assert_int_equal(kl_flat_trim(f, &o), 0);
	assert_int_equal(f->total, 20);
	assert_int_equal(f->nvisible, 4);
	assert_int_equal(f->nshown, 4);
	assert_int_equal(f->ndropped, 0);
	assert_int_equal(node(f, "main")->flat, 3);
	assert_int_equal(node(f, "main")->cum, 20);
	assert_int_equal(node(f, "a")->flat, 0);
	assert_int_equal(node(f, "a")->cum, 15);	/* recursion counted once */
	assert_int_equal(node(f, "b")->flat, 7);
	assert_int_equal(node(f, "b")->cum, 17);
	assert_int_equal(node(f, "c")->flat, 10);
	assert_int_equal(node(f, "c")->cum, 10);
	/* flat order: c 10, b 7, main 3, a 0 */
	assert_string_equal(kl_flat_name(f, f->shown[0]), "c");
	assert_string_equal(kl_flat_name(f, f->shown[1]), "b");
	assert_string_equal(kl_flat_name(f, f->shown[2]), "main");
	assert_string_equal(kl_flat_name(f, f->shown[3]), "a");
	assert_int_equal(kl_flat_min_value(f), 3);
}

static void test_edges_and_inline(void **state)
{
	struct fixture *fx = *state;
	struct kl_flat *f = &fx->f;
	struct kl_flat_opts o = { 0 };
	const struct kl_flat_edge *e;

	assert_int_equal(kl_flat_trim(f, &o), 0);
	e = edge(f, "main", "a");
	assert_non_null(e);
	assert_int_equal(e->weight, 15);
	e = edge(f, "a", "b");
	assert_non_null(e);
	assert_int_equal(e->weight, 15);	/* S1 passes a > b twice: once */
	assert_false(e->inlined);
	e = edge(f, "b", "c");
	assert_non_null(e);
	assert_int_equal(e->weight, 10);
	assert_true(e->inlined);
	assert_int_equal(edge(f, "b", "a")->weight, 5);
	assert_int_equal(edge(f, "main", "b")->weight, 2);
	assert_null(edge(f, "b", "b"));
	/* c is only reached inline; b never is */
	assert_int_equal(node(f, "c")->inline_kind, KL_FLAT_INL_FULL);
	assert_int_equal(node(f, "b")->inline_kind, KL_FLAT_INL_NONE);
	assert_int_equal(node(f, "main")->nin, 0);
	/* callees of main sorted by weight: a (15) then b (2) */
	assert_int_equal(node(f, "main")->nout, 2);
	assert_string_equal(kl_flat_name(f, f->edges[f->out[node(f, "main")->out_start]].dst), "a");
}

static void test_cutoffs(void **state)
{
	struct fixture *fx = *state;
	struct kl_flat *f = &fx->f;
	struct kl_flat_opts o = { .node_fraction = 0.8 };
	const struct kl_flat_edge *e;

	/* cut-off int64(20 * 0.8) = 16: main (20) and b (17) stay */
	assert_int_equal(kl_flat_trim(f, &o), 0);
	assert_int_equal(f->nshown, 2);
	assert_int_equal(f->ndropped, 2);
	assert_int_equal(f->norig, 2);
	assert_int_equal(f->shown_flat, 10);
	/* main > b now bridges a: 10 (S0) + 5 (S1, once) + 2 (S4) */
	e = edge(f, "main", "b");
	assert_non_null(e);
	assert_int_equal(e->weight, 17);
	assert_true(e->residual);

	/* edges lighter than int64(20 * 0.55) = 11 are trimmed */
	o = (struct kl_flat_opts){ .edge_fraction = 0.55 };
	assert_int_equal(kl_flat_trim(f, &o), 0);
	assert_non_null(edge(f, "main", "a"));
	assert_null(edge(f, "b", "a"));
	/* b > c (10) is trimmed: c has no incoming edge and no marker */
	assert_int_equal(node(f, "c")->nin, 0);
	assert_int_equal(node(f, "c")->inline_kind, KL_FLAT_INL_NONE);

	/* cum order and a node limit: main only, out of 4 */
	o = (struct kl_flat_opts){ .node_count = 1, .cum_sort = true };
	assert_int_equal(kl_flat_trim(f, &o), 0);
	assert_int_equal(f->nshown, 1);
	assert_int_equal(f->norig, 4);
	assert_string_equal(kl_flat_name(f, f->shown[0]), "main");
}

static void test_diff_base(void **state)
{
	struct fixture *fx = *state;
	struct kl_flat *f = &fx->f;
	struct kl_view_opts vo = { .granularity = KL_GRAN_FUNCTIONS };
	struct kl_flat_opts o = { 0 };
	struct kl_err err;

	/* the profile minus itself: every node cancels out */
	assert_int_equal(kl_view_init(&fx->base_view, fx->p, &vo, fx->names, &err), 0);
	assert_int_equal(kl_flat_add_view(f, &fx->base_view, true), 0);
	assert_int_equal(kl_flat_trim(f, &o), 0);
	assert_int_equal(f->total_base, 20);
	assert_int_equal(f->total, 20);	/* percentages relative to the base */
	assert_int_equal(f->nvisible, 0);
	assert_int_equal(f->nshown, 0);
	assert_int_equal(node(f, "main")->cum, 0);
}

/* A real Go CPU profile: the figures `go tool pprof -top` prints for it. */
static void test_real_profile(void **state)
{
	const char *dir = getenv("KILN_FIXTURES");
	char path[4096], buf[KL_UNIT_LABEL_MAX];
	struct kl_profile *p = NULL;
	struct kl_strtab *names = kl_strtab_new();
	struct kl_view v;
	struct kl_view_opts vo = { .granularity = KL_GRAN_FUNCTIONS, .sample_index = 1 };
	struct kl_flat f;
	struct kl_flat_opts o = { .node_fraction = 0.005, .edge_fraction = 0.001 };
	struct kl_err err;
	FILE *fp;
	uint8_t *data;
	long len;

	(void)state;
	if (!dir)
		skip();
	snprintf(path, sizeof(path), "%s/pprof/go-cpu.pb.gz", dir);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	data = malloc((size_t)len);
	assert_int_equal(fread(data, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	assert_int_equal(kl_pprof_read(data, (size_t)len, NULL, &p, &err), 0);
	free(data);
	assert_int_equal(kl_view_init(&v, p, &vo, names, &err), 0);
	kl_flat_init(&f, names);
	assert_int_equal(kl_flat_add_view(&f, &v, false), 0);
	assert_int_equal(kl_flat_trim(&f, &o), 0);
	/* "Showing nodes accounting for 2.86s, 97.61% of 2.93s total" */
	assert_string_equal(kl_unit_label(buf, sizeof(buf), f.total, "nanoseconds", "s"), "2.93s");
	assert_string_equal(kl_unit_label(buf, sizeof(buf), f.shown_flat, "nanoseconds", "s"),
			    "2.86s");
	assert_int_equal(f.ndropped, 43);
	/* first row: "1.99s 67.92% 67.92% 2.14s 73.04%  math.sin" */
	assert_string_equal(kl_flat_name(&f, f.shown[0]), "math.sin");
	assert_int_equal(f.nodes[f.shown[0]].flat, 1990000000);
	assert_int_equal(f.nodes[f.shown[0]].cum, 2140000000);
	kl_flat_release(&f);
	kl_view_release(&v);
	kl_profile_free(p);
	kl_strtab_free(names);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edges_and_inline, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cutoffs, setup, teardown),
		cmocka_unit_test_setup_teardown(test_diff_base, setup, teardown),
		cmocka_unit_test(test_real_profile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
