/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsio_test.c - unit tests of the store's file system layer: the retrying
 * read/write helpers, atomic whole-file writes, and the fault-injecting
 * table (failures after N calls, short writes, fake free space), on real
 * files in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "core/base.h"
#include "store/fsio.h"

#include "fs_testlib.h"

static void path_of(char *out, size_t size, const char *name)
{
	snprintf(out, size, "%s/%s", test_tmpdir, name);
}

static void read_all(const char *path, char *buf, size_t n)
{
	const struct kl_fsio *io = kl_fsio_default();
	int fd = io->open(path, O_RDONLY, 0);

	assert_true(fd >= 0);
	assert_int_equal(kl_fsio_pread_all(io, fd, buf, n, 0), 0);
	io->close(fd);
}

static void test_read_write_all(void **state)
{
	const struct kl_fsio *io = kl_fsio_default();
	char path[512], back[64];
	int fd;

	(void)state;
	path_of(path, sizeof(path), "rw");
	fd = io->open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(kl_fsio_pwrite_all(io, fd, "hello, world", 12, 0), 0);
	assert_int_equal(kl_fsio_pwrite_all(io, fd, "W", 1, 7), 0);
	assert_int_equal(kl_fsio_pread_all(io, fd, back, 12, 0), 0);
	assert_memory_equal(back, "hello, World", 12);
	/* reading past the end is a truncation, not a silent short read */
	assert_int_equal(kl_fsio_pread_all(io, fd, back, 13, 0), -KL_ETRUNC);
	assert_int_equal(kl_fsio_pread_all(io, fd, back, 0, 100), 0);
	assert_int_equal(io->fdatasync(fd), 0);
	assert_int_equal(io->close(fd), 0);
	/* errors come back as -errno */
	assert_int_equal(kl_fsio_pwrite_all(io, fd, "x", 1, 0), -EBADF);
	assert_int_equal(io->fsync_dir(test_tmpdir), 0);
	path_of(path, sizeof(path), "missing");
	assert_int_equal(io->fsync_dir(path), -1);
	assert_int_equal(errno, ENOENT);
}

static void test_short_writes_are_retried(void **state)
{
	struct kl_fsio_fault f = { .op = KL_FSIO_PWRITE, .short_write = 3 };
	const struct kl_fsio *io = kl_fsio_fault_set(&f);
	char path[512], back[16];
	int fd;

	(void)state;
	path_of(path, sizeof(path), "short");
	fd = io->open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	/* one short write of 3 bytes, then the rest goes through */
	assert_int_equal(kl_fsio_pwrite_all(io, fd, "0123456789", 10, 0), 0);
	assert_int_equal(kl_fsio_fault_hits(), 1);
	assert_int_equal(kl_fsio_pread_all(io, fd, back, 10, 0), 0);
	assert_memory_equal(back, "0123456789", 10);
	io->close(fd);
}

static void test_short_write_then_enospc(void **state)
{
	struct kl_fsio_fault f = { .op = KL_FSIO_PWRITE, .after = 1, .err = ENOSPC,
				   .short_write = 4 };
	const struct kl_fsio *io = kl_fsio_fault_set(&f);
	char path[512], back[8];
	int fd;

	(void)state;
	path_of(path, sizeof(path), "full");
	fd = io->open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(kl_fsio_pwrite_all(io, fd, "ab", 2, 0), 0);	/* the free call */
	/* the disk fills up in the middle of the next write */
	assert_int_equal(kl_fsio_pwrite_all(io, fd, "cdefghij", 8, 2), -ENOSPC);
	assert_int_equal(test_file_size(path), 6);
	read_all(path, back, 6);
	assert_memory_equal(back, "abcdef", 6);
	/* and stays full until cleared */
	assert_int_equal(kl_fsio_pwrite_all(io, fd, "z", 1, 6), -ENOSPC);
	assert_int_equal(kl_fsio_fault_hits(), 3);
	kl_fsio_fault_clear();
	assert_int_equal(kl_fsio_pwrite_all(io, fd, "z", 1, 6), 0);
	assert_int_equal(test_file_size(path), 7);
	io->close(fd);
}

static void test_fault_times_and_ops(void **state)
{
	struct kl_fsio_fault f = { .op = KL_FSIO_FDATASYNC, .after = 2, .err = EIO, .times = 1 };
	const struct kl_fsio *io = kl_fsio_fault_set(&f);
	char path[512], other[512];
	int fd;

	(void)state;
	path_of(path, sizeof(path), "sync");
	fd = io->open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(io->fdatasync(fd), 0);
	assert_int_equal(io->fdatasync(fd), 0);
	assert_int_equal(io->fdatasync(fd), -1);
	assert_int_equal(errno, EIO);
	assert_int_equal(io->fdatasync(fd), 0);	/* times = 1: only once */
	assert_int_equal(kl_fsio_fault_hits(), 1);
	/* other ops are untouched by an FDATASYNC plan */
	assert_int_equal(io->ftruncate(fd, 0), 0);
	io->close(fd);

	f = (struct kl_fsio_fault){ .op = KL_FSIO_OPEN, .err = EMFILE };
	io = kl_fsio_fault_set(&f);
	assert_int_equal(io->open(path, O_RDONLY, 0), -1);
	assert_int_equal(errno, EMFILE);
	f = (struct kl_fsio_fault){ .op = KL_FSIO_UNLINK, .err = EACCES };
	io = kl_fsio_fault_set(&f);
	assert_int_equal(io->unlink(path), -1);
	assert_int_equal(errno, EACCES);
	assert_int_equal(access(path, F_OK), 0);
	f = (struct kl_fsio_fault){ .op = KL_FSIO_MKDIR, .err = ENOSPC };
	io = kl_fsio_fault_set(&f);
	path_of(other, sizeof(other), "d");
	assert_int_equal(io->mkdir(other, 0755), -1);
	assert_int_equal(errno, ENOSPC);
	kl_fsio_fault_clear();
	assert_int_equal(io->mkdir(other, 0755), 0);
	assert_int_equal(io->rmdir(other), 0);
	assert_int_equal(io->unlink(path), 0);
}

static void test_fake_free_space(void **state)
{
	struct kl_fsio_fault f = { .op = KL_FSIO_FSTATVFS, .free_bytes = 10u << 20 };
	const struct kl_fsio *io = kl_fsio_fault_set(&f);
	struct statvfs sv;
	int fd = io->open(test_tmpdir, O_RDONLY | O_DIRECTORY, 0);
	uint64_t avail;

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(io->fstatvfs(fd, &sv), 0);
	avail = (uint64_t)sv.f_bavail * sv.f_frsize;
	assert_true(avail <= 10u << 20 && avail + sv.f_frsize > 10u << 20);
	f.err = EIO;
	io = kl_fsio_fault_set(&f);
	assert_int_equal(io->fstatvfs(fd, &sv), -1);
	assert_int_equal(errno, EIO);
	kl_fsio_fault_clear();
	assert_int_equal(io->fstatvfs(fd, &sv), 0);
	io->close(fd);
}

static void test_write_file_atomic(void **state)
{
	const struct kl_fsio *io = kl_fsio_default();
	struct kl_fsio_fault f = { .op = KL_FSIO_RENAME, .err = EIO };
	char path[512], tmp[512], back[16];

	(void)state;
	path_of(path, sizeof(path), "meta.json");
	path_of(tmp, sizeof(tmp), "meta.json.tmp");
	assert_int_equal(kl_fsio_write_file(io, path, "first", 5), 0);
	assert_int_equal(kl_fsio_write_file(io, path, "second!", 7), 0);
	assert_int_equal(test_file_size(path), 7);
	read_all(path, back, 7);
	assert_memory_equal(back, "second!", 7);
	assert_int_equal(access(tmp, F_OK), -1);

	/* a failure at any step keeps the old file and leaves no .tmp */
	io = kl_fsio_fault_set(&f);
	assert_int_equal(kl_fsio_write_file(io, path, "third", 5), -EIO);
	f = (struct kl_fsio_fault){ .op = KL_FSIO_FDATASYNC, .err = EIO };
	io = kl_fsio_fault_set(&f);
	assert_int_equal(kl_fsio_write_file(io, path, "third", 5), -EIO);
	f = (struct kl_fsio_fault){ .op = KL_FSIO_PWRITE, .err = ENOSPC, .short_write = 2 };
	io = kl_fsio_fault_set(&f);
	assert_int_equal(kl_fsio_write_file(io, path, "third", 5), -ENOSPC);
	assert_int_equal(test_file_size(path), 7);
	read_all(path, back, 7);
	assert_memory_equal(back, "second!", 7);
	assert_int_equal(access(tmp, F_OK), -1);
	/* a path without a directory part syncs the current directory */
	assert_int_equal(chdir(test_tmpdir), 0);
	kl_fsio_fault_clear();
	assert_int_equal(kl_fsio_write_file(io, "plain", "p", 1), 0);
	assert_int_equal(test_file_size("plain"), 1);
	assert_int_equal(chdir("/"), 0);
}

static char synced[512];

static int record_fsync_dir(const char *path)
{
	snprintf(synced, sizeof(synced), "%s", path);
	return kl_fsio_default()->fsync_dir(path);
}

static void test_sync_parent(void **state)
{
	struct kl_fsio io = *kl_fsio_default();
	static const char *const cases[][2] = {
		{ "a/b", "a" }, { "a/b/", "a" }, { "a//b", "a" }, { "b", "." },
		{ "/tmp", "/" }, { "/", "/" }, { "/tmp/x/y", "/tmp/x" },
	};

	(void)state;
	io.fsync_dir = record_fsync_dir;
	for (size_t i = 0; i < KL_ARRAY_SIZE(cases); i++) {
		synced[0] = '\0';
		kl_fsio_sync_parent(&io, cases[i][0]);
		assert_string_equal(synced, cases[i][1]);
	}
	assert_int_equal(kl_fsio_sync_parent(&io, "/tmp/x"), 0);
	assert_int_equal(kl_fsio_sync_parent(&io, "/no-such-dir/x"), -ENOENT);
}

/* every test runs in a fresh temporary directory */
#define TMP_TEST(f) cmocka_unit_test_setup_teardown(f, test_tmpdir_setup, test_tmpdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TMP_TEST(test_read_write_all),
		TMP_TEST(test_short_writes_are_retried),
		TMP_TEST(test_short_write_then_enospc),
		TMP_TEST(test_fault_times_and_ops),
		TMP_TEST(test_fake_free_space),
		TMP_TEST(test_write_file_atomic),
		TMP_TEST(test_sync_parent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
