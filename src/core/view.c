/* placeholder */
#include "view.h"
int kl_view_init(struct kl_view *v, const struct kl_profile *p, const struct kl_view_opts *o,
		 struct kl_strtab *names, struct kl_err *err)
{ (void)v; (void)p; (void)o; (void)names; return kl_errf(err, -ENOSYS, "view: not implemented"); }
void kl_view_release(struct kl_view *v) { (void)v; }
uint32_t kl_view_stack(const struct kl_view *v, uint32_t sample, uint32_t *buf, uint8_t *flags)
{ (void)v; (void)sample; (void)buf; (void)flags; return 0; }
