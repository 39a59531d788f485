/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ingest_body_test.c - /ingest bodies end to end: every pprof fixture as
 * format=pprof and as a multipart upload (series per sample type,
 * __profile_type__ strings, totals preserved, promoted labels), folded and
 * lines scaling, the multipart parser's edge cases, sample_type_config
 * renames, prev_profile and unsupported formats, and a gzip bomb.
 */
#include "ingest_testlib.h"

static bool has_string_labels(const struct kl_profile *p)
{
	for (size_t i = 0; i < p->nlabels; i++)
		if (p->labels[i].str)
			return true;
	return false;
}

/* Checks the series of one fixture against the profile read directly. */
static void check_fixture_series(const char *rel, const struct kl_profile *p,
				 const struct kl_series_set *s, const char *service)
{
	const char *name = kl_series_pprof_name(p);

	if (has_string_labels(p))
		assert_true(s->n >= p->nsample_types && s->n % p->nsample_types == 0);
	else if (s->n != p->nsample_types)
		fail_msg("%s: %zu series for %u sample types", rel, s->n, p->nsample_types);
	for (uint32_t t = 0; t < p->nsample_types; t++) {
		char pt[512];
		int64_t total = 0;
		size_t found = 0;

		snprintf(pt, sizeof(pt), "%s:%s:%s:%s:%s", name,
			 kl_profile_sget(p, p->sample_types[t].type),
			 kl_profile_sget(p, p->sample_types[t].unit),
			 kl_profile_sget(p, p->period_type.type),
			 kl_profile_sget(p, p->period_type.unit));
		for (long i = find_series(s, "__profile_type__", pt, 0); i >= 0;
		     i = find_series(s, "__profile_type__", pt, (size_t)i + 1)) {
			const struct kl_series *se = &s->v[i];
			struct kl_err e;

			found++;
			assert_int_equal(se->profile->nsample_types, 1);
			assert_int_equal(kl_profile_validate(se->profile, &e), 0);
			assert_string_equal(kl_labels_get(&se->labels, "__name__"), name);
			assert_string_equal(kl_labels_get(&se->labels, "service_name"), service);
			/* sorted label sets */
			for (size_t j = 1; j < se->labels.n; j++)
				assert_true(strcmp(se->labels.v[j - 1].name, se->labels.v[j].name) < 0);
			total += kl_profile_total(se->profile, 0);
		}
		if (!found)
			fail_msg("%s: no series %s", rel, pt);
		if (total != kl_profile_total(p, t))
			fail_msg("%s: %s total %lld, want %lld", rel, pt, (long long)total,
				 (long long)kl_profile_total(p, t));
	}
}

static void test_fixtures_pprof_and_multipart(void **state)
{
	(void)state;
	for (size_t f = 0; f < KL_ARRAY_SIZE(test_pprof_fixtures); f++) {
		struct kl_ingest_params pa;
		struct kl_http_err err = { 0 };
		struct kl_series_set s = { 0 };
		struct kl_profile *p = NULL;
		struct kl_buf mp = KL_BUF_INIT;
		struct kl_err e;
		size_t len;
		uint8_t *data = test_read_fixture(test_pprof_fixtures[f], &len);

		assert_int_equal(kl_pprof_read(data, len, NULL, &p, &e), 0);
		/* as format=pprof, Node-style */
		assert_int_equal(params_from("format=pprof&name=fx.app%7Benv%3Dci%7D&from=1700000000"
					     "&until=1700000010&spyName=nodespy", &pa, &err), 0);
		if (kl_ingest_request(&pa, "application/octet-stream", data, len, NULL, &s, &err))
			fail_msg("%s: %d %s", test_pprof_fixtures[f], err.status, err.e.msg);
		check_fixture_series(test_pprof_fixtures[f], p, &s, "fx.app");
		assert_string_equal(kl_labels_get(&s.v[0].labels, "env"), "ci");
		assert_string_equal(kl_labels_get(&s.v[0].labels, "pyroscope_spy"), "nodespy");
		assert_true(s.v[0].start_ns == INT64_C(1700000000000000000));
		assert_true(s.v[0].end_ns == INT64_C(1700000010000000000));
		kl_series_set_release(&s);
		kl_ingest_params_release(&pa);

		/* as multipart, Go-style (no format, ns times), CRLF */
		mp_part(&mp, "b0undary", "profile", data, len, "\r\n");
		mp_end(&mp, "b0undary", "\r\n");
		assert_int_equal(params_from("name=fx.app&from=1700000000000000000"
					     "&until=1700000015000000000&spyName=gospy", &pa, &err), 0);
		if (kl_ingest_request(&pa, "multipart/form-data; boundary=b0undary",
				      (const uint8_t *)mp.data, mp.len, NULL, &s, &err))
			fail_msg("%s multipart: %s", test_pprof_fixtures[f], err.e.msg);
		check_fixture_series(test_pprof_fixtures[f], p, &s, "fx.app");
		kl_series_set_release(&s);
		kl_ingest_params_release(&pa);
		kl_buf_release(&mp);
		kl_profile_free(p);
		free(data);
	}
}

static void expect_profile_type(const struct kl_series_set *s, const char *pt)
{
	if (find_series(s, "__profile_type__", pt, 0) < 0)
		fail_msg("no series %s", pt);
}

/* Ingests body (content type ctype, NULL: none) under the /ingest query into s; must succeed. */
static void ingest_body(const char *query, const char *ctype, const void *body, size_t len,
			struct kl_series_set *s)
{
	struct kl_ingest_params pa;
	struct kl_http_err err = { 0 };

	assert_int_equal(params_from(query, &pa, &err), 0);
	if (kl_ingest_request(&pa, ctype, body, len, NULL, s, &err))
		fail_msg("%s: %s", query, err.e.msg);
	kl_ingest_params_release(&pa);
}

static void ingest_fixture(const char *rel, const char *query, struct kl_series_set *s)
{
	size_t len;
	uint8_t *data = test_read_fixture(rel, &len);

	ingest_body(query, NULL, data, len, s);
	free(data);
}

static void test_profile_types(void **state)
{
	struct kl_series_set s = { 0 };
	long car, bike;

	(void)state;
	ingest_fixture("pprof/go-cpu.pb.gz", "format=pprof&name=go-app", &s);
	expect_profile_type(&s, "process_cpu:samples:count:cpu:nanoseconds");
	expect_profile_type(&s, "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
	/* the vehicle sample labels become series labels: car, bike, none */
	assert_int_equal(s.n, 6);
	car = find_series(&s, "vehicle", "car", 0);
	bike = find_series(&s, "vehicle", "bike", 0);
	assert_true(car >= 0 && bike >= 0);
	assert_int_equal(kl_profile_total(s.v[car].profile, 0) > 0, 1);
	/* promoted labels are gone from the samples */
	for (size_t i = 0; i < s.n; i++)
		assert_int_equal(s.v[i].profile->nlabels, 0);
	/* the profile's own time (2026) is kept, not replaced by from */
	assert_true(s.v[0].profile->time_nanos > INT64_C(1790000000000000000));
	kl_series_set_release(&s);

	ingest_fixture("pprof/go-heap.pb.gz", "format=pprof&name=go-app", &s);
	expect_profile_type(&s, "memory:alloc_objects:count:space:bytes");
	expect_profile_type(&s, "memory:alloc_space:bytes:space:bytes");
	expect_profile_type(&s, "memory:inuse_objects:count:space:bytes");
	expect_profile_type(&s, "memory:inuse_space:bytes:space:bytes");
	kl_series_set_release(&s);

	ingest_fixture("pprof/go-goroutine.pb.gz", "format=pprof&name=go-app", &s);
	expect_profile_type(&s, "goroutine:goroutine:count:goroutine:count");
	kl_series_set_release(&s);
	/* without sample_type_config renames mutex types keep their raw name */
	ingest_fixture("pprof/go-mutex.pb.gz", "format=pprof&name=go-app", &s);
	expect_profile_type(&s, "contentions:delay:nanoseconds:contentions:count");
	kl_series_set_release(&s);
	/* empty period parts stay empty */
	ingest_fixture("pprof/legacy-converted/java.heap.pb.gz", "format=pprof&name=j", &s);
	expect_profile_type(&s, "memory:inuse_space:bytes::");
	kl_series_set_release(&s);
	ingest_fixture("pprof/legacy-converted/cppbench.thread.pb.gz", "format=pprof&name=c", &s);
	expect_profile_type(&s, "thread:thread:count:thread:count");
	kl_series_set_release(&s);
}

static void test_sample_type_config(void **state)
{
	static const char cfg[] =
		"{\"contentions\":{\"units\":\"lock_samples\",\"display-name\":\"mutex_count\","
		"\"sampled\":true},\"delay\":{\"units\":\"lock_nanoseconds\","
		"\"display-name\":\"mutex_duration\",\"aggregation\":\"sum\",\"cumulative\":false}}";
	struct kl_ingest_params pa;
	struct kl_http_err err = { 0 };
	struct kl_series_set s = { 0 };
	struct kl_buf mp = KL_BUF_INIT;
	struct kl_sample_type_config *c;
	size_t len, n;
	uint8_t *data = test_read_fixture("pprof/go-mutex.pb.gz", &len);

	(void)state;
	assert_int_equal(kl_sample_type_config_parse((const uint8_t *)cfg, strlen(cfg), &c, &n, &err),
			 0);
	assert_int_equal(n, 2);
	assert_string_equal(c[0].type, "contentions");
	assert_string_equal(c[0].display_name, "mutex_count");
	assert_string_equal(c[0].units, "lock_samples");
	assert_true(c[0].sampled);
	assert_string_equal(c[1].aggregation, "sum");
	kl_sample_type_config_free(c, n);

	/* bare LF line ends and a quoted boundary */
	mp_part(&mp, "xyz", "profile", data, len, "\n");
	mp_part(&mp, "xyz", "sample_type_config", cfg, strlen(cfg), "\n");
	mp_end(&mp, "xyz", "\n");
	assert_int_equal(params_from("name=go-app%7Bservice_name%3Dreal%7D&spyName=gospy", &pa, &err),
			 0);
	if (kl_ingest_request(&pa, "multipart/form-data; boundary=\"xyz\"", (const uint8_t *)mp.data,
			      mp.len, NULL, &s, &err))
		fail_msg("%s", err.e.msg);
	assert_int_equal(s.n, 2);
	expect_profile_type(&s, "mutex:mutex_count:count:contentions:count");
	expect_profile_type(&s, "mutex:mutex_duration:nanoseconds:contentions:count");
	/* the client's service_name wins; the app name is kept as app_name */
	assert_string_equal(kl_labels_get(&s.v[0].labels, "service_name"), "real");
	assert_string_equal(kl_labels_get(&s.v[0].labels, "app_name"), "go-app");
	kl_series_set_release(&s);
	kl_ingest_params_release(&pa);
	kl_buf_release(&mp);
	free(data);

	/* bad configs */
	assert_int_equal(kl_sample_type_config_parse((const uint8_t *)"[1]", 3, &c, &n, &err),
			 -KL_EFORMAT);
	assert_string_equal(err.e.msg, "sample_type_config: not a JSON object");
	assert_int_equal(kl_sample_type_config_parse((const uint8_t *)"{\"a\":{\"sampled\":1}}", 19,
						     &c, &n, &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "sample_type_config: \"a\".sampled is not a boolean");
	assert_int_equal(kl_sample_type_config_parse((const uint8_t *)"{\"a\":", 5, &c, &n, &err),
			 -KL_EFORMAT);
	assert_int_equal(err.status, 400);
}

static void expect_request_error(const char *query, const char *ctype, const void *body,
				 size_t len, int status, const char *msg_part)
{
	struct kl_ingest_params pa;
	struct kl_http_err err = { 0 };
	struct kl_series_set s = { 0 };
	struct kl_ingest_limits lim = { .max_profile = 1 << 20 };

	assert_int_equal(params_from(query, &pa, &err), 0);
	if (kl_ingest_request(&pa, ctype, body, len, &lim, &s, &err) == 0)
		fail_msg("%s: accepted", query);
	assert_int_equal(err.status, status);
	if (!strstr(err.e.msg, msg_part))
		fail_msg("%s: message \"%s\" lacks \"%s\"", query, err.e.msg, msg_part);
	assert_int_equal(s.n, 0);
	kl_ingest_params_release(&pa);
}

static void test_request_errors(void **state)
{
	struct kl_buf mp = KL_BUF_INIT, zeros = KL_BUF_INIT, gz = KL_BUF_INIT;
	struct kl_err e;

	(void)state;
	expect_request_error("name=a&format=trie", NULL, "x", 1, 400, "unsupported format \"trie\"");
	expect_request_error("name=a&format=speedscope", NULL, "{}", 2, 400, "unsupported format");
	expect_request_error("name=a.heap", NULL, "a;b 1", 5, 400, "unknown profile type \"heap\"");
	expect_request_error("name=a", NULL, "a;b x1", 6, 400, "bad count \"x1\"");
	expect_request_error("name=a&format=pprof", NULL, "not a profile", 13, 400, "pprof");
	expect_request_error("name=a&format=pprof", NULL, "", 0, 400, "empty profile");

	mp_part(&mp, "B", "prev_profile", "x", 1, "\r\n");
	mp_part(&mp, "B", "profile", "x", 1, "\r\n");
	mp_end(&mp, "B", "\r\n");
	expect_request_error("name=a", "multipart/form-data; boundary=B", mp.data, mp.len, 400,
			     "upgrade the client");
	kl_buf_release(&mp);
	mp_part(&mp, "B", "other", "x", 1, "\r\n");
	mp_end(&mp, "B", "\r\n");
	expect_request_error("name=a", "multipart/form-data; boundary=B", mp.data, mp.len, 400,
			     "missing form field \"profile\"");
	expect_request_error("name=a", "multipart/form-data", mp.data, mp.len, 400, "no boundary");
	/* truncated: the closing delimiter is cut off */
	expect_request_error("name=a", "multipart/form-data; boundary=B", mp.data, 20, 400,
			     "multipart");
	kl_buf_release(&mp);

	/* a gzip bomb: 64 MiB of zeros is refused at the 1 MiB limit, not inflated */
	assert_int_equal(kl_buf_reserve(&zeros, (size_t)64 << 20), 0);
	memset(zeros.data, 0, (size_t)64 << 20);
	zeros.len = (size_t)64 << 20;
	assert_int_equal(kl_gzip(zeros.data, zeros.len, &gz, &e), 0);
	assert_true(gz.len < (size_t)1 << 20);
	expect_request_error("name=a&format=pprof", NULL, gz.data, gz.len, 413, "exceeds 1048576 bytes");
	mp_part(&mp, "B", "profile", gz.data, gz.len, "\r\n");
	mp_end(&mp, "B", "\r\n");
	expect_request_error("name=a", "multipart/form-data; boundary=B", mp.data, mp.len, 413,
			     "exceeds 1048576 bytes");
	kl_buf_release(&mp);
	kl_buf_release(&gz);
	kl_buf_release(&zeros);
}

static void test_multipart_parser(void **state)
{
	static const char body[] =
		"preamble\r\n"
		"--frontier\r\n"
		"Content-Type: application/octet-stream\r\n"
		"content-disposition: form-data; filename=\"p.pprof\"; name=\"profile\"\r\n"
		"\r\n"
		"AB\r\nC--frontie\r\n"
		"--frontier  \r\n"
		"Content-Disposition: form-data; name=sample_type_config\r\n"
		"\r\n"
		"{}\r\n"
		"--frontier\r\n"
		"X-No-Disposition: 1\r\n"
		"\r\n"
		"skipped\r\n"
		"--frontier--\r\n"
		"epilogue";
	struct kl_multipart_part parts[4];
	struct kl_http_err err = { 0 };
	size_t n;

	(void)state;
	assert_int_equal(kl_multipart_parse("Multipart/Form-Data; charset=x; boundary=frontier",
					    (const uint8_t *)body, strlen(body), parts, 4, &n, &err), 0);
	assert_int_equal(n, 2);
	assert_int_equal(parts[0].name_len, 7);
	assert_memory_equal(parts[0].name, "profile", 7);
	assert_int_equal(parts[0].len, 14);
	assert_memory_equal(parts[0].data, "AB\r\nC--frontie", 14);
	assert_memory_equal(parts[1].name, "sample_type_config", 18);
	assert_int_equal(parts[1].len, 2);
	/* the part limit */
	assert_int_equal(kl_multipart_parse("multipart/form-data; boundary=frontier",
					    (const uint8_t *)body, strlen(body), parts, 1, &n, &err),
			 -KL_ELIMIT);
	assert_int_equal(err.status, 400);
	assert_int_equal(kl_multipart_parse("text/plain", (const uint8_t *)body, strlen(body), parts,
					    4, &n, &err), -KL_EFORMAT);
	assert_int_equal(kl_multipart_parse("multipart/form-data; boundary=zzz", (const uint8_t *)body,
					    strlen(body), parts, 4, &n, &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "multipart: no boundary in body");
	/* headers that never end */
	assert_int_equal(kl_multipart_parse("multipart/form-data; boundary=frontier",
					    (const uint8_t *)"--frontier\r\nA: b", 16, parts, 4, &n,
					    &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "multipart: truncated part headers");
}

static void test_folded_scaling(void **state)
{
	static const char folded[] = "main;foo;bar 3\nmain;foo 2\r\nno-count-line\n\nmain;a b 5\n";
	struct kl_series_set s = { 0 };
	const struct kl_profile *p;

	(void)state;
	/* cpu at 100 Hz: one sample = 10 ms */
	ingest_body("name=svc.cpu%7Bhost%3Dh%7D&from=1700000000&until=1700000010&sampleRate=100"
		    "&spyName=pyspy", "text/plain", folded, strlen(folded), &s);
	assert_int_equal(s.n, 1);
	p = s.v[0].profile;
	assert_string_equal(kl_labels_get(&s.v[0].labels, "__profile_type__"),
			    "process_cpu:cpu:nanoseconds:cpu:nanoseconds");
	assert_string_equal(kl_labels_get(&s.v[0].labels, "service_name"), "svc");
	assert_string_equal(kl_labels_get(&s.v[0].labels, "__name__"), "process_cpu");
	assert_string_equal(kl_labels_get(&s.v[0].labels, "pyroscope_spy"), "pyspy");
	assert_string_equal(kl_labels_get(&s.v[0].labels, "host"), "h");
	assert_true(kl_profile_total(p, 0) == INT64_C(10) * 10000000);
	assert_true(p->period == 10000000);
	assert_true(p->time_nanos == INT64_C(1700000000000000000));
	assert_true(p->duration_nanos == INT64_C(10000000000));
	kl_series_set_release(&s);

	/* 0 Hz: raw sample counts */
	ingest_body("name=svc&sampleRate=0&format=folded", NULL, folded, strlen(folded), &s);
	assert_string_equal(kl_labels_get(&s.v[0].labels, "__profile_type__"),
			    "process_cpu:samples:count:cpu:nanoseconds");
	assert_int_equal(kl_profile_total(s.v[0].profile, 0), 10);
	kl_series_set_release(&s);

	/* memory types are not scaled */
	ingest_body("name=svc.alloc_space&sampleRate=100", NULL, folded, strlen(folded), &s);
	assert_string_equal(kl_labels_get(&s.v[0].labels, "__profile_type__"),
			    "memory:alloc_space:bytes:space:bytes");
	assert_int_equal(kl_profile_total(s.v[0].profile, 0), 10);
	kl_series_set_release(&s);

	/* wall-like at 1000 Hz: 1 ms per sample */
	ingest_body("name=svc.seconds&sampleRate=1000", NULL, folded, strlen(folded), &s);
	assert_string_equal(kl_labels_get(&s.v[0].labels, "__name__"), "wall");
	assert_true(kl_profile_total(s.v[0].profile, 0) == INT64_C(10) * 1000000);
	kl_series_set_release(&s);
}

static void test_lines(void **state)
{
	static const char lines[] = "main;foo;bar\nmain;foo\r\nmain;foo;bar\n\nmain;a b 5\nmain;foo;bar";
	struct kl_series_set s = { 0 };
	const struct kl_profile *p;

	(void)state;
	ingest_body("name=svc.cpu&format=lines&sampleRate=100", NULL, lines, strlen(lines), &s);
	assert_int_equal(s.n, 1);
	p = s.v[0].profile;
	/* identical lines add up: 3 distinct stacks, 5 lines */
	assert_int_equal(p->nsamples, 3);
	assert_true(kl_profile_total(p, 0) == INT64_C(5) * 10000000);
	assert_true(kl_sample_values(p, 0)[0] == INT64_C(3) * 10000000);
	/* "main;a b 5" is a stack whose last frame is "a b 5" */
	assert_int_equal(p->samples[2].nlocs, 2);
	kl_series_set_release(&s);
}

/*
 * The split copies strings under hashes cached per source string when the
 * source has no duplicate strings, and interns them when it has (pprof
 * files may repeat a string): both ways give series whose strings are all
 * findable and de-duplicated, with the same content.
 */
static void test_split_string_copies(void **state)
{
	(void)state;
	for (int dup = 0; dup < 2; dup++) {
		struct kl_profile *p = kl_profile_new();
		struct kl_labels base = { 0 };
		struct kl_series_set s = { 0 };
		struct kl_http_err err = { 0 };
		struct kl_function fn = { .id = 1 };
		struct kl_location loc = { .id = 1 };
		struct kl_line line = { 0 };
		uint32_t li[2];
		int64_t v[2] = { 3, 30 };

		kl_profile_add_sample_type(p, kl_strtab_append(p->strs, "samples", 7),
					   kl_strtab_append(p->strs, "count", 5));
		kl_profile_add_sample_type(p, kl_strtab_append(p->strs, "cpu", 3),
					   kl_strtab_append(p->strs, "nanoseconds", 11));
		fn.name = kl_strtab_append(p->strs, "main.a", 6);
		fn.filename = kl_strtab_append(p->strs, "a.go", 4);
		line.function = kl_profile_add_function(p, &fn);
		li[0] = kl_profile_add_location(p, &loc, &line, 1);
		/* a second function whose name repeats the first's (dup) or not */
		fn.id = 2;
		fn.name = kl_strtab_append(p->strs, dup ? "main.a" : "main.b", 6);
		line.function = kl_profile_add_function(p, &fn);
		loc.id = 2;
		li[1] = kl_profile_add_location(p, &loc, &line, 1);
		kl_profile_add_sample(p, li, 2, v, NULL, 0);
		assert_false(kl_profile_failed(p));
		assert_int_equal(kl_strtab_has_duplicates(p->strs), dup);

		kl_labels_set(&base, "service_name", "svc", 3);
		assert_int_equal(kl_series_split(p, &base, INT64_C(1700000000000000000),
						 INT64_C(1700000010000000000), NULL, &s, &err), 0);
		assert_int_equal(s.n, 2);
		for (size_t i = 0; i < s.n; i++) {
			const struct kl_profile *q = s.v[i].profile;
			const char *type = kl_profile_sget(q, q->sample_types[0].type);

			assert_int_equal(q->nfunctions, 2);
			assert_int_equal(q->nsamples, 1);
			assert_int_equal(kl_sample_values(q, 0)[0], strcmp(type, "cpu") ? 3 : 30);
			assert_string_equal(kl_profile_sget(q, q->functions[0].name), "main.a");
			assert_string_equal(kl_profile_sget(q, q->functions[1].name),
					    dup ? "main.a" : "main.b");
			assert_string_equal(kl_profile_sget(q, q->functions[0].filename), "a.go");
			/* one copy of each string, every one findable by content */
			assert_int_equal(q->functions[0].name == q->functions[1].name, dup);
			for (uint32_t id = 1; id < kl_strtab_count(q->strs); id++)
				assert_int_equal(kl_strtab_find(q->strs, kl_strtab_get(q->strs, id),
								kl_strtab_len(q->strs, id)), id);
			/* the other type's strings were pruned */
			assert_int_equal(kl_strtab_find(q->strs, strcmp(type, "cpu") ? "cpu" : "count",
							 strcmp(type, "cpu") ? 3 : 5), -1);
			assert_int_equal(kl_profile_validate(q, NULL), 0);
		}
		kl_series_set_release(&s);
		kl_labels_release(&base);
		kl_profile_free(p);
	}
}

static void test_split_labels(void **state)
{
	struct kl_profile *p = kl_profile_new();
	struct kl_labels base = { 0 };
	struct kl_series_set s = { 0 };
	struct kl_http_err err = { 0 };
	struct kl_function fn = { .id = 1 };
	struct kl_location loc = { .id = 1 };
	struct kl_line line = { 0 };
	struct kl_label l1[4], l2[2];
	int64_t v[2] = { 5, 0 };
	uint32_t li;
	long i;

	(void)state;
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "samples"), kl_profile_cstr(p, "count"));
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "wall"), kl_profile_cstr(p, "nanoseconds"));
	fn.name = kl_profile_cstr(p, "main");
	line.function = kl_profile_add_function(p, &fn);
	li = kl_profile_add_location(p, &loc, &line, 1);
	l1[0] = (struct kl_label){ .key = kl_profile_cstr(p, "span_id"),
				   .str = kl_profile_cstr(p, "abc") };
	l1[1] = (struct kl_label){ .key = kl_profile_cstr(p, "env"),
				   .str = kl_profile_cstr(p, "sample") };
	l1[2] = (struct kl_label){ .key = kl_profile_cstr(p, "route"),
				   .str = kl_profile_cstr(p, "/x") };
	l1[3] = (struct kl_label){ .key = kl_profile_cstr(p, "bytes"), .num = 7 };
	kl_profile_add_sample(p, &li, 1, v, l1, 4);
	l2[0] = (struct kl_label){ .key = kl_profile_cstr(p, "__hidden"),
				   .str = kl_profile_cstr(p, "h") };
	l2[1] = (struct kl_label){ .key = kl_profile_cstr(p, "__session_id__"),
				   .str = kl_profile_cstr(p, "s1") };
	v[0] = 0;
	v[1] = 9;
	kl_profile_add_sample(p, &li, 1, v, l2, 2);
	assert_false(kl_profile_failed(p));

	kl_labels_set(&base, "service_name", "svc", 3);
	kl_labels_set(&base, "env", "series", 6);
	kl_labels_set(&base, "__internal__", "x", 1);
	assert_int_equal(kl_series_split(p, &base, INT64_C(1700000000000000000),
					 INT64_C(1700000010000000000), NULL, &s, &err), 0);
	/* two label groups x two types */
	assert_int_equal(s.n, 4);
	i = find_series(&s, "route", "/x", 0);
	assert_true(i >= 0);
	/* series labels win over sample labels; __ labels dropped */
	assert_string_equal(kl_labels_get(&s.v[i].labels, "env"), "series");
	assert_null(kl_labels_get(&s.v[i].labels, "__internal__"));
	assert_null(kl_labels_get(&s.v[i].labels, "span_id"));
	assert_string_equal(kl_labels_get(&s.v[i].labels, "__name__"), "wall");
	/* time 0 replaced by from */
	assert_true(s.v[i].profile->time_nanos == INT64_C(1700000000000000000));
	/* span_id and the numeric label stay on the sample */
	if (!strcmp(kl_labels_get(&s.v[i].labels, "__profile_type__"), "wall:samples:count::")) {
		const struct kl_profile *q = s.v[i].profile;

		assert_int_equal(q->nsamples, 1);
		assert_int_equal(q->samples[0].nlabels, 2);
	}
	i = find_series(&s, "__session_id__", "s1", 0);
	assert_true(i >= 0);
	assert_null(kl_labels_get(&s.v[i].labels, "__hidden"));
	kl_series_set_release(&s);

	/* limits: labels per series */
	{
		struct kl_ingest_limits lim = { .max_labels = 3 };

		assert_int_equal(kl_series_split(p, &base, 1, 2, &lim, &s, &err), -KL_ELIMIT);
		assert_int_equal(err.status, 400);
		assert_int_equal(s.n, 0);
	}
	kl_labels_release(&base);
	kl_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fixtures_pprof_and_multipart),
		cmocka_unit_test(test_profile_types),
		cmocka_unit_test(test_sample_type_config),
		cmocka_unit_test(test_request_errors),
		cmocka_unit_test(test_multipart_parser),
		cmocka_unit_test(test_folded_scaling),
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_split_labels),
		cmocka_unit_test(test_split_string_copies),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
