/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selector_test.c - query selectors: profile type ids, the old app.suffix
 * form, the four operators with PromQL quoting and escapes, anchored
 * regexes, absent labels, precise parse errors, and query time ranges;
 * plus selectors run against series produced by a real ingest.
 */
#include "ingest_testlib.h"

static struct kl_labels labels_of(const char *const *kv)
{
	struct kl_labels ls = { 0 };

	for (; kv[0]; kv += 2)
		assert_int_equal(kl_labels_set(&ls, kv[0], kv[1], strlen(kv[1])), 0);
	kl_labels_sort(&ls);
	return ls;
}

static bool matches(const char *sel, const struct kl_labels *ls)
{
	struct kl_selector s;
	struct kl_http_err err = { 0 };
	bool ok;

	if (kl_selector_parse(sel, &s, &err))
		fail_msg("selector %s: %s", sel, err.e.msg);
	ok = kl_selector_match(&s, ls);
	kl_selector_release(&s);
	return ok;
}

static void test_parse_and_match(void **state)
{
	static const char *const kv[] = {
		"__profile_type__", "process_cpu:cpu:nanoseconds:cpu:nanoseconds",
		"__name__", "process_cpu", "service_name", "api", "env", "prod",
		"route", "/users/{id}", "quote", "a\"b\\c\n", NULL,
	};
	struct kl_labels ls = labels_of(kv);
	struct kl_selector s;
	struct kl_http_err err = { 0 };

	(void)state;
	assert_int_equal(kl_selector_parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds"
					   "{service_name=\"api\", env!=\"dev\", route=~\"/users/.*\","
					   " host!~\"db-.*\",}", &s, &err), 0);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.m[0].name, "__profile_type__");
	assert_int_equal(s.m[2].op, KL_MATCH_NEQ);
	assert_int_equal(s.m[3].op, KL_MATCH_RE);
	assert_int_equal(s.m[4].op, KL_MATCH_NRE);
	assert_true(kl_selector_match(&s, &ls));
	assert_string_equal(kl_selector_get_eq(&s, "service_name"), "api");
	assert_null(kl_selector_get_eq(&s, "env"));
	kl_selector_release(&s);

	assert_true(matches("{service_name=\"api\"}", &ls));
	assert_false(matches("{service_name=\"ap\"}", &ls));
	/* regexes are anchored at both ends */
	assert_false(matches("{service_name=~\"ap\"}", &ls));
	assert_true(matches("{service_name=~\"ap.\"}", &ls));
	assert_true(matches("{service_name=~\"a|api\"}", &ls));
	assert_true(matches("{service_name!~\"a|b\"}", &ls));
	/* absent labels are "" */
	assert_true(matches("{missing=\"\"}", &ls));
	assert_true(matches("{missing!=\"x\"}", &ls));
	assert_true(matches("{missing=~\".*\"}", &ls));
	assert_false(matches("{missing=~\".+\"}", &ls));
	/* quoting: escapes in "..." and '...', raw `...` */
	assert_true(matches("{quote=\"a\\\"b\\\\c\\n\"}", &ls));
	assert_true(matches("{quote='a\"b\\\\c\\x0a'}", &ls));
	assert_true(matches("{quote=~`a\"b\\\\c\\n`}", &ls));
	assert_true(matches("{route=\"/users/\\u007bid}\"}", &ls));
	/* old form: service_name + profile type of the suffix */
	assert_true(matches("api.cpu{env=\"prod\"}", &ls));
	assert_true(matches("api", &ls));
	assert_false(matches("api.alloc_space", &ls));
	assert_false(matches("other.cpu", &ls));
	assert_true(matches("  process_cpu:cpu:nanoseconds:cpu:nanoseconds  ", &ls));
	kl_labels_release(&ls);

	assert_int_equal(kl_selector_parse("app.alloc_objects{}", &s, &err), 0);
	assert_string_equal(kl_selector_get_eq(&s, "__profile_type__"),
			    "memory:alloc_objects:count:space:bytes");
	assert_string_equal(kl_selector_get_eq(&s, "service_name"), "app");
	kl_selector_release(&s);
	assert_int_equal(kl_selector_parse("memory:inuse_space:bytes::", &s, &err), 0);
	kl_selector_release(&s);
}

static void expect_error(const char *sel, const char *msg)
{
	struct kl_selector s;
	struct kl_http_err err = { 0 };

	if (kl_selector_parse(sel, &s, &err) == 0)
		fail_msg("selector %s accepted", sel);
	assert_int_equal(err.status, 400);
	if (!strstr(err.e.msg, msg))
		fail_msg("selector %s: message \"%s\" lacks \"%s\"", sel, err.e.msg, msg);
	assert_int_equal(s.n, 0);
}

static void test_errors(void **state)
{
	(void)state;
	expect_error("", "selector: empty");
	expect_error("{}", "selector: empty");
	expect_error("a:b:c", "must have 5 parts");
	expect_error("app.heap", "selector: unknown profile type \"heap\"");
	expect_error("{a=\"x\"", "missing '}' at position 6");
	expect_error("{a=\"x}", "unterminated string");
	expect_error("{a==\"x\"}", "expected a quoted string at position 3");
	expect_error("{a~\"x\"}", "expected one of = != =~ !~ at position 2");
	expect_error("{a=x}", "expected a quoted string");
	expect_error("{1a=\"x\"}", "expected a label name at position 1");
	expect_error("{a=\"x\" b=\"y\"}", "expected ',' or '}' at position 7");
	expect_error("{a=\"\\q\"}", "unknown escape sequence");
	expect_error("{a=\"\\x4\"}", "bad escape sequence");
	expect_error("{a=\"\\ud800\"}", "bad escape sequence");
	expect_error("{a=~\"(\"}", "bad regex for label \"a\"");
	expect_error("app{a=\"x\"} junk", "unexpected character at position 11");
	expect_error("{a=\"x\",,}", "expected a label name");
}

static void test_query_range(void **state)
{
	struct kl_http_err err = { 0 };
	int64_t f, u;
	const int64_t hour = INT64_C(3600000000000);

	(void)state;
	assert_int_equal(kl_query_range("now-7d", "now", NOW_NS, hour, &f, &u, &err), 0);
	assert_true(u == NOW_NS && f == NOW_NS - 7 * 24 * hour);
	assert_int_equal(kl_query_range(NULL, NULL, NOW_NS, hour, &f, &u, &err), 0);
	assert_true(u == NOW_NS && f == NOW_NS - hour);
	assert_int_equal(kl_query_range("1700000000000", "1700000060", NOW_NS, hour, &f, &u, &err), 0);
	assert_true(f == INT64_C(1700000000000000000) && u == INT64_C(1700000060000000000));
	assert_int_equal(kl_query_range("now", "now-1h", NOW_NS, hour, &f, &u, &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "until is before from");
	assert_int_equal(kl_query_range("x", NULL, NOW_NS, hour, &f, &u, &err), -KL_EFORMAT);
	assert_non_null(strstr(err.e.msg, "from: invalid time \"x\""));
}

/* Selectors over the series of a real upload. */
static void test_on_ingested(void **state)
{
	struct kl_ingest_params pa;
	struct kl_http_err err = { 0 };
	struct kl_series_set s = { 0 };
	struct kl_selector sel;
	size_t len, n = 0;
	uint8_t *data = test_read_fixture("pprof/go-cpu.pb.gz", &len);

	(void)state;
	assert_int_equal(params_from("format=pprof&name=ride%7Benv%3Dprod%7D", &pa, &err), 0);
	assert_int_equal(kl_ingest_request(&pa, NULL, data, len, NULL, &s, &err), 0);
	assert_int_equal(kl_selector_parse("process_cpu:cpu:nanoseconds:cpu:nanoseconds"
					   "{service_name=\"ride\",vehicle=~\"car|bike\"}", &sel, &err),
			 0);
	for (size_t i = 0; i < s.n; i++)
		n += kl_selector_match(&sel, &s.v[i].labels);
	assert_int_equal(n, 2);
	kl_selector_release(&sel);
	/* the old form reaches the same cpu series (app name + .cpu) */
	assert_int_equal(kl_selector_parse("ride.cpu{vehicle!=\"car\"}", &sel, &err), 0);
	n = 0;
	for (size_t i = 0; i < s.n; i++)
		n += kl_selector_match(&sel, &s.v[i].labels);
	assert_int_equal(n, 2);	/* bike and the unlabelled samples */
	kl_selector_release(&sel);
	kl_series_set_release(&s);
	kl_ingest_params_release(&pa);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_and_match),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_query_range),
		cmocka_unit_test(test_on_ingested),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
