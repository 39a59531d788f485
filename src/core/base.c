/* SPDX-License-Identifier: Apache-2.0 */
/*
 * base.c - allocation wrappers with fault injection, error text helpers,
 * geometric array growth and the hash function every table uses.
 */
#include "base.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XXH_INLINE_ALL
#include <xxhash.h>

/*
 * Fault injection: KILN_FAIL_ALLOC=N makes the Nth allocation (1-based) and
 * every later one fail. Read once; the counter is not thread-safe on
 * purpose, since the mode is only used by single-threaded tests.
 */
static long fail_at = -1;
static long alloc_count;

static bool alloc_should_fail(void)
{
	if (fail_at < 0) {
		const char *env = getenv("KILN_FAIL_ALLOC");
		fail_at = env ? strtol(env, NULL, 10) : 0;
	}
	if (fail_at == 0)
		return false;
	return ++alloc_count >= fail_at;
}

void *kl_malloc(size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return malloc(size ? size : 1);
}

void *kl_calloc(size_t nmemb, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return calloc(nmemb ? nmemb : 1, size ? size : 1);
}

void *kl_realloc(void *ptr, size_t size)
{
	if (alloc_should_fail())
		return NULL;
	return realloc(ptr, size ? size : 1);
}

void *kl_reallocarray(void *ptr, size_t nmemb, size_t size)
{
	if (size && nmemb > SIZE_MAX / size)
		return NULL;
	return kl_realloc(ptr, nmemb * size);
}

char *kl_strndup(const char *s, size_t n)
{
	char *copy = kl_malloc(n + 1);

	if (!copy)
		return NULL;
	memcpy(copy, s, n);
	copy[n] = '\0';
	return copy;
}

void kl_free(void *ptr)
{
	free(ptr);
}

int kl_grow(void **arr, size_t *cap, size_t need, size_t elsize)
{
	size_t ncap;
	void *narr;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 16;
	while (ncap < need) {
		if (ncap > SIZE_MAX / 2)
			return -ENOMEM;
		ncap *= 2;
	}
	narr = kl_reallocarray(*arr, ncap, elsize);
	if (!narr)
		return -ENOMEM;
	*arr = narr;
	*cap = ncap;
	return 0;
}

int kl_errf(struct kl_err *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
	}
	return code;
}

void kl_err_prefix(struct kl_err *err, const char *fmt, ...)
{
	char prefix[256], old[sizeof(err->msg)];
	va_list ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(prefix, sizeof(prefix), fmt, ap);
	va_end(ap);
	memcpy(old, err->msg, sizeof(old));
	/* the message may be cut at the buffer's end: better than no message */
	if (snprintf(err->msg, sizeof(err->msg), "%.255s: %.250s", prefix, old) < 0)
		err->msg[0] = '\0';
}

const char *kl_strerror(int err)
{
	switch (-err) {
	case KL_EFORMAT: return "malformed input";
	case KL_ETRUNC: return "truncated input";
	case KL_ELIMIT: return "input exceeds a size limit";
	case KL_EMISMATCH: return "profiles do not match";
	case KL_ENOTFOUND: return "not found";
	case KL_EREGEX: return "bad regular expression";
	case KL_EUSAGE: return "bad usage";
	case KL_EIO: return "input/output error";
	default: return strerror(-err);
	}
}

uint64_t kl_hash(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}
