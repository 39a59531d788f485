/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render_util.h - helpers shared by the SVG and HTML renderers: frame
 * colours, value formatting and XML-safe text. Internal to src/render.
 *
 * The colour rules are mirrored in web/flamegraph/flamegraph.js (functions
 * packageOf, hashName, warmColor, diffColor) so that an SVG and an HTML
 * page of the same profile look alike; change both together.
 */
#ifndef KL_RENDER_UTIL_H
#define KL_RENDER_UTIL_H

#include "../core/buf.h"

struct kl_rgb {
	uint8_t r, g, b;
};

/*
 * Length of the "package" prefix of a frame name that colours hash:
 * "[module]" for unsymbolised frames, the part before the first "::" (C++,
 * Rust), the Go import path before the first '.' after the last '/'
 * ("net/http" of "net/http.(*conn).serve"), or the whole name.
 * Sets *kernel for perf's "_[k]" kernel annotations.
 */
size_t render_package_len(const char *name, size_t n, bool *kernel);

/* The warm palette colour of a frame name, stable across runs. */
struct kl_rgb render_name_color(const char *name, size_t n);

/*
 * The diff colour for a change of share d (new share - base share of the
 * total, in [-1, 1]) against the largest change scale (> 0): grey when
 * unchanged, red when grown, blue when shrunk, deeper as |d| nears scale.
 */
struct kl_rgb render_diff_color(double d, double scale);

/* Changes smaller than this share of the total count as unchanged. */
#define RENDER_DIFF_EPS 1e-9

/*
 * Appends v in the unit: nanoseconds as ns/us/ms/s, bytes as B/KiB/MiB/GiB,
 * anything else as an integer with thousands separators and the unit name.
 */
void render_add_value(struct kl_buf *b, int64_t v, const char *unit);

/*
 * Appends s[0..n) as XML text or attribute content: markup characters
 * escaped, invalid UTF-8 and characters XML forbids replaced by '?'. At
 * most max_chars characters are written (SIZE_MAX for all); when the text
 * is longer it is cut to max_chars - 2 characters followed by "..".
 * Returns the number of characters written.
 */
size_t render_add_xml(struct kl_buf *b, const char *s, size_t n, size_t max_chars);

/* Number of characters (code points; invalid bytes count one each) in s. */
size_t render_utf8_chars(const char *s, size_t n);

#endif /* KL_RENDER_UTIL_H */
