/* SPDX-License-Identifier: Apache-2.0 */
/*
 * protowire.h - a bounded cursor over protobuf wire-format bytes, shared by
 * the decoders that read protobuf without generated code (the pprof reader,
 * the Connect Push decoder). Every read checks the end of the buffer, so
 * malformed or truncated input makes a function return false, never read
 * past the end.
 */
#ifndef KL_PROTOWIRE_H
#define KL_PROTOWIRE_H

#include <stdbool.h>
#include <stdint.h>

/* The bytes [p, end) not yet decoded. */
struct pb {
	const uint8_t *p, *end;
};

/* Wire types (groups, 3 and 4, are not supported). */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Reads a base-128 varint. False if truncated or longer than 10 bytes. */
static inline bool pb_varint(struct pb *b, uint64_t *out)
{
	uint64_t v = 0;

	/* most varints of a profile (keys, ids, lengths) are one byte */
	if (b->p < b->end && !(*b->p & 0x80)) {
		*out = *b->p++;
		return true;
	}
	for (int shift = 0; shift < 64; shift += 7) {
		uint8_t c;

		if (b->p >= b->end)
			return false;
		c = *b->p++;
		v |= (uint64_t)(c & 0x7f) << shift;
		if (!(c & 0x80)) {
			*out = v;
			return true;
		}
	}
	return false;	/* more than 10 bytes */
}

/* Reads a length-delimited payload into sub. False if it overruns b. */
static inline bool pb_sub(struct pb *b, struct pb *sub)
{
	uint64_t n;

	if (!pb_varint(b, &n) || n > (uint64_t)(b->end - b->p))
		return false;
	sub->p = b->p;
	sub->end = b->p + n;
	b->p += n;
	return true;
}

/* Skips one value of wire type wt. False if truncated or a group. */
static inline bool pb_skip(struct pb *b, uint32_t wt)
{
	uint64_t v;
	struct pb sub;

	switch (wt) {
	case WT_VARINT:
		return pb_varint(b, &v);
	case WT_I64:
		if (b->end - b->p < 8)
			return false;
		b->p += 8;
		return true;
	case WT_I32:
		if (b->end - b->p < 4)
			return false;
		b->p += 4;
		return true;
	case WT_LEN:
		return pb_sub(b, &sub);
	default:
		return false;
	}
}

/* Reads a field key. False at a malformed key (field 0 or > 2^32-1). */
static inline bool pb_key(struct pb *b, uint32_t *field, uint32_t *wt)
{
	uint64_t k;

	if (!pb_varint(b, &k) || (k >> 3) == 0 || (k >> 3) > UINT32_MAX)
		return false;
	*field = (uint32_t)(k >> 3);
	*wt = (uint32_t)(k & 7);
	return true;
}

#endif /* KL_PROTOWIRE_H */
