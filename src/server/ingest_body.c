/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ingest_body.c - /ingest bodies: the dispatch of pyroscope-compat.md
 * section 1 (pprof, multipart form, lines, folded), the multipart parser,
 * sample_type_config, and the text formats scaled to time by sampleRate.
 * Everything ends in kl_series_split.
 *
 * Sections: multipart, sample_type_config, text bodies, dispatch.
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "../formats/folded_internal.h"
#include "ingest.h"

/* Maps a format reader's error code to an HTTP status: limits are 413. */
static int reader_status(int rc)
{
	if (rc == -ENOMEM)
		return 500;
	return rc == -KL_ELIMIT ? 413 : 400;
}

/* Fills err from a reader's kl_err. */
static int reader_err(struct kl_http_err *err, int rc, const struct kl_err *e)
{
	return kl_http_errf(err, rc, reader_status(rc), "%s", e->msg);
}

static struct kl_read_limits read_limits(const struct kl_ingest_limits *l)
{
	return (struct kl_read_limits){
		.max_input = l->max_profile,
		.max_samples = l->max_samples,
		.max_depth = l->max_depth,
	};
}

/* ---- multipart ---------------------------------------------------------------- */

/* The value of parameter param (e.g. "boundary") in a header value, into out. */
static bool header_param(const char *h, size_t hlen, const char *param, const char **val,
			 size_t *vlen)
{
	size_t plen = strlen(param);
	const char *p = h, *end = h + hlen;

	while (p < end) {
		const char *semi = memchr(p, ';', (size_t)(end - p));
		const char *e = semi ? semi : end;

		while (p < e && (*p == ' ' || *p == '\t'))
			p++;
		if ((size_t)(e - p) > plen && !strncasecmp(p, param, plen) && p[plen] == '=') {
			const char *v = p + plen + 1;

			if (v < e && *v == '"') {
				const char *q = memchr(v + 1, '"', (size_t)(end - v - 1));

				if (!q)
					return false;
				*val = v + 1;
				*vlen = (size_t)(q - v - 1);
			} else {
				while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
					e--;
				*val = v;
				*vlen = (size_t)(e - v);
			}
			return true;
		}
		p = e + 1;
	}
	return false;
}

/* Moves *p past one line end (CRLF or LF); false if none is there. */
static bool skip_eol(const uint8_t **p, const uint8_t *end)
{
	if (*p < end && **p == '\r')
		(*p)++;
	if (*p < end && **p == '\n') {
		(*p)++;
		return true;
	}
	return false;
}

int kl_multipart_parse(const char *content_type, const uint8_t *body, size_t len,
		       struct kl_multipart_part *parts, size_t max_parts, size_t *nparts,
		       struct kl_http_err *err)
{
	const uint8_t *p = body, *end = body + len;
	char delim[260];
	const char *b;
	size_t blen, dlen;

	*nparts = 0;
	if (!content_type || !strcasestr(content_type, "multipart/form-data"))
		return kl_http_errf(err, -KL_EFORMAT, 400, "multipart: not multipart/form-data");
	if (!header_param(content_type, strlen(content_type), "boundary", &b, &blen) || blen == 0)
		return kl_http_errf(err, -KL_EFORMAT, 400, "multipart: no boundary in Content-Type");
	if (blen > 200)
		return kl_http_errf(err, -KL_EFORMAT, 400, "multipart: boundary longer than 200 bytes");
	dlen = (size_t)snprintf(delim, sizeof(delim), "\n--%.*s", (int)blen, b);
	/* the first delimiter may open the body, without a line end before it */
	if (len >= dlen - 1 && !memcmp(body, delim + 1, dlen - 1)) {
		p = body + dlen - 1;
	} else {
		const uint8_t *d = memmem(body, len, delim, dlen);

		if (!d)
			return kl_http_errf(err, -KL_EFORMAT, 400, "multipart: no boundary in body");
		p = d + dlen;
	}
	for (;;) {
		struct kl_multipart_part part = { 0 };
		const uint8_t *next;
		size_t hbytes = 0;

		/* after a delimiter: "--" closes the body, else a line end */
		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			return 0;
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (!skip_eol(&p, end))
			return kl_http_errf(err, -KL_EFORMAT, 400, "multipart: truncated body");
		/* headers, up to an empty line */
		for (;;) {
			const uint8_t *nl = memchr(p, '\n', (size_t)(end - p));
			size_t n;
			const char *v;
			size_t vlen;

			if (!nl)
				return kl_http_errf(err, -KL_EFORMAT, 400,
						    "multipart: truncated part headers");
			n = (size_t)(nl - p);
			hbytes += n + 1;
			if (hbytes > 16384)
				return kl_http_errf(err, -KL_ELIMIT, 400,
						    "multipart: part headers longer than 16 KiB");
			if (n > 0 && p[n - 1] == '\r')
				n--;
			if (n == 0) {
				p = nl + 1;
				break;
			}
			if (n > 20 && !strncasecmp((const char *)p, "content-disposition:", 20) &&
			    header_param((const char *)p + 20, n - 20, "name", &v, &vlen)) {
				part.name = v;
				part.name_len = vlen;
			}
			p = nl + 1;
		}
		next = memmem(p, (size_t)(end - p), delim, dlen);
		if (!next)
			return kl_http_errf(err, -KL_EFORMAT, 400, "multipart: part \"%.*s\" is not closed",
					    (int)KL_MIN(part.name_len, (size_t)64),
					    part.name ? part.name : "");
		part.data = p;
		part.len = (size_t)(next - p);
		if (part.len > 0 && next[-1] == '\r')
			part.len--;
		if (part.name) {
			if (*nparts >= max_parts)
				return kl_http_errf(err, -KL_ELIMIT, 400,
						    "multipart: more than %zu parts", max_parts);
			parts[(*nparts)++] = part;
		}
		p = next + dlen;
	}
}

/* ---- sample_type_config ---------------------------------------------------------- */

void kl_sample_type_config_free(struct kl_sample_type_config *c, size_t n)
{
	for (size_t i = 0; c && i < n; i++) {
		kl_free(c[i].type);
		kl_free(c[i].units);
		kl_free(c[i].aggregation);
		kl_free(c[i].display_name);
	}
	kl_free(c);
}

/* Copies the optional string member key of o into *dst. */
static int cfg_str(json_t *o, const char *type, const char *key, char **dst,
		   struct kl_http_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_string(v))
		return kl_http_errf(err, -KL_EFORMAT, 400,
				    "sample_type_config: \"%.64s\".%s is not a string", type, key);
	*dst = kl_strndup(json_string_value(v), json_string_length(v));
	return *dst ? 0 : kl_http_errf(err, -ENOMEM, 500, "out of memory");
}

static int cfg_bool(json_t *o, const char *type, const char *key, bool *dst,
		    struct kl_http_err *err)
{
	json_t *v = json_object_get(o, key);

	if (!v || json_is_null(v))
		return 0;
	if (!json_is_boolean(v))
		return kl_http_errf(err, -KL_EFORMAT, 400,
				    "sample_type_config: \"%.64s\".%s is not a boolean", type, key);
	*dst = json_is_true(v);
	return 0;
}

int kl_sample_type_config_parse(const uint8_t *json, size_t len,
				struct kl_sample_type_config **out, size_t *n,
				struct kl_http_err *err)
{
	struct kl_sample_type_config *c = NULL;
	json_error_t jerr;
	json_t *root, *v;
	const char *key;
	size_t cnt = 0;
	int rc = 0;

	*out = NULL;
	*n = 0;
	root = json_loadb((const char *)json, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!root)
		return kl_http_errf(err, -KL_EFORMAT, 400, "sample_type_config: %s at line %d",
				    jerr.text, jerr.line);
	if (!json_is_object(root)) {
		rc = kl_http_errf(err, -KL_EFORMAT, 400, "sample_type_config: not a JSON object");
		goto out;
	}
	if (json_object_size(root) > 256) {
		rc = kl_http_errf(err, -KL_ELIMIT, 400, "sample_type_config: more than 256 types");
		goto out;
	}
	c = kl_calloc(json_object_size(root) + 1, sizeof(*c));
	if (!c) {
		rc = kl_http_errf(err, -ENOMEM, 500, "out of memory");
		goto out;
	}
	json_object_foreach(root, key, v) {
		struct kl_sample_type_config *e = &c[cnt];

		if (!json_is_object(v)) {
			rc = kl_http_errf(err, -KL_EFORMAT, 400,
					  "sample_type_config: \"%.64s\" is not an object", key);
			goto out;
		}
		e->type = kl_strndup(key, strlen(key));
		cnt++;
		if (!e->type) {
			rc = kl_http_errf(err, -ENOMEM, 500, "out of memory");
			goto out;
		}
		if ((rc = cfg_str(v, key, "units", &e->units, err)) ||
		    (rc = cfg_str(v, key, "aggregation", &e->aggregation, err)) ||
		    (rc = cfg_str(v, key, "display-name", &e->display_name, err)) ||
		    (rc = cfg_bool(v, key, "sampled", &e->sampled, err)) ||
		    (rc = cfg_bool(v, key, "cumulative", &e->cumulative, err)))
			goto out;
		if (e->aggregation && strcmp(e->aggregation, "sum") &&
		    strcmp(e->aggregation, "average")) {
			rc = kl_http_errf(err, -KL_EFORMAT, 400,
					  "sample_type_config: \"%.64s\".aggregation must be sum or "
					  "average", key);
			goto out;
		}
	}
out:
	json_decref(root);
	if (rc) {
		kl_sample_type_config_free(c, cnt);
		return rc;
	}
	*out = c;
	*n = cnt;
	return 0;
}

int kl_sample_type_config_apply(const struct kl_sample_type_config *c, size_t n,
				struct kl_profile *p)
{
	for (uint32_t t = 0; t < p->nsample_types; t++) {
		const char *type = kl_profile_sget(p, p->sample_types[t].type);

		for (size_t i = 0; i < n; i++) {
			if (!c[i].display_name || !*c[i].display_name || strcmp(c[i].type, type))
				continue;
			p->sample_types[t].type = kl_profile_cstr(p, c[i].display_name);
			break;
		}
	}
	return kl_profile_failed(p) ? -ENOMEM : 0;
}

/* ---- text bodies ----------------------------------------------------------------- */

/*
 * "lines" -> folded text: each distinct line once, with the number of times
 * it occurs, in first-seen order (so the result does not depend on hashing).
 */
static int lines_to_folded(const uint8_t *body, size_t len, uint32_t max_lines,
			   struct kl_buf *out, struct kl_http_err *err)
{
	const char *text = (const char *)body;
	struct entry {
		size_t start, len;
		int64_t count;
		uint64_t hash;
	} *ents = NULL;
	size_t pos = 0, nslots = 0, nents = 0, ents_cap = 0;
	uint32_t *slots = NULL;	/* entry index + 1, 0 = empty */
	int rc = 0;

	while (pos < len) {
		size_t n, s;
		const char *l = kl_text_line(text, len, &pos, &n);
		uint64_t h;

		while (n > 0 && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		if ((nents + 1) * 2 > nslots) {
			size_t n2 = nslots ? nslots * 2 : 1024;
			uint32_t *ns = kl_calloc(n2, sizeof(*ns));

			if (!ns)
				goto oom;
			for (size_t i = 0; i < nents; i++) {
				size_t t = ents[i].hash & (n2 - 1);

				while (ns[t])
					t = (t + 1) & (n2 - 1);
				ns[t] = (uint32_t)i + 1;
			}
			kl_free(slots);
			slots = ns;
			nslots = n2;
		}
		h = kl_hash(l, n);
		for (s = h & (nslots - 1); slots[s]; s = (s + 1) & (nslots - 1)) {
			struct entry *e = &ents[slots[s] - 1];

			if (e->hash == h && e->len == n && !memcmp(text + e->start, l, n))
				break;
		}
		if (slots[s]) {
			ents[slots[s] - 1].count++;
			continue;
		}
		if (nents >= max_lines) {
			rc = kl_http_errf(err, -KL_ELIMIT, 413, "lines: more than %u stacks", max_lines);
			goto out;
		}
		if (KL_GROW(ents, ents_cap, nents + 1))
			goto oom;
		ents[nents] = (struct entry){ (size_t)(l - text), n, 1, h };
		slots[s] = (uint32_t)++nents;
	}
	for (size_t i = 0; i < nents; i++) {
		kl_buf_add(out, text + ents[i].start, ents[i].len);
		kl_buf_addch(out, ' ');
		kl_buf_add_i64(out, ents[i].count);
		kl_buf_addch(out, '\n');
	}
	if (kl_buf_error(out) == -ENOMEM)
		goto oom;
	if (kl_buf_error(out))
		rc = kl_http_errf(err, -KL_ELIMIT, 413, "lines: body too large");
	goto out;
oom:
	rc = kl_http_errf(err, -ENOMEM, 500, "out of memory");
out:
	kl_free(ents);
	kl_free(slots);
	return rc;
}

int kl_ingest_text(const uint8_t *body, size_t len, bool lines, const struct kl_ingest_type *t,
		   int64_t sample_rate, const struct kl_ingest_limits *lim,
		   struct kl_profile **out, struct kl_http_err *err)
{
	const struct kl_ingest_limits l = kl_ingest_limits_resolve(lim);
	struct kl_read_limits rl = read_limits(&l);
	struct kl_buf folded;
	struct kl_profile *p = NULL;
	struct kl_err e;
	int rc;

	*out = NULL;
	if (len > l.max_profile)
		return kl_http_errf(err, -KL_ELIMIT, 413,
				    "body of %zu bytes exceeds the profile size limit of %zu", len,
				    l.max_profile);
	kl_buf_init(&folded, l.max_profile * 2 + 64);
	if (lines) {
		if ((rc = lines_to_folded(body, len, l.max_samples, &folded, err)))
			goto out;
		body = (const uint8_t *)(folded.data ? folded.data : "");
		len = folded.len;
	}
	/* the lines -> folded text is larger than the body by the counts */
	rl.max_input = KL_MAX(rl.max_input, folded.limit);
	rc = kl_folded_read_typed(body, len, &rl, t->type, t->unit, &p, &e);
	if (rc) {
		reader_err(err, rc, &e);
		goto out;
	}
	p->period_type.type = kl_profile_cstr(p, t->period_type);
	p->period_type.unit = kl_profile_cstr(p, t->period_unit);
	if (t->scale) {
		int64_t per = 1000000000 / sample_rate;

		/* one sample is one period */
		p->period = per > 0 ? per : 1;
		for (uint32_t i = 0; i < p->nsamples; i++) {
			__int128 v = (__int128)p->values[i] * 1000000000 / sample_rate;

			if (v > INT64_MAX) {
				rc = kl_http_errf(err, -KL_EFORMAT, 400,
						  "value of stack %u too large after scaling", i + 1);
				goto out;
			}
			p->values[i] = (int64_t)v;
		}
	} else {
		p->period = 1;
	}
	if (kl_profile_failed(p)) {
		rc = kl_http_errf(err, -ENOMEM, 500, "out of memory");
		goto out;
	}
	*out = p;
	p = NULL;
out:
	kl_profile_free(p);
	kl_buf_release(&folded);
	return rc;
}

/* ---- dispatch -------------------------------------------------------------------- */

/* The series labels of an /ingest request; service is the service_name value. */
static int base_labels(const struct kl_ingest_params *pa, const char *service, size_t slen,
		       const char *name, struct kl_labels *ls, struct kl_http_err *err)
{
	const char *client_service = kl_labels_get(&pa->labels, "service_name");
	const char *spy = pa->spy_name ? pa->spy_name : "unknown";
	size_t bytes = 64 + slen + strlen(spy) + (name ? strlen(name) : 0);

	/* room for the client's labels and the three below at once: two allocations in all */
	for (size_t i = 0; i < pa->labels.n; i++)
		bytes += strlen(pa->labels.v[i].name) + strlen(pa->labels.v[i].value) + 2;
	if (kl_labels_reserve(ls, pa->labels.n + 3, bytes) || kl_labels_copy(ls, &pa->labels))
		goto oom;
	if (client_service) {
		/* the client's own service_name wins; the app name is kept beside it */
		if (kl_labels_set(ls, "app_name", service, slen))
			goto oom;
	} else if (kl_labels_set(ls, "service_name", service, slen)) {
		goto oom;
	}
	if (kl_labels_set(ls, "pyroscope_spy", spy, strlen(spy)))
		goto oom;
	if (name && kl_labels_set(ls, "__name__", name, strlen(name)))
		goto oom;
	return 0;
oom:
	kl_labels_release(ls);
	return kl_http_errf(err, -ENOMEM, 500, "out of memory");
}

static int ingest_pprof(const struct kl_ingest_params *pa, const uint8_t *data, size_t len,
			const struct kl_sample_type_config *cfg, size_t ncfg,
			const struct kl_ingest_limits *l, struct kl_series_set *out,
			struct kl_http_err *err)
{
	const struct kl_read_limits rl = read_limits(l);
	struct kl_labels base = { 0 };
	struct kl_profile *p = NULL;
	struct kl_err e;
	int rc;

	/* a loop thread decodes a profile per request: gunzip into its spare storage */
	rc = kl_pprof_read_spare(data, len, &rl, &p, &e);
	if (rc)
		return reader_err(err, rc, &e);
	if (cfg && kl_sample_type_config_apply(cfg, ncfg, p)) {
		rc = kl_http_errf(err, -ENOMEM, 500, "out of memory");
		goto out;
	}
	if ((rc = base_labels(pa, pa->app_name, strlen(pa->app_name), NULL, &base, err)))
		goto out;
	rc = kl_series_split(p, &base, pa->from_ns, pa->until_ns, l, out, err);
out:
	kl_labels_release(&base);
	kl_series_set_keep(out, p);
	return rc;
}

static int ingest_multipart(const struct kl_ingest_params *pa, const char *content_type,
			    const uint8_t *body, size_t len, const struct kl_ingest_limits *l,
			    struct kl_series_set *out, struct kl_http_err *err)
{
	struct kl_multipart_part parts[64];
	const struct kl_multipart_part *profile = NULL, *config = NULL;
	struct kl_sample_type_config *cfg = NULL;
	size_t nparts, ncfg = 0;
	int rc;

	rc = kl_multipart_parse(content_type, body, len, parts,
				KL_MIN((size_t)l->max_parts, KL_ARRAY_SIZE(parts)), &nparts, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < nparts; i++) {
		const struct kl_multipart_part *pt = &parts[i];

#define IS(s) (pt->name_len == strlen(s) && !memcmp(pt->name, s, pt->name_len))
		if (IS("prev_profile"))
			return kl_http_errf(err, -KL_EFORMAT, 400,
					    "multipart: prev_profile (cumulative profiles) is no longer "
					    "supported, upgrade the client (pyroscope-go >= 0.1.0 sends "
					    "plain profiles)");
		if (IS("profile"))
			profile = pt;
		else if (IS("sample_type_config"))
			config = pt;
#undef IS
	}
	if (!profile)
		return kl_http_errf(err, -KL_EFORMAT, 400, "multipart: missing form field \"profile\"");
	if (config && (rc = kl_sample_type_config_parse(config->data, config->len, &cfg, &ncfg, err)))
		return rc;
	rc = ingest_pprof(pa, profile->data, profile->len, cfg, ncfg, l, out, err);
	kl_sample_type_config_free(cfg, ncfg);
	return rc;
}

int kl_ingest_request(const struct kl_ingest_params *pa, const char *content_type,
		      const uint8_t *body, size_t len, const struct kl_ingest_limits *lim,
		      struct kl_series_set *out, struct kl_http_err *err)
{
	const struct kl_ingest_limits l = kl_ingest_limits_resolve(lim);
	struct kl_ingest_type t;
	struct kl_labels base = { 0 };
	struct kl_profile *p = NULL;
	size_t slen;
	int rc;

	if (!body)
		body = (const uint8_t *)"";
	if (pa->format == KL_INGEST_PPROF)
		return ingest_pprof(pa, body, len, NULL, 0, &l, out, err);
	if (content_type && strcasestr(content_type, "multipart/form-data"))
		return ingest_multipart(pa, content_type, body, len, &l, out, err);
	if (pa->format == KL_INGEST_UNSUPPORTED)
		return kl_http_errf(err, -KL_EFORMAT, 400, "unsupported format \"%s\"",
				    pa->format_name ? pa->format_name : "");
	if ((rc = kl_ingest_type_lookup(pa->app_name, pa->sample_rate, &t, &slen, err)))
		return rc;
	if ((rc = kl_ingest_text(body, len, pa->format == KL_INGEST_LINES, &t, pa->sample_rate, &l,
				 &p, err)))
		return rc;
	p->time_nanos = pa->from_ns;
	p->duration_nanos = pa->until_ns - pa->from_ns;
	if ((rc = base_labels(pa, pa->app_name, slen, t.name, &base, err)))
		goto out;
	rc = kl_series_split(p, &base, pa->from_ns, pa->until_ns, &l, out, err);
out:
	kl_labels_release(&base);
	kl_series_set_keep(out, p);
	return rc;
}
