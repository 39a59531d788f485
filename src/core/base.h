/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base.h - what every Kiln module includes: allocation, error codes, small
 * helpers for growable arrays and error text.
 *
 * Error convention (docs/architecture.md): functions returning int return 0
 * or a negative errno / KL_E* code; functions returning pointers return NULL.
 * A human-readable message travels separately in a struct kl_err that the
 * caller owns, so libraries never print.
 *
 * Allocation goes through kl_malloc and friends so that the agent (which must
 * never abort its host) and a fault-injection test mode share one path.
 */
#ifndef KL_BASE_H
#define KL_BASE_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Kiln's own error codes, numbered above any errno value. */
enum kl_errcode {
	KL_EFORMAT = 4000,	/* input is not in the expected format */
	KL_ETRUNC = 4001,	/* input ends in the middle of a record */
	KL_ELIMIT = 4002,	/* input exceeds a configured size limit */
	KL_EMISMATCH = 4003,	/* profiles cannot be combined */
	KL_ENOTFOUND = 4004,	/* a named thing (sample type ...) is absent */
	KL_EREGEX = 4005,	/* a regular expression does not compile */
	KL_EUSAGE = 4006,	/* a bad argument or option value */
	KL_EIO = 4007,		/* reading or writing a stream failed */
};

/* Returns a static description of a negative error code (errno or KL_E*). */
const char *kl_strerror(int err);

/*
 * Error text: a fixed buffer the caller provides. Messages are lower case
 * without a final full stop, and say what failed first, e.g.
 * "pprof: sample 12 refers to unknown location 7".
 */
struct kl_err {
	char msg[512];
};

/*
 * Formats a message into *err (if err is not NULL) and returns code, so that
 * error paths read "return kl_errf(err, -KL_EFORMAT, "...", ...);".
 */
int kl_errf(struct kl_err *err, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes an existing message: "prefix: old message". */
void kl_err_prefix(struct kl_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/*
 * Allocation. These return NULL on failure and never abort. When the
 * environment variable KILN_FAIL_ALLOC=N is set at first use, the Nth
 * allocation fails (tests use it to cover out-of-memory paths).
 */
void *kl_malloc(size_t size);
void *kl_calloc(size_t nmemb, size_t size);
void *kl_realloc(void *ptr, size_t size);
void *kl_reallocarray(void *ptr, size_t nmemb, size_t size);
char *kl_strndup(const char *s, size_t n);
void kl_free(void *ptr);

/*
 * Ensures that the array *arr, which has room for *cap elements of elsize
 * bytes, has room for at least need elements. Grows geometrically.
 * Returns 0 or -ENOMEM (the array is left untouched on failure).
 */
int kl_grow(void **arr, size_t *cap, size_t need, size_t elsize);

/* The common case, room already there, costs a compare, not a call. */
static inline int kl_grow_inline(void **arr, size_t *cap, size_t need, size_t elsize)
{
	return need <= *cap ? 0 : kl_grow(arr, cap, need, elsize);
}

#define KL_GROW(arr, cap, need) \
	kl_grow_inline((void **)&(arr), &(cap), (need), sizeof(*(arr)))

#define KL_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define KL_MIN(a, b) ((a) < (b) ? (a) : (b))
#define KL_MAX(a, b) ((a) > (b) ? (a) : (b))
#define KL_UNUSED __attribute__((unused))

/* 64-bit hashing (xxh3) of a byte range, used by every hash table. */
uint64_t kl_hash(const void *data, size_t len);

/*
 * Hash of a 64-bit integer key: the splitmix64 finaliser, cheap and well
 * mixed. Inline: the store calls it per stack frame. Its values are part
 * of stored data (stack path hashes): never change them.
 */
static inline uint64_t kl_hash_u64(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

#endif /* KL_BASE_H */
