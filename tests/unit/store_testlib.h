/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_testlib.h - helpers shared by the store's unit tests: temporary
 * data directories, synthetic single-type profiles from "a;b;c" stacks,
 * series label sets, fixture ingest through kl_series_split, select
 * shortcuts, and copies of data directories (crash states). Header-only
 * (static functions).
 */
#ifndef KL_STORE_TESTLIB_H
#define KL_STORE_TESTLIB_H

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ingest_testlib.h"
#include "store/store.h"
#include "store/store_internal.h"

#define CPU_TYPE "process_cpu:cpu:nanoseconds:cpu:nanoseconds"
#define SEC INT64_C(1000000000)
/* a round start time: 2026-11-21 00:00:00 UTC */
#define T0 (INT64_C(1795219200) * SEC)

/* Removes a directory tree (test data only, depth-first). */
static KL_UNUSED void rm_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char p[4096];

	if (!d) {
		unlink(path);
		return;
	}
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		rm_tree(p);
	}
	closedir(d);
	rmdir(path);
}

/* Copies a directory tree (directories and regular files) from into to (created). */
static KL_UNUSED void copy_tree(const char *from, const char *to)
{
	DIR *d = opendir(from);
	struct dirent *e;

	assert_non_null(d);
	assert_true(mkdir(to, 0755) == 0 || errno == EEXIST);
	while ((e = readdir(d))) {
		char a[4096], b[4096], buf[65536];
		struct stat st;
		FILE *in, *out;
		size_t n;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(a, sizeof(a), "%s/%s", from, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", to, e->d_name);
		assert_int_equal(stat(a, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			copy_tree(a, b);
			continue;
		}
		in = fopen(a, "rb");
		out = fopen(b, "wb");
		assert_non_null(in);
		assert_non_null(out);
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			assert_int_equal(fwrite(buf, 1, n, out), n);
		fclose(in);
		fclose(out);
	}
	closedir(d);
}

/* A fresh directory under /tmp; the caller removes it with rm_tree. */
static KL_UNUSED char *tmp_dir(void)
{
	char *d = strdup("/tmp/kiln-store-test-XXXXXX");

	assert_non_null(mkdtemp(d));
	return d;
}

static KL_UNUSED struct kl_store *open_store(const char *dir, enum kl_store_sync sync,
					     uint32_t max_series)
{
	/* no automatic cut: tests cut with store_cut when they want blocks */
	struct kl_store_opts o = { .dir = dir, .sync = sync, .max_series = max_series,
				   .min_free_bytes = 1, .memory_limit = (size_t)1 << 30,
				   .block_span_ns = 1000 * 86400 * SEC };
	struct kl_store *s;
	struct kl_err err;

	if (kl_store_open(&o, &s, &err))
		fail_msg("open %s: %s", dir, err.msg);
	return s;
}

/* A sorted label set from name, value, ... NULL. */
static KL_UNUSED struct kl_labels labels_kv(const char *const *kv)
{
	struct kl_labels ls = { 0 };

	for (; kv[0]; kv += 2)
		assert_int_equal(kl_labels_set(&ls, kv[0], kv[1], strlen(kv[1])), 0);
	kl_labels_sort(&ls);
	return ls;
}

/* Labels of a CPU series of service svc with one extra label (NULL = none). */
static KL_UNUSED struct kl_labels cpu_labels(const char *svc, const char *k, const char *v)
{
	const char *kv[] = { "__profile_type__", CPU_TYPE, "__name__", "process_cpu",
			     "service_name", svc, k, v, NULL };

	if (!k)
		kv[6] = NULL;
	return labels_kv(kv);
}

static KL_UNUSED uint32_t fn_of(struct kl_profile *p, const char *name)
{
	kl_strid id = kl_profile_cstr(p, name);

	for (uint32_t i = 0; i < p->nfunctions; i++)
		if (p->functions[i].name == id)
			return i;
	return kl_profile_add_function(p, &(struct kl_function){ .id = p->nfunctions + 1,
								 .name = id });
}

static KL_UNUSED uint32_t loc_of(struct kl_profile *p, const char *name)
{
	uint32_t f = fn_of(p, name);

	for (uint32_t i = 0; i < p->nlocations; i++)
		if (p->lines[p->locations[i].line_start].function == f)
			return i;
	return kl_profile_add_location(p, &(struct kl_location){ .id = p->nlocations + 1 },
				       &(struct kl_line){ .function = f, .line = 1 }, 1);
}

/*
 * The locations of stack ("root;...;leaf") in p, leaf first as pprof
 * keeps them, into locs (room for cap); returns how many.
 */
static KL_UNUSED uint32_t stack_locs(struct kl_profile *p, const char *stack, uint32_t *locs,
				     uint32_t cap)
{
	char buf[512], *save = NULL, *tok;
	uint32_t nl = 0;

	snprintf(buf, sizeof(buf), "%s", stack);
	for (tok = strtok_r(buf, ";", &save); tok && nl < cap; tok = strtok_r(NULL, ";", &save))
		locs[nl++] = loc_of(p, tok);
	for (uint32_t a = 0, b = nl ? nl - 1 : 0; a < b; a++, b--) {
		uint32_t x = locs[a];

		locs[a] = locs[b];
		locs[b] = x;
	}
	return nl;
}

/*
 * A cpu:nanoseconds profile with one sample per stack ("root;...;leaf"),
 * value vals[i], and span_id spans[i] when spans is not NULL (NULL entries
 * have none).
 */
static KL_UNUSED struct kl_profile *mkprof(const char *const *stacks, const int64_t *vals,
					   size_t n, const char *const *spans)
{
	struct kl_profile *p = kl_profile_new();

	assert_non_null(p);
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "cpu"), kl_profile_cstr(p, "nanoseconds"));
	p->period_type.type = kl_profile_cstr(p, "cpu");
	p->period_type.unit = kl_profile_cstr(p, "nanoseconds");
	p->period = 10000000;
	for (size_t i = 0; i < n; i++) {
		uint32_t locs[64], nl = stack_locs(p, stacks[i], locs, 64);
		struct kl_label lb = { 0 };

		if (spans && spans[i]) {
			lb.key = kl_profile_cstr(p, "span_id");
			lb.str = kl_profile_cstr(p, spans[i]);
		}
		kl_profile_add_sample(p, locs, nl, &vals[i], &lb, spans && spans[i] ? 1 : 0);
	}
	assert_false(kl_profile_failed(p));
	return p;
}

/* Appends one profile under labels ls covering [start, end). */
static KL_UNUSED int append_one(struct kl_store *s, const char *tenant, const struct kl_labels *ls,
				struct kl_profile *p, int64_t start, int64_t end)
{
	struct kl_series v = { .labels = *ls, .profile = p, .start_ns = start, .end_ns = end };
	struct kl_err err;
	int rc = kl_store_append(s, tenant, &v, 1, &err);

	if (rc && rc != -ENOSPC && rc != -KL_ELIMIT && rc != -ENOMEM && rc != -EIO)
		fail_msg("append: %s", err.msg);
	return rc;
}

static KL_UNUSED struct kl_selector sel_of(const char *s)
{
	struct kl_selector sel = { 0 };
	struct kl_http_err err = { 0 };

	if (kl_selector_parse(s, &sel, &err))
		fail_msg("selector %s: %s", s, err.e.msg);
	return sel;
}

/* Selects and returns the merged profile (caller frees). */
static KL_UNUSED struct kl_profile *select_p(struct kl_store *s, const char *tenant,
					     const char *selector, int64_t from, int64_t until,
					     const char *span)
{
	struct kl_selector sel = sel_of(selector);
	struct kl_store_query q = { .tenant = tenant, .sel = &sel, .from_ns = from,
				    .until_ns = until, .span_id = span };
	struct kl_profile *p = NULL;
	struct kl_err err;

	if (kl_store_select(s, &q, &p, &err))
		fail_msg("select %s: %s", selector, err.msg);
	kl_selector_release(&sel);
	assert_int_equal(kl_profile_validate(p, &err), 0);
	return p;
}

static KL_UNUSED int64_t select_total(struct kl_store *s, const char *tenant,
				      const char *selector, int64_t from, int64_t until,
				      const char *span)
{
	struct kl_profile *p = select_p(s, tenant, selector, from, until, span);
	int64_t t = p->nsample_types ? kl_profile_total(p, 0) : 0;

	kl_profile_free(p);
	return t;
}

/* Value of the sample whose stack is "root;...;leaf" in p (0 if absent). */
static KL_UNUSED int64_t stack_value(const struct kl_profile *p, const char *stack)
{
	int64_t v = 0;

	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *sm = &p->samples[i];
		const uint32_t *locs = kl_sample_locs(p, sm);
		char buf[1024] = "";
		size_t len = 0;

		for (uint32_t k = sm->nlocs; k > 0; k--) {
			const struct kl_location *l = &p->locations[locs[k - 1]];
			const struct kl_line *ln = kl_location_lines(p, l);

			len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%s",
						len ? ";" : "",
						kl_profile_sget(p,
								p->functions[ln[0].function].name));
		}
		if (!strcmp(buf, stack))
			v += kl_sample_values(p, i)[0];
	}
	return v;
}

#endif /* KL_STORE_TESTLIB_H */
