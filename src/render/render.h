/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render.h - flame graphs as SVG and as self-contained interactive HTML.
 *
 * Both take a kl_tree (column 0 for a single profile; both columns for a
 * diff, coloured red where the right side grew and blue where it shrank).
 * The HTML page embeds web/flamegraph/ (the same JavaScript the web UI
 * uses) and the tree as flamebearer JSON, so it opens offline.
 */
#ifndef KL_RENDER_H
#define KL_RENDER_H

#include "../core/buf.h"
#include "../core/tree.h"

struct kl_render_opts {
	const char *title;	/* default "Flame Graph" / "Differential Flame Graph" */
	const char *subtitle;	/* optional second line */
	uint32_t width;		/* SVG width in pixels, default 1200 */
	bool icicle;		/* root at the top (default: root at the bottom) */
	bool reverse;		/* the tree was built reversed (for the title) */
	double min_width;	/* omit frames narrower than this many pixels (default 0.1) */
	const char *units;	/* "samples", "nanoseconds", "bytes" ... for labels */
};

int kl_render_svg(const struct kl_tree *t, const struct kl_render_opts *o, struct kl_buf *out,
		  struct kl_err *err);

int kl_render_html(const struct kl_tree *t, const struct kl_render_opts *o, struct kl_buf *out,
		   struct kl_err *err);

#endif /* KL_RENDER_H */
