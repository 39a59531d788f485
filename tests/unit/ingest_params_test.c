/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ingest_params_test.c - /ingest query parameters: the name{} grammar and
 * its edge cases, the from/until unit table, sampleRate and spyName
 * defaults, URL decoding, the text-format type table, tenant ids, Connect
 * error codes and bodies.
 */
#include "ingest_testlib.h"

static void test_name_grammar(void **state)
{
	struct kl_http_err err = { 0 };
	struct kl_labels ls = { 0 };
	char *app = NULL;

	(void)state;
	assert_int_equal(kl_ingest_parse_name("myapp.cpu", &app, &ls, &err), 0);
	assert_string_equal(app, "myapp.cpu");
	assert_int_equal(ls.n, 0);
	kl_free(app);

	assert_int_equal(kl_ingest_parse_name(" my-app/x_1.cpu { env = prod , region=eu-1,"
					      "otel.scope.name=a:b/c } ", &app, &ls, &err), 0);
	assert_string_equal(app, "my-app/x_1.cpu");
	assert_int_equal(ls.n, 3);
	assert_string_equal(kl_labels_get(&ls, "env"), "prod");
	assert_string_equal(kl_labels_get(&ls, "region"), "eu-1");
	assert_string_equal(kl_labels_get(&ls, "otel.scope.name"), "a:b/c");
	kl_free(app);
	kl_labels_release(&ls);

	/* empty braces and a trailing comma */
	assert_int_equal(kl_ingest_parse_name("a{}", &app, &ls, &err), 0);
	assert_int_equal(ls.n, 0);
	kl_free(app);
	assert_int_equal(kl_ingest_parse_name("a{x=1,}", &app, &ls, &err), 0);
	assert_int_equal(ls.n, 1);
	kl_free(app);
	kl_labels_release(&ls);
}

static void expect_name_error(const char *name, const char *msg_part)
{
	struct kl_http_err err = { 0 };
	struct kl_labels ls = { 0 };
	char *app = NULL;
	int rc = kl_ingest_parse_name(name, &app, &ls, &err);

	if (rc == 0)
		fail_msg("name \"%s\" was accepted", name);
	assert_int_equal(err.status, 400);
	assert_string_equal(err.code, "invalid_argument");
	if (!strstr(err.e.msg, msg_part))
		fail_msg("name \"%s\": message \"%s\" lacks \"%s\"", name, err.e.msg, msg_part);
	assert_null(app);
	assert_int_equal(ls.n, 0);
}

static void test_name_errors(void **state)
{
	(void)state;
	expect_name_error("", "missing application name");
	expect_name_error("  {a=b}", "missing application name");
	expect_name_error("my app", "invalid character ' ' in application name");
	expect_name_error("app{a=b", "missing '}'");
	expect_name_error("app{a=b}x", "unexpected text after '}'");
	expect_name_error("app{a}", "label \"a\" has no '='");
	expect_name_error("app{=b}", "empty label name");
	expect_name_error("app{a-b=c}", "invalid character '-' in label name");
	expect_name_error("app{__name__=x}", "__name__ is reserved");
	expect_name_error("app{a=1,a=2}", "duplicate label \"a\"");
	expect_name_error("app{a=b{c}", "invalid character in value");
}

struct time_case {
	const char *in;
	int64_t want;
};

static void test_time_units(void **state)
{
	static const struct time_case cases[] = {
		{ "1700000000", INT64_C(1700000000000000000) },		/* seconds */
		{ "1700000000123", INT64_C(1700000000123000000) },	/* ms */
		{ "1700000000123456", INT64_C(1700000000123456000) },	/* us */
		{ "1700000000123456789", INT64_C(1700000000123456789) },	/* ns */
		{ "20261121", INT64_C(1795219200000000000) },		/* YYYYMMDD */
		{ "20240229", INT64_C(1709164800000000000) },
		{ "0", 0 },
		{ "170000000", INT64_C(170000000000000000) },		/* 9 digits: seconds */
		{ "now", NOW_NS },
		{ "", NOW_NS },
		{ "now-1h", NOW_NS - INT64_C(3600000000000) },
		{ "now-15s", NOW_NS - INT64_C(15000000000) },
		{ "now-5m", NOW_NS - INT64_C(300000000000) },
		{ "now-5min", NOW_NS - INT64_C(300000000000) },
		{ "now-7d", NOW_NS - INT64_C(7) * 86400 * 1000000000 },
		{ "now-2w", NOW_NS - INT64_C(14) * 86400 * 1000000000 },
		{ "now-1M", NOW_NS - INT64_C(30) * 86400 * 1000000000 },
		{ "now-1mon", NOW_NS - INT64_C(30) * 86400 * 1000000000 },
		{ "now-1y", NOW_NS - INT64_C(365) * 86400 * 1000000000 },
		{ "now+1h", NOW_NS + INT64_C(3600000000000) },
	};
	static const char *const bad[] = {
		"yesterday", "now-", "now-1", "now-1x", "now1h", "-5", "12.5", "1e9", "20261321",
		"20261100", "00000101", "99991231", "12345678901234567890", "now-99999999999y",
		"now-300y",
	};
	struct kl_http_err err = { 0 };
	int64_t t;

	(void)state;
	for (size_t i = 0; i < KL_ARRAY_SIZE(cases); i++) {
		if (kl_parse_time(cases[i].in, NOW_NS, &t, &err))
			fail_msg("time \"%s\": %s", cases[i].in, err.e.msg);
		if (t != cases[i].want)
			fail_msg("time \"%s\": got %lld, want %lld", cases[i].in, (long long)t,
				 (long long)cases[i].want);
	}
	assert_int_equal(kl_parse_time(NULL, NOW_NS, &t, &err), 0);
	assert_true(t == NOW_NS);
	for (size_t i = 0; i < KL_ARRAY_SIZE(bad); i++) {
		if (kl_parse_time(bad[i], NOW_NS, &t, &err) == 0)
			fail_msg("time \"%s\" accepted", bad[i]);
		assert_int_equal(err.status, 400);
		assert_non_null(strstr(err.e.msg, "invalid time"));
	}
}

static void test_params(void **state)
{
	struct kl_ingest_params p;
	struct kl_http_err err = { 0 };

	(void)state;
	/* what pyroscope-go sends: nanoseconds, URL-encoded braces */
	assert_int_equal(params_from("name=svc.cpu%7Benv%3Dprod%2Chost%3Dh+1%7D&from=1700000000000000000"
				     "&until=1700000015000000000&spyName=gospy&sampleRate=100", &p, &err), 0);
	assert_string_equal(p.app_name, "svc.cpu");
	assert_string_equal(kl_labels_get(&p.labels, "env"), "prod");
	assert_string_equal(kl_labels_get(&p.labels, "host"), "h 1");
	assert_true(p.from_ns == INT64_C(1700000000000000000));
	assert_true(p.until_ns == INT64_C(1700000015000000000));
	assert_int_equal(p.sample_rate, 100);
	assert_string_equal(p.spy_name, "gospy");
	assert_int_equal(p.format, KL_INGEST_FOLDED);
	assert_null(p.format_name);
	kl_ingest_params_release(&p);

	/* Node: seconds; defaults for the rest */
	assert_int_equal(params_from("format=pprof&from=1700000000&name=n&until=1700000010", &p, &err),
			 0);
	assert_true(p.from_ns == INT64_C(1700000000000000000));
	assert_string_equal(p.spy_name, "unknown");
	assert_int_equal(p.format, KL_INGEST_PPROF);
	kl_ingest_params_release(&p);

	/* missing from/until: now; bad or negative sampleRate: 100; 0 stays 0 */
	assert_int_equal(params_from("name=a&sampleRate=-5&format=lines&units=samples"
				     "&aggregationType=sum", &p, &err), 0);
	assert_true(p.from_ns == NOW_NS && p.until_ns == NOW_NS);
	assert_int_equal(p.sample_rate, 100);
	assert_int_equal(p.format, KL_INGEST_LINES);
	assert_string_equal(p.units, "samples");
	assert_string_equal(p.aggregation, "sum");
	kl_ingest_params_release(&p);
	assert_int_equal(params_from("name=a&sampleRate=abc", &p, &err), 0);
	assert_int_equal(p.sample_rate, 100);
	kl_ingest_params_release(&p);
	assert_int_equal(params_from("name=a&sampleRate=0&format=jfr", &p, &err), 0);
	assert_int_equal(p.sample_rate, 0);
	assert_int_equal(p.format, KL_INGEST_UNSUPPORTED);
	kl_ingest_params_release(&p);
	assert_int_equal(params_from("name=a&format=collapsed", &p, &err), 0);
	assert_int_equal(p.format, KL_INGEST_FOLDED);
	assert_string_equal(p.format_name, "collapsed");
	kl_ingest_params_release(&p);

	/* errors */
	assert_int_equal(params_from("from=1", &p, &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "missing required parameter name");
	assert_int_equal(params_from("name=a&from=soon", &p, &err), -KL_EFORMAT);
	assert_non_null(strstr(err.e.msg, "from: invalid time \"soon\""));
	assert_int_equal(params_from("name=a&until=now-1x", &p, &err), -KL_EFORMAT);
	assert_non_null(strstr(err.e.msg, "until: invalid time"));
	assert_int_equal(params_from("name=a&from=now&until=now-1h", &p, &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "until is before from");
	assert_int_equal(params_from("name=a%7Bb", &p, &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "name: missing '}'");
	assert_null(p.app_name);
}

static void test_query_parse(void **state)
{
	struct kl_http_err err = { 0 };
	char **k, **v;
	size_t n;

	(void)state;
	assert_int_equal(kl_query_parse("?a=1&&b=%41%2x%&c&d=x+y", 8, &k, &v, &n, &err), 0);
	assert_int_equal(n, 4);
	assert_string_equal(k[0], "a");
	assert_string_equal(v[0], "1");
	assert_string_equal(v[1], "A%2x%");	/* bad escapes stay literal */
	assert_string_equal(k[2], "c");
	assert_string_equal(v[2], "");
	assert_string_equal(v[3], "x y");
	kl_query_free(k, v, n);
	assert_int_equal(kl_query_parse("a&b&c", 2, &k, &v, &n, &err), -KL_ELIMIT);
	assert_int_equal(err.status, 400);
}

static void expect_type(const char *app, int64_t rate, const char *pt, bool scale,
			size_t service_len)
{
	struct kl_http_err err = { 0 };
	struct kl_ingest_type t;
	char buf[256];
	size_t slen;

	if (kl_ingest_type_lookup(app, rate, &t, &slen, &err))
		fail_msg("%s: %s", app, err.e.msg);
	snprintf(buf, sizeof(buf), "%s:%s:%s:%s:%s", t.name, t.type, t.unit, t.period_type,
		 t.period_unit);
	assert_string_equal(buf, pt);
	assert_int_equal(t.scale, scale);
	assert_int_equal(slen, service_len);
}

static void test_type_table(void **state)
{
	struct kl_http_err err = { 0 };
	struct kl_ingest_type t;
	size_t slen;

	(void)state;
	expect_type("app", 100, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", true, 3);
	expect_type("app.cpu", 100, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", true, 3);
	expect_type("app.itimer", 100, "process_cpu:cpu:nanoseconds:cpu:nanoseconds", true, 3);
	expect_type("app.cpu", 0, "process_cpu:samples:count:cpu:nanoseconds", false, 3);
	expect_type("a.b.wall", 100, "wall:wall:nanoseconds:cpu:nanoseconds", true, 3);
	expect_type("app.inuse_objects", 100, "memory:inuse_objects:count:space:bytes", false, 3);
	expect_type("app.alloc_objects", 100, "memory:alloc_objects:count:space:bytes", false, 3);
	expect_type("app.inuse_space", 100, "memory:inuse_space:bytes:space:bytes", false, 3);
	expect_type("app.alloc_space", 100, "memory:alloc_space:bytes:space:bytes", false, 3);
	expect_type("app.goroutines", 100, "goroutine:goroutines:count:goroutine:count", false, 3);
	expect_type("app.mutex_count", 100, "mutex:contentions:count:contentions:count", false, 3);
	expect_type("app.mutex_duration", 100, "mutex:delay:nanoseconds:contentions:count", false, 3);
	expect_type("app.block_count", 100, "block:contentions:count:contentions:count", false, 3);
	expect_type("app.lock_duration", 100, "block:delay:nanoseconds:contentions:count", false, 3);
	expect_type("app.seconds", 100, "wall:wall:nanoseconds:cpu:nanoseconds", true, 3);
	expect_type("app.milliseconds", 0, "wall:samples:count:cpu:nanoseconds", false, 3);
	expect_type("app.bytes", 100, "memory:samples:bytes:space:bytes", false, 3);
	assert_int_equal(kl_ingest_type_lookup("app.heap", 100, &t, &slen, &err), -KL_EFORMAT);
	assert_int_equal(err.status, 400);
	assert_non_null(strstr(err.e.msg, "unknown profile type \"heap\""));
}

static void test_tenant(void **state)
{
	struct kl_http_err err = { 0 };
	char longid[152];

	(void)state;
	assert_int_equal(kl_tenant_validate("anonymous", &err), 0);
	assert_int_equal(kl_tenant_validate("team-a_b.c*d'e(f)!", &err), 0);
	assert_int_equal(kl_tenant_validate("...", &err), 0);
	memset(longid, 'a', 150);
	longid[150] = '\0';
	assert_int_equal(kl_tenant_validate(longid, &err), 0);
	longid[150] = 'a';
	longid[151] = '\0';
	assert_int_equal(kl_tenant_validate(longid, &err), -KL_EFORMAT);
	assert_int_equal(kl_tenant_validate(".", &err), -KL_EFORMAT);
	assert_int_equal(kl_tenant_validate("..", &err), -KL_EFORMAT);
	assert_int_equal(kl_tenant_validate("", &err), -KL_EFORMAT);
	assert_int_equal(kl_tenant_validate(NULL, &err), -KL_EFORMAT);
	assert_int_equal(kl_tenant_validate("a/b", &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "tenant id contains an invalid character at position 1");
	assert_int_equal(err.status, 400);
}

static void test_connect_errors(void **state)
{
	struct kl_http_err err = { 0 };
	struct kl_buf b = KL_BUF_INIT;

	(void)state;
	assert_int_equal(kl_http_errf(&err, -KL_EFORMAT, 400, "bad \"%s\"", "x\ny"), -KL_EFORMAT);
	kl_connect_error_json(&err, &b);
	assert_string_equal(b.data, "{\"code\":\"invalid_argument\",\"message\":\"bad \\\"x\\ny\\\"\"}");
	kl_buf_release(&b);
	assert_string_equal(kl_connect_code(401), "unauthenticated");
	assert_string_equal(kl_connect_code(403), "permission_denied");
	assert_string_equal(kl_connect_code(429), "resource_exhausted");
	assert_string_equal(kl_connect_code(500), "internal");
	assert_int_equal(kl_connect_status("invalid_argument"), 400);
	assert_int_equal(kl_connect_status("resource_exhausted"), 429);
	assert_int_equal(kl_connect_status("internal"), 500);
	assert_int_equal(kl_connect_status("bogus"), 500);
}

static void test_labels_and_key(void **state)
{
	struct kl_labels ls = { 0 };
	struct kl_buf b = KL_BUF_INIT;

	(void)state;
	assert_int_equal(kl_labels_set(&ls, "z", "1", 1), 0);
	assert_int_equal(kl_labels_set(&ls, "a", "x,y=z\\", 6), 0);
	assert_int_equal(kl_labels_add_absent(&ls, "z", "2", 1), 0);
	assert_string_equal(kl_labels_get(&ls, "z"), "1");
	kl_labels_sort(&ls);
	kl_series_key(&ls, &b);
	assert_string_equal(b.data, "a=x\\,y\\=z\\\\,z=1");
	assert_true(kl_series_hash(&ls) == kl_hash(b.data, b.len));
	kl_labels_del(&ls, "a");
	assert_int_equal(ls.n, 1);
	assert_null(kl_labels_get(&ls, "a"));
	kl_buf_release(&b);
	kl_labels_release(&ls);
}

/*
 * The storage of label sets: names and values stay put while the set grows
 * and values are replaced, sets built in one go (reserve, push, copy) and
 * big ones (past the copy's length cache and the insertion sort), a copy
 * after deletes and replacements, and moving a set by struct copy.
 */
static void test_label_storage(void **state)
{
	struct kl_labels ls = { 0 }, cp = { 0 }, moved;
	const char *first_name, *first_value;
	char name[32], value[600];

	(void)state;
	assert_int_equal(kl_labels_set(&ls, "first", "v0", 2), 0);
	first_name = ls.v[0].name;
	first_value = kl_labels_get(&ls, "first");
	/* 60 labels with values up to 590 bytes: several chunks */
	for (int i = 59; i >= 1; i--) {
		snprintf(name, sizeof(name), "k%02d", i);
		memset(value, 'a' + i % 26, (size_t)i * 10);
		assert_int_equal(kl_labels_set(&ls, name, value, (size_t)i * 10), 0);
	}
	assert_int_equal(ls.n, 60);
	assert_ptr_equal(kl_labels_get(&ls, "first"), first_value);
	assert_string_equal(first_value, "v0");
	/* replacing a value keeps the other strings where they are */
	assert_int_equal(kl_labels_set(&ls, "first", "replaced", 8), 0);
	assert_string_equal(kl_labels_get(&ls, "first"), "replaced");
	assert_string_equal(first_value, "v0");
	kl_labels_del(&ls, "k30");
	assert_null(kl_labels_get(&ls, "k30"));
	kl_labels_sort(&ls);
	assert_int_equal(ls.n, 59);
	for (size_t i = 1; i < ls.n; i++)
		assert_true(strcmp(ls.v[i - 1].name, ls.v[i].name) < 0);
	assert_string_equal(ls.v[0].name, "first");
	assert_ptr_equal(ls.v[0].name, first_name);
	/* a copy holds the same labels in the same order, in its own storage */
	assert_int_equal(kl_labels_copy(&cp, &ls), 0);
	assert_int_equal(cp.n, ls.n);
	for (size_t i = 0; i < ls.n; i++) {
		assert_string_equal(cp.v[i].name, ls.v[i].name);
		assert_string_equal(cp.v[i].value, ls.v[i].value);
		assert_ptr_not_equal(cp.v[i].name, ls.v[i].name);
	}
	assert_int_equal(strlen(kl_labels_get(&cp, "k59")), 590);
	kl_labels_release(&ls);
	/* a struct copy moves the set */
	moved = cp;
	cp = (struct kl_labels){ 0 };
	assert_string_equal(kl_labels_get(&moved, "first"), "replaced");
	kl_labels_release(&moved);

	/* reserve then push and set: the labels asked for, values with a NUL cut there */
	assert_int_equal(kl_labels_reserve(&ls, 3, 64), 0);
	assert_int_equal(ls.n, 0);
	assert_int_equal(kl_labels_push(&ls, "b", 1, "2", 1), 0);
	assert_int_equal(kl_labels_push(&ls, "a=x", 1, "1\0zz", 4), 0);
	assert_int_equal(kl_labels_set(&ls, "c", "3", 1), 0);
	assert_int_equal(ls.n, 3);
	assert_string_equal(kl_labels_get(&ls, "a"), "1");
	assert_string_equal(kl_labels_get(&ls, "c"), "3");
	/* a copy into a set with room reserved */
	assert_int_equal(kl_labels_reserve(&cp, 4, 64), 0);
	assert_int_equal(kl_labels_copy(&cp, &ls), 0);
	assert_int_equal(kl_labels_set(&cp, "d", "4", 1), 0);
	kl_labels_sort(&cp);
	assert_int_equal(cp.n, 4);
	assert_string_equal(cp.v[0].name, "a");
	assert_string_equal(cp.v[3].value, "4");
	kl_labels_release(&cp);
	kl_labels_release(&ls);
	/* release leaves a reusable empty set; releasing it again is fine */
	assert_int_equal(ls.n, 0);
	kl_labels_release(&ls);
	assert_int_equal(kl_labels_copy(&cp, &ls), 0);
	assert_int_equal(cp.n, 0);
	kl_labels_release(&cp);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_storage),
		cmocka_unit_test(test_name_grammar),
		cmocka_unit_test(test_name_errors),
		cmocka_unit_test(test_time_units),
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_query_parse),
		cmocka_unit_test(test_type_table),
		cmocka_unit_test(test_tenant),
		cmocka_unit_test(test_connect_errors),
		cmocka_unit_test(test_labels_and_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
