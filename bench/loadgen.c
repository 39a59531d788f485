/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loadgen.c - kiln-loadgen, the load generator of the server benchmarks and
 * tests: replays realistic pprof profiles (pre-built variants of fixtures,
 * re-encoded with Kiln's own pprof writer so no two are byte-identical) for
 * many services x label sets over N keep-alive connections (libcurl multi),
 * as /ingest (raw pprof or pyroscope-go multipart) or Connect Push. Bounded
 * by --duration and --count, 127.0.0.1 only. Run with --help for usage.
 *
 * Sections: options, variants, request bodies, the send loop, reporting,
 * the decode benchmark (the "bare cost" of gunzip + pprof decode).
 */
#include <curl/curl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "formats/formats.h"
#include "server/ingest.h"
#include "store/store.h"

enum mode { MODE_INGEST, MODE_MULTIPART, MODE_PUSH };
static const char *const mode_names[] = { "ingest", "multipart", "push" };
enum tunit { TU_S, TU_MS, TU_NS };

#define MAX_FIXTURES 16
#define MAX_TYPES 8
#define NSTATUS 600

struct fixture {
	const char *path;
	unsigned weight;
};

/* One pre-built profile: the bytes to send and what they hold. */
struct variant {
	struct kl_buf gz;	/* gzipped pprof */
	struct kl_buf body;	/* the request body for ingest/multipart (push builds its own) */
	const char *fixture;
	const char *pname;	/* __name__ for Push labels, static; NULL: none */
	uint32_t ntypes;
	char types[MAX_TYPES][64];	/* "type:unit" */
	int64_t totals[MAX_TYPES];
};

struct opts {
	const char *url;
	enum mode mode;
	struct fixture fx[MAX_FIXTURES];
	size_t nfx;
	unsigned variants, services, labelsets, conns;
	double duration;
	uint64_t count;
	int64_t backfill_ns, step_ns, start_ns;
	enum tunit tunit;
	bool tunit_set;
	const char *tenant, *ack_log, *prefix, *stc_file;
	double decode_bench, pipeline_bench;
	const char *pipeline_dir;
	uint64_t max_errors;
	bool quiet;
};

/* One connection slot: an easy handle reused for keep-alive. */
struct conn {
	CURL *h;
	struct curl_slist *hdrs;
	struct kl_buf body;	/* push bodies (other modes point at the variant's) */
	char url[2048];
	char errtext[160];
	size_t errlen;
	uint64_t seq;
	size_t var;
	int64_t from_ns, until_ns;
	double t0;
	bool busy;
};

struct stats {
	uint64_t sent, done, acked, bytes, transport_errors;
	uint64_t status[NSTATUS];
	char first_err[NSTATUS][160];
	double *lat;		/* ms, one per completed request */
	size_t nlat, lat_cap;
};

static volatile sig_atomic_t stop_flag;

static void on_signal(int sig)
{
	(void)sig;
	stop_flag = 1;
}

static double mono_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int64_t wall_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static double cpu_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kiln-loadgen --url http://127.0.0.1:PORT [options]\n"
		"  --mode M               ingest: POST /ingest?format=pprof (gzip body);\n"
		"                         multipart: as pyroscope-go (profile +\n"
		"                         sample_type_config); push: Connect Push\n"
		"                         application/proto [ingest]\n"
		"  --fixture FILE[:W]     pprof file to replay, weight W [1] (repeatable;\n"
		"                         default go-cpu, go-sample.cpu, cppbench.cpu\n"
		"                         from $KILN_FIXTURES)\n"
		"  --variants K           pre-built variants per fixture [8]\n"
		"  --services S           services svc-0..S-1 [10]\n"
		"  --labelsets L          label sets {region,pod} per service [1]\n"
		"  --prefix NAME          service name prefix [svc]\n"
		"  --connections N        parallel keep-alive connections [4]\n"
		"  --duration SEC         stop after SEC seconds [10]\n"
		"  --count N              stop after N profiles [no limit; backfill: all]\n"
		"  --backfill SPAN        history: each series gets SPAN/step profiles\n"
		"                         ending now, e.g. 24h, 30d (units s m h d)\n"
		"  --start UNIX_S         backfill: first profile at this time instead\n"
		"  --step SEC             profile duration and backfill step [10]\n"
		"  --time-unit s|ms|ns    from/until units [s; multipart: ns]\n"
		"  --tenant T             send X-Scope-OrgID: T\n"
		"  --sample-type-config F multipart: send F as the sample_type_config part\n"
		"  --ack-log FILE         one line per answer: seq status name from until\n"
		"                         variant type:unit=total ...\n"
		"  --max-errors N         stop after N transport errors [100]\n"
		"  --decode-bench SEC     no server: time gunzip + pprof decode (kl_gunzip\n"
		"                         + kl_pprof_read) of the same variant mix\n"
		"  --pipeline-bench SEC   no server: time the server's ingest path in one\n"
		"                         thread (kl_ingest_request + kl_store_append into\n"
		"                         a store in --pipeline-dir, --sync none: no WAL),\n"
		"                         or --count profiles after the warm-up round\n"
		"  --pipeline-dir DIR     the store's data directory (must not exist)\n"
		"  --quiet                only the RESULT line\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-')
		return -1;
	*out = v;
	return 0;
}

static int parse_double(const char *s, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(s, &end);
	return errno || end == s || *end || *out < 0 ? -1 : 0;
}

/* "30d", "24h", "90m", "600s", "600": nanoseconds. */
static int parse_span(const char *s, int64_t *out)
{
	char *end;
	double v;
	int64_t unit = 1000000000;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v <= 0)
		return -1;
	if (*end == 'm')
		unit *= 60;
	else if (*end == 'h')
		unit *= 3600;
	else if (*end == 'd')
		unit *= 86400;
	else if (*end && *end != 's')
		return -1;
	if (*end && end[1])
		return -1;
	*out = (int64_t)(v * (double)unit);
	return 0;
}

/* Only loopback: this tool must never load someone else's server. */
static bool url_is_loopback(const char *url)
{
	static const char *const ok[] = { "http://127.0.0.1:", "http://localhost:",
					  "http://[::1]:" };

	for (size_t i = 0; i < KL_ARRAY_SIZE(ok); i++) {
		size_t n = strlen(ok[i]);

		if (!strncmp(url, ok[i], n)) {
			const char *p = url + n;

			if (*p < '0' || *p > '9')
				return false;
			while (*p >= '0' && *p <= '9')
				p++;
			return *p == 0 || *p == '/';
		}
	}
	return false;
}

static int add_fixture(struct opts *o, const char *arg)
{
	const char *colon = strrchr(arg, ':');
	uint64_t w = 1;
	char *path;

	if (o->nfx == MAX_FIXTURES)
		return -1;
	if (colon && colon[1] && !parse_u64(colon + 1, &w)) {
		path = kl_strndup(arg, (size_t)(colon - arg));
	} else {
		path = kl_strndup(arg, strlen(arg));
		w = 1;
	}
	if (!path || w == 0 || w > 1000) {
		kl_free(path);
		return -1;
	}
	o->fx[o->nfx].path = path;
	o->fx[o->nfx].weight = (unsigned)w;
	o->nfx++;
	return 0;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
	*o = (struct opts){ .mode = MODE_INGEST, .variants = 8, .services = 10, .labelsets = 1,
			    .conns = 4, .duration = 10, .step_ns = 10000000000LL, .prefix = "svc",
			    .max_errors = 100 };
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		uint64_t u = 0;
		int bad = 0;

		if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
			usage(stdout);
			exit(0);
		} else if (!strcmp(a, "--quiet")) {
			o->quiet = true;
			continue;
		}
		if (!v) {
			fprintf(stderr, "kiln-loadgen: %s needs a value (see --help)\n", a);
			return -1;
		}
		i++;
		if (!strcmp(a, "--url")) {
			o->url = v;
		} else if (!strcmp(a, "--mode")) {
			if (!strcmp(v, "ingest"))
				o->mode = MODE_INGEST;
			else if (!strcmp(v, "multipart"))
				o->mode = MODE_MULTIPART;
			else if (!strcmp(v, "push"))
				o->mode = MODE_PUSH;
			else
				bad = 1;
		} else if (!strcmp(a, "--fixture")) {
			bad = add_fixture(o, v);
		} else if (!strcmp(a, "--variants")) {
			bad = parse_u64(v, &u) || !u || u > 1000;
			o->variants = (unsigned)u;
		} else if (!strcmp(a, "--services")) {
			bad = parse_u64(v, &u) || !u || u > 1000000;
			o->services = (unsigned)u;
		} else if (!strcmp(a, "--labelsets")) {
			bad = parse_u64(v, &u) || !u || u > 100000;
			o->labelsets = (unsigned)u;
		} else if (!strcmp(a, "--prefix")) {
			o->prefix = v;
		} else if (!strcmp(a, "--connections")) {
			bad = parse_u64(v, &u) || !u || u > 256;
			o->conns = (unsigned)u;
		} else if (!strcmp(a, "--duration")) {
			bad = parse_double(v, &o->duration) || o->duration <= 0;
		} else if (!strcmp(a, "--count")) {
			bad = parse_u64(v, &o->count);
		} else if (!strcmp(a, "--backfill")) {
			bad = parse_span(v, &o->backfill_ns);
		} else if (!strcmp(a, "--start")) {
			bad = parse_u64(v, &u) || u > 9000000000ULL;
			o->start_ns = (int64_t)u * 1000000000;
		} else if (!strcmp(a, "--step")) {
			bad = parse_span(v, &o->step_ns);
		} else if (!strcmp(a, "--time-unit")) {
			o->tunit_set = true;
			if (!strcmp(v, "s"))
				o->tunit = TU_S;
			else if (!strcmp(v, "ms"))
				o->tunit = TU_MS;
			else if (!strcmp(v, "ns"))
				o->tunit = TU_NS;
			else
				bad = 1;
		} else if (!strcmp(a, "--tenant")) {
			o->tenant = v;
		} else if (!strcmp(a, "--sample-type-config")) {
			o->stc_file = v;
		} else if (!strcmp(a, "--ack-log")) {
			o->ack_log = v;
		} else if (!strcmp(a, "--max-errors")) {
			bad = parse_u64(v, &o->max_errors);
		} else if (!strcmp(a, "--decode-bench")) {
			bad = parse_double(v, &o->decode_bench) || o->decode_bench <= 0;
		} else if (!strcmp(a, "--pipeline-bench")) {
			bad = parse_double(v, &o->pipeline_bench) || o->pipeline_bench <= 0;
		} else if (!strcmp(a, "--pipeline-dir")) {
			o->pipeline_dir = v;
		} else {
			fprintf(stderr, "kiln-loadgen: unknown option %s (see --help)\n", a);
			return -1;
		}
		if (bad) {
			fprintf(stderr, "kiln-loadgen: bad value for %s: '%s'\n", a, v);
			return -1;
		}
	}
	if (o->pipeline_bench && !o->pipeline_dir) {
		fprintf(stderr, "kiln-loadgen: --pipeline-bench needs --pipeline-dir\n");
		return -1;
	}
	if (!o->decode_bench && !o->pipeline_bench) {
		if (!o->url) {
			fprintf(stderr, "kiln-loadgen: --url is required (see --help)\n");
			return -1;
		}
		if (!url_is_loopback(o->url)) {
			fprintf(stderr, "kiln-loadgen: refusing %s: only http://127.0.0.1:PORT, "
				"localhost or [::1] may be loaded\n", o->url);
			return -1;
		}
	}
	if (!o->tunit_set)
		o->tunit = o->mode == MODE_MULTIPART ? TU_NS : TU_S;
	if (o->step_ns < 1000000000) {
		fprintf(stderr, "kiln-loadgen: --step must be at least 1s\n");
		return -1;
	}
	if (!o->nfx) {
		static const char *const def[] = {
			"pprof/go-cpu.pb.gz", "pprof/go-sample.cpu.pb.gz",
			"pprof/legacy-converted/cppbench.cpu.pb.gz",
		};
		const char *dir = getenv("KILN_FIXTURES");
		char path[4096];

		if (!dir) {
			fprintf(stderr, "kiln-loadgen: give --fixture FILE or set KILN_FIXTURES\n");
			return -1;
		}
		for (size_t i = 0; i < KL_ARRAY_SIZE(def); i++) {
			snprintf(path, sizeof(path), "%s/%s", dir, def[i]);
			if (add_fixture(o, path))
				return -1;
		}
	}
	return 0;
}

/* ---- variants ---------------------------------------------------------------------- */

static int slurp(const char *path, struct kl_buf *out)
{
	FILE *f = fopen(path, "rb");
	char chunk[65536];
	size_t n;

	if (!f)
		return -errno;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		kl_buf_add(out, chunk, n);
	fclose(f);
	return kl_buf_error(out);
}

/*
 * The __name__ a Push client sends with a CPU profile; for other profiles
 * none is sent and the server derives it from the sample types (NULL).
 */
static const char *push_name(const struct kl_profile *p)
{
	for (uint32_t i = 0; i < p->nsample_types; i++)
		if (strstr(kl_profile_sget(p, p->sample_types[i].type), "cpu"))
			return "process_cpu";
	return NULL;
}

/*
 * Variant k of a profile: sample i's values are multiplied by
 * 1 + (i * 7 + k * 3) % 4 (k = 0 is the original), so every variant has
 * different totals and bytes while keeping the stacks of a real program.
 * time_nanos is cleared: the server then places it at the request's from.
 */
static void perturb(struct kl_profile *p, unsigned k)
{
	for (uint32_t i = 0; i < p->nsamples && k; i++) {
		int64_t m = 1 + (int64_t)(((uint64_t)i * 7 + k * 3) % 4);
		int64_t *v = p->values + (size_t)i * p->nsample_types;

		for (uint32_t t = 0; t < p->nsample_types; t++)
			v[t] *= m;
	}
	p->time_nanos = 0;
}

static const char boundary[] = "kilnloadgen7f3a9c2e51b04d68";

static void multipart_part(struct kl_buf *b, const char *name, const char *file,
			   const void *data, size_t len)
{
	kl_buf_addf(b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"; filename=\"%s\"\r\n"
		    "Content-Type: application/octet-stream\r\n\r\n", boundary, name, file);
	kl_buf_add(b, data, len);
	kl_buf_addstr(b, "\r\n");
}

static int build_variants(const struct opts *o, struct variant **out, size_t *nout)
{
	size_t n = o->nfx * o->variants, k = 0;
	struct variant *v = kl_calloc(n, sizeof(*v));
	struct kl_buf stc = KL_BUF_INIT;
	struct kl_err err;
	int rc = -ENOMEM;

	if (!v)
		return -ENOMEM;
	if (o->stc_file && (rc = slurp(o->stc_file, &stc))) {
		fprintf(stderr, "kiln-loadgen: %s: %s\n", o->stc_file, kl_strerror(rc));
		goto out;
	}
	for (size_t f = 0; f < o->nfx; f++) {
		struct kl_buf raw = KL_BUF_INIT;

		if ((rc = slurp(o->fx[f].path, &raw))) {
			fprintf(stderr, "kiln-loadgen: %s: %s\n", o->fx[f].path, kl_strerror(rc));
			kl_buf_release(&raw);
			goto out;
		}
		for (unsigned j = 0; j < o->variants; j++, k++) {
			struct variant *x = &v[k];
			struct kl_profile *p = NULL;

			rc = kl_pprof_read((const uint8_t *)raw.data, raw.len, NULL, &p, &err);
			if (rc) {
				fprintf(stderr, "kiln-loadgen: %s: %s\n", o->fx[f].path, err.msg);
				kl_buf_release(&raw);
				goto out;
			}
			perturb(p, j);
			x->fixture = o->fx[f].path;
			x->pname = push_name(p);
			x->ntypes = KL_MIN(p->nsample_types, MAX_TYPES);
			for (uint32_t t = 0; t < x->ntypes; t++) {
				snprintf(x->types[t], sizeof(x->types[t]), "%s:%s",
					 kl_profile_sget(p, p->sample_types[t].type),
					 kl_profile_sget(p, p->sample_types[t].unit));
				x->totals[t] = kl_profile_total(p, t);
			}
			rc = kl_pprof_write(p, true, &x->gz, &err);
			kl_profile_free(p);
			if (rc) {
				fprintf(stderr, "kiln-loadgen: %s: %s\n", o->fx[f].path, err.msg);
				kl_buf_release(&raw);
				goto out;
			}
			if (o->mode == MODE_MULTIPART) {
				multipart_part(&x->body, "profile", "profile.pprof", x->gz.data,
					       x->gz.len);
				if (stc.len)
					multipart_part(&x->body, "sample_type_config",
						       "sample_type_config.json", stc.data,
						       stc.len);
				kl_buf_addf(&x->body, "--%s--\r\n", boundary);
			} else {
				kl_buf_add(&x->body, x->gz.data, x->gz.len);
			}
			if ((rc = kl_buf_error(&x->body))) {
				kl_buf_release(&raw);
				goto out;
			}
		}
		kl_buf_release(&raw);
	}
	*out = v;
	*nout = n;
	v = NULL;
	rc = 0;
out:
	if (v) {
		for (size_t i = 0; i < n; i++) {
			kl_buf_release(&v[i].gz);
			kl_buf_release(&v[i].body);
		}
		kl_free(v);
	}
	kl_buf_release(&stc);
	return rc;
}

static uint64_t mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	return x ^ (x >> 33);
}

/* The variant request seq sends: a fixture by weight, then one of its variants. */
static size_t pick_variant(const struct opts *o, uint64_t seq)
{
	uint64_t h = mix64(seq + 1), wsum = 0, r;
	size_t f = 0;

	for (size_t i = 0; i < o->nfx; i++)
		wsum += o->fx[i].weight;
	r = h % wsum;
	while (r >= o->fx[f].weight) {
		r -= o->fx[f].weight;
		f++;
	}
	return f * o->variants + (size_t)((h >> 32) % o->variants);
}

/* ---- request bodies and URLs ------------------------------------------------------------ */

/* The app name with labels, e.g. svc-3{region=eu-1,pod=pod-7}. */
static void series_name(const struct opts *o, uint64_t seq, char *out, size_t cap,
			 unsigned *svc, unsigned *ls)
{
	uint64_t idx = seq % ((uint64_t)o->services * o->labelsets);

	*svc = (unsigned)(idx / o->labelsets);
	*ls = (unsigned)(idx % o->labelsets);
	snprintf(out, cap, "%s-%u{region=r%u,pod=pod-%u}", o->prefix, *svc, *ls % 4, *ls);
}

static int64_t to_unit(int64_t ns, enum tunit u)
{
	return u == TU_NS ? ns : u == TU_MS ? ns / 1000000 : ns / 1000000000;
}

static void url_escape(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t j = 0;

	for (; *s && j + 4 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    c == '-' || c == '_' || c == '.') {
			out[j++] = (char)c;
		} else {
			out[j++] = '%';
			out[j++] = hex[c >> 4];
			out[j++] = hex[c & 15];
		}
	}
	out[j] = 0;
}

/* PushRequest{series: [{labels, samples: [{raw_profile}]}]} for one series. */
static void push_body(const struct opts *o, const struct variant *x, unsigned svc, unsigned ls,
		      struct kl_buf *out)
{
	struct kl_labels labels = { 0 };
	char v[128];

	if (x->pname)
		kl_labels_set(&labels, "__name__", x->pname, strlen(x->pname));
	snprintf(v, sizeof(v), "%s-%u", o->prefix, svc);
	kl_labels_set(&labels, "service_name", v, strlen(v));
	snprintf(v, sizeof(v), "r%u", ls % 4);
	kl_labels_set(&labels, "region", v, strlen(v));
	snprintf(v, sizeof(v), "pod-%u", ls);
	kl_labels_set(&labels, "pod", v, strlen(v));
	out->len = 0;
	kl_push_encode(&labels, x->gz.data, x->gz.len, out);
	kl_labels_release(&labels);
}

/* ---- the send loop ---------------------------------------------------------------------- */

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct conn *c = ctx;
	size_t len = size * n, room = sizeof(c->errtext) - 1 - c->errlen;

	if (room) {
		size_t k = KL_MIN(room, len);

		memcpy(c->errtext + c->errlen, data, k);
		c->errlen += k;
		c->errtext[c->errlen] = 0;
	}
	return len;
}

/* Which series and times request seq gets. */
static void request_times(const struct opts *o, int64_t base_ns, uint64_t seq, int64_t *from,
			  int64_t *until)
{
	uint64_t nseries = (uint64_t)o->services * o->labelsets;

	if (o->backfill_ns || o->start_ns) {
		*from = base_ns + (int64_t)(seq / nseries) * o->step_ns;
		*until = *from + o->step_ns;
	} else {
		*until = wall_ns();
		*from = *until - o->step_ns;
	}
}

static int start_request(const struct opts *o, struct conn *c, const struct variant *vars,
			 uint64_t seq, int64_t base_ns, CURLM *m, struct stats *st)
{
	char name[512], ename[1024];
	unsigned svc, ls;
	const struct variant *x;
	const void *body;
	size_t body_len;

	c->seq = seq;
	c->var = pick_variant(o, seq);
	x = &vars[c->var];
	series_name(o, seq, name, sizeof(name), &svc, &ls);
	request_times(o, base_ns, seq, &c->from_ns, &c->until_ns);
	if (o->mode == MODE_PUSH) {
		push_body(o, x, svc, ls, &c->body);
		if (kl_buf_error(&c->body))
			return -ENOMEM;
		snprintf(c->url, sizeof(c->url), "%s/push.v1.PusherService/Push", o->url);
		body = c->body.data;
		body_len = c->body.len;
	} else {
		url_escape(name, ename, sizeof(ename));
		snprintf(c->url, sizeof(c->url),
			 "%s/ingest?%sname=%s&from=%" PRId64 "&until=%" PRId64
			 "&spyName=%s&sampleRate=100", o->url,
			 o->mode == MODE_INGEST ? "format=pprof&" : "", ename,
			 to_unit(c->from_ns, o->tunit), to_unit(c->until_ns, o->tunit),
			 o->mode == MODE_MULTIPART ? "gospy" : "kiln-loadgen");
		body = x->body.data;
		body_len = x->body.len;
	}
	curl_easy_setopt(c->h, CURLOPT_URL, c->url);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c->h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	c->errlen = 0;
	c->errtext[0] = 0;
	c->t0 = mono_s();
	c->busy = true;
	st->sent++;
	st->bytes += body_len;
	return curl_multi_add_handle(m, c->h) == CURLM_OK ? 0 : -EIO;
}

static int conn_init(const struct opts *o, struct conn *c)
{
	char h[256];

	c->h = curl_easy_init();
	if (!c->h)
		return -ENOMEM;
	/* Expect: 100-continue would cost a round trip per request */
	c->hdrs = curl_slist_append(NULL, "Expect:");
	if (o->mode == MODE_PUSH)
		c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/proto");
	else if (o->mode == MODE_MULTIPART) {
		snprintf(h, sizeof(h), "Content-Type: multipart/form-data; boundary=%s", boundary);
		c->hdrs = curl_slist_append(c->hdrs, h);
	} else {
		c->hdrs = curl_slist_append(c->hdrs, "Content-Type: application/octet-stream");
	}
	if (o->tenant) {
		snprintf(h, sizeof(h), "X-Scope-OrgID: %s", o->tenant);
		c->hdrs = curl_slist_append(c->hdrs, h);
	}
	if (!c->hdrs)
		return -ENOMEM;
	curl_easy_setopt(c->h, CURLOPT_HTTPHEADER, c->hdrs);
	curl_easy_setopt(c->h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->h, CURLOPT_WRITEDATA, c);
	curl_easy_setopt(c->h, CURLOPT_PRIVATE, c);
	curl_easy_setopt(c->h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->h, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(c->h, CURLOPT_TIMEOUT, 60L);
	curl_easy_setopt(c->h, CURLOPT_USERAGENT, "kiln-loadgen/1");
	/* belt and braces: only plain HTTP, never follow a redirect elsewhere */
	curl_easy_setopt(c->h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c->h, CURLOPT_PROTOCOLS_STR, "http");
	return 0;
}

static void ack_line(FILE *f, const struct opts *o, const struct conn *c, const struct variant *x,
		     int status)
{
	char name[512];
	unsigned svc, ls;

	series_name(o, c->seq, name, sizeof(name), &svc, &ls);
	fprintf(f, "%" PRIu64 " %d %s %" PRId64 " %" PRId64 " %zu", c->seq, status, name,
		c->from_ns, c->until_ns, c->var);
	for (uint32_t t = 0; t < x->ntypes; t++)
		fprintf(f, " %s=%" PRId64, x->types[t], x->totals[t]);
	fputc('\n', f);
}

static void finish_request(const struct opts *o, struct conn *c, CURLcode cc,
			   const struct variant *vars, FILE *ack, struct stats *st)
{
	long status = 0;
	double ms = (mono_s() - c->t0) * 1e3;

	if (cc == CURLE_OK)
		curl_easy_getinfo(c->h, CURLINFO_RESPONSE_CODE, &status);
	if (status < 0 || status >= NSTATUS)
		status = 0;
	st->done++;
	if (cc != CURLE_OK) {
		st->transport_errors++;
		if (!st->first_err[0][0])
			snprintf(st->first_err[0], sizeof(st->first_err[0]), "%s",
				 curl_easy_strerror(cc));
	} else if (status == 200) {
		st->acked++;
	} else if (!st->first_err[status][0]) {
		snprintf(st->first_err[status], sizeof(st->first_err[0]), "%s", c->errtext);
	}
	st->status[status]++;
	if (!KL_GROW(st->lat, st->lat_cap, st->nlat + 1))
		st->lat[st->nlat++] = ms;
	if (ack)
		ack_line(ack, o, c, &vars[c->var], (int)status);
	c->busy = false;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(const struct stats *st, double p)
{
	size_t i;

	if (!st->nlat)
		return 0;
	i = (size_t)(p * (double)(st->nlat - 1) + 0.5);
	return st->lat[i];
}

static void report(const struct opts *o, const struct stats *st, double elapsed, double cpu)
{
	uint64_t errors = st->done - st->acked;

	if (!o->quiet) {
		printf("sent %" PRIu64 " profiles in %.2f s: %.1f/s; acknowledged (200) %" PRIu64
		       " = %.1f/s; %.1f MB sent (%.1f MB/s)\n", st->sent, elapsed,
		       st->sent / elapsed, st->acked, st->acked / elapsed, st->bytes / 1e6,
		       st->bytes / 1e6 / elapsed);
		printf("latency ms: p50 %.2f  p90 %.2f  p99 %.2f  max %.2f\n", pct(st, 0.5),
		       pct(st, 0.9), pct(st, 0.99), pct(st, 1.0));
		if (!errors)
			printf("errors: none\n");
		for (int s = 0; s < NSTATUS; s++) {
			if (s == 200 || !st->status[s])
				continue;
			printf("errors: %s %d: %" PRIu64 " (first: %.150s)\n",
			       s ? "status" : "transport", s, st->status[s], st->first_err[s]);
		}
		printf("loadgen cpu: %.2f s (%.1f us per profile)\n", cpu,
		       st->done ? cpu * 1e6 / st->done : 0);
	}
	printf("RESULT mode=%s series=%u sent=%" PRIu64 " acked=%" PRIu64 " errors=%" PRIu64
	       " transport_errors=%" PRIu64 " elapsed_s=%.3f rate=%.1f acked_rate=%.1f bytes=%"
	       PRIu64 " p50_ms=%.3f p99_ms=%.3f max_ms=%.3f\n", mode_names[o->mode],
	       o->services * o->labelsets, st->sent, st->acked, errors, st->transport_errors,
	       elapsed, st->sent / elapsed, st->acked / elapsed, st->bytes, pct(st, 0.5),
	       pct(st, 0.99), pct(st, 1.0));
	fflush(stdout);
}

static int run_load(const struct opts *o, const struct variant *vars)
{
	struct conn *cs = kl_calloc(o->conns, sizeof(*cs));
	struct stats st = { 0 };
	uint64_t seq = 0, count = o->count;
	int64_t base_ns = o->start_ns;
	double t0, c0, deadline;
	FILE *ack = NULL;
	CURLM *m = curl_multi_init();
	int rc = 0;

	if (!cs || !m) {
		rc = -ENOMEM;
		goto out;
	}
	if (o->backfill_ns) {
		uint64_t steps = (uint64_t)(o->backfill_ns / o->step_ns);
		uint64_t all = steps * o->services * o->labelsets;

		if (!base_ns)
			base_ns = (wall_ns() - o->backfill_ns) / o->step_ns * o->step_ns;
		if (!count || count > all)
			count = all;
	}
	if (o->ack_log && !(ack = fopen(o->ack_log, "w"))) {
		rc = -errno;
		fprintf(stderr, "kiln-loadgen: %s: %s\n", o->ack_log, strerror(errno));
		goto out;
	}
	if (ack)
		setvbuf(ack, NULL, _IOLBF, 0);	/* lines survive a kill of this process */
	curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)o->conns);
	for (unsigned i = 0; i < o->conns; i++)
		if ((rc = conn_init(o, &cs[i])))
			goto out;
	if (!o->quiet) {
		printf("kiln-loadgen: %s -> %s: %u series (%u services x %u label sets), "
		       "%u fixtures x %u variants, %u connections, <= %.0f s", mode_names[o->mode],
		       o->url, o->services * o->labelsets, o->services, o->labelsets,
		       (unsigned)o->nfx, o->variants, o->conns, o->duration);
		if (count)
			printf(", <= %" PRIu64 " profiles", count);
		printf("\n");
		fflush(stdout);
	}
	t0 = mono_s();
	c0 = cpu_s();
	deadline = t0 + o->duration;
	for (;;) {
		bool any = false, may_start;
		CURLMsg *msg;
		int running, left;

		may_start = !stop_flag && (!count || seq < count) && mono_s() < deadline &&
			    st.transport_errors < o->max_errors;
		for (unsigned i = 0; i < o->conns; i++) {
			if (!cs[i].busy && may_start) {
				if ((rc = start_request(o, &cs[i], vars, seq, base_ns, m, &st)))
					goto out;
				seq++;
				may_start = !count || seq < count;
			}
			any |= cs[i].busy;
		}
		if (!any)
			break;
		curl_multi_perform(m, &running);
		while ((msg = curl_multi_info_read(m, &left))) {
			struct conn *c = NULL;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &c);
			curl_multi_remove_handle(m, msg->easy_handle);
			finish_request(o, c, msg->data.result, vars, ack, &st);
		}
		curl_multi_poll(m, NULL, 0, 50, NULL);
	}
	qsort(st.lat, st.nlat, sizeof(*st.lat), cmp_double);
	report(o, &st, mono_s() - t0, cpu_s() - c0);
	if (st.done != st.acked)
		rc = 1;
out:
	if (cs) {
		for (unsigned i = 0; i < o->conns; i++) {
			if (cs[i].busy)
				curl_multi_remove_handle(m, cs[i].h);
			curl_easy_cleanup(cs[i].h);
			curl_slist_free_all(cs[i].hdrs);
			kl_buf_release(&cs[i].body);
		}
	}
	kl_free(cs);
	kl_free(st.lat);
	if (m)
		curl_multi_cleanup(m);
	if (ack)
		fclose(ack);
	return rc;
}

/* ---- the decode benchmark --------------------------------------------------------------- */

/*
 * The bare cost the server's CPU per profile is compared with: kl_gunzip of
 * the gzipped pprof plus kl_pprof_read of the result, over the same
 * weighted mix of variants the send loop uses, in this process's CPU time.
 */
static int decode_bench(const struct opts *o, const struct variant *vars)
{
	double c0 = cpu_s(), end = mono_s() + o->decode_bench;
	uint64_t n = 0, bytes = 0;
	struct kl_err err;

	while (mono_s() < end) {
		const struct variant *x = &vars[pick_variant(o, n)];
		struct kl_buf raw = KL_BUF_INIT;
		struct kl_profile *p = NULL;
		int rc = kl_gunzip((const uint8_t *)x->gz.data, x->gz.len, 1 << 30, &raw, &err);

		if (!rc)
			rc = kl_pprof_read((const uint8_t *)raw.data, raw.len, NULL, &p, &err);
		kl_profile_free(p);
		kl_buf_release(&raw);
		if (rc) {
			fprintf(stderr, "kiln-loadgen: decode: %s\n", err.msg);
			return 1;
		}
		bytes += x->gz.len;
		n++;
	}
	c0 = cpu_s() - c0;
	if (!o->quiet)
		printf("decode (kl_gunzip + kl_pprof_read): %" PRIu64 " profiles, "
		       "%.1f us cpu each, %.0f gzipped bytes each\n", n, c0 * 1e6 / n,
		       (double)bytes / n);
	printf("RESULT decode_profiles=%" PRIu64 " decode_us=%.3f gz_bytes_avg=%.0f\n", n,
	       c0 * 1e6 / n, (double)bytes / n);
	return 0;
}

/*
 * The server's ingest path without HTTP or threads: the /ingest request
 * each seq would send (same name, times, body) through kl_ingest_request
 * and kl_store_append into a store without WAL, after one untimed round
 * over every series so that the timed one sees them all existing.
 */
static int pipeline_bench(const struct opts *o, const struct variant *vars)
{
	const struct kl_store_opts so = { .dir = o->pipeline_dir, .sync = KL_STORE_SYNC_NONE,
					  .min_free_bytes = 1 };
	uint64_t nseries = (uint64_t)o->services * o->labelsets, n = 0, bytes = 0;
	struct kl_store *st;
	struct kl_err err;
	double c0 = 0, end = 0;
	int rc;

	if (kl_store_open(&so, &st, &err)) {
		fprintf(stderr, "kiln-loadgen: %s\n", err.msg);
		return 1;
	}
	for (uint64_t seq = 0;; seq++) {
		const struct variant *x = &vars[pick_variant(o, seq)];
		const char *keys[] = { "format", "name", "from", "until", "spyName", "sampleRate" };
		char name[512], from[32], until[32];
		const char *vals[] = { "pprof", name, from, until, "kiln-loadgen", "100" };
		struct kl_ingest_params params;
		struct kl_series_set set = { .views = true };
		struct kl_http_err herr = { 0 };
		int64_t f_ns, u_ns;
		unsigned svc, ls;

		if (seq == nseries) {
			c0 = cpu_s();
			end = mono_s() + o->pipeline_bench;
		}
		if (seq > nseries && (o->count ? n >= o->count : mono_s() >= end))
			break;
		series_name(o, seq, name, sizeof(name), &svc, &ls);
		request_times(o, wall_ns(), seq, &f_ns, &u_ns);
		snprintf(from, sizeof(from), "%" PRId64, to_unit(f_ns, TU_S));
		snprintf(until, sizeof(until), "%" PRId64, to_unit(u_ns, TU_S));
		memset(&params, 0, sizeof(params));
		rc = kl_ingest_params_parse(keys, vals, KL_ARRAY_SIZE(keys), wall_ns(), &params,
					    &herr);
		if (!rc)
			rc = kl_ingest_request(&params, "application/octet-stream",
					       (const uint8_t *)x->body.data, x->body.len, NULL, &set,
					       &herr);
		if (!rc && (rc = kl_store_append(st, "anonymous", set.v, set.n, &err)))
			snprintf(herr.e.msg, sizeof(herr.e.msg), "%s", err.msg);
		kl_series_set_release(&set);
		kl_ingest_params_release(&params);
		if (rc) {
			fprintf(stderr, "kiln-loadgen: pipeline: %s\n", herr.e.msg);
			kl_store_close(st);
			return 1;
		}
		if (seq >= nseries) {
			bytes += x->gz.len;
			n++;
		}
	}
	c0 = cpu_s() - c0;
	kl_store_close(st);
	if (!o->quiet)
		printf("pipeline (kl_ingest_request + kl_store_append, no WAL): %" PRIu64
		       " profiles, %.1f us cpu each\n", n, c0 * 1e6 / n);
	printf("RESULT pipeline_profiles=%" PRIu64 " pipeline_us=%.3f gz_bytes_avg=%.0f\n", n,
	       c0 * 1e6 / n, (double)bytes / n);
	return 0;
}

int main(int argc, char **argv)
{
	struct variant *vars = NULL;
	size_t nvars = 0;
	struct opts o;
	int rc;

	if (parse_args(argc, argv, &o))
		return 2;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	if (build_variants(&o, &vars, &nvars))
		return 2;
	if (o.decode_bench) {
		rc = decode_bench(&o, vars);
	} else if (o.pipeline_bench) {
		rc = pipeline_bench(&o, vars);
	} else {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		rc = run_load(&o, vars);
		curl_global_cleanup();
		if (rc < 0)
			fprintf(stderr, "kiln-loadgen: %s\n", kl_strerror(rc));
	}
	for (size_t i = 0; i < nvars; i++) {
		kl_buf_release(&vars[i].gz);
		kl_buf_release(&vars[i].body);
	}
	kl_free(vars);
	for (size_t i = 0; i < o.nfx; i++)
		kl_free((void *)o.fx[i].path);
	return rc < 0 ? 2 : rc;
}
