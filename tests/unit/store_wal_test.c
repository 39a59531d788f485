/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_wal_test.c - the store's durability through the WAL: appends
 * survive close and reopen with identical query results (fixtures and
 * synthetic series, several tenants), a torn segment tail loses only the
 * cut record, ENOSPC from the disk or the free-space margin fails the
 * append with nothing visible and later appends succeed once space
 * returns (and replay after a failed batch still knows every symbol), and
 * a second open of the same directory fails with -EBUSY.
 */
#include <fcntl.h>

#include "store_testlib.h"

static const char *const stacks[] = { "main;a;b", "main;a;c", "main;d" };

/* Appends profile i (values depend on i; stacks grow new frames over time). */
static int append_i(struct kl_store *s, const char *tenant, const char *svc, int i)
{
	char extra[64];
	const char *st[4] = { stacks[0], stacks[1], stacks[2], extra };
	int64_t v[4] = { i + 1, 2 * i + 1, 3, 5 };
	struct kl_labels ls = cpu_labels(svc, "pod", i % 2 ? "p1" : "p2");
	struct kl_profile *p;
	int rc;

	snprintf(extra, sizeof(extra), "main;new%d;leaf%d", i % 17, i);
	p = mkprof(st, v, 4, NULL);
	rc = append_one(s, tenant, &ls, p, T0 + i * 10 * SEC, T0 + (i + 1) * 10 * SEC);
	kl_profile_free(p);
	kl_labels_release(&ls);
	return rc;
}

static int64_t total_i(int i)
{
	return i + 1 + 2 * i + 1 + 3 + 5;
}

/* The folded-style digest of a selection: total, samples, and one stack's value. */
struct digest {
	int64_t total, b, leaf;
	uint32_t nsamples, nfunctions;
};

static struct digest digest_of(struct kl_store *s, const char *tenant, const char *sel, int i)
{
	struct kl_profile *p = select_p(s, tenant, sel, T0, T0 + 100000 * SEC, NULL);
	struct digest d = { 0 };
	char leaf[64];

	snprintf(leaf, sizeof(leaf), "main;new%d;leaf%d", i % 17, i);
	d.total = p->nsamples ? kl_profile_total(p, 0) : 0;
	d.b = stack_value(p, "main;a;b");
	d.leaf = stack_value(p, leaf);
	d.nsamples = p->nsamples;
	d.nfunctions = p->nfunctions;
	kl_profile_free(p);
	return d;
}

static void test_reopen_identical(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	struct digest a[2], b[2];
	struct kl_store_stats st;
	char **v1, **v2;
	size_t n1, n2;
	struct kl_err err;

	(void)state;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(append_i(s, "ta", "api", i), 0);
		if (i % 3 == 0)
			assert_int_equal(append_i(s, "tb", "web", i), 0);
	}
	/* and a real pprof split into several series in one batch */
	{
		struct kl_profile *p = test_load_pprof("pprof/go-heap.pb.gz");
		const char *kv[] = { "service_name", "heap", NULL };
		struct kl_labels base = labels_kv(kv);
		struct kl_series_set set = { 0 };
		struct kl_http_err herr = { 0 };

		assert_int_equal(kl_series_split(p, &base, T0, T0 + 10 * SEC, NULL, &set, &herr),
				 0);
		assert_int_equal(kl_store_append(s, "ta", set.v, set.n, &err), 0);
		kl_series_set_release(&set);
		kl_labels_release(&base);
		kl_profile_free(p);
	}
	a[0] = digest_of(s, "ta", "{service_name=\"api\"}", 150);
	a[1] = digest_of(s, "tb", "{service_name=\"web\", pod=\"p2\"}", 198);
	assert_int_equal(kl_store_label_values(s, "ta", "__profile_type__", NULL, T0,
					       T0 + 100000 * SEC, &v1, &n1, &err), 0);
	kl_store_stats(s, &st);
	assert_true(st.wal_bytes > 0);
	assert_true(st.wal_syncs > 0);
	assert_int_equal(st.tenants, 2);
	kl_store_close(s);

	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	b[0] = digest_of(s, "ta", "{service_name=\"api\"}", 150);
	b[1] = digest_of(s, "tb", "{service_name=\"web\", pod=\"p2\"}", 198);
	assert_memory_equal(a, b, sizeof(a));
	assert_true(a[0].leaf > 0 && a[1].leaf > 0);
	assert_int_equal(kl_store_label_values(s, "ta", "__profile_type__", NULL, T0,
					       T0 + 100000 * SEC, &v2, &n2, &err), 0);
	assert_int_equal(n1, n2);
	assert_true(n1 >= 3);
	for (size_t i = 0; i < n1; i++)
		assert_string_equal(v1[i], v2[i]);
	kl_store_strings_free(v1, n1);
	kl_store_strings_free(v2, n2);
	{
		int64_t want = 0;

		for (int i = 0; i < 200; i++)
			want += total_i(i);
		assert_int_equal(a[0].total, want);
	}
	/* appends after the replay go on from the replayed ids */
	assert_int_equal(append_i(s, "ta", "api", 500), 0);
	a[0] = digest_of(s, "ta", "{service_name=\"api\"}", 500);
	kl_store_close(s);
	s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	b[0] = digest_of(s, "ta", "{service_name=\"api\"}", 500);
	assert_memory_equal(&a[0], &b[0], sizeof(a[0]));
	assert_true(b[0].leaf > 0);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

/* The one segment file of dir/wal (the test writes less than a segment). */
static void segment_path(const char *dir, char *out, size_t size)
{
	char wdir[1024];
	DIR *d;
	struct dirent *e;

	snprintf(wdir, sizeof(wdir), "%s/wal", dir);
	d = opendir(wdir);
	assert_non_null(d);
	out[0] = '\0';
	while ((e = readdir(d)))
		if (strstr(e->d_name, ".wal") && !strstr(e->d_name, "corrupt"))
			assert_true((size_t)snprintf(out, size, "%s/%s", wdir, e->d_name) < size);
	closedir(d);
	assert_true(out[0] != '\0');
}

static void test_torn_tail(void **state)
{
	char *dir = tmp_dir(), seg[4200];
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	struct kl_store_stats st;
	struct stat sb;

	(void)state;
	for (int i = 0; i < 5; i++)
		assert_int_equal(append_i(s, "t", "api", i), 0);
	kl_store_close(s);
	segment_path(dir, seg, sizeof(seg));
	assert_int_equal(stat(seg, &sb), 0);
	/* cut the last record in the middle */
	assert_int_equal(truncate(seg, sb.st_size - 7), 0);
	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	kl_store_stats(s, &st);
	assert_int_equal(st.wal_records_cut, 1);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 1000 * SEC, NULL),
			 total_i(0) + total_i(1) + total_i(2) + total_i(3));
	/* the log goes on after the cut */
	assert_int_equal(append_i(s, "t", "api", 4), 0);
	kl_store_close(s);
	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 1000 * SEC, NULL),
			 total_i(0) + total_i(1) + total_i(2) + total_i(3) + total_i(4));
	assert_true(digest_of(s, "t", "{service_name=\"api\"}", 4).leaf > 0);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

static void test_enospc(void **state)
{
	char *dir = tmp_dir();
	struct kl_fsio_fault none = { 0 };
	struct kl_store_opts o = { .dir = dir, .sync = KL_STORE_SYNC_FSYNC,
				   .min_free_bytes = 1, .io = kl_fsio_fault_set(&none) };
	struct kl_store *s;
	struct kl_store_stats st;
	struct kl_err err;
	int64_t want = 0;

	(void)state;
	assert_int_equal(kl_store_open(&o, &s, &err), 0);
	assert_int_equal(append_i(s, "t", "api", 0), 0);
	want += total_i(0);
	/* the disk fills up: every write fails */
	kl_fsio_fault_set(&(struct kl_fsio_fault){ .op = KL_FSIO_PWRITE, .err = ENOSPC });
	for (int i = 1; i < 4; i++)
		assert_int_equal(append_i(s, "t", "api", i), -ENOSPC);
	kl_store_stats(s, &st);
	assert_true(st.disk_full);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 1000 * SEC, NULL),
			 want);
	/* space returns: ingest resumes; new symbols of the failed appends are re-sent */
	kl_fsio_fault_clear();
	for (int i = 4; i < 7; i++) {
		assert_int_equal(append_i(s, "t", "api", i), 0);
		want += total_i(i);
	}
	/* a failed append whose series is new */
	kl_fsio_fault_set(&(struct kl_fsio_fault){ .op = KL_FSIO_PWRITE, .err = ENOSPC });
	assert_int_equal(append_i(s, "t", "newsvc", 9), -ENOSPC);
	kl_fsio_fault_clear();
	assert_int_equal(append_i(s, "t", "newsvc", 10), 0);
	kl_store_stats(s, &st);
	assert_false(st.disk_full);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 1000 * SEC, NULL),
			 want);
	kl_store_close(s);
	/* replay knows every symbol the acknowledged appends used */
	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 1000 * SEC, NULL),
			 want);
	assert_true(digest_of(s, "t", "{service_name=\"api\"}", 5).leaf > 0);
	assert_int_equal(select_total(s, "t", "{service_name=\"newsvc\"}", T0, T0 + 1000 * SEC,
				      NULL), total_i(10));
	kl_store_close(s);

	/* the free-space margin refuses ingest before writing anything */
	o.min_free_bytes = (uint64_t)1 << 40;
	o.io = kl_fsio_fault_set(&(struct kl_fsio_fault){ .op = KL_FSIO_FSTATVFS,
							   .free_bytes = 1000 });
	assert_int_equal(kl_store_open(&o, &s, &err), 0);
	assert_int_equal(append_i(s, "t", "api", 20), -ENOSPC);
	kl_fsio_fault_clear();
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

static void test_locked(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0), *s2;
	struct kl_store_opts o = { .dir = dir, .sync = KL_STORE_SYNC_FSYNC };
	struct kl_err err;

	(void)state;
	assert_int_equal(kl_store_open(&o, &s2, &err), -EBUSY);
	assert_non_null(strstr(err.msg, "in use"));
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reopen_identical),
		cmocka_unit_test(test_torn_tail),
		cmocka_unit_test(test_enospc),
		cmocka_unit_test(test_locked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
