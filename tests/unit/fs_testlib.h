/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fs_testlib.h - helpers the storage unit tests share: a fresh temporary
 * directory per test (removed with everything in it afterwards) and small
 * whole-file reads and writes that fail the test on error. Include after
 * <cmocka.h>.
 */
#ifndef KL_FS_TESTLIB_H
#define KL_FS_TESTLIB_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "core/base.h"
#include "store/fsio.h"

/* The current test's directory, made by test_tmpdir_setup. */
static char test_tmpdir[256];

static int test_rm_entry(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	return remove(path);
}

/* cmocka setup: a new, empty test_tmpdir under /tmp. */
static KL_UNUSED int test_tmpdir_setup(void **state)
{
	(void)state;
	snprintf(test_tmpdir, sizeof(test_tmpdir), "/tmp/kl-test-XXXXXX");
	return mkdtemp(test_tmpdir) ? 0 : -1;
}

/* cmocka teardown: clears any fsio fault plan and removes test_tmpdir. */
static KL_UNUSED int test_tmpdir_teardown(void **state)
{
	(void)state;
	kl_fsio_fault_clear();
	return nftw(test_tmpdir, test_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static KL_UNUSED size_t test_file_size(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return (size_t)sb.st_size;
}

/* Reads a whole file into a malloc'ed buffer (one spare byte); *len gets its size. */
static KL_UNUSED uint8_t *test_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;

	assert_non_null(f);
	*len = test_file_size(path);
	data = malloc(*len + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, *len, f), *len);
	fclose(f);
	return data;
}

/* Replaces the file's contents with len bytes of data. */
static KL_UNUSED void test_write_file(const char *path, const uint8_t *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

#endif /* KL_FS_TESTLIB_H */
