/* SPDX-License-Identifier: Apache-2.0 */
/*
 * render_test.c - unit tests of the SVG and HTML flame graph renderers on
 * small trees built by hand, so that the expected geometry can be worked
 * out on paper: widths, text truncation, skipped narrow frames, diff
 * colours, well-formed XML even for hostile frame names, and an HTML page
 * that needs no network.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "core/strtab.h"
#include "core/tree.h"
#include "render/render.h"
#include "render/render_util.h"

/*
 * Builds a tree directly in the kl_tree arrays (no kl_tree_add_stack), so
 * these tests depend only on the renderer. Nodes are given parent first.
 */
struct spec {
	const char *name;
	int parent;		/* index into the spec, -1 for the root */
	int64_t total0, self0, total1, self1;
};

static struct kl_tree *make_tree(const struct spec *sp, uint32_t n, uint32_t ncols)
{
	struct kl_tree *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	t->names = kl_strtab_new();
	t->owns_names = true;
	t->ncols = ncols;
	t->nodes = calloc(n, sizeof(*t->nodes));
	t->nnodes = n;
	assert_non_null(t->nodes);
	for (uint32_t i = 0; i < n; i++) {
		struct kl_tree_node *nd = &t->nodes[i];

		nd->name = kl_strtab_intern_cstr(t->names, sp[i].name);
		nd->parent = sp[i].parent < 0 ? KL_TREE_NONE : (uint32_t)sp[i].parent;
		nd->first_child = nd->next_sibling = KL_TREE_NONE;
		nd->total[0] = sp[i].total0;
		nd->self[0] = sp[i].self0;
		nd->total[1] = sp[i].total1;
		nd->self[1] = sp[i].self1;
	}
	/* link children in spec order: walk backwards, prepending */
	for (uint32_t i = n; i-- > 1;) {
		struct kl_tree_node *p = &t->nodes[sp[i].parent];

		t->nodes[i].next_sibling = p->first_child;
		p->first_child = i;
	}
	snprintf(t->unit, sizeof(t->unit), "samples");
	snprintf(t->sample_type, sizeof(t->sample_type), "cpu");
	return t;
}

static void free_tree(struct kl_tree *t)
{
	kl_strtab_free(t->names);
	free(t->nodes);
	free(t);
}

static const struct spec small[] = {
	{ "total", -1, 100, 0, 0, 0 },
	{ "main.a", 0, 60, 10, 0, 0 },
	{ "main.b", 1, 30, 30, 0, 0 },
	{ "runtime.mallocgc", 1, 20, 20, 0, 0 },
	{ "main.d", 0, 40, 39, 0, 0 },
	{ "main.tiny", 4, 1, 1, 0, 0 },
};

/* Returns the <g> element of the frame whose title starts with name. */
static const char *find_frame(const char *svg, const char *name)
{
	char pat[256];

	snprintf(pat, sizeof(pat), "<g class=\"f\"><title>%s (", name);
	return strstr(svg, pat);
}

/* Reads attribute attr of the first <rect> after g. */
static double rect_attr(const char *g, const char *attr)
{
	char pat[64];
	const char *r = strstr(g, "<rect "), *a;

	assert_non_null(r);
	snprintf(pat, sizeof(pat), " %s=\"", attr);
	a = strstr(r, pat);
	assert_non_null(a);
	return strtod(a + strlen(pat), NULL);
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
		n++;
	return n;
}

/*
 * Parses data with python3's xml.etree when python3 is present: the check
 * a browser's XML parser would make. Returns true when well-formed (or when
 * python3 is missing, after saying so).
 */
static bool xml_ok(const char *data, size_t len)
{
	char path[] = "/tmp/kiln-render-test-XXXXXX";
	char cmd[512];
	int fd, rc;

	if (system("python3 -c '' >/dev/null 2>&1") != 0) {
		print_message("python3 missing: XML well-formedness not checked\n");
		return true;
	}
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
	snprintf(cmd, sizeof(cmd),
		 "python3 -c 'import sys, xml.etree.ElementTree as E; E.parse(sys.argv[1])' %s",
		 path);
	rc = system(cmd);
	unlink(path);
	return rc == 0;
}

static void test_svg_geometry(void **state)
{
	struct kl_tree *t = make_tree(small, KL_ARRAY_SIZE(small), 1);
	struct kl_render_opts o = { .width = 1200, .min_width = 0.1, .title = "Test & <graph>" };
	struct kl_buf b = KL_BUF_INIT;
	struct kl_err err;
	const char *g;

	(void)state;
	assert_int_equal(kl_render_svg(t, &o, &b, &err), 0);
	assert_true(xml_ok(b.data, b.len));
	assert_non_null(strstr(b.data, "Test &amp; &lt;graph&gt;"));
	assert_int_equal(count(b.data, "<g class=\"f\">"), 6);

	/* 1180 usable pixels for 100 samples: 11.8 px per sample */
	g = find_frame(b.data, "total");
	assert_non_null(g);
	assert_float_equal(rect_attr(g, "x"), 10.0, 0.01);
	assert_float_equal(rect_attr(g, "width"), 1180.0, 0.01);
	g = find_frame(b.data, "main.a");
	assert_non_null(g);
	assert_non_null(strstr(g, "main.a (60 samples, 60.00%)"));
	assert_float_equal(rect_attr(g, "width"), 708.0, 0.01);
	assert_float_equal(rect_attr(g, "x"), 10.0, 0.01);
	g = find_frame(b.data, "runtime.mallocgc");
	assert_non_null(g);
	assert_float_equal(rect_attr(g, "x"), 10.0 + 30 * 11.8, 0.01);
	assert_float_equal(rect_attr(g, "width"), 236.0, 0.01);
	g = find_frame(b.data, "main.d");
	assert_non_null(g);
	assert_float_equal(rect_attr(g, "x"), 10.0 + 60 * 11.8, 0.01);
	g = find_frame(b.data, "main.tiny");
	assert_non_null(g);
	/* 11.8 px holds one character: no label */
	assert_non_null(strstr(g, "<text x=\"721.0\" y=\""));
	assert_non_null(strstr(g, "\"></text></g>"));
	/* flame orientation: the root is the lowest frame */
	assert_true(rect_attr(find_frame(b.data, "total"), "y") >
		    rect_attr(find_frame(b.data, "main.a"), "y"));
	/* search and zoom script present, as one CDATA section each */
	assert_non_null(strstr(b.data, "function searchFor("));
	assert_non_null(strstr(b.data, "function zoom("));

	/* icicle: the root is on top; narrow frames are skipped with minwidth */
	kl_buf_release(&b);
	o.icicle = true;
	o.min_width = 12;
	o.width = 1200;
	assert_int_equal(kl_render_svg(t, &o, &b, &err), 0);
	assert_true(rect_attr(find_frame(b.data, "total"), "y") <
		    rect_attr(find_frame(b.data, "main.a"), "y"));
	assert_null(find_frame(b.data, "main.tiny"));
	assert_int_equal(count(b.data, "<g class=\"f\">"), 5);
	assert_true(xml_ok(b.data, b.len));
	kl_buf_release(&b);
	free_tree(t);
}

static void test_svg_truncation_and_hostile_names(void **state)
{
	/* invalid UTF-8, a control character, markup and a CDATA terminator */
	static const struct spec hostile[] = {
		{ "total", -1, 1000, 0, 0, 0 },
		{ "bad\xff\xfe utf8 \x01 <x> & ]]> \"q\"", 0, 500, 500, 0, 0 },
		{ "std::vector<int>::push_back_with_a_very_long_name_that_cannot_fit", 0, 31, 31, 0, 0 },
		{ "caf\xc3\xa9::\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 0, 469, 469, 0, 0 },
	};
	struct kl_tree *t = make_tree(hostile, KL_ARRAY_SIZE(hostile), 1);
	struct kl_render_opts o = { .width = 600 };
	struct kl_buf b = KL_BUF_INIT;
	struct kl_err err;
	const char *g;

	(void)state;
	assert_int_equal(kl_render_svg(t, &o, &b, &err), 0);
	assert_true(xml_ok(b.data, b.len));
	assert_non_null(strstr(b.data, "bad?? utf8 ? &lt;x&gt; &amp; ]]&gt; &quot;q&quot;"));
	/* 31 of 1000 over 580 px = 18 px: 2 characters, no label at all */
	g = strstr(b.data, "<title>std::vector");
	assert_non_null(g);
	assert_non_null(strstr(g, "\"></text>"));
	/* multibyte names are cut on character boundaries */
	assert_non_null(strstr(b.data, "caf\xc3\xa9::\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e"));
	kl_buf_release(&b);

	/* at 1200 px the C++ frame gets 36.6 px: 5 characters, "std.." */
	o.width = 1200;
	assert_int_equal(kl_render_svg(t, &o, &b, &err), 0);
	g = strstr(b.data, "<title>std::vector");
	assert_non_null(g);
	assert_non_null(strstr(g, ">std..</text>"));
	kl_buf_release(&b);
	free_tree(t);
}

static void test_svg_diff(void **state)
{
	static const struct spec same[] = {
		{ "total", -1, 100, 0, 100, 0 },
		{ "main.a", 0, 60, 60, 60, 60 },
		{ "main.b", 0, 40, 40, 40, 40 },
	};
	static const struct spec grown[] = {
		{ "total", -1, 100, 0, 200, 0 },
		{ "main.grew", 0, 50, 50, 150, 150 },
		{ "main.shrank", 0, 50, 50, 50, 50 },
	};
	struct kl_tree *t = make_tree(same, KL_ARRAY_SIZE(same), 2);
	struct kl_render_opts o = { 0 };
	struct kl_buf b = KL_BUF_INIT;
	struct kl_err err;
	const char *g;

	(void)state;
	assert_int_equal(kl_render_svg(t, &o, &b, &err), 0);
	assert_true(xml_ok(b.data, b.len));
	assert_non_null(strstr(b.data, "Differential Flame Graph"));
	/* no change anywhere: every frame grey */
	assert_int_equal(count(b.data, "fill=\"rgb(220,220,220)\" rx"), 3);
	g = find_frame(b.data, "main.a");
	assert_non_null(strstr(g, "base 60 samples 60.00%, new 60 samples 60.00%, +0.00%"));
	/* width is base + new: 120 of 200 */
	assert_float_equal(rect_attr(g, "width"), 1180.0 * 0.6, 0.01);
	kl_buf_release(&b);
	free_tree(t);

	t = make_tree(grown, KL_ARRAY_SIZE(grown), 2);
	assert_int_equal(kl_render_svg(t, &o, &b, &err), 0);
	g = find_frame(b.data, "main.grew");
	assert_non_null(g);
	/* share 50% -> 75%: the largest change, full red */
	assert_non_null(strstr(g, "fill=\"rgb(255,20,20)\""));
	g = find_frame(b.data, "main.shrank");
	assert_non_null(strstr(g, "fill=\"rgb(20,20,255)\""));
	assert_non_null(strstr(g, "-25.00%"));
	kl_buf_release(&b);
	free_tree(t);
}

static void test_html(void **state)
{
	static const struct spec tricky[] = {
		{ "total", -1, 100, 0, 0, 0 },
		{ "main.a", 0, 60, 10, 0, 0 },
		{ "evil</script><script>alert(1)</script>", 1, 50, 50, 0, 0 },
		{ "main.d", 0, 40, 40, 0, 0 },
	};
	struct kl_tree *t = make_tree(tricky, KL_ARRAY_SIZE(tricky), 1);
	struct kl_render_opts o = { .title = "T </style> & <b>", .icicle = true };
	struct kl_buf b = KL_BUF_INIT;
	struct kl_err err;

	(void)state;
	assert_int_equal(kl_render_html(t, &o, &b, &err), 0);
	assert_non_null(strstr(b.data, "<!DOCTYPE html>"));
	assert_non_null(strstr(b.data, "<title>T &lt;/style&gt; &amp; &lt;b&gt;</title>"));
	/* the viewer and its styles are inlined, nothing is fetched */
	assert_non_null(strstr(b.data, "function FlameGraph("));
	assert_non_null(strstr(b.data, ".kfg-canvas"));
	assert_null(strstr(b.data, "http://"));
	assert_null(strstr(b.data, "https://"));
	assert_null(strstr(b.data, " src="));
	/* names cannot close the data block */
	assert_null(strstr(b.data, "alert(1)</script>"));
	assert_non_null(strstr(b.data, "evil\\u003c/script>\\u003cscript>alert(1)\\u003c/script>"));
	assert_non_null(strstr(b.data, "\"title\":\"T \\u003c/style> & \\u003cb>\""));
	assert_non_null(strstr(b.data, "\"mode\":\"icicle\""));
	/* four script blocks: config, data, viewer, start-up */
	assert_int_equal(count(b.data, "</script>"), 4);
	assert_non_null(strstr(b.data, "\"numTicks\":100"));
	kl_buf_release(&b);
	free_tree(t);
}

static void test_colors(void **state)
{
	bool k;
	struct kl_rgb a, b;

	(void)state;
	assert_int_equal(render_package_len("net/http.(*conn).serve", 22, &k), 8);
	assert_false(k);
	assert_int_equal(render_package_len("main.main", 9, &k), 4);
	assert_int_equal(render_package_len("std::vector<int>::at", 20, &k), 3);
	assert_int_equal(render_package_len("[libc.so.6]", 11, &k), 11);
	assert_int_equal(render_package_len("github.com/x/y.F", 16, &k), 14);
	assert_int_equal(render_package_len("malloc", 6, &k), 6);
	render_package_len("do_syscall_64_[k]", 17, &k);
	assert_true(k);
	/* one package, one colour */
	a = render_name_color("runtime.mallocgc", 16);
	b = render_name_color("runtime.gcBgMarkWorker", 22);
	assert_memory_equal(&a, &b, sizeof(a));
	assert_true(a.r >= 205);
	/* the JavaScript viewer uses the same hash: FNV-1a of "main" is 0xea90e208 */
	a = render_name_color("main.x", 6);
	assert_int_equal(a.g, (uint8_t)(230 * (0xea90e208 & 0xff) / 255.0 + 0.5));
}

static void test_values(void **state)
{
	struct kl_buf b = KL_BUF_INIT;

	(void)state;
	render_add_value(&b, 1234567, "samples");
	kl_buf_addch(&b, '|');
	render_add_value(&b, 1500000000, "nanoseconds");
	kl_buf_addch(&b, '|');
	render_add_value(&b, 999, "nanoseconds");
	kl_buf_addch(&b, '|');
	render_add_value(&b, 3 * 1024 * 1024, "bytes");
	kl_buf_addch(&b, '|');
	render_add_value(&b, -1000, "count");
	assert_string_equal(b.data, "1,234,567 samples|1.50 s|999 ns|3.00 MiB|-1,000 count");
	kl_buf_release(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_svg_geometry),
		cmocka_unit_test(test_svg_truncation_and_hostile_names),
		cmocka_unit_test(test_svg_diff),
		cmocka_unit_test(test_html),
		cmocka_unit_test(test_colors),
		cmocka_unit_test(test_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
