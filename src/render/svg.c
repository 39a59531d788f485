/* SPDX-License-Identifier: Apache-2.0 */
/* svg.c - placeholder until the module is written. */
#include "render.h"
int kl_render_svg(const struct kl_tree *t, const struct kl_render_opts *o, struct kl_buf *out, struct kl_err *err)
{ (void)t; (void)o; (void)out; return kl_errf(err, -ENOSYS, "svg: not implemented"); }
