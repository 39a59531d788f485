/* SPDX-License-Identifier: Apache-2.0 */
/*
 * routes.c - the endpoint table (method, path, right, handler) and the small
 * helpers every handler uses to read parameters and write answers. Adding
 * an endpoint is one line here plus its handler; http.c does the rest
 * (auth, body, gzip, metrics).
 */
#include <stdio.h>
#include <string.h>

#include "server.h"

#define R KL_RIGHT_READ
#define I KL_RIGHT_INGEST

const struct kl_route kl_routes[] = {
	/* ingest: Pyroscope's HTTP API and Connect Push */
	{ "POST", "/ingest", I, false, kl_h_ingest },
	{ "POST", "/pyroscope/ingest", I, false, kl_h_ingest },
	{ "POST", "/push.v1.PusherService/Push", I, true, kl_h_push },
	/* queries: Pyroscope's current paths and the v0 ones old tools call */
	{ NULL, "/pyroscope/render", R, false, kl_h_render },
	{ NULL, "/render", R, false, kl_h_render },
	{ NULL, "/pyroscope/render-diff", R, false, kl_h_render_diff },
	{ NULL, "/render-diff", R, false, kl_h_render_diff },
	{ NULL, "/pyroscope/label-values", R, false, kl_h_label_values },
	{ NULL, "/label-values", R, false, kl_h_label_values },
	{ NULL, "/pyroscope/label-names", R, false, kl_h_label_names },
	{ NULL, "/pyroscope/labels", R, false, kl_h_label_names },
	{ NULL, "/labels", R, false, kl_h_label_names },
	{ NULL, "/pyroscope/series", R, false, kl_h_series },
	{ NULL, "/api/apps", R, false, kl_h_apps },
	/* the web UI (h_static.c): one entry per embedded file of web/app and web/flamegraph */
	{ "GET", "/", R, false, kl_h_static },
	{ "GET", "/index.html", R, false, kl_h_static },
	{ "GET", "/assets/app/app.css", R, false, kl_h_static },
	{ "GET", "/assets/app/util.js", R, false, kl_h_static },
	{ "GET", "/assets/app/timeline.js", R, false, kl_h_static },
	{ "GET", "/assets/app/views.js", R, false, kl_h_static },
	{ "GET", "/assets/app/tags.js", R, false, kl_h_static },
	{ "GET", "/assets/app/main.js", R, false, kl_h_static },
	{ "GET", "/assets/flamegraph/flamegraph.js", R, false, kl_h_static },
	{ "GET", "/assets/flamegraph/flamegraph.css", R, false, kl_h_static },
	{ "POST", "/api/convert", R, false, kl_h_convert },
	/* operations: open to all, reveal no tenant's data */
	{ "GET", "/healthz", 0, false, kl_h_healthz },
	{ "GET", "/ready", 0, false, kl_h_ready },
	{ "GET", "/metrics", 0, false, kl_h_metrics },
	{ NULL, NULL, 0, false, NULL },
};

#undef R
#undef I

const char *kl_req_param(const struct kl_req *r, const char *name)
{
	for (size_t i = r->nparams; i-- > 0;) {
		if (!strcmp(r->keys[i], name))
			return r->values[i] ? r->values[i] : "";
	}
	return NULL;
}

void kl_resp_error(struct kl_resp *r, int status, const char *fmt, ...)
{
	va_list ap;
	char msg[1024];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	r->status = status;
	r->content_type = "text/plain; charset=utf-8";
	r->content_disposition = NULL;
	r->body.len = 0;
	r->body.error = 0;
	kl_buf_addstr(&r->body, msg);
	kl_buf_addch(&r->body, '\n');
}

void kl_resp_http_err(struct kl_resp *r, const struct kl_http_err *e)
{
	kl_resp_error(r, e->status ? e->status : 500, "%s", e->e.msg);
}

void kl_resp_connect_error(struct kl_resp *r, const struct kl_http_err *e)
{
	r->status = e->status ? e->status : 500;
	r->content_type = "application/json";
	r->content_disposition = NULL;
	r->body.len = 0;
	r->body.error = 0;
	kl_connect_error_json(e, &r->body);
}

int kl_store_status(int rc, bool ingest)
{
	switch (rc) {
	case 0:
		return 200;
	case -ENOSPC:
		return 507;
	case -EIO:
	case -KL_EIO:
		return 503;
	case -KL_ELIMIT:
		return ingest ? 429 : 422;
	case -KL_EUSAGE:
	case -KL_EFORMAT:
		return 400;
	case -ENOMEM:
	default:
		return 500;
	}
}
