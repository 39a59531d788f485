/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_block_test.c - immutable blocks: queries give the same answers
 * before and after a cut and after reopening (selects, span filters,
 * aggregates against raw profiles across blocks and the head, timelines,
 * labels), an unfinished cut neither loses nor doubles data, a failed cut
 * (disk full) keeps the head, a damaged block fails queries with -EIO,
 * the background thread cuts when memory is over the limit, and retention
 * deletes whole blocks by age and by size.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "store_testlib.h"

static const char *const stacks[] = { "main;a;b", "main;a;c", "main;d", "main;e;f;g" };
static const char *const spans[] = { "s1", NULL, "s2", NULL };

/* Appends n profiles from slot first on (step s apart), values depending on the slot. */
static int64_t fill_step(struct kl_store *s, const char *svc, int64_t first, int64_t n,
			 int64_t step)
{
	int64_t total = 0;

	for (int64_t i = first; i < first + n; i++) {
		int64_t v[4] = { i % 7 + 1, 2, i % 3 + 1, 5 };
		struct kl_labels ls = cpu_labels(svc, "pod", i % 2 ? "p1" : "p2");
		struct kl_profile *p = mkprof(stacks, v, 4, spans);

		assert_int_equal(append_one(s, "t", &ls, p, T0 + i * step * SEC,
					    T0 + i * step * SEC + 10 * SEC), 0);
		total += v[0] + v[1] + v[2] + v[3];
		kl_profile_free(p);
		kl_labels_release(&ls);
	}
	return total;
}

static int64_t fill(struct kl_store *s, const char *svc, int64_t first, int64_t n)
{
	return fill_step(s, svc, first, n, 10);
}

struct snap {
	int64_t all, pod1, s1, mid, edge, b, tl_total, tl_b0;
	size_t npods;
};

static struct snap snap_of(struct kl_store *s)
{
	struct snap x = { 0 };
	struct kl_selector sel = sel_of("{service_name=\"api\"}");
	struct kl_store_query q = { .tenant = "t", .sel = &sel, .from_ns = T0,
				    .until_ns = T0 + 40000 * SEC };
	struct kl_store_timeline *tl;
	struct kl_profile *p;
	struct kl_err err;
	char **v;
	size_t n;

	x.all = select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 40000 * SEC, NULL);
	x.pod1 = select_total(s, "t", "{service_name=\"api\", pod=\"p1\"}", T0, T0 + 40000 * SEC,
			      NULL);
	x.s1 = select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 40000 * SEC, "s1");
	x.mid = select_total(s, "t", "{service_name=\"api\"}", T0 + 1234 * SEC,
			     T0 + 23456 * SEC, NULL);
	x.edge = select_total(s, "t", "{service_name=\"api\"}", T0 + 7195 * SEC,
			      T0 + 7215 * SEC, NULL);
	p = select_p(s, "t", "{service_name=\"api\"}", T0 + 99 * SEC, T0 + 30001 * SEC, NULL);
	x.b = stack_value(p, "main;a;b");
	kl_profile_free(p);
	assert_int_equal(kl_store_timeline(s, &q, 3600 * SEC, NULL, &tl, &n, &err), 0);
	x.tl_total = tl[0].total;
	x.tl_b0 = tl[0].values[0];
	kl_store_timelines_free(tl, n);
	assert_int_equal(kl_store_label_values(s, "t", "pod", NULL, T0, T0 + 40000 * SEC, &v, &n,
					       &err), 0);
	x.npods = n;
	kl_store_strings_free(v, n);
	kl_selector_release(&sel);
	return x;
}

static void test_cut_and_reopen(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	struct kl_store_stats st;
	struct snap a, b, c;
	struct kl_err err;
	int64_t total;

	(void)state;
	/* three "blocks" worth: cut, cut, and a head */
	total = fill(s, "api", 0, 1000);
	a = snap_of(s);
	assert_int_equal(a.all, total);
	assert_int_equal(store_cut(s, &err), 0);
	b = snap_of(s);
	assert_memory_equal(&a, &b, sizeof(a));
	total += fill(s, "api", 1000, 1000);
	assert_int_equal(store_cut(s, &err), 0);
	total += fill(s, "api", 2000, 500);
	kl_store_stats(s, &st);
	assert_int_equal(st.blocks, 2);
	a = snap_of(s);
	assert_int_equal(a.all, total);
	assert_int_equal(a.npods, 2);
	assert_true(a.s1 > 0 && a.edge > 0 && a.b > 0);
	/* aggregates against raw profiles, across the blocks and the head */
	store_set_raw_only(s, true);
	c = snap_of(s);
	store_set_raw_only(s, false);
	assert_memory_equal(&a, &c, sizeof(a));
	kl_store_close(s);

	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	b = snap_of(s);
	assert_memory_equal(&a, &b, sizeof(a));
	kl_store_stats(s, &st);
	assert_int_equal(st.blocks, 2);
	assert_true(st.disk_bytes > 0);
	/* new symbols after the reopen, another cut, another reopen */
	{
		int64_t v = 1000;
		static const char *const st1[] = { "main;brand;new" };
		struct kl_labels ls = cpu_labels("api", "pod", "p3");
		struct kl_profile *p = mkprof(st1, &v, 1, NULL);

		assert_int_equal(append_one(s, "t", &ls, p, T0 + 30000 * SEC, T0 + 30010 * SEC), 0);
		kl_profile_free(p);
		kl_labels_release(&ls);
	}
	assert_int_equal(store_cut(s, &err), 0);
	kl_store_close(s);
	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	{
		struct kl_profile *p = select_p(s, "t", "{pod=\"p3\"}", T0, T0 + 40000 * SEC, NULL);

		assert_int_equal(stack_value(p, "main;brand;new"), 1000);
		kl_profile_free(p);
	}
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 40000 * SEC, NULL),
			 total + 1000);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

static void test_unfinished_cut(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	struct kl_store_stats st;
	struct st_block *b;
	struct kl_err err;
	int64_t total;

	(void)state;
	total = fill(s, "api", 0, 100);
	assert_int_equal(store_cut(s, &err), 0);
	total += fill(s, "api", 100, 100);
	/* a block written by a cut that crashed before its checkpoint */
	{
		struct st_tenant *t = store_tenant_get(s, "t", false);

		assert_int_equal(store_block_write(s, t, t->series, t->nseries, UINT64_C(1) << 40,
						   &b, &err), 0);
	}
	store_block_free(b);
	kl_store_close(s);
	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	kl_store_stats(s, &st);
	assert_int_equal(st.blocks, 1);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 4000 * SEC, NULL),
			 total);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

static void test_failed_cut_keeps_head(void **state)
{
	char *dir = tmp_dir();
	struct kl_fsio_fault none = { 0 };
	struct kl_store_opts o = { .dir = dir, .sync = KL_STORE_SYNC_FSYNC, .min_free_bytes = 1,
				   .io = kl_fsio_fault_set(&none),
				   .memory_limit = (size_t)1 << 30,
				   .block_span_ns = 1000 * 86400 * SEC };
	struct kl_store *s;
	struct kl_store_stats st;
	struct kl_err err;
	int64_t total;

	(void)state;
	assert_int_equal(kl_store_open(&o, &s, &err), 0);
	total = fill(s, "api", 0, 200);
	kl_fsio_fault_set(&(struct kl_fsio_fault){ .op = KL_FSIO_RENAME, .err = ENOSPC });
	assert_int_equal(store_cut(s, &err), -ENOSPC);
	kl_fsio_fault_clear();
	kl_store_stats(s, &st);
	assert_int_equal(st.blocks, 0);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 4000 * SEC, NULL),
			 total);
	assert_int_equal(store_cut(s, &err), 0);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 4000 * SEC, NULL),
			 total);
	kl_store_close(s);
	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 4000 * SEC, NULL),
			 total);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

/* Flips a byte in every 16 of the first block's sections (the index stays intact). */
static void damage_block(const char *dir)
{
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	struct st_tenant *t = store_tenant_get(s, "t", false);
	uint8_t foot[32];
	uint64_t ioff = 0;
	char path[4200];
	FILE *f;

	assert_non_null(t);
	assert_true(t->nblocks > 0);
	snprintf(path, sizeof(path), "%s/data", t->blocks[0]->path);
	kl_store_close(s);
	f = fopen(path, "r+b");
	assert_non_null(f);
	fseek(f, -32, SEEK_END);
	assert_int_equal(fread(foot, 1, 32, f), 32);
	for (int i = 7; i >= 0; i--)
		ioff = ioff << 8 | foot[i];
	for (uint64_t off = 12; off < ioff; off += 16) {
		int c;

		fseek(f, (long)off, SEEK_SET);
		c = fgetc(f);
		fseek(f, (long)off, SEEK_SET);
		fputc(c ^ 0x55, f);
	}
	fclose(f);
}

static void test_damaged_block(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	struct kl_selector sel = sel_of("{service_name=\"api\"}");
	struct kl_store_query q = { .tenant = "t", .sel = &sel, .from_ns = T0,
				    .until_ns = T0 + 4000 * SEC };
	struct kl_profile *p = NULL;
	struct kl_err err;

	(void)state;
	fill(s, "api", 0, 50);
	assert_int_equal(store_cut(s, &err), 0);
	kl_store_close(s);
	damage_block(dir);
	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	assert_int_equal(kl_store_select(s, &q, &p, &err), -EIO);
	assert_null(p);
	assert_non_null(strstr(err.msg, "damaged"));
	kl_store_close(s);
	kl_selector_release(&sel);
	rm_tree(dir);
	free(dir);
}

static void test_background_cut(void **state)
{
	char *dir = tmp_dir();
	struct kl_store_opts o = { .dir = dir, .sync = KL_STORE_SYNC_WRITE, .min_free_bytes = 1,
				   .memory_limit = 8 * 1024 };
	struct kl_store *s;
	struct kl_store_stats st = { 0 };
	struct kl_err err;
	int64_t total;

	(void)state;
	assert_int_equal(kl_store_open(&o, &s, &err), 0);
	total = fill(s, "api", 0, 400);
	for (int i = 0; i < 200 && st.blocks == 0; i++) {
		usleep(50 * 1000);	/* polls the condition, 10 s deadline */
		kl_store_stats(s, &st);
	}
	assert_true(st.blocks > 0);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 4000 * SEC, NULL),
			 total);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

static void test_retention(void **state)
{
	char *dir = tmp_dir();
	struct kl_store_opts o = { .dir = dir, .sync = KL_STORE_SYNC_WRITE, .min_free_bytes = 1,
				   .memory_limit = (size_t)1 << 30,
				   .block_span_ns = 1000 * 86400 * SEC };
	struct kl_store *s;
	struct kl_store_stats st;
	struct kl_err err;
	int64_t t1, t2;

	(void)state;
	assert_int_equal(kl_store_open(&o, &s, &err), 0);
	t1 = fill(s, "api", 0, 100);	/* [T0, T0 + 1000 s) */
	assert_int_equal(store_cut(s, &err), 0);
	t2 = fill(s, "api", 1000, 100);	/* [T0 + 10000 s, T0 + 11000 s) */
	assert_int_equal(store_cut(s, &err), 0);
	fill(s, "api", 2000, 100);
	assert_int_equal(store_cut(s, &err), 0);
	kl_store_close(s);

	/* by age: "now" is T0 + 20000 s, keep 15000 s: the first block goes */
	o.retention_ns = 15000 * SEC;
	assert_int_equal(kl_store_open(&o, &s, &err), 0);
	store_retention(s, T0 + 20000 * SEC);
	kl_store_stats(s, &st);
	assert_int_equal(st.blocks, 2);
	assert_int_equal(st.blocks_deleted, 1);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 10000 * SEC, NULL),
			 0);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 11000 * SEC, NULL),
			 t2);
	kl_store_close(s);
	(void)t1;

	/* by size: a limit just above one block keeps only the newest */
	o.retention_ns = 0;
	assert_int_equal(kl_store_open(&o, &s, &err), 0);
	kl_store_stats(s, &st);
	assert_int_equal(st.blocks, 2);
	s->o.retention_bytes = st.disk_bytes - 1;
	store_retention(s, T0);
	kl_store_stats(s, &st);
	assert_int_equal(st.blocks, 1);
	assert_int_equal(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 11000 * SEC, NULL),
			 0);
	assert_true(select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 30000 * SEC, NULL) > 0);
	kl_store_close(s);
	/* deleted for good */
	assert_int_equal(kl_store_open(&o, &s, &err), 0);
	kl_store_stats(s, &st);
	assert_int_equal(st.blocks, 1);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

struct conc {
	struct kl_store *s;
	int id;
	int64_t total;
	atomic_bool *stop;
};

static void *appender(void *arg)
{
	struct conc *c = arg;
	char svc[16];

	snprintf(svc, sizeof(svc), "c%d", c->id);
	for (int64_t i = 0; i < 400; i++) {
		int64_t v[4] = { i % 7 + 1, 2, c->id + 1, 5 };
		struct kl_labels ls = cpu_labels(svc, NULL, NULL);
		struct kl_profile *p = mkprof(stacks, v, 4, spans);

		if (append_one(c->s, "t", &ls, p, T0 + i * 10 * SEC, T0 + (i + 1) * 10 * SEC))
			abort();
		c->total += v[0] + v[1] + v[2] + v[3];
		kl_profile_free(p);
		kl_labels_release(&ls);
	}
	return NULL;
}

static void *querier(void *arg)
{
	struct conc *c = arg;

	while (!atomic_load(c->stop)) {
		struct kl_profile *p = select_p(c->s, "t", "{service_name=~\"c.*\"}", T0,
						T0 + 5000 * SEC, c->id % 2 ? "s1" : NULL);
		struct kl_store_timeline *tl;
		struct kl_selector sel = sel_of("{service_name=\"c0\"}");
		struct kl_store_query q = { .tenant = "t", .sel = &sel, .from_ns = T0,
					    .until_ns = T0 + 5000 * SEC };
		struct kl_err err;
		size_t n;

		kl_profile_free(p);
		if (kl_store_timeline(c->s, &q, 100 * SEC, NULL, &tl, &n, &err))
			abort();
		kl_store_timelines_free(tl, n);
		kl_selector_release(&sel);
	}
	return NULL;
}

static void *cutter(void *arg)
{
	struct conc *c = arg;

	while (!atomic_load(c->stop)) {
		struct kl_err err;

		if (store_cut(c->s, &err))
			abort();
		usleep(5000);
	}
	return NULL;
}

/* Appends, queries and cuts at once; everything acknowledged is there, also after reopen. */
static void test_concurrent_cuts(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	atomic_bool stop = false;
	pthread_t th[6];
	struct conc c[6];
	int64_t want = 0;
	struct kl_store_stats st;

	(void)state;
	for (int i = 0; i < 6; i++) {
		c[i] = (struct conc){ .s = s, .id = i, .stop = &stop };
		pthread_create(&th[i], NULL, i < 3 ? appender : i < 5 ? querier : cutter, &c[i]);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		want += c[i].total;
	}
	atomic_store(&stop, true);
	for (int i = 3; i < 6; i++)
		pthread_join(th[i], NULL);
	kl_store_stats(s, &st);
	assert_true(st.blocks > 0);
	assert_int_equal(select_total(s, "t", "{service_name=~\"c.*\"}", T0, T0 + 5000 * SEC,
				      NULL), want);
	kl_store_close(s);
	s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	assert_int_equal(select_total(s, "t", "{service_name=~\"c.*\"}", T0, T0 + 5000 * SEC,
				      NULL), want);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

static struct csnap csnap_of(struct kl_store *s);

struct csnap {
	int64_t all, day1, edge, s1, tl, chunk;
	int64_t b;
};

/* The snapshot, after checking the total against what was appended. */
static struct csnap snap_ok(struct kl_store *s, int64_t total)
{
	struct csnap x = csnap_of(s);

	assert_int_equal(x.all, total);
	assert_true(x.day1 > 0 && x.edge > 0 && x.s1 > 0 && x.b > 0 && x.tl > 0 && x.chunk > 0);
	return x;
}

static struct csnap csnap_of(struct kl_store *s)
{
	struct csnap x = { 0 };
	struct kl_selector sel = sel_of("{service_name=\"api\"}");
	struct kl_store_query q = { .tenant = "t", .sel = &sel, .from_ns = T0 + 5000 * SEC,
				    .until_ns = T0 + 200000 * SEC };
	struct kl_store_timeline *tl;
	struct kl_profile *p;
	struct kl_err err;
	size_t n;
	const char *a = "{service_name=\"api\"}";

	x.all = select_total(s, "t", a, T0, T0 + 4 * 86400 * SEC, NULL);
	x.day1 = select_total(s, "t", a, T0 + 86400 * SEC, T0 + 2 * 86400 * SEC, NULL);
	x.edge = select_total(s, "t", a, T0 + 7000 * SEC, T0 + 7400 * SEC, NULL);
	x.s1 = select_total(s, "t", a, T0, T0 + 4 * 86400 * SEC, "s1");
	/* profiles 716..725 of the day: across the first raw chunk's end in a 1-day block */
	x.chunk = select_total(s, "t", a, T0 + 42960 * SEC, T0 + 43510 * SEC, NULL);
	p = select_p(s, "t", a, T0 + 123 * SEC, T0 + 150000 * SEC, NULL);
	x.b = stack_value(p, "main;a;b");
	kl_profile_free(p);
	assert_int_equal(kl_store_timeline(s, &q, 3600 * SEC, NULL, &tl, &n, &err), 0);
	x.tl = tl[0].total + tl[0].values[3] * 7;
	kl_store_timelines_free(tl, n);
	kl_selector_release(&sel);
	return x;
}

static void test_compaction(void **state)
{
	char *dir = tmp_dir(), saved[4200], first[4200];
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	struct kl_store_stats st;
	struct csnap a, b, c;
	struct kl_err err;
	int64_t total = 0;
	int rc;

	(void)state;
	/* 3 days of profiles a minute apart, a block every 2 h */
	for (int64_t blk = 0; blk < 36; blk++) {
		total += fill_step(s, "api", blk * 120, 120, 60);
		assert_int_equal(store_cut(s, &err), 0);
	}
	a = snap_ok(s, total);
	/* keep a copy of the first block, as if a crash came before its deletion */
	{
		struct st_tenant *t = store_tenant_get(s, "t", false);

		snprintf(first, sizeof(first), "%s", t->blocks[0]->path);
		snprintf(saved, sizeof(saved), "%s.saved", dir);
		copy_tree(first, saved);
	}
	while ((rc = store_compact(s, &err)) > 0)
		;
	assert_int_equal(rc, 0);
	kl_store_stats(s, &st);
	assert_int_equal(st.compactions, 2);	/* days 1 and 2; day 3 is not over */
	assert_int_equal(st.blocks, 2 + 12);
	b = csnap_of(s);
	assert_memory_equal(&a, &b, sizeof(a));
	store_set_raw_only(s, true);
	c = csnap_of(s);
	store_set_raw_only(s, false);
	assert_memory_equal(&a, &c, sizeof(a));
	kl_store_close(s);

	/* the "undeleted" input comes back: the open drops it again */
	copy_tree(saved, first);
	rm_tree(saved);
	s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	kl_store_stats(s, &st);
	assert_int_equal(st.blocks, 2 + 12);
	b = csnap_of(s);
	assert_memory_equal(&a, &b, sizeof(a));
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cut_and_reopen),
		cmocka_unit_test(test_unfinished_cut),
		cmocka_unit_test(test_failed_cut_keeps_head),
		cmocka_unit_test(test_damaged_block),
		cmocka_unit_test(test_background_cut),
		cmocka_unit_test(test_retention),
		cmocka_unit_test(test_concurrent_cuts),
		cmocka_unit_test(test_compaction),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
