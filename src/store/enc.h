/* SPDX-License-Identifier: Apache-2.0 */
/*
 * enc.h - the store's byte encoding, shared by WAL records and the symbols
 * file (record.c) and by block sections and indexes (block.c): LEB128
 * varints, zigzag signed values, length-prefixed bytes, (stack, value)
 * pair lists and span lists, and a bounds-checked reader for all of them.
 * One codec, so the two formats cannot drift apart in how they spell a pair.
 */
#ifndef KL_STORE_ENC_H
#define KL_STORE_ENC_H

#include <stdbool.h>
#include <stdint.h>

#include "../core/buf.h"

struct st_span;

/* ---- writing: append to b; a failure is kept in b (kl_buf_error) ---------------- */

/* An unsigned LEB128 varint (1 to 10 bytes). */
void store_put_u(struct kl_buf *b, uint64_t v);
/* A signed value, zigzag-coded then as store_put_u. */
void store_put_s(struct kl_buf *b, int64_t v);
/* n bytes after their length (a varint). */
void store_put_bytes(struct kl_buf *b, const void *s, size_t n);
/* A NUL-terminated string as store_put_bytes (the NUL is not written). */
void store_put_str(struct kl_buf *b, const char *s);
/*
 * n (stack, value) pairs sorted by stack: each stack id as the difference
 * from the previous one (the first from 0), each value zigzag-coded. The
 * count is not written (the caller's format says where it lives).
 */
void store_put_pairs(struct kl_buf *b, const uint32_t *stk, const int64_t *val, size_t n);
/* n spans as (pair index, span string id, trace string id) varints, no count. */
void store_put_spans(struct kl_buf *b, const struct st_span *sp, size_t n);

/* ---- reading ---------------------------------------------------------------------- */

/* A bounds-checked reader: any overrun or out-of-range value sets bad and yields zeros. */
struct store_rd {
	const uint8_t *p, *end;
	bool bad;
};

uint64_t store_get_u(struct store_rd *r);
int64_t store_get_s(struct store_rd *r);
/* A varint below limit (exclusive) as a 32-bit id; otherwise bad is set and 0 returned. */
uint32_t store_get_id(struct store_rd *r, uint64_t limit);
/*
 * Length-prefixed bytes: a pointer into the reader's data (not
 * NUL-terminated) and *n their length; "" and 0 (bad set) on an overrun.
 */
const char *store_get_bytes(struct store_rd *r, size_t *n);
/*
 * n pairs as store_put_pairs wrote them into stk/val (room for n); a stack
 * id at or above nstk sets bad. Returns !r->bad.
 */
bool store_get_pairs(struct store_rd *r, uint32_t *stk, int64_t *val, size_t n, uint64_t nstk);
/*
 * n spans into sp (room for n); a pair index at or above npairs or a
 * string id at or above nstr sets bad. Returns !r->bad.
 */
bool store_get_spans(struct store_rd *r, struct st_span *sp, size_t n, uint64_t npairs,
		     uint64_t nstr);

#endif /* KL_STORE_ENC_H */
