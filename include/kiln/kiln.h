/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kiln.h - libkiln, Kiln's in-process profiling agent for C and C++.
 *
 * Two ways in:
 *   - no code change: LD_PRELOAD=libkiln.so with KILN_* environment
 *     variables (docs/agent.md lists them); the agent starts before main;
 *   - linked: call kiln_start() with a struct kiln_config, then tag work
 *     with kiln_tag_push()/kiln_tag_pop() or kiln_with_tags().
 *
 * The agent samples CPU, wall clock, heap, lock contention and threads,
 * and every upload interval pushes one pprof per type to a Kiln or
 * Pyroscope server (Pyroscope's /ingest protocol), or serves them at a
 * pull endpoint, or writes one file at exit (kiln record).
 *
 * Conventions (libbpf style): every export starts with kiln_; int returns
 * are 0 or a negative errno / KILN_E* code; kiln_strerror() describes a
 * code; options structs start with their size (use KILN_CONFIG_INIT) so
 * fields can be added without breaking the ABI. The agent never aborts or
 * exits its host: on any failure it turns itself off and says why once on
 * stderr (or through the log callback).
 *
 * Thread safety: all functions may be called from any thread. Tag
 * functions are cheap (no locks on the fast path after a label set was
 * seen once) but are not async-signal-safe.
 */
#ifndef KILN_KILN_H
#define KILN_KILN_H

#include <stddef.h>
#include <stdint.h>

#include "version.h"

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KILN_API __attribute__((visibility("default")))
#else
#define KILN_API
#endif

/* Profile types, as bits of kiln_config.profiles. */
enum kiln_profile_type {
	KILN_PROFILE_CPU = 1 << 0,	/* per-thread CPU time sampling */
	KILN_PROFILE_WALL = 1 << 1,	/* every thread, running or blocked */
	KILN_PROFILE_HEAP = 1 << 2,	/* Poisson-sampled allocations, alloc and in-use */
	KILN_PROFILE_LOCK = 1 << 3,	/* pthread mutex and rwlock contention */
	KILN_PROFILE_THREADS = 1 << 4,	/* live threads by stack */
};

/* Kiln's own error codes (negated in returns), above any errno. */
enum kiln_error {
	KILN_EALREADY = 5000,	/* kiln_start while running */
	KILN_ECONFIG = 5001,	/* a bad setting (the message names it) */
	KILN_ESIGNAL = 5002,	/* no free signal for the sampler */
	KILN_ENOTRUNNING = 5003,	/* kiln_stop / kiln_flush without kiln_start */
};

/* Log levels of the log callback. */
enum kiln_log_level { KILN_LOG_ERROR, KILN_LOG_WARN, KILN_LOG_INFO, KILN_LOG_DEBUG };

/*
 * Agent settings. Zero / NULL fields take the default in brackets, which is
 * also what the matching environment variable sets (docs/agent.md).
 * Strings are copied by kiln_start.
 */
struct kiln_config {
	size_t sz;			/* sizeof(struct kiln_config): set by KILN_CONFIG_INIT */
	const char *application_name;	/* KILN_APPLICATION_NAME [program name] */
	const char *server_address;	/* KILN_SERVER_ADDRESS, e.g. http://127.0.0.1:4040; NULL = no push */
	const char *tags;		/* KILN_TAGS static tags "k=v,k2=v2" */
	unsigned profiles;		/* KILN_PROFILES bits of kiln_profile_type [CPU] */
	unsigned cpu_hz;		/* KILN_CPU_HZ [100] */
	unsigned wall_hz;		/* KILN_WALL_HZ [100] */
	unsigned wall_threads_per_tick;	/* KILN_WALL_THREADS_PER_TICK threads signalled per tick [16] */
	size_t heap_sample_bytes;	/* KILN_HEAP_SAMPLE_BYTES mean bytes between samples [524288] */
	unsigned max_frames;		/* KILN_MAX_FRAMES deepest stack kept [128, at most 512] */
	unsigned max_stacks;		/* KILN_MAX_STACKS unique stacks per type and interval [65536] */
	unsigned upload_interval_ms;	/* KILN_UPLOAD_INTERVAL [10000] */
	unsigned upload_timeout_ms;	/* KILN_UPLOAD_TIMEOUT [10000] */
	unsigned upload_queue;		/* KILN_UPLOAD_QUEUE profiles waiting to upload [32] */
	const char *auth_token;		/* KILN_AUTH_TOKEN, sent as Authorization: Bearer */
	const char *basic_auth;		/* KILN_BASIC_AUTH "user:password" */
	const char *tenant_id;		/* KILN_TENANT_ID, sent as X-Scope-OrgID */
	const char *pprof_listen;	/* KILN_PPROF_LISTEN host:port pull endpoint; NULL = off */
	const char *output;		/* KILN_OUTPUT file written at exit (.pb.gz .folded .html .svg) */
	int follow_fork;		/* KILN_FOLLOW_FORK: profile forked children too [0] */
	int signal;			/* KILN_SIGNAL sampler signal number; 0 = SIGPROF or a free real-time one */
	/* log lines without newline; NULL = stderr, prefixed "kiln: " */
	void (*log)(void *ctx, enum kiln_log_level level, const char *msg);
	void *log_ctx;
};

#define KILN_CONFIG_INIT {.sz = sizeof(struct kiln_config)}

/*
 * Starts profiling with cfg (NULL = settings from the environment only;
 * fields left zero also fall back to the environment, then the default).
 * 0, -KILN_EALREADY, -KILN_ECONFIG (bad setting, message logged),
 * -KILN_ESIGNAL, -ENOMEM. On failure nothing is left running.
 */
KILN_API int kiln_start(const struct kiln_config *cfg);

/*
 * Stops sampling, uploads (or writes) what was collected, and frees the
 * agent's memory. Waits at most the upload timeout. 0 or
 * -KILN_ENOTRUNNING.
 */
KILN_API int kiln_stop(void);

/* Builds and queues one profile per type now instead of at the next interval. */
KILN_API int kiln_flush(void);

/*
 * Scoped dynamic tags on the calling thread: every sample taken on this
 * thread until the matching pop carries name=value (as a pprof sample
 * label; the server turns it into a series label). Pushes nest; a later
 * push of the same name hides the earlier one until popped. At most 16
 * nested tags. Names follow Pyroscope's label grammar [A-Za-z0-9_.].
 * span_id and trace_id tags link samples to a trace span.
 * 0, -EINVAL (bad name), -E2BIG (too deep), -ENOMEM.
 */
KILN_API int kiln_tag_push(const char *name, const char *value);

/* Removes the innermost tag pushed on this thread. 0 or -ENOENT. */
KILN_API int kiln_tag_pop(void);

/*
 * Runs fn(arg) with the tags names[i]=values[i] (n of them) pushed, then
 * pops them, like Pyroscope's TagWrapper. Returns what kiln_tag_push
 * returned if a tag was refused (fn is not called then), else 0.
 */
KILN_API int kiln_with_tags(const char *const *names, const char *const *values, size_t n,
			    void (*fn)(void *arg), void *arg);

/* Whether the agent is running (1) or not (0). */
KILN_API int kiln_running(void);

/* Counters of the running agent, for tests and health checks. */
struct kiln_stats {
	size_t sz;			/* sizeof(struct kiln_stats), set by the caller */
	uint64_t samples;		/* cpu + wall samples taken */
	uint64_t samples_dropped;	/* stack table full or unwinding impossible */
	uint64_t heap_samples;
	uint64_t lock_samples;
	uint64_t uploads;		/* profiles accepted by the server */
	uint64_t uploads_failed;	/* after retries */
	uint64_t uploads_dropped;	/* queue full */
	uint64_t threads;		/* threads known now */
	int signal;			/* the sampler's signal */
};

/* Fills *st (st->sz must be set). 0 or -EINVAL. */
KILN_API int kiln_get_stats(struct kiln_stats *st);

/* A static description of a negative return code. */
KILN_API const char *kiln_strerror(int err);

/* The library's version string, e.g. "0.1.0". */
KILN_API const char *kiln_version(void);

#ifdef __cplusplus
}
#endif

#endif /* KILN_KILN_H */
