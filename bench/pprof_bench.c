/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof_bench.c - times kl_pprof_read, kl_pprof_write (raw and gzip) and
 * kl_profile_merge on one pprof file, best of N runs, and prints the
 * profile's size and kl_profile_memory. Built and run by bench/pprof.sh.
 *
 * usage: pprof_bench FILE [RUNS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "formats/formats.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long n;

	if (!f || fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		return NULL;
	data = malloc((size_t)n + 1);
	if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
		free(data);
		data = NULL;
	}
	fclose(f);
	*len = (size_t)n;
	return data;
}

int main(int argc, char **argv)
{
	double best_read = 1e9, best_raw = 1e9, best_gz = 1e9, best_merge = 1e9;
	int runs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 20;
	struct kl_profile *p = NULL;
	struct kl_err err;
	size_t len, raw_len = 0, gz_len = 0;
	uint8_t *data;

	if (argc < 2 || !(data = slurp(argv[1], &len))) {
		fprintf(stderr, "usage: pprof_bench FILE [RUNS]\n");
		return 2;
	}
	for (int i = 0; i < runs; i++) {
		struct kl_profile *m, *pair[2];
		struct kl_buf raw = KL_BUF_INIT, gz = KL_BUF_INIT;
		double t0 = now_ms(), t1, t2, t3, t4;

		if (kl_pprof_read(data, len, NULL, &p, &err)) {
			fprintf(stderr, "pprof_bench: %s\n", err.msg);
			return 1;
		}
		t1 = now_ms();
		if (kl_pprof_write(p, false, &raw, &err))
			return 1;
		t2 = now_ms();
		if (kl_pprof_write(p, true, &gz, &err))
			return 1;
		t3 = now_ms();
		pair[0] = pair[1] = p;
		if (kl_profile_merge(pair, 2, &m, &err))
			return 1;
		t4 = now_ms();
		best_read = t1 - t0 < best_read ? t1 - t0 : best_read;
		best_raw = t2 - t1 < best_raw ? t2 - t1 : best_raw;
		best_gz = t3 - t2 < best_gz ? t3 - t2 : best_gz;
		best_merge = t4 - t3 < best_merge ? t4 - t3 : best_merge;
		raw_len = raw.len;
		gz_len = gz.len;
		kl_buf_release(&raw);
		kl_buf_release(&gz);
		kl_profile_free(m);
		if (i + 1 < runs)
			kl_profile_free(p);
	}
	printf("file: %s (%zu bytes)\n", argv[1], len);
	printf("samples %u, locations %u, functions %u, strings %u\n", p->nsamples,
	       p->nlocations, p->nfunctions, kl_strtab_count(p->strs));
	printf("kl_profile_memory: %.2f MB\n", kl_profile_memory(p) / 1e6);
	printf("best of %d: read %.1f ms, write raw %.1f ms (%zu bytes), write gzip %.1f ms "
	       "(%zu bytes), merge with itself %.1f ms\n", runs, best_read, best_raw, raw_len,
	       best_gz, gz_len, best_merge);
	kl_profile_free(p);
	free(data);
	return 0;
}
