/* SPDX-License-Identifier: Apache-2.0 */
/* collapse.c - placeholder until the module is written. */
#include "formats.h"
int kl_collapse_perf(const char *data, size_t len, const struct kl_collapse_opts *o,
		     struct kl_buf *out, struct kl_err *err)
{ (void)data; (void)len; (void)o; (void)out; return kl_errf(err, -ENOSYS, "collapse: not implemented"); }
bool kl_perf_script_detect(const char *data, size_t len) { (void)data; (void)len; return false; }
int kl_perf_script_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			struct kl_profile **out, struct kl_err *err)
{ (void)data; (void)len; (void)lim; *out = NULL; return kl_errf(err, -ENOSYS, "perf: not implemented"); }
