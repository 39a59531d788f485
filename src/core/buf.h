/* SPDX-License-Identifier: Apache-2.0 */
/*
 * buf.h - a growable byte buffer with a ceiling.
 *
 * Writers (pprof, folded, JSON, SVG, HTML) append to a kl_buf; callers
 * decide where the bytes go. Every buffer has a limit set at init so that
 * input from outside can never grow one without bound; appends past it fail
 * with -KL_ELIMIT and leave the buffer marked failed. Like the profile
 * builder, appends record failure in the buffer so that a writer can emit
 * many pieces and check once at the end (kl_buf_error).
 */
#ifndef KL_BUF_H
#define KL_BUF_H

#include "base.h"

struct kl_buf {
	char *data;		/* NUL-terminated when len > 0 */
	size_t len, cap;
	size_t limit;		/* maximum len; 0 = default (1 GiB) */
	int error;		/* first failure: -ENOMEM or -KL_ELIMIT */
};

#define KL_BUF_INIT { 0 }

/* Sets the ceiling. Call before the first append; 0 = default. */
void kl_buf_init(struct kl_buf *b, size_t limit);

/* Frees the data and resets the buffer to empty (limit kept). */
void kl_buf_release(struct kl_buf *b);

/* Hands the data over to the caller (who frees it with kl_free). */
char *kl_buf_detach(struct kl_buf *b, size_t *len);

/* Ensures room for n more bytes. Returns 0 or the buffer's error. */
int kl_buf_reserve(struct kl_buf *b, size_t n);

/*
 * Per-thread spare storage, for buffers a thread fills and drops once per
 * request (a request body, a gunzip output): malloc and free of those were
 * a visible share of the server's CPU. kl_buf_spare_take gives an empty b
 * (data NULL) the thread's spare whose capacity best fits want (the
 * smallest one >= want, else the largest), if it has one; b's len, error
 * and limit are untouched. kl_buf_spare_give keeps b's storage as one of
 * the thread's KL_BUF_SPARES spares when its capacity is at most
 * KL_BUF_SPARE_MAX (replacing a smaller one), else frees it; either way b
 * is left empty, as after kl_buf_release. So a thread holds at most
 * KL_BUF_SPARES x KL_BUF_SPARE_MAX bytes of spares, freed when it exits.
 * Storage may be taken on one thread and given on another. Not for signal
 * handlers (it allocates on first use).
 */
#define KL_BUF_SPARES 2
#define KL_BUF_SPARE_MAX ((size_t)1 << 20)
void kl_buf_spare_take(struct kl_buf *b, size_t want);
void kl_buf_spare_give(struct kl_buf *b);

void kl_buf_add(struct kl_buf *b, const void *data, size_t n);
void kl_buf_addstr(struct kl_buf *b, const char *s);
void kl_buf_addch(struct kl_buf *b, char c);
void kl_buf_addf(struct kl_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void kl_buf_add_i64(struct kl_buf *b, int64_t v);	/* decimal, fast */
void kl_buf_add_u64(struct kl_buf *b, uint64_t v);
/* Appends s as the inside of a JSON string (quotes not included). */
void kl_buf_add_json_str(struct kl_buf *b, const char *s, size_t n);
/* Appends s escaped for XML/HTML text and attributes. */
/* 0, or the first error an append met. */
static inline int kl_buf_error(const struct kl_buf *b)
{
	return b->error;
}

#endif /* KL_BUF_H */
