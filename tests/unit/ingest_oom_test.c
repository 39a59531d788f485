/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ingest_oom_test.c - out-of-memory paths of the ingest functions. For
 * N = 1, 2, ... a child process sets KILN_FAIL_ALLOC=N (the Nth kl_malloc
 * and every later one fail) and runs a multipart pprof ingest with
 * sample_type_config, a folded and a lines ingest, a Push and a selector
 * parse. Each call must succeed or fail with -ENOMEM and status 500: no
 * crash, no other error, and (under ASan) no leak. The loop ends when a
 * child gets through without meeting a failure.
 */
#include <sys/wait.h>
#include <unistd.h>

#include "ingest_testlib.h"

/* 0: every call succeeded; 1: some failed correctly; 2: a wrong result. */
static int check(const char *what, int rc, const struct kl_http_err *err, int *hit)
{
	if (rc == 0)
		return 0;
	if (rc == -ENOMEM && err->status == 500) {
		*hit = 1;
		return 0;
	}
	fprintf(stderr, "%s: rc %d status %d: %s\n", what, rc, err->status, err->e.msg);
	return 2;
}

static int run_child(const uint8_t *mp, size_t mplen, const uint8_t *push, size_t pushlen)
{
	static const char folded[] = "main;a;b 3\nmain;a 1\nmain;c 2\n";
	static const char *const queries[] = {
		"name=svc%7Benv%3Dprod%7D&spyName=gospy",
		"name=svc.cpu%7Bregion%3Deu%7D&sampleRate=100",
		"name=svc.alloc_space&format=lines",
	};
	int hit = 0, bad = 0;

	for (size_t q = 0; q < KL_ARRAY_SIZE(queries); q++) {
		struct kl_ingest_params pa;
		struct kl_http_err err = { 0 };
		struct kl_series_set s = { 0 };
		int rc = params_from(queries[q], &pa, &err);

		bad |= check("params", rc, &err, &hit);
		if (rc)
			continue;
		if (q == 0)
			rc = kl_ingest_request(&pa, "multipart/form-data; boundary=B", mp, mplen, NULL,
					       &s, &err);
		else
			rc = kl_ingest_request(&pa, NULL, (const uint8_t *)folded, strlen(folded), NULL,
					       &s, &err);
		bad |= check("ingest", rc, &err, &hit);
		kl_series_set_release(&s);
		kl_ingest_params_release(&pa);
	}
	{
		struct kl_http_err err = { 0 };
		struct kl_series_set s = { 0 };
		struct kl_selector sel;
		int rc = kl_push_decode("application/proto", NULL, push, pushlen, NOW_NS, NULL, &s, &err);

		bad |= check("push", rc, &err, &hit);
		kl_series_set_release(&s);
		rc = kl_selector_parse("app.cpu{a=~\"x|y\", b!=\"z\"}", &sel, &err);
		bad |= check("selector", rc, &err, &hit);
		if (!rc)
			kl_selector_release(&sel);
	}
	return bad ? 2 : hit;
}

static void pb_bytes(struct kl_buf *b, uint32_t field, const void *data, size_t len)
{
	kl_buf_addch(b, (char)(field << 3 | 2));
	for (size_t v = len; ; v >>= 7) {
		kl_buf_addch(b, (char)((v & 0x7f) | (v >= 0x80 ? 0x80 : 0)));
		if (v < 0x80)
			break;
	}
	kl_buf_add(b, data, len);
}

/*
 * Builds the multipart and Push bodies. Runs in the child, after
 * KILN_FAIL_ALLOC is set: the failure counter is read once, at the first
 * kl_malloc, so the parent must never allocate through kl_malloc.
 */
static bool build_inputs(const uint8_t *data, size_t len, struct kl_buf *mp, struct kl_buf *push)
{
	static const char cfg[] = "{\"samples\":{\"display-name\":\"cpu_samples\"}}";
	struct kl_buf ser = KL_BUF_INIT, tmp = KL_BUF_INIT;
	bool ok;

	mp_part(mp, "B", "profile", data, len, "\r\n");
	mp_part(mp, "B", "sample_type_config", cfg, strlen(cfg), "\r\n");
	mp_end(mp, "B", "\r\n");
	pb_bytes(&tmp, 1, "service_name", 12);
	pb_bytes(&tmp, 2, "py", 2);
	pb_bytes(&ser, 1, tmp.data, tmp.len);
	kl_buf_release(&tmp);
	pb_bytes(&tmp, 1, data, len);
	pb_bytes(&ser, 2, tmp.data, tmp.len);
	pb_bytes(push, 1, ser.data, ser.len);
	ok = !kl_buf_error(mp) && !kl_buf_error(push) && !kl_buf_error(&ser) && !kl_buf_error(&tmp);
	kl_buf_release(&ser);
	kl_buf_release(&tmp);
	return ok;
}

static void test_oom(void **state)
{
	size_t len, n;
	uint8_t *data = test_read_fixture("pprof/go-cpu.pb.gz", &len);

	(void)state;
	for (n = 1; n < 200000; n++) {
		pid_t pid = fork();
		int status;

		assert_true(pid >= 0);
		if (pid == 0) {
			struct kl_buf mp = KL_BUF_INIT, push = KL_BUF_INIT;
			char num[32];
			int rc = 1;

			snprintf(num, sizeof(num), "%zu", n);
			setenv("KILN_FAIL_ALLOC", num, 1);
			if (build_inputs(data, len, &mp, &push))
				rc = run_child((const uint8_t *)mp.data, mp.len,
					       (const uint8_t *)push.data, push.len);
			kl_buf_release(&mp);
			kl_buf_release(&push);
			free(data);
			exit(rc);
		}
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status))
			fail_msg("KILN_FAIL_ALLOC=%zu: child died with signal %d", n, WTERMSIG(status));
		if (WEXITSTATUS(status) == 0)
			break;	/* no allocation failed: every path was covered */
		if (WEXITSTATUS(status) != 1)
			fail_msg("KILN_FAIL_ALLOC=%zu: child exit status %d", n, WEXITSTATUS(status));
	}
	print_message("%zu allocation points covered\n", n - 1);
	/* the loop really covered allocations */
	assert_true(n > 100);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_oom),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
