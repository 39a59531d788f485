/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_server.c - kiln server: reads the settings (flags, KILN_* environment,
 * YAML file), starts the HTTP server and its store, writes --port-file once
 * connections are accepted, optionally profiles itself through libkiln
 * (--self-profile, loaded with dlopen so that kiln runs without it), and on
 * SIGINT or SIGTERM stops cleanly (requests in flight finish, the store is
 * synced and closed) with exit 0.
 */
#include <dlfcn.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../server/server.h"
#include "cli.h"
#include "kiln/kiln.h"

/* an AddressSanitizer process cannot host the uninstrumented agent */
#if defined(__SANITIZE_ADDRESS__)
#define KL_ASAN_BUILD 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define KL_ASAN_BUILD 1
#endif
#endif

extern char **environ;

/* Takes --port-file FILE out of argv (it is not a server setting). */
static int take_port_file(int *argc, const char **argv, const char **port_file)
{
	int out = 0;

	for (int i = 0; i < *argc; i++) {
		if (!strcmp(argv[i], "--port-file")) {
			if (i + 1 >= *argc) {
				cli_error("server", "--port-file needs a value");
				return CLI_USAGE;
			}
			*port_file = argv[++i];
		} else if (!strncmp(argv[i], "--port-file=", 12)) {
			*port_file = argv[i] + 12;
		} else {
			argv[out++] = argv[i];
		}
	}
	*argc = out;
	return 0;
}

/* Writes the port atomically (temporary file + rename), so readers never see half. */
static int write_port_file(const char *path, unsigned port)
{
	char tmp[4096];
	FILE *f;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	f = fopen(tmp, "w");
	if (!f)
		return -errno;
	fprintf(f, "%u\n", port);
	if (fclose(f) || rename(tmp, path)) {
		unlink(tmp);
		return -errno;
	}
	return 0;
}

/* ---- --self-profile: libkiln, loaded at run time, pushing to this server -------------- */

struct self_profile {
	void *lib;
	int (*stop)(void);
};

static void agent_log(void *ctx, enum kiln_log_level level, const char *msg)
{
	kl_server_log(ctx, (enum kl_log_level)level, "self-profile: %s", msg);
}

/* Opens libkiln.so from ../lib beside the binary (build and install trees), then ld.so's path. */
static void *open_libkiln(char *tried, size_t len)
{
	char exe[4096], path[4200];
	const char *const rel[] = { "%s/../lib/libkiln.so", "%s/libkiln.so" };
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	void *lib;

	tried[0] = 0;
	if (n > 0) {
		exe[n] = 0;
		for (size_t i = 0; i < KL_ARRAY_SIZE(rel); i++) {
			snprintf(path, sizeof(path), rel[i], dirname(exe));
			lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
			if (lib)
				return lib;
			snprintf(tried + strlen(tried), len - strlen(tried), "%s, ", path);
		}
	}
	snprintf(tried + strlen(tried), len - strlen(tried), "libkiln.so");
	return dlopen("libkiln.so", RTLD_NOW | RTLD_LOCAL);
}

/*
 * Starts the in-process agent with the server as its target: service
 * kiln-server, CPU profile, credentials of the first ingest token. Failing
 * is not fatal: the server runs without profiling itself.
 */
static void self_profile_start(struct kl_server *srv, const struct kl_config *cfg,
			       struct self_profile *sp)
{
	struct kiln_config kc = KILN_CONFIG_INIT;
	int (*start)(const struct kiln_config *);
	const char *host = cfg->listen, *colon = strrchr(cfg->listen, ':');
	char tried[9000], addr[300];
	int hl = (int)(colon - host), rc;

#ifdef KL_ASAN_BUILD
	kl_server_log(srv, KL_LOG_INFO, "self-profile: off in an AddressSanitizer build");
	return;
#endif
	if (cfg->tls_cert) {
		kl_server_log(srv, KL_LOG_WARN, "self-profile: off (the agent pushes plain HTTP, "
			      "the server speaks HTTPS)");
		return;
	}
	sp->lib = open_libkiln(tried, sizeof(tried));
	start = sp->lib ? (int (*)(const struct kiln_config *))dlsym(sp->lib, "kiln_start") : NULL;
	sp->stop = sp->lib ? (int (*)(void))dlsym(sp->lib, "kiln_stop") : NULL;
	if (!start || !sp->stop) {
		kl_server_log(srv, KL_LOG_WARN, "self-profile: off: libkiln.so not found or "
			      "unusable (tried %s)", tried);
		if (sp->lib)
			dlclose(sp->lib);
		sp->lib = NULL;
		return;
	}
	/* the agent dials the listening address; "every interface" is reached on loopback */
	if (!hl || !strncmp(host, "0.0.0.0", (size_t)hl))
		snprintf(addr, sizeof(addr), "http://127.0.0.1:%u", kl_server_port(srv));
	else if (!strncmp(host, "[::]", (size_t)hl))
		snprintf(addr, sizeof(addr), "http://[::1]:%u", kl_server_port(srv));
	else
		snprintf(addr, sizeof(addr), "http://%.*s:%u", hl, host, kl_server_port(srv));
	kc.application_name = "kiln-server";
	kc.server_address = addr;
	kc.profiles = KILN_PROFILE_CPU;
	kc.log = agent_log;
	kc.log_ctx = srv;
	for (size_t i = 0; i < cfg->ntokens; i++) {
		const struct kl_token *t = &cfg->tokens[i];

		if (!(t->rights & KL_RIGHT_INGEST))
			continue;
		if (strchr(t->secret, ':'))
			kc.basic_auth = t->secret;
		else
			kc.auth_token = t->secret;
		if (strcmp(t->tenant, "*"))
			kc.tenant_id = t->tenant;
		break;
	}
	rc = start(&kc);
	if (rc) {
		kl_server_log(srv, KL_LOG_WARN, "self-profile: off: kiln_start failed (%d)", rc);
		sp->stop = NULL;
		return;
	}
	kl_server_log(srv, KL_LOG_INFO, "self-profile: on, service_name=kiln-server, to %s", addr);
}

/* Stops the agent (its last upload goes in while the server still runs). */
static void self_profile_stop(struct self_profile *sp)
{
	if (sp->stop)
		sp->stop();
	/* libkiln stays loaded: its threads and interposed symbols may still be referenced */
}

int cmd_server(int argc, const char **argv)
{
	struct kl_config cfg;
	struct kl_server *srv = NULL;
	struct kl_buf usage = KL_BUF_INIT;
	const char *port_file = NULL;
	struct self_profile sp = { 0 };
	struct kl_err err;
	sigset_t set;
	int rc, sig = 0;

	argc--;
	argv++;
	kl_config_init(&cfg);
	rc = take_port_file(&argc, argv, &port_file);
	if (rc)
		goto out;
	rc = kl_config_load(&cfg, argc, argv, (const char *const *)environ, &err);
	if (rc == 1) {
		kl_config_usage(&usage);
		fwrite(usage.data, 1, usage.len, stdout);
		fputs("\nnot a setting (no variable, no YAML key):\n"
		      "  --port-file FILE\n"
		      "      write the bound port to FILE once connections are accepted\n",
		      stdout);
		rc = CLI_OK;
		goto out;
	}
	if (rc) {
		cli_error("server", "%s", err.msg);
		rc = rc == -ENOMEM ? CLI_FAIL : CLI_USAGE;
		goto out;
	}
	/* every thread inherits this mask, so only sigwait below sees the signals */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = kl_server_start(&cfg, &srv, &err);
	if (rc) {
		kl_server_log(NULL, KL_LOG_ERROR, "cannot start: %s", err.msg);
		rc = rc == -KL_EUSAGE ? CLI_USAGE : CLI_FAIL;
		goto out;
	}
	if (port_file) {
		rc = write_port_file(port_file, kl_server_port(srv));
		if (rc) {
			kl_server_log(srv, KL_LOG_ERROR, "cannot write --port-file %s: %s",
				      port_file, kl_strerror(rc));
			rc = CLI_FAIL;
			goto out;
		}
	}
	if (cfg.self_profile)
		self_profile_start(srv, &cfg, &sp);
	while (sigwait(&set, &sig))
		;
	kl_server_log(srv, KL_LOG_INFO, "%s received: stopping", sig == SIGINT ? "SIGINT" :
		      "SIGTERM");
	rc = CLI_OK;
out:
	self_profile_stop(&sp);
	kl_server_stop(srv);
	if (srv && rc == CLI_OK)
		kl_server_log(NULL, KL_LOG_INFO, "stopped");
	kl_buf_release(&usage);
	kl_config_release(&cfg);
	return rc;
}
