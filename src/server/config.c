/* SPDX-License-Identifier: Apache-2.0 */
/*
 * config.c - kiln server's settings: one table names every setting with its
 * flag, KILN_* variable, YAML key, type and default. Defaults are parsed
 * from the same text --help prints, so the two cannot disagree. Sources
 * are applied YAML, then environment, then flags, so later ones win; every
 * bad value is reported with the setting and the source it came from.
 */
#include <ctype.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

#include "server.h"

enum stype {
	T_STR,			/* char * (owned); "" = NULL */
	T_UINT,			/* unsigned integer of width 4 or 8 */
	T_SIZE,			/* bytes with an optional unit, width 4 or 8 */
	T_DURATION,		/* int64_t nanoseconds */
	T_BOOL,
	T_SYNC,			/* enum kl_store_sync */
	T_LEVEL,		/* log level name, kept as a string */
};

struct setting {
	const char *flag;	/* without "--"; the YAML key is this with '_' for '-' */
	const char *env;
	enum stype type;
	size_t off, width;
	uint64_t max;		/* largest value for numbers (0 = the width's range) */
	const char *def;	/* the default, as text */
	const char *arg;	/* the value's name in --help */
	const char *help;
};

#define F(field) offsetof(struct kl_config, field), sizeof(((struct kl_config *)0)->field)

static const struct setting settings[] = {
	{ "config", "KILN_CONFIG", T_STR, F(config_file), 0, "", "FILE",
	  "YAML file with settings (keys: the flag names, '_' or '-')" },
	{ "listen", "KILN_LISTEN", T_STR, F(listen), 0, "127.0.0.1:4040", "HOST:PORT",
	  "address to listen on; port 0 = any free port" },
	{ "data-dir", "KILN_DATA_DIR", T_STR, F(data_dir), 0, "./kiln-data", "DIR",
	  "where the store keeps its WAL and blocks" },
	{ "threads", "KILN_THREADS", T_UINT, F(threads), 1024, "0", "N",
	  "query threads; the event loops serving connections: min(cores, N); 0 = 2 x cores" },
	{ "max-connections", "KILN_MAX_CONNECTIONS", T_UINT, F(max_connections), 100000, "256",
	  "N", "open client connections at once (each has its own thread)" },
	{ "log-level", "KILN_LOG_LEVEL", T_LEVEL, F(log_level), 0, "info", "LEVEL",
	  "error, warn, info or debug" },
	{ "multitenant", "KILN_MULTITENANT", T_BOOL, F(multitenant), 0, "false", "BOOL",
	  "honour X-Scope-OrgID (else every request is tenant \"anonymous\")" },
	{ "auth", "KILN_AUTH", T_BOOL, F(auth), 0, "false", "BOOL",
	  "require a token (turned on by any configured token)" },
	{ "tls-cert", "KILN_TLS_CERT", T_STR, F(tls_cert), 0, "", "FILE",
	  "PEM certificate chain; with --tls-key the server speaks HTTPS only" },
	{ "tls-key", "KILN_TLS_KEY", T_STR, F(tls_key), 0, "", "FILE", "PEM private key" },
	{ "self-profile", "KILN_SELF_PROFILE", T_BOOL, F(self_profile), 0, "true", "BOOL",
	  "profile the server into its own store as kiln-server (needs libkiln)" },
	{ "max-request-bytes", "KILN_MAX_REQUEST_BYTES", T_SIZE, F(max_request_bytes), 0, "16MiB",
	  "SIZE", "request body as sent, before decompression (413 above)" },
	{ "max-profile-bytes", "KILN_MAX_PROFILE_BYTES", T_SIZE, F(limits.max_profile), 0, "4MiB",
	  "SIZE", "one profile after decompression (413 above)" },
	{ "max-body-bytes", "KILN_MAX_BODY_BYTES", T_SIZE, F(limits.max_body), 0, "16MiB", "SIZE",
	  "a request body after decompression (gzip bombs stop here, 413)" },
	{ "max-samples", "KILN_MAX_SAMPLES", T_UINT, F(limits.max_samples), 0, "100000", "N",
	  "samples per profile (400 above)" },
	{ "max-stack-depth", "KILN_MAX_STACK_DEPTH", T_UINT, F(limits.max_depth), 0, "1000", "N",
	  "frames per stack; deeper stacks are truncated" },
	{ "max-labels", "KILN_MAX_LABELS", T_UINT, F(limits.max_labels), 0, "30", "N",
	  "labels per series (400 above)" },
	{ "max-label-name-length", "KILN_MAX_LABEL_NAME_LENGTH", T_UINT, F(limits.max_name_len), 0,
	  "1024", "N", "bytes of a label name (400 above)" },
	{ "max-label-value-length", "KILN_MAX_LABEL_VALUE_LENGTH", T_UINT,
	  F(limits.max_value_len), 0, "2048", "N", "bytes of a label value (400 above)" },
	{ "max-parts", "KILN_MAX_PARTS", T_UINT, F(limits.max_parts), 0, "16", "N",
	  "parts of a multipart body (400 above)" },
	{ "ingest-rate", "KILN_INGEST_RATE", T_SIZE, F(ingest_rate_bytes), 0, "0", "SIZE",
	  "ingest body bytes per second per tenant, 0 = unlimited (429 above)" },
	{ "ingest-burst", "KILN_INGEST_BURST", T_SIZE, F(ingest_burst_bytes), 0, "0", "SIZE",
	  "rate limiter bucket size; 0 = 4 x --ingest-rate" },
	{ "max-series", "KILN_MAX_SERIES", T_UINT, F(store.max_series), 0, "100000", "N",
	  "series per tenant (429 for new series above)" },
	{ "memory-limit", "KILN_MEMORY_LIMIT", T_SIZE, F(store.memory_limit), 0, "256MiB", "SIZE",
	  "in-memory (head) data before it is cut into a block" },
	{ "block-span", "KILN_BLOCK_SPAN", T_DURATION, F(store.block_span_ns), 0, "2h", "DURATION",
	  "time span of the head before it is cut into a block" },
	{ "retention", "KILN_RETENTION", T_DURATION, F(store.retention_ns), 0, "0", "DURATION",
	  "delete blocks older than this; 0 = keep forever" },
	{ "retention-size", "KILN_RETENTION_SIZE", T_SIZE, F(store.retention_bytes), 0, "0", "SIZE",
	  "delete the oldest blocks above this size on disk; 0 = no limit" },
	{ "min-free-disk", "KILN_MIN_FREE_DISK", T_SIZE, F(store.min_free_bytes), 0, "64MiB",
	  "SIZE", "refuse ingest (507) when the disk has less free space" },
	{ "query-memory-limit", "KILN_QUERY_MEMORY_LIMIT", T_SIZE, F(store.query_memory_limit), 0,
	  "512MiB", "SIZE", "memory one query may hold (422 above)" },
	{ "sync", "KILN_SYNC", T_SYNC, F(store.sync), 0, "fsync", "MODE",
	  "fsync (acknowledged once on disk), write (survives kill -9) or none" },
	{ "max-nodes-default", "KILN_MAX_NODES_DEFAULT", T_UINT, F(max_nodes_default), 0, "8192",
	  "N", "flame graph nodes when a query gives no maxNodes" },
	{ "max-nodes-limit", "KILN_MAX_NODES_LIMIT", T_UINT, F(max_nodes_limit), 0, "65536", "N",
	  "largest maxNodes a query may ask for" },
	{ "default-range", "KILN_DEFAULT_RANGE", T_DURATION, F(default_range_ns), 0, "1h",
	  "DURATION", "query range when a query gives no from" },
};

#undef F

static const char *const level_names[] = { "error", "warn", "info", "debug" };

int kl_log_level_parse(const char *s, enum kl_log_level *out)
{
	for (size_t i = 0; i < KL_ARRAY_SIZE(level_names); i++) {
		if (s && !strcasecmp(s, level_names[i])) {
			*out = (enum kl_log_level)i;
			return 0;
		}
	}
	return -KL_EUSAGE;
}

static char *xstrdup(const char *s)
{
	return kl_strndup(s, strlen(s));
}

/* A unit suffix and what one of it is worth. */
struct unit {
	const char *name;
	uint64_t mult;
};

static const struct unit size_units[] = {
	{ "", 1 }, { "b", 1 },
	{ "k", 1000ULL }, { "kb", 1000ULL }, { "ki", 1ULL << 10 }, { "kib", 1ULL << 10 },
	{ "m", 1000000ULL }, { "mb", 1000000ULL }, { "mi", 1ULL << 20 }, { "mib", 1ULL << 20 },
	{ "g", 1000000000ULL }, { "gb", 1000000000ULL }, { "gi", 1ULL << 30 },
	{ "gib", 1ULL << 30 }, { "t", 1000000000000ULL }, { "tb", 1000000000000ULL },
	{ "ti", 1ULL << 40 }, { "tib", 1ULL << 40 },
};

/* Durations in ns; a plain number is seconds; "m" is minutes (case matters: no months). */
static const struct unit time_units[] = {
	{ "", 1000000000ULL }, { "ns", 1 }, { "us", 1000 }, { "ms", 1000000 },
	{ "s", 1000000000ULL }, { "m", 60000000000ULL }, { "min", 60000000000ULL },
	{ "h", 3600000000000ULL }, { "d", 86400000000000ULL }, { "w", 604800000000000ULL },
	{ "y", 31536000000000000ULL },
};

/*
 * Parses "<digits>[ ]<unit>" with a unit of the table (sizes ignore case)
 * into at most max. 0 or -KL_EUSAGE.
 */
static int parse_scaled(const char *s, const struct unit *units, size_t nunits, bool nocase,
			uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!isdigit((unsigned char)*s))
		return -KL_EUSAGE;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -KL_EUSAGE;
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < nunits; i++) {
		if (nocase ? strcasecmp(end, units[i].name) : strcmp(end, units[i].name))
			continue;
		if (v > max / units[i].mult)
			return -KL_EUSAGE;
		*out = v * units[i].mult;
		return 0;
	}
	return -KL_EUSAGE;
}

/* "123", "16MiB", "10GB", "512k" into bytes. */
static int parse_size(const char *s, uint64_t *out)
{
	return parse_scaled(s, size_units, KL_ARRAY_SIZE(size_units), true, UINT64_MAX, out);
}

/* "90s", "500ms", "2h", "30d", "1w", "1y" or plain seconds into ns. */
static int parse_duration(const char *s, int64_t *out)
{
	uint64_t v;
	int rc = parse_scaled(s, time_units, KL_ARRAY_SIZE(time_units), false, INT64_MAX, &v);

	if (!rc)
		*out = (int64_t)v;
	return rc;
}

static int parse_bool(const char *s, bool *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < KL_ARRAY_SIZE(yes); i++) {
		if (!strcasecmp(s, yes[i])) {
			*out = true;
			return 0;
		}
		if (!strcasecmp(s, no[i])) {
			*out = false;
			return 0;
		}
	}
	return -KL_EUSAGE;
}

static void store_uint(void *field, size_t width, uint64_t v)
{
	if (width == sizeof(uint32_t)) {
		uint32_t u = (uint32_t)v;

		memcpy(field, &u, sizeof(u));
	} else {
		memcpy(field, &v, sizeof(v));
	}
}

/*
 * Sets setting s of c from text val; src says where val came from
 * ("--flag", "KILN_X", "file.yaml:3") for the message.
 */
static int set_value(struct kl_config *c, const struct setting *s, const char *val,
		     const char *src, struct kl_err *err)
{
	void *field = (char *)c + s->off;
	const char *expect = NULL;
	uint64_t u = 0, max = s->max;
	int64_t d;
	bool b;
	char *str, *end;

	if (!max)
		max = s->width == sizeof(uint32_t) ? UINT32_MAX : UINT64_MAX;
	switch (s->type) {
	case T_STR:
	case T_LEVEL:
		if (s->type == T_LEVEL) {
			enum kl_log_level lvl;

			if (kl_log_level_parse(val, &lvl)) {
				expect = "error, warn, info or debug";
				break;
			}
		}
		str = *val ? xstrdup(val) : NULL;
		if (*val && !str)
			return kl_errf(err, -ENOMEM, "out of memory");
		kl_free(*(char **)field);
		*(char **)field = str;
		return 0;
	case T_UINT:
		errno = 0;
		u = strtoull(val, &end, 10);
		if (!isdigit((unsigned char)*val) || *end || errno) {
			expect = "a whole number";
			break;
		}
		if (u > max)
			return kl_errf(err, -KL_EUSAGE, "%s: bad value '%.100s' for %s: at most "
				       "%llu", src, val, s->flag, (unsigned long long)max);
		store_uint(field, s->width, u);
		return 0;
	case T_SIZE:
		if (parse_size(val, &u) || u > max) {
			expect = "a size such as 4096, 64KiB, 16MiB or 10GB";
			break;
		}
		store_uint(field, s->width, u);
		return 0;
	case T_DURATION:
		if (parse_duration(val, &d)) {
			expect = "a duration such as 90s, 500ms, 2h, 30d or 1w";
			break;
		}
		*(int64_t *)field = d;
		return 0;
	case T_BOOL:
		if (parse_bool(val, &b)) {
			expect = "true or false";
			break;
		}
		*(bool *)field = b;
		return 0;
	case T_SYNC:
		if (!strcmp(val, "fsync"))
			*(enum kl_store_sync *)field = KL_STORE_SYNC_FSYNC;
		else if (!strcmp(val, "write"))
			*(enum kl_store_sync *)field = KL_STORE_SYNC_WRITE;
		else if (!strcmp(val, "none"))
			*(enum kl_store_sync *)field = KL_STORE_SYNC_NONE;
		else
			expect = "fsync, write or none";
		if (!expect)
			return 0;
		break;
	}
	return kl_errf(err, -KL_EUSAGE, "%s: bad value '%.100s' for %s: expected %s", src, val,
		       s->flag, expect);
}

void kl_config_init(struct kl_config *c)
{
	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < KL_ARRAY_SIZE(settings); i++) {
		/* the defaults are valid by construction; only ENOMEM could fail */
		(void)set_value(c, &settings[i], settings[i].def, "default", NULL);
	}
}

/* Finds a setting by flag name or YAML key ('_' and '-' both accepted). */
static const struct setting *find_setting(const char *name, size_t len)
{
	for (size_t i = 0; i < KL_ARRAY_SIZE(settings); i++) {
		const char *f = settings[i].flag;
		size_t j;

		if (strlen(f) != len)
			continue;
		for (j = 0; j < len; j++) {
			char a = name[j] == '_' ? '-' : name[j];

			if (a != f[j])
				break;
		}
		if (j == len)
			return &settings[i];
	}
	return NULL;
}

static int add_token(struct kl_config *c, const char *secret, const char *tenant,
		     unsigned rights, struct kl_err *err)
{
	struct kl_token *v, *t;

	v = kl_reallocarray(c->tokens, c->ntokens + 1, sizeof(*v));
	if (!v)
		return kl_errf(err, -ENOMEM, "out of memory");
	c->tokens = v;
	t = &v[c->ntokens];
	t->secret = xstrdup(secret);
	t->tenant = xstrdup(tenant);
	t->rights = rights;
	if (!t->secret || !t->tenant) {
		kl_free(t->secret);
		kl_free(t->tenant);
		return kl_errf(err, -ENOMEM, "out of memory");
	}
	c->ntokens++;
	return 0;
}

/* "ingest", "read", "all", or a comma list of them, into *rights. */
static int parse_rights(const char *s, unsigned *rights)
{
	const char *p = s;

	while (*p) {
		size_t n = strcspn(p, ", ");

		if (n == 6 && !strncmp(p, "ingest", 6))
			*rights |= KL_RIGHT_INGEST;
		else if (n == 4 && !strncmp(p, "read", 4))
			*rights |= KL_RIGHT_READ;
		else if (n == 3 && !strncmp(p, "all", 3))
			*rights |= KL_RIGHT_INGEST | KL_RIGHT_READ;
		else if (n)
			return -KL_EUSAGE;
		p += n;
		p += strspn(p, ", ");
	}
	return 0;
}

/* ---- YAML --------------------------------------------------------------------- */

struct yctx {
	const char *file;
	yaml_document_t *doc;
	struct kl_err *err;
};

static const char *yscalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static int yerr(struct yctx *y, yaml_node_t *n, const char *what)
{
	return kl_errf(y->err, -KL_EUSAGE, "%s:%zu: %s", y->file,
		       n ? (size_t)n->start_mark.line + 1 : (size_t)0, what);
}

/* One entry of tokens: {secret|user+password, tenant, rights}. */
static int yaml_token(struct kl_config *c, struct yctx *y, yaml_node_t *n)
{
	const char *secret = NULL, *user = NULL, *password = NULL, *tenant = "anonymous";
	char pair[1024];
	unsigned rights = 0;

	if (n->type != YAML_MAPPING_NODE)
		return yerr(y, n, "tokens: each entry must be a mapping with secret, tenant, rights");
	for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(y->doc, p->key);
		yaml_node_t *v = yaml_document_get_node(y->doc, p->value);
		const char *key = yscalar(k), *val = yscalar(v);

		if (!key)
			return yerr(y, k, "tokens: keys must be plain names");
		if (!strcmp(key, "rights") && v && v->type == YAML_SEQUENCE_NODE) {
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				const char *r = yscalar(yaml_document_get_node(y->doc, *it));

				if (!r || parse_rights(r, &rights))
					return yerr(y, v, "tokens: rights are ingest, read or all");
			}
			continue;
		}
		if (!val)
			return yerr(y, v, "tokens: values must be scalars");
		if (!strcmp(key, "secret"))
			secret = val;
		else if (!strcmp(key, "user"))
			user = val;
		else if (!strcmp(key, "password"))
			password = val;
		else if (!strcmp(key, "tenant"))
			tenant = val;
		else if (!strcmp(key, "rights")) {
			if (parse_rights(val, &rights))
				return yerr(y, v, "tokens: rights are ingest, read or all");
		} else {
			return yerr(y, k, "tokens: unknown key (secret, user, password, tenant, "
				    "rights)");
		}
	}
	if (user || password) {
		if (!user || !password || secret)
			return yerr(y, n, "tokens: give either secret, or user and password");
		if ((size_t)snprintf(pair, sizeof(pair), "%s:%s", user, password) >= sizeof(pair))
			return yerr(y, n, "tokens: user and password too long");
		secret = pair;
	}
	if (!secret || !*secret)
		return yerr(y, n, "tokens: an entry has no secret");
	if (strlen(secret) < 8)
		return yerr(y, n, "tokens: a secret must have at least 8 characters");
	if (!rights)
		return yerr(y, n, "tokens: an entry has no rights (ingest, read or all)");
	if (strcmp(tenant, "*") && kl_tenant_validate(tenant, NULL))
		return yerr(y, n, "tokens: bad tenant id");
	return add_token(c, secret, tenant, rights, y->err);
}

static int load_yaml(struct kl_config *c, const char *file, struct kl_err *err)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root;
	struct yctx y = { file, &doc, err };
	FILE *f;
	int rc = 0;

	f = fopen(file, "r");
	if (!f)
		return kl_errf(err, -KL_EUSAGE, "--config: cannot open '%s': %s", file,
			       strerror(errno));
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return kl_errf(err, -ENOMEM, "out of memory");
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = kl_errf(err, -KL_EUSAGE, "%s:%zu: bad YAML: %s", file,
			     (size_t)parser.problem_mark.line + 1,
			     parser.problem ? parser.problem : "syntax error");
		yaml_parser_delete(&parser);
		fclose(f);
		return rc;
	}
	root = yaml_document_get_root_node(&doc);
	if (!root)
		goto out;	/* an empty file is an empty configuration */
	if (root->type != YAML_MAPPING_NODE) {
		rc = yerr(&y, root, "the configuration must be a mapping of setting: value");
		goto out;
	}
	for (yaml_node_pair_t *p = root->data.mapping.pairs.start;
	     p < root->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(&doc, p->key);
		yaml_node_t *v = yaml_document_get_node(&doc, p->value);
		const char *key = yscalar(k), *val = yscalar(v);
		const struct setting *s;
		char src[300];

		if (!key) {
			rc = yerr(&y, k, "keys must be setting names");
			goto out;
		}
		if (!strcmp(key, "tokens")) {
			if (!v || v->type != YAML_SEQUENCE_NODE) {
				rc = yerr(&y, v, "tokens must be a list");
				goto out;
			}
			for (yaml_node_item_t *it = v->data.sequence.items.start;
			     it < v->data.sequence.items.top; it++) {
				rc = yaml_token(c, &y, yaml_document_get_node(&doc, *it));
				if (rc)
					goto out;
			}
			continue;
		}
		s = find_setting(key, strlen(key));
		if (!s || !strcmp(s->flag, "config")) {
			snprintf(src, sizeof(src), "unknown setting '%.200s' (see kiln server "
				 "--help)", key);
			rc = yerr(&y, k, src);
			goto out;
		}
		if (!val) {
			rc = yerr(&y, v, "values must be scalars");
			goto out;
		}
		snprintf(src, sizeof(src), "%s:%zu", file, (size_t)k->start_mark.line + 1);
		rc = set_value(c, s, val, src, err);
		if (rc)
			goto out;
	}
out:
	yaml_document_delete(&doc);
	yaml_parser_delete(&parser);
	fclose(f);
	return rc;
}

/* ---- environment and flags ---------------------------------------------------- */

static const char *env_get(const char *const *envp, const char *name)
{
	size_t n = strlen(name);

	for (; envp && *envp; envp++) {
		if (!strncmp(*envp, name, n) && (*envp)[n] == '=')
			return *envp + n + 1;
	}
	return NULL;
}

static const struct {
	const char *var;
	unsigned rights;
} env_tokens[] = {
	{ "KILN_INGEST_TOKEN", KL_RIGHT_INGEST },
	{ "KILN_READ_TOKEN", KL_RIGHT_READ },
};

static int load_env(struct kl_config *c, const char *const *envp, struct kl_err *err)
{
	const char *v;
	int rc;

	for (size_t i = 0; i < KL_ARRAY_SIZE(settings); i++) {
		if (!strcmp(settings[i].flag, "config"))
			continue;
		v = env_get(envp, settings[i].env);
		if (v) {
			rc = set_value(c, &settings[i], v, settings[i].env, err);
			if (rc)
				return rc;
		}
	}
	/* the environment's tokens act for the tenant X-Scope-OrgID names, or anonymous */
	for (size_t i = 0; i < KL_ARRAY_SIZE(env_tokens); i++) {
		v = env_get(envp, env_tokens[i].var);
		if (!v || !*v)
			continue;
		if (strlen(v) < 8)
			return kl_errf(err, -KL_EUSAGE, "%s: a token must have at least 8 "
				       "characters", env_tokens[i].var);
		rc = add_token(c, v, "*", env_tokens[i].rights, err);
		if (rc)
			return rc;
	}
	return 0;
}

/*
 * Splits argv[i] into a setting and its value (from "--x=v" or the next
 * argument). *i advances past what was used.
 */
static int next_flag(int argc, const char **argv, int *i, const struct setting **s,
		     const char **val, char *src, size_t srclen, struct kl_err *err)
{
	const char *a = argv[*i], *eq;
	size_t len;

	if (a[0] != '-' || !a[1])
		return kl_errf(err, -KL_EUSAGE, "unexpected argument '%.100s' (kiln server takes "
			       "only flags)", a);
	a += a[1] == '-' ? 2 : 1;
	eq = strchr(a, '=');
	len = eq ? (size_t)(eq - a) : strlen(a);
	*s = find_setting(a, len);
	if (!*s || memchr(a, '_', len))
		return kl_errf(err, -KL_EUSAGE, "unknown flag '%.100s' (see kiln server --help)",
			       argv[*i]);
	snprintf(src, srclen, "--%s", (*s)->flag);
	if (eq) {
		*val = eq + 1;
	} else if ((*s)->type == T_BOOL) {
		*val = "true";
	} else if (*i + 1 < argc) {
		*val = argv[++*i];
	} else {
		return kl_errf(err, -KL_EUSAGE, "--%s needs a value", (*s)->flag);
	}
	(*i)++;
	return 0;
}

static int load_flags(struct kl_config *c, int argc, const char **argv, bool only_config,
		      struct kl_err *err)
{
	const struct setting *s = NULL;
	const char *val = NULL;
	char src[128];
	int i = 0, rc;

	while (i < argc) {
		rc = next_flag(argc, argv, &i, &s, &val, src, sizeof(src), err);
		if (rc)
			return rc;
		if (only_config != !strcmp(s->flag, "config"))
			continue;
		rc = set_value(c, s, val, src, err);
		if (rc)
			return rc;
	}
	return 0;
}

/* Checks that the settings make sense together. */
static int validate(struct kl_config *c, struct kl_err *err)
{
	const char *colon;
	char *end;
	unsigned long port;

	colon = c->listen ? strrchr(c->listen, ':') : NULL;
	if (!colon)
		return kl_errf(err, -KL_EUSAGE, "listen: '%s' is not HOST:PORT",
			       c->listen ? c->listen : "");
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || errno || port > 65535)
		return kl_errf(err, -KL_EUSAGE, "listen: bad port in '%s'", c->listen);
	if (!c->data_dir)
		return kl_errf(err, -KL_EUSAGE, "data-dir: must not be empty");
	if (!c->tls_cert != !c->tls_key)
		return kl_errf(err, -KL_EUSAGE, "tls-cert and tls-key must be given together");
	if (c->ntokens)
		c->auth = true;
	if (c->auth && !c->ntokens)
		return kl_errf(err, -KL_EUSAGE, "auth: on, but no token is configured (tokens: "
			       "in --config, KILN_INGEST_TOKEN, KILN_READ_TOKEN)");
	if (c->max_nodes_default > c->max_nodes_limit)
		return kl_errf(err, -KL_EUSAGE, "max-nodes-default (%u) is above max-nodes-limit "
			       "(%u)", c->max_nodes_default, c->max_nodes_limit);
	if (c->max_request_bytes < 1024)
		return kl_errf(err, -KL_EUSAGE, "max-request-bytes: at least 1KiB");
	if (c->ingest_rate_bytes && !c->ingest_burst_bytes)
		c->ingest_burst_bytes = c->ingest_rate_bytes > UINT64_MAX / 4 ?
			UINT64_MAX : c->ingest_rate_bytes * 4;
	if (!c->max_connections)
		return kl_errf(err, -KL_EUSAGE, "max-connections: at least 1");
	return 0;
}

int kl_config_load(struct kl_config *c, int argc, const char **argv, const char *const *envp,
		   struct kl_err *err)
{
	const char *file;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--"))
			return kl_errf(err, -KL_EUSAGE, "unexpected argument '--'");
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help") ||
		    !strcmp(argv[i], "-help"))
			return 1;
	}
	/* the file comes first, whether named by the flag or the variable */
	rc = load_flags(c, argc, argv, true, err);
	if (rc)
		return rc;
	file = c->config_file ? c->config_file : env_get(envp, "KILN_CONFIG");
	if (file && *file) {
		if (!c->config_file) {
			c->config_file = xstrdup(file);
			if (!c->config_file)
				return kl_errf(err, -ENOMEM, "out of memory");
		}
		rc = load_yaml(c, c->config_file, err);
		if (rc)
			return rc;
	}
	rc = load_env(c, envp, err);
	if (!rc)
		rc = load_flags(c, argc, argv, false, err);
	if (!rc)
		rc = validate(c, err);
	return rc;
}

void kl_config_usage(struct kl_buf *out)
{
	kl_buf_addstr(out,
		"usage: kiln server [--SETTING VALUE | --SETTING=VALUE]...\n\n"
		"Runs Kiln's profile server: Pyroscope-compatible ingest (/ingest, Connect Push),\n"
		"the query API (/pyroscope/render ...), /healthz, /ready and /metrics.\n\n"
		"Every setting can be given as a flag, as a KILN_* environment variable or as a\n"
		"key of the YAML file named by --config (the flag name, '-' or '_'); flags win\n"
		"over the environment, which wins over the file. Sizes take units (KiB, MiB,\n"
		"GiB binary; KB, MB, GB decimal), durations take ms, s, m, h, d, w, y.\n"
		"Booleans: true/false (a bare --flag means true).\n\n"
		"settings:\n");
	for (size_t i = 0; i < KL_ARRAY_SIZE(settings); i++) {
		const struct setting *s = &settings[i];

		kl_buf_addf(out, "  --%s %s\n      %s\n      env %s, default %s\n", s->flag,
			    s->arg, s->help, s->env, *s->def ? s->def : "(none)");
	}
	kl_buf_addstr(out,
		"\nauthentication (docs/server.md):\n"
		"  Off by default. Any token turns it on: a YAML list\n"
		"    tokens:\n"
		"      - { secret: S3CRET-TOKEN, tenant: team-a, rights: [ingest, read] }\n"
		"      - { user: alice, password: PASSWORD, tenant: team-b, rights: read }\n"
		"  or KILN_INGEST_TOKEN / KILN_READ_TOKEN (tenant from X-Scope-OrgID or\n"
		"  \"anonymous\"). Clients send 'Authorization: Bearer TOKEN' or basic auth\n"
		"  (any user with the token as password, or the configured user:password).\n"
		"  Tokens are not accepted as flags: command lines are visible to other users.\n\n"
		"signals: SIGINT or SIGTERM stops the server cleanly (exit 0).\n");
}

void kl_config_release(struct kl_config *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < KL_ARRAY_SIZE(settings); i++) {
		if (settings[i].type == T_STR || settings[i].type == T_LEVEL) {
			char **p = (char **)((char *)c + settings[i].off);

			kl_free(*p);
			*p = NULL;
		}
	}
	for (size_t i = 0; i < c->ntokens; i++) {
		kl_free(c->tokens[i].secret);
		kl_free(c->tokens[i].tenant);
	}
	kl_free(c->tokens);
	c->tokens = NULL;
	c->ntokens = 0;
}
