/* SPDX-License-Identifier: Apache-2.0 */
/*
 * units_test.c - pprof value formatting. Every expected string below was
 * printed by Go 1.19's pprof measurement code for the same input, so these
 * tables pin kiln's output to `go tool pprof`'s character for character.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/units.h"

static void test_label(void **state)
{
	static const struct {
		int64_t value;
		const char *from, *to, *want;
	} cases[] = {
		/* go-large.cpu with -unit=minimum resolves to "s" for all rows */
		{ 40000000LL, "nanoseconds", "s", "0.04s" },
		{ 205170000000LL, "nanoseconds", "s", "205.17s" },
		{ 0LL, "nanoseconds", "s", "0" },
		{ -3000000LL, "nanoseconds", "minimum", "-3ms" },
		{ 1500000000LL, "nanoseconds", "auto", "1.50s" },
		{ 16497000000000LL, "nanoseconds", "auto", "4.58hrs" },
		{ 31788463LL, "bytes", "kB", "31043.42kB" },
		{ 31788463LL, "bytes", "minimum", "30.32MB" },
		{ 1048576LL, "bytes", "MB", "1MB" },
		{ 512LL, "bytes", "auto", "512B" },
		{ 1900LL, "microseconds", "minimum", "1.90ms" },
		{ 7LL, "count", "minimum", "7" },
		{ 7LL, "count", "count", "7" },
		/* an unknown unit is printed after the value, as pprof does */
		{ 7LL, "objects", "objects", "7objects" },
		{ 1234567LL, "count", "ms", "1234567ms" },
		/* an unknown target falls back to the kind's default unit */
		{ 5LL, "nanoseconds", "xyz", "0" },
		{ 5LL, "bytes", "xyz", "5B" },
		{ 4LL, "milligcu", "auto", "4m*GCU" },
		{ 1LL, "nanoseconds", "s", "0" },
		{ -1LL, "nanoseconds", "s", "0" },
		{ 12345LL, "Bytes", "MB", "0.01MB" },
	};
	char buf[KL_UNIT_LABEL_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kl_unit_label(buf, sizeof(buf), cases[i].value, cases[i].from, cases[i].to);
		if (strcmp(buf, cases[i].want))
			fail_msg("label(%lld, %s, %s) = '%s', want '%s'", (long long)cases[i].value,
				 cases[i].from, cases[i].to, buf, cases[i].want);
	}
}

static void test_percentage(void **state)
{
	static const struct {
		int64_t value, total;
		const char *want;
	} cases[] = {
		{ 40000000LL, 240290000000LL, "0.017%" },
		{ 205170000000LL, 240290000000LL, "85.38%" },
		{ 240290000000LL, 240290000000LL, "  100%" },
		{ 1LL, 3LL, "33.33%" },
		{ 0LL, 0LL, "    0%" },
		{ -5LL, 10LL, "50.00%" },
		{ 1LL, 1000000LL, "0.0001%" },
		{ 31LL, 1000LL, " 3.10%" },
		{ 3LL, 2LL, "150.00%" },
		{ 9996LL, 10000LL, "  100%" },
	};
	char buf[KL_UNIT_LABEL_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kl_unit_percentage(buf, sizeof(buf), cases[i].value, cases[i].total);
		if (strcmp(buf, cases[i].want))
			fail_msg("percentage(%lld, %lld) = '%s', want '%s'",
				 (long long)cases[i].value, (long long)cases[i].total, buf,
				 cases[i].want);
	}
}

static void test_select(void **state)
{
	static const struct {
		int64_t min, max;
		const char *unit, *want;
	} cases[] = {
		{ 40000000LL, 240290000000LL, "nanoseconds", "s" },
		{ 512200LL, 31788463LL, "bytes", "kB" },
		{ 0LL, 7LL, "count", "count" },
		{ 200000LL, 1900000LL, "microseconds", "ms" },
		{ 100LL, 1000000000000LL, "nanoseconds", "us" },
		{ 0LL, 0LL, "bytes", "B" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = kl_unit_select(cases[i].min, cases[i].max, cases[i].unit);

		if (strcmp(got, cases[i].want))
			fail_msg("select(%lld, %lld, %s) = '%s', want '%s'", (long long)cases[i].min,
				 (long long)cases[i].max, cases[i].unit, got, cases[i].want);
	}
}

static void test_scale(void **state)
{
	const char *unit;
	double v;

	(void)state;
	v = kl_unit_scale(1536, "bytes", "kB", &unit);
	assert_true(v == 1.5);
	assert_string_equal(unit, "kB");
	/* "hours" sniffs as "hour"; pprof 1.19 names the unit "hrs" */
	v = kl_unit_scale(2, "hours", "minimum", &unit);
	assert_true(v == 2);
	assert_string_equal(unit, "hrs");
	v = kl_unit_scale(-2000, "ns", "us", &unit);
	assert_true(v == -2);
	assert_string_equal(unit, "us");
	/* INT64_MIN cannot be negated; it must still scale without overflow */
	v = kl_unit_scale(INT64_MIN, "count", "count", &unit);
	assert_true(v < 0);
	assert_string_equal(unit, "");
	/* a unit name longer than any alias is simply unknown */
	v = kl_unit_scale(3, "a-very-long-unit-name-that-is-not-any-known-unit", "ms", &unit);
	assert_true(v == 3);
	assert_string_equal(unit, "ms");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label),
		cmocka_unit_test(test_percentage),
		cmocka_unit_test(test_select),
		cmocka_unit_test(test_scale),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
