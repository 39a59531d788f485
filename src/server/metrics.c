/* SPDX-License-Identifier: Apache-2.0 */
/*
 * metrics.c - the server's counters and per-route latency histograms, kept
 * in relaxed atomics so that handlers never take a lock to count, and their
 * Prometheus text form. Store gauges are added by /metrics (h_misc.c) from
 * kl_store_stats at scrape time.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

#include "server.h"

/* Histogram bucket upper bounds in seconds (Prometheus' usual latency ladder). */
static const double bounds[] = {
	0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};
#define NBOUNDS KL_ARRAY_SIZE(bounds)

/* Response status classes counted per route. */
static const int status_codes[] = { 200, 400, 401, 403, 404, 405, 413, 415, 422, 429, 500, 503,
				    507 };
#define NSTATUS (KL_ARRAY_SIZE(status_codes) + 1)	/* + "other" */

struct route_stats {
	_Atomic uint64_t buckets[NBOUNDS + 1];	/* the last one is +Inf */
	_Atomic uint64_t count;
	_Atomic uint64_t sum_ns;
	_Atomic uint64_t status[NSTATUS];
};

struct kl_metrics {
	_Atomic uint64_t counters[KL_C_NCOUNTERS];
	size_t nroutes;
	struct route_stats *routes;
};

static size_t count_routes(void)
{
	size_t n = 0;

	while (kl_routes[n].path)
		n++;
	return n;
}

int kl_metrics_new(struct kl_metrics **out)
{
	struct kl_metrics *m = kl_calloc(1, sizeof(*m));

	*out = NULL;
	if (!m)
		return -ENOMEM;
	m->nroutes = count_routes();
	m->routes = kl_calloc(m->nroutes ? m->nroutes : 1, sizeof(*m->routes));
	if (!m->routes) {
		kl_free(m);
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void kl_metrics_free(struct kl_metrics *m)
{
	if (!m)
		return;
	kl_free(m->routes);
	kl_free(m);
}

void kl_metrics_add(struct kl_metrics *m, enum kl_counter c, uint64_t n)
{
	if (m && c < KL_C_NCOUNTERS)
		atomic_fetch_add_explicit(&m->counters[c], n, memory_order_relaxed);
}

uint64_t kl_metrics_get(const struct kl_metrics *m, enum kl_counter c)
{
	if (!m || c >= KL_C_NCOUNTERS)
		return 0;
	return atomic_load_explicit(&m->counters[c], memory_order_relaxed);
}

void kl_metrics_observe(struct kl_metrics *m, size_t route, double seconds)
{
	struct route_stats *r;
	size_t b = 0;

	if (!m || route >= m->nroutes)
		return;
	r = &m->routes[route];
	while (b < NBOUNDS && seconds > bounds[b])
		b++;
	atomic_fetch_add_explicit(&r->buckets[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&r->sum_ns, (uint64_t)(seconds > 0 ? seconds * 1e9 : 0),
				  memory_order_relaxed);
}

void kl_metrics_status(struct kl_metrics *m, size_t route, int status)
{
	size_t i = 0;

	if (!m || route >= m->nroutes)
		return;
	while (i < KL_ARRAY_SIZE(status_codes) && status_codes[i] != status)
		i++;
	atomic_fetch_add_explicit(&m->routes[route].status[i], 1, memory_order_relaxed);
}

static const struct {
	enum kl_counter c;
	const char *name, *help, *label;
} counters[] = {
	{ KL_C_INGEST_PROFILES, "kiln_ingest_profiles_total",
	  "Series profiles stored (one per sample type and label set).", NULL },
	{ KL_C_INGEST_REQUESTS, "kiln_ingest_requests_total",
	  "Ingest requests answered 200.", NULL },
	{ KL_C_INGEST_BYTES, "kiln_ingest_bytes_total",
	  "Ingest body bytes received, as sent (before decompression).", NULL },
	{ KL_C_DISCARD_BAD_INPUT, "kiln_discarded_total", NULL, "bad_input" },
	{ KL_C_DISCARD_TOO_LARGE, "kiln_discarded_total", NULL, "too_large" },
	{ KL_C_DISCARD_RATE_LIMIT, "kiln_discarded_total", NULL, "rate_limited" },
	{ KL_C_DISCARD_SERIES_LIMIT, "kiln_discarded_total", NULL, "series_limit" },
	{ KL_C_DISCARD_DISK_FULL, "kiln_discarded_total", NULL, "disk_full" },
	{ KL_C_DISCARD_AUTH, "kiln_discarded_total", NULL, "unauthorized" },
	{ KL_C_STACKS_TRUNCATED, "kiln_stacks_truncated_total",
	  "Stacks cut at the maximum depth.", NULL },
	{ KL_C_QUERY_ERRORS, "kiln_query_errors_total", "Query requests that failed.", NULL },
};

static uint64_t load(const _Atomic uint64_t *v)
{
	return atomic_load_explicit(v, memory_order_relaxed);
}

void kl_metrics_write(const struct kl_metrics *m, struct kl_buf *out)
{
	bool discard_header = false;

	for (size_t i = 0; i < KL_ARRAY_SIZE(counters); i++) {
		uint64_t v = load(&m->counters[counters[i].c]);

		if (counters[i].label) {
			if (!discard_header)
				kl_buf_addstr(out, "# HELP kiln_discarded_total Ingest requests "
					      "refused, by reason.\n"
					      "# TYPE kiln_discarded_total counter\n");
			discard_header = true;
			kl_buf_addf(out, "%s{reason=\"%s\"} %llu\n", counters[i].name,
				    counters[i].label, (unsigned long long)v);
			continue;
		}
		kl_buf_addf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counters[i].name,
			    counters[i].help, counters[i].name, counters[i].name,
			    (unsigned long long)v);
	}
	kl_buf_addstr(out, "# HELP kiln_http_requests_total HTTP requests by route and status.\n"
		      "# TYPE kiln_http_requests_total counter\n");
	for (size_t r = 0; r < m->nroutes; r++) {
		for (size_t s = 0; s < NSTATUS; s++) {
			uint64_t v = load(&m->routes[r].status[s]);
			char code[16];

			if (!v)
				continue;
			if (s < KL_ARRAY_SIZE(status_codes))
				snprintf(code, sizeof(code), "%d", status_codes[s]);
			else
				snprintf(code, sizeof(code), "other");
			kl_buf_addf(out, "kiln_http_requests_total{route=\"%s\",code=\"%s\"} %llu\n",
				    kl_routes[r].path, code, (unsigned long long)v);
		}
	}
	kl_buf_addstr(out, "# HELP kiln_http_request_duration_seconds Time from a request's "
		      "arrival to its response, by route.\n"
		      "# TYPE kiln_http_request_duration_seconds histogram\n");
	for (size_t r = 0; r < m->nroutes; r++) {
		const struct route_stats *rs = &m->routes[r];
		const char *path = kl_routes[r].path;
		uint64_t cum = 0;

		for (size_t b = 0; b <= NBOUNDS; b++) {
			cum += load(&rs->buckets[b]);
			if (b < NBOUNDS)
				kl_buf_addf(out, "kiln_http_request_duration_seconds_bucket{route="
					    "\"%s\",le=\"%g\"} %llu\n", path, bounds[b],
					    (unsigned long long)cum);
			else
				kl_buf_addf(out, "kiln_http_request_duration_seconds_bucket{route="
					    "\"%s\",le=\"+Inf\"} %llu\n", path,
					    (unsigned long long)cum);
		}
		kl_buf_addf(out, "kiln_http_request_duration_seconds_sum{route=\"%s\"} %.9f\n"
			    "kiln_http_request_duration_seconds_count{route=\"%s\"} %llu\n", path,
			    (double)load(&rs->sum_ns) / 1e9, path,
			    (unsigned long long)load(&rs->count));
	}
}
