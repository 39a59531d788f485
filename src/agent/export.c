/* SPDX-License-Identifier: Apache-2.0 */
/*
 * export.c - the exporter. Two agent threads, neither of which the host
 * ever waits for while it runs:
 *   - "kiln-export" wakes every upload interval (or on kiln_flush), builds
 *     one profile per enabled type and passes each on: gzipped into the
 *     bounded upload queue (full: the oldest is dropped, counted, warned
 *     once) and, with KILN_OUTPUT, merged into the run's total;
 *   - "kiln-upload" (with a server address) posts queued profiles to
 *     server/ingest like pyroscope-go (multipart profile +
 *     sample_type_config, from/until in ns, spyName=kiln), retrying 429,
 *     5xx and connection errors with exponential backoff.
 * At stop the last interval is built, KILN_OUTPUT written (one file per
 * type) and the queue uploaded within the upload timeout. A plain http://
 * server gets the exporter's own small HTTP/1.1 client; libcurl (and the
 * ~30 libraries it needs, ~9 MiB of a host's RSS) is opened only for
 * https://.
 */
#include <curl/curl.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/single_threaded.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../core/buf.h"
#include "../core/profile.h"
#include "../formats/formats.h"
#include "agent.h"

#define NTYPES 5
#define MAX_ATTEMPTS 5
#define FIRST_BACKOFF_MS 500
#define MAX_BACKOFF_MS 8000

static const unsigned type_bits[NTYPES] = {
	KILN_PROFILE_CPU, KILN_PROFILE_WALL, KILN_PROFILE_HEAP, KILN_PROFILE_LOCK,
	KILN_PROFILE_THREADS,
};

struct item {
	unsigned type;
	int64_t from, until;
	char *data;
	size_t len;
};

static struct {
	const struct agent_config *c;
	char *output;			/* where KILN_OUTPUT goes in this process */
	bool running;
	/* interval thread */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t tick_thread;
	bool tick_started, stopping;
	uint64_t flush_req, flush_done;
	/* upload queue */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	pthread_t up_thread;
	bool up_started, up_stopping;
	int64_t up_deadline;		/* monotonic ns; uploads stop after it once stopping */
	struct item *q;
	size_t qcap, qhead, qlen;
	/* builds: one at a time */
	pthread_mutex_t build_lock;
	int64_t last[NTYPES];		/* end of the last build of each type (realtime ns) */
	int64_t started;		/* realtime ns when this process's agent started */
	struct kl_profile *acc[NTYPES];	/* KILN_OUTPUT totals */
} ex = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.qlock = PTHREAD_MUTEX_INITIALIZER,
	.build_lock = PTHREAD_MUTEX_INITIALIZER,
};

/* libcurl's functions, from dlopen (agent_export_curl_init) */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	void (*easy_cleanup)(CURL *h);
	void (*easy_reset)(CURL *h);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	CURLcode (*easy_perform)(CURL *h);
	const char *(*easy_strerror)(CURLcode cc);
	char *(*easy_escape)(CURL *h, const char *s, int len);
	void (*free)(void *p);
	curl_mime *(*mime_init)(CURL *h);
	curl_mimepart *(*mime_addpart)(curl_mime *m);
	CURLcode (*mime_name)(curl_mimepart *part, const char *name);
	CURLcode (*mime_filename)(curl_mimepart *part, const char *name);
	CURLcode (*mime_data)(curl_mimepart *part, const char *data, size_t len);
	CURLcode (*mime_type)(curl_mimepart *part, const char *type);
	void (*mime_free)(curl_mime *m);
	struct curl_slist *(*slist_append)(struct curl_slist *l, const char *s);
	void (*slist_free_all)(struct curl_slist *l);
} kc;
static pthread_mutex_t kc_lock = PTHREAD_MUTEX_INITIALIZER;
static bool kc_ready;
static bool use_plain;		/* the server is plain http://: post_plain, no libcurl */
static struct hurl {
	char host[256];		/* as in the address, without IPv6 brackets */
	char port[8];
	const char *authority;	/* host[:port] for the Host header */
	size_t alen;
	const char *prefix;	/* the path before /ingest, without trailing '/' */
	size_t plen;
} hu;
static bool hurl_parse(const char *url, struct hurl *u);

static _Atomic uint64_t n_uploads, n_failed, n_dropped;
static atomic_bool deferred;	/* the interval thread waits for the host's second thread */
static atomic_bool warned_drop, warned_fail, warned_build;

static int64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static int type_index(unsigned type)
{
	for (int i = 0; i < NTYPES; i++) {
		if (type_bits[i] == type)
			return i;
	}
	return -1;
}

const char *agent_type_name(unsigned type)
{
	static const char *const names[NTYPES] = { "cpu", "wall", "heap", "lock", "threads" };
	int i = type_index(type);

	return i < 0 ? "?" : names[i];
}

/* Waits on cond until the monotonic time deadline (ns). */
static void wait_until(pthread_cond_t *cond, pthread_mutex_t *m, int64_t deadline)
{
	struct timespec ts = {
		.tv_sec = deadline / 1000000000, .tv_nsec = deadline % 1000000000,
	};

	pthread_cond_timedwait(cond, m, &ts);
}

static void cond_init(pthread_cond_t *cond)
{
	pthread_condattr_t a;

	pthread_condattr_init(&a);
	pthread_condattr_setclock(&a, CLOCK_MONOTONIC);
	pthread_cond_init(cond, &a);
	pthread_condattr_destroy(&a);
}

/* ---- libcurl, opened on demand -------------------------------------------------- */

int agent_dlopen_syms(const char *soname, const struct agent_dlsym *syms, size_t n,
		      void *table, char *msg, size_t msgsz)
{
	/* never unloaded: its threads or global state may outlive a stop */
	void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);

	if (!lib) {
		snprintf(msg, msgsz, "%s", dlerror());
		return -ENOENT;
	}
	for (size_t i = 0; i < n; i++) {
		void *f = dlsym(lib, syms[i].name);

		if (!f) {
			snprintf(msg, msgsz, "%s has no %s", soname, syms[i].name);
			return -ENOENT;
		}
		memcpy((char *)table + syms[i].off, &f, sizeof(f));
	}
	return 0;
}

int agent_export_curl_init(const char *url, char *msg, size_t msgsz)
{
	static const struct agent_dlsym syms[] = {
#define KC_SYM(f) { "curl_" #f, offsetof(__typeof__(kc), f) }
		KC_SYM(global_init), KC_SYM(easy_init), KC_SYM(easy_cleanup), KC_SYM(easy_reset),
		KC_SYM(easy_setopt), KC_SYM(easy_getinfo), KC_SYM(easy_perform),
		KC_SYM(easy_strerror), KC_SYM(easy_escape), KC_SYM(free), KC_SYM(mime_init),
		KC_SYM(mime_addpart), KC_SYM(mime_name), KC_SYM(mime_filename), KC_SYM(mime_data),
		KC_SYM(mime_type), KC_SYM(mime_free), KC_SYM(slist_append),
		KC_SYM(slist_free_all),
#undef KC_SYM
	};
	char why[384];
	int rc = 0;

	pthread_mutex_lock(&kc_lock);
	/* the address string lives in the agent's config until the next start */
	use_plain = hurl_parse(url, &hu);
	if (use_plain || kc_ready)
		goto out;
	rc = agent_dlopen_syms("libcurl.so.4", syms, KL_ARRAY_SIZE(syms), &kc, why, sizeof(why));
	if (rc) {
		snprintf(msg, msgsz, "uploads need libcurl: %s", why);
		goto out;
	}
	if (kc.global_init(CURL_GLOBAL_DEFAULT)) {
		snprintf(msg, msgsz, "libcurl failed to initialise");
		rc = -ENOMEM;
		goto out;
	}
	kc_ready = true;
out:
	pthread_mutex_unlock(&kc_lock);
	return rc;
}

/* ---- queue ------------------------------------------------------------------- */

static void item_free(struct item *it)
{
	kl_free(it->data);
	it->data = NULL;
}

/* Queues gz's bytes for upload, taking them (gz is left empty). */
static void enqueue(unsigned type, int64_t from, int64_t until, struct kl_buf *gz)
{
	struct item it = { type, from, until, NULL, 0 };

	char *shrunk;

	it.data = kl_buf_detach(gz, &it.len);
	if (!it.data) {
		atomic_fetch_add(&n_dropped, 1);
		return;
	}
	/* the buffer grew by doubling: a queue of slack while the server is away */
	shrunk = kl_realloc(it.data, it.len + 1);
	if (shrunk)
		it.data = shrunk;
	pthread_mutex_lock(&ex.qlock);
	if (ex.qlen == ex.qcap) {
		/* the oldest goes: recent data is worth more */
		item_free(&ex.q[ex.qhead]);
		ex.qhead = (ex.qhead + 1) % ex.qcap;
		ex.qlen--;
		atomic_fetch_add(&n_dropped, 1);
		if (!atomic_exchange(&warned_drop, true))
			agent_log(KILN_LOG_WARN, "upload queue full (%zu profiles): dropping the "
				  "oldest; the server at %s is slow or away (further drops are "
				  "counted, not logged)", ex.qcap, ex.c->server_address);
	}
	ex.q[(ex.qhead + ex.qlen) % ex.qcap] = it;
	ex.qlen++;
	pthread_cond_broadcast(&ex.qcond);
	pthread_mutex_unlock(&ex.qlock);
}

/* ---- upload --------------------------------------------------------------------- */

struct response {
	char head[256];
	size_t len;
};

static size_t on_body(char *data, size_t size, size_t n, void *ctx)
{
	struct response *r = ctx;
	size_t len = size * n, room = sizeof(r->head) - 1 - r->len;

	if (room) {
		memcpy(r->head + r->len, data, len < room ? len : room);
		r->len += len < room ? len : room;
		r->head[r->len] = 0;
	}
	return len;
}

/* Aborts a transfer that runs past the deadline while the agent stops. */
static int on_progress(void *ctx, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	bool late;

	pthread_mutex_lock(&ex.qlock);
	late = ex.up_stopping && now_ns(CLOCK_MONOTONIC) > ex.up_deadline;
	pthread_mutex_unlock(&ex.qlock);
	return late;
}

static const char *sample_type_config(unsigned type)
{
	switch (type) {
	case KILN_PROFILE_CPU:
		return "{\"samples\":{\"units\":\"samples\",\"sampled\":true},"
		       "\"cpu\":{\"units\":\"samples\",\"sampled\":true}}";
	case KILN_PROFILE_WALL:
		return "{\"samples\":{\"units\":\"samples\",\"sampled\":true},"
		       "\"wall\":{\"units\":\"samples\",\"sampled\":true}}";
	case KILN_PROFILE_HEAP:
		return "{\"alloc_objects\":{\"units\":\"objects\"},"
		       "\"alloc_space\":{\"units\":\"bytes\"},"
		       "\"inuse_objects\":{\"units\":\"objects\",\"aggregation\":\"average\"},"
		       "\"inuse_space\":{\"units\":\"bytes\",\"aggregation\":\"average\"}}";
	case KILN_PROFILE_LOCK:
		/* Pyroscope files contentions/delay under "mutex" only with these names */
		return "{\"contentions\":{\"units\":\"lock_samples\",\"display-name\":\"mutex_count\"},"
		       "\"delay\":{\"units\":\"lock_nanoseconds\",\"display-name\":\"mutex_duration\"}}";
	default:
		return "{\"threads\":{\"units\":\"goroutines\",\"aggregation\":\"average\"}}";
	}
}

/* server/ingest?name=app{tags}&from=&until=&spyName=kiln&sampleRate= */
static char *ingest_url(CURL *h, const struct item *it)
{
	const struct agent_config *c = ex.c;
	struct kl_buf name = KL_BUF_INIT, url = KL_BUF_INIT;
	size_t alen = strlen(c->server_address);
	char *enc;
	unsigned rate = it->type == KILN_PROFILE_CPU ? c->cpu_hz
			: it->type == KILN_PROFILE_WALL ? c->wall_hz : 100;

	kl_buf_addstr(&name, c->application_name);
	if (c->tags)
		kl_buf_addf(&name, "{%s}", c->tags);
	if (kl_buf_error(&name))
		goto fail;
	enc = kc.easy_escape(h, name.data, (int)name.len);
	if (!enc)
		goto fail;
	while (alen && c->server_address[alen - 1] == '/')
		alen--;
	kl_buf_add(&url, c->server_address, alen);
	kl_buf_addf(&url, "/ingest?name=%s&from=%lld&until=%lld&spyName=kiln&sampleRate=%u", enc,
		    (long long)it->from, (long long)it->until, rate);
	kc.free(enc);
	kl_buf_release(&name);
	if (kl_buf_error(&url))
		goto fail;
	return kl_buf_detach(&url, NULL);
fail:
	kl_buf_release(&name);
	kl_buf_release(&url);
	return NULL;
}

enum attempt { SENT, RETRY, GIVE_UP };

static enum attempt post(CURL *h, const struct item *it, char *why, size_t whysz)
{
	const struct agent_config *c = ex.c;
	struct curl_slist *hdrs = NULL;
	struct response resp = { .len = 0 };
	curl_mime *mime = NULL;
	curl_mimepart *part;
	char *url = ingest_url(h, it);
	char hdr[1200];
	long status = 0, timeout = (long)c->upload_timeout_ms;
	enum attempt res = GIVE_UP;
	CURLcode cc;

	resp.head[0] = 0;
	if (!url) {
		snprintf(why, whysz, "out of memory");
		goto out;
	}
	kc.easy_reset(h);
	mime = kc.mime_init(h);
	part = mime ? kc.mime_addpart(mime) : NULL;
	if (!part || kc.mime_name(part, "profile") ||
	    kc.mime_filename(part, "profile.pprof") ||
	    kc.mime_data(part, it->data, it->len) ||
	    kc.mime_type(part, "application/octet-stream") ||
	    !(part = kc.mime_addpart(mime)) || kc.mime_name(part, "sample_type_config") ||
	    kc.mime_filename(part, "sample_type_config.json") ||
	    kc.mime_data(part, sample_type_config(it->type), CURL_ZERO_TERMINATED)) {
		snprintf(why, whysz, "out of memory");
		goto out;
	}
	if (c->auth_token) {
		snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", c->auth_token);
		hdrs = kc.slist_append(hdrs, hdr);
	}
	if (c->tenant_id) {
		snprintf(hdr, sizeof(hdr), "X-Scope-OrgID: %s", c->tenant_id);
		hdrs = kc.slist_append(hdrs, hdr);
	}
	hdrs = kc.slist_append(hdrs, "Expect:");
	kc.easy_setopt(h, CURLOPT_URL, url);
	kc.easy_setopt(h, CURLOPT_MIMEPOST, mime);
	kc.easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	kc.easy_setopt(h, CURLOPT_USERAGENT, "kiln-agent/" KILN_VERSION_STRING);
	if (c->basic_auth) {
		kc.easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		kc.easy_setopt(h, CURLOPT_USERPWD, c->basic_auth);
	}
	/* never SIGALRM in someone else's process */
	kc.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	kc.easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
	kc.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, timeout < 5000 ? timeout : 5000L);
	kc.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	kc.easy_setopt(h, CURLOPT_WRITEDATA, &resp);
	kc.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
	kc.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	cc = kc.easy_perform(h);
	if (cc != CURLE_OK) {
		snprintf(why, whysz, "%s", kc.easy_strerror(cc));
		res = RETRY;
		goto out;
	}
	kc.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		res = SENT;
		goto out;
	}
	for (char *p = resp.head; *p; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	snprintf(why, whysz, "HTTP %ld %.160s", status, resp.head);
	res = status == 429 || status >= 500 ? RETRY : GIVE_UP;
out:
	kc.mime_free(mime);
	kc.slist_free_all(hdrs);
	kl_free(url);
	return res;
}

/* ---- plain http:// without libcurl ------------------------------------------------ */

/*
 * An http:// server is posted to by this small HTTP/1.1 client, not by
 * libcurl: libcurl maps ~30 libraries and initialises OpenSSL whatever
 * curl_global_init is told (CURL_GLOBAL_SSL means nothing since 7.57),
 * ~9 MiB of the host's RSS (libcrypto alone 3 MiB) for a plain-text POST.
 * https://, and addresses with user info or a query, keep libcurl. One
 * connection per post (Connection: close), as the posts are minutes apart.
 */
static bool hurl_parse(const char *url, struct hurl *u)
{
	const char *a = url + 7, *end = a + strcspn(a, "/"), *colon = NULL, *h = a, *hend;
	size_t n;

	if (strncmp(url, "http://", 7) || strpbrk(url, "@?#") || end == a)
		return false;
	if (*a == '[') {
		h = a + 1;
		hend = memchr(h, ']', (size_t)(end - h));
		if (!hend)
			return false;
		colon = hend + 1 < end && hend[1] == ':' ? hend + 1 : NULL;
		if (!colon && hend + 1 != end)
			return false;
	} else {
		colon = memchr(a, ':', (size_t)(end - a));
		hend = colon ? colon : end;
	}
	n = (size_t)(hend - h);
	if (!n || n >= sizeof(u->host))
		return false;
	memcpy(u->host, h, n);
	u->host[n] = 0;
	n = colon ? (size_t)(end - colon - 1) : 2;
	if (n < 1 || n >= sizeof(u->port) || (colon && strspn(colon + 1, "0123456789") < n))
		return false;
	memcpy(u->port, colon ? colon + 1 : "80", n);
	u->port[n] = 0;
	u->authority = a;
	u->alen = (size_t)(end - a);
	u->prefix = end;
	u->plen = strlen(end);
	while (u->plen && end[u->plen - 1] == '/')
		u->plen--;
	return true;
}

/* Percent-encodes all but RFC 3986's unreserved characters, as curl_easy_escape. */
static void add_escaped(struct kl_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";

	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~') {
			kl_buf_addch(b, (char)ch);
		} else {
			char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };

			kl_buf_add(b, e, 3);
		}
	}
}

static void add_base64(struct kl_buf *b, const char *s, size_t n)
{
	static const char tab[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)s[i] << 16;
		char q[4];

		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)s[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)s[i + 2];
		q[0] = tab[v >> 18];
		q[1] = tab[(v >> 12) & 63];
		q[2] = i + 1 < n ? tab[(v >> 6) & 63] : '=';
		q[3] = i + 2 < n ? tab[v & 63] : '=';
		kl_buf_add(b, q, 4);
	}
}

/*
 * Waits for ev on fd until the monotonic deadline, in slices so that a
 * stop past the upload deadline aborts the wait. 0, or -ETIMEDOUT.
 */
static int wait_fd(int fd, short ev, int64_t deadline)
{
	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = ev };
		int64_t now = now_ns(CLOCK_MONOTONIC), left = (deadline - now) / 1000000;
		bool late;

		pthread_mutex_lock(&ex.qlock);
		late = ex.up_stopping && now > ex.up_deadline;
		pthread_mutex_unlock(&ex.qlock);
		if (late || left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)KL_MIN(left, (int64_t)100)) > 0)
			return 0;
	}
}

static int connect_to(const struct hurl *u, int64_t deadline, char *why, size_t whysz)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *ai = NULL;
	int fd = -1, rc, err = ECONNREFUSED;

	rc = getaddrinfo(u->host, u->port, &hints, &ai);
	if (rc) {
		snprintf(why, whysz, "resolving %.80s: %s", u->host, gai_strerror(rc));
		return -1;
	}
	for (struct addrinfo *a = ai; a; a = a->ai_next) {
		socklen_t len = sizeof(err);

		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			    a->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		if (!connect(fd, a->ai_addr, a->ai_addrlen))
			break;
		err = errno;
		if (err == EINPROGRESS) {
			err = wait_fd(fd, POLLOUT, deadline) ? ETIMEDOUT : 0;
			if (!err && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len))
				err = errno;
			if (!err)
				break;
		}
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0)
		snprintf(why, whysz, "connecting to %.*s: %s", (int)u->alen, u->authority,
			 strerror(err));
	return fd;
}

/* Sends all of iov (advanced in place). 0, or -errno. */
static int send_all(int fd, struct iovec *iov, int n, int64_t deadline)
{
	while (n) {
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		/* MSG_NOSIGNAL: a closed peer must not SIGPIPE the host */
		ssize_t w = sendmsg(fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if (wait_fd(fd, POLLOUT, deadline))
				return -ETIMEDOUT;
			continue;
		}
		while (n && (size_t)w >= iov->iov_len) {
			w -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (char *)iov->iov_base + w;
			iov->iov_len -= (size_t)w;
		}
	}
	return 0;
}

/*
 * Reads the answer into resp (what fits) until the body announced by
 * Content-Length is in, the server closes, or the deadline. 0 or -errno.
 */
static int read_answer(int fd, char *resp, size_t cap, size_t *len, int64_t deadline)
{
	*len = 0;
	while (*len < cap - 1) {
		ssize_t r = recv(fd, resp + *len, cap - 1 - *len, MSG_DONTWAIT);
		char *body;

		if (r == 0)
			break;
		if (r < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			if (wait_fd(fd, POLLIN, deadline))
				return -ETIMEDOUT;
			continue;
		}
		*len += (size_t)r;
		resp[*len] = 0;
		body = strstr(resp, "\r\n\r\n");
		if (body) {
			const char *cl = strcasestr(resp, "\r\nContent-Length:");

			size_t got = (size_t)(resp + *len - body - 4);

			if (cl && cl < body && strtoull(cl + 17, NULL, 10) <= got)
				break;
		}
	}
	resp[*len] = 0;
	return 0;
}

static enum attempt post_plain(const struct hurl *u, const struct item *it, char *why,
			       size_t whysz)
{
	static const char boundary[] = "------------------------kilnA6b3Zq";
	static const char part1[] = "\r\nContent-Disposition: form-data; name=\"profile\"; "
		"filename=\"profile.pprof\"\r\nContent-Type: application/octet-stream\r\n\r\n";
	const struct agent_config *c = ex.c;
	struct kl_buf head = KL_BUF_INIT, tail = KL_BUF_INIT;
	const char *app = sample_type_config(it->type);
	int64_t start = now_ns(CLOCK_MONOTONIC), deadline = start + (int64_t)c->upload_timeout_ms *
								   1000000;
	int64_t cdeadline = start + KL_MIN((int64_t)c->upload_timeout_ms, (int64_t)5000) * 1000000;
	unsigned rate = it->type == KILN_PROFILE_CPU ? c->cpu_hz
			: it->type == KILN_PROFILE_WALL ? c->wall_hz : 100;
	char resp[512], *sp;
	struct iovec iov[3];
	enum attempt res = GIVE_UP;
	size_t rlen;
	long status;
	int fd = -1, rc;

	kl_buf_addf(&tail, "\r\n--%s\r\nContent-Disposition: form-data; "
		    "name=\"sample_type_config\"; filename=\"sample_type_config.json\"\r\n"
		    "Content-Type: application/octet-stream\r\n\r\n%s\r\n--%s--\r\n", boundary, app,
		    boundary);
	kl_buf_addf(&head, "POST %.*s/ingest?name=", (int)u->plen, u->prefix);
	add_escaped(&head, c->application_name, strlen(c->application_name));
	if (c->tags) {
		add_escaped(&head, "{", 1);
		add_escaped(&head, c->tags, strlen(c->tags));
		add_escaped(&head, "}", 1);
	}
	kl_buf_addf(&head, "&from=%lld&until=%lld&spyName=kiln&sampleRate=%u HTTP/1.1\r\n"
		    "Host: %.*s\r\nUser-Agent: kiln-agent/" KILN_VERSION_STRING "\r\n"
		    "Accept: */*\r\nConnection: close\r\n", (long long)it->from,
		    (long long)it->until, rate, (int)u->alen, u->authority);
	if (c->auth_token) {
		kl_buf_addf(&head, "Authorization: Bearer %s\r\n", c->auth_token);
	} else if (c->basic_auth) {
		kl_buf_addstr(&head, "Authorization: Basic ");
		add_base64(&head, c->basic_auth, strlen(c->basic_auth));
		kl_buf_addstr(&head, "\r\n");
	}
	if (c->tenant_id)
		kl_buf_addf(&head, "X-Scope-OrgID: %s\r\n", c->tenant_id);
	kl_buf_addf(&head, "Content-Type: multipart/form-data; boundary=%s\r\n", boundary);
	kl_buf_addf(&head, "Content-Length: %zu\r\n\r\n", 2 + strlen(boundary) + sizeof(part1) - 1 +
		    it->len + tail.len);
	kl_buf_addf(&head, "--%s%s", boundary, part1);
	if (kl_buf_error(&head) || kl_buf_error(&tail)) {
		snprintf(why, whysz, "out of memory");
		goto out;
	}
	/* from here on, whatever fails may work next time */
	res = RETRY;
	fd = connect_to(u, cdeadline, why, whysz);
	if (fd < 0)
		goto out;
	iov[0] = (struct iovec){ head.data, head.len };
	iov[1] = (struct iovec){ it->data, it->len };
	iov[2] = (struct iovec){ tail.data, tail.len };
	rc = send_all(fd, iov, 3, deadline);
	if (!rc)
		rc = read_answer(fd, resp, sizeof(resp), &rlen, deadline);
	if (rc) {
		snprintf(why, whysz, "%s %.*s: %s", rc == -ETIMEDOUT ? "timed out posting to" :
			 "posting to", (int)u->alen, u->authority, strerror(-rc));
		goto out;
	}
	if (strncmp(resp, "HTTP/1.", 7) || rlen < 12 || resp[8] != ' ') {
		snprintf(why, whysz, "%.*s did not answer in HTTP", (int)u->alen, u->authority);
		goto out;
	}
	status = strtol(resp + 9, NULL, 10);
	if (status >= 200 && status < 300) {
		res = SENT;
		goto out;
	}
	sp = strstr(resp, "\r\n\r\n");
	sp = sp ? sp + 4 : resp + rlen;
	for (char *q = sp; *q; q++) {
		if (*q == '\n' || *q == '\r')
			*q = ' ';
	}
	snprintf(why, whysz, "HTTP %ld %.160s", status, sp);
	res = status == 429 || status >= 500 ? RETRY : GIVE_UP;
out:
	kl_buf_release(&head);
	kl_buf_release(&tail);
	if (fd >= 0)
		close(fd);
	return res;
}

static void upload(CURL *h, const struct item *it)
{
	int64_t backoff = FIRST_BACKOFF_MS;
	char why[256] = "no attempt before the deadline";

	for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		enum attempt r;
		bool stopping;

		pthread_mutex_lock(&ex.qlock);
		stopping = ex.up_stopping;
		if (stopping && now_ns(CLOCK_MONOTONIC) > ex.up_deadline) {
			pthread_mutex_unlock(&ex.qlock);
			break;
		}
		pthread_mutex_unlock(&ex.qlock);
		r = use_plain ? post_plain(&hu, it, why, sizeof(why))
			      : post(h, it, why, sizeof(why));
		if (r == SENT) {
			atomic_fetch_add(&n_uploads, 1);
			return;
		}
		if (r == GIVE_UP)
			break;
		/* back off, but not while stopping: then every item gets one quick try */
		pthread_mutex_lock(&ex.qlock);
		if (!ex.up_stopping)
			wait_until(&ex.qcond, &ex.qlock, now_ns(CLOCK_MONOTONIC) + backoff * 1000000);
		pthread_mutex_unlock(&ex.qlock);
		backoff = backoff * 2 > MAX_BACKOFF_MS ? MAX_BACKOFF_MS : backoff * 2;
	}
	atomic_fetch_add(&n_failed, 1);
	if (!atomic_exchange(&warned_fail, true))
		agent_log(KILN_LOG_WARN, "upload of the %s profile to %s failed: %s; dropping it "
			  "(further failures are counted, not logged)", agent_type_name(it->type),
			  ex.c->server_address, why);
}

static void *upload_main(void *arg)
{
	CURL *h;

	agent_self.in_agent = 1;
	agent_sampler_thread_exclude();
	h = use_plain ? NULL : kc.easy_init();
	pthread_mutex_lock(&ex.qlock);
	for (;;) {
		struct item it;

		while (!ex.qlen && !ex.up_stopping)
			pthread_cond_wait(&ex.qcond, &ex.qlock);
		if (!ex.qlen)
			break;
		it = ex.q[ex.qhead];
		ex.qhead = (ex.qhead + 1) % ex.qcap;
		ex.qlen--;
		pthread_mutex_unlock(&ex.qlock);
		if (h || use_plain)
			upload(h, &it);
		else
			atomic_fetch_add(&n_failed, 1);
		item_free(&it);
		pthread_mutex_lock(&ex.qlock);
		/* the posted bytes and curl's buffers go back, as after builds */
		if (!ex.qlen) {
			pthread_mutex_unlock(&ex.qlock);
			malloc_trim(0);
			pthread_mutex_lock(&ex.qlock);
		}
	}
	pthread_mutex_unlock(&ex.qlock);
	if (h)
		kc.easy_cleanup(h);
	return NULL;
}

/* ---- builds ------------------------------------------------------------------------ */

/* In-use is a snapshot: only the newest counts in a heap total. */
static void inuse_forget(struct kl_profile *acc)
{
	for (uint32_t s = 0; s < acc->nsamples; s++) {
		acc->values[(size_t)s * 4 + 2] = 0;
		acc->values[(size_t)s * 4 + 3] = 0;
	}
}

/* Adds p to the KILN_OUTPUT total of type i (takes p). */
static void accumulate(int i, struct kl_profile *p)
{
	struct kl_profile *two[2], *sum = NULL;
	struct kl_err err;

	if (!ex.acc[i] || type_bits[i] == KILN_PROFILE_THREADS) {
		/* threads is a snapshot: the last one stands for the run */
		kl_profile_free(ex.acc[i]);
		ex.acc[i] = p;
		return;
	}
	if (type_bits[i] == KILN_PROFILE_HEAP)
		inuse_forget(ex.acc[i]);
	two[0] = ex.acc[i];
	two[1] = p;
	if (kl_profile_merge(two, 2, &sum, &err)) {
		agent_log(KILN_LOG_WARN, "keeping the %s profile for %s: %s",
			  agent_type_name(type_bits[i]), ex.output, err.msg);
		kl_profile_free(p);
		return;
	}
	kl_profile_free(ex.acc[i]);
	kl_profile_free(p);
	ex.acc[i] = sum;
}

/*
 * Builds type i for the time since its last build and passes it on. With
 * out, the gzipped profile is also copied there. Caller holds build_lock.
 */
static int take_locked(int i, struct kl_buf *out)
{
	int64_t now = now_ns(CLOCK_REALTIME), from = ex.last[i] ? ex.last[i] : now;
	struct kl_profile *p;
	struct kl_buf gz = KL_BUF_INIT;
	struct kl_err err;
	bool into, upload;
	int rc = 0;

	ex.last[i] = now;
	/*
	 * Only the total is wanted: the build adds to it in place, where a
	 * build of its own merged in would hold three copies at once.
	 */
	into = ex.output && !out && !ex.c->server_address && type_bits[i] != KILN_PROFILE_THREADS;
	if (into) {
		if (ex.acc[i] && type_bits[i] == KILN_PROFILE_HEAP)
			inuse_forget(ex.acc[i]);
		p = ex.acc[i] = agent_build_into(type_bits[i], ex.acc[i], from, now);
	} else {
		p = agent_build_profile(type_bits[i], from, now);
	}
	if (!p) {
		if (!atomic_exchange(&warned_build, true))
			agent_log(KILN_LOG_WARN, "building the %s profile: out of memory; this "
				  "interval is lost (further losses are not logged)",
				  agent_type_name(type_bits[i]));
		return -ENOMEM;
	}
	if (into)
		return 0;
	upload = ex.c->server_address && p->nsamples;
	if ((out || upload) && kl_pprof_write(p, true, &gz, &err))
		rc = -ENOMEM;
	/* the profile goes before the upload is queued: never both at their peak */
	if (ex.output)
		accumulate(i, p);
	else
		kl_profile_free(p);
	if (!rc && out) {
		kl_buf_add(out, gz.data, gz.len);
		rc = kl_buf_error(out);
	}
	if (!rc && upload)
		enqueue(type_bits[i], from, now, &gz);
	kl_buf_release(&gz);
	return rc;
}

/*
 * After a round of builds: libdwfl's state goes (the symbolizer's cache
 * stays), and what the builds freed goes back to the system, which glibc
 * would otherwise keep in the arena, fragmented by the next build's other
 * sizes. malloc_trim also trims the host's arenas: that costs it at most
 * a page fault when it grows again.
 */
static void after_builds(void)
{
	agent_build_idle();
	malloc_trim(0);
}

static void build_all(void)
{
	pthread_mutex_lock(&ex.build_lock);
	for (int i = 0; i < NTYPES; i++) {
		if (ex.c->profiles & type_bits[i])
			take_locked(i, NULL);
	}
	after_builds();
	pthread_mutex_unlock(&ex.build_lock);
}

int agent_export_take(unsigned type, struct kl_buf *out)
{
	int i = type_index(type), rc;

	if (i < 0)
		return -EINVAL;
	pthread_mutex_lock(&ex.build_lock);
	rc = ex.running ? take_locked(i, out) : -KILN_ENOTRUNNING;
	after_builds();
	pthread_mutex_unlock(&ex.build_lock);
	return rc;
}

static void *tick_main(void *arg)
{
	int64_t next;

	agent_self.in_agent = 1;
	agent_sampler_thread_exclude();
	pthread_mutex_lock(&ex.lock);
	next = now_ns(CLOCK_MONOTONIC) + (int64_t)ex.c->upload_interval_ms * 1000000;
	while (!ex.stopping) {
		uint64_t req = ex.flush_req;

		if (req == ex.flush_done && now_ns(CLOCK_MONOTONIC) < next) {
			wait_until(&ex.cond, &ex.lock, next);
			continue;
		}
		pthread_mutex_unlock(&ex.lock);
		/* with the sampler off (heap or lock only) nobody else notices dlopen */
		agent_modules_poll();
		build_all();
		pthread_mutex_lock(&ex.lock);
		ex.flush_done = req;
		if (now_ns(CLOCK_MONOTONIC) >= next)
			next = now_ns(CLOCK_MONOTONIC) + (int64_t)ex.c->upload_interval_ms * 1000000;
		pthread_cond_broadcast(&ex.cond);
	}
	pthread_mutex_unlock(&ex.lock);
	return NULL;
}

void agent_export_host_thread(void)
{
	if (!atomic_load_explicit(&deferred, memory_order_relaxed))
		return;
	agent_self.in_agent++;
	pthread_mutex_lock(&ex.lock);
	/* cleared first: our own pthread_create comes back through the interposer */
	if (atomic_exchange(&deferred, false) && ex.running && !ex.stopping &&
	    !ex.tick_started && pthread_create(&ex.tick_thread, NULL, tick_main, NULL) == 0)
		ex.tick_started = true;
	pthread_mutex_unlock(&ex.lock);
	agent_self.in_agent--;
}

int agent_export_flush(void)
{
	int64_t deadline;
	uint64_t want;

	if (atomic_load(&deferred)) {
		/* no interval thread yet: build here (the caller raised in_agent) */
		pthread_mutex_lock(&ex.lock);
		if (!ex.running || ex.stopping || !atomic_load(&deferred)) {
			pthread_mutex_unlock(&ex.lock);
			return -KILN_ENOTRUNNING;
		}
		pthread_mutex_unlock(&ex.lock);
		agent_modules_poll();
		build_all();
		return 0;
	}
	pthread_mutex_lock(&ex.lock);
	if (!ex.tick_started || ex.stopping) {
		pthread_mutex_unlock(&ex.lock);
		return -KILN_ENOTRUNNING;
	}
	want = ++ex.flush_req;
	pthread_cond_broadcast(&ex.cond);
	deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)ex.c->upload_timeout_ms * 1000000;
	while (ex.flush_done < want && !ex.stopping && now_ns(CLOCK_MONOTONIC) < deadline)
		wait_until(&ex.cond, &ex.lock, deadline);
	pthread_mutex_unlock(&ex.lock);
	return 0;
}

/* ---- files --------------------------------------------------------------------------- */

/* base with ".extra" put before its extension (.pb.gz, .pb, .pprof). */
static char *path_with(const char *base, const char *extra)
{
	static const char *const exts[] = { ".pb.gz", ".pb", ".pprof" };
	struct kl_buf b = KL_BUF_INIT;
	size_t n = strlen(base), cut = n;

	for (size_t e = 0; e < KL_ARRAY_SIZE(exts); e++) {
		size_t m = strlen(exts[e]);

		if (n >= m && !strcasecmp(base + n - m, exts[e])) {
			cut = n - m;
			break;
		}
	}
	kl_buf_add(&b, base, cut);
	kl_buf_addf(&b, ".%s%s", extra, base + cut);
	if (kl_buf_error(&b)) {
		kl_buf_release(&b);
		return NULL;
	}
	return kl_buf_detach(&b, NULL);
}

static int write_file(const char *path, const struct kl_buf *data)
{
	struct kl_buf tmp = KL_BUF_INIT;
	int fd, rc = 0;

	kl_buf_addf(&tmp, "%s.tmp.%d", path, (int)getpid());
	if (kl_buf_error(&tmp))
		return -ENOMEM;
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		rc = -errno;
		goto out;
	}
	for (size_t off = 0; off < data->len && !rc;) {
		ssize_t w = write(fd, data->data + off, data->len - off);

		if (w < 0 && errno != EINTR)
			rc = -errno;
		else if (w > 0)
			off += (size_t)w;
	}
	if (close(fd) && !rc)
		rc = -errno;
	if (!rc && rename(tmp.data, path))
		rc = -errno;
	if (rc)
		unlink(tmp.data);
out:
	kl_buf_release(&tmp);
	return rc;
}

/*
 * The profile a process of the same tree wrote to path since this agent
 * started (a child that exited first, or the program a wrapper such as
 * timeout or sh ran), so that both end up in the file. NULL when there is
 * none, or it is older, unreadable or of other sample types.
 */
static struct kl_profile *written_since_start(const char *path, const struct kl_profile *mine)
{
	struct kl_profile *old = NULL;
	struct kl_buf data = KL_BUF_INIT;
	struct kl_err err;
	struct stat st;
	char chunk[65536];
	ssize_t n;
	int fd;

	if (stat(path, &st) ||
	    (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec < ex.started)
		return NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	kl_buf_init(&data, 1u << 30);
	while ((n = read(fd, chunk, sizeof(chunk))) > 0)
		kl_buf_add(&data, chunk, (size_t)n);
	close(fd);
	if (kl_buf_error(&data) || kl_pprof_read((const uint8_t *)data.data, data.len, NULL, &old,
						 &err))
		old = NULL;
	kl_buf_release(&data);
	if (old && old->nsample_types == mine->nsample_types) {
		for (uint32_t t = 0; t < old->nsample_types; t++) {
			if (strcmp(kl_profile_sget(old, old->sample_types[t].type),
				   kl_profile_sget(mine, mine->sample_types[t].type)))
				goto other;
		}
		return old;
	}
other:
	kl_profile_free(old);
	return NULL;
}

/* Writes p (merged with what another process of the tree wrote there) to path. */
static int write_profile(const char *path, struct kl_profile *p, bool gz)
{
	struct kl_profile *old, *two[2], *sum = NULL;
	struct kl_buf data = KL_BUF_INIT;
	struct kl_err err;
	char *dir = kl_strndup(path, strlen(path)), *slash;
	int dfd, rc;

	if (!dir)
		return -ENOMEM;
	slash = strrchr(dir, '/');
	if (slash)
		slash[slash == dir] = 0;
	/* processes of one tree exiting together take turns on the directory */
	dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0)
		flock(dfd, LOCK_EX);
	old = written_since_start(path, p);
	if (old) {
		two[0] = old;
		two[1] = p;
		if (!kl_profile_merge(two, 2, &sum, &err))
			p = sum;
	}
	rc = kl_pprof_write(p, gz, &data, &err);
	if (!rc)
		rc = write_file(path, &data);
	if (dfd >= 0)
		close(dfd);	/* drops the lock */
	kl_buf_release(&data);
	kl_profile_free(old);
	kl_profile_free(sum);
	kl_free(dir);
	return rc;
}

/* The first enabled type goes to KILN_OUTPUT itself, the others to OUT.<type>.pb.gz. */
static void write_outputs(void)
{
	bool first = true;

	for (int i = 0; i < NTYPES; i++) {
		size_t n = strlen(ex.output);
		bool gz = !(n >= 3 && !strcasecmp(ex.output + n - 3, ".pb")) &&
			  !(n >= 6 && !strcasecmp(ex.output + n - 6, ".pprof"));
		char *path = NULL;
		const char *dst;
		int rc = 0;

		if (!(ex.c->profiles & type_bits[i]))
			continue;
		/* the first enabled type owns OUT even when its total was lost */
		if (!first && ex.acc[i]) {
			path = path_with(ex.output, agent_type_name(type_bits[i]));
			rc = path ? 0 : -ENOMEM;
		}
		dst = first ? ex.output : path;
		first = false;
		if (!rc && ex.acc[i])
			rc = write_profile(dst, ex.acc[i], gz);
		if (rc)
			agent_log(KILN_LOG_ERROR, "writing %s: %s", dst ? dst : "profiles",
				  rc == -ENOMEM ? "out of memory" : kl_strerror(rc));
		kl_free(path);
		/* short of memory: the other files would fail alike, and say so again */
		if (rc == -ENOMEM)
			return;
	}
}

/* ---- start, stop, fork ---------------------------------------------------------------- */

/*
 * With nothing to upload or serve (KILN_OUTPUT only) in a process that is
 * still single-threaded, the interval thread is not started until the host
 * starts a thread of its own (agent_export_host_thread): a second thread
 * alone makes glibc's malloc leave its single-threaded fast paths (~5 % on
 * allocation-heavy code), and KILN_OUTPUT is only written at exit. Until
 * then kiln_flush builds on its caller's thread and the heap hooks poll for
 * dlopen'ed objects (heap.c).
 */
static bool defer_thread(void)
{
	return !ex.c->server_address && !ex.c->pprof_listen && __libc_single_threaded;
}

static int start_threads(void)
{
	int rc;

	ex.stopping = ex.up_stopping = false;
	if (defer_thread()) {
		atomic_store(&deferred, true);
		return 0;
	}
	atomic_store(&deferred, false);
	rc = -pthread_create(&ex.tick_thread, NULL, tick_main, NULL);
	if (rc)
		return rc;
	ex.tick_started = true;
	if (ex.c->server_address) {
		rc = -pthread_create(&ex.up_thread, NULL, upload_main, NULL);
		if (rc)
			return rc;
		ex.up_started = true;
	}
	return 0;
}

/*
 * Since when a KILN_OUTPUT file counts as written by this process tree:
 * KILN_OUTPUT_SINCE (ns, set by kiln record and by the first preloaded
 * agent of a tree, inherited by the processes it starts), else now.
 */
static int64_t output_since(int64_t now)
{
	const char *s = getenv("KILN_OUTPUT_SINCE");
	char *end;
	long long v;

	if (!s || !*s)
		return now;
	errno = 0;
	v = strtoll(s, &end, 10);
	return errno || *end || v <= 0 || v > now ? now : (int64_t)v;
}

int agent_export_start(const struct agent_config *c)
{
	int64_t now = now_ns(CLOCK_REALTIME);
	int rc = -ENOMEM;

	ex.c = c;
	ex.q = kl_calloc(c->upload_queue, sizeof(*ex.q));
	if (!ex.q)
		goto fail;
	ex.qcap = c->upload_queue;
	ex.qhead = ex.qlen = 0;
	if (c->output) {
		/* resolved now: the program may chdir before it exits */
		char cwd[4096];
		struct kl_buf b = KL_BUF_INIT;

		if (c->output[0] != '/' && getcwd(cwd, sizeof(cwd)))
			kl_buf_addf(&b, "%s/", cwd);
		kl_buf_addstr(&b, c->output);
		if (kl_buf_error(&b)) {
			kl_buf_release(&b);
			goto fail;
		}
		ex.output = kl_buf_detach(&b, NULL);
	}
	for (int i = 0; i < NTYPES; i++)
		ex.last[i] = now;
	ex.started = output_since(now);
	cond_init(&ex.cond);
	cond_init(&ex.qcond);
	ex.flush_req = ex.flush_done = 0;
	ex.running = true;
	rc = start_threads();
	if (rc)
		goto fail;
	return 0;
fail:
	agent_export_stop();
	return rc;
}

void agent_export_stop(void)
{
	pthread_mutex_lock(&ex.lock);
	atomic_store(&deferred, false);
	ex.stopping = true;
	pthread_cond_broadcast(&ex.cond);
	pthread_mutex_unlock(&ex.lock);
	if (ex.tick_started)
		pthread_join(ex.tick_thread, NULL);
	ex.tick_started = false;
	if (ex.running) {
		/* the last interval, then the files */
		build_all();
		if (ex.output)
			write_outputs();
	}
	pthread_mutex_lock(&ex.qlock);
	ex.up_stopping = true;
	ex.up_deadline = now_ns(CLOCK_MONOTONIC) + (int64_t)(ex.c ? ex.c->upload_timeout_ms : 0) *
						  1000000;
	pthread_cond_broadcast(&ex.qcond);
	pthread_mutex_unlock(&ex.qlock);
	if (ex.up_started)
		pthread_join(ex.up_thread, NULL);
	ex.up_started = false;
	pthread_mutex_lock(&ex.build_lock);
	ex.running = false;
	for (int i = 0; i < NTYPES; i++) {
		kl_profile_free(ex.acc[i]);
		ex.acc[i] = NULL;
	}
	pthread_mutex_unlock(&ex.build_lock);
	for (size_t k = 0; k < ex.qlen; k++) {
		item_free(&ex.q[(ex.qhead + k) % ex.qcap]);
		atomic_fetch_add(&n_failed, 1);
	}
	kl_free(ex.q);
	ex.q = NULL;
	ex.qlen = ex.qcap = 0;
	kl_free(ex.output);
	ex.output = NULL;
	agent_build_reset();
}

void agent_export_stats(struct kiln_stats *st)
{
	st->uploads = atomic_load(&n_uploads);
	st->uploads_failed = atomic_load(&n_failed);
	st->uploads_dropped = atomic_load(&n_dropped);
}

void agent_export_atfork_prepare(void)
{
	pthread_mutex_lock(&ex.build_lock);
	pthread_mutex_lock(&ex.lock);
	pthread_mutex_lock(&ex.qlock);
}

void agent_export_atfork_parent(void)
{
	pthread_mutex_unlock(&ex.qlock);
	pthread_mutex_unlock(&ex.lock);
	pthread_mutex_unlock(&ex.build_lock);
}

static void discard(void *ctx, uint32_t labelset, const uintptr_t *pcs, uint32_t n,
		    const int64_t *values)
{
}

void agent_export_atfork_child(bool restart)
{
	char pid[24];

	pthread_mutex_unlock(&ex.qlock);
	pthread_mutex_unlock(&ex.lock);
	pthread_mutex_unlock(&ex.build_lock);
	cond_init(&ex.cond);
	cond_init(&ex.qcond);
	/* the parent's threads do not exist here, and its queue and totals are its own */
	ex.tick_started = ex.up_started = false;
	for (size_t k = 0; k < ex.qlen; k++)
		item_free(&ex.q[(ex.qhead + k) % ex.qcap]);
	ex.qhead = ex.qlen = 0;
	for (int i = 0; i < NTYPES; i++) {
		kl_profile_free(ex.acc[i]);
		ex.acc[i] = NULL;
		ex.last[i] = now_ns(CLOCK_REALTIME);
	}
	ex.started = now_ns(CLOCK_REALTIME);
	if (!ex.running)
		return;
	if (!restart) {
		ex.running = false;
		return;
	}
	/* what the tables hold was sampled in the parent, which reports it itself */
	{
		struct agent_profbuf *bufs[] = {
			agent_cpu_buf, agent_wall_buf, agent_lock_buf,
		};

		for (size_t i = 0; i < KL_ARRAY_SIZE(bufs); i++) {
			if (bufs[i])
				agent_profbuf_drain(bufs[i], discard, NULL);
		}
		agent_heap_allocs(discard, NULL);
	}
	if (ex.output) {
		/* the parent writes KILN_OUTPUT itself: the child writes OUT.<pid>.pb.gz */
		char *own;

		snprintf(pid, sizeof(pid), "%d", (int)getpid());
		own = path_with(ex.output, pid);
		kl_free(ex.output);
		ex.output = own;
	}
	if (start_threads())
		ex.running = false;
}
