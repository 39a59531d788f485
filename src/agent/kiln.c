/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kiln.c - the public API (kiln_start/stop/flush, stats, errors), the
 * LD_PRELOAD constructor that starts the agent when KILN_SERVER_ADDRESS,
 * KILN_OUTPUT or KILN_PPROF_LISTEN is set, the exit hook that flushes, the
 * fork handlers, and the agent's log. Every path that fails turns the
 * agent off with one line of explanation; none of them exits or aborts.
 *
 * Lifecycle: off -> kiln_start (config, heap, lock, sampler, exporter,
 * pull) -> running -> kiln_stop / exit() (pull, exporter: last build,
 * files, uploads; then sampler, heap, lock) -> off. fork(): the child is
 * off unless follow_fork; exec: the new image reads KILN_* (and
 * LD_PRELOAD) from its environment and starts afresh.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../core/base.h"
#include "agent.h"

extern char **environ;

/* Defined here, once, for every agent file (agent.h). */
__thread struct agent_thread agent_self AGENT_TLS;

static pthread_mutex_t state_lock = PTHREAD_MUTEX_INITIALIZER;
static atomic_int running;
static struct agent_config cfg;
static pid_t owner_pid;
static bool hooks_registered;

/* The log target survives a failed start, so its message reaches the user's callback. */
static void (*log_fn)(void *ctx, enum kiln_log_level level, const char *msg);
static void *log_ctx;

void agent_log(enum kiln_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	agent_self.in_agent++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (log_fn) {
		log_fn(log_ctx, level, line);
	} else {
		char out[1100];

		/* one write(2): no stdio lock, one line even with other threads printing */
		n = snprintf(out, sizeof(out), "kiln: %s\n", line);
		if (n > 0 && write(STDERR_FILENO, out, KL_MIN((size_t)n, sizeof(out) - 1)) < 0)
			n = 0;
	}
	agent_self.in_agent--;
}

const struct agent_config *agent_config_current(void)
{
	return cfg.application_name ? &cfg : NULL;
}

static void stop_locked(void)
{
	agent_pull_stop();
	/* the exporter drains the tables one last time before the collectors free them */
	agent_export_stop();
	agent_sampler_stop();
	agent_heap_stop();
	agent_lock_stop();
	agent_labels_reset();
	atomic_store(&running, 0);
	agent_config_release(&cfg);
}

static void at_exit(void)
{
	if (atomic_load(&running) && getpid() == owner_pid)
		kiln_stop();
}

static void fork_prepare(void)
{
	pthread_mutex_lock(&state_lock);
	agent_export_atfork_prepare();
}

static void fork_parent(void)
{
	agent_export_atfork_parent();
	pthread_mutex_unlock(&state_lock);
}

static void fork_child(void)
{
	bool keep = atomic_load(&running) && cfg.follow_fork;

	if (atomic_load(&running))
		agent_sampler_atfork_child(keep);
	agent_export_atfork_child(keep);
	if (atomic_load(&running) && !keep)
		atomic_store(&running, 0);
	if (keep)
		owner_pid = getpid();
	pthread_mutex_unlock(&state_lock);
}

static int start_locked(const struct kiln_config *user)
{
	char msg[512];
	bool sampler = false, heap = false, lock = false, exporter = false;
	int rc;

	if (atomic_load(&running))
		return -KILN_EALREADY;
	log_fn = user && user->sz >= sizeof(*user) ? user->log : NULL;
	log_ctx = user && user->sz >= sizeof(*user) ? user->log_ctx : NULL;
	rc = agent_config_resolve(user, environ, &cfg, msg, sizeof(msg));
	if (rc) {
		agent_log(KILN_LOG_ERROR, "%s; profiling is off", msg);
		return rc;
	}
	if (cfg.server_address) {
		rc = agent_export_curl_init(cfg.server_address, msg, sizeof(msg));
		if (rc)
			goto fail;
	}
	if (cfg.profiles & KILN_PROFILE_HEAP) {
		rc = agent_heap_start(&cfg);
		snprintf(msg, sizeof(msg), "heap profiling: %s", kiln_strerror(rc));
		if (rc)
			goto fail;
		heap = true;
	}
	if (cfg.profiles & KILN_PROFILE_LOCK) {
		rc = agent_lock_start(&cfg);
		snprintf(msg, sizeof(msg), "lock profiling: %s", kiln_strerror(rc));
		if (rc)
			goto fail;
		lock = true;
	}
	if (cfg.profiles & (KILN_PROFILE_CPU | KILN_PROFILE_WALL | KILN_PROFILE_THREADS)) {
		rc = agent_sampler_start(&cfg);
		snprintf(msg, sizeof(msg), "sampler: %s", kiln_strerror(rc));
		if (rc)
			goto fail;
		sampler = true;
	}
	rc = agent_export_start(&cfg);
	snprintf(msg, sizeof(msg), "exporter: %s", kiln_strerror(rc));
	if (rc)
		goto fail;
	exporter = true;
	/* running before the pull endpoint: its first request may come at once */
	atomic_store(&running, 1);
	if (cfg.pprof_listen) {
		rc = agent_pull_start(&cfg);
		snprintf(msg, sizeof(msg), "KILN_PPROF_LISTEN=%s: %s", cfg.pprof_listen,
			 kiln_strerror(rc));
		if (rc)
			goto fail;
	}
	owner_pid = getpid();
	if (!hooks_registered) {
		/* once per process; the handlers check whether the agent runs */
		pthread_atfork(fork_prepare, fork_parent, fork_child);
		atexit(at_exit);
		hooks_registered = true;
	}
	return 0;
fail:
	atomic_store(&running, 0);
	if (exporter)
		agent_export_stop();
	if (sampler)
		agent_sampler_stop();
	if (lock)
		agent_lock_stop();
	if (heap)
		agent_heap_stop();
	agent_log(KILN_LOG_ERROR, "%s; profiling is off", msg);
	agent_config_release(&cfg);
	return rc;
}

KILN_API int kiln_start(const struct kiln_config *c)
{
	int rc;

	agent_self.in_agent++;
	pthread_mutex_lock(&state_lock);
	rc = start_locked(c);
	pthread_mutex_unlock(&state_lock);
	agent_self.in_agent--;
	return rc;
}

KILN_API int kiln_stop(void)
{
	int rc = 0;

	agent_self.in_agent++;
	pthread_mutex_lock(&state_lock);
	if (atomic_load(&running))
		stop_locked();
	else
		rc = -KILN_ENOTRUNNING;
	pthread_mutex_unlock(&state_lock);
	agent_self.in_agent--;
	return rc;
}

KILN_API int kiln_flush(void)
{
	int rc;

	if (!atomic_load(&running))
		return -KILN_ENOTRUNNING;
	agent_self.in_agent++;
	rc = agent_export_flush();
	agent_self.in_agent--;
	return rc;
}

KILN_API int kiln_running(void)
{
	return atomic_load(&running) ? 1 : 0;
}

KILN_API int kiln_get_stats(struct kiln_stats *st)
{
	struct kiln_stats s;

	if (!st || st->sz < sizeof(s))
		return -EINVAL;
	memset(&s, 0, sizeof(s));
	s.sz = sizeof(s);
	s.samples = agent_build_samples();
	s.samples_dropped = agent_build_dropped();
	s.heap_samples = agent_heap_samples();
	s.samples_dropped += agent_heap_dropped();
	s.lock_samples = agent_lock_samples();
	agent_export_stats(&s);
	if (atomic_load(&running)) {
		s.threads = agent_sampler_threads();
		s.signal = agent_sampler_signal();
	}
	memcpy(st, &s, sizeof(s));
	return 0;
}

KILN_API const char *kiln_strerror(int err)
{
	switch (-err) {
	case 0: return "ok";
	case KILN_EALREADY: return "the agent is already running";
	case KILN_ECONFIG: return "bad setting";
	case KILN_ESIGNAL: return "no free signal for the sampler";
	case KILN_ENOTRUNNING: return "the agent is not running";
	default: return kl_strerror(err);
	}
}

KILN_API const char *kiln_version(void)
{
	return KILN_VERSION_STRING;
}

/*
 * Whether the environment asks for the agent: libkiln was preloaded (a
 * program linked with it calls kiln_start itself) and a destination is set.
 */
static bool wanted(char *const *envp)
{
	static const char *const vars[] = {
		"KILN_SERVER_ADDRESS=", "KILN_OUTPUT=", "KILN_PPROF_LISTEN=",
	};
	const char *preload = NULL;

	for (char *const *e = envp; e && *e; e++) {
		if (!strncmp(*e, "LD_PRELOAD=", 11))
			preload = *e + 11;
	}
	if (!preload || !strstr(preload, "libkiln"))
		return false;
	for (; envp && *envp; envp++) {
		for (size_t i = 0; i < KL_ARRAY_SIZE(vars); i++) {
			size_t n = strlen(vars[i]);

			if (!strncmp(*envp, vars[i], n) && (*envp)[n])
				return true;
		}
	}
	return false;
}

/*
 * LD_PRELOAD entry. Runs under the loader lock before main: nothing here
 * waits for another thread (the agent's threads only sleep until their
 * first interval), so it cannot deadlock with the loader.
 */
__attribute__((constructor)) static void kiln_preload_start(void)
{
	if (!wanted(environ))
		return;
	if (!getenv("KILN_OUTPUT_SINCE")) {
		/*
		 * The processes this one starts inherit the time, so that each
		 * merges its KILN_OUTPUT with what the others of the tree wrote
		 * (docs/agent.md). Before main: no other thread reads environ yet.
		 */
		struct timespec ts;
		char v[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf(v, sizeof(v), "%lld", (long long)ts.tv_sec * 1000000000 + ts.tv_nsec);
		setenv("KILN_OUTPUT_SINCE", v, 0);
	}
	kiln_start(NULL);
}
