/* SPDX-License-Identifier: Apache-2.0 */
/*
 * html.c - flame graphs as one self-contained HTML page: the viewer's CSS
 * and JavaScript (web/flamegraph, embedded in the binary at build time) are
 * inlined, and the tree travels as flamebearer JSON in a data block, so the
 * page opens offline and makes no network request.
 *
 * Text placed inside <script> and <style> cannot be entity-escaped, so it
 * is made safe instead: in JSON every '<' becomes \u003c (a '<' can only
 * occur inside JSON strings), and in the assets "</" becomes "<\/".
 */
#include <stdio.h>
#include <string.h>

#include "../formats/formats.h"
#include "assets.h"
#include "render.h"
#include "render_util.h"

#define ASSET_JS "web/flamegraph/flamegraph.js"
#define ASSET_CSS "web/flamegraph/flamegraph.css"

/* Appends s[0..n) for a raw-text element (script, style): "</" -> "<\/". */
static void add_raw_text(struct kl_buf *b, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i + 1 < n; i++) {
		if (s[i] == '<' && s[i + 1] == '/') {
			kl_buf_add(b, s + run, i + 1 - run);
			kl_buf_addch(b, '\\');
			run = i + 1;
		}
	}
	kl_buf_add(b, s + run, n - run);
}

/* Appends JSON for a <script> data block: every '<' as \u003c. */
static void add_script_json(struct kl_buf *b, const char *s, size_t n)
{
	size_t run = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] == '<') {
			kl_buf_add(b, s + run, i - run);
			kl_buf_addstr(b, "\\u003c");
			run = i + 1;
		}
	}
	kl_buf_add(b, s + run, n - run);
}

static void add_json_member(struct kl_buf *b, const char *key, const char *val, bool comma)
{
	kl_buf_addf(b, "%s\"%s\":\"", comma ? "," : "", key);
	kl_buf_add_json_str(b, val, strlen(val));
	kl_buf_addch(b, '"');
}

static const char page_style[] =
	"body { margin: 12px 16px; background: #fff; }\n";

static const char page_script[] =
	"(function () {\n"
	"  var cfg = JSON.parse(document.getElementById('kiln-config').textContent);\n"
	"  var data = JSON.parse(document.getElementById('kiln-data').textContent);\n"
	"  var el = document.getElementById('kiln-flame');\n"
	"  window.kilnView = new KilnFlame.FlameView(el, cfg).setData(data);\n"
	"})();\n";

int kl_render_html(const struct kl_tree *t, const struct kl_render_opts *o, struct kl_buf *out,
		   struct kl_err *err)
{
	static const struct kl_render_opts defaults = { 0 };
	const struct kl_asset *js = kl_asset_find(kl_flame_assets, ASSET_JS),
			      *css = kl_asset_find(kl_flame_assets, ASSET_CSS);
	struct kl_flamebearer_meta meta = { 0 };
	struct kl_buf json = KL_BUF_INIT, cfg = KL_BUF_INIT;
	char title[256];
	int rc;

	if (!o)
		o = &defaults;
	if (!t || !t->nnodes)
		return kl_errf(err, -EINVAL, "html: empty tree");
	if (!js || !css)
		return kl_errf(err, -KL_ENOTFOUND, "html: viewer asset %s is not embedded",
			       js ? ASSET_CSS : ASSET_JS);
	if (o->title && *o->title)
		snprintf(title, sizeof(title), "%s", o->title);
	else
		snprintf(title, sizeof(title), "%s%s",
			 t->ncols == 2 ? "Differential Flame Graph"
			 : o->icicle ? "Icicle Graph" : "Flame Graph",
			 o->reverse ? " (reversed)" : "");

	meta.name = t->sample_type;
	meta.spy_name = "kiln";
	meta.units = o->units && *o->units ? o->units : *t->unit ? t->unit : "samples";
	meta.sample_rate = strstr(meta.units, "nanoseconds") ? 1000000000 : 0;
	kl_buf_init(&json, out->limit);
	rc = kl_flamebearer_write(t, &meta, false, &json, err);
	if (rc) {
		kl_err_prefix(err, "html");
		goto out;
	}

	add_json_member(&cfg, "title", title, false);
	if (o->subtitle && *o->subtitle)
		add_json_member(&cfg, "subtitle", o->subtitle, true);
	add_json_member(&cfg, "mode", o->icicle ? "icicle" : "flame", true);

	kl_buf_addstr(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
			   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
			   "<meta name=\"generator\" content=\"kiln flame\">\n<title>");
	render_add_xml(out, title, strlen(title), SIZE_MAX);
	kl_buf_addstr(out, "</title>\n<style>\n");
	add_raw_text(out, (const char *)css->data, css->len);
	kl_buf_addstr(out, page_style);
	kl_buf_addstr(out, "</style>\n</head>\n<body>\n<div id=\"kiln-flame\"></div>\n"
			   "<script type=\"application/json\" id=\"kiln-config\">{");
	add_script_json(out, cfg.data, cfg.len);
	kl_buf_addstr(out, "}</script>\n<script type=\"application/json\" id=\"kiln-data\">");
	add_script_json(out, json.data, json.len);
	kl_buf_addstr(out, "</script>\n<script>\n");
	add_raw_text(out, (const char *)js->data, js->len);
	kl_buf_addstr(out, "</script>\n<script>\n");
	kl_buf_addstr(out, page_script);
	kl_buf_addstr(out, "</script>\n</body>\n</html>\n");
	rc = kl_buf_error(out) ? kl_buf_error(out) : kl_buf_error(&cfg);
	if (rc)
		rc = kl_errf(err, rc, "html: %s", kl_strerror(rc));
out:
	kl_buf_release(&json);
	kl_buf_release(&cfg);
	return rc;
}
