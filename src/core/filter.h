/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filter.h - sample and frame filters with pprof's semantics.
 *
 *   focus RE    keep samples with a frame matching RE
 *   ignore RE   drop samples with a frame matching RE (wins over focus)
 *   hide RE     remove matching frames from stacks
 *   show RE     keep only matching frames in stacks
 *   tagfocus    keep samples whose labels match (see below)
 *   tagignore   drop samples whose labels match
 *
 * A frame "matches" when RE matches, anywhere, its function name, its file
 * name or its mapping's file name (pprof's Location.matchesName). Regular
 * expressions use PCRE2, whose syntax is a superset of Go's RE2 for the
 * patterns people write on a command line.
 *
 * Tag filters take pprof's forms, several separated by commas (any may
 * match): "key=regex" on string labels; "regex" alone matches any string
 * label's value; and numeric ranges on numeric labels "key=1kb:4kb",
 * "key=:32", "key=64:", "key=128" (units: b/kb/mb/gb/tb, ns/us/ms/s/m/h).
 */
#ifndef KL_FILTER_H
#define KL_FILTER_H

#include "profile.h"

struct kl_filter_opts {
	const char *focus;
	const char *ignore;
	const char *hide;
	const char *show;
	const char *tagfocus;
	const char *tagignore;
};

struct kl_filter;

/*
 * Compiles the options (NULL or empty strings mean "not set"). Returns 0
 * and *out (NULL when nothing is set, which callers treat as "keep all"),
 * or -KL_EREGEX / -KL_EUSAGE with a message naming the bad option.
 */
int kl_filter_new(const struct kl_filter_opts *o, struct kl_filter **out, struct kl_err *err);

void kl_filter_free(struct kl_filter *f);

/*
 * Decides, for profile p, which samples survive and which frames are
 * hidden. keep has p->nsamples entries; line_hidden has p->nlines entries
 * (one per inline frame); loc_hidden has p->nlocations entries and is set
 * for locations whose frames are all hidden, including locations without
 * lines whose mapping matched. All three are written fully.
 * Returns 0 or -ENOMEM.
 */
int kl_filter_apply(const struct kl_filter *f, const struct kl_profile *p, uint8_t *keep,
		    uint8_t *line_hidden, uint8_t *loc_hidden);

#endif /* KL_FILTER_H */
