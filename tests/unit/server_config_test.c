/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server_config_test.c - kiln server's settings and access control: the
 * defaults, value syntax (sizes, durations, booleans), flag > environment >
 * YAML precedence, error messages naming setting and source, tokens from
 * YAML and environment; auth resolution (bearer, basic, rights, tenants,
 * X-Scope-OrgID), the per-tenant rate limiter and the metrics text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "server/server.h"

static const char *const no_env[] = { NULL };

/* Writes text to a temporary YAML file; returns its path (static buffer). */
static const char *yaml_file(const char *text)
{
	static char path[64];
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/tmp/kiln-cfg-test.XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	f = fdopen(fd, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return path;
}

static void test_defaults(void **state)
{
	struct kl_config c;
	struct kl_err err;

	(void)state;
	kl_config_init(&c);
	assert_int_equal(kl_config_load(&c, 0, NULL, no_env, &err), 0);
	assert_string_equal(c.listen, "127.0.0.1:4040");
	assert_string_equal(c.data_dir, "./kiln-data");
	assert_int_equal(c.max_request_bytes, 16 << 20);
	assert_int_equal(c.limits.max_profile, 4 << 20);
	assert_int_equal(c.limits.max_labels, 30);
	assert_int_equal(c.store.memory_limit, 256 << 20);
	assert_int_equal(c.store.block_span_ns, 2 * 3600 * 1000000000LL);
	assert_int_equal(c.store.sync, KL_STORE_SYNC_FSYNC);
	assert_int_equal(c.max_nodes_default, 8192);
	assert_int_equal(c.default_range_ns, 3600 * 1000000000LL);
	assert_false(c.auth);
	assert_false(c.multitenant);
	assert_null(c.tls_cert);
	assert_int_equal(c.ntokens, 0);
	assert_string_equal(c.log_level, "info");
	kl_config_release(&c);
}

static void test_values_and_errors(void **state)
{
	const char *argv[] = { "--retention=30d", "--retention-size", "10GB", "--multitenant",
			       "--max-body-bytes=64KiB", "--sync", "write", "--threads=3",
			       "--self-profile=false", "--default-range", "500ms" };
	struct kl_config c;
	struct kl_err err;

	(void)state;
	kl_config_init(&c);
	assert_int_equal(kl_config_load(&c, KL_ARRAY_SIZE(argv), argv, no_env, &err), 0);
	assert_int_equal(c.store.retention_ns, 30 * 86400 * 1000000000LL);
	assert_int_equal(c.store.retention_bytes, 10000000000ULL);
	assert_true(c.multitenant);
	assert_int_equal(c.limits.max_body, 65536);
	assert_int_equal(c.store.sync, KL_STORE_SYNC_WRITE);
	assert_int_equal(c.threads, 3);
	assert_false(c.self_profile);
	assert_int_equal(c.default_range_ns, 500000000);
	kl_config_release(&c);

	{
		const char *bad[] = { "--max-samples", "12x" };

		kl_config_init(&c);
		assert_int_equal(kl_config_load(&c, 2, bad, no_env, &err), -KL_EUSAGE);
		assert_non_null(strstr(err.msg, "--max-samples: bad value '12x'"));
		kl_config_release(&c);
	}
	{
		const char *bad[] = { "--listen" };

		kl_config_init(&c);
		assert_int_equal(kl_config_load(&c, 1, bad, no_env, &err), -KL_EUSAGE);
		assert_non_null(strstr(err.msg, "--listen needs a value"));
		kl_config_release(&c);
	}
	{
		const char *bad[] = { "--listen=localhost" };

		kl_config_init(&c);
		assert_int_equal(kl_config_load(&c, 1, bad, no_env, &err), -KL_EUSAGE);
		assert_non_null(strstr(err.msg, "not HOST:PORT"));
		kl_config_release(&c);
	}
	{
		const char *bad[] = { "--threads=5000" };

		kl_config_init(&c);
		assert_int_equal(kl_config_load(&c, 1, bad, no_env, &err), -KL_EUSAGE);
		assert_non_null(strstr(err.msg, "at most 1024"));
		kl_config_release(&c);
	}
	{
		const char *help[] = { "--listen=1.2.3.4:5", "--help" };

		kl_config_init(&c);
		assert_int_equal(kl_config_load(&c, 2, help, no_env, &err), 1);
		kl_config_release(&c);
	}
}

static void test_precedence(void **state)
{
	const char *path = yaml_file("max_request_bytes: 1MiB\nmax-series: 7\nlog_level: debug\n"
				     "data_dir: /from/yaml\n");
	char cfgvar[128];
	const char *env[] = { cfgvar, "KILN_MAX_SERIES=8", "KILN_DATA_DIR=/from/env",
			      "KILN_FIXTURES=/ignored", NULL };
	const char *argv[] = { "--data-dir=/from/flag" };
	struct kl_config c;
	struct kl_err err;

	(void)state;
	snprintf(cfgvar, sizeof(cfgvar), "KILN_CONFIG=%s", path);
	kl_config_init(&c);
	assert_int_equal(kl_config_load(&c, 1, argv, env, &err), 0);
	assert_int_equal(c.max_request_bytes, 1 << 20);	/* yaml only */
	assert_int_equal(c.store.max_series, 8);		/* env beats yaml */
	assert_string_equal(c.data_dir, "/from/flag");		/* flag beats env */
	assert_string_equal(c.log_level, "debug");
	assert_string_equal(c.config_file, path);
	kl_config_release(&c);
	unlink(path);
}

static void test_yaml_tokens(void **state)
{
	const char *path = yaml_file(
		"tokens:\n"
		"  - secret: secret-one-1\n"
		"    tenant: team-a\n"
		"    rights: [ingest, read]\n"
		"  - { user: bob, password: bob-password, tenant: team-b, rights: read }\n");
	const char *argv[2] = { "--config" };
	const char *env[] = { "KILN_INGEST_TOKEN=env-token-1", NULL };
	struct kl_config c;
	struct kl_err err;

	(void)state;
	argv[1] = path;
	kl_config_init(&c);
	assert_int_equal(kl_config_load(&c, 2, argv, env, &err), 0);
	assert_true(c.auth);
	assert_int_equal(c.ntokens, 3);
	assert_string_equal(c.tokens[0].secret, "secret-one-1");
	assert_string_equal(c.tokens[0].tenant, "team-a");
	assert_int_equal(c.tokens[0].rights, KL_RIGHT_INGEST | KL_RIGHT_READ);
	assert_string_equal(c.tokens[1].secret, "bob:bob-password");
	assert_int_equal(c.tokens[1].rights, KL_RIGHT_READ);
	assert_string_equal(c.tokens[2].tenant, "*");
	assert_int_equal(c.tokens[2].rights, KL_RIGHT_INGEST);
	kl_config_release(&c);
	unlink(path);

	path = yaml_file("tokens:\n  - { secret: short, rights: read }\n");
	argv[1] = path;
	kl_config_init(&c);
	assert_int_equal(kl_config_load(&c, 2, argv, no_env, &err), -KL_EUSAGE);
	assert_non_null(strstr(err.msg, ":2: tokens: a secret must have at least 8"));
	kl_config_release(&c);
	unlink(path);

	path = yaml_file("retention: 5 parsecs\n");
	argv[1] = path;
	kl_config_init(&c);
	assert_int_equal(kl_config_load(&c, 2, argv, no_env, &err), -KL_EUSAGE);
	assert_non_null(strstr(err.msg, ":1: bad value '5 parsecs' for retention"));
	kl_config_release(&c);
	unlink(path);
}

static void test_usage_lists_everything(void **state)
{
	struct kl_buf b = KL_BUF_INIT;

	(void)state;
	kl_config_usage(&b);
	assert_int_equal(kl_buf_error(&b), 0);
	assert_non_null(strstr(b.data, "--max-request-bytes SIZE"));
	assert_non_null(strstr(b.data, "env KILN_MAX_REQUEST_BYTES, default 16MiB"));
	assert_non_null(strstr(b.data, "env KILN_RETENTION, default 0"));
	assert_non_null(strstr(b.data, "KILN_INGEST_TOKEN"));
	kl_buf_release(&b);
}

/* ---- auth -------------------------------------------------------------------- */

static struct kl_token tokens[] = {
	{ "ingest-a-secret", "team-a", KL_RIGHT_INGEST },
	{ "read-a-secret", "team-a", KL_RIGHT_READ },
	{ "alice:pw-alice-1", "team-b", KL_RIGHT_INGEST | KL_RIGHT_READ },
	{ "admin-secret", "*", KL_RIGHT_READ },
};

static void test_auth(void **state)
{
	struct kl_config c = { .auth = true, .tokens = tokens, .ntokens = 4 };
	struct kl_http_err e;
	const char *t;

	(void)state;
	/* open routes need nothing */
	assert_int_equal(kl_auth_resolve(&c, NULL, NULL, 0, &t, &e), 0);
	assert_int_not_equal(kl_auth_resolve(&c, NULL, NULL, KL_RIGHT_READ, &t, &e), 0);
	assert_int_equal(e.status, 401);
	assert_int_not_equal(kl_auth_resolve(&c, "Bearer nope", NULL, KL_RIGHT_READ, &t, &e), 0);
	assert_int_equal(e.status, 401);
	assert_int_not_equal(kl_auth_resolve(&c, "Bearer ingest-a-secre", NULL, KL_RIGHT_INGEST,
					     &t, &e), 0);
	assert_int_not_equal(kl_auth_resolve(&c, "Bearer ingest-a-secretX", NULL,
					     KL_RIGHT_INGEST, &t, &e), 0);
	assert_int_equal(kl_auth_resolve(&c, "Bearer ingest-a-secret", NULL, KL_RIGHT_INGEST, &t,
					 &e), 0);
	assert_string_equal(t, "team-a");
	assert_int_not_equal(kl_auth_resolve(&c, "bearer ingest-a-secret", NULL, KL_RIGHT_READ,
					     &t, &e), 0);
	assert_int_equal(e.status, 403);
	assert_int_not_equal(kl_auth_resolve(&c, "Bearer ingest-a-secret", "team-b",
					     KL_RIGHT_INGEST, &t, &e), 0);
	assert_int_equal(e.status, 403);
	assert_int_equal(kl_auth_resolve(&c, "Bearer ingest-a-secret", "team-a", KL_RIGHT_INGEST,
					 &t, &e), 0);
	/* basic: "alice:pw-alice-1" and "anyone:read-a-secret" */
	assert_int_equal(kl_auth_resolve(&c, "Basic YWxpY2U6cHctYWxpY2UtMQ==", NULL,
					 KL_RIGHT_READ, &t, &e), 0);
	assert_string_equal(t, "team-b");
	assert_int_equal(kl_auth_resolve(&c, "Basic YW55b25lOnJlYWQtYS1zZWNyZXQ=", NULL,
					 KL_RIGHT_READ, &t, &e), 0);
	assert_string_equal(t, "team-a");
	assert_int_not_equal(kl_auth_resolve(&c, "Basic !!!", NULL, KL_RIGHT_READ, &t, &e), 0);
	assert_int_equal(e.status, 401);
	/* a "*" token: X-Scope-OrgID when multitenant, else anonymous */
	assert_int_equal(kl_auth_resolve(&c, "Bearer admin-secret", "t9", KL_RIGHT_READ, &t, &e),
			 0);
	assert_string_equal(t, "anonymous");
	c.multitenant = true;
	assert_int_equal(kl_auth_resolve(&c, "Bearer admin-secret", "t9", KL_RIGHT_READ, &t, &e),
			 0);
	assert_string_equal(t, "t9");
	assert_int_not_equal(kl_auth_resolve(&c, "Bearer admin-secret", "..", KL_RIGHT_READ, &t,
					     &e), 0);
	assert_int_equal(e.status, 400);
	/* no auth: the header or anonymous */
	c.auth = false;
	assert_int_equal(kl_auth_resolve(&c, NULL, "t1", KL_RIGHT_INGEST, &t, &e), 0);
	assert_string_equal(t, "t1");
	assert_int_equal(kl_auth_resolve(&c, NULL, NULL, KL_RIGHT_INGEST, &t, &e), 0);
	assert_string_equal(t, "anonymous");
	c.multitenant = false;
	assert_int_equal(kl_auth_resolve(&c, NULL, "t1", KL_RIGHT_INGEST, &t, &e), 0);
	assert_string_equal(t, "anonymous");
}

static void test_ratelimit(void **state)
{
	struct kl_ratelimit *rl;
	const int64_t s = 1000000000LL;

	(void)state;
	assert_int_equal(kl_ratelimit_new(1000, 2000, &rl), 0);
	assert_true(kl_ratelimit_take(rl, "a", 1500, 10 * s));
	assert_false(kl_ratelimit_take(rl, "a", 1000, 10 * s));	/* 500 left */
	assert_true(kl_ratelimit_take(rl, "b", 2000, 10 * s));	/* own bucket */
	assert_true(kl_ratelimit_take(rl, "a", 1000, 10 * s + s / 2));	/* refilled 500 */
	/* bigger than the bucket: passes only when full, then the bucket is in debt */
	assert_false(kl_ratelimit_take(rl, "a", 5000, 11 * s));
	assert_true(kl_ratelimit_take(rl, "a", 5000, 20 * s));
	assert_false(kl_ratelimit_take(rl, "a", 1, 22 * s));
	kl_ratelimit_free(rl);
	assert_int_equal(kl_ratelimit_new(0, 0, &rl), 0);
	assert_true(kl_ratelimit_take(rl, "a", UINT64_MAX, 0));
	kl_ratelimit_free(rl);
	kl_ratelimit_free(NULL);
}

static void test_metrics(void **state)
{
	struct kl_metrics *m;
	struct kl_buf b = KL_BUF_INIT;

	(void)state;
	assert_int_equal(kl_metrics_new(&m), 0);
	kl_metrics_add(m, KL_C_INGEST_PROFILES, 3);
	kl_metrics_add(m, KL_C_DISCARD_RATE_LIMIT, 1);
	kl_metrics_observe(m, 0, 0.003);
	kl_metrics_observe(m, 0, 20);
	kl_metrics_status(m, 0, 200);
	kl_metrics_status(m, 0, 418);
	assert_int_equal(kl_metrics_get(m, KL_C_INGEST_PROFILES), 3);
	kl_metrics_write(m, &b);
	assert_int_equal(kl_buf_error(&b), 0);
	assert_non_null(strstr(b.data, "\nkiln_ingest_profiles_total 3\n"));
	assert_non_null(strstr(b.data, "kiln_discarded_total{reason=\"rate_limited\"} 1\n"));
	assert_non_null(strstr(b.data, "kiln_http_request_duration_seconds_bucket{route=\"/ingest\","
			       "le=\"0.0025\"} 0\n"));
	assert_non_null(strstr(b.data, "kiln_http_request_duration_seconds_bucket{route=\"/ingest\","
			       "le=\"0.005\"} 1\n"));
	assert_non_null(strstr(b.data, "kiln_http_request_duration_seconds_bucket{route=\"/ingest\","
			       "le=\"+Inf\"} 2\n"));
	assert_non_null(strstr(b.data, "kiln_http_requests_total{route=\"/ingest\",code=\"other\"} 1"));
	kl_buf_release(&b);
	kl_metrics_free(m);
	kl_metrics_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_values_and_errors),
		cmocka_unit_test(test_precedence),
		cmocka_unit_test(test_yaml_tokens),
		cmocka_unit_test(test_usage_lists_everything),
		cmocka_unit_test(test_auth),
		cmocka_unit_test(test_ratelimit),
		cmocka_unit_test(test_metrics),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
