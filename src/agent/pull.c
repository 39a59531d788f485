/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pull.c - KILN_PPROF_LISTEN: a /debug/pprof endpoint like Go's
 * net/http/pprof, served by libmicrohttpd on its own threads, so that
 * `kiln top http://host:port/debug/pprof/profile?seconds=5` or
 * `go tool pprof` can pull profiles. Every answer is a gzipped pprof built
 * by the exporter (agent_export_take), which also passes it on to the push
 * queue and KILN_OUTPUT, so pulling never steals samples from a push.
 * libmicrohttpd (and gnutls with it, ~3 MiB of a host's RSS) is opened
 * only when an endpoint is asked for.
 */
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../core/buf.h"
#include "agent.h"

#define MAX_SECONDS 600

static struct {
	struct MHD_Daemon *d;
	pid_t pid;
	unsigned profiles;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool stopping;
	unsigned busy;		/* types with a timed profile in progress */
} pull = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* libmicrohttpd's functions, from dlopen (agent_pull_start) */
static struct {
	struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
							     enum MHD_ResponseMemoryMode mode);
	enum MHD_Result (*add_response_header)(struct MHD_Response *r, const char *header,
					       const char *content);
	enum MHD_Result (*queue_response)(struct MHD_Connection *conn, unsigned int status,
					  struct MHD_Response *r);
	void (*destroy_response)(struct MHD_Response *r);
	const char *(*lookup_connection_value)(struct MHD_Connection *conn,
					       enum MHD_ValueKind kind, const char *key);
	struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
					   MHD_AcceptPolicyCallback apc, void *apc_cls,
					   MHD_AccessHandlerCallback dh, void *dh_cls, ...);
	void (*stop_daemon)(struct MHD_Daemon *d);
} pm;
static bool pm_ready;	/* under kiln.c's state lock, as agent_pull_start */

/* set once per MHD thread that has been taken off the sampler's list */
static __thread bool pull_thread_excluded AGENT_TLS;

static enum MHD_Result answer(struct MHD_Connection *conn, unsigned status, const char *type,
			      const void *data, size_t len)
{
	struct MHD_Response *r =
		pm.create_response_from_buffer(len, (void *)data, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result res;

	if (!r)
		return MHD_NO;
	pm.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	if (!strcmp(type, "application/octet-stream"))
		pm.add_response_header(r, "Content-Disposition",
					"attachment; filename=\"profile.pb.gz\"");
	res = pm.queue_response(conn, status, r);
	pm.destroy_response(r);
	return res;
}

static enum MHD_Result text(struct MHD_Connection *conn, unsigned status, const char *msg)
{
	return answer(conn, status, "text/plain; charset=utf-8", msg, strlen(msg));
}

/* Sleeps seconds, or less when the agent stops. false when it stopped. */
static bool sleep_interruptible(long seconds)
{
	struct timespec ts;
	bool stopped;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += seconds;
	pthread_mutex_lock(&pull.lock);
	while (!pull.stopping && pthread_cond_timedwait(&pull.cond, &pull.lock, &ts) != ETIMEDOUT)
		;
	stopped = pull.stopping;
	pthread_mutex_unlock(&pull.lock);
	return !stopped;
}

/* A profile of what happens during the next N seconds (cpu, wall). */
static enum MHD_Result timed(struct MHD_Connection *conn, unsigned type, struct kl_buf *out)
{
	const char *s = pm.lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "seconds");
	char *end, msg[128];
	long secs = 30;
	bool ok;

	if (s) {
		errno = 0;
		secs = strtol(s, &end, 10);
		if (errno || *end || secs < 1 || secs > MAX_SECONDS) {
			snprintf(msg, sizeof(msg), "seconds must be a number in 1..%d\n", MAX_SECONDS);
			return text(conn, MHD_HTTP_BAD_REQUEST, msg);
		}
	}
	pthread_mutex_lock(&pull.lock);
	ok = !(pull.busy & type);
	pull.busy |= type;
	pthread_mutex_unlock(&pull.lock);
	if (!ok)
		return text(conn, MHD_HTTP_CONFLICT, "a profile of this type is already being taken\n");
	/* what was collected so far belongs to the push/output path, not to this window */
	ok = agent_export_take(type, NULL) == 0 && sleep_interruptible(secs) &&
	     agent_export_take(type, out) == 0;
	pthread_mutex_lock(&pull.lock);
	pull.busy &= ~type;
	pthread_mutex_unlock(&pull.lock);
	if (!ok)
		return text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the agent stopped or ran out of "
			    "memory\n");
	return answer(conn, MHD_HTTP_OK, "application/octet-stream", out->data, out->len);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *conn, const char *url,
			      const char *method, const char *version, const char *upload,
			      size_t *upload_size, void **state)
{
	static const struct {
		const char *path;
		unsigned type;
		bool timed;
	} routes[] = {
		{ "/debug/pprof/profile", KILN_PROFILE_CPU, true },
		{ "/debug/pprof/wall", KILN_PROFILE_WALL, true },
		{ "/debug/pprof/heap", KILN_PROFILE_HEAP, false },
		{ "/debug/pprof/allocs", KILN_PROFILE_HEAP, false },
		{ "/debug/pprof/mutex", KILN_PROFILE_LOCK, false },
		{ "/debug/pprof/threads", KILN_PROFILE_THREADS, false },
		{ "/debug/pprof/goroutine", KILN_PROFILE_THREADS, false },
	};
	struct kl_buf out = KL_BUF_INIT;
	enum MHD_Result res;
	char msg[160];

	/* this thread only ever runs agent code: the hooks pass it through,
	 * and the sampler leaves it alone (once per thread: the list is fixed) */
	agent_self.in_agent = 1;
	if (!pull_thread_excluded) {
		pull_thread_excluded = true;
		agent_sampler_thread_exclude();
	}
	if (strcmp(method, "GET") && strcmp(method, "HEAD"))
		return text(conn, MHD_HTTP_METHOD_NOT_ALLOWED, "use GET\n");
	if (!strcmp(url, "/debug/pprof") || !strcmp(url, "/debug/pprof/"))
		return text(conn, MHD_HTTP_OK,
			    "kiln agent profiles (gzipped pprof):\n"
			    "/debug/pprof/profile?seconds=N  cpu during the next N seconds\n"
			    "/debug/pprof/wall?seconds=N     wall clock during the next N seconds\n"
			    "/debug/pprof/heap               heap in-use now, allocations since the "
			    "last profile\n"
			    "/debug/pprof/mutex              lock contention since the last profile\n"
			    "/debug/pprof/threads            live threads by stack\n");
	for (size_t i = 0; i < KL_ARRAY_SIZE(routes); i++) {
		if (strcmp(url, routes[i].path))
			continue;
		if (!(pull.profiles & routes[i].type)) {
			snprintf(msg, sizeof(msg), "%s profiling is not enabled (KILN_PROFILES)\n",
				 agent_type_name(routes[i].type));
			return text(conn, MHD_HTTP_NOT_FOUND, msg);
		}
		kl_buf_init(&out, 256 << 20);
		if (routes[i].timed) {
			res = timed(conn, routes[i].type, &out);
		} else if (agent_export_take(routes[i].type, &out)) {
			res = text(conn, MHD_HTTP_SERVICE_UNAVAILABLE, "the agent stopped or ran out "
				   "of memory\n");
		} else {
			res = answer(conn, MHD_HTTP_OK, "application/octet-stream", out.data,
				     out.len);
		}
		kl_buf_release(&out);
		return res;
	}
	return text(conn, MHD_HTTP_NOT_FOUND, "not found; see /debug/pprof/\n");
}

int agent_pull_start(const struct agent_config *c)
{
	const char *spec = c->pprof_listen, *colon = strrchr(spec, ':');
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	char host[256];
	size_t hl = (size_t)(colon - spec);
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION;

	if (spec[0] == '[' && hl >= 2 && spec[hl - 1] == ']') {
		spec++;
		hl -= 2;
	}
	if (hl >= sizeof(host))
		return -EINVAL;
	if (!pm_ready) {
		static const struct agent_dlsym syms[] = {
#define PM_SYM(f) { "MHD_" #f, offsetof(__typeof__(pm), f) }
			PM_SYM(create_response_from_buffer), PM_SYM(add_response_header),
			PM_SYM(queue_response), PM_SYM(destroy_response),
			PM_SYM(lookup_connection_value), PM_SYM(start_daemon), PM_SYM(stop_daemon),
#undef PM_SYM
		};
		char why[384];

		if (agent_dlopen_syms("libmicrohttpd.so.12", syms, KL_ARRAY_SIZE(syms), &pm, why,
				      sizeof(why))) {
			agent_log(KILN_LOG_ERROR, "KILN_PPROF_LISTEN needs libmicrohttpd: %s", why);
			return -ENOENT;
		}
		pm_ready = true;
	}
	memcpy(host, spec, hl);
	host[hl] = 0;
	if (getaddrinfo(hl ? host : NULL, colon + 1, &hints, &ai) || !ai)
		return -EADDRNOTAVAIL;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	pull.stopping = false;
	pull.busy = 0;
	pull.profiles = c->profiles;
	pull.d = pm.start_daemon(flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR,
				  ai->ai_addr, MHD_OPTION_CONNECTION_LIMIT, 16U,
				  MHD_OPTION_CONNECTION_TIMEOUT, 30U, MHD_OPTION_END);
	freeaddrinfo(ai);
	if (!pull.d)
		return -EADDRINUSE;
	pull.pid = getpid();
	return 0;
}

void agent_pull_stop(void)
{
	if (!pull.d)
		return;
	pthread_mutex_lock(&pull.lock);
	pull.stopping = true;
	pthread_cond_broadcast(&pull.cond);
	pthread_mutex_unlock(&pull.lock);
	/* a forked child has the parent's daemon pointer but none of its threads */
	if (getpid() == pull.pid)
		pm.stop_daemon(pull.d);
	pull.d = NULL;
}
