/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flamebearer_test.c - the flamebearer writer against the example of
 * pyroscope-compat.md §4 and Pyroscope's own diff example, the reader on
 * that example and on malformed input, and write -> read -> write round
 * trips (including one over a real Go CPU profile when the pprof reader
 * can load it).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "testlib.h"

#include "formats/formats.h"

/* Adds "a;b;c" (root first) with value to column col of t. */
static void add(struct kl_tree *t, const char *folded, int64_t value, uint32_t col)
{
	uint32_t frames[64], n = 0;
	const char *s = folded;

	while (*s) {
		const char *e = strchr(s, ';');
		size_t len = e ? (size_t)(e - s) : strlen(s);

		frames[n++] = kl_strtab_intern(t->names, s, len);
		s += len + (e ? 1 : 0);
	}
	assert_int_equal(kl_tree_add_stack(t, frames, n, value, col, true), 0);
}

/* Writes t and returns the JSON (caller frees with kl_free). */
static char *write_fb(const struct kl_tree *t, const struct kl_flamebearer_meta *m,
		      bool members_only)
{
	struct kl_buf b;
	struct kl_err err;

	kl_buf_init(&b, 0);
	assert_int_equal(kl_flamebearer_write(t, m, members_only, &b, &err), 0);
	return kl_buf_detach(&b, NULL);
}

static const struct kl_flamebearer_meta cpu_meta = {
	.name = "cpu", .spy_name = "", .units = "samples", .sample_rate = 1000000000,
};

/* The example of pyroscope-compat.md §4, as kiln writes it. */
static const char spec_json[] =
	"{\"version\":1,\"flamebearer\":{\"names\":[\"total\",\"main\",\"foo\",\"bar\"],"
	"\"levels\":[[0,300,0,0],[0,300,0,1],[0,100,100,2,0,200,200,3]],"
	"\"numTicks\":300,\"maxSelf\":200},"
	"\"metadata\":{\"format\":\"single\",\"spyName\":\"\",\"sampleRate\":1000000000,"
	"\"units\":\"samples\",\"name\":\"cpu\"}}";

/* Makes node a come before node b among their parent's children. */
static void put_first(struct kl_tree *t, uint32_t parent, uint32_t a, uint32_t b)
{
	t->nodes[parent].first_child = a;
	t->nodes[a].next_sibling = b;
	t->nodes[b].next_sibling = KL_TREE_NONE;
}

static void test_spec_example(void **state)
{
	struct kl_tree *t = kl_tree_new(NULL, 1);
	uint32_t main_, foo, bar;
	char *json;

	(void)state;
	add(t, "main;foo", 100, 0);
	add(t, "main;bar", 200, 0);
	assert_int_equal(kl_tree_sort(t), 0);
	/* sorted (byte order) trees put bar first */
	json = write_fb(t, &cpu_meta, false);
	assert_string_equal(json,
		"{\"version\":1,\"flamebearer\":{\"names\":[\"total\",\"main\",\"bar\",\"foo\"],"
		"\"levels\":[[0,300,0,0],[0,300,0,1],[0,200,200,2,0,100,100,3]],"
		"\"numTicks\":300,\"maxSelf\":200},"
		"\"metadata\":{\"format\":\"single\",\"spyName\":\"\",\"sampleRate\":1000000000,"
		"\"units\":\"samples\",\"name\":\"cpu\"}}");
	kl_free(json);

	/* the spec lists foo before bar: the writer follows sibling order */
	main_ = kl_tree_child(t, 0, (uint32_t)kl_strtab_find(t->names, "main", 4));
	foo = kl_tree_child(t, main_, (uint32_t)kl_strtab_find(t->names, "foo", 3));
	bar = kl_tree_child(t, main_, (uint32_t)kl_strtab_find(t->names, "bar", 3));
	put_first(t, main_, foo, bar);
	json = write_fb(t, &cpu_meta, false);
	assert_string_equal(json, spec_json);
	kl_free(json);

	/* members only: the server appends "timeline" and "groups" */
	json = write_fb(t, &cpu_meta, true);
	assert_memory_equal(json, spec_json + 1, strlen(spec_json) - 2);
	assert_int_equal(strlen(json), strlen(spec_json) - 2);
	kl_free(json);
	kl_tree_free(t);
}

/* Self comes first in a node, then its children; offsets are per level. */
static void test_offsets(void **state)
{
	struct kl_tree *t = kl_tree_new(NULL, 1);
	char *json;

	(void)state;
	add(t, "a", 5, 0);
	add(t, "a;b;c", 3, 0);
	add(t, "a;d", 2, 0);
	add(t, "e;f", 4, 0);
	add(t, "e;f;c", 1, 0);
	add(t, "total", 7, 0);	/* a frame called total shares name 0 */
	assert_int_equal(kl_tree_sort(t), 0);
	json = write_fb(t, NULL, false);
	/*
	 * x: a [0,10) self 5, b [5,8), d [8,10), c [5,8); e [10,15), f [10,15)
	 * self 4, c [14,15); total [15,22)
	 */
	assert_non_null(strstr(json,
		"\"names\":[\"total\",\"a\",\"b\",\"c\",\"d\",\"e\",\"f\"],"
		"\"levels\":[[0,22,0,0],[0,10,5,1,0,5,0,5,0,7,7,0],[5,3,0,2,0,2,2,4,0,5,4,6],"
		"[5,3,3,3,6,1,1,3]],\"numTicks\":22,\"maxSelf\":7}"));
	/* without metadata the tree's sample type is used */
	assert_non_null(strstr(json, "\"format\":\"single\""));
	kl_free(json);
	kl_tree_free(t);
}

/* Pyroscope's own CombineToFlamebearerStruct example, names in sorted order. */
static void test_double(void **state)
{
	struct kl_tree *t = kl_tree_new(NULL, 2);
	char *json;

	(void)state;
	add(t, "a;b", 1, 0);
	add(t, "a;c", 2, 0);
	add(t, "a;b", 4, 1);
	add(t, "a;c", 8, 1);
	assert_int_equal(kl_tree_sort(t), 0);
	json = write_fb(t, &cpu_meta, false);
	assert_string_equal(json,
		"{\"version\":1,\"flamebearer\":{\"names\":[\"total\",\"a\",\"b\",\"c\"],"
		"\"levels\":[[0,3,0,0,12,0,0],[0,3,0,0,12,0,1],"
		"[0,1,1,0,4,4,2,0,2,2,0,8,8,3]],\"numTicks\":15,\"maxSelf\":8},"
		"\"metadata\":{\"format\":\"double\",\"spyName\":\"\",\"sampleRate\":1000000000,"
		"\"units\":\"samples\",\"name\":\"cpu\"},\"leftTicks\":3,\"rightTicks\":12}");
	kl_free(json);
	kl_tree_free(t);

	/* nodes present on one side only: zero width on the other */
	t = kl_tree_new(NULL, 2);
	add(t, "a;b", 1, 0);
	add(t, "a;e", 3, 0);
	add(t, "a;b", 4, 1);
	add(t, "a;d", 8, 1);
	assert_int_equal(kl_tree_sort(t), 0);
	json = write_fb(t, &cpu_meta, true);
	assert_non_null(strstr(json, "\"names\":[\"total\",\"a\",\"b\",\"d\",\"e\"],"
		"\"levels\":[[0,4,0,0,12,0,0],[0,4,0,0,12,0,1],"
		"[0,1,1,0,4,4,2,0,0,0,0,8,8,3,0,3,3,0,0,0,4]],\"numTicks\":16,\"maxSelf\":8}"));
	assert_non_null(strstr(json, "\"leftTicks\":4,\"rightTicks\":12"));
	assert_true(json[0] == '"');
	kl_free(json);
	kl_tree_free(t);
}

static void test_escaping(void **state)
{
	struct kl_tree *t = kl_tree_new(NULL, 1);
	struct kl_flamebearer_meta m = { "we\"ird", "go\\spy", "bytes", 0 };
	char *json;

	(void)state;
	add(t, "say \"hi\"\n;tab\there", 1, 0);
	assert_int_equal(kl_tree_sort(t), 0);
	json = write_fb(t, &m, false);
	assert_non_null(strstr(json, "[\"total\",\"say \\\"hi\\\"\\n\",\"tab\\there\"]"));
	assert_non_null(strstr(json, "\"spyName\":\"go\\\\spy\",\"sampleRate\":0,"
				     "\"units\":\"bytes\",\"name\":\"we\\\"ird\""));
	kl_free(json);
	kl_tree_free(t);
}

/* Builds a tree from a profile's samples by function name (no view needed). */
static struct kl_tree *tree_of(const struct kl_profile *p)
{
	struct kl_tree *t = kl_tree_new(NULL, 1);
	uint32_t frames[4096];

	assert_non_null(t);
	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *s = &p->samples[i];
		uint32_t n = 0;

		for (uint32_t k = 0; k < s->nlocs; k++) {
			const struct kl_location *loc = &p->locations[kl_sample_locs(p, s)[k]];

			for (uint32_t l = 0; l < loc->nlines && n < 4096; l++) {
				const struct kl_function *f =
					&p->functions[kl_location_lines(p, loc)[l].function];

				frames[n++] = kl_strtab_intern_cstr(t->names,
								    kl_profile_sget(p, f->name));
			}
		}
		assert_int_equal(kl_tree_add_stack(t, frames, n, kl_sample_values(p, i)[0], 0,
						   false), 0);
	}
	assert_int_equal(kl_tree_sort(t), 0);
	return t;
}

static struct kl_profile *read_ok(const char *json, const struct kl_read_limits *lim)
{
	return test_read_text(kl_flamebearer_read, json, lim);
}

static void test_read_spec(void **state)
{
	/* the full render response, with timeline and groups */
	static const char doc[] =
		"{ \"version\": 1,\n"
		"  \"flamebearer\": { \"names\": [\"total\",\"main\",\"foo\",\"bar\"],\n"
		"    \"levels\": [[0,300,0,0],[0,300,0,1],[0,100,100,2, 0,200,200,3]],\n"
		"    \"numTicks\": 300, \"maxSelf\": 200 },\n"
		"  \"metadata\": { \"format\": \"single\", \"spyName\": \"\", \"sampleRate\": "
		"1000000000,\n    \"units\": \"samples\", \"name\": \"cpu\" },\n"
		"  \"timeline\": { \"startTime\": 1700000000, \"samples\": [0,12,7], "
		"\"durationDelta\": 15 },\n"
		"  \"groups\": null }";
	struct kl_read_limits lim = { .max_depth = 1 };
	struct kl_profile *p = read_ok(doc, NULL);
	struct kl_tree *t;
	char *json;

	(void)state;
	assert_int_equal(kl_format_detect((const uint8_t *)doc, strlen(doc)),
			 KL_FORMAT_FLAMEBEARER);
	assert_int_equal(p->nsample_types, 1);
	assert_string_equal(kl_profile_sget(p, p->sample_types[0].type), "cpu");
	assert_string_equal(kl_profile_sget(p, p->sample_types[0].unit), "nanoseconds");
	assert_int_equal(p->nsamples, 2);
	assert_int_equal(kl_profile_total(p, 0), 300);
	/* one sample per node with self: foo (leaf first: foo, main) */
	assert_int_equal(p->samples[0].nlocs, 2);
	assert_int_equal(kl_sample_values(p, 0)[0], 100);
	t = tree_of(p);
	json = write_fb(t, &cpu_meta, false);
	assert_non_null(strstr(json, "[0,200,200,2,0,100,100,3]"));
	kl_free(json);
	kl_tree_free(t);
	kl_profile_free(p);

	/* depth limit: the kept level stands for what was cut */
	p = read_ok(doc, &lim);
	assert_int_equal(p->nsamples, 1);
	assert_int_equal(p->samples[0].nlocs, 1);
	assert_int_equal(kl_sample_values(p, 0)[0], 300);
	kl_profile_free(p);

	/* a bare flamebearer object (no wrapper) reads too; units map to types */
	p = read_ok("{\"names\":[\"total\",\"malloc\"],\"levels\":[[0,64,0,0],[0,64,64,1]],"
		    "\"numTicks\":64,\"maxSelf\":64,\"metadata\":{\"units\":\"bytes\"}}", NULL);
	assert_string_equal(kl_profile_sget(p, p->sample_types[0].type), "space");
	assert_string_equal(kl_profile_sget(p, p->sample_types[0].unit), "bytes");
	assert_int_equal(kl_profile_total(p, 0), 64);
	kl_profile_free(p);
}

static void test_round_trip(void **state)
{
	struct kl_tree *t = kl_tree_new(NULL, 1), *t2;
	struct kl_profile *p;
	char *a, *b;

	(void)state;
	add(t, "main;run;parse;lex", 40, 0);
	add(t, "main;run;parse", 7, 0);
	add(t, "main;run;eval;lex", 13, 0);
	add(t, "main;gc", 5, 0);
	add(t, "runtime.mcall;runtime.park_m;runtime.schedule", 9, 0);
	add(t, "main;run", 3, 0);
	add(t, "\xe2\x9c\x93 utf-8;\"quoted\"", 2, 0);
	add(t, "", 4, 0);	/* an empty stack: the root's self */
	assert_int_equal(kl_tree_sort(t), 0);
	a = write_fb(t, &cpu_meta, false);
	p = read_ok(a, NULL);
	assert_int_equal(kl_profile_total(p, 0), 83);
	t2 = tree_of(p);
	b = write_fb(t2, &cpu_meta, false);
	assert_string_equal(a, b);
	kl_free(a);
	kl_free(b);
	kl_tree_free(t);
	kl_tree_free(t2);
	kl_profile_free(p);
}

static void expect_bad(const char *json, int code, const char *msg_part)
{
	test_read_bad(kl_flamebearer_read, "flamebearer: ", json, code, msg_part);
}

#define FB(levels) "{\"flamebearer\":{\"names\":[\"total\",\"a\",\"b\"],\"levels\":" levels "}}"

static void test_malformed(void **state)
{
	(void)state;
	expect_bad("", -KL_EFORMAT, "invalid JSON");
	expect_bad("{\"flamebearer\":{\"names\":[\"total\"],\"levels\":[[0,1,0,0]", -KL_EFORMAT,
		   "invalid JSON");
	expect_bad("[1,2]", -KL_EFORMAT, "not an object");
	expect_bad("{\"flamebearer\":{\"names\":[\"total\"]}}", -KL_EFORMAT, "\"levels\"");
	expect_bad("{\"flamebearer\":{\"names\":[],\"levels\":[]}}", -KL_EFORMAT, "no root");
	expect_bad("{\"flamebearer\":{\"names\":[\"total\",7],\"levels\":[[0,1,0,0]]}}",
		   -KL_EFORMAT, "name 1 is not a string");
	expect_bad(FB("[[0,3,0,0],[0,3,0]]"), -KL_EFORMAT, "not a multiple of 4");
	expect_bad(FB("[[0,3,0,0,0,1,1,1]]"), -KL_EFORMAT, "only the root");
	expect_bad(FB("[[0,3,0,0],[0,3,3,3]]"), -KL_EFORMAT, "name index 3 out of range");
	expect_bad(FB("[[0,3,0,0],[0,3,3,-1]]"), -KL_EFORMAT, "negative");
	expect_bad(FB("[[0,3,0,0],[0,3,4,1]]"), -KL_EFORMAT, "self 4 above total 3");
	expect_bad(FB("[[0,3,0,0],[0,2,2,1,0,2,2,2]]"), -KL_EFORMAT, "outside every node");
	expect_bad(FB("[[0,3,0,0],[1,3,3,1]]"), -KL_EFORMAT, "outside every node");
	expect_bad(FB("[[0,3,0,0],[0,3,0,1],[0,1,1,2],[0,1,1,2]]"), -KL_EFORMAT,
		   "level 3 node 0");
	expect_bad(FB("[[0,3,0,0],[0,1.5,0,1]]"), -KL_EFORMAT, "not an integer");
	expect_bad(FB("[[0,3,0,0],\"x\"]"), -KL_EFORMAT, "level 1 is not an array");
	expect_bad(FB("[[9223372036854775807,1,0,0]]"), -KL_EFORMAT, "overflows");
	expect_bad("{\"flamebearer\":{\"names\":[\"total\"],\"levels\":[[0,1,1,0]],"
		   "\"numTicks\":2}}", -KL_EFORMAT, "numTicks is not the root total 1");
	expect_bad("{\"flamebearer\":{\"names\":[\"total\"],\"levels\":[[0,1,0,0]]},"
		   "\"metadata\":{\"format\":\"double\"}}", -KL_EFORMAT, "\"double\"");
}

static void test_limits(void **state)
{
	struct kl_read_limits lim = { .max_samples = 1 };
	struct kl_profile *p = NULL;
	struct kl_err err;
	const char *json = FB("[[0,3,0,0],[0,1,1,1,0,2,2,2]]");

	(void)state;
	assert_int_equal(kl_flamebearer_read((const uint8_t *)json, strlen(json), &lim, &p, &err),
			 -KL_ELIMIT);
	assert_null(p);
	lim = (struct kl_read_limits){ .max_input = 10 };
	assert_int_equal(kl_flamebearer_read((const uint8_t *)json, strlen(json), &lim, &p, &err),
			 -KL_ELIMIT);
}

/*
 * A wide, deep tree of 60k nodes: the writer must be linear. Also checks
 * that the levels decode back to the same positions (reader round trip).
 */
static void test_large(void **state)
{
	struct kl_tree *t = kl_tree_new(NULL, 1), *t2;
	struct kl_profile *p;
	struct kl_buf b;
	struct kl_err err;
	struct timespec t0, t1;
	char name[32];
	char *again;
	double ms;

	(void)state;
	for (uint32_t i = 0; i < 20000; i++) {
		uint32_t frames[4];

		for (int d = 0; d < 4; d++) {
			snprintf(name, sizeof(name), "f%u_%u", d, (i * 7919u >> (3 * d)) % 9000);
			frames[d] = kl_strtab_intern_cstr(t->names, name);
		}
		assert_int_equal(kl_tree_add_stack(t, frames, 4, 1 + i % 13, 0, true), 0);
	}
	assert_int_equal(kl_tree_sort(t), 0);
	assert_true(t->nnodes > 30000);
	kl_buf_init(&b, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kl_flamebearer_write(t, &cpu_meta, false, &b, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
	print_message("flamebearer: %u nodes, %zu bytes in %.2f ms\n", t->nnodes, b.len, ms);
	p = read_ok(b.data, NULL);
	t2 = tree_of(p);
	assert_int_equal(t2->nnodes, t->nnodes);
	again = write_fb(t2, &cpu_meta, false);
	assert_string_equal(again, b.data);
	kl_free(again);
	kl_buf_release(&b);
	kl_tree_free(t);
	kl_tree_free(t2);
	kl_profile_free(p);
}

/* The large real Go CPU profile: view -> tree -> flamebearer -> back again. */
static void test_real_profile(void **state)
{
	struct kl_profile *p = test_load_pprof("pprof/go-large.cpu.pb.gz"), *q;
	struct kl_view_opts o = { 0 };
	struct kl_tree *t, *t2;
	struct kl_view v;
	struct kl_err err;
	struct kl_buf b;
	struct timespec t0, t1;
	char *again;

	(void)state;
	if (!p)
		skip();
	o.sample_index = p->nsample_types - 1;
	t = kl_tree_new(NULL, 1);
	assert_int_equal(kl_view_init(&v, p, &o, t->names, &err), 0);
	assert_int_equal(kl_tree_add_view(t, &v, 0, false), 0);
	assert_int_equal(kl_tree_sort(t), 0);
	kl_buf_init(&b, 0);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(kl_flamebearer_write(t, &cpu_meta, false, &b, &err), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	print_message("go-large.cpu: %u nodes, %zu bytes in %.2f ms\n", t->nnodes, b.len,
		      (double)(t1.tv_sec - t0.tv_sec) * 1e3 +
			      (double)(t1.tv_nsec - t0.tv_nsec) / 1e6);
	q = read_ok(b.data, NULL);
	assert_int_equal(kl_profile_total(q, 0), t->nodes[0].total[0]);
	assert_int_equal(kl_profile_total(q, 0), kl_profile_total(p, o.sample_index));
	t2 = tree_of(q);
	assert_int_equal(t2->nnodes, t->nnodes);
	again = write_fb(t2, &cpu_meta, false);
	assert_string_equal(again, b.data);
	kl_free(again);
	kl_buf_release(&b);
	kl_view_release(&v);
	kl_tree_free(t);
	kl_tree_free(t2);
	kl_profile_free(p);
	kl_profile_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_example),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_double),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_read_spec),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_real_profile),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
