/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.h - kiln server: configuration, the request/response shape every
 * endpoint handler sees, and the route table.
 *
 * The HTTP library (libmicrohttpd) stays inside http.c: it collects a
 * request (headers, URL-decoded query parameters, the body with any
 * Content-Encoding undone under the size limits), authenticates it
 * (auth.c resolves the tenant), calls the route's handler with a struct
 * kl_req, and sends the struct kl_resp back (gzip-compressed when the
 * client accepts it and the body is worth compressing). Handlers are plain
 * functions of (server, request) -> response: no sockets, no globals, so
 * they run the same under a test as under the server.
 *
 *   http.c        libmicrohttpd glue, body collection, gzip, routing
 *   config.c      settings from flags, KILN_* environment, YAML file
 *   auth.c        bearer tokens / basic auth -> tenant and rights
 *   metrics.c     counters and histograms, Prometheus text
 *   h_ingest.c    /ingest, /pyroscope/ingest, Push
 *   h_render.c    /pyroscope/render, /render, render-diff
 *   h_labels.c    label-values, labels, /api/apps, series
 *   h_misc.c      /healthz, /ready, /metrics
 */
#ifndef KL_SERVER_H
#define KL_SERVER_H

#include "../core/buf.h"
#include "../store/store.h"
#include "ingest.h"

/* ---- configuration --------------------------------------------------------- */

/* What a token may do. */
enum kl_right {
	KL_RIGHT_INGEST = 1 << 0,
	KL_RIGHT_READ = 1 << 1,
};

/* A credential: a bearer token, or a basic-auth user:password, bound to a tenant. */
struct kl_token {
	char *secret;		/* the bearer token, or "user:password" for basic auth (owned) */
	char *tenant;		/* owned */
	unsigned rights;	/* enum kl_right bits */
};

/*
 * Every setting of kiln server. kl_config_init fills the defaults; flags,
 * KILN_* variables and a YAML file (in that precedence) override them.
 * docs/server.md lists every field with its flag, variable and YAML key.
 */
struct kl_config {
	char *listen;		/* host:port [127.0.0.1:4040] */
	char *data_dir;		/* [./kiln-data] */
	unsigned threads;	/* query threads; event loops: min(cores, this) [0: 2 x cores, >= 4] */
	unsigned max_connections;	/* open connections at once [256] */
	struct kl_store_opts store;	/* memory, retention, sync ... (dir = data_dir) */
	struct kl_ingest_limits limits;
	size_t max_request_bytes;	/* request body as sent, before decompression [16 MiB] */
	uint64_t ingest_rate_bytes;	/* per tenant, bytes/s of bodies, 0 = none [0] */
	uint64_t ingest_burst_bytes;	/* token bucket size [4 x rate] */
	uint32_t max_nodes_default;	/* render maxNodes when absent [8192] */
	uint32_t max_nodes_limit;	/* largest maxNodes accepted [65536] */
	int64_t default_range_ns;	/* query range when from is missing [1 h] */
	bool multitenant;	/* honour X-Scope-OrgID; off: tenant "anonymous" */
	bool auth;		/* require a token; on as soon as a token is configured */
	struct kl_token *tokens;	/* owned array */
	size_t ntokens;
	char *tls_cert, *tls_key;	/* PEM files; both set = HTTPS */
	bool self_profile;	/* profile the server into its own store */
	char *log_level;	/* error, warn, info, debug [info] */
	char *config_file;	/* --config, for messages */
};

/* Defaults into *c (which is overwritten). */
void kl_config_init(struct kl_config *c);

/*
 * Reads settings: the YAML file named by --config / KILN_CONFIG (if any),
 * then KILN_* variables from envp, then the flags argv[0..argc) (argv[0]
 * is the first flag, not the program name). Unknown flags, unknown YAML
 * keys, bad values: -KL_EUSAGE with a one-line message naming the setting
 * and where it came from. --help: returns 1 (the caller prints
 * kl_config_usage). 0 on success.
 */
int kl_config_load(struct kl_config *c, int argc, const char **argv, const char *const *envp,
		   struct kl_err *err);

/* The --help text: every setting, its flag, variable, default. */
void kl_config_usage(struct kl_buf *out);

void kl_config_release(struct kl_config *c);

/* ---- requests and responses ------------------------------------------------- */

struct kl_server;
struct kl_metrics;

struct kl_req {
	const char *method;	/* "GET", "POST" ... */
	const char *path;	/* without the query string */
	const char *const *keys;	/* URL-decoded query parameters */
	const char *const *values;
	size_t nparams;
	const char *content_type;	/* header values, NULL when absent */
	const char *content_encoding;	/* of the original body; body is already decoded */
	const char *user_agent;
	const char *if_none_match;	/* If-None-Match header (h_static.c: ETags) */
	const uint8_t *body;	/* decoded body (NULL when empty) */
	size_t body_len;
	size_t wire_bytes;	/* body bytes as received */
	const char *tenant;	/* resolved by auth: never NULL */
	int64_t now_ns;		/* the request's arrival, Unix ns */
};

/* The value of query parameter name (last one wins), or NULL. */
const char *kl_req_param(const struct kl_req *r, const char *name);

struct kl_resp {
	int status;		/* 200 by default */
	const char *content_type;	/* static string; [text/plain; charset=utf-8] */
	const char *content_disposition;	/* static or NULL (exports) */
	const char *cache_control;	/* static or NULL: Cache-Control header (h_static.c) */
	char etag[24];		/* ETag header value (quoted) when not empty (h_static.c) */
	struct kl_buf body;	/* owned by the response */
};

/*
 * Sets an error answer: status and a one-line text (or for Connect routes
 * the JSON error body, see kl_resp_connect_error). Returns nothing.
 */
void kl_resp_error(struct kl_resp *r, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void kl_resp_http_err(struct kl_resp *r, const struct kl_http_err *e);
void kl_resp_connect_error(struct kl_resp *r, const struct kl_http_err *e);

/*
 * Maps a store error code to an HTTP status: -ENOSPC 507, -EIO 503,
 * -KL_ELIMIT 429 (ingest) / 422 (query), -KL_EUSAGE 400, -ENOMEM 500.
 */
int kl_store_status(int rc, bool ingest);

/* ---- the server ----------------------------------------------------------------- */

struct kl_server {
	struct kl_config *cfg;	/* borrowed */
	struct kl_store *store;	/* owned */
	struct kl_metrics *metrics;	/* owned */
	void *http;		/* http.c's state */
	struct kl_ratelimit *ratelimit;	/* owned: per-tenant ingest rate (auth.c) */
};

typedef void (*kl_handler_fn)(struct kl_server *srv, const struct kl_req *req,
			      struct kl_resp *resp);

struct kl_route {
	const char *method;	/* "GET", "POST", or NULL = GET and POST */
	const char *path;	/* exact path */
	unsigned right;		/* enum kl_right the route needs; 0 = open (health) */
	bool connect;		/* errors as Connect JSON */
	kl_handler_fn fn;
};

/* The route table, terminated by an entry with path NULL. */
extern const struct kl_route kl_routes[];

/* Handlers (one file per family, see the list at the top). */
void kl_h_ingest(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_push(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_render(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_render_diff(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_label_values(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_label_names(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_apps(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_series(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_healthz(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_ready(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_metrics(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
/* h_static.c: the web UI's embedded files (/, /assets/...) and /api/convert (docs/ui.md) */
void kl_h_static(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);
void kl_h_convert(struct kl_server *srv, const struct kl_req *req, struct kl_resp *resp);

/*
 * Starts the server described by cfg (opens the store, binds, starts the
 * event loops and query threads). 0 or negative with text; cfg must
 * outlive the server.
 */
int kl_server_start(struct kl_config *cfg, struct kl_server **out, struct kl_err *err);

/* The port actually bound (useful with --listen 127.0.0.1:0). */
unsigned kl_server_port(const struct kl_server *srv);

/*
 * Stops accepting, finishes requests in flight (30 s of grace; parked ones
 * are always answered), closes the store. NULL is fine.
 */
void kl_server_stop(struct kl_server *srv);

/* ---- metrics ---------------------------------------------------------------------- */

/* Counters the handlers bump; the names are the Prometheus metric names. */
enum kl_counter {
	KL_C_INGEST_PROFILES,	/* kiln_ingest_profiles_total: series profiles stored */
	KL_C_INGEST_REQUESTS,	/* kiln_ingest_requests_total */
	KL_C_INGEST_BYTES,	/* kiln_ingest_bytes_total: body bytes as received */
	KL_C_DISCARD_BAD_INPUT,	/* kiln_discarded_total{reason="bad_input"} */
	KL_C_DISCARD_TOO_LARGE,	/* ...{reason="too_large"} */
	KL_C_DISCARD_RATE_LIMIT,	/* ...{reason="rate_limited"} */
	KL_C_DISCARD_SERIES_LIMIT,	/* ...{reason="series_limit"} */
	KL_C_DISCARD_DISK_FULL,	/* ...{reason="disk_full"} */
	KL_C_DISCARD_AUTH,	/* ...{reason="unauthorized"} */
	KL_C_STACKS_TRUNCATED,	/* kiln_stacks_truncated_total */
	KL_C_QUERY_ERRORS,	/* kiln_query_errors_total */
	KL_C_NCOUNTERS
};

/* Adds n to a counter (thread-safe, lock-free). */
void kl_metrics_add(struct kl_metrics *m, enum kl_counter c, uint64_t n);

/* Records one request's latency for route (an index into kl_routes). */
void kl_metrics_observe(struct kl_metrics *m, size_t route, double seconds);

/* ---- internals shared by http.c, auth.c, metrics.c and the handlers ------------ */

/*
 * Authenticates one request for a route needing right (0 = open route:
 * always succeeds). authorization and org_id are the header values (NULL
 * when absent). *tenant is set to the tenant the request acts on: the
 * token's tenant, X-Scope-OrgID (multitenant, or a token for tenant "*"),
 * or "anonymous"; it points into cfg or org_id. Errors: 401 (no or bad
 * credentials), 403 (right missing, X-Scope-OrgID not the token's tenant),
 * 400 (bad tenant id); err has the status and message. Thread-safe.
 */
int kl_auth_resolve(const struct kl_config *cfg, const char *authorization, const char *org_id,
		    unsigned right, const char **tenant, struct kl_http_err *err);

/* Per-tenant token buckets of body bytes (ingest_rate_bytes). Thread-safe. */
struct kl_ratelimit;

/* rate 0 = unlimited (take always succeeds). 0 or -ENOMEM. */
int kl_ratelimit_new(uint64_t rate, uint64_t burst, struct kl_ratelimit **out);
void kl_ratelimit_free(struct kl_ratelimit *rl);

/*
 * Takes n bytes from tenant's bucket at time now_ns: true if allowed. A
 * request larger than the bucket passes when the bucket is full (the
 * bucket goes into debt), so no size is refused forever.
 */
bool kl_ratelimit_take(struct kl_ratelimit *rl, const char *tenant, uint64_t n, int64_t now_ns);

/* Metrics registry sized for kl_routes. 0 or -ENOMEM. */
int kl_metrics_new(struct kl_metrics **out);
void kl_metrics_free(struct kl_metrics *m);
uint64_t kl_metrics_get(const struct kl_metrics *m, enum kl_counter c);

/* Counts a response status for route (kiln_http_requests_total{route,code}). */
void kl_metrics_status(struct kl_metrics *m, size_t route, int status);

/* Appends the counters and histograms in Prometheus text format to out. */
void kl_metrics_write(const struct kl_metrics *m, struct kl_buf *out);

/*
 * Writes one log line to stderr ("<time> <level> <message>") if level is
 * within the server's --log-level. Thread-safe; srv NULL logs at info.
 */
void kl_server_log(const struct kl_server *srv, enum kl_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * How an ingest handler answers once its append has an outcome: kept by
 * http.c while the connection is parked (the struct kl_req is gone by
 * then, so everything finish needs is in here).
 */
struct kl_park {
	/* fills resp for the append's result rc (0, or negative with err) */
	void (*finish)(struct kl_server *srv, const struct kl_park *pk, int rc,
		       const struct kl_err *err, struct kl_resp *resp);
	const char *tenant;	/* borrowed: valid for the request's life */
	size_t n;		/* series appended */
	bool json;		/* Push: the answer is JSON */
};

/*
 * Appends v[0..n) to the store for tenant on behalf of the request the
 * calling thread is handling. Inside the server with a WAL it PARKS the
 * request: the records go into the WAL buffer, 1 is returned at once, and
 * the handler must return without touching its response; once the group
 * commit has made them durable (or failed) http.c resumes the connection
 * and calls pk->finish (copied) to fill the answer. Otherwise (no WAL,
 * an error before the WAL, outside a request: unit tests, the server
 * stopping) it returns kl_store_append's result, 0 or negative with err,
 * and the handler answers itself (typically with pk->finish too). The
 * series are only read during the call.
 */
int kl_server_append(struct kl_server *srv, const char *tenant, const struct kl_series *v,
		     size_t n, const struct kl_park *pk, struct kl_err *err);

/* Requests received and not yet answered completely (for /metrics). */
unsigned long kl_server_in_flight(const struct kl_server *srv);

/* Parses a level name (error, warn, info, debug). 0 or -KL_EUSAGE. */
int kl_log_level_parse(const char *s, enum kl_log_level *out);

#endif /* KL_SERVER_H */
