/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enc.c - the store's byte codec (enc.h): varints, zigzag, length-prefixed
 * bytes, pair and span lists, and their bounds-checked reader. WAL
 * records, symbols files and block sections are all spelled with these,
 * so changing a function here changes every on-disk format at once: the
 * bytes must stay as they are (tests/unit/store_format_test.c).
 */
#include <string.h>

#include "store_internal.h"

#define BUF_DEFAULT_LIMIT ((size_t)1 << 30)	/* buf.c's ceiling when limit is 0 */

/* ---- writing ------------------------------------------------------------------ */

void store_put_u(struct kl_buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	/* the common case, room for the longest varint and the NUL: write in place */
	if (b->cap - b->len > 11 && b->data && !b->error &&
	    (b->limit ? b->limit : BUF_DEFAULT_LIMIT) - b->len > 11) {
		uint8_t *d = (uint8_t *)b->data + b->len;

		while (v >= 0x80) {
			d[n++] = (uint8_t)(v | 0x80);
			v >>= 7;
		}
		d[n++] = (uint8_t)v;
		d[n] = 0;
		b->len += n;
		return;
	}
	while (v >= 0x80) {
		tmp[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (uint8_t)v;
	kl_buf_add(b, tmp, n);
}

void store_put_s(struct kl_buf *b, int64_t v)
{
	store_put_u(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void store_put_bytes(struct kl_buf *b, const void *s, size_t n)
{
	store_put_u(b, n);
	kl_buf_add(b, s, n);
}

void store_put_str(struct kl_buf *b, const char *s)
{
	store_put_bytes(b, s, strlen(s));
}

void store_put_pairs(struct kl_buf *b, const uint32_t *stk, const int64_t *val, size_t n)
{
	uint32_t prev = 0;
	size_t j;

	for (j = 0; j < n; j++) {
		store_put_u(b, stk[j] - prev);
		prev = stk[j];
		store_put_s(b, val[j]);
	}
}

void store_put_spans(struct kl_buf *b, const struct st_span *sp, size_t n)
{
	size_t j;

	for (j = 0; j < n; j++) {
		store_put_u(b, sp[j].pair);
		store_put_u(b, sp[j].span);
		store_put_u(b, sp[j].trace);
	}
}

/* ---- reading ------------------------------------------------------------------ */

uint64_t store_get_u(struct store_rd *r)
{
	uint64_t v = 0;
	unsigned shift = 0;

	while (r->p < r->end && shift < 64) {
		uint8_t c = *r->p++;

		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80))
			return v;
		shift += 7;
	}
	r->bad = true;
	return 0;
}

int64_t store_get_s(struct store_rd *r)
{
	uint64_t v = store_get_u(r);

	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

uint32_t store_get_id(struct store_rd *r, uint64_t limit)
{
	uint64_t v = store_get_u(r);

	if (v >= limit) {
		r->bad = true;
		return 0;
	}
	return (uint32_t)v;
}

const char *store_get_bytes(struct store_rd *r, size_t *n)
{
	uint64_t len = store_get_u(r);
	const char *s = (const char *)r->p;

	if (r->bad || len > (uint64_t)(r->end - r->p)) {
		r->bad = true;
		*n = 0;
		return "";
	}
	r->p += len;
	*n = (size_t)len;
	return s;
}

bool store_get_pairs(struct store_rd *r, uint32_t *stk, int64_t *val, size_t n, uint64_t nstk)
{
	uint32_t prev = 0;
	size_t j;

	for (j = 0; j < n && !r->bad; j++) {
		uint64_t v = prev + store_get_u(r);

		if (v >= nstk)
			r->bad = true;
		stk[j] = prev = (uint32_t)v;
		val[j] = store_get_s(r);
	}
	return !r->bad;
}

bool store_get_spans(struct store_rd *r, struct st_span *sp, size_t n, uint64_t npairs,
		     uint64_t nstr)
{
	size_t j;

	for (j = 0; j < n && !r->bad; j++) {
		sp[j].pair = store_get_id(r, npairs);
		sp[j].span = store_get_id(r, nstr);
		sp[j].trace = store_get_id(r, nstr);
	}
	return !r->bad;
}
