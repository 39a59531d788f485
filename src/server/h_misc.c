/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h_misc.c - the operational endpoints: /healthz (the process answers),
 * /ready (the store is open and accepts ingest) and /metrics (Prometheus
 * text: the server's counters and histograms plus the store's gauges read
 * at scrape time).
 */
#include <string.h>

#include "kiln/version.h"
#include "server.h"

void kl_h_healthz(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	(void)srv;
	(void)req;
	kl_buf_addstr(&resp->body, "ok\n");
}

void kl_h_ready(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	struct kl_store_stats st;

	(void)req;
	if (!srv->store) {
		kl_resp_error(resp, 503, "not ready: the store is not open");
		return;
	}
	kl_store_stats(srv->store, &st);
	if (st.disk_full) {
		kl_resp_error(resp, 503, "not ready: disk full (below min-free-disk), ingest is "
			      "refused");
		return;
	}
	kl_buf_addstr(&resp->body, "ready\n");
}

static void gauge(struct kl_buf *out, const char *name, const char *help, uint64_t v)
{
	kl_buf_addf(out, "# HELP %s %s\n# TYPE %s gauge\n%s %llu\n", name, help, name, name,
		    (unsigned long long)v);
}

static void counter(struct kl_buf *out, const char *name, const char *help, uint64_t v)
{
	kl_buf_addf(out, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", name, help, name, name,
		    (unsigned long long)v);
}

void kl_h_metrics(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	const struct kl_config *c = srv->cfg;
	struct kl_buf *out = &resp->body;
	struct kl_store_stats st;

	(void)req;
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	kl_buf_addf(out, "# HELP kiln_build_info Kiln's version.\n# TYPE kiln_build_info gauge\n"
		    "kiln_build_info{version=\"%s\"} 1\n", KILN_VERSION_STRING);
	kl_metrics_write(srv->metrics, out);
	if (srv->store) {
		memset(&st, 0, sizeof(st));
		kl_store_stats(srv->store, &st);
		counter(out, "kiln_store_profiles_appended_total",
			"Series profiles appended to the store since it opened.",
			st.profiles_appended);
		gauge(out, "kiln_store_series", "Series stored, all tenants.", st.series);
		gauge(out, "kiln_store_tenants", "Tenants with data.", st.tenants);
		gauge(out, "kiln_store_head_bytes", "Memory held by in-memory (head) data.",
		      st.head_bytes);
		gauge(out, "kiln_store_disk_bytes", "Bytes of blocks and WAL on disk.",
		      st.disk_bytes);
		gauge(out, "kiln_store_blocks", "Blocks on disk.", st.blocks);
		gauge(out, "kiln_store_wal_bytes", "Bytes in the write-ahead log.", st.wal_bytes);
		gauge(out, "kiln_store_wal_lag_bytes", "Bytes written to the WAL, not yet synced.",
		      st.wal_lag_bytes);
		counter(out, "kiln_store_wal_syncs_total", "WAL fdatasync calls.", st.wal_syncs);
		counter(out, "kiln_store_wal_records_cut_total",
			"Torn or corrupt WAL records cut at open.", st.wal_records_cut);
		counter(out, "kiln_store_compactions_total", "Compactions run.", st.compactions);
		counter(out, "kiln_store_blocks_deleted_total", "Blocks deleted by retention.",
			st.blocks_deleted);
		gauge(out, "kiln_store_disk_full", "1 while ingest is refused for lack of space.",
		      st.disk_full);
	}
	/* the limits in force, so that a deployment's settings can be checked remotely */
	gauge(out, "kiln_limit_max_request_bytes", "Largest request body accepted, as sent.",
	      c->max_request_bytes);
	gauge(out, "kiln_limit_ingest_rate_bytes", "Ingest bytes/s per tenant (0 = unlimited).",
	      c->ingest_rate_bytes);
	gauge(out, "kiln_limit_max_series", "Series per tenant.", c->store.max_series);
	gauge(out, "kiln_http_threads", "Query threads (--threads).", c->threads);
	gauge(out, "kiln_http_requests_in_flight", "Requests received, not yet fully answered.",
	      kl_server_in_flight(srv));
}
