/* SPDX-License-Identifier: Apache-2.0 */
/*
 * svg.c - flame graphs as standalone SVG, in the manner of FlameGraph's
 * flamegraph.pl: one <g> per frame holding a <title> tooltip, a <rect> and
 * its (truncated) <text>, plus a small embedded script for click-to-zoom
 * and regex search that works in any browser without network access.
 *
 * Layout: frames narrower than min_width pixels are left out with all their
 * descendants (which can only be narrower). For a diff tree the width of a
 * frame is base + new, so frames that vanished stay visible, and the colour
 * is the change of the frame's share of its side's total (see
 * render_diff_color), the same rules as the HTML viewer.
 *
 * Sections: layout (collect), header, frames, script.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "render.h"
#include "render_util.h"

#define XPAD 10
#define FRAME_H 16
#define FONT_SIZE 12
#define FONT_WIDTH 0.59

/* A frame that will be drawn. */
struct drawn {
	uint32_t node;
	uint32_t depth;
	double x;		/* left edge in value units */
};

struct svg {
	const struct kl_tree *t;
	const struct kl_render_opts *o;
	struct kl_buf *out;
	const char *unit;
	bool diff;
	double scale;		/* pixels per value unit */
	double diff_scale;	/* largest change of share, for colours */
	int64_t tot[2];		/* root totals per column */
	struct drawn *frames;
	size_t nframes, frames_cap;
	uint32_t max_depth;
	int width, height, ypad1, ypad2;
};

static double node_value(const struct svg *s, uint32_t i)
{
	const struct kl_tree_node *n = &s->t->nodes[i];
	int64_t v = n->total[0] + (s->diff ? n->total[1] : 0);

	return v > 0 ? (double)v : 0;
}

/* Change of node i's share of the total, new minus base. */
static double share_change(const struct svg *s, uint32_t i)
{
	const struct kl_tree_node *n = &s->t->nodes[i];
	double b = s->tot[0] > 0 ? (double)n->total[0] / (double)s->tot[0] : 0;
	double a = s->tot[1] > 0 ? (double)n->total[1] / (double)s->tot[1] : 0;

	return a - b;
}

/* ---- layout --------------------------------------------------------- */

/*
 * Walks the tree depth first, children in sibling order, and records every
 * frame wide enough to draw. The explicit stack holds (node, depth, x).
 */
static int collect(struct svg *s)
{
	const struct kl_tree *t = s->t;
	struct drawn *stack = NULL;
	size_t nstack = 0, cap = 0;
	double min_w = s->o->min_width == 0 ? 0.1 : s->o->min_width;
	int rc = 0;

	if (KL_GROW(stack, cap, 1))
		return -ENOMEM;
	stack[nstack++] = (struct drawn){ 0, 0, 0 };
	while (nstack) {
		struct drawn d = stack[--nstack];
		double cx = d.x;
		size_t first;

		if (KL_GROW(s->frames, s->frames_cap, s->nframes + 1)) {
			rc = -ENOMEM;
			break;
		}
		s->frames[s->nframes++] = d;
		if (d.depth > s->max_depth)
			s->max_depth = d.depth;
		first = nstack;
		for (uint32_t c = t->nodes[d.node].first_child; c != KL_TREE_NONE;
		     c = t->nodes[c].next_sibling) {
			double w = node_value(s, c);

			if (c >= t->nnodes) {
				rc = -EINVAL;
				break;
			}
			if (w > 0 && w * s->scale >= min_w) {
				if (KL_GROW(stack, cap, nstack + 1)) {
					rc = -ENOMEM;
					break;
				}
				stack[nstack++] = (struct drawn){ c, d.depth + 1, cx };
			}
			cx += w;
		}
		if (rc)
			break;
		/* reverse the children just pushed so the first is drawn first */
		for (size_t i = first, j = nstack; i + 1 < j; i++, j--) {
			struct drawn tmp = stack[i];

			stack[i] = stack[j - 1];
			stack[j - 1] = tmp;
		}
	}
	kl_free(stack);
	return rc;
}

static void diff_scale(struct svg *s)
{
	double m = 0;

	for (size_t i = 0; i < s->nframes; i++) {
		double d = fabs(share_change(s, s->frames[i].node));

		if (d > m)
			m = d;
	}
	/* below half a percentage point, colours would shout about noise */
	s->diff_scale = m > 0.005 ? m : 0.005;
}

/* ---- header --------------------------------------------------------- */

static const char svg_style[] =
	"<style type=\"text/css\">\n"
	"text { font-family: Verdana, sans-serif; font-size: 12px; fill: rgb(0,0,0); }\n"
	"#title { text-anchor: middle; font-size: 17px; }\n"
	"#subtitle { text-anchor: middle; fill: rgb(160,160,160); }\n"
	"#search, #unzoom { cursor: pointer; }\n"
	"#search:hover, #unzoom:hover { fill: rgb(0,0,255); }\n"
	"#matched { text-anchor: end; }\n"
	".hide { display: none; }\n"
	".parent { opacity: 0.5; }\n"
	".f { cursor: pointer; }\n"
	".f:hover rect { stroke: rgb(0,0,0); stroke-width: 0.5; }\n"
	"</style>\n";

static void add_title_text(struct svg *s, const char *id, double y, const char *text)
{
	kl_buf_addf(s->out, "<text id=\"%s\" x=\"%.1f\" y=\"%.0f\">", id, s->width / 2.0, y);
	render_add_xml(s->out, text, strlen(text), SIZE_MAX);
	kl_buf_addstr(s->out, "</text>\n");
}

static void header(struct svg *s)
{
	const struct kl_render_opts *o = s->o;
	struct kl_buf *b = s->out;
	char title[256];

	if (o->title && *o->title)
		snprintf(title, sizeof(title), "%s", o->title);
	else
		snprintf(title, sizeof(title), "%s%s",
			 s->diff ? "Differential Flame Graph"
			 : o->icicle ? "Icicle Graph" : "Flame Graph",
			 o->reverse ? " (reversed)" : "");

	kl_buf_addstr(b, "<?xml version=\"1.0\" standalone=\"no\"?>\n");
	kl_buf_addf(b, "<svg version=\"1.1\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
		       "onload=\"init(evt)\" xmlns=\"http://www.w3.org/2000/svg\">\n",
		    s->width, s->height, s->width, s->height);
	kl_buf_addstr(b, "<!-- Flame graph by Kiln. Click a frame to zoom, Ctrl-F to search. -->\n");
	kl_buf_addstr(b, svg_style);
	kl_buf_addf(b, "<rect x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" fill=\"rgb(248,248,248)\"/>\n",
		    s->width, s->height);
	add_title_text(s, "title", FONT_SIZE * 2, title);
	if (o->subtitle && *o->subtitle)
		add_title_text(s, "subtitle", FONT_SIZE * 3.5, o->subtitle);
	kl_buf_addf(b, "<text id=\"unzoom\" class=\"hide\" x=\"%d\" y=\"%d\">Reset Zoom</text>\n",
		    XPAD, FONT_SIZE * 2);
	kl_buf_addf(b, "<text id=\"search\" x=\"%d\" y=\"%d\" style=\"text-anchor: end\">Search</text>\n",
		    s->width - XPAD, FONT_SIZE * 2);
	kl_buf_addf(b, "<text id=\"details\" x=\"%d\" y=\"%d\"> </text>\n", XPAD,
		    s->height - FONT_SIZE / 2 - 4);
	kl_buf_addf(b, "<text id=\"matched\" x=\"%d\" y=\"%d\"> </text>\n", s->width - XPAD,
		    s->height - FONT_SIZE / 2 - 4);
	if (s->diff) {
		struct kl_rgb r = render_diff_color(s->diff_scale, s->diff_scale);
		struct kl_rgb bl = render_diff_color(-s->diff_scale, s->diff_scale);
		int y = s->ypad1 - FRAME_H + 2, x = s->width - XPAD - 330;

		kl_buf_addf(b, "<g id=\"legend\"><rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" "
			       "fill=\"rgb(%u,%u,%u)\"/><text x=\"%d\" y=\"%d\">grew</text>"
			       "<rect x=\"%d\" y=\"%d\" width=\"10\" height=\"10\" fill=\"rgb(%u,%u,%u)\"/>"
			       "<text x=\"%d\" y=\"%d\">shrank (share of total; full colour = %.2f%%)"
			       "</text></g>\n",
			    x, y, r.r, r.g, r.b, x + 14, y + 10, x + 54, y, bl.r, bl.g, bl.b, x + 68,
			    y + 10, s->diff_scale * 100);
	}
}

/* ---- frames --------------------------------------------------------- */

static void add_pct(struct kl_buf *b, int64_t v, int64_t tot)
{
	kl_buf_addf(b, "%.2f%%", tot > 0 ? 100.0 * (double)v / (double)tot : 0.0);
}

static void frame_title(struct svg *s, uint32_t i, const char *name, size_t len)
{
	const struct kl_tree_node *n = &s->t->nodes[i];
	struct kl_buf *b = s->out;

	render_add_xml(b, name, len, SIZE_MAX);
	kl_buf_addstr(b, " (");
	if (!s->diff) {
		render_add_value(b, n->total[0], s->unit);
		kl_buf_addstr(b, ", ");
		add_pct(b, n->total[0], s->tot[0]);
	} else {
		kl_buf_addstr(b, "base ");
		render_add_value(b, n->total[0], s->unit);
		kl_buf_addstr(b, " ");
		add_pct(b, n->total[0], s->tot[0]);
		kl_buf_addstr(b, ", new ");
		render_add_value(b, n->total[1], s->unit);
		kl_buf_addstr(b, " ");
		add_pct(b, n->total[1], s->tot[1]);
		kl_buf_addf(b, ", %+.2f%%", 100 * share_change(s, i));
	}
	kl_buf_addch(b, ')');
}

static void frame(struct svg *s, const struct drawn *d)
{
	const char *name = kl_tree_name(s->t, d->node);
	size_t len = strlen(name);
	double x = XPAD + d->x * s->scale, w = node_value(s, d->node) * s->scale;
	double y;
	struct kl_rgb c;
	size_t fit;

	if (d->node == 0 && !len) {
		name = "all";
		len = 3;
	}
	if (s->o->icicle)
		y = s->ypad1 + (double)d->depth * FRAME_H;
	else
		y = s->height - s->ypad2 - (double)(d->depth + 1) * FRAME_H;
	if (s->diff)
		c = render_diff_color(share_change(s, d->node), s->diff_scale);
	else
		c = render_name_color(name, len);

	kl_buf_addstr(s->out, "<g class=\"f\"><title>");
	frame_title(s, d->node, name, len);
	kl_buf_addf(s->out, "</title><rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%d\" "
			    "fill=\"rgb(%u,%u,%u)\" rx=\"2\" ry=\"2\"/><text x=\"%.1f\" y=\"%.1f\">",
		    x, y, w, FRAME_H - 1, c.r, c.g, c.b, x + 3, y + 10.5);
	fit = (size_t)(w / (FONT_SIZE * FONT_WIDTH));
	if (fit >= 3)
		render_add_xml(s->out, name, len, fit);
	kl_buf_addstr(s->out, "</text></g>\n");
}

/* ---- script --------------------------------------------------------- */

/*
 * Zoom and search, written for this file. Frames are found by their "f"
 * class; each keeps its original geometry in JavaScript arrays. Zooming to
 * a frame scales every frame inside its x range (its descendants) to the
 * full width, shows its ancestors full width and faded, and hides the
 * rest. Search colours matching frames magenta and reports the share of
 * the total they cover, counting nested matches once.
 */
static const char svg_script[] =
	"<script type=\"text/ecmascript\"><![CDATA[\n"
	"'use strict';\n"
	"var frames = [], svg, details, matchedEl, unzoomBtn, searchBtn, searching = null;\n"
	"function init(evt) {\n"
	"  svg = document.documentElement;\n"
	"  details = document.getElementById('details');\n"
	"  matchedEl = document.getElementById('matched');\n"
	"  unzoomBtn = document.getElementById('unzoom');\n"
	"  searchBtn = document.getElementById('search');\n"
	"  var gs = document.getElementsByClassName('f');\n"
	"  for (var i = 0; i < gs.length; i++) {\n"
	"    var g = gs[i], r = g.getElementsByTagName('rect')[0];\n"
	"    var t = g.getElementsByTagName('title')[0].textContent;\n"
	"    var cut = t.lastIndexOf(' (');\n"
	"    frames.push({ g: g, rect: r, text: g.getElementsByTagName('text')[0],\n"
	"      name: cut >= 0 ? t.substring(0, cut) : t, info: t,\n"
	"      x: +r.getAttribute('x'), y: +r.getAttribute('y'), w: +r.getAttribute('width'),\n"
	"      fill: r.getAttribute('fill') });\n"
	"    g.kilnIndex = i;\n"
	"  }\n"
	"  svg.addEventListener('click', onClick);\n"
	"  svg.addEventListener('mouseover', function (e) {\n"
	"    var f = frameOf(e.target);\n"
	"    if (f) details.textContent = f.info;\n"
	"  });\n"
	"  svg.addEventListener('mouseout', function (e) {\n"
	"    if (frameOf(e.target)) details.textContent = ' ';\n"
	"  });\n"
	"  window.addEventListener('keydown', function (e) {\n"
	"    if ((e.ctrlKey || e.metaKey) && e.keyCode === 70) { e.preventDefault(); search(); }\n"
	"    else if (e.keyCode === 27) { resetSearch(); unzoom(); }\n"
	"  });\n"
	"}\n"
	"function frameOf(el) {\n"
	"  while (el && el !== svg) {\n"
	"    if (el.kilnIndex !== undefined) return frames[el.kilnIndex];\n"
	"    el = el.parentNode;\n"
	"  }\n"
	"  return null;\n"
	"}\n"
	"function onClick(e) {\n"
	"  if (e.target === unzoomBtn) { unzoom(); return; }\n"
	"  if (e.target === searchBtn) { if (searching !== null) resetSearch(); else search(); return; }\n"
	"  var f = frameOf(e.target);\n"
	"  if (f) zoom(f);\n"
	"}\n"
	"function fitText(f, x, w) {\n"
	"  var n = Math.floor(w / (FONT_SIZE * FONT_WIDTH)), s = f.name;\n"
	"  f.text.setAttribute('x', (x + 3).toFixed(1));\n"
	"  if (n < 3) s = ''; else if (s.length > n) s = s.substring(0, n - 2) + '..';\n"
	"  f.text.textContent = s;\n"
	"}\n"
	"function place(f, x, w) {\n"
	"  f.rect.setAttribute('x', x.toFixed(1));\n"
	"  f.rect.setAttribute('width', w.toFixed(1));\n"
	"  fitText(f, x, w);\n"
	"}\n"
	"function deeper(a, b) { return ICICLE ? a.y > b.y : a.y < b.y; }\n"
	"function zoom(z) {\n"
	"  var ratio = (WIDTH - 2 * XPAD) / z.w, eps = 0.0001;\n"
	"  unzoomBtn.classList.remove('hide');\n"
	"  for (var i = 0; i < frames.length; i++) {\n"
	"    var f = frames[i], g = f.g;\n"
	"    g.classList.remove('hide');\n"
	"    g.classList.remove('parent');\n"
	"    if (f === z) { place(f, XPAD, WIDTH - 2 * XPAD); continue; }\n"
	"    var inside = f.x >= z.x - eps && f.x + f.w <= z.x + z.w + eps;\n"
	"    var covers = f.x <= z.x + eps && f.x + f.w >= z.x + z.w - eps;\n"
	"    if (deeper(f, z) && inside) {\n"
	"      place(f, XPAD + (f.x - z.x) * ratio, f.w * ratio);\n"
	"    } else if (deeper(z, f) && covers) {\n"
	"      g.classList.add('parent');\n"
	"      place(f, XPAD, WIDTH - 2 * XPAD);\n"
	"    } else {\n"
	"      g.classList.add('hide');\n"
	"    }\n"
	"  }\n"
	"}\n"
	"function unzoom() {\n"
	"  unzoomBtn.classList.add('hide');\n"
	"  for (var i = 0; i < frames.length; i++) {\n"
	"    var f = frames[i];\n"
	"    f.g.classList.remove('hide');\n"
	"    f.g.classList.remove('parent');\n"
	"    place(f, f.x, f.w);\n"
	"  }\n"
	"}\n"
	"function search() {\n"
	"  var term = window.prompt('Search frames (regular expression)', searching || '');\n"
	"  if (term) searchFor(term);\n"
	"}\n"
	"function searchFor(term) {\n"
	"  var re;\n"
	"  try { re = new RegExp(term); } catch (err) {\n"
	"    re = new RegExp(term.replace(/[.*+?^${}()|[\\]\\\\]/g, '\\\\$&'));\n"
	"  }\n"
	"  var spans = [];\n"
	"  resetSearch();\n"
	"  searching = term;\n"
	"  for (var i = 0; i < frames.length; i++) {\n"
	"    var f = frames[i];\n"
	"    if (!re.test(f.name)) continue;\n"
	"    f.rect.setAttribute('fill', 'rgb(230,0,230)');\n"
	"    spans.push([f.x, f.x + f.w]);\n"
	"  }\n"
	"  spans.sort(function (a, b) { return a[0] - b[0] || b[1] - a[1]; });\n"
	"  var covered = 0, end = -1;\n"
	"  for (var j = 0; j < spans.length; j++) {\n"
	"    if (spans[j][0] >= end) { covered += spans[j][1] - spans[j][0]; end = spans[j][1]; }\n"
	"    else if (spans[j][1] > end) { covered += spans[j][1] - end; end = spans[j][1]; }\n"
	"  }\n"
	"  var pct = 100 * covered / (WIDTH - 2 * XPAD);\n"
	"  matchedEl.textContent = 'Matched: ' + (pct > 100 ? 100 : pct).toFixed(1) + '%';\n"
	"  searchBtn.textContent = 'Reset Search';\n"
	"  return pct;\n"
	"}\n"
	"function resetSearch() {\n"
	"  searching = null;\n"
	"  for (var i = 0; i < frames.length; i++) frames[i].rect.setAttribute('fill', frames[i].fill);\n"
	"  matchedEl.textContent = ' ';\n"
	"  searchBtn.textContent = 'Search';\n"
	"}\n"
	"]]></script>\n";

static void script(struct svg *s)
{
	kl_buf_addf(s->out, "<script type=\"text/ecmascript\"><![CDATA[\n"
			    "var WIDTH = %d, XPAD = %d, FONT_SIZE = %d, FONT_WIDTH = %.2f, "
			    "ICICLE = %s;\n]]></script>\n",
		    s->width, XPAD, FONT_SIZE, FONT_WIDTH, s->o->icicle ? "true" : "false");
	kl_buf_addstr(s->out, svg_script);
}

int kl_render_svg(const struct kl_tree *t, const struct kl_render_opts *o, struct kl_buf *out,
		  struct kl_err *err)
{
	static const struct kl_render_opts defaults = { .min_width = 0.1 };
	struct svg s = { .t = t, .o = o ? o : &defaults, .out = out };
	double root;
	int rc;

	if (!t || !t->nnodes)
		return kl_errf(err, -EINVAL, "svg: empty tree");
	s.diff = t->ncols == 2;
	s.unit = s.o->units && *s.o->units ? s.o->units : *t->unit ? t->unit : "samples";
	s.width = s.o->width ? (int)KL_MIN(s.o->width, 100000u) : 1200;
	if (s.width < 2 * XPAD + 10)
		s.width = 2 * XPAD + 10;
	s.tot[0] = t->nodes[0].total[0];
	s.tot[1] = s.diff ? t->nodes[0].total[1] : 0;
	root = node_value(&s, 0);
	s.scale = (s.width - 2.0 * XPAD) / (root > 0 ? root : 1);

	rc = collect(&s);
	if (rc) {
		kl_free(s.frames);
		return kl_errf(err, rc, "svg: %s", rc == -ENOMEM ? "out of memory"
							       : "tree links out of range");
	}
	if (s.diff)
		diff_scale(&s);
	s.ypad1 = FONT_SIZE * (s.o->subtitle && *s.o->subtitle ? 5 : 3);
	s.ypad2 = FONT_SIZE * 2 + 10;
	s.height = s.ypad1 + s.ypad2 + (int)(s.max_depth + 1) * FRAME_H;

	header(&s);
	for (size_t i = 0; i < s.nframes; i++)
		frame(&s, &s.frames[i]);
	script(&s);
	kl_buf_addstr(out, "</svg>\n");
	kl_free(s.frames);
	if (kl_buf_error(out))
		return kl_errf(err, kl_buf_error(out), "svg: %s", kl_strerror(kl_buf_error(out)));
	return 0;
}
