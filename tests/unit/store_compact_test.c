/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_compact_test.c - compaction into 1-day, then 7-day blocks: queries
 * over 30 and 90 days (and unaligned, edge, span, timeline and label
 * queries) answer the same before, after and without aggregates; a crash
 * at any step of a week's merge (a fault at each file operation, a
 * leftover tmp directory, inputs still present after the rename) neither
 * loses nor doubles data; retention keeps weeks out of short retention
 * periods and deletes a week block only once all of it is past retention;
 * stats.disk_bytes and retention by size count the symbols files.
 */
#include <fcntl.h>

#include "store_testlib.h"

#define DAY (86400 * SEC)
#define STEP (600 * SEC)	/* a profile every 10 min */
#define PER_DAY 144
#define PER_CUT 24		/* a block every 4 h */
#define NDAYS 16		/* Sat 2026-11-21 to Sun 12-06: weeks of 11-16 and 11-23 end */
#define SVC "{service_name=\"api\"}"

static const char *const stacks[] = { "main;a;b", "main;a;c", "main;d", "main;e;f;g" };
static const char *const spans[] = { "s1", NULL, "s2", NULL };

/* Appends days [d0, d1) of profiles, cutting every PER_CUT; returns the total value. */
static int64_t fill_days(struct kl_store *s, int64_t d0, int64_t d1)
{
	struct kl_err err;
	int64_t total = 0;

	for (int64_t i = d0 * PER_DAY; i < d1 * PER_DAY; i++) {
		int64_t v[4] = { i % 7 + 1, 2, i % 3 + 1, 5 + i % 13 };
		/* p1 gets 3 in 4: 756 profiles a week, more than one raw chunk (720) */
		struct kl_labels ls = cpu_labels("api", "pod", i % 4 ? "p1" : "p2");
		struct kl_profile *p = mkprof(stacks, v, 4, spans);

		assert_int_equal(append_one(s, "t", &ls, p, T0 + i * STEP,
					    T0 + i * STEP + 10 * SEC), 0);
		total += v[0] + v[1] + v[2] + v[3];
		kl_profile_free(p);
		kl_labels_release(&ls);
		if (i % PER_CUT == PER_CUT - 1)
			assert_int_equal(store_cut(s, &err), 0);
	}
	return total;
}

struct wsnap {
	int64_t d90, d30, p2, s1, cross, edge, chunk, b, tl;
	size_t npods;
};

static struct wsnap wsnap_of(struct kl_store *s)
{
	struct wsnap x = { 0 };
	struct kl_selector sel = sel_of(SVC);
	struct kl_store_query q = { .tenant = "t", .sel = &sel, .from_ns = T0 - 10 * DAY,
				    .until_ns = T0 + 20 * DAY };
	struct kl_store_timeline *tl;
	struct kl_profile *p;
	struct kl_err err;
	char **v;
	size_t n;

	x.d90 = select_total(s, "t", SVC, T0 - 60 * DAY, T0 + 30 * DAY, NULL);
	x.d30 = select_total(s, "t", SVC, T0 - 10 * DAY, T0 + 20 * DAY, NULL);
	x.p2 = select_total(s, "t", "{service_name=\"api\",pod=\"p2\"}", T0 - 60 * DAY,
			    T0 + 30 * DAY, NULL);
	x.s1 = select_total(s, "t", SVC, T0 - 60 * DAY, T0 + 30 * DAY, "s1");
	/* across the end of the first week (Mon 11-23 00:00 = T0 + 2 days) */
	x.cross = select_total(s, "t", SVC, T0 + DAY + 123 * SEC, T0 + 9 * DAY + 7777 * SEC, NULL);
	/* an hour inside the second week */
	x.edge = select_total(s, "t", SVC, T0 + 4 * DAY + 3600 * SEC, T0 + 4 * DAY + 7200 * SEC,
			      NULL);
	/* p1's profiles 715..725 of the second week: across its first raw chunk's end */
	x.chunk = select_total(s, "t", "{service_name=\"api\",pod=\"p1\"}",
			       T0 + 2 * DAY + 953 * STEP, T0 + 2 * DAY + 968 * STEP, NULL);
	p = select_p(s, "t", SVC, T0 + 100 * SEC, T0 + 12 * DAY + 5 * SEC, NULL);
	x.b = stack_value(p, "main;a;b");
	kl_profile_free(p);
	assert_int_equal(kl_store_timeline(s, &q, DAY, NULL, &tl, &n, &err), 0);
	x.tl = tl[0].total + tl[0].values[10] * 7 + tl[0].values[13] * 3;
	kl_store_timelines_free(tl, n);
	assert_int_equal(kl_store_label_values(s, "t", "pod", NULL, T0 + 3 * DAY, T0 + 4 * DAY, &v,
					       &n, &err), 0);
	x.npods = n;
	kl_store_strings_free(v, n);
	kl_selector_release(&sel);
	return x;
}

static void check_snap(struct kl_store *s, const struct wsnap *want)
{
	struct wsnap got = wsnap_of(s), raw;

	assert_memory_equal(want, &got, sizeof(got));
	store_set_raw_only(s, true);
	raw = wsnap_of(s);
	store_set_raw_only(s, false);
	assert_memory_equal(want, &raw, sizeof(raw));
}

static size_t nblocks(struct kl_store *s)
{
	struct kl_store_stats st;

	kl_store_stats(s, &st);
	return st.blocks;
}

/* Number of blocks of t whose name ends with suffix. */
static size_t count_suffix(struct kl_store *s, const char *suffix)
{
	struct st_tenant *t = store_tenant_get(s, "t", false);
	size_t n = 0, k = strlen(suffix);

	for (size_t i = 0; t && i < t->nblocks; i++) {
		size_t l = strlen(t->blocks[i]->path);

		n += l > k && !strcmp(t->blocks[i]->path + l - k, suffix);
	}
	return n;
}

/* Compacts until nothing is left; returns the number of merges. */
static int compact_all(struct kl_store *s)
{
	struct kl_err err;
	int rc, n = 0;

	while ((rc = store_compact(s, &err)) > 0)
		n += rc;
	if (rc < 0)
		fail_msg("compact: %s", err.msg);
	return n;
}

/* NDAYS of blocks, written once (group setup) and copied for each test; its answers. */
static char *template_dir;
static struct wsnap template_want;

static int setup(void **state)
{
	struct kl_store *s;
	int64_t total;

	(void)state;
	template_dir = tmp_dir();
	s = open_store(template_dir, KL_STORE_SYNC_WRITE, 0);
	total = fill_days(s, 0, NDAYS);
	template_want = wsnap_of(s);
	assert_int_equal(template_want.d90, total);
	assert_true(template_want.p2 > 0 && template_want.s1 > 0 && template_want.cross > 0 &&
		    template_want.edge > 0 && template_want.chunk > 0 && template_want.b > 0 &&
		    template_want.tl > 0 && template_want.npods == 2);
	assert_int_equal(nblocks(s), NDAYS * PER_DAY / PER_CUT);
	kl_store_close(s);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	rm_tree(template_dir);
	free(template_dir);
	return 0;
}

/* A copy of the template directory; *want gets its answers. */
static char *make_dir(struct wsnap *want)
{
	char *dir = tmp_dir();

	copy_tree(template_dir, dir);
	*want = template_want;
	return dir;
}

static void test_week_compaction(void **state)
{
	struct wsnap want;
	char *dir = make_dir(&want);
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	struct kl_store_stats st;

	(void)state;
	check_snap(s, &want);
	/* 15 finished days, then the weeks of 11-16 (2 days) and 11-23 (7 days) */
	assert_int_equal(compact_all(s), 15 + 2);
	kl_store_stats(s, &st);
	assert_int_equal(st.compactions, 17);
	/* two weeks, 11-30 to 12-05 as days, 12-06 in 4-h blocks */
	assert_int_equal(st.blocks, 2 + 6 + PER_DAY / PER_CUT);
	assert_int_equal(count_suffix(s, "-w"), 2);
	assert_int_equal(count_suffix(s, "-c"), 6);
	check_snap(s, &want);
	kl_store_close(s);

	s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	assert_int_equal(nblocks(s), 2 + 6 + PER_DAY / PER_CUT);
	check_snap(s, &want);
	/* more days: the third week ends and is merged (from 6 day blocks + 1) */
	want.d90 += fill_days(s, NDAYS, NDAYS + 2);
	assert_int_equal(compact_all(s), 2 + 1);
	assert_int_equal(count_suffix(s, "-w"), 3);
	assert_int_equal(select_total(s, "t", SVC, T0 - 60 * DAY, T0 + 30 * DAY, NULL), want.d90);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

/*
 * A crash during a week's merge: at each failing file operation the merge
 * fails, and a reopen (as after a crash) answers as before; a tmp
 * directory left by a crash is removed; inputs left after the merged block
 * was renamed into place are deleted at open.
 */
static void test_week_crash(void **state)
{
	static const struct kl_fsio_fault faults[] = {
		{ .op = KL_FSIO_MKDIR, .err = EIO },
		{ .op = KL_FSIO_OPEN, .err = EIO },
		{ .op = KL_FSIO_PWRITE, .err = ENOSPC },
		{ .op = KL_FSIO_PWRITE, .err = ENOSPC, .short_write = 100 },
		{ .op = KL_FSIO_FDATASYNC, .err = EIO },
		{ .op = KL_FSIO_RENAME, .err = EIO },		/* meta.json */
		{ .op = KL_FSIO_RENAME, .after = 1, .err = EIO },	/* the block */
		{ .op = KL_FSIO_PREAD, .err = EIO },		/* reading the inputs */
	};
	struct wsnap want;
	char *dir = make_dir(&want), saved[8][4200], paths[8][4200];
	struct kl_fsio_fault none = { 0 };
	struct kl_store_opts o = { .dir = dir, .sync = KL_STORE_SYNC_WRITE, .min_free_bytes = 1,
				   .memory_limit = (size_t)1 << 30, .block_span_ns = 1000 * DAY };
	struct kl_store *s;
	struct st_tenant *t;
	struct kl_err err;
	size_t nin = 0, before;
	int rc;

	(void)state;
	/* the days first, so that the next merge is a week's */
	s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	for (int i = 0; i < 15; i++)
		assert_int_equal(store_compact(s, &err), 1);
	before = nblocks(s);
	kl_store_close(s);

	o.io = kl_fsio_fault_set(&none);
	for (size_t f = 0; f < KL_ARRAY_SIZE(faults); f++) {
		assert_int_equal(kl_store_open(&o, &s, &err), 0);
		kl_fsio_fault_set(&faults[f]);
		rc = store_compact(s, &err);
		if (rc >= 0 || !kl_fsio_fault_hits())
			fail_msg("fault %zu: compact %d, %llu hits", f, rc,
				 (unsigned long long)kl_fsio_fault_hits());
		kl_fsio_fault_clear();
		assert_int_equal(nblocks(s), before);
		check_snap(s, &want);
		kl_store_close(s);
		s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
		assert_int_equal(nblocks(s), before);
		assert_int_equal(count_suffix(s, "-w"), 0);
		check_snap(s, &want);
		kl_store_close(s);
	}
	o.io = NULL;

	/* a crash before the rename: the tmp directory of the week is left behind */
	s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	t = store_tenant_get(s, "t", false);
	{
		char tmp[4200], data[4300];
		const char *slash = strrchr(t->blocks[0]->path, '/');
		int fd;

		snprintf(tmp, sizeof(tmp), "%.*s/cut-%016llx-w.tmp",
			 (int)(slash - t->blocks[0]->path), t->blocks[0]->path, 0x1234ULL);
		assert_int_equal(mkdir(tmp, 0755), 0);
		snprintf(data, sizeof(data), "%s/data", tmp);
		fd = open(data, O_WRONLY | O_CREAT, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, "KLBLK001 half a block", 21), 21);
		close(fd);
	}
	/* a crash after the rename: keep copies of the inputs (the first week's 2 days) */
	for (size_t i = 0; i < t->nblocks && nin < 8; i++)
		if (t->blocks[i]->min_time < T0 + 2 * DAY) {
			snprintf(paths[nin], sizeof(paths[nin]), "%s", t->blocks[i]->path);
			snprintf(saved[nin], sizeof(saved[nin]), "%s.saved%zu", dir, nin);
			copy_tree(paths[nin], saved[nin]);
			nin++;
		}
	assert_int_equal(nin, 2);
	assert_int_equal(store_compact(s, &err), 1);
	assert_int_equal(count_suffix(s, "-w"), 1);
	assert_int_equal(nblocks(s), before - 1);
	check_snap(s, &want);
	kl_store_close(s);
	for (size_t i = 0; i < nin; i++) {
		copy_tree(saved[i], paths[i]);
		rm_tree(saved[i]);
	}
	s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	assert_int_equal(nblocks(s), before - 1);
	check_snap(s, &want);
	/* and the second week merges as usual afterwards */
	assert_int_equal(store_compact(s, &err), 1);
	assert_int_equal(count_suffix(s, "-w"), 2);
	check_snap(s, &want);
	kl_store_close(s);
	{
		char tmp[4200];
		DIR *d;
		struct dirent *e;

		snprintf(tmp, sizeof(tmp), "%s/blocks/74", dir);
		d = opendir(tmp);
		assert_non_null(d);
		while ((e = readdir(d)))
			assert_null(strstr(e->d_name, ".tmp"));
		closedir(d);
	}
	rm_tree(dir);
	free(dir);
}

/*
 * Retention: below 10 weeks no week block is made; with a longer one, a
 * week whose oldest data expires within a week is not merged, and a week
 * block goes only once its newest profile is past retention.
 */
static void test_week_retention(void **state)
{
	struct wsnap want;
	char *dir = make_dir(&want);
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	struct kl_err err;
	int64_t wk;
	int rc, n = 0;

	(void)state;
	/* 30 days: days only */
	s->o.retention_ns = 30 * DAY;
	while ((rc = store_compact_at(s, T0 + NDAYS * DAY, &err)) > 0)
		n += rc;
	assert_int_equal(rc, 0);
	assert_int_equal(n, 15);
	assert_int_equal(count_suffix(s, "-w"), 0);
	check_snap(s, &want);

	/*
	 * 100 days, "now" 95 days after T0: the first week's data (11-21, 11-22)
	 * expires within a week, so it is left in days; the second is merged
	 */
	s->o.retention_ns = 100 * DAY;
	assert_int_equal(store_compact_at(s, T0 + 95 * DAY, &err), 1);
	assert_int_equal(store_compact_at(s, T0 + 95 * DAY, &err), 0);
	assert_int_equal(count_suffix(s, "-w"), 1);
	{
		struct st_tenant *t = store_tenant_get(s, "t", false);

		/* the merged week is 11-23 to 11-29 */
		for (size_t i = 0; i < t->nblocks; i++)
			if (strstr(t->blocks[i]->path, "-w"))
				assert_true(t->blocks[i]->min_time == T0 + 2 * DAY);
	}
	check_snap(s, &want);
	wk = select_total(s, "t", SVC, T0 + 2 * DAY, T0 + 9 * DAY, NULL);
	assert_true(wk > 0);

	/* retention by age: the week block stays while any of its profiles is young enough */
	store_retention(s, T0 + 100 * DAY + 8 * DAY);	/* its first 6 days are past */
	assert_int_equal(count_suffix(s, "-w"), 1);
	assert_int_equal(select_total(s, "t", SVC, T0 - 60 * DAY, T0 + 2 * DAY, NULL), 0);
	assert_int_equal(select_total(s, "t", SVC, T0 + 2 * DAY, T0 + 9 * DAY, NULL), wk);
	store_retention(s, T0 + 100 * DAY + 9 * DAY + 20 * SEC);	/* all of it is past */
	assert_int_equal(count_suffix(s, "-w"), 0);
	assert_int_equal(select_total(s, "t", SVC, T0 - 60 * DAY, T0 + 9 * DAY, NULL), 0);
	assert_true(select_total(s, "t", SVC, T0 + 9 * DAY, T0 + 30 * DAY, NULL) > 0);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

/* Bytes of the regular files under path (recursively). */
static uint64_t du(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	uint64_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		char p[4200];
		struct stat st;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		snprintf(p, sizeof(p), "%s/%s", path, e->d_name);
		assert_int_equal(stat(p, &st), 0);
		n += S_ISDIR(st.st_mode) ? du(p) : (uint64_t)st.st_size;
	}
	closedir(d);
	return n;
}

/* stats.disk_bytes and retention by size count the symbols files. */
static void test_symbols_counted(void **state)
{
	char *dir = tmp_dir(), bdir[4200], sym[4200];
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	struct kl_store_stats st;
	struct stat ss;

	(void)state;
	fill_days(s, 0, 1);
	snprintf(bdir, sizeof(bdir), "%s/blocks", dir);
	snprintf(sym, sizeof(sym), "%s/blocks/74/symbols", dir);
	assert_int_equal(stat(sym, &ss), 0);
	assert_true(ss.st_size > 0);
	kl_store_stats(s, &st);
	assert_int_equal(st.disk_bytes - st.wal_bytes, du(bdir));
	kl_store_close(s);

	/* after an open too (sizes read from the files) */
	s = open_store(dir, KL_STORE_SYNC_WRITE, 0);
	kl_store_stats(s, &st);
	assert_int_equal(st.disk_bytes - st.wal_bytes, du(bdir));
	assert_int_equal(st.blocks, PER_DAY / PER_CUT);
	/* a limit that the blocks alone fit in, but not with the symbols file: one block goes */
	s->o.retention_bytes = du(bdir) - 1;
	store_retention(s, T0);
	kl_store_stats(s, &st);
	assert_int_equal(st.blocks, PER_DAY / PER_CUT - 1);
	assert_true(st.disk_bytes - st.wal_bytes <= s->o.retention_bytes);
	assert_int_equal(st.disk_bytes - st.wal_bytes, du(bdir));
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_week_compaction),
		cmocka_unit_test(test_week_crash),
		cmocka_unit_test(test_week_retention),
		cmocka_unit_test(test_symbols_counted),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
