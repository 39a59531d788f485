/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selector.c - PromQL-style selectors over series labels: a hand-written
 * recursive-descent parser (metric, then {name op "value", ...}), Go/PromQL
 * string escapes, anchored PCRE2 regexes, and matching. See selector.h for
 * the grammar.
 */
#include <ctype.h>
#include <string.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "selector.h"

#define MAX_MATCHERS 64

struct parser {
	const char *s, *p;
	struct kl_http_err *err;
};

static int perr(struct parser *ps, const char *what)
{
	return kl_http_errf(ps->err, -KL_EFORMAT, 400, "selector: %s at position %zu", what,
			    (size_t)(ps->p - ps->s));
}

static void skip_ws(struct parser *ps)
{
	while (*ps->p == ' ' || *ps->p == '\t' || *ps->p == '\n' || *ps->p == '\r')
		ps->p++;
}

void kl_selector_release(struct kl_selector *sel)
{
	for (size_t i = 0; i < sel->n; i++) {
		kl_free(sel->m[i].name);
		kl_free(sel->m[i].value);
		pcre2_code_free(sel->m[i].re);
	}
	kl_free(sel->m);
	*sel = (struct kl_selector){ 0 };
}

/* Adds a matcher with copies of name and value[0..vlen); compiles regexes. */
static int add_matcher(struct parser *ps, struct kl_selector *sel, const char *name, size_t nlen,
		       enum kl_match_op op, const char *value, size_t vlen)
{
	struct kl_matcher m = { .op = op };

	if (sel->n >= MAX_MATCHERS)
		return perr(ps, "more than 64 matchers");
	m.name = kl_strndup(name, nlen);
	m.value = kl_strndup(value, vlen);
	if (!m.name || !m.value || KL_GROW(sel->m, sel->cap, sel->n + 1))
		goto oom;
	if (op == KL_MATCH_RE || op == KL_MATCH_NRE) {
		/* anchored at both ends, as PromQL does: ^(?:re)$ */
		struct kl_buf pat = KL_BUF_INIT;
		PCRE2_UCHAR msg[160];
		PCRE2_SIZE off;
		int code;

		kl_buf_addstr(&pat, "^(?:");
		kl_buf_add(&pat, value, vlen);
		kl_buf_addstr(&pat, ")$");
		if (kl_buf_error(&pat)) {
			kl_buf_release(&pat);
			goto oom;
		}
		m.re = pcre2_compile((PCRE2_SPTR)pat.data, pat.len, PCRE2_DOTALL, &code, &off, NULL);
		kl_buf_release(&pat);
		if (!m.re) {
			pcre2_get_error_message(code, msg, sizeof(msg));
			kl_http_errf(ps->err, -KL_EREGEX, 400,
				     "selector: bad regex for label \"%.64s\": %s", m.name, (char *)msg);
			kl_free(m.name);
			kl_free(m.value);
			return -KL_EREGEX;
		}
	}
	sel->m[sel->n++] = m;
	return 0;
oom:
	kl_free(m.name);
	kl_free(m.value);
	return kl_http_errf(ps->err, -ENOMEM, 500, "out of memory");
}

/* Appends the UTF-8 encoding of code point c. */
static void add_utf8(struct kl_buf *b, uint32_t c)
{
	if (c < 0x80) {
		kl_buf_addch(b, (char)c);
	} else if (c < 0x800) {
		kl_buf_addch(b, (char)(0xc0 | c >> 6));
		kl_buf_addch(b, (char)(0x80 | (c & 0x3f)));
	} else if (c < 0x10000) {
		kl_buf_addch(b, (char)(0xe0 | c >> 12));
		kl_buf_addch(b, (char)(0x80 | (c >> 6 & 0x3f)));
		kl_buf_addch(b, (char)(0x80 | (c & 0x3f)));
	} else {
		kl_buf_addch(b, (char)(0xf0 | c >> 18));
		kl_buf_addch(b, (char)(0x80 | (c >> 12 & 0x3f)));
		kl_buf_addch(b, (char)(0x80 | (c >> 6 & 0x3f)));
		kl_buf_addch(b, (char)(0x80 | (c & 0x3f)));
	}
}

static int hex_digits(const char *s, int n, uint32_t *out)
{
	uint32_t v = 0;

	for (int i = 0; i < n; i++) {
		char c = s[i];

		if (!isxdigit((unsigned char)c))
			return -1;
		v = v * 16 + (uint32_t)(isdigit((unsigned char)c) ? c - '0' : (c | 0x20) - 'a' + 10);
	}
	*out = v;
	return 0;
}

/* Parses a quoted string at ps->p into out (unescaped). */
static int parse_string(struct parser *ps, struct kl_buf *out)
{
	char q = *ps->p;

	if (q != '"' && q != '\'' && q != '`')
		return perr(ps, "expected a quoted string");
	ps->p++;
	for (;;) {
		char c = *ps->p;

		if (!c)
			return perr(ps, "unterminated string");
		ps->p++;
		if (c == q)
			break;
		if (c != '\\' || q == '`') {
			kl_buf_addch(out, c);
			continue;
		}
		c = *ps->p++;
		switch (c) {
		case 'a': kl_buf_addch(out, '\a'); break;
		case 'b': kl_buf_addch(out, '\b'); break;
		case 'f': kl_buf_addch(out, '\f'); break;
		case 'n': kl_buf_addch(out, '\n'); break;
		case 'r': kl_buf_addch(out, '\r'); break;
		case 't': kl_buf_addch(out, '\t'); break;
		case 'v': kl_buf_addch(out, '\v'); break;
		case '\\': case '"': case '\'':
			kl_buf_addch(out, c);
			break;
		case 'x': case 'u': case 'U': {
			int n = c == 'x' ? 2 : c == 'u' ? 4 : 8;
			uint32_t v;

			if ((int)strnlen(ps->p, (size_t)n) < n || hex_digits(ps->p, n, &v) ||
			    (c != 'x' && (v > 0x10ffff || (v >= 0xd800 && v < 0xe000)))) {
				ps->p--;
				return perr(ps, "bad escape sequence");
			}
			ps->p += n;
			if (c == 'x')
				kl_buf_addch(out, (char)v);
			else
				add_utf8(out, v);
			break;
		}
		default:
			ps->p--;
			return perr(ps, c ? "unknown escape sequence" : "unterminated string");
		}
	}
	return kl_buf_error(out) ? kl_http_errf(ps->err, -ENOMEM, 500, "out of memory") : 0;
}

static bool is_metric_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || c == '.' || c == ':' || c == '/' || c == '-';
}

/* The matchers a metric stands for. */
static int metric_matchers(struct parser *ps, struct kl_selector *sel, const char *m, size_t n)
{
	char app[512];
	struct kl_ingest_type t;
	struct kl_buf pt = KL_BUF_INIT;
	size_t colons = 0, slen;
	int rc;

	for (size_t i = 0; i < n; i++)
		colons += m[i] == ':';
	if (colons) {
		if (colons != 4)
			return kl_http_errf(ps->err, -KL_EFORMAT, 400,
					    "selector: profile type \"%.*s\" must have 5 parts "
					    "(name:type:unit:period_type:period_unit)", (int)KL_MIN(n, (size_t)128), m);
		return add_matcher(ps, sel, "__profile_type__", 16, KL_MATCH_EQ, m, n);
	}
	if (n >= sizeof(app))
		return perr(ps, "application name too long");
	memcpy(app, m, n);
	app[n] = '\0';
	if ((rc = kl_ingest_type_lookup(app, 100, &t, &slen, ps->err))) {
		if (ps->err)
			kl_err_prefix(&ps->err->e, "selector");
		return rc;
	}
	if (slen == 0)
		return perr(ps, "empty application name");
	kl_buf_addf(&pt, "%s:%s:%s:%s:%s", t.name, t.type, t.unit, t.period_type, t.period_unit);
	if (kl_buf_error(&pt))
		rc = kl_http_errf(ps->err, -ENOMEM, 500, "out of memory");
	else if (!(rc = add_matcher(ps, sel, "service_name", 12, KL_MATCH_EQ, app, slen)))
		rc = add_matcher(ps, sel, "__profile_type__", 16, KL_MATCH_EQ, pt.data, pt.len);
	kl_buf_release(&pt);
	return rc;
}

static int parse_matchers(struct parser *ps, struct kl_selector *sel)
{
	struct kl_buf val = KL_BUF_INIT;
	int rc = 0;

	ps->p++;	/* '{' */
	for (;;) {
		const char *name;
		size_t nlen;
		enum kl_match_op op;

		skip_ws(ps);
		if (*ps->p == '}') {
			ps->p++;
			break;
		}
		name = ps->p;
		if (!isalpha((unsigned char)*ps->p) && *ps->p != '_') {
			rc = perr(ps, *ps->p ? "expected a label name" : "missing '}'");
			break;
		}
		while (isalnum((unsigned char)*ps->p) || *ps->p == '_' || *ps->p == '.')
			ps->p++;
		nlen = (size_t)(ps->p - name);
		skip_ws(ps);
		if (ps->p[0] == '=' && ps->p[1] == '~') {
			op = KL_MATCH_RE;
			ps->p += 2;
		} else if (ps->p[0] == '!' && ps->p[1] == '~') {
			op = KL_MATCH_NRE;
			ps->p += 2;
		} else if (ps->p[0] == '!' && ps->p[1] == '=') {
			op = KL_MATCH_NEQ;
			ps->p += 2;
		} else if (ps->p[0] == '=') {
			op = KL_MATCH_EQ;
			ps->p += 1;
		} else {
			rc = perr(ps, "expected one of = != =~ !~");
			break;
		}
		skip_ws(ps);
		kl_buf_release(&val);
		if ((rc = parse_string(ps, &val)))
			break;
		if ((rc = add_matcher(ps, sel, name, nlen, op, val.data ? val.data : "", val.len)))
			break;
		skip_ws(ps);
		if (*ps->p == ',') {
			ps->p++;
		} else if (*ps->p != '}') {
			rc = perr(ps, *ps->p ? "expected ',' or '}'" : "missing '}'");
			break;
		}
	}
	kl_buf_release(&val);
	return rc;
}

int kl_selector_parse(const char *s, struct kl_selector *out, struct kl_http_err *err)
{
	struct parser ps = { s ? s : "", s ? s : "", err };
	const char *metric;
	int rc = 0;

	*out = (struct kl_selector){ 0 };
	skip_ws(&ps);
	metric = ps.p;
	while (is_metric_char(*ps.p))
		ps.p++;
	if (ps.p > metric && (rc = metric_matchers(&ps, out, metric, (size_t)(ps.p - metric))))
		goto out;
	skip_ws(&ps);
	if (*ps.p == '{' && (rc = parse_matchers(&ps, out)))
		goto out;
	skip_ws(&ps);
	if (*ps.p) {
		rc = perr(&ps, "unexpected character");
		goto out;
	}
	if (out->n == 0)
		rc = kl_http_errf(err, -KL_EFORMAT, 400,
				  "selector: empty, name a profile type or a label matcher");
out:
	if (rc)
		kl_selector_release(out);
	return rc;
}

static bool re_match(void *re, const char *v)
{
	pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
	int rc;

	if (!md)
		return false;
	rc = pcre2_match(re, (PCRE2_SPTR)v, strlen(v), 0, 0, md, NULL);
	pcre2_match_data_free(md);
	return rc >= 0;
}

bool kl_selector_match(const struct kl_selector *sel, const struct kl_labels *ls)
{
	for (size_t i = 0; i < sel->n; i++) {
		const struct kl_matcher *m = &sel->m[i];
		const char *v = kl_labels_get(ls, m->name);
		bool ok;

		if (!v)
			v = "";	/* PromQL: an absent label has the empty value */
		switch (m->op) {
		case KL_MATCH_EQ:
			ok = !strcmp(v, m->value);
			break;
		case KL_MATCH_NEQ:
			ok = strcmp(v, m->value) != 0;
			break;
		case KL_MATCH_RE:
			ok = re_match(m->re, v);
			break;
		default:
			ok = !re_match(m->re, v);
			break;
		}
		if (!ok)
			return false;
	}
	return true;
}

const char *kl_selector_get_eq(const struct kl_selector *sel, const char *name)
{
	for (size_t i = 0; i < sel->n; i++)
		if (sel->m[i].op == KL_MATCH_EQ && !strcmp(sel->m[i].name, name))
			return sel->m[i].value;
	return NULL;
}

int kl_query_range(const char *from, const char *until, int64_t now_ns, int64_t default_range_ns,
		   int64_t *from_ns, int64_t *until_ns, struct kl_http_err *err)
{
	int rc;

	if ((rc = kl_parse_time(until, now_ns, until_ns, err))) {
		if (err)
			kl_err_prefix(&err->e, "until");
		return rc;
	}
	if (!from || !*from) {
		*from_ns = *until_ns - default_range_ns;
	} else if ((rc = kl_parse_time(from, now_ns, from_ns, err))) {
		if (err)
			kl_err_prefix(&err->e, "from");
		return rc;
	}
	if (*until_ns < *from_ns)
		return kl_http_errf(err, -KL_EFORMAT, 400, "until is before from");
	return 0;
}
