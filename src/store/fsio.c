/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsio.c - the store's file system calls: the real table, the helpers that
 * retry EINTR and short writes, atomic whole-file writes, and the
 * fault-injecting table tests use to make chosen calls fail (EIO, ENOSPC,
 * short writes, fake free space) without touching the code under test.
 */
#include "fsio.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../core/base.h"

/* --- the real calls ------------------------------------------------------ */

static int real_open(const char *path, int flags, mode_t mode)
{
	return open(path, flags | O_CLOEXEC, mode);
}

static int real_fsync_dir(const char *path)
{
	int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc, saved;

	if (fd < 0)
		return -1;
	rc = fsync(fd);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

static const struct kl_fsio fsio_real = {
	.open = real_open,
	.close = close,
	.pwrite = pwrite,
	.pread = pread,
	.fdatasync = fdatasync,
	.ftruncate = ftruncate,
	.rename = rename,
	.unlink = unlink,
	.mkdir = mkdir,
	.rmdir = rmdir,
	.fstatvfs = fstatvfs,
	.fsync_dir = real_fsync_dir,
};

const struct kl_fsio *kl_fsio_default(void)
{
	return &fsio_real;
}

/* --- helpers ------------------------------------------------------------- */

int kl_fsio_pwrite_all(const struct kl_fsio *io, int fd, const void *buf, size_t n, off_t off)
{
	const char *p = buf;

	while (n > 0) {
		ssize_t w = io->pwrite(fd, p, n, off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return errno ? -errno : -EIO;
		}
		/* a write that makes no progress would loop forever */
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

int kl_fsio_pread_all(const struct kl_fsio *io, int fd, void *buf, size_t n, off_t off)
{
	char *p = buf;

	while (n > 0) {
		ssize_t r = io->pread(fd, p, n, off);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return errno ? -errno : -EIO;
		}
		if (r == 0)
			return -KL_ETRUNC;
		p += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

int kl_fsio_sync_parent(const struct kl_fsio *io, const char *path)
{
	size_t n = strlen(path);
	char dir[4096];

	/* "a/b/" names b too: skip trailing slashes, then the last component */
	while (n > 1 && path[n - 1] == '/')
		n--;
	while (n > 0 && path[n - 1] != '/')
		n--;
	if (n == 0)
		return io->fsync_dir(".") ? -errno : 0;
	while (n > 1 && path[n - 1] == '/')
		n--;
	if (n >= sizeof(dir))
		return -ENAMETOOLONG;
	memcpy(dir, path, n);
	dir[n] = '\0';
	return io->fsync_dir(dir) ? -errno : 0;
}

int kl_fsio_write_file(const struct kl_fsio *io, const char *path, const void *data, size_t n)
{
	char tmp[4096];
	int fd = -1, rc;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = io->open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0)
		return -errno;
	rc = kl_fsio_pwrite_all(io, fd, data, n, 0);
	if (!rc && io->fdatasync(fd))
		rc = -errno;
	/* close can report a deferred write error: it counts */
	if (io->close(fd) && !rc)
		rc = -errno;
	fd = -1;
	if (rc)
		goto out;
	if (io->rename(tmp, path)) {
		rc = -errno;
		goto out;
	}
	rc = kl_fsio_sync_parent(io, path);
out:
	/* a failed write leaves the old file (if any) and no stray .tmp */
	if (rc)
		io->unlink(tmp);
	return rc;
}

/* --- fault injection ----------------------------------------------------- */

/*
 * One plan per process. A mutex guards it because the WAL's writer thread
 * calls through the table while a test thread may change the plan.
 */
static pthread_mutex_t fault_mu = PTHREAD_MUTEX_INITIALIZER;
static struct kl_fsio_fault fault_plan;
static uint64_t fault_calls;	/* calls of the planned op seen so far */
static uint64_t fault_hits;	/* faults injected */
static bool fault_short_done;

enum fault_action { FAULT_NONE, FAULT_FAIL, FAULT_SHORT, FAULT_FREE };

/*
 * Decides what call number fault_calls of op does. *err gets the errno,
 * *arg the short-write length or the fake free bytes.
 */
static enum fault_action fault_check(enum kl_fsio_op op, int *err, uint64_t *arg)
{
	enum fault_action a = FAULT_NONE;
	uint64_t n;

	pthread_mutex_lock(&fault_mu);
	if (fault_plan.op != op || (!fault_plan.err && !fault_plan.short_write &&
				    !fault_plan.free_bytes))
		goto out;
	n = fault_calls++;
	if (n < fault_plan.after)
		goto out;
	if (fault_plan.times && fault_hits >= fault_plan.times)
		goto out;
	if (op == KL_FSIO_PWRITE && fault_plan.short_write && !fault_short_done) {
		fault_short_done = true;
		*arg = fault_plan.short_write;
		a = FAULT_SHORT;
	} else if (fault_plan.err) {
		*err = fault_plan.err;
		a = FAULT_FAIL;
	} else if (op == KL_FSIO_FSTATVFS && fault_plan.free_bytes) {
		*arg = fault_plan.free_bytes;
		a = FAULT_FREE;
	} else {
		goto out;
	}
	fault_hits++;
out:
	pthread_mutex_unlock(&fault_mu);
	return a;
}

/* The body of a faultable call: fail with the planned errno or call through. */
#define FAULTED(op, call)					\
	do {							\
		int e_ = 0;					\
		uint64_t a_ = 0;				\
		if (fault_check(op, &e_, &a_) == FAULT_FAIL) {	\
			errno = e_;				\
			return -1;				\
		}						\
		return call;					\
	} while (0)

static int fault_open(const char *path, int flags, mode_t mode)
{
	FAULTED(KL_FSIO_OPEN, real_open(path, flags, mode));
}

static ssize_t fault_pwrite(int fd, const void *buf, size_t n, off_t off)
{
	int e = 0;
	uint64_t arg = 0;

	switch (fault_check(KL_FSIO_PWRITE, &e, &arg)) {
	case FAULT_FAIL:
		errno = e;
		return -1;
	case FAULT_SHORT:
		/* really write a prefix, as a disk filling up mid-write does */
		return pwrite(fd, buf, KL_MIN(n, (size_t)arg), off);
	default:
		return pwrite(fd, buf, n, off);
	}
}

static ssize_t fault_pread(int fd, void *buf, size_t n, off_t off)
{
	FAULTED(KL_FSIO_PREAD, pread(fd, buf, n, off));
}

static int fault_fdatasync(int fd)
{
	FAULTED(KL_FSIO_FDATASYNC, fdatasync(fd));
}

static int fault_ftruncate(int fd, off_t len)
{
	FAULTED(KL_FSIO_FTRUNCATE, ftruncate(fd, len));
}

static int fault_rename(const char *from, const char *to)
{
	FAULTED(KL_FSIO_RENAME, rename(from, to));
}

static int fault_unlink(const char *path)
{
	FAULTED(KL_FSIO_UNLINK, unlink(path));
}

static int fault_mkdir(const char *path, mode_t mode)
{
	FAULTED(KL_FSIO_MKDIR, mkdir(path, mode));
}

static int fault_fstatvfs(int fd, struct statvfs *out)
{
	int e = 0;
	uint64_t arg = 0;

	switch (fault_check(KL_FSIO_FSTATVFS, &e, &arg)) {
	case FAULT_FAIL:
		errno = e;
		return -1;
	case FAULT_FREE:
		if (fstatvfs(fd, out))
			return -1;
		/* expressed in fragments, the unit of f_bavail and f_bfree */
		if (!out->f_frsize)
			out->f_frsize = out->f_bsize ? out->f_bsize : 4096;
		out->f_bavail = (fsblkcnt_t)(arg / out->f_frsize);
		out->f_bfree = out->f_bavail;
		return 0;
	default:
		return fstatvfs(fd, out);
	}
}

static const struct kl_fsio fsio_fault = {
	.open = fault_open,
	.close = close,
	.pwrite = fault_pwrite,
	.pread = fault_pread,
	.fdatasync = fault_fdatasync,
	.ftruncate = fault_ftruncate,
	.rename = fault_rename,
	.unlink = fault_unlink,
	.mkdir = fault_mkdir,
	.rmdir = rmdir,
	.fstatvfs = fault_fstatvfs,
	.fsync_dir = real_fsync_dir,
};

const struct kl_fsio *kl_fsio_fault_set(const struct kl_fsio_fault *f)
{
	pthread_mutex_lock(&fault_mu);
	memset(&fault_plan, 0, sizeof(fault_plan));
	if (f)
		fault_plan = *f;
	fault_calls = 0;
	fault_hits = 0;
	fault_short_done = false;
	pthread_mutex_unlock(&fault_mu);
	return &fsio_fault;
}

void kl_fsio_fault_clear(void)
{
	kl_fsio_fault_set(NULL);
}

uint64_t kl_fsio_fault_hits(void)
{
	uint64_t n;

	pthread_mutex_lock(&fault_mu);
	n = fault_hits;
	pthread_mutex_unlock(&fault_mu);
	return n;
}
