/* SPDX-License-Identifier: Apache-2.0 */
/*
 * speedscope_test.c - the speedscope writer (exact output, stack merging,
 * write -> read -> write round trips, a real Go profile when the pprof
 * reader can load it) and the reader on sampled and evented profiles and
 * on malformed input.
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

/* Adds a function + location named name; returns the location index. */
static uint32_t add_frame(struct kl_profile *p, const char *name)
{
	struct kl_function f = { .id = p->nfunctions + 1 };
	struct kl_location loc = { .id = p->nlocations + 1 };
	struct kl_line line = { 0 };

	f.name = kl_profile_cstr(p, name);
	line.function = kl_profile_add_function(p, &f);
	return kl_profile_add_location(p, &loc, &line, 1);
}

/* Writes p's default sample type through a function-granularity view. */
static char *write_ss(const struct kl_profile *p, const char *name)
{
	struct kl_view_opts o = { .sample_index = p->nsample_types - 1 };
	struct kl_strtab *names = kl_strtab_new();
	struct kl_view v;
	struct kl_err err = { "" };
	struct kl_buf b;
	int rc;

	kl_buf_init(&b, 0);
	if (kl_view_init(&v, p, &o, names, &err))
		fail_msg("view: %s", err.msg);
	rc = kl_speedscope_write(&v, name, &b, &err);
	if (rc)
		fail_msg("write: %s", err.msg);
	kl_view_release(&v);
	kl_strtab_free(names);
	return kl_buf_detach(&b, NULL);
}

static struct kl_profile *small_profile(void)
{
	struct kl_profile *p = kl_profile_new();
	uint32_t m, foo, bar;
	int64_t v;

	kl_profile_add_sample_type(p, kl_profile_cstr(p, "cpu"), kl_profile_cstr(p, "nanoseconds"));
	m = add_frame(p, "main");
	foo = add_frame(p, "foo");
	bar = add_frame(p, "bar \"quoted\"");
	v = 100;
	kl_profile_add_sample(p, (uint32_t[]){ foo, m }, 2, &v, NULL, 0);
	v = 200;
	kl_profile_add_sample(p, (uint32_t[]){ bar, m }, 2, &v, NULL, 0);
	v = 50;		/* same stack as the first: merged */
	kl_profile_add_sample(p, (uint32_t[]){ foo, m }, 2, &v, NULL, 0);
	v = 0;		/* no weight: left out */
	kl_profile_add_sample(p, (uint32_t[]){ m }, 1, &v, NULL, 0);
	assert_false(kl_profile_failed(p));
	return p;
}

static const char small_json[] =
	"{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
	"\"shared\":{\"frames\":[{\"name\":\"main\"},{\"name\":\"foo\"},"
	"{\"name\":\"bar \\\"quoted\\\"\"}]},"
	"\"profiles\":[{\"type\":\"sampled\",\"name\":\"cpu\",\"unit\":\"nanoseconds\","
	"\"startValue\":0,\"endValue\":350,\"samples\":[[0,1],[0,2]],\"weights\":[150,200]}],"
	"\"name\":\"cpu\",\"activeProfileIndex\":0,\"exporter\":\"kiln 0.1.0\"}\n";

static void test_write(void **state)
{
	struct kl_profile *p = small_profile();
	char *json = write_ss(p, NULL);

	(void)state;
	assert_string_equal(json, small_json);
	kl_free(json);
	json = write_ss(p, "my \\ title");
	assert_non_null(strstr(json, "\"name\":\"my \\\\ title\",\"unit\""));
	kl_free(json);
	kl_profile_free(p);
}

static struct kl_profile *read_ok(const char *json, const struct kl_read_limits *lim)
{
	return test_read_text(kl_speedscope_read, json, lim);
}

static const char *type_of(const struct kl_profile *p)
{
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s/%s", kl_profile_sget(p, p->sample_types[0].type),
		 kl_profile_sget(p, p->sample_types[0].unit));
	return buf;
}

/* Leaf-first function names of sample i joined by ';'. */
static const char *stack_of(const struct kl_profile *p, uint32_t i)
{
	static char buf[512];
	const struct kl_sample *s = &p->samples[i];
	size_t n = 0;

	buf[0] = '\0';
	for (uint32_t k = 0; k < s->nlocs; k++) {
		const struct kl_location *loc = &p->locations[kl_sample_locs(p, s)[k]];
		const struct kl_function *f = &p->functions[kl_location_lines(p, loc)[0].function];

		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%s%s", k ? ";" : "",
				      kl_profile_sget(p, f->name));
	}
	return buf;
}

static void test_round_trip(void **state)
{
	struct kl_profile *p = small_profile(), *q;
	char *a, *b;

	(void)state;
	a = write_ss(p, NULL);
	assert_int_equal(kl_format_detect((const uint8_t *)a, strlen(a)), KL_FORMAT_SPEEDSCOPE);
	q = read_ok(a, NULL);
	assert_string_equal(type_of(q), "cpu/nanoseconds");
	assert_int_equal(q->nsamples, 2);
	assert_string_equal(stack_of(q, 0), "foo;main");
	assert_int_equal(kl_sample_values(q, 0)[0], 150);
	assert_string_equal(stack_of(q, 1), "bar \"quoted\";main");
	assert_int_equal(kl_sample_values(q, 1)[0], 200);
	b = write_ss(q, NULL);
	assert_string_equal(a, b);
	kl_free(a);
	kl_free(b);
	kl_profile_free(p);
	kl_profile_free(q);
}

/* A real Go CPU profile: totals survive write -> read. */
static void test_real_profile(void **state)
{
	char path[1024];
	struct kl_profile *p = NULL, *q = NULL;
	struct kl_err err;
	struct kl_buf in;
	FILE *f;
	char *json;
	size_t n;

	(void)state;
	snprintf(path, sizeof(path), "%s/pprof/go-cpu.pb.gz",
		 getenv("KILN_FIXTURES") ? getenv("KILN_FIXTURES") : "/work/shared/fixtures");
	f = fopen(path, "rb");
	if (!f)
		skip();
	kl_buf_init(&in, 0);
	while (!kl_buf_reserve(&in, 65536) &&
	       (n = fread(in.data + in.len, 1, in.cap - in.len - 1, f)) > 0)
		in.len += n;
	fclose(f);
	if (kl_pprof_read((const uint8_t *)in.data, in.len, NULL, &p, &err)) {
		/* the pprof reader is not there yet: nothing to compare */
		kl_buf_release(&in);
		skip();
	}
	kl_buf_release(&in);
	json = write_ss(p, NULL);
	q = read_ok(json, NULL);
	assert_string_equal(type_of(q), "cpu/nanoseconds");
	assert_int_equal(kl_profile_total(q, 0), kl_profile_total(p, p->nsample_types - 1));
	assert_true(q->nsamples <= p->nsamples);
	kl_free(json);
	kl_profile_free(p);
	kl_profile_free(q);
}

static void test_read_sampled(void **state)
{
	/* the shape other tools write: file/line on frames, unit ms, real weights */
	static const char doc[] =
		"{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
		"\"shared\":{\"frames\":[{\"name\":\"main\",\"file\":\"main.py\",\"line\":3,\"col\":1},"
		"{\"name\":\"work\",\"file\":\"work.py\",\"line\":10},{\"name\":\"idle\"}]},"
		"\"profiles\":[{\"type\":\"sampled\",\"name\":\"thread 1\",\"unit\":\"milliseconds\","
		"\"startValue\":0,\"endValue\":4,\"samples\":[[0,1],[0,2],[0,1],[0]],"
		"\"weights\":[1.5,0.25,2,0.000001]},"
		"{\"type\":\"sampled\",\"name\":\"ignored\",\"unit\":\"none\",\"startValue\":0,"
		"\"endValue\":0,\"samples\":[],\"weights\":[]}]}";
	struct kl_read_limits lim = { .max_depth = 1 };
	struct kl_profile *p = read_ok(doc, NULL);
	const struct kl_function *work;

	(void)state;
	assert_string_equal(type_of(p), "cpu/nanoseconds");
	assert_int_equal(p->nsamples, 3);
	assert_string_equal(stack_of(p, 0), "work;main");
	assert_int_equal(kl_sample_values(p, 0)[0], 3500000);
	assert_string_equal(stack_of(p, 1), "idle;main");
	assert_int_equal(kl_sample_values(p, 1)[0], 250000);
	assert_string_equal(stack_of(p, 2), "main");
	assert_int_equal(kl_sample_values(p, 2)[0], 1);
	work = &p->functions[kl_location_lines(p, &p->locations[1])[0].function];
	assert_string_equal(kl_profile_sget(p, work->filename), "work.py");
	assert_int_equal(kl_location_lines(p, &p->locations[1])[0].line, 10);
	assert_int_equal(kl_location_lines(p, &p->locations[0])[0].column, 1);
	kl_profile_free(p);

	/* a depth limit keeps the leaf end of each stack */
	p = read_ok(doc, &lim);
	assert_int_equal(p->nsamples, 3);
	assert_string_equal(stack_of(p, 0), "work");
	kl_profile_free(p);

	/* no weights: each sample counts 1; bytes and none map to types */
	p = read_ok("{\"shared\":{\"frames\":[{\"name\":\"a\"}]},\"profiles\":[{\"type\":"
		    "\"sampled\",\"unit\":\"none\",\"samples\":[[0],[0],[]]}]}", NULL);
	assert_string_equal(type_of(p), "samples/count");
	assert_int_equal(kl_profile_total(p, 0), 3);
	kl_profile_free(p);
	p = read_ok("{\"shared\":{\"frames\":[{\"name\":\"a\"}]},\"profiles\":[{\"type\":"
		    "\"sampled\",\"unit\":\"bytes\",\"samples\":[[0]],\"weights\":[4096]}]}", NULL);
	assert_string_equal(type_of(p), "space/bytes");
	kl_profile_free(p);
}

static void test_read_evented(void **state)
{
	static const char doc[] =
		"{\"shared\":{\"frames\":[{\"name\":\"a\"},{\"name\":\"b\"},{\"name\":\"c\"}]},"
		"\"profiles\":[{\"type\":\"evented\",\"name\":\"x\",\"unit\":\"microseconds\","
		"\"startValue\":0,\"endValue\":20,\"events\":["
		"{\"type\":\"O\",\"frame\":0,\"at\":0},{\"type\":\"O\",\"frame\":1,\"at\":2},"
		"{\"type\":\"C\",\"frame\":1,\"at\":5},{\"type\":\"O\",\"frame\":1,\"at\":6},"
		"{\"type\":\"C\",\"frame\":1,\"at\":7},{\"type\":\"C\",\"frame\":0,\"at\":10},"
		"{\"type\":\"O\",\"frame\":2,\"at\":12}]}]}";
	struct kl_profile *p = read_ok(doc, NULL);

	(void)state;
	assert_string_equal(type_of(p), "wall/nanoseconds");
	assert_int_equal(p->nsamples, 3);
	/* a: 0-2, 5-6, 7-10 = 6 us; a;b: 2-5, 6-7 = 4 us; c open until endValue 20 */
	assert_string_equal(stack_of(p, 0), "a");
	assert_int_equal(kl_sample_values(p, 0)[0], 6000);
	assert_string_equal(stack_of(p, 1), "b;a");
	assert_int_equal(kl_sample_values(p, 1)[0], 4000);
	assert_string_equal(stack_of(p, 2), "c");
	assert_int_equal(kl_sample_values(p, 2)[0], 8000);
	kl_profile_free(p);
}

static void expect_bad(const char *json, int code, const char *msg_part)
{
	test_read_bad(kl_speedscope_read, "speedscope: ", json, code, msg_part);
}

#define SS(frames, prof) "{\"shared\":{\"frames\":" frames "},\"profiles\":[" prof "]}"
#define F2 "[{\"name\":\"a\"},{\"name\":\"b\"}]"
#define EV(events) SS(F2, "{\"type\":\"evented\",\"unit\":\"none\",\"events\":" events "}")

static void test_malformed(void **state)
{
	(void)state;
	expect_bad("{\"shared\":", -KL_EFORMAT, "invalid JSON");
	expect_bad("{}", -KL_EFORMAT, "are required");
	expect_bad(SS(F2, ""), -KL_EFORMAT, "no profile");
	expect_bad(SS(F2, "{\"type\":\"flame\"}"), -KL_EFORMAT, "\"flame\" is not");
	expect_bad(SS(F2, "{\"type\":\"sampled\",\"unit\":\"parsecs\",\"samples\":[]}"),
		   -KL_EFORMAT, "unknown unit \"parsecs\"");
	expect_bad(SS("[{\"file\":\"x\"}]", "{\"type\":\"sampled\",\"samples\":[]}"), -KL_EFORMAT,
		   "frame 0 has no name");
	expect_bad(SS("[{\"name\":\"a\",\"line\":\"7\"}]", "{\"type\":\"sampled\",\"samples\":[]}"),
		   -KL_EFORMAT, "bad file, line or col");
	expect_bad(SS(F2, "{\"type\":\"sampled\"}"), -KL_EFORMAT, "without \"samples\"");
	expect_bad(SS(F2, "{\"type\":\"sampled\",\"samples\":[[0,2]]}"), -KL_EFORMAT,
		   "sample 0 refers to unknown frame 2");
	expect_bad(SS(F2, "{\"type\":\"sampled\",\"samples\":[[0,-1]]}"), -KL_EFORMAT,
		   "unknown frame -1");
	expect_bad(SS(F2, "{\"type\":\"sampled\",\"samples\":[[0,\"b\"]]}"), -KL_EFORMAT,
		   "not an integer");
	expect_bad(SS(F2, "{\"type\":\"sampled\",\"samples\":[7]}"), -KL_EFORMAT,
		   "sample 0 is not an array");
	expect_bad(SS(F2, "{\"type\":\"sampled\",\"samples\":[[0],[1]],\"weights\":[1]}"),
		   -KL_EFORMAT, "as long as");
	expect_bad(SS(F2, "{\"type\":\"sampled\",\"samples\":[[0]],\"weights\":[-1]}"),
		   -KL_EFORMAT, "weight 0 (-1) is out of range");
	expect_bad(SS(F2, "{\"type\":\"sampled\",\"samples\":[[0]],\"weights\":[1e300]}"),
		   -KL_EFORMAT, "out of range");
	expect_bad(SS(F2, "{\"type\":\"sampled\",\"samples\":[[0]],\"weights\":[\"1\"]}"),
		   -KL_EFORMAT, "weight 0 is not a number");
	expect_bad(SS(F2, "{\"type\":\"sampled\",\"samples\":[[0],[0]],"
			  "\"weights\":[9000000000000000000,9000000000000000000]}"),
		   -KL_EFORMAT, "overflow");
	expect_bad(SS(F2, "{\"type\":\"evented\"}"), -KL_EFORMAT, "without \"events\"");
	expect_bad(EV("[{\"type\":\"O\",\"frame\":0}]"), -KL_EFORMAT, "event 0 needs");
	expect_bad(EV("[{\"type\":\"O\",\"frame\":5,\"at\":0}]"), -KL_EFORMAT,
		   "event 0 refers to unknown frame 5");
	expect_bad(EV("[{\"type\":\"X\",\"frame\":0,\"at\":0}]"), -KL_EFORMAT,
		   "unknown type \"X\"");
	expect_bad(EV("[{\"type\":\"O\",\"frame\":0,\"at\":5},{\"type\":\"C\",\"frame\":0,"
		      "\"at\":4}]"), -KL_EFORMAT, "event 1 goes back in time");
	expect_bad(EV("[{\"type\":\"O\",\"frame\":0,\"at\":0},{\"type\":\"O\",\"frame\":1,"
		      "\"at\":1},{\"type\":\"C\",\"frame\":0,\"at\":2}]"), -KL_EFORMAT,
		   "event 2 closes frame 0");
	expect_bad(EV("[{\"type\":\"C\",\"frame\":0,\"at\":0}]"), -KL_EFORMAT,
		   "event 0 closes frame 0");
}

static void test_limits(void **state)
{
	const char *doc = SS(F2, "{\"type\":\"sampled\",\"samples\":[[0],[1],[0]]}");
	struct kl_read_limits lim = { .max_samples = 1 };
	struct kl_profile *p = NULL;
	struct kl_err err;

	(void)state;
	assert_int_equal(kl_speedscope_read((const uint8_t *)doc, strlen(doc), &lim, &p, &err),
			 -KL_ELIMIT);
	assert_null(p);
	lim.max_samples = 2;
	p = read_ok(doc, &lim);
	assert_int_equal(p->nsamples, 2);
	kl_profile_free(p);
	lim = (struct kl_read_limits){ .max_input = 8 };
	assert_int_equal(kl_speedscope_read((const uint8_t *)doc, strlen(doc), &lim, &p, &err),
			 -KL_ELIMIT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_write),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_real_profile),
		cmocka_unit_test(test_read_sampled),
		cmocka_unit_test(test_read_evented),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_limits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
