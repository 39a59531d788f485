/* placeholder */
#include "tree.h"
struct kl_tree *kl_tree_new(struct kl_strtab *names, uint32_t ncols) { (void)names; (void)ncols; return NULL; }
void kl_tree_free(struct kl_tree *t) { (void)t; }
