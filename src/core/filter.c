/* placeholder */
#include "filter.h"
int kl_filter_new(const struct kl_filter_opts *o, struct kl_filter **out, struct kl_err *err)
{ (void)o; (void)err; *out = NULL; return 0; }
void kl_filter_free(struct kl_filter *f) { (void)f; }
