/* SPDX-License-Identifier: Apache-2.0 */
/*
 * core_spare_test.c - unit tests of kl_buf's per-thread spares: storage
 * comes back to the thread that gave it, the best fit is taken, large
 * buffers are not kept, a thread's spares are freed when it exits (ASan's
 * leak check), storage may cross threads, and kl_gunzip_reuse decodes into
 * reused storage.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "core/buf.h"
#include "formats/formats.h"

/* Gives the thread a spare of exactly cap bytes of capacity; returns its data. */
static char *give_cap(size_t cap)
{
	struct kl_buf b = KL_BUF_INIT;
	char *data;

	assert_int_equal(kl_buf_reserve(&b, cap - 1), 0);
	assert_int_equal(b.cap, cap);
	data = b.data;
	kl_buf_addstr(&b, "x");
	kl_buf_spare_give(&b);
	assert_null(b.data);
	assert_int_equal(b.len, 0);
	assert_int_equal(b.cap, 0);
	return data;
}

static void test_take_best_fit(void **state)
{
	struct kl_buf b = KL_BUF_INIT, c = KL_BUF_INIT, d = KL_BUF_INIT;
	char *small, *big;

	(void)state;
	small = give_cap(1024);
	big = give_cap(65536);
	/* the smallest that fits */
	kl_buf_spare_take(&b, 100);
	assert_ptr_equal(b.data, small);
	assert_int_equal(b.cap, 1024);
	assert_int_equal(b.len, 0);
	/* none fits: the largest */
	kl_buf_spare_take(&c, 1 << 20);
	assert_ptr_equal(c.data, big);
	/* nothing left */
	kl_buf_spare_take(&d, 1);
	assert_null(d.data);
	/* a buffer that has storage is left alone */
	kl_buf_spare_give(&b);
	kl_buf_spare_take(&c, 1);
	assert_ptr_equal(c.data, big);
	kl_buf_addstr(&c, "hello");
	assert_string_equal(c.data, "hello");
	kl_buf_release(&c);
	kl_buf_spare_take(&d, 1);
	assert_ptr_equal(d.data, small);
	kl_buf_release(&d);
}

static void test_bounds(void **state)
{
	struct kl_buf b = KL_BUF_INIT;
	char *a1, *a2, *a3;

	(void)state;
	/* over KL_BUF_SPARE_MAX: freed, not kept */
	assert_int_equal(kl_buf_reserve(&b, KL_BUF_SPARE_MAX + 10), 0);
	kl_buf_spare_give(&b);
	assert_null(b.data);
	kl_buf_spare_take(&b, 1);
	assert_null(b.data);
	/* at most KL_BUF_SPARES kept: a larger one replaces the smallest */
	a1 = give_cap(256);
	a2 = give_cap(512);
	a3 = give_cap(4096);
	(void)a1;
	kl_buf_spare_take(&b, 1);
	assert_ptr_equal(b.data, a2);
	kl_buf_release(&b);
	kl_buf_spare_take(&b, 1);
	assert_ptr_equal(b.data, a3);
	kl_buf_release(&b);
	kl_buf_spare_take(&b, 1);
	assert_null(b.data);
	/* a smaller one than every spare is freed */
	give_cap(8192);
	give_cap(8192);
	give_cap(128);
	kl_buf_spare_take(&b, 1);
	assert_int_equal(b.cap, 8192);
	kl_buf_release(&b);
	kl_buf_spare_take(&b, 1);
	assert_int_equal(b.cap, 8192);
	kl_buf_release(&b);
	/* the limit is the caller's, not the spare's */
	give_cap(1024);
	kl_buf_init(&b, 10);
	kl_buf_spare_take(&b, 1);
	assert_non_null(b.data);
	kl_buf_addstr(&b, "0123456789abc");
	assert_int_equal(kl_buf_error(&b), -KL_ELIMIT);
	kl_buf_spare_give(&b);
	assert_int_equal(b.limit, 10);
	assert_int_equal(kl_buf_error(&b), 0);
	kl_buf_spare_take(&b, 1);
	kl_buf_release(&b);
}

static void *thread_gives(void *arg)
{
	struct kl_buf *out = arg;
	struct kl_buf b = KL_BUF_INIT;

	/* kept by this thread, then freed when it exits (else ASan reports a leak) */
	give_cap(2048);
	give_cap(4096);
	/* storage taken here and given by the main thread */
	kl_buf_addstr(&b, "from the thread");
	*out = b;
	return NULL;
}

static void test_threads(void **state)
{
	struct kl_buf b = KL_BUF_INIT, c = KL_BUF_INIT;
	pthread_t th;
	char *data;

	(void)state;
	/* empty the main thread's spares */
	kl_buf_spare_take(&c, 1);
	kl_buf_release(&c);
	kl_buf_spare_take(&c, 1);
	kl_buf_release(&c);
	assert_int_equal(pthread_create(&th, NULL, thread_gives, &b), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_string_equal(b.data, "from the thread");
	data = b.data;
	kl_buf_spare_give(&b);
	kl_buf_spare_take(&c, 1);
	assert_ptr_equal(c.data, data);
	kl_buf_release(&c);
}

static void test_gunzip_reuse(void **state)
{
	struct kl_buf raw = KL_BUF_INIT, gz = KL_BUF_INIT, out = KL_BUF_INIT;
	struct kl_err err = { 0 };
	char *data;

	(void)state;
	for (int i = 0; i < 50000; i++)
		kl_buf_addch(&raw, (char)('a' + (i * 7 + i / 13) % 26));
	assert_int_equal(kl_gzip(raw.data, raw.len, &gz, &err), 0);
	/* storage larger than needed, with old contents: kept, contents replaced */
	assert_int_equal(kl_buf_reserve(&out, 200000), 0);
	kl_buf_addstr(&out, "old");
	data = out.data;
	assert_int_equal(kl_gunzip_reuse((const uint8_t *)gz.data, gz.len, 0, &out, &err), 0);
	assert_ptr_equal(out.data, data);
	assert_int_equal(out.len, raw.len);
	assert_memory_equal(out.data, raw.data, raw.len);
	assert_int_equal(out.data[out.len], '\0');
	/* too small: grown; over the limit: released with the error */
	kl_buf_release(&out);
	assert_int_equal(kl_buf_reserve(&out, 10), 0);
	assert_int_equal(kl_gunzip_reuse((const uint8_t *)gz.data, gz.len, 0, &out, &err), 0);
	assert_memory_equal(out.data, raw.data, raw.len);
	assert_int_equal(kl_gunzip_reuse((const uint8_t *)gz.data, gz.len, 100, &out, &err),
			 -KL_ELIMIT);
	assert_null(out.data);
	kl_buf_release(&gz);
	kl_buf_release(&raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_take_best_fit),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_gunzip_reuse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
