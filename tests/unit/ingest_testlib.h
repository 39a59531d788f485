/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ingest_testlib.h - helpers shared by the ingest unit tests: fixture
 * loading, /ingest parameter setup from a query string, finding series by
 * label, and a multipart body builder. Header-only (static functions).
 */
#ifndef KL_INGEST_TESTLIB_H
#define KL_INGEST_TESTLIB_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "server/ingest.h"
#include "server/selector.h"
#include "testlib.h"

/* 2026-11-21 12:00:00 UTC, the "now" of every test */
#define NOW_NS INT64_C(1795262400000000000)

/* Parses a raw query string into *p; returns the rc, err filled. */
static KL_UNUSED int params_from(const char *query, struct kl_ingest_params *p,
				 struct kl_http_err *err)
{
	char **k, **v;
	size_t n;
	int rc = kl_query_parse(query, 64, &k, &v, &n, err);

	if (rc)
		return rc;
	rc = kl_ingest_params_parse((const char *const *)k, (const char *const *)v, n, NOW_NS, p, err);
	kl_query_free(k, v, n);
	return rc;
}

/* The series whose label name has value (or -1). */
static KL_UNUSED long find_series(const struct kl_series_set *s, const char *name,
				  const char *value, size_t from)
{
	for (size_t i = from; i < s->n; i++) {
		const char *v = kl_labels_get(&s->v[i].labels, name);

		if (v && !strcmp(v, value))
			return (long)i;
	}
	return -1;
}

/* Appends one form-data part to a multipart body with boundary b. */
static KL_UNUSED void mp_part(struct kl_buf *out, const char *b, const char *name,
			      const void *data, size_t len, const char *eol)
{
	kl_buf_addf(out, "--%s%sContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"%s"
		    "Content-Type: application/octet-stream%s%s", b, eol, name, name, eol, eol, eol);
	kl_buf_add(out, data, len);
	kl_buf_addstr(out, eol);
}

static KL_UNUSED void mp_end(struct kl_buf *out, const char *b, const char *eol)
{
	kl_buf_addf(out, "--%s--%s", b, eol);
}

#endif /* KL_INGEST_TESTLIB_H */
