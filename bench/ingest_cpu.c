/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ingest_cpu.c - CPU cost of kiln server's ingest and render paths, in
 * process (no HTTP, no store), so that the cost of decoding and splitting
 * a profile can be compared with the bare gunzip + pprof decode of the same
 * bytes (issue 4 asks for server CPU <= 3x that). Built as kiln-ingest-cpu,
 * run by bench/ingest_cpu.sh.
 *
 * usage: kiln-ingest-cpu [--ms N] [--only decode|ingest|push|render] FILE...
 *   --ms N    time budget per measure and round [200]
 *   --only M  run only measure M (for perf record)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tree.h"
#include "formats/formats.h"
#include "server/ingest.h"

#define NOW_NS INT64_C(1763740800000000000)

/* CPU time of this thread: what the server spends, and steadier than wall time on a busy box. */
static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	long n;

	if (!f)
		return NULL;
	if (fseek(f, 0, SEEK_END) || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
		goto out;
	data = malloc((size_t)n + 1);
	if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
		free(data);
		data = NULL;
	}
	*len = (size_t)n;
out:
	fclose(f);
	return data;
}

/* ---- a Push request around one pprof ---------------------------------------- */

static void push_body(const uint8_t *pprof, size_t len, struct kl_buf *req)
{
	static const char *const kv[][2] = {
		{ "service_name", "bench-app" }, { "__name__", "process_cpu" },
		{ "env", "prod" }, { "region", "eu-west-1" },
	};
	struct kl_labels ls = { 0 };

	for (size_t i = 0; i < KL_ARRAY_SIZE(kv); i++)
		kl_labels_set(&ls, kv[i][0], kv[i][1], strlen(kv[i][1]));
	kl_push_encode(&ls, pprof, len, req);
	kl_labels_release(&ls);
}

/* ---- the measures ------------------------------------------------------------ */

struct input {
	const uint8_t *data;
	size_t len;
	struct kl_ingest_params params;
	struct kl_buf push;
};

enum measure { M_DECODE, M_INGEST, M_PUSH, M_RENDER, M_ALL };

static enum measure only = M_ALL;

/* One run of measure m; returns 0 or prints why it failed. */
static int run_once(enum measure m, struct input *in)
{
	struct kl_series_set set = { 0 };
	struct kl_http_err herr = { 0 };
	struct kl_buf raw = KL_BUF_INIT;
	struct kl_profile *p = NULL;
	struct kl_err err;
	int rc;

	switch (m) {
	case M_DECODE:
		rc = kl_gunzip(in->data, in->len, 0, &raw, &err);
		if (!rc)
			rc = kl_pprof_read((const uint8_t *)raw.data, raw.len, NULL, &p, &err);
		kl_profile_free(p);
		kl_buf_release(&raw);
		if (rc)
			fprintf(stderr, "ingest_cpu: decode: %s\n", err.msg);
		return rc;
	case M_INGEST:
		rc = kl_ingest_request(&in->params, "application/octet-stream", in->data, in->len,
				       NULL, &set, &herr);
		break;
	default:
		rc = kl_push_decode("application/proto", NULL, (const uint8_t *)in->push.data,
				    in->push.len, NOW_NS, NULL, &set, &herr);
	}
	kl_series_set_release(&set);
	if (rc)
		fprintf(stderr, "ingest_cpu: %s\n", herr.e.msg);
	return rc;
}

/* Microseconds per run of m: the best of 5 rounds, each about budget_us long. */
static double measure(enum measure m, struct input *in, double budget_us)
{
	double best = 1e18, t0 = now_us();
	unsigned n = 1;

	/* calibrate: how many runs fill a round */
	if (run_once(m, in))
		return -1;
	double one = now_us() - t0;

	if (one > 0 && one < budget_us)
		n = (unsigned)(budget_us / one);
	for (int round = 0; round < 5; round++) {
		double t = now_us();

		for (unsigned i = 0; i < n; i++)
			if (run_once(m, in))
				return -1;
		t = (now_us() - t) / n;
		if (t < best)
			best = t;
	}
	return best;
}

/* The render path of one profile, as /pyroscope/render format=json runs it. */
static int render(const uint8_t *data, size_t len, double times[4], uint32_t *nnodes)
{
	const struct kl_view_opts vo = { .sample_index = 0, .granularity = KL_GRAN_FUNCTIONS };
	const struct kl_flamebearer_meta meta = { .name = "cpu", .spy_name = "", .units = NULL,
						  .sample_rate = 100 };
	struct kl_strtab *names = kl_strtab_new();
	struct kl_tree *t = names ? kl_tree_new(names, 1) : NULL;
	struct kl_buf out = KL_BUF_INIT;
	struct kl_profile *p = NULL;
	struct kl_view v;
	struct kl_err err;
	double t0;
	int rc = -ENOMEM;

	memset(&v, 0, sizeof(v));
	if (!t)
		goto out;
	if ((rc = kl_pprof_read(data, len, NULL, &p, &err)))
		goto out;
	t0 = now_us();
	if ((rc = kl_view_init(&v, p, &vo, names, &err)))
		goto out;
	times[0] = now_us() - t0;
	t0 = now_us();
	if ((rc = kl_tree_add_view(t, &v, 0, false)))
		goto out;
	times[1] = now_us() - t0;
	*nnodes = t->nnodes;
	t0 = now_us();
	if ((rc = kl_tree_truncate(t, 8192)))
		goto out;
	times[2] = now_us() - t0;
	t0 = now_us();
	rc = kl_flamebearer_write(t, &meta, false, &out, &err);
	times[3] = now_us() - t0;
out:
	if (rc)
		fprintf(stderr, "ingest_cpu: render: %s\n", kl_strerror(rc));
	kl_view_release(&v);
	kl_tree_free(t);
	kl_strtab_free(names);
	kl_profile_free(p);
	kl_buf_release(&out);
	return rc;
}

static int bench_file(const char *path, double budget_us)
{
	static const char *keys[] = { "name", "format", "from", "until", "spyName" };
	static const char *vals[] = { "bench-app.cpu{env=prod,region=eu-west-1}", "pprof",
				      "1763740800", "1763740810", "gospy" };
	struct input in = { 0 };
	struct kl_http_err herr;
	struct kl_buf gz = KL_BUF_INIT;
	struct kl_err err;
	uint8_t *file;
	size_t len = 0;
	double dec = 0, ing = 0, push = 0;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	int rc = 1;

	file = slurp(path, &len);
	if (!file) {
		fprintf(stderr, "ingest_cpu: cannot read %s\n", path);
		return 1;
	}
	in.data = file;
	in.len = len;
	/* clients send gzip: compress a raw file the way they would */
	if (!kl_is_gzip(file, len)) {
		if (kl_gzip(file, len, &gz, &err)) {
			fprintf(stderr, "ingest_cpu: %s: %s\n", path, err.msg);
			goto out;
		}
		in.data = (const uint8_t *)gz.data;
		in.len = gz.len;
	}
	if (kl_ingest_params_parse(keys, vals, KL_ARRAY_SIZE(keys), NOW_NS, &in.params, &herr)) {
		fprintf(stderr, "ingest_cpu: params: %s\n", herr.e.msg);
		goto out;
	}
	push_body(in.data, in.len, &in.push);
	if (only != M_ALL && only != M_RENDER) {
		printf("%-28s %8zu %11.1f\n", base, in.len, measure(only, &in, budget_us));
		rc = 0;
		goto out;
	}
	if (only == M_RENDER)
		goto render;
	dec = measure(M_DECODE, &in, budget_us);
	ing = measure(M_INGEST, &in, budget_us);
	push = measure(M_PUSH, &in, budget_us);
	if (dec < 0 || ing < 0 || push < 0)
		goto out;
	printf("%-28s %8zu %11.1f %11.1f %11.1f %6.2f %6.2f\n", base, in.len, dec, ing, push,
	       ing / dec, push / dec);
render:
	if (len > 100000) {
		double best[4] = { 1e18, 1e18, 1e18, 1e18 }, sum;
		uint32_t nnodes = 0;

		int runs = only == M_RENDER ? 30 : 15;

		for (int i = 0; i < runs; i++) {
			double times[4];

			if (render(in.data, in.len, times, &nnodes))
				goto out;
			for (int k = 0; k < 4; k++)
				best[k] = KL_MIN(best[k], times[k]);
		}
		sum = best[0] + best[1] + best[2] + best[3];
		printf("  render %s (%u nodes, best of %d, ms): view %.2f, tree_add_view %.2f, "
		       "truncate(8192) %.2f, flamebearer %.2f, total %.2f\n", base, nnodes, runs,
		       best[0] / 1e3, best[1] / 1e3, best[2] / 1e3, best[3] / 1e3, sum / 1e3);
	}
	rc = 0;
out:
	kl_ingest_params_release(&in.params);
	kl_buf_release(&in.push);
	kl_buf_release(&gz);
	free(file);
	return rc;
}

int main(int argc, char **argv)
{
	double budget_us = 200e3;
	int i = 1, rc = 0;

	for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
		if (!strcmp(argv[i], "--ms"))
			budget_us = strtod(argv[i + 1], NULL) * 1e3;
		else if (!strcmp(argv[i], "--only"))
			only = !strcmp(argv[i + 1], "decode") ? M_DECODE :
			       !strcmp(argv[i + 1], "push") ? M_PUSH :
			       !strcmp(argv[i + 1], "render") ? M_RENDER : M_INGEST;
		else
			break;
	}
	if (i >= argc || budget_us <= 0) {
		fprintf(stderr, "usage: kiln-ingest-cpu [--ms N] [--only decode|ingest|push|render] "
			"FILE...\n");
		return 2;
	}
	printf("%-28s %8s %11s %11s %11s %6s %6s\n", "profile", "gz bytes", "decode us",
	       "ingest us", "push us", "ing/d", "push/d");
	for (; i < argc; i++)
		rc |= bench_file(argv[i], budget_us);
	return rc;
}
