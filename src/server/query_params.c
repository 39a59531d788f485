/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query_params.c - parameter parsing shared by the read endpoints (selector, time
 * range, maxNodes, format), the timeline step, and small JSON writers.
 * Every bad value becomes a 400 naming the parameter, so no bad input
 * reaches the store.
 */
#include <stdlib.h>
#include <string.h>

#include "query.h"

void kl_query_target_release(struct kl_query_target *t)
{
	kl_selector_release(&t->sel);
	memset(t, 0, sizeof(*t));
}

int kl_query_target_parse(const struct kl_config *cfg, const struct kl_req *req,
			  const char *qname, const char *fname, const char *uname,
			  bool need_query, struct kl_query_target *out, struct kl_http_err *err)
{
	int64_t range = cfg && cfg->default_range_ns > 0 ? cfg->default_range_ns
							 : KL_QUERY_RANGE_DEFAULT;
	const char *text = kl_req_param(req, qname);
	const char *span;
	int rc;

	memset(out, 0, sizeof(*out));
	/* Pyroscope's v0 render took the selector as name= */
	if ((!text || !*text) && !strcmp(qname, "query"))
		text = kl_req_param(req, "name");
	if (text && *text) {
		rc = kl_selector_parse(text, &out->sel, err);
		if (rc) {
			kl_err_prefix(&err->e, "%s", qname);
			goto fail;
		}
		out->has_sel = true;
		out->text = text;
		out->q.sel = &out->sel;
	} else if (need_query) {
		rc = kl_http_errf(err, -KL_EUSAGE, 400,
				  "%s is required, e.g. %s=process_cpu:cpu:nanoseconds:cpu:"
				  "nanoseconds{service_name=\"api\"}", qname, qname);
		goto fail;
	}
	rc = kl_query_range(kl_req_param(req, fname), kl_req_param(req, uname), req->now_ns, range,
			    &out->q.from_ns, &out->q.until_ns, err);
	if (rc)
		goto fail;
	out->q.tenant = req->tenant;
	span = kl_req_param(req, "span_id");
	out->q.span_id = span && *span ? span : NULL;
	return 0;
fail:
	kl_query_target_release(out);
	return rc;
}

int kl_query_max_nodes(const struct kl_config *cfg, const struct kl_req *req, uint32_t *out,
		       struct kl_http_err *err)
{
	uint32_t dflt = cfg && cfg->max_nodes_default ? cfg->max_nodes_default
						      : KL_QUERY_MAX_NODES_DEFAULT;
	uint32_t limit = cfg && cfg->max_nodes_limit ? cfg->max_nodes_limit
						     : KL_QUERY_MAX_NODES_LIMIT;
	const char *s = kl_req_param(req, "maxNodes");
	unsigned long long v;
	char *end;

	if (!s || !*s)
		s = kl_req_param(req, "max-nodes");
	*out = KL_MIN(dflt, limit);
	if (!s || !*s)
		return 0;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (*s < '0' || *s > '9' || *end || errno || v > limit)
		return kl_http_errf(err, -KL_EUSAGE, 400,
				    "maxNodes must be a whole number from 1 to %u, got \"%.64s\"",
				    limit, s);
	if (v > 0)
		*out = (uint32_t)v;
	return 0;
}

int kl_query_format_parse(const struct kl_req *req, enum kl_query_format *out,
			  struct kl_http_err *err)
{
	static const struct {
		const char *name;
		enum kl_query_format f;
	} formats[] = {
		{ "json", KL_QFMT_JSON },	  { "pprof", KL_QFMT_PPROF },
		{ "collapsed", KL_QFMT_COLLAPSED }, { "folded", KL_QFMT_COLLAPSED },
		{ "html", KL_QFMT_HTML },	  { "speedscope", KL_QFMT_SPEEDSCOPE },
	};
	const char *s = kl_req_param(req, "format");

	*out = KL_QFMT_JSON;
	if (!s || !*s)
		return 0;
	for (size_t i = 0; i < KL_ARRAY_SIZE(formats); i++) {
		if (!strcmp(s, formats[i].name)) {
			*out = formats[i].f;
			return 0;
		}
	}
	return kl_http_errf(err, -KL_EUSAGE, 400,
			    "unknown format \"%.64s\": use json, pprof, collapsed, html or "
			    "speedscope", s);
}

int64_t kl_query_step(int64_t from_ns, int64_t until_ns)
{
	/* round steps in seconds, so buckets line up with clock times */
	static const int64_t steps[] = {
		10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400,
	};
	const int64_t day = 86400;
	int64_t want = until_ns > from_ns ? (until_ns - from_ns) / 1500 : 0;
	int64_t secs = want / 1000000000 + (want % 1000000000 != 0);

	for (size_t i = 0; i < KL_ARRAY_SIZE(steps); i++) {
		if (secs <= steps[i])
			return steps[i] * 1000000000;
	}
	return (secs + day - 1) / day * day * 1000000000;
}

void kl_query_timeline_json(const struct kl_store_timeline *t, struct kl_buf *out)
{
	/* Pyroscope's startTime is whole seconds; buckets start on whole seconds */
	int64_t start = t->start_ns >= 0 ? t->start_ns / 1000000000
					 : -((-t->start_ns + 999999999) / 1000000000);

	kl_buf_addstr(out, "{\"startTime\":");
	kl_buf_add_i64(out, start);
	kl_buf_addstr(out, ",\"samples\":[");
	kl_buf_reserve(out, t->n * 4 + 64);
	for (size_t i = 0; i < t->n; i++) {
		if (i)
			kl_buf_addch(out, ',');
		kl_buf_add_i64(out, t->values[i]);
	}
	kl_buf_addstr(out, "],\"durationDelta\":");
	kl_buf_add_i64(out, t->step_ns / 1000000000);
	kl_buf_addch(out, '}');
}

int64_t kl_query_sample_rate(const char *unit)
{
	if (!strcmp(unit, "nanoseconds"))
		return 1000000000;
	if (!strcmp(unit, "microseconds"))
		return 1000000;
	if (!strcmp(unit, "milliseconds"))
		return 1000;
	return 100;
}

void kl_query_strings_json(char *const *v, size_t n, struct kl_buf *out)
{
	kl_buf_addch(out, '[');
	for (size_t i = 0; i < n; i++) {
		kl_buf_addstr(out, i ? ",\"" : "\"");
		kl_buf_add_json_str(out, v[i], strlen(v[i]));
		kl_buf_addch(out, '"');
	}
	kl_buf_addch(out, ']');
}

/* Answers status with msg, dropping anything half-written, and counts a query error. */
static void answer_error(struct kl_server *srv, struct kl_resp *resp, int status,
			 const char *msg)
{
	if (srv->metrics)
		kl_metrics_add(srv->metrics, KL_C_QUERY_ERRORS, 1);
	kl_buf_release(&resp->body);
	kl_resp_error(resp, status, "%s", msg);
}

void kl_query_store_error(struct kl_server *srv, struct kl_resp *resp, int rc,
			  const struct kl_err *err)
{
	answer_error(srv, resp, kl_store_status(rc, false),
		     err && err->msg[0] ? err->msg : kl_strerror(rc));
}

void kl_query_http_error(struct kl_server *srv, struct kl_resp *resp,
			 const struct kl_http_err *err)
{
	answer_error(srv, resp, err->status ? err->status : 400, err->e.msg);
}
