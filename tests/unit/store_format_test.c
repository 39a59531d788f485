/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_format_test.c - the on-disk format does not drift: a data
 * directory written by an earlier build (tests/unit/data/store-v1: blocks,
 * a compacted day, symbols file, WAL records) opens and answers the same
 * queries, and the same appends written by this build give byte-identical
 * files (block data, meta.json, symbols, WAL segments, CHECKPOINT).
 *
 * KILN_STORE_FORMAT_WRITE=DIR makes the test write the fixture into DIR
 * instead (how the fixture was made, with the build before the change).
 */
#include <zstd.h>

#include "store_testlib.h"

static const char *const stacks[] = { "main;a;b", "main;a;c", "main;d", "main;e;f;g" };
static const char *const spans[] = { "s1", NULL, "s2", NULL };

#define STEP (600 * SEC)	/* a profile every 10 min */
#define PER_BLOCK 24		/* a cut every 4 h */
#define NPROF (2 * 6 * PER_BLOCK + 30)	/* two days of blocks, then 5 h in the WAL */

/* The appends the fixture holds; returns the total value appended. */
static int64_t write_dir(const char *dir)
{
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	struct kl_err err;
	int64_t total = 0;
	int rc;

	for (int64_t i = 0; i < NPROF; i++) {
		int64_t v[4] = { i % 7 + 1, 2, i % 3 + 1, 5 + i % 11 };
		struct kl_labels ls = cpu_labels("api", "pod", i % 3 ? "p1" : "p2");
		struct kl_profile *p = mkprof(stacks, v, 4, spans);

		assert_int_equal(append_one(s, "t", &ls, p, T0 + i * STEP,
					    T0 + i * STEP + 10 * SEC), 0);
		total += v[0] + v[1] + v[2] + v[3];
		kl_profile_free(p);
		kl_labels_release(&ls);
		if (i % PER_BLOCK == PER_BLOCK - 1 && i < 2 * 6 * PER_BLOCK)
			assert_int_equal(store_cut(s, &err), 0);
	}
	/* day 1 is over (a block of day 2 exists): one compaction */
	while ((rc = store_compact(s, &err)) > 0)
		;
	assert_int_equal(rc, 0);
	kl_store_close(s);
	return total;
}

/*
 * Asserts that the trees hold the same files with the same bytes (not
 * ZSTD_VERSION, nor deleted/: git keeps no empty directory).
 */
static size_t same_tree(const char *want, const char *got)
{
	DIR *d = opendir(want);
	struct dirent *e;
	size_t files = 0, nw = 0, ng = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char a[4096], b[4096];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..") ||
		    !strcmp(e->d_name, "ZSTD_VERSION") || !strcmp(e->d_name, "deleted"))
			continue;
		nw++;
		snprintf(a, sizeof(a), "%s/%s", want, e->d_name);
		snprintf(b, sizeof(b), "%s/%s", got, e->d_name);
		assert_int_equal(stat(a, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			files += same_tree(a, b);
		} else {
			size_t n, m;
			uint8_t *x = test_slurp(a, &n), *y = test_slurp(b, &m);

			if (n != m || memcmp(x, y, n))
				fail_msg("%s differs from %s (%zu and %zu bytes)", b, a, m, n);
			free(x);
			free(y);
			files++;
		}
	}
	closedir(d);
	d = opendir(got);
	assert_non_null(d);
	while ((e = readdir(d)))
		ng += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") &&
		      strcmp(e->d_name, "deleted");
	closedir(d);
	if (nw != ng)
		fail_msg("%s holds %zu entries, %s %zu", got, ng, want, nw);
	return files;
}

struct answers {
	int64_t all, p2, s1, day1, edge, b;
};

static struct answers answers_of(const char *dir)
{
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	const char *a = "{service_name=\"api\"}";
	struct answers x;
	struct kl_profile *p;

	x.all = select_total(s, "t", a, T0, T0 + 3 * 86400 * SEC, NULL);
	x.p2 = select_total(s, "t", "{service_name=\"api\",pod=\"p2\"}", T0, T0 + 3 * 86400 * SEC,
			    NULL);
	x.s1 = select_total(s, "t", a, T0, T0 + 3 * 86400 * SEC, "s1");
	x.day1 = select_total(s, "t", a, T0 + 3600 * SEC, T0 + 86400 * SEC + 1, NULL);
	x.edge = select_total(s, "t", a, T0 + 14000 * SEC, T0 + 15000 * SEC, NULL);
	p = select_p(s, "t", a, T0 + 1000 * SEC, T0 + 150000 * SEC, NULL);
	x.b = stack_value(p, "main;a;b");
	kl_profile_free(p);
	kl_store_close(s);
	return x;
}

static char *fixture_dir(void)
{
	const char *src = getenv("KILN_SRC");
	char p[4096];

	snprintf(p, sizeof(p), "%s/tests/unit/data/store-v1", src ? src : ".");
	return strdup(p);
}

static void test_old_dir_opens(void **state)
{
	char *fx = fixture_dir(), *dir = tmp_dir(), *fresh = tmp_dir(), copy[4200];
	struct answers a, b;
	int64_t total;

	(void)state;
	/* a copy: an open takes the lock and may rewrite the WAL's tail */
	snprintf(copy, sizeof(copy), "%s/d", dir);
	copy_tree(fx, copy);
	total = write_dir(fresh);
	a = answers_of(copy);
	b = answers_of(fresh);
	assert_int_equal(a.all, total);
	assert_true(a.p2 > 0 && a.s1 > 0 && a.day1 > 0 && a.edge > 0 && a.b > 0);
	assert_memory_equal(&a, &b, sizeof(a));
	rm_tree(dir);
	rm_tree(fresh);
	free(dir);
	free(fresh);
	free(fx);
}

static void test_same_bytes(void **state)
{
	char *fx = fixture_dir(), *dir = tmp_dir(), vpath[4200];
	unsigned version;
	size_t n;
	char *v;

	(void)state;
	snprintf(vpath, sizeof(vpath), "%s/ZSTD_VERSION", fx);
	v = (char *)test_slurp(vpath, &n);
	version = (unsigned)strtoul(v, NULL, 10);
	free(v);
	write_dir(dir);
	if (version != ZSTD_versionNumber()) {
		/* another zstd may compress differently: only the answers can be compared */
		print_message("fixture made with zstd %u, this is %u: bytes not compared\n", version,
			      ZSTD_versionNumber());
	} else {
		assert_true(same_tree(fx, dir) >= 10);
	}
	rm_tree(dir);
	free(dir);
	free(fx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_old_dir_opens),
		cmocka_unit_test(test_same_bytes),
	};
	const char *w = getenv("KILN_STORE_FORMAT_WRITE");

	if (w) {
		char p[4200];
		FILE *f;

		write_dir(w);
		snprintf(p, sizeof(p), "%s/ZSTD_VERSION", w);
		f = fopen(p, "w");
		if (!f)
			return 1;
		fprintf(f, "%u\n", ZSTD_versionNumber());
		fclose(f);
		return 0;
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
