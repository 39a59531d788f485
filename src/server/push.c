/* SPDX-License-Identifier: Apache-2.0 */
/*
 * push.c - Connect unary POST /push.v1.PusherService/Push (pyroscope-compat.md
 * section 2): a PushRequest in binary protobuf (decoded by hand, as
 * src/formats/pprof.c does for profile.proto) or in protojson (jansson,
 * raw profiles in base64), optionally gzip as a whole. Every raw profile is
 * read as pprof and split into series under its series' labels.
 *
 *   PushRequest      { repeated RawProfileSeries series = 1; }
 *   RawProfileSeries { repeated LabelPair labels = 1; repeated RawSample samples = 2; }
 *   RawSample        { bytes raw_profile = 1; string ID = 2; }
 *   LabelPair        { string name = 1; string value = 2; }
 */
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "formats/protowire.h"
#include "ingest.h"

/* ---- base64 ----------------------------------------------------------------- */

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

int kl_base64_decode(const char *s, size_t len, struct kl_buf *out)
{
	uint32_t acc = 0;
	int bits = 0;

	/* padding only at the end, at most two, and only where a group is short */
	while (len > 0 && s[len - 1] == '=') {
		len--;
		if (++bits > 2)
			return -KL_EFORMAT;
	}
	if (bits && (len + (size_t)bits) % 4)
		return -KL_EFORMAT;
	bits = 0;
	if (len % 4 == 1)
		return -KL_EFORMAT;	/* one char cannot hold a byte */
	if (kl_buf_reserve(out, len / 4 * 3 + 3))
		return kl_buf_error(out);
	for (size_t i = 0; i < len; i++) {
		int v = b64val((unsigned char)s[i]);

		if (v < 0)
			return -KL_EFORMAT;
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			kl_buf_addch(out, (char)(acc >> bits & 0xff));
		}
	}
	return kl_buf_error(out);
}

/* ---- one series ----------------------------------------------------------------- */

/* Reads one raw profile and splits it under labels. */
static int push_profile(const uint8_t *raw, size_t len, const struct kl_labels *labels,
			int64_t now_ns, const struct kl_ingest_limits *l, struct kl_series_set *out,
			struct kl_http_err *err)
{
	const struct kl_read_limits rl = {
		.max_input = l->max_profile,
		.max_samples = l->max_samples,
		.max_depth = l->max_depth,
	};
	struct kl_profile *p = NULL;
	struct kl_err e;
	int64_t from, until;
	int rc;

	rc = kl_pprof_read_spare(raw, len, &rl, &p, &e);
	if (rc)
		return kl_http_errf(err, rc, rc == -ENOMEM ? 500 : rc == -KL_ELIMIT ? 413 : 400,
				    "%s", e.msg);
	from = p->time_nanos >= INT64_C(365) * 86400 * 1000000000 ? p->time_nanos : now_ns;
	if (p->duration_nanos <= 0 || __builtin_add_overflow(from, p->duration_nanos, &until))
		until = from;
	rc = kl_series_split(p, labels, from, until, l, out, err);
	kl_series_set_keep(out, p);
	return rc;
}

/* The service_name default, once a series' labels are all known. */
static int finish_labels(struct kl_labels *ls, struct kl_http_err *err)
{
	const char *svc = kl_labels_get(ls, "service_name");

	if ((!svc || !*svc) && kl_labels_set(ls, "service_name", "unknown_service", 15))
		return kl_http_errf(err, -ENOMEM, 500, "out of memory");
	return 0;
}

static int set_label(struct kl_labels *ls, const char *name, size_t nlen, const char *value,
		     size_t vlen, struct kl_http_err *err)
{
	char key[1025];

	if (nlen == 0)
		return kl_http_errf(err, -KL_EFORMAT, 400, "push: empty label name");
	if (nlen >= sizeof(key))
		return kl_http_errf(err, -KL_ELIMIT, 400, "push: label name longer than %zu bytes",
				    sizeof(key) - 1);
	if (memchr(name, '\0', nlen) || memchr(value, '\0', vlen))
		return kl_http_errf(err, -KL_EFORMAT, 400, "push: NUL byte in a label");
	memcpy(key, name, nlen);
	key[nlen] = '\0';
	if (kl_labels_set(ls, key, value, vlen))
		return kl_http_errf(err, -ENOMEM, 500, "out of memory");
	return 0;
}

/* ---- binary protobuf --------------------------------------------------------------- */

/*
 * The next field: 1 with *field set and, for a length-delimited field, *sub
 * its payload (other wire types are skipped and reported with sub empty;
 * fixed-width ones with *field 0, never a known field); 0 at the end; -1 on
 * malformed data.
 */
static int push_next(struct pb *b, uint32_t *field, struct pb *sub)
{
	uint32_t wt;

	if (b->p >= b->end)
		return 0;
	if (!pb_key(b, field, &wt))
		return -1;
	*sub = (struct pb){ NULL, NULL };
	if (wt == WT_LEN)
		return pb_sub(b, sub) ? 1 : -1;
	if (!pb_skip(b, wt))
		return -1;
	if (wt != WT_VARINT)
		*field = 0;
	return 1;
}

#define PB_MALFORMED(what) \
	kl_http_errf(err, -KL_EFORMAT, 400, "push: malformed protobuf in %s", what)

static int push_label(struct pb m, struct kl_labels *ls, struct kl_http_err *err)
{
	struct pb sub, name = { NULL, NULL }, value = { NULL, NULL };
	uint32_t f;
	int r;

	while ((r = push_next(&m, &f, &sub)) > 0) {
		if (f == 1 && sub.p)
			name = sub;
		else if (f == 2 && sub.p)
			value = sub;
		else if (f == 1 || f == 2)
			return PB_MALFORMED("LabelPair");
	}
	if (r < 0)
		return PB_MALFORMED("LabelPair");
	return set_label(ls, (const char *)name.p, (size_t)(name.end - name.p),
			 value.p ? (const char *)value.p : "", (size_t)(value.end - value.p), err);
}

static int push_series(struct pb m, int64_t now_ns, const struct kl_ingest_limits *l,
		     struct kl_series_set *out, struct kl_http_err *err)
{
	struct kl_labels ls = { 0 };
	struct pb b = m, sub;
	uint32_t f;
	int r, rc = 0;

	/* labels first: they may follow the samples on the wire */
	while ((r = push_next(&b, &f, &sub)) > 0) {
		if (f == 1 && !sub.p) {
			rc = PB_MALFORMED("RawProfileSeries");
			goto out;
		}
		if (f == 1 && (rc = push_label(sub, &ls, err)))
			goto out;
		if (ls.n > 4 * (size_t)l->max_labels) {
			rc = kl_http_errf(err, -KL_ELIMIT, 400, "push: more than %u labels in a series",
					  l->max_labels);
			goto out;
		}
	}
	if (r < 0) {
		rc = PB_MALFORMED("RawProfileSeries");
		goto out;
	}
	if ((rc = finish_labels(&ls, err)))
		goto out;
	b = m;
	while ((r = push_next(&b, &f, &sub)) > 0) {
		struct pb s = sub, raw = { NULL, NULL }, x;
		uint32_t g;
		int r2;

		if (f != 2)
			continue;
		if (!sub.p) {
			rc = PB_MALFORMED("RawProfileSeries");
			goto out;
		}
		while ((r2 = push_next(&s, &g, &x)) > 0)
			if (g == 1 && x.p)
				raw = x;
		if (r2 < 0) {
			rc = PB_MALFORMED("RawSample");
			goto out;
		}
		if (!raw.p || raw.p == raw.end) {
			rc = kl_http_errf(err, -KL_EFORMAT, 400, "push: sample without raw_profile");
			goto out;
		}
		if ((rc = push_profile(raw.p, (size_t)(raw.end - raw.p), &ls, now_ns, l, out, err)))
			goto out;
	}
out:
	kl_labels_release(&ls);
	return rc;
}

static int push_proto(const uint8_t *body, size_t len, int64_t now_ns,
		      const struct kl_ingest_limits *l, struct kl_series_set *out,
		      struct kl_http_err *err)
{
	struct pb b = { body, body + len }, sub;
	uint32_t f;
	int r, rc;

	while ((r = push_next(&b, &f, &sub)) > 0) {
		if (f != 1)
			continue;
		if (!sub.p)
			return PB_MALFORMED("PushRequest");
		if ((rc = push_series(sub, now_ns, l, out, err)))
			return rc;
	}
	return r < 0 ? PB_MALFORMED("PushRequest") : 0;
}

/* ---- protojson ------------------------------------------------------------------------ */

static int push_json(const uint8_t *body, size_t len, int64_t now_ns,
		     const struct kl_ingest_limits *l, struct kl_series_set *out,
		     struct kl_http_err *err)
{
	struct kl_buf raw = KL_BUF_INIT;
	json_error_t jerr;
	json_t *root, *series, *s;
	size_t i;
	int rc = 0;

	root = json_loadb((const char *)body, len, 0, &jerr);
	if (!root)
		return kl_http_errf(err, -KL_EFORMAT, 400, "push: bad JSON: %s at line %d",
				    jerr.text, jerr.line);
	kl_buf_init(&raw, l->max_profile + 4);
	series = json_object_get(root, "series");
	if (!json_is_object(root) || (series && !json_is_array(series) && !json_is_null(series))) {
		rc = kl_http_errf(err, -KL_EFORMAT, 400, "push: want {\"series\": [...]}");
		goto out;
	}
	json_array_foreach(series, i, s) {
		json_t *labels = json_object_get(s, "labels");
		json_t *samples = json_object_get(s, "samples");
		struct kl_labels ls = { 0 };
		json_t *x;
		size_t j;

		if (!json_is_object(s) || (labels && !json_is_array(labels)) ||
		    (samples && !json_is_array(samples))) {
			rc = kl_http_errf(err, -KL_EFORMAT, 400,
					  "push: series %zu: want {\"labels\": [...], \"samples\": [...]}",
					  i);
			goto out;
		}
		json_array_foreach(labels, j, x) {
			json_t *n = json_object_get(x, "name"), *v = json_object_get(x, "value");

			if (!json_is_string(n) || (v && !json_is_string(v))) {
				rc = kl_http_errf(err, -KL_EFORMAT, 400,
						  "push: series %zu: label %zu needs string name and value",
						  i, j);
				break;
			}
			if (j >= 4 * (size_t)l->max_labels) {
				rc = kl_http_errf(err, -KL_ELIMIT, 400,
						  "push: more than %u labels in a series", l->max_labels);
				break;
			}
			if ((rc = set_label(&ls, json_string_value(n), json_string_length(n),
					    v ? json_string_value(v) : "", v ? json_string_length(v) : 0,
					    err)))
				break;
		}
		if (!rc)
			rc = finish_labels(&ls, err);
		json_array_foreach(samples, j, x) {
			json_t *r = json_object_get(x, "rawProfile");

			if (rc)
				break;
			if (!r)
				r = json_object_get(x, "raw_profile");
			if (!json_is_string(r) || json_string_length(r) == 0) {
				rc = kl_http_errf(err, -KL_EFORMAT, 400,
						  "push: series %zu: sample %zu has no rawProfile", i, j);
				break;
			}
			kl_buf_release(&raw);	/* empty, the limit kept */
			rc = kl_base64_decode(json_string_value(r), json_string_length(r), &raw);
			if (rc == -KL_ELIMIT) {
				rc = kl_http_errf(err, rc, 413,
						  "push: raw profile larger than %zu bytes", l->max_profile);
				break;
			}
			if (rc) {
				rc = kl_http_errf(err, rc, rc == -ENOMEM ? 500 : 400,
						  "push: series %zu: sample %zu: rawProfile is not base64",
						  i, j);
				break;
			}
			rc = push_profile((const uint8_t *)raw.data, raw.len, &ls, now_ns, l, out, err);
		}
		kl_labels_release(&ls);
		if (rc)
			goto out;
	}
out:
	kl_buf_release(&raw);
	json_decref(root);
	return rc;
}

/* ---- entry point ------------------------------------------------------------------------ */

int kl_push_decode(const char *content_type, const char *content_encoding, const uint8_t *body,
		   size_t len, int64_t now_ns, const struct kl_ingest_limits *lim,
		   struct kl_series_set *out, struct kl_http_err *err)
{
	const struct kl_ingest_limits l = kl_ingest_limits_resolve(lim);
	struct kl_buf plain = KL_BUF_INIT;
	size_t n0 = out->n;
	bool json;
	int rc;

	if (!content_type)
		content_type = "application/proto";
	if (!strncasecmp(content_type, "application/proto", 17)) {
		json = false;
	} else if (!strncasecmp(content_type, "application/json", 16)) {
		json = true;
	} else {
		return kl_http_errf(err, -KL_EFORMAT, 415,
				    "push: unsupported content type \"%.64s\" (want application/proto "
				    "or application/json)", content_type);
	}
	if (!body)
		body = (const uint8_t *)"";
	if (content_encoding && !strcasecmp(content_encoding, "gzip")) {
		struct kl_err e;

		rc = kl_gunzip(body, len, l.max_body, &plain, &e);
		if (rc) {
			rc = kl_http_errf(err, rc, rc == -ENOMEM ? 500 : rc == -KL_ELIMIT ? 413 : 400,
					  "push: %s", e.msg);
			goto out;
		}
		body = (const uint8_t *)(plain.data ? plain.data : "");
		len = plain.len;
	} else if (content_encoding && *content_encoding && strcasecmp(content_encoding, "identity")) {
		return kl_http_errf(err, -KL_EFORMAT, 415, "push: unsupported content encoding \"%.32s\"",
				    content_encoding);
	} else if (len > l.max_body) {
		return kl_http_errf(err, -KL_ELIMIT, 413, "push: body of %zu bytes exceeds the limit of %zu",
				    len, l.max_body);
	}
	rc = json ? push_json(body, len, now_ns, &l, out, err) : push_proto(body, len, now_ns, &l, out,
									    err);
out:
	if (rc) {
		/* all or nothing: drop what earlier series of this request added */
		for (size_t i = n0; i < out->n; i++) {
			kl_labels_release(&out->v[i].labels);
			kl_profile_free(out->v[i].profile);
		}
		out->n = n0;
	}
	kl_buf_release(&plain);
	return rc;
}

/* ---- encoding ----------------------------------------------------------------- */

static void put_varint(struct kl_buf *b, uint64_t v)
{
	char tmp[10];
	size_t n = 0;

	while (v >= 0x80) {
		tmp[n++] = (char)(v | 0x80);
		v >>= 7;
	}
	tmp[n++] = (char)v;
	kl_buf_add(b, tmp, n);
}

static void put_bytes(struct kl_buf *b, uint32_t field, const void *data, size_t len)
{
	put_varint(b, (uint64_t)field << 3 | WT_LEN);
	put_varint(b, len);
	kl_buf_add(b, data, len);
}

void kl_push_encode(const struct kl_labels *labels, const void *raw, size_t len,
		    struct kl_buf *out)
{
	struct kl_buf series = KL_BUF_INIT, m = KL_BUF_INIT;

	/* RawProfileSeries{labels: 1 LabelPair{name 1, value 2}, samples: 2 RawSample{raw 1}} */
	for (size_t i = 0; i < labels->n; i++) {
		m.len = 0;
		put_bytes(&m, 1, labels->v[i].name, strlen(labels->v[i].name));
		put_bytes(&m, 2, labels->v[i].value, strlen(labels->v[i].value));
		put_bytes(&series, 1, m.data, m.len);
	}
	m.len = 0;
	put_bytes(&m, 1, raw, len);
	put_bytes(&series, 2, m.data, m.len);
	/* PushRequest{series: 1} */
	put_bytes(out, 1, series.data, series.len);
	if (!kl_buf_error(out) && (kl_buf_error(&series) || kl_buf_error(&m)))
		out->error = kl_buf_error(&series) ? kl_buf_error(&series) : kl_buf_error(&m);
	kl_buf_release(&series);
	kl_buf_release(&m);
}
