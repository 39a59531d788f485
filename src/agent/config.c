/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - the agent's settings: struct kiln_config fields over KILN_*
 * environment variables over defaults, each checked so that a bad value
 * names itself in one line and the agent stays off instead of running
 * half-configured. docs/agent.md lists every setting.
 */
#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../core/base.h"
#include "agent.h"

/* Looks name up in envp ("NAME=value" strings); NULL when absent or empty. */
static const char *env_get(char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++) {
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return (*envp)[n + 1] ? *envp + n + 1 : NULL;
	}
	return NULL;
}

static int bad(char *msg, size_t msgsz, const char *name, const char *val, const char *why)
{
	snprintf(msg, msgsz, "%s=%s: %s", name, val, why);
	return -KILN_ECONFIG;
}

/*
 * An unsigned number in lo..hi from the config field (when non-zero) or
 * the environment, else def. Sizes accept k/m/g suffixes (powers of 1024).
 */
static int num_setting(char *const *envp, const char *name, uint64_t field, uint64_t lo,
		       uint64_t hi, uint64_t def, bool size_suffix, uint64_t *out, char *msg,
		       size_t msgsz)
{
	const char *s = env_get(envp, name);
	char why[96], *end;
	unsigned long long v;
	uint64_t mul = 1;

	snprintf(why, sizeof(why), "not a number in %llu..%llu", (unsigned long long)lo,
		 (unsigned long long)hi);
	if (field) {
		if (field < lo || field > hi) {
			char val[32];

			snprintf(val, sizeof(val), "%llu", (unsigned long long)field);
			return bad(msg, msgsz, name, val, why);
		}
		*out = field;
		return 0;
	}
	if (!s) {
		*out = def;
		return 0;
	}
	if (!isdigit((unsigned char)*s))
		return bad(msg, msgsz, name, s, why);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (size_suffix && *end && !end[1]) {
		switch (tolower((unsigned char)*end)) {
		case 'k': mul = 1024; end++; break;
		case 'm': mul = 1024 * 1024; end++; break;
		case 'g': mul = 1024 * 1024 * 1024; end++; break;
		default: break;
		}
	}
	if (errno || *end || v > hi / mul || v * mul < lo)
		return bad(msg, msgsz, name, s, why);
	*out = v * mul;
	return 0;
}

/* A duration in ms: a bare number is ms; "ms", "s" and "m" suffixes are accepted. */
static int duration_setting(char *const *envp, const char *name, unsigned field, unsigned lo,
			    unsigned hi, unsigned def, unsigned *out, char *msg, size_t msgsz)
{
	const char *s = env_get(envp, name);
	char why[96], *end;
	unsigned long long v, mul = 1;

	snprintf(why, sizeof(why), "not a duration in %ums..%ums (e.g. 500ms, 10s, 1m)", lo, hi);
	if (field || !s) {
		v = field ? field : def;
		if (v < lo || v > hi) {
			char val[32];

			snprintf(val, sizeof(val), "%llu", v);
			return bad(msg, msgsz, name, val, why);
		}
		*out = (unsigned)v;
		return 0;
	}
	if (!isdigit((unsigned char)*s))
		return bad(msg, msgsz, name, s, why);
	errno = 0;
	v = strtoull(s, &end, 10);
	if (!strcmp(end, "s"))
		mul = 1000;
	else if (!strcmp(end, "m"))
		mul = 60000;
	else if (*end && strcmp(end, "ms"))
		return bad(msg, msgsz, name, s, why);
	if (errno || v > hi / mul || v * mul < lo)
		return bad(msg, msgsz, name, s, why);
	*out = (unsigned)(v * mul);
	return 0;
}

static int bool_setting(char *const *envp, const char *name, int field, bool *out, char *msg,
			size_t msgsz)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };
	const char *s = env_get(envp, name);

	*out = field != 0;
	if (field || !s)
		return 0;
	for (size_t i = 0; i < KL_ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i]))
			return 0;
	}
	return bad(msg, msgsz, name, s, "not a boolean (1/0, true/false, yes/no, on/off)");
}

/* The string field, else the environment; copied (NULL when neither). */
static int str_setting(char *const *envp, const char *name, const char *field, char **out)
{
	const char *s = field && *field ? field : env_get(envp, name);

	*out = NULL;
	if (!s)
		return 0;
	*out = kl_strndup(s, strlen(s));
	return *out ? 0 : -ENOMEM;
}

static bool label_name_ok(const char *s, size_t n)
{
	if (n == 0 || n > 1024)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (!isalnum((unsigned char)s[i]) && s[i] != '_' && s[i] != '.')
			return false;
	}
	return !(n >= 2 && s[0] == '_' && s[1] == '_');
}

/*
 * Static tags "k=v,k2=v2": names follow Pyroscope's label grammar; values
 * must be non-empty and may not hold the characters that delimit the
 * ingest name parameter ({ } , =).
 */
static int check_tags(const char *tags, const char *name, char *msg, size_t msgsz)
{
	const char *p = tags;

	while (*p) {
		const char *comma = strchr(p, ','), *eq;
		size_t n = comma ? (size_t)(comma - p) : strlen(p);

		eq = memchr(p, '=', n);
		if (!eq || !label_name_ok(p, (size_t)(eq - p)))
			return bad(msg, msgsz, name, tags, "tags must be name=value pairs separated "
				   "by commas, names made of [A-Za-z0-9_.]");
		if (eq + 1 == p + n || memchr(eq + 1, '=', (size_t)(p + n - eq - 1)) ||
		    memchr(eq + 1, '{', (size_t)(p + n - eq - 1)) ||
		    memchr(eq + 1, '}', (size_t)(p + n - eq - 1)))
			return bad(msg, msgsz, name, tags, "a tag value is empty or holds = { or }");
		p += n;
		if (*p == ',')
			p++;
	}
	return 0;
}

/* "cpu,wall,heap,lock,threads" (or "all") -> bits. */
static int parse_profiles(const char *s, unsigned *out, char *msg, size_t msgsz)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = {
		{ "cpu", KILN_PROFILE_CPU }, { "wall", KILN_PROFILE_WALL },
		{ "heap", KILN_PROFILE_HEAP }, { "alloc", KILN_PROFILE_HEAP },
		{ "lock", KILN_PROFILE_LOCK }, { "mutex", KILN_PROFILE_LOCK },
		{ "threads", KILN_PROFILE_THREADS },
		{ "all", KILN_PROFILE_CPU | KILN_PROFILE_WALL | KILN_PROFILE_HEAP |
			 KILN_PROFILE_LOCK | KILN_PROFILE_THREADS },
	};
	const char *p = s;

	*out = 0;
	while (*p) {
		size_t n = strcspn(p, ", ");
		size_t i;

		for (i = 0; i < KL_ARRAY_SIZE(names); i++) {
			if (strlen(names[i].name) == n && !strncasecmp(p, names[i].name, n))
				break;
		}
		if (n && i == KL_ARRAY_SIZE(names))
			return bad(msg, msgsz, "KILN_PROFILES", s,
				   "not a list of cpu, wall, heap, lock, threads");
		if (n)
			*out |= names[i].bit;
		p += n;
		p += strspn(p, ", ");
	}
	if (!*out)
		return bad(msg, msgsz, "KILN_PROFILES", s, "no profile type named");
	return 0;
}

/* The program's short name, made of the characters Pyroscope allows in app names. */
static char *default_app_name(void)
{
	char name[64] = "";
	FILE *f = fopen("/proc/self/comm", "re");
	size_t n;

	if (f) {
		if (!fgets(name, sizeof(name), f))
			name[0] = 0;
		fclose(f);
	}
	n = strcspn(name, "\n");
	name[n] = 0;
	if (!n)
		snprintf(name, sizeof(name), "unknown");
	for (char *c = name; *c; c++) {
		if (!isalnum((unsigned char)*c) && !strchr("_./-", *c))
			*c = '_';
	}
	return kl_strndup(name, strlen(name));
}

static bool app_name_ok(const char *s)
{
	if (!*s || strlen(s) > 512)
		return false;
	for (; *s; s++) {
		if (!isalnum((unsigned char)*s) && !strchr("_./-", *s))
			return false;
	}
	return true;
}

static bool listen_ok(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || colon == s || !colon[1])
		return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return !errno && !*end && port >= 0 && port <= 65535;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcasecmp(s + n - m, suffix);
}

int agent_config_resolve(const struct kiln_config *cfg, char *const *envp,
			 struct agent_config *out, char *msg, size_t msgsz)
{
	struct kiln_config zero = KILN_CONFIG_INIT;
	uint64_t v;
	const char *s;
	int rc;

	memset(out, 0, sizeof(*out));
	msg[0] = 0;
	if (!cfg)
		cfg = &zero;
	if (cfg->sz < offsetof(struct kiln_config, log_ctx) + sizeof(void *)) {
		snprintf(msg, msgsz, "kiln_config.sz=%zu: too small (use KILN_CONFIG_INIT)", cfg->sz);
		return -KILN_ECONFIG;
	}
	rc = str_setting(envp, "KILN_APPLICATION_NAME", cfg->application_name,
			 &out->application_name);
	if (!rc && !out->application_name) {
		out->application_name = default_app_name();
		rc = out->application_name ? 0 : -ENOMEM;
	}
	if (!rc)
		rc = str_setting(envp, "KILN_SERVER_ADDRESS", cfg->server_address,
				 &out->server_address);
	if (!rc)
		rc = str_setting(envp, "KILN_TAGS", cfg->tags, &out->tags);
	if (!rc)
		rc = str_setting(envp, "KILN_AUTH_TOKEN", cfg->auth_token, &out->auth_token);
	if (!rc)
		rc = str_setting(envp, "KILN_BASIC_AUTH", cfg->basic_auth, &out->basic_auth);
	if (!rc)
		rc = str_setting(envp, "KILN_TENANT_ID", cfg->tenant_id, &out->tenant_id);
	if (!rc)
		rc = str_setting(envp, "KILN_PPROF_LISTEN", cfg->pprof_listen, &out->pprof_listen);
	if (!rc)
		rc = str_setting(envp, "KILN_OUTPUT", cfg->output, &out->output);
	if (rc) {
		snprintf(msg, msgsz, "out of memory reading the settings");
		goto out;
	}
	if (!app_name_ok(out->application_name)) {
		rc = bad(msg, msgsz, "KILN_APPLICATION_NAME", out->application_name,
			 "only [A-Za-z0-9_./-] allowed");
		goto out;
	}
	if (out->server_address && strncmp(out->server_address, "http://", 7) &&
	    strncmp(out->server_address, "https://", 8)) {
		rc = bad(msg, msgsz, "KILN_SERVER_ADDRESS", out->server_address,
			 "not an http:// or https:// URL");
		goto out;
	}
	if (out->tags && (rc = check_tags(out->tags, "KILN_TAGS", msg, msgsz)))
		goto out;
	if (out->basic_auth && !strchr(out->basic_auth, ':')) {
		rc = bad(msg, msgsz, "KILN_BASIC_AUTH", "...", "not user:password");
		goto out;
	}
	if (out->tenant_id && (strlen(out->tenant_id) > 150 ||
			       strspn(out->tenant_id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRST"
					  "UVWXYZ0123456789!-_.*'()") != strlen(out->tenant_id) ||
			       !strcmp(out->tenant_id, ".") || !strcmp(out->tenant_id, ".."))) {
		rc = bad(msg, msgsz, "KILN_TENANT_ID", out->tenant_id,
			 "at most 150 of [A-Za-z0-9!-_.*'()]");
		goto out;
	}
	if (out->pprof_listen && !listen_ok(out->pprof_listen)) {
		rc = bad(msg, msgsz, "KILN_PPROF_LISTEN", out->pprof_listen,
			 "not host:port (e.g. 127.0.0.1:6060)");
		goto out;
	}
	if (out->output && !ends_with(out->output, ".pb.gz") && !ends_with(out->output, ".pb") &&
	    !ends_with(out->output, ".pprof")) {
		rc = bad(msg, msgsz, "KILN_OUTPUT", out->output,
			 "the agent writes pprof (.pb.gz or .pb); for .folded, .html or .svg run "
			 "the program under 'kiln record -o FILE'");
		goto out;
	}
	out->profiles = cfg->profiles;
	s = env_get(envp, "KILN_PROFILES");
	if (!out->profiles && s && (rc = parse_profiles(s, &out->profiles, msg, msgsz)))
		goto out;
	if (!out->profiles)
		out->profiles = KILN_PROFILE_CPU;
	if (out->profiles & ~(unsigned)(KILN_PROFILE_CPU | KILN_PROFILE_WALL | KILN_PROFILE_HEAP |
					KILN_PROFILE_LOCK | KILN_PROFILE_THREADS)) {
		rc = bad(msg, msgsz, "kiln_config.profiles", "?", "unknown profile type bits");
		goto out;
	}
#define NUM(envname, field, lo, hi, def, sfx, dst)                                          \
	do {                                                                                \
		rc = num_setting(envp, envname, field, lo, hi, def, sfx, &v, msg, msgsz);   \
		if (rc)                                                                     \
			goto out;                                                           \
		dst = v;                                                                    \
	} while (0)
	NUM("KILN_CPU_HZ", cfg->cpu_hz, 1, 10000, 100, false, out->cpu_hz);
	NUM("KILN_WALL_HZ", cfg->wall_hz, 1, 10000, 100, false, out->wall_hz);
	NUM("KILN_WALL_THREADS_PER_TICK", cfg->wall_threads_per_tick, 1, 4096, 16, false,
	    out->wall_threads_per_tick);
	NUM("KILN_HEAP_SAMPLE_BYTES", cfg->heap_sample_bytes, 1, 1ULL << 32, 524288, true,
	    out->heap_sample_bytes);
	NUM("KILN_MAX_FRAMES", cfg->max_frames, 1, AGENT_MAX_FRAMES_LIMIT, 128, false,
	    out->max_frames);
	NUM("KILN_MAX_STACKS", cfg->max_stacks, 16, 1u << 24, 65536, false, out->max_stacks);
	NUM("KILN_UPLOAD_QUEUE", cfg->upload_queue, 1, 1024, 32, false, out->upload_queue);
	NUM("KILN_SIGNAL", (uint64_t)(cfg->signal > 0 ? cfg->signal : 0), 1, (uint64_t)SIGRTMAX, 0,
	    false, v);
	out->signal = (int)v;
#undef NUM
	rc = duration_setting(envp, "KILN_UPLOAD_INTERVAL", cfg->upload_interval_ms, 100, 3600000,
			      10000, &out->upload_interval_ms, msg, msgsz);
	if (!rc)
		rc = duration_setting(envp, "KILN_UPLOAD_TIMEOUT", cfg->upload_timeout_ms, 100,
				      600000, 10000, &out->upload_timeout_ms, msg, msgsz);
	if (!rc)
		rc = bool_setting(envp, "KILN_FOLLOW_FORK", cfg->follow_fork, &out->follow_fork, msg,
				  msgsz);
	out->log = cfg->log;
	out->log_ctx = cfg->log_ctx;
out:
	if (rc)
		agent_config_release(out);
	return rc;
}

void agent_config_release(struct agent_config *c)
{
	if (!c)
		return;
	kl_free(c->application_name);
	kl_free(c->server_address);
	kl_free(c->tags);
	kl_free(c->auth_token);
	kl_free(c->basic_auth);
	kl_free(c->tenant_id);
	kl_free(c->pprof_listen);
	kl_free(c->output);
	memset(c, 0, sizeof(*c));
}
