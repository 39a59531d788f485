/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wal_bench.c - group commit at work: N threads each append a 2 KiB record
 * to the WAL and wait until it is durable, for a few seconds per run, in
 * FSYNC and WRITE modes; against the naive design (one fdatasync per record,
 * under a lock) measured in the same run. Built and run by bench/wal.sh.
 *
 * usage: wal_bench DIR [SECONDS] [THREADS...]     (default: 3 s; 1 8 64)
 */
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "store/wal.h"

#define RECORD 2048

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int ignore(void *ctx, uint64_t lsn, const uint8_t *p, size_t len)
{
	(void)ctx;
	(void)lsn;
	(void)p;
	(void)len;
	return 0;
}

struct run {
	struct kl_wal *w;	/* NULL: the naive design */
	int fd;			/* naive: the log file */
	pthread_mutex_t mu;	/* naive: orders writes and syncs */
	uint64_t off;
	double until;
	atomic_uint_fast64_t records;
	atomic_int failed;
};

static void *worker(void *p)
{
	struct run *r = p;
	uint8_t buf[RECORD];
	struct kl_err err;
	uint64_t lsn;

	memset(buf, 0x5a, sizeof(buf));
	while (now_s() < r->until) {
		if (r->w) {
			if (kl_wal_append(r->w, buf, sizeof(buf), &lsn, &err) ||
			    kl_wal_wait(r->w, lsn, &err)) {
				fprintf(stderr, "wal_bench: %s\n", err.msg);
				atomic_store(&r->failed, 1);
				return NULL;
			}
		} else {
			pthread_mutex_lock(&r->mu);
			if (pwrite(r->fd, buf, sizeof(buf), (off_t)r->off) != sizeof(buf) ||
			    fdatasync(r->fd)) {
				pthread_mutex_unlock(&r->mu);
				perror("wal_bench: naive");
				atomic_store(&r->failed, 1);
				return NULL;
			}
			r->off += sizeof(buf);
			pthread_mutex_unlock(&r->mu);
		}
		atomic_fetch_add(&r->records, 1);
	}
	return NULL;
}

/* Runs nthreads workers for secs; *syncs gets the fdatasync calls. Records/s or -1. */
static double run_once(const char *dir, int mode, int nthreads, double secs, uint64_t *syncs)
{
	struct kl_wal_opts o = { .dir = dir, .segment_bytes = 16u << 20 };
	struct run r = { .fd = -1 };
	pthread_t *th = calloc((size_t)nthreads, sizeof(*th));
	char path[4096];
	struct kl_err err;
	double t0, t1;

	if (!th)
		return -1;
	pthread_mutex_init(&r.mu, NULL);
	if (mode < 0) {
		snprintf(path, sizeof(path), "%s/naive.log", dir);
		r.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (r.fd < 0) {
			perror(path);
			return -1;
		}
	} else {
		o.sync = (enum kl_store_sync)mode;
		if (kl_wal_open(&o, ignore, NULL, &r.w, &err)) {
			fprintf(stderr, "wal_bench: %s\n", err.msg);
			return -1;
		}
	}
	t0 = now_s();
	r.until = t0 + secs;
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, &r);
	/* the store checkpoints as blocks are cut: here often, to bound the disk used */
	for (double next = t0 + 0.25; r.w && next < r.until; next += 0.25) {
		double left = next - now_s();

		if (left > 0)
			usleep((useconds_t)(left * 1e6));
		if (kl_wal_checkpoint(r.w, kl_wal_next_lsn(r.w), &err))
			fprintf(stderr, "wal_bench: %s\n", err.msg);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	t1 = now_s();
	*syncs = atomic_load(&r.records);
	if (r.w) {
		struct kl_wal_stats st;

		kl_wal_stats(r.w, &st);
		*syncs = st.syncs;
		kl_wal_checkpoint(r.w, kl_wal_next_lsn(r.w), &err);
		kl_wal_close(r.w);
	} else {
		close(r.fd);
		unlink(path);
	}
	free(th);
	pthread_mutex_destroy(&r.mu);
	return atomic_load(&r.failed) ? -1 : (double)atomic_load(&r.records) / (t1 - t0);
}

int main(int argc, char **argv)
{
	static const int def_threads[] = { 1, 8, 64 };
	double secs = argc > 2 ? strtod(argv[2], NULL) : 3.0;
	int threads[16], nth = 0;
	char sub[4096];

	if (argc < 2 || secs <= 0) {
		fprintf(stderr, "usage: wal_bench DIR [SECONDS] [THREADS...]\n");
		return 2;
	}
	for (int i = 3; i < argc && nth < 16; i++)
		threads[nth++] = (int)strtol(argv[i], NULL, 10);
	if (!nth)
		for (size_t i = 0; i < sizeof(def_threads) / sizeof(def_threads[0]); i++)
			threads[nth++] = def_threads[i];

	printf("%-7s %-8s %12s %10s %12s %10s\n", "threads", "mode", "records/s", "syncs/s",
	       "records/sync", "vs naive");
	for (int t = 0; t < nth; t++) {
		uint64_t syncs;
		double naive, fs, wr;
		uint64_t s_fs, s_wr;

		snprintf(sub, sizeof(sub), "%s/t%d", argv[1], threads[t]);
		naive = run_once(argv[1], -1, threads[t], secs, &syncs);
		fs = run_once(sub, KL_STORE_SYNC_FSYNC, threads[t], secs, &s_fs);
		wr = run_once(sub, KL_STORE_SYNC_WRITE, threads[t], secs, &s_wr);
		if (naive < 0 || fs < 0 || wr < 0)
			return 1;
		printf("%-7d %-8s %12.0f %10.0f %12.1f %10s\n", threads[t], "naive", naive,
		       naive, 1.0, "1.0x");
		printf("%-7d %-8s %12.0f %10.0f %12.1f %9.1fx\n", threads[t], "fsync", fs,
		       s_fs / secs, s_fs ? fs * secs / (double)s_fs : 0.0, fs / naive);
		printf("%-7d %-8s %12.0f %10.0f %12s %9.1fx\n", threads[t], "write", wr,
		       s_wr / secs, "-", wr / naive);
		fflush(stdout);
	}
	return 0;
}
