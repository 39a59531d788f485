/* SPDX-License-Identifier: Apache-2.0 */
/*
 * selector.h - query selectors of the render and label endpoints:
 *
 *   <profile type id>{label="v", l2!="x", l3=~"re", l4!~"re"}
 *   process_cpu:cpu:nanoseconds:cpu:nanoseconds{service_name="api"}
 *   api.cpu{env="prod"}                       (the old app.suffix form)
 *   {service_name="api"}                      (no metric)
 *
 * The metric is a __profile_type__ when it contains ':' (it must have the
 * five parts name:type:unit:period_type:period_unit, parts may be empty);
 * otherwise it is an app name with a type suffix, mapped as /ingest maps
 * text uploads (ingest_type.c): service_name="api" plus the profile type
 * of the suffix (no dot = cpu). Values are quoted as in PromQL: "..." and
 * '...' with Go escapes (\n \t \\ \" \' \xHH \uHHHH ...), `...` raw.
 * Matching follows PromQL: a missing label has the value "", regexes are
 * PCRE2 and anchored at both ends.
 */
#ifndef KL_SELECTOR_H
#define KL_SELECTOR_H

#include "ingest.h"

enum kl_match_op {
	KL_MATCH_EQ,		/* =  */
	KL_MATCH_NEQ,		/* != */
	KL_MATCH_RE,		/* =~ */
	KL_MATCH_NRE,		/* !~ */
};

struct kl_matcher {
	char *name;		/* owned */
	char *value;		/* owned, unescaped */
	enum kl_match_op op;
	void *re;		/* pcre2_code * for =~ and !~, owned; NULL otherwise */
};

struct kl_selector {
	struct kl_matcher *m;	/* in the order written; the metric's matchers first */
	size_t n, cap;
};

/*
 * Parses s into *out (which must be zeroed). Errors (400) say where and
 * what: bad label name, unknown operator, unterminated string, bad escape,
 * bad regex (with PCRE2's message), a profile type id without 5 parts,
 * an unknown app suffix, or an empty selector. At most 64 matchers.
 * On failure *out is left empty.
 */
int kl_selector_parse(const char *s, struct kl_selector *out, struct kl_http_err *err);

/* True if every matcher accepts ls. Thread-safe: sel is only read. */
bool kl_selector_match(const struct kl_selector *sel, const struct kl_labels *ls);

/* The value of the first = matcher on name, borrowed, or NULL. */
const char *kl_selector_get_eq(const struct kl_selector *sel, const char *name);

/* Frees the matchers; *sel is left empty. */
void kl_selector_release(struct kl_selector *sel);

/*
 * The time range of a query: from/until as kl_parse_time takes them; a
 * missing from is until minus default_range_ns, a missing until is now.
 * 400 when until is before from.
 */
int kl_query_range(const char *from, const char *until, int64_t now_ns, int64_t default_range_ns,
		   int64_t *from_ns, int64_t *until_ns, struct kl_http_err *err);

#endif /* KL_SELECTOR_H */
