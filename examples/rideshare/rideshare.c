/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rideshare.c - the service of `make demo` (examples/rideshare/README.md), a
 * program linked with libkiln whose profiles tell a story. GET /bike, /car and
 * /scooter call order_<vehicle>(radius) -> find_nearest_vehicle(), which burns
 * CPU in proportion to the search radius, under the dynamic tag vehicle=<v>.
 * The process runs as one region (static tag region from KILN_TAGS or
 * --region). The planted bug: in us-west-1, check_driver_availability() takes
 * a mutex shared by all request threads in mutex_lock() and burns CPU while
 * holding it, a little in "low" periods and a lot in "high" ones, which
 * alternate every RIDESHARE_PERIOD_S seconds (60 by default, aligned on the
 * epoch, so that anyone can tell which period a time was in).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include "kiln/kiln.h"

/*
 * Frames the story needs must stay frames: no inlining, no .constprop or
 * .isra clones renaming them (gcc only knows noclone). The build also turns
 * off sibling calls, which would drop order_* from the stacks.
 */
#if defined(__clang__)
#define RS_FRAME __attribute__((noinline))
#else
#define RS_FRAME __attribute__((noinline, noclone))
#endif

#define RS_BUG_REGION "us-west-1"
#define RS_CACHE_SLOTS 512		/* recent quotes kept: the heap's in-use story */
#define RS_QUOTE_BYTES (8 * 1024)	/* one cached quote */
#define RS_POSITIONS_BYTES (64 * 1024)	/* vehicle positions loaded per radius unit */
#define RS_MAX_RADIUS 10

/*
 * CPU spent in mutex_lock per unit of find_nearest_vehicle's own work, in
 * percent: share = k / (1 + k), so 55 -> 35% and 240 -> 71% of the work; the
 * rest of a request (HTTP, allocations) brings that to about 1/3 and 70%.
 */
#define RS_LOCK_LOW_PCT 55
#define RS_LOCK_HIGH_PCT 240

static struct {
	char region[64];
	unsigned period_s;		/* length of one high or one low period */
	unsigned unit_us;		/* thread CPU time per radius unit */
	int buggy;			/* region == RS_BUG_REGION */
	_Atomic int last_phase;		/* for the log line at each change, -1 at start */
} rs = { .period_s = 60, .unit_us = 2000, .last_phase = -1 };

/* the mutex every request thread of a buggy region fights over */
static pthread_mutex_t rs_driver_lock = PTHREAD_MUTEX_INITIALIZER;
static _Atomic(void *) rs_cache[RS_CACHE_SLOTS];
static _Atomic unsigned long rs_cache_next;
static volatile double rs_sink;

static double thread_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

/*
 * Burns us microseconds of this thread's CPU time in the caller's frame
 * (inlined, so the samples are the caller's self time). Thread CPU time, not
 * wall time: on a busy machine a request takes longer but earns the same
 * number of CPU samples, which keeps the shares of the story stable.
 */
static inline __attribute__((always_inline)) void spin_cpu(double us)
{
	double end = thread_cpu_us() + us;

	while (thread_cpu_us() < end) {
		for (int i = 0; i < 1000; i++)
			rs_sink += (double)i * 0.5;
	}
}

/* 1 in a high-CPU period of the bug, 0 in a low one */
static int bug_phase(void)
{
	time_t now = time(NULL);
	int phase = (int)((now / (time_t)rs.period_s) % 2 == 0);
	int last = atomic_load(&rs.last_phase);

	if (phase != last && atomic_compare_exchange_strong(&rs.last_phase, &last, phase)) {
		time_t end = (now / (time_t)rs.period_s + 1) * (time_t)rs.period_s;
		struct tm tm;
		char until[16] = "?";

		if (gmtime_r(&end, &tm))
			strftime(until, sizeof(until), "%H:%M:%S", &tm);
		fprintf(stderr, "rideshare %s: %s-CPU period of mutex_lock until %s UTC\n", rs.region,
			phase ? "high" : "low", until);
	}
	return phase;
}

/* The bug: a lock held while doing work that has no business under it. */
RS_FRAME static void mutex_lock(double us)
{
	pthread_mutex_lock(&rs_driver_lock);
	spin_cpu(us);
	pthread_mutex_unlock(&rs_driver_lock);
}

RS_FRAME static void check_driver_availability(double work_us)
{
	int pct = bug_phase() ? RS_LOCK_HIGH_PCT : RS_LOCK_LOW_PCT;

	mutex_lock(work_us * pct / 100.0);
}

/* The per-request allocation: positions of the vehicles within the radius. */
RS_FRAME static unsigned char *load_vehicle_positions(unsigned radius)
{
	size_t n = (size_t)radius * RS_POSITIONS_BYTES;
	unsigned char *p = malloc(n);

	if (p)
		memset(p, (int)radius, n);
	return p;
}

/* The retained memory: recent quotes in a ring, the oldest freed. */
RS_FRAME static void cache_ride_quote(const char *vehicle, unsigned radius)
{
	char *q = malloc(RS_QUOTE_BYTES);
	unsigned long slot;

	if (!q)
		return;
	memset(q, 0, RS_QUOTE_BYTES);
	snprintf(q, RS_QUOTE_BYTES, "%s radius=%u region=%s", vehicle, radius, rs.region);
	slot = atomic_fetch_add(&rs_cache_next, 1) % RS_CACHE_SLOTS;
	free(atomic_exchange(&rs_cache[slot], q));
}

RS_FRAME static double find_nearest_vehicle(unsigned radius, const char *vehicle)
{
	double work_us = (double)radius * rs.unit_us;
	unsigned char *pos = load_vehicle_positions(radius);
	double eta = 0;

	spin_cpu(work_us);
	if (pos) {
		eta = pos[radius * 7] + (double)radius * 1.5;
		free(pos);
	}
	if (rs.buggy)
		check_driver_availability(work_us);
	cache_ride_quote(vehicle, radius);
	return eta;
}

/* A bike searches the radius asked, a scooter twice it, a car four times. */
RS_FRAME static double order_bike(unsigned radius)
{
	double eta = find_nearest_vehicle(radius, "bike");

	return eta + 1;
}

RS_FRAME static double order_scooter(unsigned radius)
{
	double eta = find_nearest_vehicle(radius * 2, "scooter");

	return eta + 1;
}

RS_FRAME static double order_car(unsigned radius)
{
	double eta = find_nearest_vehicle(radius * 4, "car");

	return eta + 1;
}

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *r;
	enum MHD_Result ret;

	r = MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_len, void **state)
{
	const char *arg = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "radius");
	double (*order)(unsigned) = NULL;
	const char *vehicle = url + 1;
	unsigned radius = 1;
	static int seen;
	char body[256];
	double eta;

	/*
	 * Answer on the second call, once the whole request is in: MHD closes the
	 * connection after an answer queued earlier, and a new thread per request
	 * would take the keep-alive (and the per-thread CPU timer's state) away.
	 */
	if (!*state) {
		*state = &seen;
		return MHD_YES;
	}
	if (strcmp(method, "GET") != 0)
		return reply(conn, 405, "{\"error\":\"GET only\"}");
	if (strcmp(url, "/bike") == 0)
		order = order_bike;
	else if (strcmp(url, "/scooter") == 0)
		order = order_scooter;
	else if (strcmp(url, "/car") == 0)
		order = order_car;
	else
		return reply(conn, 404, "{\"error\":\"try /bike, /scooter or /car\"}");
	if (arg) {
		char *end;
		long v = strtol(arg, &end, 10);

		if (end == arg || *end || v < 1 || v > RS_MAX_RADIUS)
			return reply(conn, 400, "{\"error\":\"radius must be 1..10\"}");
		radius = (unsigned)v;
	}
	/* every sample taken in here carries vehicle=<v> (a pop without a push is harmless) */
	kiln_tag_push("vehicle", vehicle);
	eta = order(radius);
	kiln_tag_pop();
	snprintf(body, sizeof(body), "{\"vehicle\":\"%s\",\"region\":\"%s\",\"radius\":%u,"
		 "\"eta_s\":%.1f}", vehicle, rs.region, radius, eta);
	return reply(conn, 200, body);
}

/* region=<v> from a "k=v,k2=v2" tag list into rs.region; 0 if present */
static int region_from_tags(const char *tags)
{
	const char *p = tags;

	while (p && *p) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);

		if (len > 7 && strncmp(p, "region=", 7) == 0 && len - 7 < sizeof(rs.region)) {
			memcpy(rs.region, p + 7, len - 7);
			rs.region[len - 7] = '\0';
			return 0;
		}
		p = end ? end + 1 : NULL;
	}
	return -1;
}

static int parse_uint(const char *what, const char *s, unsigned lo, unsigned hi, unsigned *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi) {
		fprintf(stderr, "rideshare: %s must be a whole number in %u..%u, got '%s'\n", what,
			lo, hi, s);
		return -1;
	}
	*out = (unsigned)v;
	return 0;
}

/* writes the port to path through a rename, so a reader never sees half of it */
static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		return -1;
	fprintf(f, "%u\n", port);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		return -1;
	return 0;
}

static void usage(FILE *to)
{
	fprintf(to,
		"usage: rideshare [--port N] [--port-file FILE] [--region NAME]\n"
		"  GET /bike, /scooter, /car [?radius=1..10] on 127.0.0.1:PORT (0 = any free port)\n"
		"  profiled by libkiln: KILN_SERVER_ADDRESS, KILN_TAGS (region=...),\n"
		"  KILN_UPLOAD_INTERVAL, KILN_PROFILES [cpu,wall,heap,lock] ...\n"
		"  RIDESHARE_PORT, RIDESHARE_PERIOD_S [60] (high/low periods of the\n"
		"  us-west-1 bug), RIDESHARE_UNIT_US [2000] (CPU per radius unit)\n");
}

int main(int argc, char **argv)
{
	struct kiln_config cfg = KILN_CONFIG_INIT;
	struct sockaddr_in sa = { .sin_family = AF_INET };
	const char *port_file = NULL, *region = NULL, *env_tags = getenv("KILN_TAGS");
	const union MHD_DaemonInfo *info;
	struct MHD_Daemon *d = NULL;
	unsigned port = 0;
	char tags[512];
	sigset_t stop;
	int sig, rc, ret = 1;

	if (getenv("RIDESHARE_PORT") &&
	    parse_uint("RIDESHARE_PORT", getenv("RIDESHARE_PORT"), 0, 65535, &port))
		return 2;
	if (getenv("RIDESHARE_PERIOD_S") &&
	    parse_uint("RIDESHARE_PERIOD_S", getenv("RIDESHARE_PERIOD_S"), 1, 86400, &rs.period_s))
		return 2;
	if (getenv("RIDESHARE_UNIT_US") &&
	    parse_uint("RIDESHARE_UNIT_US", getenv("RIDESHARE_UNIT_US"), 1, 1000000, &rs.unit_us))
		return 2;
	for (int i = 1; i < argc; i += 2) {
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		}
		if (!val) {
			usage(stderr);
			return 2;
		}
		if (strcmp(argv[i], "--port") == 0) {
			if (parse_uint("--port", val, 0, 65535, &port))
				return 2;
		} else if (strcmp(argv[i], "--port-file") == 0) {
			port_file = val;
		} else if (strcmp(argv[i], "--region") == 0) {
			region = val;
		} else {
			usage(stderr);
			return 2;
		}
	}

	/* the static tags: KILN_TAGS as given, plus region=--region if asked */
	if (region) {
		snprintf(tags, sizeof(tags), "%s%sregion=%s", env_tags ? env_tags : "",
			 env_tags && *env_tags ? "," : "", region);
		cfg.tags = tags;
		snprintf(rs.region, sizeof(rs.region), "%s", region);
	} else if (region_from_tags(env_tags) != 0) {
		snprintf(rs.region, sizeof(rs.region), "unknown");
	}
	rs.buggy = strcmp(rs.region, RS_BUG_REGION) == 0;

	/* SIGINT/SIGTERM are taken by sigwait below; every thread inherits the mask */
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	signal(SIGPIPE, SIG_IGN);

	/* server address, upload interval ... come from KILN_* (NULL / 0 fields) */
	cfg.application_name = "ride-sharing-app";
	if (!getenv("KILN_PROFILES"))
		cfg.profiles = KILN_PROFILE_CPU | KILN_PROFILE_WALL | KILN_PROFILE_HEAP |
			       KILN_PROFILE_LOCK;
	rc = kiln_start(&cfg);
	if (rc)
		fprintf(stderr, "rideshare: profiling is off: %s\n", kiln_strerror(rc));

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = htons((uint16_t)port);
	d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
			     MHD_USE_POLL | MHD_USE_ERROR_LOG, (uint16_t)port, NULL, NULL, handle,
			     NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
			     MHD_OPTION_CONNECTION_LIMIT, 64U, MHD_OPTION_CONNECTION_TIMEOUT, 60U,
			     MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "rideshare: cannot listen on 127.0.0.1:%u\n", port);
		goto out;
	}
	info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
	port = info ? info->port : port;
	if (port_file && write_port_file(port_file, port) != 0) {
		fprintf(stderr, "rideshare: cannot write %s: %s\n", port_file, strerror(errno));
		goto out;
	}
	fprintf(stderr, "rideshare %s: listening on http://127.0.0.1:%u%s\n", rs.region, port,
		rs.buggy ? " (with the mutex_lock bug)" : "");

	do {
		rc = sigwait(&stop, &sig);
	} while (rc == EINTR);
	fprintf(stderr, "rideshare %s: stopping\n", rs.region);
	ret = 0;
out:
	if (d)
		MHD_stop_daemon(d);
	/* the last interval's profiles are uploaded here */
	kiln_stop();
	for (int i = 0; i < RS_CACHE_SLOTS; i++)
		free(atomic_exchange(&rs_cache[i], NULL));
	return ret;
}
