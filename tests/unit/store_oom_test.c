/* SPDX-License-Identifier: Apache-2.0 */
/*
 * store_oom_test.c - out-of-memory paths of the store. For N = 1, 2, ... a
 * child process sets KILN_FAIL_ALLOC=N (the Nth kl_malloc and every later
 * one fail), builds profiles, opens a store, appends, selects, asks for a
 * timeline, label values and series, cuts a block and selects across it.
 * Each call must succeed or fail with -ENOMEM: no crash, no other error,
 * no partly visible append, and (under ASan) no leak. Cuts and a
 * compaction run in between. The loop ends when a
 * child gets through without meeting a failure.
 */
#include <sys/wait.h>

#include "store_testlib.h"

/* A profile of a few stacks without cmocka asserts (the child must not longjmp). */
static struct kl_profile *build(int64_t scale)
{
	static const char *const names[] = { "main", "a", "b", "c", "d" };
	static const uint32_t stk[][3] = { { 2, 1, 0 }, { 3, 1, 0 }, { 4, 0, 0 } };
	static const uint32_t depth[] = { 3, 3, 2 };
	struct kl_profile *p = kl_profile_new();
	struct kl_label lb;

	if (!p)
		return NULL;
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "cpu"), kl_profile_cstr(p, "nanoseconds"));
	for (uint32_t i = 0; i < 5; i++) {
		struct kl_function f = { .id = i + 1, .name = kl_profile_cstr(p, names[i]) };
		struct kl_line l = { .function = i, .line = 10 + i };

		kl_profile_add_function(p, &f);
		kl_profile_add_location(p, &(struct kl_location){ .id = i + 1 }, &l, 1);
	}
	lb = (struct kl_label){ .key = kl_profile_cstr(p, "span_id"),
				.str = kl_profile_cstr(p, "sp") };
	for (uint32_t i = 0; i < 3; i++) {
		int64_t v = scale * (i + 1);

		kl_profile_add_sample(p, stk[i], depth[i], &v, &lb, i == 0);
	}
	if (kl_profile_failed(p)) {
		kl_profile_free(p);
		return NULL;
	}
	return p;
}

/* 0: the call succeeded; 1: it failed correctly (-ENOMEM); 2: a wrong result. */
static int check(const char *what, int rc, int *hit)
{
	if (rc == 0)
		return 0;
	if (rc == -ENOMEM) {
		*hit = 1;
		return 0;
	}
	fprintf(stderr, "%s: rc %d\n", what, rc);
	return 2;
}

static int run_child(const char *dir)
{
	struct kl_store_opts o = { .dir = dir, .sync = KL_STORE_SYNC_NONE,
				   .memory_limit = (size_t)1 << 30,
				   .block_span_ns = 1000 * 86400 * SEC };
	struct kl_labels ls = { 0 };
	struct kl_selector sel = { 0 };
	struct kl_http_err herr = { 0 };
	struct kl_store *s = NULL;
	struct kl_err err;
	int hit = 0, bad = 0, rc, appended = 0;
	int64_t want = 0;

	if (kl_labels_set(&ls, "service_name", "api", 3) ||
	    kl_labels_set(&ls, "__profile_type__", CPU_TYPE, strlen(CPU_TYPE)) ||
	    kl_selector_parse("{service_name=\"api\"}", &sel, &herr)) {
		kl_labels_release(&ls);
		return 1;
	}
	kl_labels_sort(&ls);
	rc = kl_store_open(&o, &s, &err);
	bad |= check("open", rc, &hit);
	/* two blocks on day 0, one on day 1 (so day 0 can be compacted), then the head */
	for (int i = 0; !rc && i < 4; i++) {
		static const int64_t at[] = { 0, 10, 86400, 86410 };
		struct kl_profile *p = build(i + 1);
		struct kl_series v = { .labels = ls, .profile = p, .start_ns = T0 + at[i] * SEC,
				       .end_ns = T0 + (at[i] + 10) * SEC };
		int arc;

		if (!p) {
			hit = 1;
			break;
		}
		arc = kl_store_append(s, "t", &v, 1, &err);
		bad |= check("append", arc, &hit);
		if (!arc) {
			want += 6 * (i + 1);
			appended++;
		}
		kl_profile_free(p);
		if (i < 3) {
			int crc = store_cut(s, &err);

			bad |= check("cut", crc, &hit);
		}
	}
	if (!rc) {
		int crc = store_compact(s, &err);

		bad |= check("compact", crc > 0 ? 0 : crc, &hit);
	}
	if (!rc) {
		struct kl_store_query q = { .tenant = "t", .sel = &sel, .from_ns = T0,
					    .until_ns = T0 + 2 * 86400 * SEC };
		struct kl_profile *p = NULL;
		struct kl_store_timeline *tl = NULL;
		struct kl_labels *ser = NULL;
		char **v = NULL;
		size_t n = 0;
		int qrc = kl_store_select(s, &q, &p, &err);

		bad |= check("select", qrc, &hit);
		/* an acknowledged append is whole and visible */
		if (!qrc && appended && (!p->nsamples || kl_profile_total(p, 0) != want)) {
			fprintf(stderr, "select: total %lld, want %lld\n",
				(long long)kl_profile_total(p, 0), (long long)want);
			bad = 2;
		}
		kl_profile_free(p);
		q.span_id = "sp";
		qrc = kl_store_select(s, &q, &p, &err);
		bad |= check("select span", qrc, &hit);
		kl_profile_free(p);
		q.span_id = NULL;
		qrc = kl_store_timeline(s, &q, 10 * SEC, "pod", &tl, &n, &err);
		bad |= check("timeline", qrc, &hit);
		if (!qrc)
			kl_store_timelines_free(tl, n);
		qrc = kl_store_label_values(s, "t", "service_name", NULL, T0, T0 + 100 * SEC, &v,
					    &n,
					    &err);
		bad |= check("label values", qrc, &hit);
		if (!qrc)
			kl_store_strings_free(v, n);
		qrc = kl_store_series(s, "t", &sel, T0, T0 + 100 * SEC, &ser, &n, &err);
		bad |= check("series", qrc, &hit);
		if (!qrc)
			kl_store_series_free(ser, n);
	}
	kl_store_close(s);
	kl_selector_release(&sel);
	kl_labels_release(&ls);
	return bad ? 2 : hit;
}

static void test_oom(void **state)
{
	size_t n;

	(void)state;
	for (n = 1; n < 100000; n++) {
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			char num[32], dir[] = "/tmp/kiln-store-oom-XXXXXX";
			int rc = 2;

			snprintf(num, sizeof(num), "%zu", n);
			setenv("KILN_FAIL_ALLOC", num, 1);
			if (mkdtemp(dir)) {
				rc = run_child(dir);
				rm_tree(dir);
			}
			exit(rc);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status))
			fail_msg("KILN_FAIL_ALLOC=%zu: child died with signal %d", n,
				 WTERMSIG(status));
		if (WEXITSTATUS(status) == 0)
			break;	/* no allocation failed: every path was covered */
		if (WEXITSTATUS(status) != 1)
			fail_msg("KILN_FAIL_ALLOC=%zu: child exit status %d", n,
				 WEXITSTATUS(status));
	}
	print_message("%zu allocation points covered\n", n - 1);
	assert_true(n > 100);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
