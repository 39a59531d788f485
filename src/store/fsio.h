/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fsio.h - the file system calls of the store, behind a table of function
 * pointers (SQLite's aSyscall[] habit) so that tests can inject EIO,
 * ENOSPC, short writes and crashes at chosen points without touching the
 * code under test. Every store and WAL file operation goes through a
 * struct kl_fsio; kl_fsio_default() is the real system.
 *
 * Each function has the contract of the system call it is named after
 * (return value and errno), so callers handle EINTR and short writes
 * exactly as with the real calls.
 */
#ifndef KL_FSIO_H
#define KL_FSIO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct statvfs;

struct kl_fsio {
	int (*open)(const char *path, int flags, mode_t mode);
	int (*close)(int fd);
	ssize_t (*pwrite)(int fd, const void *buf, size_t n, off_t off);
	ssize_t (*pread)(int fd, void *buf, size_t n, off_t off);
	int (*fdatasync)(int fd);
	int (*ftruncate)(int fd, off_t len);
	int (*rename)(const char *from, const char *to);
	int (*unlink)(const char *path);
	int (*mkdir)(const char *path, mode_t mode);
	int (*rmdir)(const char *path);
	int (*fstatvfs)(int fd, struct statvfs *out);
	/* syncs a directory so that renames and creations in it are durable */
	int (*fsync_dir)(const char *path);
};

/* The real system calls (a static table; never NULL). */
const struct kl_fsio *kl_fsio_default(void);

/*
 * Writes all n bytes at off through io, retrying EINTR and short writes.
 * 0 or -errno (a short write that makes no progress is -EIO).
 */
int kl_fsio_pwrite_all(const struct kl_fsio *io, int fd, const void *buf, size_t n, off_t off);

/* Reads exactly n bytes at off (retrying EINTR). 0, -errno, or -KL_ETRUNC at end of file. */
int kl_fsio_pread_all(const struct kl_fsio *io, int fd, void *buf, size_t n, off_t off);

/*
 * Writes a whole file atomically: path.tmp is written, fdatasync'ed,
 * renamed to path and the directory synced. 0 or -errno.
 */
int kl_fsio_write_file(const struct kl_fsio *io, const char *path, const void *data, size_t n);

/*
 * Syncs the directory that holds path (its last component's parent; "." if
 * path has no slash), so that path's creation, rename or removal is
 * durable. 0 or -errno.
 */
int kl_fsio_sync_parent(const struct kl_fsio *io, const char *path);

/*
 * A fault-injecting table for tests: wraps base and fails the calls
 * chosen by the fault plan (set with kl_fsio_fault_set) with the given
 * errno. Not thread-safe to reconfigure while in use.
 */
enum kl_fsio_op {
	KL_FSIO_OPEN, KL_FSIO_PWRITE, KL_FSIO_PREAD, KL_FSIO_FDATASYNC, KL_FSIO_FTRUNCATE,
	KL_FSIO_RENAME, KL_FSIO_UNLINK, KL_FSIO_MKDIR, KL_FSIO_FSTATVFS, KL_FSIO_NOPS
};

struct kl_fsio_fault {
	enum kl_fsio_op op;
	uint64_t after;		/* let this many calls of op succeed first */
	int err;		/* errno to fail with (ENOSPC, EIO ...); 0 = no fault */
	size_t short_write;	/* for PWRITE: write only this many bytes once, then fail */
	uint64_t free_bytes;	/* for FSTATVFS: report this much free space (when err is 0) */
	uint64_t times;		/* inject this many faults, then none [0 = until cleared] */
};

/* Returns a table that applies f (copied) over the real calls; one per process. */
const struct kl_fsio *kl_fsio_fault_set(const struct kl_fsio_fault *f);

/* Clears the fault: the table from kl_fsio_fault_set behaves like the real one. */
void kl_fsio_fault_clear(void);

/*
 * How many faults (failures, short writes, fake free space) the current
 * plan has injected so far, so a test can check that its fault fired.
 * Until the plan is cleared, a planned fault with err repeats on every call
 * of op after the first `after` ones (a full disk stays full).
 */
uint64_t kl_fsio_fault_hits(void);

#endif /* KL_FSIO_H */
