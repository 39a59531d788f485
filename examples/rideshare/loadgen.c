/* SPDX-License-Identifier: Apache-2.0 */
/*
 * loadgen.c - the load generator of `make demo`: sends a steady mix of GET
 * /bike, /scooter and /car (radius 1..3) to one or more rideshare instances on
 * 127.0.0.1, a few threads per instance with keep-alive connections, at a
 * fixed rate per instance, until a duration or a request count is reached or
 * SIGINT/SIGTERM arrives. Prints one summary line at the end.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#define LG_MAX_TARGETS 16
#define LG_MAX_THREADS 16

static const char *const lg_vehicles[] = { "bike", "scooter", "car" };

static struct {
	const char *targets[LG_MAX_TARGETS];
	unsigned ntargets;
	unsigned threads;		/* per target */
	double rate;			/* requests per second per target */
	double duration_s;		/* 0 = until the count or a signal */
	unsigned long count;		/* 0 = until the duration or a signal */
	double start;
	_Atomic unsigned long sent, ok, failed, per_vehicle[3];
} lg = { .threads = 3, .rate = 8 };

static volatile sig_atomic_t lg_stop;

struct lg_worker {
	pthread_t tid;
	const char *base;
	unsigned seed;
};

static double mono_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_signal(int sig)
{
	lg_stop = 1;
}

/* 0 while the run goes on */
static int finished(double now)
{
	if (lg_stop)
		return 1;
	if (lg.duration_s > 0 && now - lg.start >= lg.duration_s)
		return 1;
	return 0;
}

/* sleeps until the monotonic time t, waking every 100 ms to see whether to stop */
static void sleep_until(double t)
{
	double now;

	while (!finished(now = mono_now()) && now < t) {
		double s = t - now < 0.1 ? t - now : 0.1;
		struct timespec ts = { .tv_sec = (time_t)s,
				       .tv_nsec = (long)((s - (double)(time_t)s) * 1e9) };

		nanosleep(&ts, NULL);
	}
}

static size_t discard(char *ptr, size_t size, size_t nmemb, void *user)
{
	return size * nmemb;
}

static void *worker(void *arg)
{
	struct lg_worker *w = arg;
	double period = (double)lg.threads / lg.rate, next = mono_now();
	unsigned x = w->seed * 2654435761u + 1;
	char url[512];
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	while (!finished(mono_now())) {
		unsigned long n = atomic_fetch_add(&lg.sent, 1);
		unsigned v, radius;
		long code = 0;
		CURLcode rc;

		if (lg.count && n >= lg.count)
			break;
		/* xorshift: a fixed, even mix per thread */
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		v = x % 3;
		radius = 1 + (x / 3) % 3;
		snprintf(url, sizeof(url), "%s/%s?radius=%u", w->base, lg_vehicles[v], radius);
		curl_easy_setopt(c, CURLOPT_URL, url);
		rc = curl_easy_perform(c);
		if (rc == CURLE_OK)
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
		if (code == 200) {
			atomic_fetch_add(&lg.ok, 1);
			atomic_fetch_add(&lg.per_vehicle[v], 1);
		} else {
			atomic_fetch_add(&lg.failed, 1);
		}
		/* a fixed schedule, not a closed loop: a slow instance does not get less load */
		next += period;
		if (next < mono_now() - 1)
			next = mono_now();
		sleep_until(next);
	}
	curl_easy_cleanup(c);
	return NULL;
}

static int parse_num(const char *what, const char *s, double lo, double hi, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "loadgen: %s must be a number in %g..%g, got '%s'\n", what, lo, hi,
			s);
		return -1;
	}
	*out = v;
	return 0;
}

static void usage(FILE *to)
{
	fprintf(to,
		"usage: rideshare-loadgen [--duration S] [--count N] [--rate R] [--threads T] URL...\n"
		"  URL: a rideshare instance, http://127.0.0.1:PORT (loopback only)\n"
		"  --rate R     requests per second per instance [8]\n"
		"  --threads T  concurrent connections per instance [3]\n"
		"  --duration S stop after S seconds; --count N after N requests in all\n"
		"  (default: until SIGINT/SIGTERM)\n");
}

int main(int argc, char **argv)
{
	static struct lg_worker workers[LG_MAX_TARGETS * LG_MAX_THREADS];
	struct sigaction sa = { .sa_handler = on_signal };
	unsigned nworkers = 0;
	double v;
	int ret = 1;

	for (int i = 1; i < argc;) {
		const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (strncmp(a, "--", 2) != 0) {
			/* the demo must never load anything but this machine's instances */
			if (strncmp(a, "http://127.0.0.1:", 17) != 0 || strlen(a) > 256) {
				fprintf(stderr, "loadgen: '%s' is not http://127.0.0.1:PORT\n", a);
				return 2;
			}
			if (lg.ntargets == LG_MAX_TARGETS) {
				fprintf(stderr, "loadgen: at most %d instances\n", LG_MAX_TARGETS);
				return 2;
			}
			lg.targets[lg.ntargets++] = a;
			i++;
			continue;
		}
		if (!val) {
			usage(stderr);
			return 2;
		}
		if (strcmp(a, "--duration") == 0) {
			if (parse_num(a, val, 0, 1e7, &lg.duration_s))
				return 2;
		} else if (strcmp(a, "--count") == 0) {
			if (parse_num(a, val, 0, 1e12, &v))
				return 2;
			lg.count = (unsigned long)v;
		} else if (strcmp(a, "--rate") == 0) {
			if (parse_num(a, val, 0.01, 10000, &lg.rate))
				return 2;
		} else if (strcmp(a, "--threads") == 0) {
			if (parse_num(a, val, 1, LG_MAX_THREADS, &v))
				return 2;
			lg.threads = (unsigned)v;
		} else {
			usage(stderr);
			return 2;
		}
		i += 2;
	}
	if (lg.ntargets == 0) {
		usage(stderr);
		return 2;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "loadgen: curl_global_init failed\n");
		return 1;
	}
	lg.start = mono_now();
	for (unsigned t = 0; t < lg.ntargets; t++) {
		for (unsigned k = 0; k < lg.threads; k++) {
			struct lg_worker *w = &workers[nworkers];

			w->base = lg.targets[t];
			w->seed = t * LG_MAX_THREADS + k + 1;
			if (pthread_create(&w->tid, NULL, worker, w) != 0) {
				fprintf(stderr, "loadgen: cannot start a thread\n");
				lg_stop = 1;
				break;
			}
			nworkers++;
		}
	}
	for (unsigned i = 0; i < nworkers; i++)
		pthread_join(workers[i].tid, NULL);
	curl_global_cleanup();
	printf("loadgen: %lu ok, %lu failed in %.1f s (bike %lu, scooter %lu, car %lu)\n",
	       (unsigned long)lg.ok, (unsigned long)lg.failed, mono_now() - lg.start,
	       (unsigned long)lg.per_vehicle[0], (unsigned long)lg.per_vehicle[1],
	       (unsigned long)lg.per_vehicle[2]);
	/* no answer at all is an error, unless a signal ended the run first */
	if (lg.ok > 0 || lg_stop)
		ret = 0;
	return ret;
}
