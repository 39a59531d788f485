/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_async_test.c - the two-halved append (kl_store_append_start/_end):
 * every pending append gets exactly one done callback, from another thread,
 * and its profiles are visible once it has ended; a cut started while appends are
 * pending waits for them, so nothing acknowledged is lost across the
 * checkpoint (checked by reopening); without a WAL an append is done at
 * once (no ticket); appends from many threads at once all land; an append
 * of known symbols needs only the tenant's read lock.
 */
#include <pthread.h>
#include <stdatomic.h>

#include "store_testlib.h"

#define NPEND 64

static const char *const stacks[] = { "main;a;b", "main;c" };

/* A done callback's record: how often, and from which thread. */
struct done_rec {
	atomic_int calls;
	pthread_t caller;
	pthread_t from;
};

/* done must not call into the store: it only records */
static void on_done(void *ctx)
{
	struct done_rec *d = ctx;

	d->from = pthread_self();
	atomic_fetch_add(&d->calls, 1);
}

/* Starts one append of stks (2) with values {v, 1} at slot i; *tk gets the ticket. */
static void start_stacks(struct kl_store *s, const char *const *stks, int64_t i, int64_t v,
			 struct done_rec *d, struct kl_store_ticket **tk)
{
	int64_t vals[2] = { v, 1 };
	struct kl_labels ls = cpu_labels("api", "pod", i % 2 ? "p1" : "p2");
	struct kl_profile *p = mkprof(stks, vals, 2, NULL);
	struct kl_series ser = { .labels = ls, .profile = p, .start_ns = T0 + i * 10 * SEC,
				 .end_ns = T0 + i * 10 * SEC + 10 * SEC };
	struct kl_err err;

	if (kl_store_append_start(s, "t", &ser, 1, d ? on_done : NULL, d, tk, &err))
		fail_msg("append_start: %s", err.msg);
	kl_profile_free(p);
	kl_labels_release(&ls);
}

/* Starts one append of the usual stacks. */
static void start_one(struct kl_store *s, int64_t i, int64_t v, struct done_rec *d,
		      struct kl_store_ticket **tk)
{
	start_stacks(s, stacks, i, v, d, tk);
}

static int64_t total_of(struct kl_store *s)
{
	return select_total(s, "t", "{service_name=\"api\"}", T0, T0 + 100000 * SEC, NULL);
}

static void test_done_once_after_visible(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	struct kl_store_ticket *tk[NPEND];
	struct done_rec d[NPEND];
	int64_t want = 0;
	struct kl_err err;

	(void)state;
	for (int i = 0; i < NPEND; i++) {
		memset(&d[i], 0, sizeof(d[i]));
		d[i].caller = pthread_self();
		start_one(s, i, i + 1, &d[i], &tk[i]);
		assert_non_null(tk[i]);
		want += i + 2;
	}
	/* the outcome, then the callback: end waits for the first */
	for (int i = 0; i < NPEND; i++)
		assert_int_equal(kl_store_append_end(tk[i], &err), 0);
	/* visible once ended, and done ran exactly once each, from the completion thread */
	assert_int_equal(total_of(s), want);
	for (int i = 0; i < NPEND; i++) {
		/* done may still be running just after end returned: wait for it */
		for (int spin = 0; spin < 2000 && !atomic_load(&d[i].calls); spin++)
			usleep(1000);
		assert_int_equal(atomic_load(&d[i].calls), 1);
		assert_false(pthread_equal(d[i].from, d[i].caller));
	}
	assert_int_equal(kl_store_append_end(NULL, &err), 0);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

static void test_cut_waits_for_pending(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	struct kl_store_ticket *tk[NPEND];
	int64_t want = 0;
	struct kl_err err;

	(void)state;
	for (int i = 0; i < NPEND; i++) {
		start_one(s, i, 3, NULL, &tk[i]);
		want += 4;
	}
	/* pending appends are below the cut's LSN: it must see them published */
	assert_int_equal(store_cut(s, &err), 0);
	for (int i = 0; i < NPEND; i++)
		assert_int_equal(kl_store_append_end(tk[i], &err), 0);
	assert_int_equal(total_of(s), want);
	kl_store_close(s);
	/* the WAL below the checkpoint is gone: the block must hold every one of them */
	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	assert_int_equal(total_of(s), want);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

static void test_no_wal_done_at_once(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_NONE, 0);
	struct kl_store_ticket *tk = (struct kl_store_ticket *)1;
	struct done_rec d = { 0 };

	(void)state;
	start_one(s, 0, 5, &d, &tk);
	assert_null(tk);
	assert_int_equal(atomic_load(&d.calls), 0);
	assert_int_equal(total_of(s), 6);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

/* An append started on another thread; returned once kl_store_append_start has. */
struct bg_append {
	struct kl_store *s;
	struct kl_store_ticket *tk;
	atomic_bool returned;
};

static void *bg_start(void *arg)
{
	struct bg_append *b = arg;

	start_one(b->s, 0, 7, NULL, &b->tk);
	atomic_store(&b->returned, true);
	return NULL;
}

static bool marks_equal(const struct st_marks *a, const struct st_marks *b)
{
	return a->strings == b->strings && a->mappings == b->mappings &&
	       a->functions == b->functions && a->locations == b->locations &&
	       a->stacks == b->stacks && a->series == b->series;
}

/*
 * An append whose symbols, stacks and series all exist needs only the
 * tenant's read lock (it runs while a query reads) and creates nothing; one
 * with a new stack takes the write lock and creates exactly what is new, and
 * its record carries it (the total survives a reopen).
 */
static void test_known_under_read_lock(void **state)
{
	static const char *const grown[] = { "main;a;b", "main;a;d" };
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	struct bg_append bg = { .s = s };
	struct kl_store_ticket *tk;
	struct st_marks m0, m1;
	struct st_tenant *t;
	struct kl_err err;
	pthread_t th;
	bool in_time;

	(void)state;
	start_one(s, 0, 1, NULL, &tk);
	assert_int_equal(kl_store_append_end(tk, &err), 0);
	t = store_tenant_get(s, "t", false);
	assert_non_null(t);
	store_marks_get(t, &m0);
	/* a reader holds the lock; nothing waits for the write lock (the append ended) */
	pthread_rwlock_rdlock(&t->lock);
	assert_int_equal(pthread_create(&th, NULL, bg_start, &bg), 0);
	for (int i = 0; i < 10000 && !atomic_load(&bg.returned); i++)
		usleep(1000);
	in_time = atomic_load(&bg.returned);
	pthread_rwlock_unlock(&t->lock);
	pthread_join(th, NULL);
	assert_true(in_time);
	assert_int_equal(kl_store_append_end(bg.tk, &err), 0);
	store_marks_get(t, &m1);
	assert_true(marks_equal(&m0, &m1));
	/* main;a;d: one more function, location and stack (a, main known), name string */
	start_stacks(s, grown, 0, 10, NULL, &tk);
	assert_int_equal(kl_store_append_end(tk, &err), 0);
	store_marks_get(t, &m1);
	assert_int_equal(m1.functions, m0.functions + 1);
	assert_int_equal(m1.locations, m0.locations + 1);
	assert_int_equal(m1.stacks, m0.stacks + 1);
	assert_int_equal(m1.strings, m0.strings + 1);
	assert_int_equal(m1.series, m0.series);
	/* 1 + 1, 7 + 1, 10 + 1 */
	assert_int_equal(total_of(s), 21);
	kl_store_close(s);
	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	assert_int_equal(total_of(s), 21);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

struct worker {
	struct kl_store *s;
	int id, failed;
	int64_t sum;
};

/* 50 appends, each started then ended, the next one started before the previous ends */
static void *append_worker(void *arg)
{
	struct worker *w = arg;
	struct kl_store_ticket *prev = NULL, *tk;
	struct kl_err err;

	for (int i = 0; i < 50; i++) {
		int64_t slot = w->id * 1000 + i;

		start_one(w->s, slot, slot % 5 + 1, NULL, &tk);
		w->sum += slot % 5 + 2;
		if (prev && kl_store_append_end(prev, &err))
			w->failed++;
		prev = tk;
	}
	if (kl_store_append_end(prev, &err))
		w->failed++;
	return NULL;
}

static void test_threads(void **state)
{
	char *dir = tmp_dir();
	struct kl_store *s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	struct worker w[8];
	pthread_t th[8];
	struct kl_err err;
	int64_t want = 0;

	(void)state;
	for (int i = 0; i < 8; i++) {
		w[i] = (struct worker){ .s = s, .id = i };
		assert_int_equal(pthread_create(&th[i], NULL, append_worker, &w[i]), 0);
	}
	/* a cut in the middle of it */
	assert_int_equal(store_cut(s, &err), 0);
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(w[i].failed, 0);
		want += w[i].sum;
	}
	assert_int_equal(total_of(s), want);
	kl_store_close(s);
	s = open_store(dir, KL_STORE_SYNC_FSYNC, 0);
	assert_int_equal(total_of(s), want);
	kl_store_close(s);
	rm_tree(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_done_once_after_visible),
		cmocka_unit_test(test_cut_waits_for_pending),
		cmocka_unit_test(test_no_wal_done_at_once),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_known_under_read_lock),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
