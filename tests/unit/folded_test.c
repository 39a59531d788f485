/* SPDX-License-Identifier: Apache-2.0 */
/*
 * folded_test.c - the folded reader on edge cases (bad count, no count,
 * comments, CRLF, empty input, a huge line, depth and sample limits) and on
 * the collapsed output of a real perf script fixture; the writer on a small
 * tree and in a read -> tree -> write round trip.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "formats/formats.h"
#include "testlib.h"

static struct kl_profile *read_ok(const char *text, const struct kl_read_limits *lim)
{
	return test_read_text(kl_folded_read, text, lim);
}

/* Name of the frame at position i (leaf first) of sample s. */
static const char *frame(const struct kl_profile *p, uint32_t s, uint32_t i)
{
	const struct kl_sample *smp = &p->samples[s];
	const struct kl_location *loc;

	assert_true(i < smp->nlocs);
	loc = &p->locations[kl_sample_locs(p, smp)[i]];
	return kl_profile_sget(p, p->functions[kl_location_lines(p, loc)[0].function].name);
}

static void test_basic(void **state)
{
	struct kl_profile *p = read_ok("main;foo;bar 10\nmain;foo 5\nmain;baz 7\n", NULL);

	(void)state;
	assert_int_equal(p->nsample_types, 1);
	assert_string_equal(kl_profile_sget(p, p->sample_types[0].type), "samples");
	assert_string_equal(kl_profile_sget(p, p->sample_types[0].unit), "count");
	assert_int_equal(p->nsamples, 3);
	/* one function and one location per distinct name */
	assert_int_equal(p->nfunctions, 4);
	assert_int_equal(p->nlocations, 4);
	/* leaf first */
	assert_int_equal(p->samples[0].nlocs, 3);
	assert_string_equal(frame(p, 0, 0), "bar");
	assert_string_equal(frame(p, 0, 2), "main");
	assert_int_equal(kl_sample_values(p, 1)[0], 5);
	assert_int_equal(kl_profile_total(p, 0), 22);
	assert_int_equal(kl_profile_validate(p, NULL), 0);
	kl_profile_free(p);
}

static void test_spaces_comments_blank(void **state)
{
	/* the count follows the LAST space: frame names may hold spaces */
	struct kl_profile *p = read_ok("# a comment 12\n\n"
				       "main;operator new(unsigned long) 3\n"
				       "nocount\n"
				       "main 4",
				       NULL);

	(void)state;
	assert_int_equal(p->nsamples, 2);
	assert_string_equal(frame(p, 0, 0), "operator new(unsigned long)");
	assert_int_equal(kl_sample_values(p, 1)[0], 4);
	kl_profile_free(p);
}

static void test_bad_count(void **state)
{
	const char *bad[] = { "a;b 12\na;c 1x\n", "a;b 12\n\na;c -3\n", "a 99999999999999999999\n",
			      "a 1.5\n" };
	const char *line[] = { "line 2", "line 3", "line 1", "line 1" };

	(void)state;
	for (size_t i = 0; i < 4; i++) {
		struct kl_profile *p = (struct kl_profile *)1;
		struct kl_err err = { "" };

		assert_int_equal(kl_folded_read((const uint8_t *)bad[i], strlen(bad[i]), NULL, &p,
						&err),
				 -KL_EFORMAT);
		assert_null(p);
		assert_non_null(strstr(err.msg, line[i]));
		assert_non_null(strstr(err.msg, "bad count"));
	}
}

static void test_crlf_and_empty(void **state)
{
	struct kl_profile *p = read_ok("a;b 2\r\na;c 3\r\n\r\n", NULL);

	(void)state;
	assert_int_equal(p->nsamples, 2);
	assert_string_equal(frame(p, 1, 0), "c");
	assert_int_equal(kl_profile_total(p, 0), 5);
	kl_profile_free(p);

	p = read_ok("\xef\xbb\xbfmain;a 1\n", NULL);
	assert_string_equal(frame(p, 0, 1), "main");
	kl_profile_free(p);

	p = read_ok("", NULL);
	assert_int_equal(p->nsamples, 0);
	assert_int_equal(p->nsample_types, 1);
	kl_profile_free(p);
}

static void test_huge_line_and_limits(void **state)
{
	const size_t nframes = 200000;
	struct kl_read_limits lim = { .max_depth = 100 };
	struct kl_profile *p;
	struct kl_err err;
	char *s = malloc(nframes * 8 + 16), *w = s;

	(void)state;
	for (size_t i = 0; i < nframes; i++)
		w += snprintf(w, 16, "%sf%zu", i ? ";" : "", i % 5000);
	memcpy(w, " 7\n", 4);
	/* default depth limit cuts to 4096 frames, keeping the root side */
	p = read_ok(s, NULL);
	assert_int_equal(p->nsamples, 1);
	assert_int_equal(p->samples[0].nlocs, 4096);
	assert_string_equal(frame(p, 0, 4095), "f0");
	assert_int_equal(p->nfunctions, 4096);
	kl_profile_free(p);
	p = read_ok(s, &lim);
	assert_int_equal(p->samples[0].nlocs, 100);
	assert_string_equal(frame(p, 0, 0), "f99");
	kl_profile_free(p);
	free(s);

	/* too many samples, too much input */
	lim = (struct kl_read_limits){ .max_samples = 2 };
	assert_int_equal(kl_folded_read((const uint8_t *)"a 1\nb 1\nc 1\n", 12, &lim, &p, &err),
			 -KL_ELIMIT);
	lim = (struct kl_read_limits){ .max_input = 4 };
	assert_int_equal(kl_folded_read((const uint8_t *)"a 1\nb 1\n", 8, &lim, &p, &err),
			 -KL_ELIMIT);
}

static void test_odd_frames(void **state)
{
	/* empty frames are kept as empty names; a stackless count is skipped */
	struct kl_profile *p = read_ok("a;;b 1\n 5\n", NULL);

	(void)state;
	assert_int_equal(p->nsamples, 1);
	assert_int_equal(p->samples[0].nlocs, 3);
	assert_string_equal(frame(p, 0, 1), "");
	kl_profile_free(p);
}

/* Writes column col of t as folded text (kl_free the result). */
static char *write_folded(const struct kl_tree *t, uint32_t col)
{
	struct kl_buf b;
	struct kl_err err;
	char *s;

	kl_buf_init(&b, 0);
	assert_int_equal(kl_folded_write(t, col, &b, &err), 0);
	s = kl_buf_detach(&b, NULL);
	return s ? s : kl_strndup("", 0);
}

static void add(struct kl_tree *t, const char *folded, int64_t v, uint32_t col)
{
	uint32_t frames[16], n = 0;

	for (const char *s = folded; *s;) {
		size_t len = strcspn(s, ";");

		frames[n++] = kl_strtab_intern(t->names, s, len);
		s += len + (s[len] ? 1 : 0);
	}
	assert_int_equal(kl_tree_add_stack(t, frames, n, v, col, true), 0);
}

static void test_write(void **state)
{
	struct kl_tree *t = kl_tree_new(NULL, 2);
	struct kl_err err;
	struct kl_buf b;
	char *s;

	(void)state;
	assert_non_null(t);
	add(t, "main;foo;bar", 10, 0);
	add(t, "main;foo", 5, 0);
	add(t, "main;baz", 7, 0);
	add(t, "main;baz", 3, 1);
	add(t, "main;foo;bar", 2, 0);
	assert_int_equal(kl_tree_sort(t), 0);
	s = write_folded(t, 0);
	/* one line per node with self, root first, sorted, root node skipped */
	assert_string_equal(s, "main;baz 7\nmain;foo 5\nmain;foo;bar 12\n");
	kl_free(s);
	s = write_folded(t, 1);
	assert_string_equal(s, "main;baz 3\n");
	kl_free(s);
	kl_buf_init(&b, 0);
	assert_int_equal(kl_folded_write(t, 2, &b, &err), -KL_EUSAGE);
	kl_buf_release(&b);
	kl_tree_free(t);

	t = kl_tree_new(NULL, 1);
	s = write_folded(t, 0);
	assert_string_equal(s, "");
	kl_free(s);
	kl_tree_free(t);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static size_t count_lines(const struct kl_buf *b)
{
	size_t n = 0;

	for (size_t i = 0; i < b->len; i++)
		n += b->data[i] == '\n';
	return n;
}

/* Sorts the lines of b in place (every line ends in a newline). */
static void sort_lines(struct kl_buf *b)
{
	size_t n = count_lines(b), i = 0, off = 0;
	char **lines = calloc(n + 1, sizeof(*lines));
	char *copy = malloc(b->len + 1);

	assert_non_null(lines);
	assert_non_null(copy);
	memcpy(copy, b->data, b->len);
	for (char *s = copy; s < copy + b->len; s = strchr(s, '\0') + 1) {
		*strchr(s, '\n') = '\0';
		lines[i++] = s;
	}
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (i = 0; i < n; i++) {
		size_t len = strlen(lines[i]);

		memcpy(b->data + off, lines[i], len);
		b->data[off + len] = '\n';
		off += len + 1;
	}
	free(lines);
	free(copy);
}

/* perf script -> collapse -> folded read -> tree -> folded write == collapse */
static void test_round_trip_fixture(void **state)
{
	const char *dir = getenv("KILN_FIXTURES");
	char path[1024];
	struct kl_buf in, collapsed, again;
	struct kl_collapse_opts o = { .all = true };
	struct kl_profile *p = NULL;
	struct kl_tree *t;
	struct kl_err err;
	FILE *f;

	(void)state;
	snprintf(path, sizeof(path), "%s/perf-script/perf-vertx-stacks-01.txt",
		 dir ? dir : "/work/shared/fixtures");
	f = fopen(path, "rb");
	assert_non_null(f);
	kl_buf_init(&in, 0);
	for (;;) {
		assert_int_equal(kl_buf_reserve(&in, 65536), 0);
		size_t n = fread(in.data + in.len, 1, 65536, f);

		if (!n)
			break;
		in.len += n;
	}
	fclose(f);
	kl_buf_init(&collapsed, 0);
	assert_int_equal(kl_collapse_perf(in.data, in.len, &o, &collapsed, &err), 0);
	assert_int_equal(kl_folded_read((const uint8_t *)collapsed.data, collapsed.len, NULL, &p,
					&err),
			 0);
	t = kl_tree_new(NULL, 1);
	assert_non_null(t);
	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *s = &p->samples[i];
		uint32_t frames[4096];

		for (uint32_t j = 0; j < s->nlocs; j++) {
			const struct kl_location *loc = &p->locations[kl_sample_locs(p, s)[j]];
			const char *name = kl_profile_sget(
				p, p->functions[kl_location_lines(p, loc)[0].function].name);

			frames[j] = kl_strtab_intern_cstr(t->names, name);
		}
		assert_int_equal(kl_tree_add_stack(t, frames, s->nlocs, kl_sample_values(p, i)[0],
						   0, false),
				 0);
	}
	assert_int_equal(kl_tree_sort(t), 0);
	kl_buf_init(&again, 0);
	assert_int_equal(kl_folded_write(t, 0, &again, &err), 0);
	/* the same lines, in tree order instead of byte order */
	assert_int_equal(again.len, collapsed.len);
	assert_int_equal(count_lines(&again), p->nsamples);
	sort_lines(&again);
	sort_lines(&collapsed);
	assert_memory_equal(again.data, collapsed.data, again.len);
	kl_tree_free(t);
	kl_profile_free(p);
	kl_buf_release(&in);
	kl_buf_release(&collapsed);
	kl_buf_release(&again);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_spaces_comments_blank),
		cmocka_unit_test(test_bad_count),
		cmocka_unit_test(test_crlf_and_empty),
		cmocka_unit_test(test_huge_line_and_limits),
		cmocka_unit_test(test_odd_frames),
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_round_trip_fixture),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
