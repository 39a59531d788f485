/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ingest.h - the protocol logic of kiln server's ingest endpoints, as pure
 * functions: Pyroscope's /ingest (query parameters, the name{} grammar,
 * time units, body formats, multipart) and Connect Push, turned into
 * series (one single-sample-type profile per label set). No sockets, no
 * storage: the HTTP layer calls these and hands the series to the store.
 * The rules come from docs/internals/ingest.md and pyroscope-compat.md.
 *
 * Errors: every function that can fail on client input returns 0 or a
 * negative code (-KL_EFORMAT, -KL_ELIMIT, -ENOMEM ...) and fills a struct
 * kl_http_err with the HTTP status to answer, the matching Connect code and
 * a one-line message. Bad input is always 4xx; only out of memory is 500.
 * Nothing here prints, exits, or keeps global state; all functions are
 * thread-safe (they touch only their arguments).
 */
#ifndef KL_INGEST_H
#define KL_INGEST_H

#include "../core/buf.h"
#include "../core/profile.h"
#include "../formats/formats.h"

/* ---- errors ------------------------------------------------------------ */

/*
 * An error for an HTTP answer. status: 400, 413, 422 ... (500 only for
 * out of memory); code: the Connect code ("invalid_argument",
 * "resource_exhausted", "internal" ...), a static string; e.msg: the
 * message (lower case, says what is wrong).
 */
struct kl_http_err {
	int status;
	const char *code;
	struct kl_err e;
};

/*
 * Fills *err (if not NULL) with status, the Connect code for status and
 * the formatted message; returns rc (negative) so error paths read
 * "return kl_http_errf(err, -KL_EFORMAT, 400, "...")".
 */
int kl_http_errf(struct kl_http_err *err, int rc, int status, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The Connect code for an HTTP status (400 -> "invalid_argument" ...). */
const char *kl_connect_code(int status);

/* The HTTP status the Connect protocol uses for a code (e.g. 429 for resource_exhausted). */
int kl_connect_status(const char *code);

/* Appends the Connect error body {"code":"...","message":"..."} to out. */
void kl_connect_error_json(const struct kl_http_err *err, struct kl_buf *out);

/* ---- limits ------------------------------------------------------------ */

/* Ingest limits. Zero fields take the defaults in brackets. */
struct kl_ingest_limits {
	size_t max_profile;	/* bytes of one profile after decompression [4 MiB] */
	size_t max_body;	/* bytes of a Push body after decompression [16 MiB] */
	uint32_t max_samples;	/* samples per profile [100,000] */
	uint32_t max_depth;	/* frames per stack, deeper is cut [1000] */
	uint32_t max_labels;	/* labels per series [30] */
	uint32_t max_name_len;	/* label name bytes [1024] */
	uint32_t max_value_len;	/* label value bytes [2048] */
	uint32_t max_parts;	/* multipart parts [16] */
};

/* The limits in effect: lim's, with defaults for zero fields (all when lim is NULL). */
struct kl_ingest_limits kl_ingest_limits_resolve(const struct kl_ingest_limits *lim);

/* ---- label sets ---------------------------------------------------------- */

struct kl_label_pair {
	char *name;		/* NUL-terminated, in the set's storage */
	char *value;		/* NUL-terminated, in the set's storage */
};

/* String storage of a label set (private to ingest_params.c). */
struct kl_labels_mem;

/*
 * A set of labels; kept sorted by name by kl_labels_sort. The names and
 * values live in chunks the set owns (mem), a few labels per allocation:
 * they never move while the set lives, so pointers to them stay valid until
 * kl_labels_release; the bytes of a replaced or deleted label are only
 * given back then. A set may be moved by copying the struct (the copy then
 * owns everything; release only one of them).
 */
struct kl_labels {
	struct kl_label_pair *v;
	size_t n, cap;
	struct kl_labels_mem *mem;
};

/*
 * Sets name to value[0..vlen): replaces the value if name is present,
 * else appends. 0 or -ENOMEM (the set is unchanged then).
 */
int kl_labels_set(struct kl_labels *ls, const char *name, const char *value, size_t vlen);
/* Adds name=value only if name is absent (used so series labels win). 0 or -ENOMEM. */
int kl_labels_add_absent(struct kl_labels *ls, const char *name, const char *value, size_t vlen);
/* The value of name, borrowed, or NULL. */
const char *kl_labels_get(const struct kl_labels *ls, const char *name);
/* Removes name if present. */
void kl_labels_del(struct kl_labels *ls, const char *name);
/*
 * Makes room for n more labels whose names and values take bytes bytes
 * (NUL terminators included), so that that many kl_labels_push (or
 * kl_labels_set) calls allocate nothing: at most two allocations for a
 * whole set. 0 or -ENOMEM (the labels are unchanged then).
 */
int kl_labels_reserve(struct kl_labels *ls, size_t n, size_t bytes);
/*
 * Appends name[0..nlen)=value[0..vlen) without looking for name: for a
 * caller that knows name is absent (a set must not hold a name twice).
 * 0 or -ENOMEM (the set is unchanged then).
 */
int kl_labels_push(struct kl_labels *ls, const char *name, size_t nlen, const char *value,
		   size_t vlen);
/*
 * Deep copy of src into *dst, which must hold no labels (it may have room
 * from kl_labels_reserve, used then), in two allocations at most. 0 or
 * -ENOMEM (dst is released then).
 */
int kl_labels_copy(struct kl_labels *dst, const struct kl_labels *src);
/* Sorts by name (names are unique in a set). */
void kl_labels_sort(struct kl_labels *ls);
/* Frees the strings and the array; the set is left empty and reusable. */
void kl_labels_release(struct kl_labels *ls);

/* ---- /ingest query parameters ------------------------------------------ */

/* The body format named by format= (dispatch of pyroscope-compat.md section 1). */
enum kl_ingest_format {
	KL_INGEST_FOLDED = 0,	/* no format, folded, collapsed, groups, anything unknown */
	KL_INGEST_PPROF,
	KL_INGEST_LINES,
	KL_INGEST_UNSUPPORTED,	/* trie, tree, jfr, speedscope: 400 "unsupported format" */
};

struct kl_ingest_params {
	char *app_name;		/* the name before '{' (owned) */
	struct kl_labels labels;	/* the name{} labels, unsorted, as given */
	int64_t from_ns, until_ns;	/* Unix nanoseconds */
	int64_t sample_rate;	/* Hz, >= 0; 100 when missing or invalid */
	char *spy_name;		/* owned; "unknown" when missing */
	enum kl_ingest_format format;
	char *format_name;	/* format= as given, owned; NULL when missing */
	char *units;		/* legacy metadata, owned or NULL */
	char *aggregation;	/* legacy metadata, owned or NULL */
};

/*
 * Parses the query parameters of /ingest. keys[i]/values[i] (n pairs) are
 * ALREADY URL-DECODED (libmicrohttpd's MHD_get_connection_values does it;
 * kl_query_parse below does it for a raw query string). now_ns is the
 * current time, a parameter so that results are deterministic. Unknown
 * parameters are ignored; for a repeated parameter the last one wins.
 * On success *out is filled (release with kl_ingest_params_release); on
 * failure it is left empty and err says which parameter is wrong (400).
 */
int kl_ingest_params_parse(const char *const *keys, const char *const *values, size_t n,
			   int64_t now_ns, struct kl_ingest_params *out, struct kl_http_err *err);

void kl_ingest_params_release(struct kl_ingest_params *p);

/*
 * Splits a raw query string "a=1&b=%7Bx%7D" into URL-decoded pairs ('+'
 * means space; bad %-escapes are kept literally). *keys and *values are
 * arrays of owned strings, freed with kl_query_free. At most max_pairs pairs
 * (more: -KL_ELIMIT, 400). 0 or negative.
 */
int kl_query_parse(const char *query, size_t max_pairs, char ***keys, char ***values, size_t *n,
		   struct kl_http_err *err);
void kl_query_free(char **keys, char **values, size_t n);

/*
 * Parses the name parameter, "app{k1=v1,k2=v2}" (braces optional, values
 * unquoted, whitespace around names and values trimmed, empty pairs from a
 * trailing ',' ignored). app gets an owned copy of the app name, labels
 * the pairs in order. Errors (400): empty or bad app name, bad label name,
 * missing '=', missing '}', text after '}', reserved name __name__,
 * duplicate label names.
 */
int kl_ingest_parse_name(const char *name, char **app, struct kl_labels *labels,
			 struct kl_http_err *err);

/*
 * Parses a time as /ingest and the query endpoints take it: all digits
 * -> 8 digits YYYYMMDD (UTC midnight, years 1970-2261), 13 ms, 16 us,
 * 19 ns, any other length seconds; "now"; "now-<n><unit>" (and "now+...") with units s,
 * m/min, h, d, w, M/mon, y (a month is 30 days, a year 365). Empty or NULL
 * s gives now_ns. *out is Unix nanoseconds. Error: 400 naming the text.
 */
int kl_parse_time(const char *s, int64_t now_ns, int64_t *out, struct kl_http_err *err);

/* ---- profile types of the text formats ---------------------------------- */

/* What an app-name suffix means for folded and lines bodies. */
struct kl_ingest_type {
	const char *name;	/* __name__: process_cpu, wall, memory ... */
	const char *type, *unit;	/* the sample type */
	const char *period_type, *period_unit;
	bool scale;		/* values are samples at sample_rate: x 1e9 / rate */
};

/*
 * Finds the type for app_name's suffix (after the last '.'; no dot = cpu)
 * at sample_rate. *service_len is the length of the service name (the app
 * name without a known suffix). An unknown suffix is 400 "unknown profile
 * type". For cpu/wall-like suffixes at sample_rate 0 the type is
 * samples:count without scaling.
 */
int kl_ingest_type_lookup(const char *app_name, int64_t sample_rate, struct kl_ingest_type *out,
			  size_t *service_len, struct kl_http_err *err);

/* ---- series -------------------------------------------------------------- */

/*
 * One stored unit: a label set and a profile of one sample type. A view
 * (profile NULL, src set; only in a set with views on) instead names sample
 * type `type` of the samples src->samples[sel[0..nsel)]: the store reads
 * those straight from the decoded profile, without a pruned copy per series.
 */
struct kl_series {
	struct kl_labels labels;	/* sorted; includes __name__, __profile_type__, service_name */
	struct kl_profile *profile;	/* owned; exactly one sample type; NULL in a view */
	int64_t start_ns, end_ns;	/* time range the profile covers */
	const struct kl_profile *src;	/* a view's source profile (the set keeps it) */
	const uint32_t *sel;		/* a view's sample indexes into src (the set's) */
	uint32_t nsel, type;		/* their count; the sample type index in src */
};

/* A source profile of views and their sample index lists, owned by the set. */
struct kl_series_src {
	struct kl_profile *p;	/* owned unless pending */
	uint32_t *order;	/* owned */
	bool pending;		/* p still belongs to the caller of kl_series_split */
};

struct kl_series_set {
	struct kl_series *v;
	size_t n, cap;
	/*
	 * Set by the caller before splitting into the set: kl_series_split then
	 * produces views (labels + sample selections) instead of profile copies,
	 * and its caller must hand the source over with kl_series_set_keep.
	 */
	bool views;
	struct kl_series_src *srcs;
	size_t nsrcs, srcs_cap;
};

/*
 * Called instead of kl_profile_free(p) after kl_series_split(p, ..., s,
 * ...): s takes p when some of its views read p, else p is freed. Never
 * fails. NULL p is fine.
 */
void kl_series_set_keep(struct kl_series_set *s, struct kl_profile *p);

/* Frees every series and the array; the set is left empty. NULL is fine. */
void kl_series_set_release(struct kl_series_set *s);

/*
 * Canonical key of a label set: "k1=v1,k2=v2" in name order (the set must be
 * sorted) with '\', ',' and '=' in names and values escaped by '\'.
 * Appends to out (check kl_buf_error).
 */
void kl_series_key(const struct kl_labels *ls, struct kl_buf *out);

/* 64-bit hash of the canonical key (stable across runs: xxh3). */
uint64_t kl_series_hash(const struct kl_labels *ls);

/*
 * The __name__ for a pprof's sample types (section 1 "pprof bodies"):
 * any type "wall" -> wall; else the first type containing cpu ->
 * process_cpu; alloc_/inuse_/space/objects -> memory; mutex_ -> mutex;
 * block_ -> block; goroutine -> goroutine; else the first type's name.
 * Returns a string borrowed from p or static.
 */
const char *kl_series_pprof_name(const struct kl_profile *p);

/*
 * Splits p (any number of sample types) into series appended to out:
 * one per (sample type, set of promoted sample labels). base holds the
 * series labels (need not be sorted; __name__ in base is used as-is when
 * present, else kl_series_pprof_name). String sample labels become series
 * labels (base wins on a clash) except span_id, trace_id and profile_id,
 * which stay on the samples with the numeric labels; labels named "__..."
 * are dropped except __session_id__. Samples whose value is 0 for a type
 * are left out of that type's series. time_nanos of 0 (or in 1970) is
 * replaced by from_ns; each series covers [from_ns, until_ns]. p is not
 * changed. With out->views the series are views of p (no copies, so no
 * time_nanos either: the store keeps only start_ns/end_ns) and the caller
 * must pass p to kl_series_set_keep(out, p) instead of freeing it.
 * 0 or negative (ELIMIT: too many labels or too long, 400).
 */
int kl_series_split(const struct kl_profile *p, const struct kl_labels *base, int64_t from_ns,
		    int64_t until_ns, const struct kl_ingest_limits *lim, struct kl_series_set *out,
		    struct kl_http_err *err);

/*
 * Validates a tenant id (X-Scope-OrgID): 1..150 chars of [A-Za-z0-9] and
 * !-_.*'(), not "." or "..". 0 or -KL_EFORMAT with a 400 message.
 */
int kl_tenant_validate(const char *tenant, struct kl_http_err *err);

/* ---- /ingest bodies -------------------------------------------------------- */

/* One entry of sample_type_config. */
struct kl_sample_type_config {
	char *type;		/* the key: a pprof sample type name (owned) */
	char *units, *aggregation, *display_name;	/* owned or NULL */
	bool sampled, cumulative;
};

/*
 * Parses sample_type_config JSON. *out is an owned array of *n entries
 * (free with kl_sample_type_config_free). 400 on bad JSON or wrong types.
 */
int kl_sample_type_config_parse(const uint8_t *json, size_t len,
				struct kl_sample_type_config **out, size_t *n,
				struct kl_http_err *err);
void kl_sample_type_config_free(struct kl_sample_type_config *c, size_t n);

/* Renames p's sample types by display-name. 0 or -ENOMEM. */
int kl_sample_type_config_apply(const struct kl_sample_type_config *c, size_t n,
				struct kl_profile *p);

/* One part of a multipart/form-data body, borrowed from the body. */
struct kl_multipart_part {
	const char *name;	/* the form field name (not NUL-terminated) */
	size_t name_len;
	const uint8_t *data;
	size_t len;
};

/*
 * Parses a multipart/form-data body given the Content-Type header (which
 * carries the boundary, quoted or not). Parts point into body. CRLF or bare
 * LF line ends are accepted; at most max_parts parts; a part without a
 * form-data name is skipped. 400 on a missing boundary or a truncated body.
 */
int kl_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
		       struct kl_multipart_part *parts, size_t max_parts, size_t *nparts,
		       struct kl_http_err *err);

/*
 * Reads a folded or lines body as a profile of the type given by the
 * app-name suffix table, values scaled by 1e9 / sample_rate for cpu-like
 * types. lines: each line is a stack counting 1; identical stacks add up.
 * folded: split at the last space, lines without one skipped, bad count 400.
 */
int kl_ingest_text(const uint8_t *body, size_t len, bool lines, const struct kl_ingest_type *t,
		   int64_t sample_rate, const struct kl_ingest_limits *lim,
		   struct kl_profile **out, struct kl_http_err *err);

/*
 * Handles a whole /ingest request: params (from kl_ingest_params_parse),
 * the Content-Type header (may be NULL) and the body (the HTTP layer has
 * already undone any Content-Encoding). Dispatches as section 1 says and
 * appends the resulting series to out. Returns 0, or negative with err set
 * (400 bad input, 413 over a size limit, 500 out of memory). On failure
 * nothing is appended.
 */
int kl_ingest_request(const struct kl_ingest_params *params, const char *content_type,
		      const uint8_t *body, size_t len, const struct kl_ingest_limits *lim,
		      struct kl_series_set *out, struct kl_http_err *err);

/* ---- Connect Push ----------------------------------------------------------- */

/*
 * Decodes standard or URL-safe base64, padded or not, ignoring nothing
 * (whitespace is an error). Appends to out. 0 or -KL_EFORMAT.
 */
int kl_base64_decode(const char *s, size_t len, struct kl_buf *out);

/*
 * Handles a POST /push.v1.PusherService/Push body. content_type:
 * "application/proto" (binary protobuf) or "application/json" (protojson);
 * content_encoding: NULL/"identity" or "gzip" (the whole body). Each raw
 * profile is read as pprof and split (kl_series_split) under its series'
 * labels; a missing service_name becomes unknown_service. now_ns replaces
 * a missing profile time. Appends to out; on failure nothing is appended
 * and err has the status and Connect code (400 invalid_argument, 413
 * resource_exhausted for size limits, 415 for an unknown content type or
 * encoding, 500 internal for out of memory): answer with err->status and
 * the body from kl_connect_error_json.
 */
int kl_push_decode(const char *content_type, const char *content_encoding, const uint8_t *body,
		   size_t len, int64_t now_ns, const struct kl_ingest_limits *lim,
		   struct kl_series_set *out, struct kl_http_err *err);

/*
 * Appends a binary PushRequest with one series (labels, in their order)
 * holding one raw profile (pprof bytes, gzipped or not) to out: what SDKs
 * send, for the load generator, benchmarks and tests. Check
 * kl_buf_error(out).
 */
void kl_push_encode(const struct kl_labels *labels, const void *raw, size_t len,
		    struct kl_buf *out);

#endif /* KL_INGEST_H */
