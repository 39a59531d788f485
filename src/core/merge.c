/* SPDX-License-Identifier: Apache-2.0 */
/* merge.c - placeholder until the module is written. */
#include "profile.h"
int kl_profile_merge(struct kl_profile *const *profiles, size_t n, struct kl_profile **out,
		     struct kl_err *err)
{ (void)profiles; (void)n; *out = NULL; return kl_errf(err, -ENOSYS, "merge: not implemented"); }
struct kl_profile *kl_profile_copy_samples(const struct kl_profile *p, const bool *keep)
{ (void)p; (void)keep; return NULL; }
