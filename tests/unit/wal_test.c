/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wal_test.c - unit tests of the write-ahead log on real files: replay
 * after close and reopen, concurrent appends, torn and corrupt tails cut at
 * every offset, damage in an earlier segment, injected ENOSPC / EIO / short
 * writes, backpressure, checkpoints, the preallocated zero tail (a clean
 * end after a crash, torn records inside it, ENOSPC while extending it),
 * and kill -9 of a child process that reports every acknowledged record
 * (acknowledged = durable).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/wal.h"

#include "fs_testlib.h"

/* --- helpers ------------------------------------------------------------- */

/* The payload of record id: len bytes; the first 8 are the id when len >= 8. */
static void fill_payload(uint8_t *p, size_t len, uint64_t id)
{
	uint64_t x = id * 0x9e3779b97f4a7c15ULL + 1;

	for (size_t i = 0; i < len; i++) {
		if (i < 8) {
			p[i] = (uint8_t)(id >> (8 * i));
			continue;
		}
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		p[i] = (uint8_t)((x * 0x2545f4914f6cdd1dULL) >> 56);
	}
}

static bool payload_ok(const uint8_t *p, size_t len, uint64_t *id)
{
	uint8_t want[4096];

	if (len < 8 || len > sizeof(want))
		return false;
	*id = 0;
	for (int i = 0; i < 8; i++)
		*id |= (uint64_t)p[i] << (8 * i);
	fill_payload(want, len, *id);
	return memcmp(want, p, len) == 0;
}

/* Everything one replay saw. */
struct seen {
	size_t n, cap;
	uint64_t *lsn;
	uint8_t **data;
	size_t *len;
	int fail_at;		/* return -EPROTO at this record (1-based); 0 = never */
};

static int collect(void *ctx, uint64_t lsn, const uint8_t *payload, size_t len)
{
	struct seen *s = ctx;

	assert_non_null(payload);
	if (s->fail_at && (int)s->n + 1 == s->fail_at)
		return -EPROTO;
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->lsn = realloc(s->lsn, s->cap * sizeof(*s->lsn));
		s->data = realloc(s->data, s->cap * sizeof(*s->data));
		s->len = realloc(s->len, s->cap * sizeof(*s->len));
		assert_true(s->lsn && s->data && s->len);
	}
	s->lsn[s->n] = lsn;
	s->data[s->n] = malloc(len + 1);
	memcpy(s->data[s->n], payload, len);
	s->len[s->n] = len;
	s->n++;
	return 0;
}

static void seen_free(struct seen *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->data[i]);
	free(s->lsn);
	free(s->data);
	free(s->len);
	memset(s, 0, sizeof(*s));
}

static char logbuf[16384];

static void log_capture(void *ctx, enum kl_log_level level, const char *msg)
{
	size_t n = strlen(logbuf);

	(void)ctx;
	(void)level;
	snprintf(logbuf + n, sizeof(logbuf) - n, "%s\n", msg);
}

static struct kl_wal_opts opts(enum kl_store_sync sync, size_t segment_bytes)
{
	return (struct kl_wal_opts){ .dir = test_tmpdir, .segment_bytes = segment_bytes,
				     .sync = sync, .log = log_capture };
}

/* Opens the WAL, replaying into *s (cleared first). */
static struct kl_wal *open_wal(const struct kl_wal_opts *o, struct seen *s)
{
	struct kl_wal *w = NULL;
	struct kl_err err;
	int rc;

	seen_free(s);
	logbuf[0] = '\0';
	rc = kl_wal_open(o, collect, s, &w, &err);
	if (rc)
		fail_msg("kl_wal_open: %d %s", rc, err.msg);
	return w;
}

static uint64_t append(struct kl_wal *w, uint64_t id, size_t len)
{
	uint8_t buf[4096];
	struct kl_err err;
	uint64_t lsn = 0;

	assert_true(len <= sizeof(buf));
	fill_payload(buf, len, id);
	if (kl_wal_append(w, buf, len, &lsn, &err))
		fail_msg("kl_wal_append: %s", err.msg);
	return lsn;
}

static void append_wait(struct kl_wal *w, uint64_t id, size_t len)
{
	struct kl_err err;
	uint64_t lsn = append(w, id, len);

	if (kl_wal_wait(w, lsn, &err))
		fail_msg("kl_wal_wait(%llu): %s", (unsigned long long)lsn, err.msg);
}

/* The sorted segment names (first LSNs) in test_tmpdir with the given suffix. */
static size_t list_segs(uint64_t *out, size_t max, const char *suffix)
{
	DIR *d = opendir(test_tmpdir);
	struct dirent *e;
	size_t n = 0;

	assert_non_null(d);
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l != 16 + strlen(suffix) || strcmp(e->d_name + 16, suffix))
			continue;
		assert_true(n < max);
		out[n++] = strtoull(e->d_name, NULL, 16);
	}
	closedir(d);
	for (size_t i = 1; i < n; i++)
		for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
			uint64_t t = out[j];

			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

static void seg_file(char *out, size_t size, uint64_t first)
{
	snprintf(out, size, "%s/%016llx.wal", test_tmpdir, (unsigned long long)first);
}

/* Checks that s holds the records ids[0..n) with LSNs lsns[0..n) and sizes len_of(id). */
static size_t rec_len(uint64_t id)
{
	return 8 + (size_t)(id * 37 % 3000);
}

static void check_records(const struct seen *s, size_t n, uint64_t first_lsn, uint64_t first_id)
{
	assert_int_equal(s->n, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t id;

		assert_int_equal(s->lsn[i], first_lsn + i);
		assert_true(payload_ok(s->data[i], s->len[i], &id));
		assert_int_equal(id, first_id + i);
		assert_int_equal(s->len[i], rec_len(id));
	}
}

/* --- tests --------------------------------------------------------------- */

static void test_roundtrip(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 64 << 10);
	struct seen s = { 0 };
	struct kl_wal_stats st;
	struct kl_wal *w;
	uint64_t segs[512];
	size_t nseg;

	(void)state;
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 0);
	assert_int_equal(kl_wal_next_lsn(w), 1);
	for (uint64_t i = 0; i < 600; i++) {
		uint64_t lsn = append(w, i, rec_len(i));

		assert_int_equal(lsn, i + 1);
		/* wait now and then: batches of different sizes */
		if (i % 7 == 6) {
			struct kl_err err;

			assert_int_equal(kl_wal_wait(w, lsn, &err), 0);
		}
	}
	append_wait(w, 600, rec_len(600));
	kl_wal_stats(w, &st);
	assert_int_equal(st.lag_bytes, 0);
	assert_true(st.syncs >= 1 && st.syncs <= 601);
	assert_int_equal(st.batches_failed, 0);
	kl_wal_close(w);

	w = open_wal(&o, &s);
	check_records(&s, 601, 1, 0);
	assert_int_equal(kl_wal_next_lsn(w), 602);
	kl_wal_stats(w, &st);
	assert_int_equal(st.records_cut, 0);
	assert_int_equal(st.bytes_cut, 0);
	/* the log rotated, and each segment is named by its first record's LSN */
	nseg = list_segs(segs, 512, ".wal");
	assert_true(nseg >= 10);
	assert_int_equal(segs[0], 1);
	for (size_t i = 1; i < nseg; i++) {
		bool found = false;

		for (size_t j = 0; j < s.n && !found; j++)
			found = s.lsn[j] == segs[i];
		assert_true(found);
	}
	{
		uint64_t total = 0;
		char path[512];

		for (size_t i = 0; i < nseg; i++) {
			seg_file(path, sizeof(path), segs[i]);
			total += test_file_size(path);
		}
		assert_int_equal(st.bytes, total);
	}
	/* appending after a reopen continues the sequence */
	for (uint64_t i = 601; i < 650; i++)
		append(w, i, rec_len(i));
	kl_wal_close(w);	/* no wait: close flushes */
	w = open_wal(&o, &s);
	check_records(&s, 650, 1, 0);
	kl_wal_close(w);
	seen_free(&s);
}

static void test_empty_and_large_records(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_WRITE, 0);
	static uint8_t big[3 << 20];
	struct seen s = { 0 };
	struct kl_wal_stats st;
	struct kl_err err;
	struct kl_wal *w;
	uint64_t lsn;

	(void)state;
	o.max_buffer = 1 << 20;	/* the big record is larger than the whole buffer */
	w = open_wal(&o, &s);
	memset(big, 0xab, sizeof(big));
	assert_int_equal(kl_wal_append(w, "", 0, &lsn, &err), 0);
	assert_int_equal(kl_wal_append(w, big, sizeof(big), &lsn, &err), 0);
	assert_int_equal(kl_wal_append(w, "x", 1, &lsn, &err), 0);
	assert_int_equal(kl_wal_wait(w, lsn, &err), 0);
	/* over the limit: refused before anything is read */
	assert_int_equal(kl_wal_append(w, big, (256u << 20) + 1, &lsn, &err), -KL_ELIMIT);
	assert_non_null(strstr(err.msg, "limit"));
	assert_int_equal(kl_wal_wait(w, 0, &err), -KL_EUSAGE);
	assert_int_equal(kl_wal_wait(w, 4, &err), -KL_EUSAGE);
	kl_wal_stats(w, &st);
	assert_int_equal(st.syncs, 0);	/* WRITE mode never syncs batches */
	kl_wal_close(w);
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 3);
	assert_int_equal(s.len[0], 0);
	assert_int_equal(s.len[1], sizeof(big));
	assert_memory_equal(s.data[1], big, sizeof(big));
	assert_int_equal(s.len[2], 1);
	assert_int_equal(s.lsn[2], 3);
	kl_wal_close(w);
	seen_free(&s);
}

static void test_open_errors(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_NONE, 0);
	struct seen s = { 0 };
	struct kl_wal *w = NULL;
	struct kl_err err;

	(void)state;
	assert_int_equal(kl_wal_open(&o, collect, &s, &w, &err), -KL_EUSAGE);
	assert_null(w);
	o.sync = KL_STORE_SYNC_FSYNC;
	w = open_wal(&o, &s);
	for (uint64_t i = 0; i < 5; i++)
		append(w, i, rec_len(i));
	kl_wal_close(w);
	/* the replay function's error fails the open */
	s.fail_at = 3;
	assert_int_equal(kl_wal_open(&o, collect, &s, &w, &err), -EPROTO);
	assert_null(w);
	assert_non_null(strstr(err.msg, "replay of record 3"));
	s.fail_at = 0;
	seen_free(&s);
	/* a directory that cannot be created */
	o.dir = "/proc/no-such-dir/wal";
	assert_true(kl_wal_open(&o, collect, &s, &w, &err) < 0);
	assert_non_null(strstr(err.msg, "cannot create"));
	kl_wal_close(NULL);
}

struct writer_arg {
	struct kl_wal *w;
	uint64_t thread;
	int n;
	bool wait;
	size_t max_lag;
};

static void *writer_thread(void *p)
{
	struct writer_arg *a = p;
	uint64_t lsn = 0;
	struct kl_err err;

	for (int i = 0; i < a->n; i++) {
		uint64_t id = a->thread << 32 | (uint64_t)i;
		uint8_t buf[1024];
		size_t len = 16 + (size_t)(id % 900);
		struct kl_wal_stats st;

		fill_payload(buf, len, id);
		if (kl_wal_append(a->w, buf, len, &lsn, &err))
			return "append failed";
		if (a->wait && kl_wal_wait(a->w, lsn, &err))
			return "wait failed";
		kl_wal_stats(a->w, &st);
		if (st.lag_bytes > a->max_lag)
			a->max_lag = st.lag_bytes;
	}
	if (kl_wal_wait(a->w, lsn, &err))
		return "wait failed";
	return NULL;
}

/* Runs nthreads writers of n records each and checks the replay. */
static void run_writers(struct kl_wal_opts *o, int nthreads, int n, bool wait, size_t *max_lag)
{
	struct writer_arg args[16];
	pthread_t th[16];
	struct seen s = { 0 };
	struct kl_wal *w = open_wal(o, &s);
	int next[16] = { 0 };

	assert_true(nthreads <= 16);
	*max_lag = 0;
	for (int t = 0; t < nthreads; t++) {
		args[t] = (struct writer_arg){ .w = w, .thread = (uint64_t)t, .n = n,
					       .wait = wait };
		assert_int_equal(pthread_create(&th[t], NULL, writer_thread, &args[t]), 0);
	}
	for (int t = 0; t < nthreads; t++) {
		void *ret;

		assert_int_equal(pthread_join(th[t], &ret), 0);
		if (ret)
			fail_msg("thread %d: %s", t, (const char *)ret);
		*max_lag = KL_MAX(*max_lag, args[t].max_lag);
	}
	kl_wal_close(w);
	w = open_wal(o, &s);
	/* every record exactly once; each thread's records in its order */
	assert_int_equal(s.n, (size_t)(nthreads * n));
	for (size_t i = 0; i < s.n; i++) {
		uint64_t id;

		assert_int_equal(s.lsn[i], i + 1);
		assert_true(payload_ok(s.data[i], s.len[i], &id));
		assert_true((id >> 32) < (uint64_t)nthreads);
		assert_int_equal((uint32_t)id, next[id >> 32]);
		next[id >> 32]++;
	}
	kl_wal_close(w);
	seen_free(&s);
}

static void test_concurrent_appends(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 256 << 10);
	size_t max_lag;

	(void)state;
	run_writers(&o, 8, 250, true, &max_lag);
}

static void test_backpressure(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_WRITE, 64 << 10);
	size_t max_lag;

	(void)state;
	o.max_buffer = 4096;
	/* no waits: appenders can only be held back by max_buffer */
	run_writers(&o, 4, 500, false, &max_lag);
	/* the buffer being filled plus the batch being written */
	assert_true(max_lag <= 2 * o.max_buffer);
}

/* Writes n records of len bytes in one segment; returns the segment's path. */
static void write_log(struct kl_wal_opts *o, int n, size_t (*len_of)(uint64_t), char *path,
		      size_t size)
{
	struct seen s = { 0 };
	struct kl_wal *w = open_wal(o, &s);

	for (int i = 0; i < n; i++)
		append(w, (uint64_t)i, len_of((uint64_t)i));
	kl_wal_close(w);
	seen_free(&s);
	seg_file(path, size, 1);
}

static size_t len_200(uint64_t id)
{
	(void)id;
	return 200;
}

static void test_torn_tail_every_offset(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_WRITE, 0);
	struct seen s = { 0 };
	size_t full_len, last_start;
	char path[512], want[128];
	uint8_t *full;

	(void)state;
	write_log(&o, 20, len_200, path, sizeof(path));
	full = test_read_file(path, &full_len);
	assert_int_equal(full_len, 20 * 216);
	last_start = full_len - 216;
	for (size_t cut_at = last_start; cut_at < full_len; cut_at++) {
		struct kl_wal_stats st;
		struct kl_wal *w;

		test_write_file(path, full, cut_at);
		w = open_wal(&o, &s);
		assert_int_equal(s.n, 19);
		for (size_t i = 0; i < 19; i++) {
			uint64_t id;

			assert_true(payload_ok(s.data[i], s.len[i], &id));
			assert_int_equal(id, i);
		}
		kl_wal_stats(w, &st);
		assert_int_equal(st.records_cut, cut_at > last_start);
		assert_int_equal(st.bytes_cut, cut_at - last_start);
		assert_int_equal(st.bytes, last_start);
		if (cut_at > last_start) {
			snprintf(want, sizeof(want), "wal: cut %zu bytes of a torn record at ",
				 cut_at - last_start);
			assert_non_null(strstr(logbuf, want));
			snprintf(want, sizeof(want), "offset %zu\n", last_start);
			assert_non_null(strstr(logbuf, want));
		} else {
			assert_string_equal(logbuf, "");
		}
		assert_int_equal(test_file_size(path), last_start);
		assert_int_equal(kl_wal_next_lsn(w), 20);
		/* the log goes on where the cut left it (a sample of the offsets) */
		if (cut_at % 23 == 0 || cut_at == full_len - 1) {
			append_wait(w, 100, 200);
			kl_wal_close(w);
			w = open_wal(&o, &s);
			assert_int_equal(s.n, 20);
			assert_int_equal(s.lsn[19], 20);
			assert_memory_equal(s.data[18], full + 18 * 216 + 16, 200);
			{
				uint64_t id;

				assert_true(payload_ok(s.data[19], s.len[19], &id));
				assert_int_equal(id, 100);
			}
			assert_string_equal(logbuf, "");
		}
		kl_wal_close(w);
	}
	free(full);
	seen_free(&s);
}

static void test_corrupt_record(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 0);
	struct seen s = { 0 };
	struct kl_wal_stats st;
	size_t full_len;
	struct kl_wal *w;
	char path[512];
	uint8_t *full;

	(void)state;
	write_log(&o, 50, len_200, path, sizeof(path));
	full = test_read_file(path, &full_len);

	/* one payload byte of record 30 (LSN 31): the checksum catches it */
	full[30 * 216 + 16 + 99] ^= 0x01;
	test_write_file(path, full, full_len);
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 30);
	kl_wal_stats(w, &st);
	assert_int_equal(st.records_cut, 20);	/* the bad one and the 19 after it */
	assert_int_equal(st.bytes_cut, 20 * 216);
	assert_non_null(strstr(logbuf, "wal: cut 4320 bytes of a corrupt record at "));
	assert_non_null(strstr(logbuf, "offset 6480"));
	assert_int_equal(test_file_size(path), 30 * 216);
	kl_wal_close(w);
	w = open_wal(&o, &s);	/* stable: nothing more to cut */
	assert_int_equal(s.n, 30);
	assert_string_equal(logbuf, "");
	kl_wal_close(w);

	/* a checksum byte of the last record */
	full[49 * 216 + 8] ^= 0x80;
	test_write_file(path, full, full_len);
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 30);	/* the damage at record 30 is still there */
	kl_wal_close(w);
	full[30 * 216 + 16 + 99] ^= 0x01;
	test_write_file(path, full, full_len);
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 49);
	kl_wal_stats(w, &st);
	assert_int_equal(st.records_cut, 1);
	kl_wal_close(w);

	/* a length field that points far past the end, and unknown flags */
	full[10 * 216 + 3] = 0x7f;
	test_write_file(path, full, full_len);
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 10);
	kl_wal_close(w);
	full[10 * 216 + 3] = 0;
	full[5 * 216 + 4] = 0x80;
	test_write_file(path, full, full_len);
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 5);
	assert_non_null(strstr(logbuf, "corrupt record"));
	kl_wal_close(w);
	free(full);
	seen_free(&s);
}

static void test_damage_in_earlier_segment(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 2000);
	struct seen s = { 0 };
	uint64_t segs[64], aside[64];
	size_t nseg, len;
	struct kl_wal_stats st;
	struct kl_wal *w;
	char path[512];
	uint8_t *data;

	(void)state;
	w = open_wal(&o, &s);
	for (uint64_t i = 0; i < 40; i++)
		append_wait(w, i, 200);	/* one record per batch: 10 per segment */
	kl_wal_close(w);
	nseg = list_segs(segs, 64, ".wal");
	assert_int_equal(nseg, 4);
	assert_int_equal(segs[1], 11);

	/* damage record 3 of the second segment (LSN 14) */
	seg_file(path, sizeof(path), segs[1]);
	data = test_read_file(path, &len);
	assert_int_equal(len, 10 * 216);
	data[3 * 216 + 50] ^= 0x10;
	test_write_file(path, data, len);
	free(data);

	w = open_wal(&o, &s);
	assert_int_equal(s.n, 13);	/* replay stops at the damage, never skips it */
	assert_int_equal(s.lsn[12], 13);
	kl_wal_stats(w, &st);
	assert_int_equal(st.records_cut, 7 + 20);
	assert_int_equal(st.bytes_cut, 7 * 216 + 20 * 216);
	assert_non_null(strstr(logbuf, "wal: cut 1512 bytes of a corrupt record at "));
	assert_non_null(strstr(logbuf, "rest kept as .corrupt"));
	assert_non_null(strstr(logbuf, "follows damage"));
	/* the damaged tail and the later segments are kept aside, not replayed */
	assert_int_equal(list_segs(aside, 64, ".wal.corrupt"), 3);
	assert_int_equal(aside[0], 11);
	assert_int_equal(aside[1], 21);
	assert_int_equal(list_segs(segs, 64, ".wal"), 2);
	snprintf(path, sizeof(path), "%s/%016llx.wal.corrupt", test_tmpdir, 11ULL);
	assert_int_equal(test_file_size(path), 7 * 216);
	assert_int_equal(kl_wal_next_lsn(w), 14);
	append_wait(w, 1000, 100);
	kl_wal_close(w);
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 14);
	assert_int_equal(s.lsn[13], 14);
	assert_string_equal(logbuf, "");

	/* damage again: what earlier damage kept aside is not overwritten */
	for (uint64_t i = 0; i < 10; i++)
		append_wait(w, 2000 + i, 200);	/* LSN 15-24: segment 21 again */
	kl_wal_close(w);
	assert_int_equal(list_segs(segs, 64, ".wal"), 3);
	assert_int_equal(segs[2], 21);
	seg_file(path, sizeof(path), 1);
	data = test_read_file(path, &len);
	data[50] ^= 0x10;
	test_write_file(path, data, len);
	free(data);
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 0);
	assert_int_equal(kl_wal_next_lsn(w), 1);
	/* segment 1's tail is new; 11 and 21 were kept aside before */
	assert_int_equal(list_segs(aside, 64, ".wal.corrupt"), 4);
	assert_int_equal(aside[0], 1);
	assert_int_equal(list_segs(aside, 64, ".wal.corrupt.1"), 2);
	assert_int_equal(aside[0], 11);
	assert_int_equal(aside[1], 21);
	assert_int_equal(list_segs(aside, 64, ".wal.corrupt.2"), 0);
	kl_wal_close(w);
	seen_free(&s);
}

/* The fault tests: A records succeed, B records fail, C records succeed. */
static void run_fault(enum kl_store_sync sync, const struct kl_fsio_fault *f, int want_err,
		      const char *want_msg)
{
	struct kl_fsio_fault none = { 0 };
	struct kl_wal_opts o = opts(sync, 0);
	struct seen s = { 0 };
	struct kl_wal_stats st;
	struct kl_err err;
	struct kl_wal *w;
	uint64_t lsn[5];
	char path[512];
	uint8_t *before, *after;
	size_t good, n;

	/* each run starts from an empty directory */
	assert_int_equal(test_tmpdir_teardown(NULL), 0);
	assert_int_equal(test_tmpdir_setup(NULL), 0);
	o.dir = test_tmpdir;
	o.io = kl_fsio_fault_set(&none);
	w = open_wal(&o, &s);
	for (uint64_t i = 0; i < 10; i++)
		append_wait(w, i, rec_len(i));
	seg_file(path, sizeof(path), 1);
	kl_wal_stats(w, &st);
	good = st.bytes;	/* the records; the file may go on with a zero tail */
	before = test_read_file(path, &n);
	assert_true(n >= good);

	kl_fsio_fault_set(f);
	for (uint64_t i = 0; i < 5; i++)
		lsn[i] = append(w, 100 + i, rec_len(100 + i));
	for (int i = 0; i < 5; i++) {
		assert_int_equal(kl_wal_wait(w, lsn[i], &err), want_err);
		assert_non_null(strstr(err.msg, want_msg));
	}
	assert_true(kl_fsio_fault_hits() >= 1);
	/* the failed bytes are gone (and the zero tail): what is there is untouched */
	after = test_read_file(path, &n);
	assert_int_equal(n, good);
	assert_memory_equal(after, before, good);
	free(before);
	free(after);
	/* more appends while the fault lasts fail too, and are answered */
	lsn[0] = append(w, 200, 50);
	assert_int_equal(kl_wal_wait(w, lsn[0], &err), want_err);
	kl_wal_stats(w, &st);
	assert_true(st.batches_failed >= 2);
	assert_int_equal(st.lag_bytes, 0);

	kl_fsio_fault_clear();	/* space returns */
	for (uint64_t i = 10; i < 20; i++)
		append_wait(w, i, rec_len(i));
	assert_int_equal(kl_wal_next_lsn(w), 27);
	kl_wal_close(w);

	o.io = NULL;
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 20);	/* only acknowledged records */
	for (size_t i = 0; i < 20; i++) {
		uint64_t id;

		assert_true(payload_ok(s.data[i], s.len[i], &id));
		assert_int_equal(id, i);
		/* LSNs as the appends returned them: 1-10, then 17-26 */
		assert_int_equal(s.lsn[i], i < 10 ? i + 1 : i + 7);
	}
	assert_int_equal(kl_wal_next_lsn(w), 27);
	kl_wal_close(w);
	seen_free(&s);
}

static void test_enospc_on_write(void **state)
{
	/* the disk fills up in the middle of a batch */
	struct kl_fsio_fault f = { .op = KL_FSIO_PWRITE, .err = ENOSPC, .short_write = 100 };

	(void)state;
	run_fault(KL_STORE_SYNC_FSYNC, &f, -ENOSPC, "No space left on device");
	run_fault(KL_STORE_SYNC_WRITE, &f, -ENOSPC, "write failed");
}

static void test_eio_on_fdatasync(void **state)
{
	/* the sync fails, and so does the sync after the cut: the WAL stays
	 * broken until the cut can be made durable, then resumes */
	struct kl_fsio_fault f = { .op = KL_FSIO_FDATASYNC, .err = EIO };

	(void)state;
	run_fault(KL_STORE_SYNC_FSYNC, &f, -EIO, "Input/output error");
}

static void test_eio_on_truncate(void **state)
{
	/* the sync of a batch and of its cut fail (the WAL is broken), then the
	 * retried cut's ftruncate fails: nothing may be written after the failed
	 * bytes until they are cut, and everything resumes once they are */
	struct kl_fsio_fault none = { 0 };
	struct kl_fsio_fault f = { .op = KL_FSIO_FDATASYNC, .err = EIO };
	struct kl_fsio_fault t = { .op = KL_FSIO_FTRUNCATE, .err = EIO };
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 0);
	struct seen s = { 0 };
	struct kl_err err;
	struct kl_wal *w;
	uint64_t lsn;

	(void)state;
	o.io = kl_fsio_fault_set(&none);
	w = open_wal(&o, &s);
	append_wait(w, 0, 100);
	kl_fsio_fault_set(&f);
	lsn = append(w, 1, 100);
	assert_int_equal(kl_wal_wait(w, lsn, &err), -EIO);
	assert_non_null(strstr(err.msg, "fdatasync failed"));
	assert_non_null(strstr(logbuf, "cannot cut a failed batch"));
	kl_fsio_fault_set(&t);
	lsn = append(w, 2, 100);
	assert_int_equal(kl_wal_wait(w, lsn, &err), -EIO);
	assert_non_null(strstr(err.msg, "truncate"));
	assert_true(kl_fsio_fault_hits() >= 1);
	kl_fsio_fault_clear();
	append_wait(w, 3, 100);
	kl_wal_close(w);
	o.io = NULL;
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 2);
	assert_int_equal(s.lsn[0], 1);
	assert_int_equal(s.lsn[1], 4);
	assert_int_equal(s.len[1], 100);
	kl_wal_close(w);
	seen_free(&s);
}

static void test_short_writes_retried(void **state)
{
	struct kl_fsio_fault f = { .op = KL_FSIO_PWRITE, .short_write = 7 };
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 0);
	struct seen s = { 0 };
	struct kl_wal *w;

	(void)state;
	o.io = kl_fsio_fault_set(&f);
	w = open_wal(&o, &s);
	for (uint64_t i = 0; i < 30; i++)
		append_wait(w, i, rec_len(i));
	assert_int_equal(kl_fsio_fault_hits(), 1);
	kl_wal_close(w);
	o.io = NULL;
	w = open_wal(&o, &s);
	check_records(&s, 30, 1, 0);
	kl_wal_close(w);
	seen_free(&s);
}

static void test_checkpoint(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 4096);
	struct seen s = { 0 };
	uint64_t segs[128];
	struct kl_wal_stats st;
	struct kl_err err;
	struct kl_wal *w;
	size_t nseg;

	(void)state;
	w = open_wal(&o, &s);
	for (uint64_t i = 0; i < 200; i++)
		append_wait(w, i, 8 + i % 400);
	nseg = list_segs(segs, 128, ".wal");
	assert_true(nseg > 5);
	/* also with records still buffered */
	append(w, 200, 300);
	append(w, 201, 300);
	assert_int_equal(kl_wal_checkpoint(w, 100, &err), 0);
	nseg = list_segs(segs, 128, ".wal");
	/* the first segment left holds 100; nothing below it is left */
	assert_true(segs[0] <= 100);
	assert_true(nseg >= 2 && segs[1] > 100);
	kl_wal_stats(w, &st);
	append_wait(w, 202, 300);
	kl_wal_close(w);

	w = open_wal(&o, &s);
	assert_true(s.n >= 103);
	assert_int_equal(s.lsn[0], segs[0]);
	for (size_t i = 0; i < s.n; i++) {
		uint64_t id;

		assert_int_equal(s.lsn[i], segs[0] + i);
		assert_true(payload_ok(s.data[i], s.len[i], &id));
		assert_int_equal(id, s.lsn[i] - 1);
	}
	assert_int_equal(s.lsn[s.n - 1], 203);

	/* everything is in blocks: only a fresh, empty segment stays */
	assert_int_equal(kl_wal_checkpoint(w, kl_wal_next_lsn(w), &err), 0);
	nseg = list_segs(segs, 128, ".wal");
	assert_int_equal(nseg, 1);
	assert_int_equal(segs[0], 204);
	kl_wal_stats(w, &st);
	assert_int_equal(st.bytes, 0);
	/* a checkpoint of an empty segment deletes nothing */
	assert_int_equal(kl_wal_checkpoint(w, 204, &err), 0);
	assert_int_equal(list_segs(segs, 128, ".wal"), 1);
	kl_wal_close(w);
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 0);
	assert_int_equal(kl_wal_next_lsn(w), 204);	/* the name keeps the count */
	append_wait(w, 203, 50);
	kl_wal_close(w);
	w = open_wal(&o, &s);
	assert_int_equal(s.n, 1);
	assert_int_equal(s.lsn[0], 204);
	kl_wal_close(w);
	seen_free(&s);
}

/* --- the preallocated zero tail ------------------------------------------ */

/* The bytes records [first_id, first_id + n) take on disk, frames included. */
static size_t rec_bytes(uint64_t first_id, int n)
{
	size_t total = 0;

	for (int i = 0; i < n; i++)
		total += 16 + rec_len(first_id + (uint64_t)i);
	return total;
}

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

/*
 * A crash after the last acknowledgement: a child process opens the WAL,
 * appends ids [first_id, first_id + n) waiting for each, and exits without
 * kl_wal_close, so the segment's zero tail stays as a crash leaves it.
 */
static void crash_after(const struct kl_wal_opts *o, uint64_t first_id, int n)
{
	pid_t pid = fork();
	int status;

	assert_true(pid >= 0);
	if (pid == 0) {
		struct seen s = { 0 };
		struct kl_wal *w = NULL;
		struct kl_err err;

		if (kl_wal_open(o, collect, &s, &w, &err))
			_exit(2);
		for (int i = 0; i < n; i++) {
			uint64_t id = first_id + (uint64_t)i, lsn;
			uint8_t buf[4096];

			fill_payload(buf, rec_len(id), id);
			if (kl_wal_append(w, buf, rec_len(id), &lsn, &err) ||
			    kl_wal_wait(w, lsn, &err))
				_exit(3);
		}
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void append_zeros(const char *path, size_t n)
{
	FILE *f = fopen(path, "ab");

	assert_non_null(f);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(fputc(0, f), 0);
	assert_int_equal(fclose(f), 0);
}

static void test_zero_tail_clean_end(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 0);
	struct seen s = { 0 };
	struct kl_wal_stats st;
	size_t len, rec = rec_bytes(0, 30);
	struct kl_wal *w;
	char path[512];
	uint8_t *data;

	(void)state;
	crash_after(&o, 0, 30);
	seg_file(path, sizeof(path), 1);
	data = test_read_file(path, &len);
	/* the records, then zeros written ahead of them, in whole blocks */
	assert_true(len > rec && len % 4096 == 0);
	assert_true(all_zero(data + rec, len - rec));
	free(data);
	w = open_wal(&o, &s);
	check_records(&s, 30, 1, 0);
	assert_string_equal(logbuf, "");	/* a clean end: nothing cut, nothing said */
	kl_wal_stats(w, &st);
	assert_int_equal(st.records_cut, 0);
	assert_int_equal(st.bytes_cut, 0);
	assert_int_equal(st.bytes, rec);	/* records, not the tail */
	assert_int_equal(test_file_size(path), len);
	/* the next records overwrite the zeros: the file does not grow */
	for (uint64_t i = 30; i < 40; i++)
		append_wait(w, i, rec_len(i));
	assert_int_equal(test_file_size(path), len);
	kl_wal_close(w);
	/* a clean close cuts the tail: the segment ends at its last record */
	assert_int_equal(test_file_size(path), rec_bytes(0, 40));
	w = open_wal(&o, &s);
	check_records(&s, 40, 1, 0);
	kl_wal_close(w);

	/* a crash again; WRITE mode (no preallocation) writes over that tail */
	crash_after(&o, 40, 5);
	assert_true(test_file_size(path) > rec_bytes(0, 45));
	o.sync = KL_STORE_SYNC_WRITE;
	w = open_wal(&o, &s);
	check_records(&s, 45, 1, 0);
	assert_string_equal(logbuf, "");
	append_wait(w, 45, rec_len(45));
	kl_wal_close(w);
	assert_int_equal(test_file_size(path), rec_bytes(0, 46));
	/* fewer zero bytes than a header are a clean end too */
	append_zeros(path, 7);
	w = open_wal(&o, &s);
	check_records(&s, 46, 1, 0);
	assert_string_equal(logbuf, "");
	kl_wal_stats(w, &st);
	assert_int_equal(st.bytes_cut, 0);
	kl_wal_close(w);
	assert_int_equal(test_file_size(path), rec_bytes(0, 46));
	seen_free(&s);
}

static void test_zero_tail_earlier_segment(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 4096);
	struct seen s = { 0 };
	uint64_t segs[64], aside[64];
	struct kl_wal_stats st;
	struct kl_wal *w;
	char path[512];
	size_t nseg;

	(void)state;
	w = open_wal(&o, &s);
	for (uint64_t i = 0; i < 40; i++)
		append_wait(w, i, rec_len(i));
	kl_wal_close(w);
	nseg = list_segs(segs, 64, ".wal");
	assert_true(nseg >= 3);
	/* a crash before a rotation's cut of the tail reached the disk */
	seg_file(path, sizeof(path), segs[1]);
	append_zeros(path, 5000);
	w = open_wal(&o, &s);
	check_records(&s, 40, 1, 0);
	assert_string_equal(logbuf, "");
	assert_int_equal(list_segs(aside, 64, ".wal.corrupt"), 0);
	kl_wal_stats(w, &st);
	assert_int_equal(st.bytes, rec_bytes(0, 40));
	assert_int_equal(st.records_cut, 0);
	append_wait(w, 40, rec_len(40));
	kl_wal_close(w);
	w = open_wal(&o, &s);
	check_records(&s, 41, 1, 0);
	kl_wal_close(w);
	seen_free(&s);
}

/* Checks n records: ids 0.. in order, and a 21st one that is a copy of id 19. */
static void check_tail_records(const struct seen *s, size_t n)
{
	assert_int_equal(s->n, n);
	for (size_t i = 0; i < n; i++) {
		uint64_t id;

		assert_int_equal(s->lsn[i], i + 1);
		assert_true(payload_ok(s->data[i], s->len[i], &id));
		assert_int_equal(id, i < 20 ? i : 19);
	}
}

/* Writes data with the bytes [at, at + n) replaced by src, opens, checks the cut. */
static void open_damaged(const struct kl_wal_opts *o, const char *path, const uint8_t *data,
			 size_t len, size_t at, const uint8_t *src, size_t n, size_t want_records,
			 size_t want_size, const char *want_log)
{
	uint8_t *copy = malloc(len + 1);
	struct seen s = { 0 };
	struct kl_wal_stats st;
	struct kl_wal *w;

	assert_non_null(copy);
	memcpy(copy, data, len);
	memcpy(copy + at, src, n);
	test_write_file(path, copy, len);
	w = open_wal(o, &s);
	check_tail_records(&s, want_records);
	if (!strstr(logbuf, want_log))
		fail_msg("log: %s (wanted %s)", logbuf, want_log);
	kl_wal_stats(w, &st);
	assert_int_equal(st.bytes_cut, len - want_size);
	assert_int_equal(test_file_size(path), want_size);
	kl_wal_close(w);
	w = open_wal(o, &s);	/* stable: nothing more to cut */
	check_tail_records(&s, want_records);
	assert_string_equal(logbuf, "");
	kl_wal_close(w);
	free(copy);
	seen_free(&s);
}

static void test_torn_in_zero_tail(void **state)
{
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 0);
	size_t len, rec = rec_bytes(0, 20), last = 16 + rec_len(19);
	uint8_t *data, junk[64], frame[4096 + 16];
	char path[512], want[768];

	(void)state;
	crash_after(&o, 0, 20);
	seg_file(path, sizeof(path), 1);
	data = test_read_file(path, &len);
	assert_true(len > rec + 3 * 4096);
	memcpy(frame, data + rec - last, last);
	memset(junk, 0x5a, sizeof(junk));
	snprintf(want, sizeof(want), "of a corrupt record at %s offset %zu\n", path, rec);

	/* a batch torn by the crash: half a frame written into the tail */
	open_damaged(&o, path, data, len, rec, frame, last / 2, 20, rec, want);
	/* only a later block of a batch reached the disk: zeros, then data */
	open_damaged(&o, path, data, len, rec + 4096, junk, sizeof(junk), 20, rec, want);
	/* a whole frame in the tail is a record (the batch was written): nothing cut */
	open_damaged(&o, path, data, len, rec, frame, last, 21, len, "");
	/* damage in the last record before the tail: the checksum still catches it */
	junk[0] = data[rec - 10] ^ 0x04;
	snprintf(want, sizeof(want), "of a corrupt record at %s offset %zu\n", path,
		 rec - last);
	open_damaged(&o, path, data, len, rec - 10, junk, 1, 19, rec - last, want);
	free(data);
}

/* The extension of the zero tail hits a full disk: its batch fails, cleanly. */
static void run_extension_fault(size_t short_write)
{
	struct kl_fsio_fault none = { 0 };
	struct kl_fsio_fault second = { .op = KL_FSIO_PWRITE, .after = 1, .err = EIO };
	struct kl_fsio_fault full = { .op = KL_FSIO_PWRITE, .err = ENOSPC,
				      .short_write = short_write };
	struct kl_wal_opts o = opts(KL_STORE_SYNC_FSYNC, 0);
	struct seen s = { 0 };
	struct kl_wal_stats st;
	size_t tail, size;
	struct kl_err err;
	struct kl_wal *w;
	char path[512];
	uint64_t id, lsn;

	assert_int_equal(test_tmpdir_teardown(NULL), 0);
	assert_int_equal(test_tmpdir_setup(NULL), 0);
	o.dir = test_tmpdir;
	o.io = kl_fsio_fault_set(&none);
	w = open_wal(&o, &s);
	seg_file(path, sizeof(path), 1);
	append_wait(w, 0, 4000);
	tail = test_file_size(path);
	assert_true(tail > 2 * 4016 && tail % 4096 == 0);
	/* a batch inside the tail is one pwrite (no zeros): a second one would fail */
	for (id = 1; (id + 1) * 4016 <= tail; id++) {
		kl_fsio_fault_set(&second);
		append_wait(w, id, 4000);
		assert_int_equal(kl_fsio_fault_hits(), 0);
	}
	assert_int_equal(test_file_size(path), tail);
	/* the next record needs more zeros, and the disk is full */
	kl_fsio_fault_set(&full);
	lsn = append(w, id, 4000);
	assert_int_equal(kl_wal_wait(w, lsn, &err), -ENOSPC);
	assert_non_null(strstr(err.msg, "extending the segment"));
	assert_true(kl_fsio_fault_hits() >= 1);
	kl_wal_stats(w, &st);
	assert_int_equal(st.batches_failed, 1);
	assert_int_equal(st.bytes, id * 4016);
	/* cut back to the last good record, the tail with it */
	assert_int_equal(test_file_size(path), id * 4016);
	kl_fsio_fault_clear();	/* space returns */
	append_wait(w, id + 1, 4000);
	size = test_file_size(path);
	assert_true(size > tail && size % 4096 == 0);
	kl_wal_close(w);
	assert_int_equal(test_file_size(path), (id + 1) * 4016 + 24);	/* with the JUMP */

	o.io = NULL;
	w = open_wal(&o, &s);
	assert_string_equal(logbuf, "");
	assert_int_equal(s.n, id + 1);
	for (size_t i = 0; i < s.n; i++) {
		uint64_t got;

		assert_true(payload_ok(s.data[i], s.len[i], &got));
		assert_int_equal(got, i < id ? i : id + 1);
		assert_int_equal(s.lsn[i], i < id ? i + 1 : id + 2);
	}
	kl_wal_close(w);
	seen_free(&s);
}

static void test_enospc_on_extension(void **state)
{
	(void)state;
	run_extension_fault(0);		/* no zero written */
	run_extension_fault(4096);	/* some written, then the disk is full */
}

/*
 * kill -9: a child appends from 3 threads and writes (lsn, id) to a pipe
 * after each successful kl_wal_wait; the parent kills it at a random moment
 * and checks that every acknowledged record is replayed intact.
 */
struct child_arg {
	struct kl_wal *w;
	int fd;
	uint64_t base;
};

static void *child_thread(void *p)
{
	struct child_arg *a = p;
	struct kl_err err;

	for (uint64_t i = 0;; i++) {
		uint64_t id = a->base | i, msg[2];
		size_t len = 8 + (size_t)(kl_hash_u64(id) % 2000);
		uint8_t buf[2048];

		fill_payload(buf, len, id);
		if (kl_wal_append(a->w, buf, len, &msg[0], &err) || kl_wal_wait(a->w, msg[0], &err))
			_exit(3);
		msg[1] = id;
		if (write(a->fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
			_exit(4);
	}
	return NULL;
}

static void child_main(int fd, int round, const struct kl_wal_opts *o)
{
	struct child_arg args[3];
	pthread_t th[3];
	struct seen s = { 0 };
	struct kl_wal *w = NULL;
	struct kl_err err;

	if (kl_wal_open(o, collect, &s, &w, &err))
		_exit(2);
	for (int t = 0; t < 3; t++) {
		args[t] = (struct child_arg){ .w = w, .fd = fd,
					      .base = (uint64_t)(round * 4 + t + 1) << 40 };
		if (pthread_create(&th[t], NULL, child_thread, &args[t]))
			_exit(5);
	}
	pause();
	_exit(6);
}

static void test_kill9_durability(void **state)
{
	unsigned seed = (unsigned)time(NULL) ^ (unsigned)getpid();
	struct seen s = { 0 };
	size_t total_acked = 0;

	(void)state;
	print_message("kill -9 test seed %u\n", seed);
	srand(seed);
	for (int round = 0; round < 8; round++) {
		enum kl_store_sync sync = round % 2 ? KL_STORE_SYNC_WRITE : KL_STORE_SYNC_FSYNC;
		/* small segments (many rotations), then the default (a 1 MiB zero tail) */
		struct kl_wal_opts o = opts(sync, round < 6 ? 32 << 10 : 0);
		uint64_t *acked = NULL, msg[2];
		size_t nacked = 0, cap = 0, kill_after = 20 + (size_t)(rand() % 600);
		struct timespec t0, t1;
		int pfd[2], status;
		struct kl_wal *w;
		pid_t pid;

		assert_int_equal(pipe(pfd), 0);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0) {
			close(pfd[0]);
			o.log = NULL;
			child_main(pfd[1], round, &o);
		}
		close(pfd[1]);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (bool killed = false;;) {
			struct pollfd pf = { .fd = pfd[0], .events = POLLIN };
			ssize_t r;

			if (!killed && nacked >= kill_after) {
				kill(pid, SIGKILL);
				killed = true;
			}
			clock_gettime(CLOCK_MONOTONIC, &t1);
			if (!killed && t1.tv_sec - t0.tv_sec > 20) {
				kill(pid, SIGKILL);
				fail_msg("child made no progress (%zu acks)", nacked);
			}
			if (poll(&pf, 1, 1000) <= 0)
				continue;
			/* pipe writes of 16 bytes are atomic */
			r = read(pfd[0], msg, sizeof(msg));
			if (r == 0)
				break;	/* the child is dead and the pipe drained */
			assert_int_equal(r, sizeof(msg));
			if (nacked == cap) {
				cap = cap ? 2 * cap : 256;
				acked = realloc(acked, cap * 2 * sizeof(*acked));
				assert_non_null(acked);
			}
			acked[2 * nacked] = msg[0];
			acked[2 * nacked + 1] = msg[1];
			nacked++;
		}
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

		w = open_wal(&o, &s);
		/* every replayed record is intact and in LSN order */
		for (size_t i = 0; i < s.n; i++) {
			uint64_t id;

			assert_true(payload_ok(s.data[i], s.len[i], &id));
			assert_int_equal(s.len[i], 8 + (size_t)(kl_hash_u64(id) % 2000));
			if (i)
				assert_true(s.lsn[i] > s.lsn[i - 1]);
		}
		/* every acknowledged record is there, under its LSN */
		for (size_t k = 0; k < nacked; k++) {
			size_t lo = 0, hi = s.n;
			uint64_t id;

			while (lo < hi) {
				size_t mid = (lo + hi) / 2;

				if (s.lsn[mid] < acked[2 * k])
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo == s.n || s.lsn[lo] != acked[2 * k])
				fail_msg("round %d: acknowledged record %llu lost", round,
					 (unsigned long long)acked[2 * k]);
			assert_true(payload_ok(s.data[lo], s.len[lo], &id));
			assert_int_equal(id, acked[2 * k + 1]);
		}
		total_acked += nacked;
		free(acked);
		kl_wal_close(w);
	}
	print_message("kill -9: %zu acknowledged records checked over 8 kills\n", total_acked);
	seen_free(&s);
}

/* every test runs in a fresh temporary directory */
#define TMP_TEST(f) cmocka_unit_test_setup_teardown(f, test_tmpdir_setup, test_tmpdir_teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TMP_TEST(test_roundtrip),
		TMP_TEST(test_empty_and_large_records),
		TMP_TEST(test_open_errors),
		TMP_TEST(test_concurrent_appends),
		TMP_TEST(test_backpressure),
		TMP_TEST(test_torn_tail_every_offset),
		TMP_TEST(test_corrupt_record),
		TMP_TEST(test_damage_in_earlier_segment),
		TMP_TEST(test_enospc_on_write),
		TMP_TEST(test_eio_on_fdatasync),
		TMP_TEST(test_eio_on_truncate),
		TMP_TEST(test_short_writes_retried),
		TMP_TEST(test_checkpoint),
		TMP_TEST(test_zero_tail_clean_end),
		TMP_TEST(test_zero_tail_earlier_segment),
		TMP_TEST(test_torn_in_zero_tail),
		TMP_TEST(test_enospc_on_extension),
		TMP_TEST(test_kill9_durability),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
