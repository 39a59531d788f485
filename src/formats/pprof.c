/* SPDX-License-Identifier: Apache-2.0 */
/* pprof.c - placeholder until the module is written. */
#include "formats.h"
int kl_pprof_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		  struct kl_profile **out, struct kl_err *err)
{ (void)data; (void)len; (void)lim; *out = NULL; return kl_errf(err, -ENOSYS, "pprof: not implemented"); }
int kl_pprof_write(const struct kl_profile *p, bool compress, struct kl_buf *out, struct kl_err *err)
{ (void)p; (void)compress; (void)out; return kl_errf(err, -ENOSYS, "pprof: not implemented"); }
