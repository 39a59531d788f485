/* SPDX-License-Identifier: Apache-2.0 */
/*
 * http.c - kiln server's HTTP layer on libmicrohttpd: routing, auth, body
 * collection under the size caps, gzip both ways, latency metrics, TLS,
 * and a clean start/stop of the whole server (store included).
 *
 * Threading: MHD's event loops, one per core (MHD_OPTION_THREAD_POOL_SIZE,
 * epoll), serve every connection; nothing on them may block for long,
 * since a loop thread serves many connections.
 *  - Ingest runs on the loop thread (decode, intern, copy into the WAL
 *    buffer: CPU only), then PARKS the connection (MHD_suspend_connection)
 *    instead of sleeping a thread until the WAL's group commit syncs the
 *    batch; the store's completion thread publishes the batch and resumes
 *    the connections (on_durable), whose loop threads send the 200s. No
 *    thread per request: 0.6 context switches per request instead of 3.8
 *    with a thread per connection (perf stat, 64 connections). At most
 *    min(cores, --threads) ingest handlers run at once: one per loop.
 *  - Queries (read routes: render, labels, the UI) can take long: they are
 *    parked too and run on --threads query worker threads of their own, so
 *    a slow render never stalls the ingest connections of a loop thread,
 *    and a flood of ingest never takes the threads queries need.
 *  - Health and metrics run on the loop thread (short, no slot).
 * A parked request counts in `parked`; kl_server_stop waits for it to reach
 * 0 (every parked request answered) before stopping MHD, which must not
 * see a suspended connection.
 *
 * A request goes through on_request three or more times (MHD's protocol):
 *   1. headers: route, method, auth, Content-Length checked; an early
 *      answer (404, 405, 401, 403, 413) is queued at once if a body follows
 *      (it is never read), else at the end (the connection stays alive);
 *   2. body chunks: appended up to max-request-bytes (beyond: discarded,
 *      413 at the end; a body far beyond is cut by closing the connection);
 *   3. end: Content-Encoding undone under max-body-bytes, handler called
 *      (or the request parked, see above), response gzip-compressed if the
 *      client accepts it;
 *   4. after a park: called again once resumed, sends the parked answer.
 */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

#define MAX_PARAMS 256			/* query parameters per request */
#define GZIP_MIN_BYTES 1024		/* smaller responses are sent as they are */
#define RESP_LIMIT ((size_t)1 << 30)	/* largest response body */
#define STOP_GRACE_NS (30 * 1000000000LL)	/* requests in flight get this long at stop */

struct reqctx;

struct http_state {
	struct MHD_Daemon *d;
	char *cert, *key;		/* PEM text, alive as long as the daemon */
	unsigned port;
	enum kl_log_level level;
	_Atomic long active;		/* requests between headers and completion */
	_Atomic long parked;		/* requests suspended (WAL wait or query queue) */
	atomic_bool stopping;		/* no new parks: kl_server_stop is draining */
	/* the query workers and their queue (FIFO) */
	pthread_mutex_t q_mu;
	pthread_cond_t q_cv;
	struct reqctx *q_head, *q_tail;
	bool q_stop, q_ok;
	pthread_t *workers;
	unsigned nworkers;
};

/* Where a parked ingest is (reqctx.park). */
enum { PARK_NONE, PARK_PENDING, PARK_SUSPENDED, PARK_DONE };

/* One request's state across on_request calls. */
struct reqctx {
	size_t route;			/* index into kl_routes, or SIZE_MAX */
	const char *tenant;
	struct kl_buf body;
	bool answered;			/* a response is queued */
	bool overflow;			/* body went past max-request-bytes */
	bool early;			/* answer early_err once the (empty) request ends */
	struct kl_http_err early_err;
	size_t discarded;		/* bytes dropped after the overflow */
	int64_t start_mono, now_ns;
	/* the request as handlers see it; alive until completion (parks, workers) */
	struct MHD_Connection *conn;
	struct kl_server *srv;
	struct kl_req req;
	struct params *p;
	struct kl_buf dec;		/* the body with Content-Encoding undone */
	char **fk, **fv;		/* form fields (owned) */
	size_t fn;
	/* a parked ingest: its store ticket and how to answer (kl_server_append) */
	struct kl_store_ticket *ticket;
	struct kl_park pk;
	atomic_int park;
	/* a query run by a worker: its answer, ready once resumed */
	bool queued;
	struct kl_resp qresp;
	struct reqctx *qnext;
};

static int64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- logging ---------------------------------------------------------------------- */

void kl_server_log(const struct kl_server *srv, enum kl_log_level level, const char *fmt, ...)
{
	static const char *const names[] = { "error", "warn", "info", "debug" };
	const struct http_state *h = srv ? srv->http : NULL;
	enum kl_log_level max = h ? h->level : KL_LOG_INFO;
	char msg[1024], when[32];
	struct timespec ts;
	struct tm tm;
	va_list ap;

	if (level > max)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	/* one fprintf per line: stdio locks the stream, so lines never interleave */
	fprintf(stderr, "%s.%03ldZ %s %s\n", when, ts.tv_nsec / 1000000, names[level], msg);
}

static void store_log(void *ctx, enum kl_log_level level, const char *msg)
{
	kl_server_log(ctx, level, "store: %s", msg);
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];
	size_t n;

	vsnprintf(msg, sizeof(msg), fmt, ap);
	n = strlen(msg);
	while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
		msg[--n] = 0;
	kl_server_log(cls, KL_LOG_DEBUG, "http: %s", msg);
}

/* ---- responses -------------------------------------------------------------------- */

static bool accepts_gzip(struct MHD_Connection *conn)
{
	const char *ae = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_ACCEPT_ENCODING);
	const char *p = ae ? strcasestr(ae, "gzip") : NULL;

	if (!p)
		return false;
	p += 4;
	p += strspn(p, " ");
	/* "gzip;q=0" is a refusal */
	return !(*p == ';' && strstr(p, "q=0") && !strstr(p, "q=0."));
}

/* Queues resp on conn (taking its body) and records metrics. */
static enum MHD_Result send_resp(struct kl_server *srv, struct MHD_Connection *conn,
				 struct reqctx *ctx, struct kl_resp *resp)
{
	const struct kl_route *route = ctx->route != SIZE_MAX ? &kl_routes[ctx->route] : NULL;
	struct MHD_Response *r;
	struct kl_buf gz = KL_BUF_INIT;
	struct kl_err err;
	enum MHD_Result ret;
	bool gzipped = false;
	size_t len = 0;
	char *data;

	if (kl_buf_error(&resp->body)) {
		kl_server_log(srv, KL_LOG_ERROR, "response of %s: %s", route ? route->path : "?",
			      kl_strerror(kl_buf_error(&resp->body)));
		kl_buf_release(&resp->body);
		kl_resp_error(resp, 500, "response too large or out of memory");
	}
	if (resp->body.len > GZIP_MIN_BYTES && accepts_gzip(conn) &&
	    !kl_gzip(resp->body.data, resp->body.len, &gz, &err)) {
		kl_buf_release(&resp->body);
		resp->body = gz;
		gzipped = true;
	} else {
		kl_buf_release(&gz);
	}
	data = kl_buf_detach(&resp->body, &len);
	if (data && len)
		r = MHD_create_response_from_buffer_with_free_callback(len, data, kl_free);
	else
		r = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
	if (!r) {
		if (len)
			kl_free(data);
		return MHD_NO;
	}
	if (!len)
		kl_free(data);
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE,
				resp->content_type ? resp->content_type :
				"text/plain; charset=utf-8");
	if (resp->content_disposition)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
					resp->content_disposition);
	if (resp->cache_control)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, resp->cache_control);
	if (resp->etag[0])
		MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, resp->etag);
	if (gzipped)
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_ENCODING, "gzip");
	MHD_add_response_header(r, MHD_HTTP_HEADER_VARY, "Accept-Encoding");
	if (resp->status == 401) {
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"kiln\"");
		MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Basic realm=\"kiln\"");
	}
	if (resp->status == 405 && route)
		MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, route->method ?
					route->method : "GET, POST");
	ret = MHD_queue_response(conn, (unsigned)resp->status, r);
	MHD_destroy_response(r);
	ctx->answered = true;
	if (ctx->route != SIZE_MAX) {
		kl_metrics_observe(srv->metrics, ctx->route,
				   (double)(clock_ns(CLOCK_MONOTONIC) - ctx->start_mono) / 1e9);
		kl_metrics_status(srv->metrics, ctx->route, resp->status);
	}
	return ret;
}

/* Answers an error found by the HTTP layer itself (Connect JSON on Connect routes). */
static enum MHD_Result send_error(struct kl_server *srv, struct MHD_Connection *conn,
				  struct reqctx *ctx, const struct kl_http_err *e)
{
	const struct kl_route *route = ctx->route != SIZE_MAX ? &kl_routes[ctx->route] : NULL;
	struct kl_resp resp = { .status = e->status };
	enum MHD_Result ret;

	kl_buf_init(&resp.body, RESP_LIMIT);
	if (route && route->connect)
		kl_resp_connect_error(&resp, e);
	else
		kl_resp_http_err(&resp, e);
	if (route && route->right == KL_RIGHT_INGEST) {
		if (e->status == 401 || e->status == 403)
			kl_metrics_add(srv->metrics, KL_C_DISCARD_AUTH, 1);
		else if (e->status == 413)
			kl_metrics_add(srv->metrics, KL_C_DISCARD_TOO_LARGE, 1);
		else if (e->status >= 400 && e->status < 500)
			kl_metrics_add(srv->metrics, KL_C_DISCARD_BAD_INPUT, 1);
	}
	kl_server_log(srv, KL_LOG_DEBUG, "%s: %d %s", route ? route->path : "-", e->status,
		      e->e.msg);
	ret = send_resp(srv, conn, ctx, &resp);
	kl_buf_release(&resp.body);
	return ret;
}

/* ---- requests ---------------------------------------------------------------------- */

/*
 * The request the calling loop thread is handling (set around an ingest
 * handler), so that kl_server_append can park it: handlers stay plain
 * functions of (server, request) -> response.
 */
static __thread struct reqctx *cur_req;

struct params {
	const char *keys[MAX_PARAMS], *values[MAX_PARAMS];
	size_t n;
	bool overflow;
};

static enum MHD_Result collect_param(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct params *p = cls;

	(void)kind;
	if (p->n == MAX_PARAMS) {
		p->overflow = true;
		return MHD_NO;
	}
	p->keys[p->n] = key;
	p->values[p->n] = value ? value : "";
	p->n++;
	return MHD_YES;
}

/* Finds the route for path and method: SIZE_MAX and *status 404 or 405 if none. */
static size_t find_route(const char *path, const char *method, int *status)
{
	size_t found = SIZE_MAX;

	*status = 404;
	for (size_t i = 0; kl_routes[i].path; i++) {
		const char *m = kl_routes[i].method;
		bool get = !strcmp(method, "GET") || !strcmp(method, "HEAD");

		if (strcmp(kl_routes[i].path, path))
			continue;
		if (m ? (!strcmp(m, method) || (!strcmp(m, "GET") && get)) :
			(get || !strcmp(method, "POST"))) {
			*status = 200;
			return i;
		}
		*status = 405;
		found = i;
	}
	return found;
}

/*
 * An error found from the headers alone. A request with a body is answered
 * at once, so the body is never read (MHD then closes the connection); one
 * without is answered at its end, which keeps the connection alive.
 */
static enum MHD_Result early_error(struct kl_server *srv, struct MHD_Connection *conn,
				   struct reqctx *ctx, const struct kl_http_err *e)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						     MHD_HTTP_HEADER_TRANSFER_ENCODING);

	if (te || (cl && strcmp(cl, "0")))
		return send_error(srv, conn, ctx, e);
	ctx->early = true;
	ctx->early_err = *e;
	return MHD_YES;
}

/* Step 1: the headers. Returns MHD_YES to go on reading the body. */
static enum MHD_Result on_headers(struct kl_server *srv, struct MHD_Connection *conn,
				  struct reqctx *ctx, const char *url, const char *method)
{
	const struct kl_route *route;
	struct kl_http_err e;
	unsigned long long len;
	const char *cl;
	int status;

	ctx->route = find_route(url, method, &status);
	if (status == 404) {
		kl_http_errf(&e, -KL_ENOTFOUND, 404, "no such endpoint (see docs/server.md for "
			     "the API)");
		return early_error(srv, conn, ctx, &e);
	}
	route = &kl_routes[ctx->route];
	if (status == 405) {
		kl_http_errf(&e, -KL_EUSAGE, 405, "method %s not allowed here (use %s)", method,
			     route->method ? route->method : "GET or POST");
		return early_error(srv, conn, ctx, &e);
	}
	if (kl_auth_resolve(srv->cfg,
			    MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_AUTHORIZATION),
			    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Scope-OrgID"),
			    route->right, &ctx->tenant, &e))
		return early_error(srv, conn, ctx, &e);
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (!cl)
		return MHD_YES;
	len = strtoull(cl, NULL, 10);
	if (len > srv->cfg->max_request_bytes) {
		kl_http_errf(&e, -KL_ELIMIT, 413, "request body of %s bytes is over "
			     "max-request-bytes (%zu)", cl, srv->cfg->max_request_bytes);
		return send_error(srv, conn, ctx, &e);
	}
	/*
	 * The size is known and allowed: the loop's spare storage (an earlier
	 * request's body), grown once if need be, instead of a malloc and free
	 * per request.
	 */
	kl_buf_spare_take(&ctx->body, (size_t)len + 2);
	(void)kl_buf_reserve(&ctx->body, (size_t)len + 1);
	return MHD_YES;
}

/* Step 2: a body chunk. */
static enum MHD_Result on_body(struct kl_server *srv, struct reqctx *ctx, const char *data,
			       size_t len)
{
	if (ctx->answered)
		return MHD_YES;	/* MHD discards what is left of an answered request */
	if (!ctx->overflow && ctx->body.len + len <= srv->cfg->max_request_bytes) {
		kl_buf_add(&ctx->body, data, len);
		return kl_buf_error(&ctx->body) ? MHD_NO : MHD_YES;
	}
	ctx->overflow = true;
	kl_buf_release(&ctx->body);
	ctx->discarded += len;
	/* a chunked body may never end: stop reading it well past the limit */
	return ctx->discarded > 4 * srv->cfg->max_request_bytes ? MHD_NO : MHD_YES;
}

/* Logs a handler's answer (warn for 5xx). */
static void log_answer(struct kl_server *srv, const struct reqctx *ctx, const struct kl_resp *resp)
{
	const char *path = ctx->req.path ? ctx->req.path : "-";

	if (resp->status >= 500)
		kl_server_log(srv, KL_LOG_WARN, "%s %s: %d %.200s", ctx->req.method, path,
			      resp->status, resp->body.data ? resp->body.data : "");
	else
		kl_server_log(srv, KL_LOG_DEBUG, "%s %s: %d (tenant %s, %zu bytes in)",
			      ctx->req.method, path, resp->status, ctx->tenant ? ctx->tenant : "-",
			      ctx->req.wire_bytes);
}

/* Sends a handler's answer and frees its body. */
static enum MHD_Result answer(struct kl_server *srv, struct MHD_Connection *conn,
			      struct reqctx *ctx, struct kl_resp *resp)
{
	enum MHD_Result ret;

	if (!resp->status)
		resp->status = 200;
	log_answer(srv, ctx, resp);
	ret = send_resp(srv, conn, ctx, resp);
	kl_buf_release(&resp->body);
	return ret;
}

/* Answers a parked ingest whose append has an outcome (on the loop thread). */
static enum MHD_Result finish_parked(struct kl_server *srv, struct MHD_Connection *conn,
				     struct reqctx *ctx)
{
	struct kl_resp resp = { .status = 200 };
	struct kl_err err = { 0 };
	int rc;

	rc = kl_store_append_end(ctx->ticket, &err);
	ctx->ticket = NULL;
	atomic_store(&ctx->park, PARK_NONE);
	kl_buf_init(&resp.body, RESP_LIMIT);
	ctx->pk.finish(srv, &ctx->pk, rc, &err, &resp);
	return answer(srv, conn, ctx, &resp);
}

/* The store's completion thread: ctx's append is durable (or failed). */
static void on_durable(void *arg)
{
	struct reqctx *ctx = arg;

	/* parked already: wake it; else on_complete finds PARK_DONE and answers itself */
	if (atomic_exchange(&ctx->park, PARK_DONE) == PARK_SUSPENDED)
		MHD_resume_connection(ctx->conn);
}

/*
 * Takes a park (a suspended connection) unless the server is stopping:
 * counted before the check, so kl_server_stop either sees it or it sees
 * stopping (both sequentially consistent).
 */
static bool park_take(struct http_state *h)
{
	atomic_fetch_add(&h->parked, 1);
	if (!atomic_load(&h->stopping))
		return true;
	atomic_fetch_sub(&h->parked, 1);
	return false;
}

int kl_server_append(struct kl_server *srv, const char *tenant, const struct kl_series *v,
		     size_t n, const struct kl_park *pk, struct kl_err *err)
{
	struct reqctx *ctx = cur_req;
	struct kl_store_ticket *tk = NULL;
	int rc;

	if (!ctx || ctx->srv != srv || !park_take(srv->http))
		return kl_store_append(srv->store, tenant, v, n, err);
	atomic_store(&ctx->park, PARK_PENDING);
	rc = kl_store_append_start(srv->store, tenant, v, n, on_durable, ctx, &tk, err);
	if (rc || !tk) {
		/* done at once (no WAL) or failed: the handler answers now */
		atomic_store(&ctx->park, PARK_NONE);
		atomic_fetch_sub(&((struct http_state *)srv->http)->parked, 1);
		return rc;
	}
	ctx->ticket = tk;
	ctx->pk = *pk;
	return 1;
}

/* A query worker: runs queued query handlers, then resumes their connections. */
static void *query_worker(void *arg)
{
	struct kl_server *srv = arg;
	struct http_state *h = srv->http;

	pthread_mutex_lock(&h->q_mu);
	for (;;) {
		struct reqctx *ctx;

		while (!h->q_head && !h->q_stop)
			pthread_cond_wait(&h->q_cv, &h->q_mu);
		if (!h->q_head)
			break;
		ctx = h->q_head;
		h->q_head = ctx->qnext;
		if (!h->q_head)
			h->q_tail = NULL;
		pthread_mutex_unlock(&h->q_mu);
		kl_buf_init(&ctx->qresp.body, RESP_LIMIT);
		ctx->qresp.status = 200;
		kl_routes[ctx->route].fn(srv, &ctx->req, &ctx->qresp);
		/* the loop thread sends it (MHD's calls on a connection belong to its thread) */
		MHD_resume_connection(ctx->conn);
		pthread_mutex_lock(&h->q_mu);
	}
	pthread_mutex_unlock(&h->q_mu);
	return NULL;
}

/* Parks a query for the workers. false: the server is stopping, run it inline. */
static bool queue_query(struct http_state *h, struct MHD_Connection *conn, struct reqctx *ctx)
{
	if (!h->q_ok || !park_take(h))
		return false;
	ctx->queued = true;
	/* suspended before a worker can resume it */
	MHD_suspend_connection(conn);
	pthread_mutex_lock(&h->q_mu);
	ctx->qnext = NULL;
	if (h->q_tail)
		h->q_tail->qnext = ctx;
	else
		h->q_head = ctx;
	h->q_tail = ctx;
	pthread_cond_signal(&h->q_cv);
	pthread_mutex_unlock(&h->q_mu);
	return true;
}

/* Step 3: the whole request is in. */
static enum MHD_Result on_complete(struct kl_server *srv, struct MHD_Connection *conn,
				   struct reqctx *ctx, const char *method)
{
	struct http_state *h = srv->http;
	/* no route (SIZE_MAX) means a 404 waits in early_err: don't index past the table */
	const struct kl_route *route = &kl_routes[ctx->route != SIZE_MAX ? ctx->route : 0];
	struct kl_ingest_limits lim = kl_ingest_limits_resolve(&srv->cfg->limits);
	struct kl_resp resp = { .status = 200 };
	struct kl_req *req = &ctx->req;
	struct params *p;
	struct kl_http_err e;
	struct kl_err err;
	int expect = PARK_PENDING;
	int rc;

	if (ctx->early)
		return send_error(srv, conn, ctx, &ctx->early_err);
	if (ctx->overflow) {
		kl_http_errf(&e, -KL_ELIMIT, 413, "request body is over max-request-bytes (%zu)",
			     srv->cfg->max_request_bytes);
		return send_error(srv, conn, ctx, &e);
	}
	req->method = method;
	req->path = route->path;
	/* 4 KiB of pointer arrays: filled up to n, so not zeroed */
	p = ctx->p = kl_malloc(sizeof(*p));
	if (!p)
		return MHD_NO;
	p->n = 0;
	p->overflow = false;
	MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, collect_param, p);
	if (p->overflow) {
		kl_http_errf(&e, -KL_ELIMIT, 400, "more than %d query parameters", MAX_PARAMS);
		return send_error(srv, conn, ctx, &e);
	}
	req->keys = p->keys;
	req->values = p->values;
	req->nparams = p->n;
	req->content_type = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							MHD_HTTP_HEADER_CONTENT_TYPE);
	req->content_encoding = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							    MHD_HTTP_HEADER_CONTENT_ENCODING);
	req->user_agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
						      MHD_HTTP_HEADER_USER_AGENT);
	req->if_none_match = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
							 MHD_HTTP_HEADER_IF_NONE_MATCH);
	req->tenant = ctx->tenant;
	req->now_ns = ctx->now_ns;
	req->wire_bytes = ctx->body.len;
	req->body = ctx->body.len ? (const uint8_t *)ctx->body.data : NULL;
	req->body_len = ctx->body.len;
	if (req->content_encoding && ctx->body.len &&
	    strcasecmp(req->content_encoding, "identity")) {
		if (strcasecmp(req->content_encoding, "gzip")) {
			kl_http_errf(&e, -KL_EFORMAT, 415, "unsupported Content-Encoding '%.40s' "
				     "(gzip or identity)", req->content_encoding);
			return send_error(srv, conn, ctx, &e);
		}
		rc = kl_gunzip(req->body, req->body_len, lim.max_body, &ctx->dec, &err);
		if (rc) {
			if (rc == -KL_ELIMIT)
				kl_http_errf(&e, -KL_ELIMIT, 413, "decompressed body is over "
					     "max-body-bytes (%zu)", lim.max_body);
			else
				kl_http_errf(&e, -KL_EFORMAT, 400, "bad gzip body: %s", err.msg);
			return send_error(srv, conn, ctx, &e);
		}
		req->body = ctx->dec.len ? (const uint8_t *)ctx->dec.data : NULL;
		req->body_len = ctx->dec.len;
	}
	/* a query may come as a form body too: its fields join the URL's */
	if (route->right == KL_RIGHT_READ && req->body_len && req->content_type &&
	    !strncasecmp(req->content_type, "application/x-www-form-urlencoded", 33)) {
		const char *form = req->body == (const uint8_t *)ctx->dec.data ? ctx->dec.data :
				   ctx->body.data;

		if (kl_query_parse(form, MAX_PARAMS - p->n, &ctx->fk, &ctx->fv, &ctx->fn, &e))
			return send_error(srv, conn, ctx, &e);
		for (size_t i = 0; i < ctx->fn; i++) {
			p->keys[p->n] = ctx->fk[i];
			p->values[p->n++] = ctx->fv[i];
		}
		req->nparams = p->n;
	}
	if (route->right == KL_RIGHT_READ && queue_query(h, conn, ctx))
		return MHD_YES;
	kl_buf_init(&resp.body, RESP_LIMIT);
	cur_req = ctx;
	route->fn(srv, req, &resp);
	cur_req = NULL;
	if (!ctx->ticket)
		return answer(srv, conn, ctx, &resp);
	/* parked on the WAL: the handler left resp alone */
	kl_buf_release(&resp.body);
	if (atomic_load(&ctx->park) == PARK_DONE) {
		/* durable already (a quick batch): answer without suspending */
		atomic_fetch_sub(&h->parked, 1);
		return finish_parked(srv, conn, ctx);
	}
	MHD_suspend_connection(conn);
	if (!atomic_compare_exchange_strong(&ctx->park, &expect, PARK_SUSPENDED))
		MHD_resume_connection(conn);	/* became durable meanwhile */
	return MHD_YES;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_data_size,
				  void **con_cls)
{
	struct kl_server *srv = cls;
	struct http_state *h = srv->http;
	struct reqctx *ctx = *con_cls;
	size_t len;

	(void)version;
	if (!ctx) {
		ctx = kl_calloc(1, sizeof(*ctx));
		if (!ctx)
			return MHD_NO;
		atomic_fetch_add(&h->active, 1);
		ctx->route = SIZE_MAX;
		ctx->start_mono = clock_ns(CLOCK_MONOTONIC);
		ctx->now_ns = clock_ns(CLOCK_REALTIME);
		ctx->conn = conn;
		ctx->srv = srv;
		kl_buf_init(&ctx->body, srv->cfg->max_request_bytes + 1);
		*con_cls = ctx;
		return on_headers(srv, conn, ctx, url, method);
	}
	if (*upload_data_size) {
		len = *upload_data_size;
		*upload_data_size = 0;
		return on_body(srv, ctx, upload_data, len);
	}
	if (ctx->answered)
		return MHD_YES;
	if (ctx->ticket) {
		/* resumed: the append has its outcome */
		atomic_fetch_sub(&h->parked, 1);
		return finish_parked(srv, conn, ctx);
	}
	if (ctx->queued) {
		/* resumed: a worker has the answer */
		ctx->queued = false;
		atomic_fetch_sub(&h->parked, 1);
		return answer(srv, conn, ctx, &ctx->qresp);
	}
	return on_complete(srv, conn, ctx, method);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct kl_server *srv = cls;
	struct http_state *h = srv->http;
	struct reqctx *ctx = *con_cls;

	(void)conn;
	(void)toe;
	if (!ctx)
		return;
	if (ctx->ticket) {
		/*
		 * Resumed, but the client had gone: MHD closes the connection
		 * without calling on_request. The append stands (it is stored):
		 * finish it for the metrics, the answer goes nowhere.
		 */
		struct kl_resp resp = { .status = 200 };
		struct kl_err err = { 0 };
		int rc = kl_store_append_end(ctx->ticket, &err);

		ctx->ticket = NULL;
		/* on_durable's exchange was its last touch of ctx: it resumed us */
		while (atomic_load(&ctx->park) != PARK_DONE)
			sched_yield();
		atomic_fetch_sub(&h->parked, 1);
		kl_buf_init(&resp.body, RESP_LIMIT);
		ctx->pk.finish(srv, &ctx->pk, rc, &err, &resp);
		kl_buf_release(&resp.body);
	}
	kl_buf_release(&ctx->qresp.body);
	kl_query_free(ctx->fk, ctx->fv, ctx->fn);
	kl_buf_release(&ctx->dec);
	kl_free(ctx->p);
	kl_buf_spare_give(&ctx->body);
	kl_free(ctx);
	*con_cls = NULL;
	atomic_fetch_sub(&h->active, 1);
}

/* ---- start and stop ------------------------------------------------------------ */

/* Reads a whole (small) file into a NUL-terminated string. */
static int read_pem(const char *what, const char *path, char **out, struct kl_err *err)
{
	struct kl_buf b = KL_BUF_INIT;
	char chunk[4096];
	size_t n;
	FILE *f;
	int rc = 0;

	kl_buf_init(&b, 1 << 20);
	f = fopen(path, "r");
	if (!f)
		return kl_errf(err, -KL_EUSAGE, "%s: cannot read '%s': %s", what, path,
			       strerror(errno));
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		kl_buf_add(&b, chunk, n);
	if (ferror(f) || kl_buf_error(&b) || !b.len)
		rc = kl_errf(err, -KL_EUSAGE, "%s: cannot read '%s': %s", what, path,
			     b.len ? "read error or too large" : "empty file");
	fclose(f);
	if (rc) {
		kl_buf_release(&b);
		return rc;
	}
	*out = kl_buf_detach(&b, &n);
	return 0;
}

/* Resolves HOST:PORT (HOST may be [v6], empty = all interfaces). */
static int resolve(const char *listen, struct sockaddr_storage *ss, socklen_t *sslen,
		   struct kl_err *err)
{
	struct addrinfo hints = { .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	const char *colon = strrchr(listen, ':');
	char host[256];
	size_t hl;
	int grc;

	if (!colon)
		return kl_errf(err, -KL_EUSAGE, "listen: '%s' is not HOST:PORT", listen);
	hl = (size_t)(colon - listen);
	if (hl >= 2 && listen[0] == '[' && listen[hl - 1] == ']') {
		listen++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return kl_errf(err, -KL_EUSAGE, "listen: host name too long");
	memcpy(host, listen, hl);
	host[hl] = 0;
	if (!hl)
		hints.ai_family = AF_INET;	/* ":4040": every IPv4 interface */
	grc = getaddrinfo(hl ? host : NULL, colon + 1, &hints, &res);
	if (grc)
		return kl_errf(err, -KL_EUSAGE, "listen: cannot resolve '%s': %s", host,
			       gai_strerror(grc));
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*sslen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static bool is_loopback(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr) >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)ss)->sin6_addr);
	return false;
}

int kl_server_start(struct kl_config *cfg, struct kl_server **out, struct kl_err *err)
{
	struct kl_server *srv;
	struct http_state *h;
	struct kl_store_opts so;
	struct sockaddr_storage ss;
	socklen_t sslen = 0;
	const union MHD_DaemonInfo *info;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	unsigned pool;
	long ncpu;
	int rc;

	*out = NULL;
	srv = kl_calloc(1, sizeof(*srv));
	h = kl_calloc(1, sizeof(*h));
	if (!srv || !h) {
		kl_free(srv);
		kl_free(h);
		return kl_errf(err, -ENOMEM, "out of memory");
	}
	srv->cfg = cfg;
	srv->http = h;
	h->level = KL_LOG_INFO;
	if (cfg->log_level)
		(void)kl_log_level_parse(cfg->log_level, &h->level);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	ncpu = ncpu > 0 ? ncpu : 1;
	if (!cfg->threads)
		cfg->threads = (unsigned)KL_MAX(4, 2 * ncpu);
	/* one event loop per core: ingest is CPU work, more loops only add switches */
	pool = (unsigned)KL_MAX(1, KL_MIN(ncpu, (long)cfg->threads));
	flags |= MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES ? MHD_USE_EPOLL :
		 MHD_USE_POLL;
	rc = resolve(cfg->listen, &ss, &sslen, err);
	if (rc)
		goto fail;
	if (ss.ss_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)&ss)->sin6_addr;

		/* "[::]" means every interface, IPv4 included */
		flags |= IN6_IS_ADDR_UNSPECIFIED(a6) ? MHD_USE_DUAL_STACK : MHD_USE_IPv6;
	}
	if (cfg->tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			rc = kl_errf(err, -KL_EUSAGE, "tls-cert: this libmicrohttpd has no TLS");
			goto fail;
		}
		rc = read_pem("tls-cert", cfg->tls_cert, &h->cert, err);
		if (!rc)
			rc = read_pem("tls-key", cfg->tls_key, &h->key, err);
		if (rc)
			goto fail;
		flags |= MHD_USE_TLS;
	}
	pthread_mutex_init(&h->q_mu, NULL);
	pthread_cond_init(&h->q_cv, NULL);
	h->q_ok = true;
	rc = kl_metrics_new(&srv->metrics);
	if (!rc)
		rc = kl_ratelimit_new(cfg->ingest_rate_bytes, cfg->ingest_burst_bytes,
				      &srv->ratelimit);
	if (rc) {
		rc = kl_errf(err, rc, "out of memory");
		goto fail;
	}
	so = cfg->store;
	so.dir = cfg->data_dir;
	so.log = store_log;
	so.log_ctx = srv;
	rc = kl_store_open(&so, &srv->store, err);
	if (rc) {
		kl_err_prefix(err, "store");
		goto fail;
	}
	h->workers = kl_calloc(cfg->threads, sizeof(*h->workers));
	if (!h->workers) {
		rc = kl_errf(err, -ENOMEM, "out of memory");
		goto fail;
	}
	for (; h->nworkers < cfg->threads; h->nworkers++) {
		if (pthread_create(&h->workers[h->nworkers], NULL, query_worker, srv)) {
			rc = kl_errf(err, -EAGAIN, "cannot start the query threads");
			goto fail;
		}
	}
	h->d = MHD_start_daemon(flags, 0, NULL, NULL, on_request, srv,
				MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
				MHD_OPTION_THREAD_POOL_SIZE, pool,
				MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
				MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)120,
				/*
				 * headers + URL + read buffer; MHD zeroes this pool per
				 * request (64 KiB were ~5 % of ingest CPU): MHD's default
				 */
				MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)32 * 1024,
				MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
				MHD_OPTION_EXTERNAL_LOGGER, mhd_log, srv,
				h->cert ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END, h->cert,
				MHD_OPTION_HTTPS_MEM_KEY, h->key,
				MHD_OPTION_END);
	if (!h->d) {
		rc = kl_errf(err, -EADDRINUSE, "cannot listen on %s%s", cfg->listen,
			     h->cert ? " (address in use, or a bad TLS certificate or key)" :
			     " (address in use or not available)");
		goto fail;
	}
	info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
	h->port = info ? info->port : 0;
	kl_server_log(srv, KL_LOG_INFO, "listening on %s%.*s:%u (%u event loops, %u query "
		      "threads, %u connections, auth %s, multitenant %s, data in %s)",
		      h->cert ? "https://" : "http://",
		      (int)(strrchr(cfg->listen, ':') - cfg->listen), cfg->listen, h->port,
		      pool, cfg->threads, cfg->max_connections, cfg->auth ? "on" : "off",
		      cfg->multitenant ? "on" : "off", cfg->data_dir);
	if (!cfg->auth && !is_loopback(&ss))
		kl_server_log(srv, KL_LOG_WARN, "listening beyond loopback without "
			      "authentication: anyone who reaches %s can write and read profiles",
			      cfg->listen);
	*out = srv;
	return 0;
fail:
	kl_server_stop(srv);
	return rc;
}

unsigned long kl_server_in_flight(const struct kl_server *srv)
{
	const struct http_state *h = srv ? srv->http : NULL;
	long n = h ? atomic_load(&h->active) : 0;

	return n > 0 ? (unsigned long)n : 0;
}

unsigned kl_server_port(const struct kl_server *srv)
{
	return srv ? ((const struct http_state *)srv->http)->port : 0;
}

void kl_server_stop(struct kl_server *srv)
{
	struct http_state *h;
	int64_t deadline;

	if (!srv)
		return;
	h = srv->http;
	if (h && h->d) {
		/* stop accepting, let requests in flight finish, then close connections */
		/* the old listen socket is ours to close, but only after MHD_stop_daemon */
		MHD_socket ls = MHD_quiesce_daemon(h->d);

		deadline = clock_ns(CLOCK_MONOTONIC) + STOP_GRACE_NS;
		while (atomic_load(&h->active) > 0 && clock_ns(CLOCK_MONOTONIC) < deadline) {
			struct timespec ts = { 0, 5 * 1000000 };

			nanosleep(&ts, NULL);
		}
		/*
		 * MHD must not be stopped with a suspended connection: no new
		 * parks from here on, and the parked ones get their answer (the
		 * store and the query threads still run, so they all do).
		 */
		atomic_store(&h->stopping, true);
		while (atomic_load(&h->parked) > 0) {
			struct timespec ts = { 0, 2 * 1000000 };

			nanosleep(&ts, NULL);
		}
		MHD_stop_daemon(h->d);
		if (ls != MHD_INVALID_SOCKET)
			close(ls);
	}
	if (h && h->q_ok) {
		pthread_mutex_lock(&h->q_mu);
		h->q_stop = true;
		pthread_cond_broadcast(&h->q_cv);
		pthread_mutex_unlock(&h->q_mu);
		for (unsigned i = 0; i < h->nworkers; i++)
			pthread_join(h->workers[i], NULL);
	}
	kl_store_close(srv->store);
	kl_ratelimit_free(srv->ratelimit);
	kl_metrics_free(srv->metrics);
	if (h) {
		if (h->q_ok) {
			pthread_cond_destroy(&h->q_cv);
			pthread_mutex_destroy(&h->q_mu);
		}
		kl_free(h->workers);
		kl_free(h->cert);
		kl_free(h->key);
		kl_free(h);
	}
	kl_free(srv);
}
