/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buf_test.c - unit tests of kl_buf (ceilings, sticky errors, JSON escaping),
 * error text helpers and allocation fault injection.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"

static void test_append_and_format(void **state)
{
	struct kl_buf b = KL_BUF_INIT;

	(void)state;
	kl_buf_add(&b, NULL, 0);	/* empty appends may pass NULL */
	assert_null(b.data);
	assert_int_equal(kl_buf_error(&b), 0);
	kl_buf_addstr(&b, "abc");
	kl_buf_add(&b, NULL, 0);
	kl_buf_addch(&b, '-');
	kl_buf_add_i64(&b, -9223372036854775807LL - 1);
	kl_buf_addch(&b, ' ');
	kl_buf_add_u64(&b, UINT64_MAX);
	assert_string_equal(b.data, "abc--9223372036854775808 18446744073709551615");
	kl_buf_release(&b);
	/* addf past the first reservation takes the second vsnprintf path */
	kl_buf_addf(&b, "%0300d|%s", 7, "end");
	assert_int_equal(b.len, 304);
	assert_string_equal(b.data + 300, "|end");
	assert_int_equal(kl_buf_error(&b), 0);
	kl_buf_release(&b);
}

static void test_limit_is_sticky(void **state)
{
	struct kl_buf b;

	(void)state;
	kl_buf_init(&b, 8);
	kl_buf_addstr(&b, "12345678");
	assert_int_equal(kl_buf_error(&b), 0);
	kl_buf_addch(&b, '9');
	assert_int_equal(kl_buf_error(&b), -KL_ELIMIT);
	kl_buf_addstr(&b, "x");	/* later appends do nothing */
	assert_int_equal(b.len, 8);
	assert_string_equal(b.data, "12345678");
	kl_buf_release(&b);
}

static void test_escaping(void **state)
{
	struct kl_buf b = KL_BUF_INIT;
	const char json_in[] = "a\"b\\c\n\x01\x7f";

	(void)state;
	kl_buf_add_json_str(&b, json_in, sizeof(json_in) - 1);
	assert_string_equal(b.data, "a\\\"b\\\\c\\n\\u0001\\u007f");
	kl_buf_release(&b);
}

static void test_detach_and_errors(void **state)
{
	struct kl_buf b = KL_BUF_INIT;
	struct kl_err err;
	size_t len;
	char *s;

	(void)state;
	kl_buf_addstr(&b, "owned");
	s = kl_buf_detach(&b, &len);
	assert_int_equal(len, 5);
	assert_string_equal(s, "owned");
	assert_null(b.data);
	kl_free(s);
	assert_int_equal(kl_errf(&err, -KL_EFORMAT, "bad %s", "thing"), -KL_EFORMAT);
	kl_err_prefix(&err, "file%d", 1);
	assert_string_equal(err.msg, "file1: bad thing");
	assert_string_equal(kl_strerror(-KL_ETRUNC), "truncated input");
	assert_string_equal(kl_strerror(-ENOENT), "No such file or directory");
}

static void test_grow(void **state)
{
	int *arr = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(KL_GROW(arr, cap, 1), 0);
	assert_true(cap >= 1);
	assert_int_equal(KL_GROW(arr, cap, 1000), 0);
	assert_true(cap >= 1000);
	arr[999] = 1;
	assert_int_equal(KL_GROW(arr, cap, SIZE_MAX / 2), -ENOMEM);
	assert_int_equal(arr[999], 1);	/* untouched on failure */
	kl_free(arr);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_append_and_format),
		cmocka_unit_test(test_limit_is_sticky),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_detach_and_errors),
		cmocka_unit_test(test_grow),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
