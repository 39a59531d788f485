/* SPDX-License-Identifier: Apache-2.0 */
/*
 * view.h - a profile seen as stacks of named frames.
 *
 * Reports (top, tree, flame graphs, diffs) do not look at locations and
 * lines; they look at frames named at a chosen granularity (functions,
 * files, lines, addresses), after filters have dropped samples and hidden
 * frames. A kl_view computes, once per location, the list of frame names
 * that location contributes, so that walking a sample's stack costs one
 * array copy per location and no string work.
 *
 * Frame names are interned in a kl_strtab the caller passes in, so that two
 * views (the two sides of a diff, or several profiles) share name ids.
 * Names follow pprof's printable form, e.g. "main.work", or with -lines
 * "main.work /src/main.go:30", or "[libc.so.6]" for unsymbolised frames.
 */
#ifndef KL_VIEW_H
#define KL_VIEW_H

#include "filter.h"
#include "profile.h"

enum kl_granularity {
	KL_GRAN_FUNCTIONS,	/* function name (pprof default) */
	KL_GRAN_FILEFUNCTIONS,	/* function name and file */
	KL_GRAN_FILES,		/* source file */
	KL_GRAN_LINES,		/* function, file and line */
	KL_GRAN_ADDRESSES,	/* instruction address, function, file and line */
};

struct kl_view_opts {
	uint32_t sample_index;		/* which value of each sample */
	enum kl_granularity granularity;
	bool no_inlines;		/* fold inlined frames into their caller */
	const struct kl_filter *filter;	/* NULL = keep everything */
};

/* Flags of each frame in a location's frame list. */
enum kl_frame_flags {
	KL_FRAME_INLINED = 1 << 0,	/* inlined into the next (outer) frame */
};

struct kl_view {
	const struct kl_profile *profile;	/* borrowed */
	struct kl_strtab *names;		/* borrowed: frame name ids */
	uint32_t sample_index;

	/* per location: frames[frame_start[i] .. frame_start[i+1]), innermost first */
	uint32_t *frame_start;		/* nlocations + 1 */
	uint32_t *frames;		/* frame name ids */
	uint8_t *frame_flags;		/* enum kl_frame_flags, parallel to frames */

	uint8_t *keep;			/* per sample: 1 if filters keep it */
	uint32_t max_depth;		/* longest stack after hiding, in frames */
};

/*
 * Builds a view of p with the options o, interning frame names in names.
 * Returns 0, -ENOMEM, or an error from the filter with a message in err.
 * The view borrows p and names: both must outlive it.
 */
int kl_view_init(struct kl_view *v, const struct kl_profile *p, const struct kl_view_opts *o,
		 struct kl_strtab *names, struct kl_err *err);

/* Releases what kl_view_init allocated. Safe on a zeroed or failed view. */
void kl_view_release(struct kl_view *v);

/* The sample's value for the view's sample index. */
static inline int64_t kl_view_value(const struct kl_view *v, uint32_t sample)
{
	return kl_sample_values(v->profile, sample)[v->sample_index];
}

/*
 * Writes the frame names of sample's stack into buf (leaf first) and, if
 * flags is not NULL, each frame's flags. buf and flags need room for
 * v->max_depth entries. Returns the number of frames (0 for a sample the
 * filters dropped or whose frames are all hidden).
 */
uint32_t kl_view_stack(const struct kl_view *v, uint32_t sample, uint32_t *buf, uint8_t *flags);

#endif /* KL_VIEW_H */
