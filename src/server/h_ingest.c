/* SPDX-License-Identifier: Apache-2.0 */
/*
 * h_ingest.c - the ingest endpoints: Pyroscope's /ingest (alias
 * /pyroscope/ingest) and Connect's /push.v1.PusherService/Push. Both apply
 * the tenant's rate limit, turn the body into series with the pure
 * functions of ingest.h, and append them to the store; the answer waits
 * until they are durable (the request is parked meanwhile, see
 * kl_server_append). Every outcome is counted for /metrics.
 */
#include <string.h>

#include "server.h"

/*
 * Counts a refused ingest by the status it got; the store's -KL_ELIMIT is
 * its series limit (the rate limit answers -EAGAIN).
 */
static void count_discard(struct kl_server *srv, int rc, int status)
{
	enum kl_counter c;

	switch (status) {
	case 401:
	case 403:
		c = KL_C_DISCARD_AUTH;
		break;
	case 413:
		c = KL_C_DISCARD_TOO_LARGE;
		break;
	case 429:
		c = rc == -KL_ELIMIT ? KL_C_DISCARD_SERIES_LIMIT : KL_C_DISCARD_RATE_LIMIT;
		break;
	case 507:
		c = KL_C_DISCARD_DISK_FULL;
		break;
	default:
		if (status >= 500)
			return;	/* our failure, not the client's: logged instead */
		c = KL_C_DISCARD_BAD_INPUT;
		break;
	}
	kl_metrics_add(srv->metrics, c, 1);
}

/*
 * Answers an append's outcome (kl_park.finish): at once, or once the
 * parked request's WAL batch is durable. Push answers errors as Connect
 * JSON and success as an empty PushResponse.
 */
static void ingest_finish(struct kl_server *srv, const struct kl_park *pk, int rc,
			  const struct kl_err *err, struct kl_resp *resp, bool connect)
{
	struct kl_http_err e;
	int status;

	if (!rc) {
		kl_metrics_add(srv->metrics, KL_C_INGEST_PROFILES, pk->n);
		kl_metrics_add(srv->metrics, KL_C_INGEST_REQUESTS, 1);
		if (connect) {
			/* an empty PushResponse: no bytes in proto, {} in JSON */
			resp->content_type = pk->json ? "application/json" : "application/proto";
			if (pk->json)
				kl_buf_addstr(&resp->body, "{}");
		}
		return;
	}
	status = kl_store_status(rc, true);
	if (status >= 500 && status != 507)
		kl_server_log(srv, KL_LOG_ERROR, "ingest for tenant %s: %s", pk->tenant, err->msg);
	kl_http_errf(&e, rc, status, "%s", err->msg);
	count_discard(srv, rc, status);
	if (connect)
		kl_resp_connect_error(resp, &e);
	else
		kl_resp_http_err(resp, &e);
}

static void finish_ingest(struct kl_server *srv, const struct kl_park *pk, int rc,
			  const struct kl_err *err, struct kl_resp *resp)
{
	ingest_finish(srv, pk, rc, err, resp, false);
}

static void finish_push(struct kl_server *srv, const struct kl_park *pk, int rc,
			const struct kl_err *err, struct kl_resp *resp)
{
	ingest_finish(srv, pk, rc, err, resp, true);
}

/*
 * Stores set for req's tenant and answers: now, or (1 from
 * kl_server_append) later, once the WAL has synced it.
 */
static void store_series(struct kl_server *srv, const struct kl_req *req,
			 const struct kl_series_set *set, struct kl_park *pk,
			 struct kl_resp *resp)
{
	struct kl_err err = { 0 };
	int rc;

	pk->tenant = req->tenant;
	pk->n = set->n;
	rc = kl_server_append(srv, req->tenant, set->v, set->n, pk, &err);
	if (rc != 1)
		pk->finish(srv, pk, rc, &err, resp);
}

/* The rate limit check both endpoints make before any parsing. */
static int rate_check(struct kl_server *srv, const struct kl_req *req, struct kl_http_err *e)
{
	kl_metrics_add(srv->metrics, KL_C_INGEST_BYTES, req->wire_bytes);
	if (kl_ratelimit_take(srv->ratelimit, req->tenant, req->wire_bytes, req->now_ns))
		return 0;
	return kl_http_errf(e, -EAGAIN, 429, "ingest rate limit of tenant %s exceeded "
			    "(%llu bytes/s): retry later", req->tenant,
			    (unsigned long long)srv->cfg->ingest_rate_bytes);
}

void kl_h_ingest(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	struct kl_ingest_params params;
	/* views: the store reads the decoded profile, no pruned copy per series */
	struct kl_series_set set = { .views = true };
	struct kl_park pk = { .finish = finish_ingest };
	struct kl_http_err e;
	int rc;

	memset(&params, 0, sizeof(params));
	rc = rate_check(srv, req, &e);
	if (!rc)
		rc = kl_ingest_params_parse(req->keys, req->values, req->nparams, req->now_ns,
					    &params, &e);
	if (!rc)
		rc = kl_ingest_request(&params, req->content_type, req->body, req->body_len,
				       &srv->cfg->limits, &set, &e);
	if (!rc) {
		store_series(srv, req, &set, &pk, resp);
	} else {
		count_discard(srv, rc, e.status);
		kl_resp_http_err(resp, &e);
	}
	kl_series_set_release(&set);
	kl_ingest_params_release(&params);
}

void kl_h_push(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp)
{
	/* views: the store reads the decoded profile, no pruned copy per series */
	struct kl_series_set set = { .views = true };
	struct kl_park pk = { .finish = finish_push };
	struct kl_http_err e;
	int rc;

	pk.json = req->content_type && strstr(req->content_type, "json");
	rc = rate_check(srv, req, &e);
	/* http.c has already undone Content-Encoding under the size limit */
	if (!rc)
		rc = kl_push_decode(req->content_type, NULL, req->body, req->body_len,
				    req->now_ns, &srv->cfg->limits, &set, &e);
	if (!rc) {
		store_series(srv, req, &set, &pk, resp);
	} else {
		count_discard(srv, rc, e.status);
		kl_resp_connect_error(resp, &e);
	}
	kl_series_set_release(&set);
}
