/* SPDX-License-Identifier: Apache-2.0 */
/*
 * folded_internal.h - the folded reader with a chosen sample type, shared by
 * folded.c and the perf script reader in collapse.c (whose values are
 * event periods, not sample counts). Not part of the formats.h interface.
 */
#ifndef KL_FOLDED_INTERNAL_H
#define KL_FOLDED_INTERNAL_H

#include "formats.h"

/*
 * kl_folded_read with the single sample type type/unit (both non-NULL
 * C strings) instead of samples/count. Same limits, errors and ownership.
 */
int kl_folded_read_typed(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			 const char *type, const char *unit, struct kl_profile **out,
			 struct kl_err *err);

#endif /* KL_FOLDED_INTERNAL_H */
