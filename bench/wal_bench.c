/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wal_bench.c - group commit at work: N threads each append a record (2 KiB,
 * or WAL_BENCH_RECORD bytes) to the WAL and wait until it is durable, for a
 * few seconds per run, in FSYNC and WRITE modes; against the naive design
 * (one fdatasync per record, under a lock) measured in the same run. Also
 * the process's CPU time (user + system, getrusage) per sync and per record,
 * and its context switches per record: what each durable batch costs.
 * Built and run by bench/wal.sh. WAL_BENCH_MODES (e.g. "fsync") runs only
 * the modes named (naive, fsync, write), for perf or strace.
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
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "store/wal.h"

#define RECORD_MAX 65536

static size_t record = 2048;
static uint8_t payload[RECORD_MAX];	/* filled before the workers start, then read only */

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
	const uint8_t *buf = payload;
	struct kl_err err;
	uint64_t lsn;

	while (now_s() < r->until) {
		if (r->w) {
			if (kl_wal_append(r->w, buf, record, &lsn, &err) ||
			    kl_wal_wait(r->w, lsn, &err)) {
				fprintf(stderr, "wal_bench: %s\n", err.msg);
				atomic_store(&r->failed, 1);
				return NULL;
			}
		} else {
			pthread_mutex_lock(&r->mu);
			if (pwrite(r->fd, buf, record, (off_t)r->off) != (ssize_t)record ||
			    fdatasync(r->fd)) {
				pthread_mutex_unlock(&r->mu);
				perror("wal_bench: naive");
				atomic_store(&r->failed, 1);
				return NULL;
			}
			r->off += record;
			pthread_mutex_unlock(&r->mu);
		}
		atomic_fetch_add(&r->records, 1);
	}
	return NULL;
}

/* What one run measured. */
struct result {
	double rate;		/* records/s; -1 if the run failed */
	uint64_t records, syncs;
	double cpu_us;		/* user + system time of the whole process */
	uint64_t csw;		/* voluntary + involuntary context switches */
};

static double tv_us(struct timeval tv)
{
	return (double)tv.tv_sec * 1e6 + (double)tv.tv_usec;
}

/* Runs nthreads workers for secs and returns what it measured. */
static struct result run_once(const char *dir, int mode, int nthreads, double secs)
{
	struct result res = { .rate = -1 };
	struct rusage ru0, ru1;
	struct kl_wal_opts o = { .dir = dir, .segment_bytes = 16u << 20 };
	struct run r = { .fd = -1 };
	pthread_t *th = calloc((size_t)nthreads, sizeof(*th));
	char path[4200];	/* DIR (at most 4095 bytes) + /naive.log */
	struct kl_err err;
	double t0, t1;

	if (!th)
		return res;
	pthread_mutex_init(&r.mu, NULL);
	if (mode < 0) {
		snprintf(path, sizeof(path), "%s/naive.log", dir);
		r.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (r.fd < 0) {
			perror(path);
			free(th);
			return res;
		}
	} else {
		o.sync = (enum kl_store_sync)mode;
		if (kl_wal_open(&o, ignore, NULL, &r.w, &err)) {
			fprintf(stderr, "wal_bench: %s\n", err.msg);
			free(th);
			return res;
		}
	}
	getrusage(RUSAGE_SELF, &ru0);
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
	getrusage(RUSAGE_SELF, &ru1);
	res.records = atomic_load(&r.records);
	res.syncs = res.records;
	res.cpu_us = tv_us(ru1.ru_utime) - tv_us(ru0.ru_utime) + tv_us(ru1.ru_stime) -
		     tv_us(ru0.ru_stime);
	res.csw = (uint64_t)(ru1.ru_nvcsw - ru0.ru_nvcsw + ru1.ru_nivcsw - ru0.ru_nivcsw);
	if (r.w) {
		struct kl_wal_stats st;

		kl_wal_stats(r.w, &st);
		res.syncs = st.syncs;
		kl_wal_checkpoint(r.w, kl_wal_next_lsn(r.w), &err);
		kl_wal_close(r.w);
	} else {
		close(r.fd);
		unlink(path);
	}
	free(th);
	pthread_mutex_destroy(&r.mu);
	if (!atomic_load(&r.failed))
		res.rate = (double)res.records / (t1 - t0);
	return res;
}

static void print_row(int threads, const char *mode, const struct result *x, double secs,
		      double naive)
{
	char rps[32] = "-", ratio[32] = "-";

	if (x->syncs && strcmp(mode, "write"))
		snprintf(rps, sizeof(rps), "%.1f", (double)x->records / (double)x->syncs);
	if (naive > 0)
		snprintf(ratio, sizeof(ratio), "%.1fx", x->rate / naive);
	printf("%-7d %-6s %10.0f %8.0f %8s %7s %9.1f %9.1f %7.2f\n", threads, mode, x->rate,
	       (double)x->syncs / secs, rps, ratio,
	       x->syncs && strcmp(mode, "write") ? x->cpu_us / (double)x->syncs : 0.0,
	       x->records ? x->cpu_us / (double)x->records : 0.0,
	       x->records ? (double)x->csw / (double)x->records : 0.0);
}

int main(int argc, char **argv)
{
	static const int def_threads[] = { 1, 8, 64 };
	double secs = argc > 2 ? strtod(argv[2], NULL) : 3.0;
	const char *modes_wanted = getenv("WAL_BENCH_MODES");
	int threads[16], nth = 0;
	char sub[4096];

	if (getenv("WAL_BENCH_RECORD"))
		record = (size_t)strtoul(getenv("WAL_BENCH_RECORD"), NULL, 10);
	if (argc < 2 || secs <= 0 || record == 0 || record > RECORD_MAX) {
		fprintf(stderr, "usage: [WAL_BENCH_RECORD=BYTES] wal_bench DIR [SECONDS] "
			"[THREADS...]\n");
		return 2;
	}
	for (int i = 3; i < argc && nth < 16; i++)
		threads[nth++] = (int)strtol(argv[i], NULL, 10);
	if (!nth)
		for (size_t i = 0; i < sizeof(def_threads) / sizeof(def_threads[0]); i++)
			threads[nth++] = def_threads[i];
	memset(payload, 0x5a, sizeof(payload));
	if (!modes_wanted)
		modes_wanted = "naive fsync write";

	printf("%-7s %-6s %10s %8s %8s %7s %9s %9s %7s\n", "threads", "mode", "records/s",
	       "syncs/s", "rec/sync", "vs naive", "cpu us/sync", "us/record", "csw/rec");
	for (int t = 0; t < nth; t++) {
		static const char *const names[] = { "naive", "fsync", "write" };
		static const int modes[] = { -1, KL_STORE_SYNC_FSYNC, KL_STORE_SYNC_WRITE };
		double naive = 0;

		snprintf(sub, sizeof(sub), "%s/t%d", argv[1], threads[t]);
		for (int m = 0; m < 3; m++) {
			struct result x;

			if (!strstr(modes_wanted, names[m]))
				continue;
			x = run_once(m ? sub : argv[1], modes[m], threads[t], secs);
			if (x.rate < 0)
				return 1;
			if (!m)
				naive = x.rate;
			print_row(threads[t], names[m], &x, secs, naive);
			fflush(stdout);
		}
	}
	return 0;
}
