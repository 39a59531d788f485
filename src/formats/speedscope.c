/* SPDX-License-Identifier: Apache-2.0 */
/* speedscope.c - placeholder until the module is written. */
#include "formats.h"
int kl_speedscope_write(const struct kl_view *v, const char *name, struct kl_buf *out, struct kl_err *err)
{ (void)v; (void)name; (void)out; return kl_errf(err, -ENOSYS, "speedscope: not implemented"); }
int kl_speedscope_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		       struct kl_profile **out, struct kl_err *err)
{ (void)data; (void)len; (void)lim; *out = NULL; return kl_errf(err, -ENOSYS, "speedscope: not implemented"); }
