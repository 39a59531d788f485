/* SPDX-License-Identifier: Apache-2.0 */
/*
 * auth.c - who a request is and what it may touch: bearer tokens or basic
 * auth resolved to a tenant and rights (secrets compared in constant time),
 * the tenant from X-Scope-OrgID, and per-tenant token buckets that cap the
 * ingest rate. Everything here is a pure function of the configuration and
 * the headers, except the buckets, which sit behind one mutex.
 */
#include <pthread.h>
#include <string.h>
#include <strings.h>

#include "../core/buf.h"
#include "../core/hindex.h"
#include "server.h"

static const char anonymous[] = "anonymous";

/*
 * Constant-time comparison of a candidate against a secret: the time
 * depends only on the secret's length, never on where they differ.
 */
static bool secret_equal(const char *secret, const char *cand, size_t cand_len)
{
	size_t n = strlen(secret);
	unsigned char diff = (unsigned char)(n != cand_len);

	for (size_t i = 0; i < n; i++)
		diff |= (unsigned char)secret[i] ^ (unsigned char)(cand_len ? cand[i % cand_len] : 0);
	return diff == 0;
}

/* Finds the token matching cand (every token is compared: no early exit). */
static const struct kl_token *find_token(const struct kl_config *cfg, const char *cand,
					 size_t len)
{
	const struct kl_token *hit = NULL;

	for (size_t i = 0; i < cfg->ntokens; i++) {
		if (secret_equal(cfg->tokens[i].secret, cand, len) && !hit)
			hit = &cfg->tokens[i];
	}
	return hit;
}

/* The token of a Basic header: "user:password" configured as such, or any user with a token. */
static const struct kl_token *basic_token(const struct kl_config *cfg, const char *b64)
{
	struct kl_buf dec = KL_BUF_INIT;
	const struct kl_token *t = NULL;
	const char *colon;

	kl_buf_init(&dec, 4096);
	if (kl_base64_decode(b64, strlen(b64), &dec) || !dec.len)
		goto out;
	t = find_token(cfg, dec.data, dec.len);
	if (!t) {
		colon = memchr(dec.data, ':', dec.len);
		if (colon)
			t = find_token(cfg, colon + 1, dec.len - (size_t)(colon + 1 - dec.data));
	}
out:
	kl_buf_release(&dec);
	return t;
}

int kl_auth_resolve(const struct kl_config *cfg, const char *authorization, const char *org_id,
		    unsigned right, const char **tenant, struct kl_http_err *err)
{
	const struct kl_token *t = NULL;
	const char *p;
	int rc;

	*tenant = anonymous;
	if (org_id && !*org_id)
		org_id = NULL;
	if (right && cfg->auth) {
		if (!authorization)
			return kl_http_errf(err, -EACCES, 401, "authentication required: send "
					    "'Authorization: Bearer <token>' or basic auth");
		p = authorization + strspn(authorization, " ");
		if (!strncasecmp(p, "bearer ", 7)) {
			p += 7;
			p += strspn(p, " ");
			t = find_token(cfg, p, strlen(p));
		} else if (!strncasecmp(p, "basic ", 6)) {
			p += 6;
			t = basic_token(cfg, p + strspn(p, " "));
		}
		if (!t)
			return kl_http_errf(err, -EACCES, 401, "invalid credentials");
		if (!(t->rights & right))
			return kl_http_errf(err, -EPERM, 403, "this token may not %s",
					    right == KL_RIGHT_INGEST ? "ingest" : "read");
		if (strcmp(t->tenant, "*")) {
			if (org_id && strcmp(org_id, t->tenant))
				return kl_http_errf(err, -EPERM, 403, "X-Scope-OrgID does not match "
						    "the token's tenant");
			*tenant = t->tenant;
			return 0;
		}
	}
	if (!right || !cfg->multitenant || !org_id)
		return 0;
	rc = kl_tenant_validate(org_id, err);
	if (rc)
		return rc;
	*tenant = org_id;
	return 0;
}

/* ---- per-tenant rate limit ---------------------------------------------------- */

struct bucket {
	char *tenant;
	double tokens;		/* bytes that may be sent now; negative = debt */
	int64_t last_ns;
};

struct kl_ratelimit {
	pthread_mutex_t mu;
	double rate, burst;
	struct bucket *v;
	size_t n, cap;
	struct kl_hindex ix;
};

int kl_ratelimit_new(uint64_t rate, uint64_t burst, struct kl_ratelimit **out)
{
	struct kl_ratelimit *rl = kl_calloc(1, sizeof(*rl));

	*out = NULL;
	if (!rl)
		return -ENOMEM;
	if (kl_hindex_init(&rl->ix, 0)) {
		kl_free(rl);
		return -ENOMEM;
	}
	pthread_mutex_init(&rl->mu, NULL);
	rl->rate = (double)rate;
	rl->burst = (double)(burst ? burst : rate * 4);
	*out = rl;
	return 0;
}

void kl_ratelimit_free(struct kl_ratelimit *rl)
{
	if (!rl)
		return;
	for (size_t i = 0; i < rl->n; i++)
		kl_free(rl->v[i].tenant);
	kl_free(rl->v);
	kl_hindex_release(&rl->ix);
	pthread_mutex_destroy(&rl->mu);
	kl_free(rl);
}

/* The tenant's bucket, created full; NULL on out of memory. Called locked. */
static struct bucket *bucket_get(struct kl_ratelimit *rl, const char *tenant, int64_t now_ns)
{
	size_t len = strlen(tenant);
	uint64_t h = kl_hash(tenant, len);
	struct kl_hindex_probe p;
	struct bucket *b;
	uint32_t idx;

	for (idx = kl_hindex_first(&rl->ix, h, &p); idx != KL_HINDEX_NONE;
	     idx = kl_hindex_next(&rl->ix, &p)) {
		if (!strcmp(rl->v[idx].tenant, tenant))
			return &rl->v[idx];
	}
	if (rl->n >= KL_HINDEX_MAX_INDEX || KL_GROW(rl->v, rl->cap, rl->n + 1))
		return NULL;
	b = &rl->v[rl->n];
	b->tenant = kl_strndup(tenant, len);
	if (!b->tenant || kl_hindex_insert_at(&rl->ix, &p, (uint32_t)rl->n)) {
		kl_free(b->tenant);
		return NULL;
	}
	b->tokens = rl->burst;
	b->last_ns = now_ns;
	rl->n++;
	return b;
}

bool kl_ratelimit_take(struct kl_ratelimit *rl, const char *tenant, uint64_t n, int64_t now_ns)
{
	struct bucket *b;
	bool ok = true;
	double need;

	if (!rl || rl->rate <= 0)
		return true;
	pthread_mutex_lock(&rl->mu);
	b = bucket_get(rl, tenant, now_ns);
	if (!b)
		goto out;	/* out of memory: do not refuse for our own failure */
	if (now_ns > b->last_ns) {
		b->tokens += rl->rate * (double)(now_ns - b->last_ns) / 1e9;
		if (b->tokens > rl->burst)
			b->tokens = rl->burst;
		b->last_ns = now_ns;
	}
	need = KL_MIN((double)n, rl->burst);
	if (b->tokens < need) {
		ok = false;
		goto out;
	}
	b->tokens -= (double)n;
out:
	pthread_mutex_unlock(&rl->mu);
	return ok;
}
