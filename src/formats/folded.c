/* SPDX-License-Identifier: Apache-2.0 */
/* folded.c - placeholder until the module is written. */
#include "formats.h"
int kl_folded_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		   struct kl_profile **out, struct kl_err *err)
{ (void)data; (void)len; (void)lim; *out = NULL; return kl_errf(err, -ENOSYS, "folded: not implemented"); }
int kl_folded_write(const struct kl_tree *t, uint32_t col, struct kl_buf *out, struct kl_err *err)
{ (void)t; (void)col; (void)out; return kl_errf(err, -ENOSYS, "folded: not implemented"); }
