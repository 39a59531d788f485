/* SPDX-License-Identifier: Apache-2.0 */
/*
 * limits_internal.h - the default input limits (struct kl_read_limits in
 * formats.h) and the input size check, shared by the readers so that every
 * format applies the same defaults. Not part of the formats.h interface.
 */
#ifndef KL_LIMITS_INTERNAL_H
#define KL_LIMITS_INTERNAL_H

#include "formats.h"

#define KL_DEFAULT_MAX_INPUT ((size_t)1 << 30)
#define KL_DEFAULT_MAX_SAMPLES 50000000u
#define KL_DEFAULT_MAX_DEPTH 4096u

/* The limits in effect: lim's, with the defaults for zero fields (all when lim is NULL). */
static inline struct kl_read_limits kl_read_limits_resolve(const struct kl_read_limits *lim)
{
	return (struct kl_read_limits){
		.max_input = lim && lim->max_input ? lim->max_input : KL_DEFAULT_MAX_INPUT,
		.max_samples = lim && lim->max_samples ? lim->max_samples : KL_DEFAULT_MAX_SAMPLES,
		.max_depth = lim && lim->max_depth ? lim->max_depth : KL_DEFAULT_MAX_DEPTH,
	};
}

/*
 * Returns 0 if len bytes of input are within max_input, else -KL_ELIMIT
 * with "<what>: input of N bytes exceeds the limit of M" in err.
 */
static inline int kl_check_input_size(const char *what, size_t len, size_t max_input,
				      struct kl_err *err)
{
	if (len <= max_input)
		return 0;
	return kl_errf(err, -KL_ELIMIT, "%s: input of %zu bytes exceeds the limit of %zu", what, len,
		       max_input);
}

#endif /* KL_LIMITS_INTERNAL_H */
