/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ingest_params.c - the small pieces every ingest and query request needs:
 * HTTP/Connect error text, limits, label sets, query string decoding, the
 * /ingest name{} grammar, time parameters ("now-1h", seconds, ms, us, ns,
 * YYYYMMDD) and the /ingest query parameters as a whole.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

/* ---- errors ------------------------------------------------------------ */

const char *kl_connect_code(int status)
{
	switch (status) {
	case 400:
	case 422:
		return "invalid_argument";
	case 401:
		return "unauthenticated";
	case 403:
		return "permission_denied";
	case 404:
		return "not_found";
	case 413:
	case 429:
		return "resource_exhausted";
	case 415:
	case 501:
		return "unimplemented";
	case 503:
		return "unavailable";
	default:
		return status >= 500 ? "internal" : "unknown";
	}
}

int kl_connect_status(const char *code)
{
	static const struct {
		const char *code;
		int status;
	} map[] = {
		{ "invalid_argument", 400 }, { "unauthenticated", 401 },
		{ "permission_denied", 403 }, { "not_found", 404 },
		{ "resource_exhausted", 429 }, { "unimplemented", 501 },
		{ "unavailable", 503 }, { "internal", 500 },
	};

	for (size_t i = 0; code && i < KL_ARRAY_SIZE(map); i++)
		if (!strcmp(code, map[i].code))
			return map[i].status;
	return 500;
}

int kl_http_errf(struct kl_http_err *err, int rc, int status, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->status = status;
		err->code = kl_connect_code(status);
		va_start(ap, fmt);
		vsnprintf(err->e.msg, sizeof(err->e.msg), fmt, ap);
		va_end(ap);
	}
	return rc;
}

void kl_connect_error_json(const struct kl_http_err *err, struct kl_buf *out)
{
	kl_buf_addstr(out, "{\"code\":\"");
	kl_buf_addstr(out, err->code ? err->code : kl_connect_code(err->status));
	kl_buf_addstr(out, "\",\"message\":\"");
	kl_buf_add_json_str(out, err->e.msg, strlen(err->e.msg));
	kl_buf_addstr(out, "\"}");
}

/* ---- limits ------------------------------------------------------------ */

struct kl_ingest_limits kl_ingest_limits_resolve(const struct kl_ingest_limits *lim)
{
	struct kl_ingest_limits l = lim ? *lim : (struct kl_ingest_limits){ 0 };

	if (!l.max_profile)
		l.max_profile = (size_t)4 << 20;
	if (!l.max_body)
		l.max_body = (size_t)16 << 20;
	if (!l.max_samples)
		l.max_samples = 100000;
	if (!l.max_depth)
		l.max_depth = 1000;
	if (!l.max_labels)
		l.max_labels = 30;
	if (!l.max_name_len)
		l.max_name_len = 1024;
	if (!l.max_value_len)
		l.max_value_len = 2048;
	if (!l.max_parts)
		l.max_parts = 16;
	return l;
}

/* ---- label sets ---------------------------------------------------------- */

/*
 * A chunk of a set's string storage. Strings are carved from the newest
 * chunk (the head); chunks never move, so the pointers in v stay valid.
 * A set built in one go (kl_labels_reserve: copies, series) has one chunk
 * of exactly its size: one allocation for all of its strings instead of
 * two per label.
 */
struct kl_labels_mem {
	struct kl_labels_mem *next;	/* older chunks */
	size_t len, cap;
	char data[];
};

/* Size of the first chunk of a set grown label by label (a typical series' labels fit). */
#define LABELS_CHUNK 256

/* Adds a chunk of cap bytes as the head. False on out of memory. */
static bool labels_chunk(struct kl_labels *ls, size_t cap)
{
	struct kl_labels_mem *m;

	if (cap > SIZE_MAX / 2 - sizeof(*m))
		return false;
	m = kl_malloc(sizeof(*m) + cap);
	if (!m)
		return false;
	*m = (struct kl_labels_mem){ .next = ls->mem, .cap = cap };
	ls->mem = m;
	return true;
}

/* n bytes of string storage; NULL on out of memory. */
static inline char *labels_alloc(struct kl_labels *ls, size_t n)
{
	struct kl_labels_mem *m = ls->mem;

	if (!m || m->cap - m->len < n) {
		if (!labels_chunk(ls, KL_MAX(n, m ? m->cap * 2 : LABELS_CHUNK)))
			return NULL;
		m = ls->mem;
	}
	m->len += n;
	return m->data + m->len - n;
}

/* s[0..n) as a NUL-terminated string at d; returns d. */
static char *put_str(char *d, const char *s, size_t n)
{
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

static struct kl_label_pair *labels_find(const struct kl_labels *ls, const char *name)
{
	/* the first byte first: most names differ there, and strcmp is a call */
	for (size_t i = 0; i < ls->n; i++)
		if (ls->v[i].name[0] == name[0] && !strcmp(ls->v[i].name, name))
			return &ls->v[i];
	return NULL;
}

int kl_labels_reserve(struct kl_labels *ls, size_t n, size_t bytes)
{
	struct kl_labels_mem *m = ls->mem;

	if (KL_GROW(ls->v, ls->cap, ls->n + n))
		return -ENOMEM;
	if (bytes && (!m || m->cap - m->len < bytes) && !labels_chunk(ls, bytes))
		return -ENOMEM;
	return 0;
}

int kl_labels_push(struct kl_labels *ls, const char *name, size_t nlen, const char *value,
		   size_t vlen)
{
	char *d;

	if (nlen > SIZE_MAX / 4 || vlen > SIZE_MAX / 4 || KL_GROW(ls->v, ls->cap, ls->n + 1))
		return -ENOMEM;
	d = labels_alloc(ls, nlen + vlen + 2);
	if (!d)
		return -ENOMEM;
	ls->v[ls->n++] = (struct kl_label_pair){ put_str(d, name, nlen),
						 put_str(d + nlen + 1, value, vlen) };
	return 0;
}

int kl_labels_set(struct kl_labels *ls, const char *name, const char *value, size_t vlen)
{
	struct kl_label_pair *l = labels_find(ls, name);
	char *v;

	if (!l)
		return kl_labels_push(ls, name, strlen(name), value, vlen);
	if (vlen > SIZE_MAX / 4 || !(v = labels_alloc(ls, vlen + 1)))
		return -ENOMEM;
	/* the old value's bytes stay in the chunk until the set is released */
	l->value = put_str(v, value, vlen);
	return 0;
}

int kl_labels_add_absent(struct kl_labels *ls, const char *name, const char *value, size_t vlen)
{
	if (labels_find(ls, name))
		return 0;
	return kl_labels_push(ls, name, strlen(name), value, vlen);
}

const char *kl_labels_get(const struct kl_labels *ls, const char *name)
{
	const struct kl_label_pair *l = labels_find(ls, name);

	return l ? l->value : NULL;
}

void kl_labels_del(struct kl_labels *ls, const char *name)
{
	struct kl_label_pair *l = labels_find(ls, name);

	if (!l)
		return;
	/* keep the order: sorted sets stay sorted */
	memmove(l, l + 1, (size_t)(ls->v + ls->n - l - 1) * sizeof(*l));
	ls->n--;
}

int kl_labels_copy(struct kl_labels *dst, const struct kl_labels *src)
{
	size_t len[64], bytes = 0;	/* lengths of the first 32 labels, not measured twice */

	for (size_t i = 0; i < src->n; i++) {
		size_t nl = strlen(src->v[i].name), vl = strlen(src->v[i].value);

		if (2 * i + 1 < KL_ARRAY_SIZE(len)) {
			len[2 * i] = nl;
			len[2 * i + 1] = vl;
		}
		bytes += nl + vl + 2;
	}
	if (kl_labels_reserve(dst, src->n, bytes))
		goto fail;
	for (size_t i = 0; i < src->n; i++) {
		const struct kl_label_pair *l = &src->v[i];
		bool known = 2 * i + 1 < KL_ARRAY_SIZE(len);

		if (kl_labels_push(dst, l->name, known ? len[2 * i] : strlen(l->name), l->value,
				   known ? len[2 * i + 1] : strlen(l->value)))
			goto fail;
	}
	return 0;
fail:
	kl_labels_release(dst);
	return -ENOMEM;
}

static int pair_cmp(const void *a, const void *b)
{
	return strcmp(((const struct kl_label_pair *)a)->name,
		      ((const struct kl_label_pair *)b)->name);
}

void kl_labels_sort(struct kl_labels *ls)
{
	if (ls->n > 16) {
		qsort(ls->v, ls->n, sizeof(*ls->v), pair_cmp);
		return;
	}
	/* insertion sort: series have a handful of labels, and qsort's calls cost more there */
	for (size_t i = 1; i < ls->n; i++) {
		struct kl_label_pair x = ls->v[i];
		size_t j = i;

		for (; j > 0 && strcmp(ls->v[j - 1].name, x.name) > 0; j--)
			ls->v[j] = ls->v[j - 1];
		ls->v[j] = x;
	}
}

void kl_labels_release(struct kl_labels *ls)
{
	for (struct kl_labels_mem *m = ls->mem, *next; m; m = next) {
		next = m->next;
		kl_free(m);
	}
	kl_free(ls->v);
	*ls = (struct kl_labels){ 0 };
}

/* ---- query strings ------------------------------------------------------- */

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* URL-decodes s[0..n) into a new string; NULL on out of memory. */
static char *url_decode(const char *s, size_t n)
{
	char *d = kl_malloc(n + 1), *o = d;

	if (!d)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			*o++ = ' ';
		} else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
			   hexval(s[i + 2]) >= 0) {
			*o++ = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			*o++ = s[i];
		}
	}
	*o = '\0';
	return d;
}

void kl_query_free(char **keys, char **values, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		kl_free(keys ? keys[i] : NULL);
		kl_free(values ? values[i] : NULL);
	}
	kl_free(keys);
	kl_free(values);
}

int kl_query_parse(const char *query, size_t max_pairs, char ***keys, char ***values, size_t *n,
		   struct kl_http_err *err)
{
	char **k = NULL, **v = NULL;
	size_t cnt = 0, kcap = 0, vcap = 0;
	const char *p = query ? query : "";

	if (*p == '?')
		p++;
	while (*p) {
		size_t len = strcspn(p, "&");
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;

		if (len == 0) {
			p++;
			continue;
		}
		if (cnt >= max_pairs) {
			kl_query_free(k, v, cnt);
			return kl_http_errf(err, -KL_ELIMIT, 400,
					    "query string has more than %zu parameters", max_pairs);
		}
		if (KL_GROW(k, kcap, cnt + 1) || KL_GROW(v, vcap, cnt + 1))
			goto oom;
		k[cnt] = url_decode(p, klen);
		v[cnt] = eq ? url_decode(eq + 1, len - klen - 1) : url_decode("", 0);
		cnt++;
		if (!k[cnt - 1] || !v[cnt - 1])
			goto oom;
		p += len;
		if (*p == '&')
			p++;
	}
	*keys = k;
	*values = v;
	*n = cnt;
	return 0;
oom:
	kl_query_free(k, v, cnt);
	return kl_http_errf(err, -ENOMEM, 500, "out of memory");
}

/* ---- the name{} grammar ---------------------------------------------------- */

static bool is_app_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == '/' || c == '-';
}

static bool is_label_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.';
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims blanks around s[0..*n): returns the new start, sets *n. */
static const char *trim(const char *s, size_t *n)
{
	while (*n > 0 && is_blank(*s)) {
		s++;
		(*n)--;
	}
	while (*n > 0 && is_blank(s[*n - 1]))
		(*n)--;
	return s;
}

/* Parses one "k=v" pair of name{}; empty pairs are skipped. */
static int parse_pair(const char *s, size_t n, struct kl_labels *labels, struct kl_http_err *err)
{
	const char *eq, *k, *v;
	size_t kn, vn;
	char key[256];

	s = trim(s, &n);
	if (n == 0)
		return 0;
	eq = memchr(s, '=', n);
	if (!eq)
		return kl_http_errf(err, -KL_EFORMAT, 400,
				    "name: label \"%.*s\" has no '='", (int)KL_MIN(n, 64), s);
	kn = (size_t)(eq - s);
	k = trim(s, &kn);
	vn = n - (size_t)(eq - s) - 1;
	v = trim(eq + 1, &vn);
	if (kn == 0)
		return kl_http_errf(err, -KL_EFORMAT, 400, "name: empty label name before '=%.*s'",
				    (int)KL_MIN(vn, 64), v);
	if (kn >= sizeof(key))
		return kl_http_errf(err, -KL_ELIMIT, 400, "name: label name longer than %zu bytes",
				    sizeof(key) - 1);
	for (size_t i = 0; i < kn; i++)
		if (!is_label_char(k[i]))
			return kl_http_errf(err, -KL_EFORMAT, 400,
					    "name: invalid character '%c' in label name \"%.*s\"",
					    isprint((unsigned char)k[i]) ? k[i] : '?', (int)kn, k);
	for (size_t i = 0; i < vn; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == '{' || v[i] == '=')
			return kl_http_errf(err, -KL_EFORMAT, 400,
					    "name: invalid character in value of label \"%.*s\"",
					    (int)kn, k);
	memcpy(key, k, kn);
	key[kn] = '\0';
	if (!strcmp(key, "__name__"))
		return kl_http_errf(err, -KL_EFORMAT, 400, "name: label name __name__ is reserved");
	if (kl_labels_get(labels, key))
		return kl_http_errf(err, -KL_EFORMAT, 400, "name: duplicate label \"%s\"", key);
	if (kl_labels_set(labels, key, v, vn))
		return kl_http_errf(err, -ENOMEM, 500, "out of memory");
	return 0;
}

int kl_ingest_parse_name(const char *name, char **app, struct kl_labels *labels,
			 struct kl_http_err *err)
{
	size_t n = name ? strlen(name) : 0, an;
	const char *s = trim(name ? name : "", &n), *brace, *a, *close;
	int rc;

	*app = NULL;
	if (n == 0)
		return kl_http_errf(err, -KL_EFORMAT, 400, "name: missing application name");
	brace = memchr(s, '{', n);
	an = brace ? (size_t)(brace - s) : n;
	a = trim(s, &an);
	if (an == 0)
		return kl_http_errf(err, -KL_EFORMAT, 400, "name: missing application name");
	for (size_t i = 0; i < an; i++)
		if (!is_app_char(a[i]))
			return kl_http_errf(err, -KL_EFORMAT, 400,
					    "name: invalid character '%c' in application name \"%.*s\"",
					    isprint((unsigned char)a[i]) ? a[i] : '?',
					    (int)KL_MIN(an, 128), a);
	if (brace) {
		const char *p = brace + 1, *end = s + n;

		close = memchr(p, '}', (size_t)(end - p));
		if (!close)
			return kl_http_errf(err, -KL_EFORMAT, 400, "name: missing '}'");
		if (close + 1 != end)
			return kl_http_errf(err, -KL_EFORMAT, 400, "name: unexpected text after '}'");
		while (p < close) {
			const char *comma = memchr(p, ',', (size_t)(close - p));
			const char *pe = comma ? comma : close;

			if ((rc = parse_pair(p, (size_t)(pe - p), labels, err))) {
				kl_labels_release(labels);
				return rc;
			}
			p = pe + 1;
		}
	}
	*app = kl_strndup(a, an);
	if (!*app) {
		kl_labels_release(labels);
		return kl_http_errf(err, -ENOMEM, 500, "out of memory");
	}
	return 0;
}

/* ---- times ------------------------------------------------------------------ */

#define NS_PER_S INT64_C(1000000000)

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's method). */
static int64_t days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static int bad_time(const char *s, struct kl_http_err *err)
{
	return kl_http_errf(err, -KL_EFORMAT, 400,
			    "invalid time \"%.64s\": want now, now-<n><unit> (s, m, h, d, w, M, y), "
			    "Unix seconds, ms, us, ns or YYYYMMDD", s);
}

int kl_parse_time(const char *s, int64_t now_ns, int64_t *out, struct kl_http_err *err)
{
	size_t n;
	uint64_t v = 0;

	if (!s || !*s) {
		*out = now_ns;
		return 0;
	}
	n = strlen(s);
	if (!strncmp(s, "now", 3)) {
		static const struct {
			const char *unit;
			int64_t secs;
		} units[] = {
			{ "s", 1 }, { "m", 60 }, { "min", 60 }, { "h", 3600 }, { "d", 86400 },
			{ "w", 7 * 86400 }, { "M", 30 * 86400 }, { "mon", 30 * 86400 },
			{ "y", 365 * 86400 },
		};
		const char *p = s + 3, *u;
		int sign;

		if (!*p) {
			*out = now_ns;
			return 0;
		}
		if (*p != '-' && *p != '+')
			return bad_time(s, err);
		sign = *p++ == '-' ? -1 : 1;
		for (u = p; *u >= '0' && *u <= '9'; u++) {
			v = v * 10 + (uint64_t)(*u - '0');
			if (v > UINT32_MAX)
				return bad_time(s, err);
		}
		if (u == p)
			return bad_time(s, err);
		for (size_t i = 0; i < KL_ARRAY_SIZE(units); i++) {
			if (strcmp(u, units[i].unit))
				continue;
			if ((int64_t)v > INT64_MAX / NS_PER_S / units[i].secs)
				return bad_time(s, err);
			if (__builtin_add_overflow(now_ns, sign * (int64_t)v * units[i].secs * NS_PER_S,
						   out))
				return bad_time(s, err);
			return 0;
		}
		return bad_time(s, err);
	}
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || n > 19)
			return bad_time(s, err);
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	switch (n) {
	case 8: {
		int64_t y = (int64_t)(v / 10000), m = (int64_t)(v / 100 % 100), d = (int64_t)(v % 100);

		/* Unix nanoseconds in an int64 reach from 1970 to 2262 */
		if (y < 1970 || y > 2261 || m < 1 || m > 12 || d < 1 || d > 31)
			return bad_time(s, err);
		*out = days_from_civil(y, m, d) * 86400 * NS_PER_S;
		return 0;
	}
	case 13:
		*out = (int64_t)v * 1000000;
		return 0;
	case 16:
		*out = (int64_t)v * 1000;
		return 0;
	case 19:
		if (v > INT64_MAX)
			return bad_time(s, err);
		*out = (int64_t)v;
		return 0;
	default:
		if (v > (uint64_t)(INT64_MAX / NS_PER_S))
			return bad_time(s, err);
		*out = (int64_t)v * NS_PER_S;
		return 0;
	}
}

/* ---- /ingest parameters -------------------------------------------------------- */

void kl_ingest_params_release(struct kl_ingest_params *p)
{
	kl_free(p->app_name);
	kl_labels_release(&p->labels);
	kl_free(p->spy_name);
	kl_free(p->format_name);
	kl_free(p->units);
	kl_free(p->aggregation);
	*p = (struct kl_ingest_params){ 0 };
}

/* sampleRate: a non-negative decimal integer; anything else means 100. */
static int64_t parse_rate(const char *s)
{
	int64_t v = 0;

	if (!s || !*s)
		return 100;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || v > 1000000000)
			return 100;
		v = v * 10 + (*s - '0');
	}
	return v;
}

static enum kl_ingest_format parse_format(const char *f)
{
	static const char *const unsupported[] = { "trie", "tree", "jfr", "speedscope" };

	if (!f)
		return KL_INGEST_FOLDED;
	if (!strcmp(f, "pprof"))
		return KL_INGEST_PPROF;
	if (!strcmp(f, "lines"))
		return KL_INGEST_LINES;
	for (size_t i = 0; i < KL_ARRAY_SIZE(unsupported); i++)
		if (!strcmp(f, unsupported[i]))
			return KL_INGEST_UNSUPPORTED;
	return KL_INGEST_FOLDED;
}

static int dup_opt(char **dst, const char *s)
{
	if (!s)
		return 0;
	*dst = kl_strndup(s, strlen(s));
	return *dst ? 0 : -ENOMEM;
}

int kl_ingest_params_parse(const char *const *keys, const char *const *values, size_t n,
			   int64_t now_ns, struct kl_ingest_params *out, struct kl_http_err *err)
{
	const char *name = NULL, *from = NULL, *until = NULL, *rate = NULL, *spy = NULL;
	const char *format = NULL, *units = NULL, *aggr = NULL;
	const struct {
		const char *key;
		const char **dst;
	} known[] = {
		{ "name", &name }, { "from", &from }, { "until", &until }, { "sampleRate", &rate },
		{ "spyName", &spy }, { "format", &format }, { "units", &units },
		{ "aggregationType", &aggr },
	};
	int rc;

	*out = (struct kl_ingest_params){ 0 };
	for (size_t i = 0; i < n; i++) {
		const char *k = keys[i], *v = values[i] ? values[i] : "";

		if (!k)
			continue;
		/* the first byte first: strcmp is a call, and most keys differ there */
		for (size_t j = 0; j < KL_ARRAY_SIZE(known); j++) {
			if (k[0] == known[j].key[0] && !strcmp(k, known[j].key)) {
				*known[j].dst = v;
				break;
			}
		}
	}
	if (!name)
		return kl_http_errf(err, -KL_EFORMAT, 400, "missing required parameter name");
	if ((rc = kl_ingest_parse_name(name, &out->app_name, &out->labels, err)))
		goto fail;
	if ((rc = kl_parse_time(from, now_ns, &out->from_ns, err))) {
		if (err)
			kl_err_prefix(&err->e, "from");
		goto fail;
	}
	if ((rc = kl_parse_time(until, now_ns, &out->until_ns, err))) {
		if (err)
			kl_err_prefix(&err->e, "until");
		goto fail;
	}
	if (out->until_ns < out->from_ns) {
		rc = kl_http_errf(err, -KL_EFORMAT, 400, "until is before from");
		goto fail;
	}
	out->sample_rate = parse_rate(rate);
	out->format = parse_format(format);
	if (dup_opt(&out->spy_name, spy && *spy ? spy : "unknown") ||
	    dup_opt(&out->format_name, format) || dup_opt(&out->units, units) ||
	    dup_opt(&out->aggregation, aggr)) {
		rc = kl_http_errf(err, -ENOMEM, 500, "out of memory");
		goto fail;
	}
	return 0;
fail:
	kl_ingest_params_release(out);
	return rc;
}
