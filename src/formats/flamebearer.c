/* SPDX-License-Identifier: Apache-2.0 */
/* flamebearer.c - placeholder until the module is written. */
#include "formats.h"
int kl_flamebearer_write(const struct kl_tree *t, const struct kl_flamebearer_meta *m,
			 bool members_only, struct kl_buf *out, struct kl_err *err)
{ (void)t; (void)m; (void)members_only; (void)out; return kl_errf(err, -ENOSYS, "flamebearer: not implemented"); }
int kl_flamebearer_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			struct kl_profile **out, struct kl_err *err)
{ (void)data; (void)len; (void)lim; *out = NULL; return kl_errf(err, -ENOSYS, "flamebearer: not implemented"); }
