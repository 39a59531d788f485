/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_ingest.c - libFuzzer target for the ingest parsers of src/server:
 * the first byte picks the parser (name{} grammar and times, multipart,
 * selector, Connect Push binary and JSON, /ingest folded/lines/pprof
 * bodies), the rest is its input. Every call must end in 0 or an error with
 * a 4xx/5xx status and a message, without leaks; accepted results must
 * hold their invariants (sorted labels, one sample type per series).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/ingest.h"
#include "server/selector.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW_NS INT64_C(1795262400000000000)

static void check_err(int rc, const struct kl_http_err *err)
{
	if (rc && (err->status < 400 || err->status > 599 || !err->e.msg[0]))
		abort();
}

static void check_series(struct kl_series_set *s)
{
	for (size_t i = 0; i < s->n; i++) {
		const struct kl_labels *ls = &s->v[i].labels;

		if (s->v[i].profile->nsample_types != 1 || !kl_labels_get(ls, "__profile_type__") ||
		    !kl_labels_get(ls, "service_name"))
			abort();
		for (size_t j = 1; j < ls->n; j++)
			if (strcmp(ls->v[j - 1].name, ls->v[j].name) >= 0)
				abort();
	}
	kl_series_set_release(s);
}

/* A NUL-terminated copy for the string parsers. */
static char *cstr(const uint8_t *d, size_t n)
{
	char *s = malloc(n + 1);

	if (!s)
		abort();
	memcpy(s, d, n);
	s[n] = '\0';
	return s;
}

static void fuzz_name(const uint8_t *d, size_t n)
{
	struct kl_http_err err = { 0 };
	struct kl_labels ls = { 0 };
	char *s = cstr(d, n), *app = NULL;
	int64_t t;
	int rc = kl_ingest_parse_name(s, &app, &ls, &err);

	check_err(rc, &err);
	if (!rc && (!app || !*app))
		abort();
	kl_free(app);
	kl_labels_release(&ls);
	check_err(kl_parse_time(s, NOW_NS, &t, &err), &err);
	free(s);
}

static void fuzz_multipart(const uint8_t *d, size_t n)
{
	struct kl_multipart_part parts[8];
	struct kl_http_err err = { 0 };
	size_t np;
	int rc = kl_multipart_parse("multipart/form-data; boundary=xX", d, n, parts, 8, &np, &err);

	check_err(rc, &err);
	for (size_t i = 0; !rc && i < np; i++)
		if (parts[i].data < d || parts[i].data + parts[i].len > d + n)
			abort();
}

static void fuzz_selector(const uint8_t *d, size_t n)
{
	static const char *const kv[] = { "service_name", "api", "env", "prod", "__profile_type__",
					  "process_cpu:cpu:nanoseconds:cpu:nanoseconds" };
	struct kl_http_err err = { 0 };
	struct kl_selector sel;
	struct kl_labels ls = { 0 };
	char *s = cstr(d, n);
	int rc = kl_selector_parse(s, &sel, &err);

	check_err(rc, &err);
	if (!rc) {
		for (size_t i = 0; i < KL_ARRAY_SIZE(kv); i += 2)
			kl_labels_set(&ls, kv[i], kv[i + 1], strlen(kv[i + 1]));
		kl_labels_sort(&ls);
		(void)kl_selector_match(&sel, &ls);
		kl_labels_release(&ls);
		kl_selector_release(&sel);
	}
	free(s);
}

static void fuzz_push(const uint8_t *d, size_t n, bool json)
{
	struct kl_http_err err = { 0 };
	struct kl_series_set s = { 0 };
	struct kl_ingest_limits lim = { .max_profile = 1 << 20, .max_samples = 10000 };
	int rc = kl_push_decode(json ? "application/json" : "application/proto", NULL, d, n, NOW_NS,
				&lim, &s, &err);

	check_err(rc, &err);
	check_series(&s);
}

static void fuzz_body(const uint8_t *d, size_t n, const char *query, const char *ctype)
{
	struct kl_http_err err = { 0 };
	struct kl_series_set s = { 0 };
	struct kl_ingest_params pa;
	struct kl_ingest_limits lim = { .max_profile = 1 << 20, .max_samples = 10000 };
	char **k, **v;
	size_t nq;
	int rc;

	if (kl_query_parse(query, 16, &k, &v, &nq, &err))
		abort();
	rc = kl_ingest_params_parse((const char *const *)k, (const char *const *)v, nq, NOW_NS, &pa,
				    &err);
	kl_query_free(k, v, nq);
	if (rc)
		abort();
	rc = kl_ingest_request(&pa, ctype, d, n, &lim, &s, &err);
	check_err(rc, &err);
	check_series(&s);
	kl_ingest_params_release(&pa);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	/* the seed corpus holds gzip pprof files: ingest those whole */
	if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) {
		fuzz_body(data, size, "name=f&format=pprof&from=0", NULL);
		return 0;
	}
	switch (data[0] % 9) {
	case 0:
		fuzz_name(data + 1, size - 1);
		break;
	case 1:
		fuzz_multipart(data + 1, size - 1);
		break;
	case 2:
		fuzz_selector(data + 1, size - 1);
		break;
	case 3:
		fuzz_push(data + 1, size - 1, false);
		break;
	case 4:
		fuzz_push(data + 1, size - 1, true);
		break;
	case 5:
		fuzz_body(data + 1, size - 1, "name=f.cpu%7Ba%3Db%7D&sampleRate=97", NULL);
		break;
	case 6:
		fuzz_body(data + 1, size - 1, "name=f.alloc_space&format=lines", NULL);
		break;
	case 7:
		fuzz_body(data + 1, size - 1, "name=f", "multipart/form-data; boundary=xX");
		break;
	default:
		fuzz_body(data + 1, size - 1, "name=f&format=pprof&from=0", NULL);
		break;
	}
	return 0;
}
