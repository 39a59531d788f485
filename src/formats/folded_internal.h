/* SPDX-License-Identifier: Apache-2.0 */
/*
 * folded_internal.h - the folded reader with a chosen sample type, shared by
 * folded.c and the perf script reader in collapse.c (whose values are
 * event periods, not sample counts), and the line splitting both text
 * readers use. Not part of the formats.h interface.
 */
#ifndef KL_FOLDED_INTERNAL_H
#define KL_FOLDED_INTERNAL_H

#include <string.h>

#include "formats.h"

/*
 * kl_folded_read with the single sample type type/unit (both non-NULL
 * C strings) instead of samples/count. Same limits, errors and ownership.
 */
int kl_folded_read_typed(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			 const char *type, const char *unit, struct kl_profile **out,
			 struct kl_err *err);

/*
 * The line of data[0..len) that starts at *pos, without its '\n': returns
 * its start and sets *n to its length, and moves *pos past the newline
 * (past len for a last line without one). Call only while *pos < len.
 */
static inline const char *kl_text_line(const char *data, size_t len, size_t *pos, size_t *n)
{
	const char *l = data + *pos;
	const char *nl = memchr(l, '\n', len - *pos);

	*n = nl ? (size_t)(nl - l) : len - *pos;
	*pos += *n + 1;
	return l;
}

#endif /* KL_FOLDED_INTERNAL_H */
