/* SPDX-License-Identifier: Apache-2.0 */
/*
 * query.h - the query parameters of the read endpoints (render, render-diff,
 * label-values, label names, apps, series), parsed once here so every
 * handler answers a bad parameter with the same precise 400, and the
 * helpers they share: the timeline step and the JSON output of timelines.
 * docs/http-api.md documents every parameter.
 */
#ifndef KL_QUERY_H
#define KL_QUERY_H

#include "server.h"

/* Defaults applied when the configuration leaves a field at 0. */
#define KL_QUERY_MAX_NODES_DEFAULT 8192
#define KL_QUERY_MAX_NODES_LIMIT 65536
#define KL_QUERY_RANGE_DEFAULT (INT64_C(3600) * 1000000000)

/* What one selector and range select: a store query and the selector it points to. */
struct kl_query_target {
	struct kl_selector sel;	/* parsed selector (empty when none was given) */
	bool has_sel;		/* a selector was given */
	struct kl_store_query q;	/* q.sel points to sel when has_sel, else NULL */
	const char *text;	/* the selector as given (borrowed from the request), or NULL */
};

/*
 * Parses a selector and a time range from the request parameters named
 * qname (also "name" when qname is "query", the v0 spelling), fname and
 * uname (from/until: kl_parse_time forms; a missing from is until minus
 * the configured default range, a missing until is req->now_ns). With
 * need_query a missing or empty selector is a 400. tenant and span_id
 * (parameter span_id, empty = none) come from the request. The target
 * borrows strings from req, which must outlive it. On failure err has
 * the status (400, 500 for out of memory) and *out is left released.
 */
int kl_query_target_parse(const struct kl_config *cfg, const struct kl_req *req,
			  const char *qname, const char *fname, const char *uname,
			  bool need_query, struct kl_query_target *out, struct kl_http_err *err);

/* Frees what kl_query_target_parse allocated; safe on a zeroed target. */
void kl_query_target_release(struct kl_query_target *t);

/*
 * maxNodes (alias max-nodes): a missing, empty or 0 value gives the
 * configured default; anything not a whole number in 1..max_nodes_limit
 * is a 400 naming the limit.
 */
int kl_query_max_nodes(const struct kl_config *cfg, const struct kl_req *req, uint32_t *out,
		       struct kl_http_err *err);

/* The output formats of render. */
enum kl_query_format {
	KL_QFMT_JSON = 0,	/* flamebearer + timeline + groups (default) */
	KL_QFMT_PPROF,		/* gzipped pprof, as an attachment */
	KL_QFMT_COLLAPSED,	/* folded text ("collapsed" or "folded") */
	KL_QFMT_HTML,		/* standalone flame graph page */
	KL_QFMT_SPEEDSCOPE,	/* speedscope JSON */
};

/* format=; missing or empty = json; unknown: 400 listing the choices. */
int kl_query_format_parse(const struct kl_req *req, enum kl_query_format *out,
			  struct kl_http_err *err);

/*
 * The timeline step for [from, until): about range/1500 rounded up to a
 * round interval (10 s, 15 s, 30 s, 1 m, 5 m, ... 1 d, then whole days),
 * never below 10 s, the usual ingest interval.
 */
int64_t kl_query_step(int64_t from_ns, int64_t until_ns);

/*
 * Appends a timeline as Pyroscope's JSON object
 * {"startTime":s,"samples":[...],"durationDelta":s} (times in seconds).
 */
void kl_query_timeline_json(const struct kl_store_timeline *t, struct kl_buf *out);

/*
 * metadata.sampleRate for a unit: ticks per second (values in a time unit
 * are ticks of that unit; counts are at Pyroscope's default 100 Hz).
 */
int64_t kl_query_sample_rate(const char *unit);

/* Appends a JSON array of strings. */
void kl_query_strings_json(char *const *v, size_t n, struct kl_buf *out);

/*
 * Answers a store error: the status from kl_store_status (422 for the
 * query memory cap, 400 for a bad query, 500 out of memory, 503 I/O) with
 * the store's message, and counts it in kiln_query_errors_total.
 */
void kl_query_store_error(struct kl_server *srv, struct kl_resp *resp, int rc,
			  const struct kl_err *err);

/* Answers err (from a parser) and counts it in kiln_query_errors_total. */
void kl_query_http_error(struct kl_server *srv, struct kl_resp *resp,
			 const struct kl_http_err *err);

#endif /* KL_QUERY_H */
