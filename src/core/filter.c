/* SPDX-License-Identifier: Apache-2.0 */
/*
 * filter.c - focus/ignore/hide/show and tag filters, with the semantics of
 * pprof's FilterSamplesByName and FilterSamplesByTag so that `kiln top
 * -focus X` and `go tool pprof -top -focus X` agree.
 *
 * Regexes are matched once per function and per mapping (not per sample):
 * a profile of millions of samples has only thousands of functions.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"

#define MAX_TAG_ALTERNATIVES 32

/* One tag filter: key (may be empty) and either regexes or a number range. */
struct tag_filter {
	char *key;
	pcre2_code *rx[MAX_TAG_ALTERNATIVES];
	int nrx;
	bool is_range;
	bool has_lo, has_hi;
	double lo, hi;		/* in base units (bytes, nanoseconds) */
	int unit_kind;		/* 0 none, 1 bytes, 2 time */
};

struct kl_filter {
	pcre2_code *focus, *ignore, *hide, *show;
	pcre2_match_data *md;
	struct tag_filter *tagfocus, *tagignore;
};

static int compile(const char *what, const char *pattern, pcre2_code **out, struct kl_err *err)
{
	PCRE2_UCHAR msg[256];
	PCRE2_SIZE off;
	int code;

	*out = NULL;
	if (!pattern || !*pattern)
		return 0;
	*out = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF, &code, &off,
			     NULL);
	if (!*out) {
		pcre2_get_error_message(code, msg, sizeof(msg));
		return kl_errf(err, -KL_EREGEX, "-%s: bad regular expression '%s' at offset %zu: %s",
			       what, pattern, (size_t)off, (const char *)msg);
	}
	pcre2_jit_compile(*out, PCRE2_JIT_COMPLETE);	/* optional speed-up */
	return 0;
}

static bool rx_match(pcre2_code *rx, pcre2_match_data *md, const char *s, size_t len)
{
	return pcre2_match(rx, (PCRE2_SPTR)s, len, 0, 0, md, NULL) >= 0;
}

/*
 * Parses "12", "1.5kb", "100ms" into base units. Returns the unit kind
 * (0 = no unit, 1 = bytes, 2 = time) or -1 if s is not a number.
 */
static int parse_quantity(const char *s, size_t len, double *out)
{
	static const struct {
		const char *suffix;
		int kind;
		double factor;
	} units[] = {
		{ "b", 1, 1 }, { "kb", 1, 1024.0 }, { "mb", 1, 1048576.0 },
		{ "gb", 1, 1073741824.0 }, { "tb", 1, 1099511627776.0 },
		{ "pb", 1, 1125899906842624.0 }, { "ns", 2, 1 }, { "us", 2, 1e3 },
		{ "ms", 2, 1e6 }, { "s", 2, 1e9 }, { "m", 2, 60e9 }, { "h", 2, 3600e9 },
	};
	char tmp[64], *end;
	double v;

	if (len == 0 || len >= sizeof(tmp))
		return -1;
	memcpy(tmp, s, len);
	tmp[len] = '\0';
	v = strtod(tmp, &end);
	if (end == tmp)
		return -1;
	if (*end == '\0') {
		*out = v;
		return 0;
	}
	for (size_t i = 0; i < KL_ARRAY_SIZE(units); i++) {
		if (!strcasecmp(end, units[i].suffix)) {
			*out = v * units[i].factor;
			return units[i].kind;
		}
	}
	return -1;
}

/* Unit kind and factor to base units of a numeric label's unit. */
static int label_unit(const char *unit, const char *key, double *factor)
{
	static const struct {
		const char *name;
		int kind;
		double factor;
	} units[] = {
		{ "bytes", 1, 1 }, { "byte", 1, 1 }, { "nanoseconds", 2, 1 }, { "ns", 2, 1 },
		{ "microseconds", 2, 1e3 }, { "us", 2, 1e3 }, { "milliseconds", 2, 1e6 },
		{ "ms", 2, 1e6 }, { "seconds", 2, 1e9 }, { "s", 2, 1e9 },
	};

	/* pprof's convention: an unlabelled "bytes" key is in bytes */
	if (!*unit && !strcmp(key, "bytes"))
		unit = "bytes";
	for (size_t i = 0; i < KL_ARRAY_SIZE(units); i++) {
		if (!strcmp(unit, units[i].name)) {
			*factor = units[i].factor;
			return units[i].kind;
		}
	}
	*factor = 1;
	return 0;
}

/* Tries "lo:hi", "lo:", ":hi" or "v" as a range. false if not a range. */
static bool parse_range(const char *s, struct tag_filter *tf)
{
	const char *colon = strchr(s, ':');
	int k1 = 0, k2 = 0;

	if (!colon) {
		k1 = parse_quantity(s, strlen(s), &tf->lo);
		if (k1 < 0)
			return false;
		tf->hi = tf->lo;
		tf->has_lo = tf->has_hi = true;
		tf->unit_kind = k1;
		return true;
	}
	if (strchr(colon + 1, ':'))
		return false;
	if (colon > s) {
		k1 = parse_quantity(s, (size_t)(colon - s), &tf->lo);
		if (k1 < 0)
			return false;
		tf->has_lo = true;
	}
	if (colon[1]) {
		k2 = parse_quantity(colon + 1, strlen(colon + 1), &tf->hi);
		if (k2 < 0)
			return false;
		tf->has_hi = true;
	}
	if (!tf->has_lo && !tf->has_hi)
		return false;
	if (tf->has_lo && tf->has_hi && k1 != k2)
		return false;
	tf->unit_kind = tf->has_lo ? k1 : k2;
	return true;
}

static void tag_filter_free(struct tag_filter *tf)
{
	if (!tf)
		return;
	for (int i = 0; i < tf->nrx; i++)
		pcre2_code_free(tf->rx[i]);
	kl_free(tf->key);
	kl_free(tf);
}

static int tag_filter_new(const char *what, const char *spec, struct tag_filter **out,
			  struct kl_err *err)
{
	struct tag_filter *tf;
	const char *eq, *value, *p;
	int rc = 0;

	*out = NULL;
	if (!spec || !*spec)
		return 0;
	tf = kl_calloc(1, sizeof(*tf));
	if (!tf)
		return -ENOMEM;
	eq = strchr(spec, '=');
	value = eq ? eq + 1 : spec;
	tf->key = kl_strndup(spec, eq ? (size_t)(eq - spec) : 0);
	if (!tf->key) {
		rc = -ENOMEM;
		goto out;
	}
	if (parse_range(value, tf)) {
		tf->is_range = true;
		goto out;
	}
	for (p = value;;) {
		const char *comma = strchr(p, ',');
		size_t n = comma ? (size_t)(comma - p) : strlen(p);
		char *pat;

		if (tf->nrx == MAX_TAG_ALTERNATIVES) {
			rc = kl_errf(err, -KL_EUSAGE, "-%s: more than %d alternatives", what,
				     MAX_TAG_ALTERNATIVES);
			goto out;
		}
		pat = kl_strndup(p, n);
		if (!pat) {
			rc = -ENOMEM;
			goto out;
		}
		rc = compile(what, pat, &tf->rx[tf->nrx], err);
		kl_free(pat);
		if (rc)
			goto out;
		if (tf->rx[tf->nrx])
			tf->nrx++;
		if (!comma)
			break;
		p = comma + 1;
	}
out:
	if (rc) {
		tag_filter_free(tf);
		return rc;
	}
	*out = tf;
	return 0;
}

int kl_filter_new(const struct kl_filter_opts *o, struct kl_filter **out, struct kl_err *err)
{
	struct kl_filter *f;
	int rc;

	*out = NULL;
	if (!(o->focus && *o->focus) && !(o->ignore && *o->ignore) && !(o->hide && *o->hide) &&
	    !(o->show && *o->show) && !(o->tagfocus && *o->tagfocus) &&
	    !(o->tagignore && *o->tagignore))
		return 0;
	f = kl_calloc(1, sizeof(*f));
	if (!f)
		return kl_errf(err, -ENOMEM, "out of memory");
	if ((rc = compile("focus", o->focus, &f->focus, err)) ||
	    (rc = compile("ignore", o->ignore, &f->ignore, err)) ||
	    (rc = compile("hide", o->hide, &f->hide, err)) ||
	    (rc = compile("show", o->show, &f->show, err)) ||
	    (rc = tag_filter_new("tagfocus", o->tagfocus, &f->tagfocus, err)) ||
	    (rc = tag_filter_new("tagignore", o->tagignore, &f->tagignore, err)))
		goto fail;
	f->md = pcre2_match_data_create(16, NULL);
	if (!f->md) {
		rc = kl_errf(err, -ENOMEM, "out of memory");
		goto fail;
	}
	*out = f;
	return 0;
fail:
	kl_filter_free(f);
	return rc;
}

void kl_filter_free(struct kl_filter *f)
{
	if (!f)
		return;
	pcre2_code_free(f->focus);
	pcre2_code_free(f->ignore);
	pcre2_code_free(f->hide);
	pcre2_code_free(f->show);
	pcre2_match_data_free(f->md);
	tag_filter_free(f->tagfocus);
	tag_filter_free(f->tagignore);
	kl_free(f);
}

/* Does the sample's label set satisfy tag filter tf? (pprof semantics) */
static bool tag_match(const struct kl_filter *f, const struct tag_filter *tf,
		      const struct kl_profile *p, const struct kl_sample *s)
{
	const struct kl_label *labels = kl_sample_labels(p, s);

	if (tf->is_range) {
		for (uint32_t i = 0; i < s->nlabels; i++) {
			const struct kl_label *l = &labels[i];
			const char *key = kl_profile_sget(p, l->key);
			double factor, v;
			int kind;

			if (l->str || (*tf->key && strcmp(key, tf->key)))
				continue;
			kind = label_unit(kl_profile_sget(p, l->num_unit), key, &factor);
			if (tf->unit_kind && kind != tf->unit_kind)
				continue;
			v = (double)l->num * (tf->unit_kind ? factor : 1);
			if ((!tf->has_lo || v >= tf->lo) && (!tf->has_hi || v <= tf->hi))
				return true;
		}
		return false;
	}
	if (*tf->key) {
		/* key=re1,re2: any regex matching any value of that key */
		for (uint32_t i = 0; i < s->nlabels; i++) {
			const struct kl_label *l = &labels[i];
			const char *val;

			if (!l->str || strcmp(kl_profile_sget(p, l->key), tf->key))
				continue;
			val = kl_profile_sget(p, l->str);
			for (int r = 0; r < tf->nrx; r++)
				if (rx_match(tf->rx[r], f->md, val, strlen(val)))
					return true;
		}
		return false;
	}
	/* re1,re2 without a key: every regex must match some "key:value" */
	for (int r = 0; r < tf->nrx; r++) {
		bool matched = false;

		for (uint32_t i = 0; i < s->nlabels && !matched; i++) {
			const struct kl_label *l = &labels[i];
			char kv[1024];
			int n;

			if (!l->str)
				continue;
			n = snprintf(kv, sizeof(kv), "%s:%s", kl_profile_sget(p, l->key),
				     kl_profile_sget(p, l->str));
			if (n > 0)
				matched = rx_match(tf->rx[r], f->md, kv,
						   KL_MIN((size_t)n, sizeof(kv) - 1));
		}
		if (!matched)
			return false;
	}
	return true;
}

/*
 * Per-function and per-mapping match bits for one regex: bit set when the
 * function's name or file name (or the mapping's file) matches.
 */
static int match_names(const struct kl_filter *f, pcre2_code *rx, const struct kl_profile *p,
		       uint8_t *fn_match, uint8_t *map_match, uint8_t bit)
{
	if (!rx)
		return 0;
	for (uint32_t i = 0; i < p->nfunctions; i++) {
		const struct kl_function *fn = &p->functions[i];

		if (rx_match(rx, f->md, kl_profile_sget(p, fn->name),
			     kl_strtab_len(p->strs, fn->name)) ||
		    rx_match(rx, f->md, kl_profile_sget(p, fn->filename),
			     kl_strtab_len(p->strs, fn->filename)))
			fn_match[i] |= bit;
	}
	for (uint32_t i = 0; i < p->nmappings; i++) {
		kl_strid file = p->mappings[i].filename;

		if (rx_match(rx, f->md, kl_profile_sget(p, file), kl_strtab_len(p->strs, file)))
			map_match[i] |= bit;
	}
	return 0;
}

enum { M_FOCUS = 1, M_IGNORE = 2, M_HIDE = 4, M_SHOW = 8 };

/* Bits of enum above for location l: any line's function, or the mapping. */
static uint8_t location_match(const struct kl_profile *p, const struct kl_location *l,
			      const uint8_t *fn_match, const uint8_t *map_match)
{
	const struct kl_line *lines = kl_location_lines(p, l);
	uint8_t m = l->mapping ? map_match[l->mapping - 1] : 0;

	for (uint32_t i = 0; i < l->nlines; i++)
		m |= fn_match[lines[i].function];
	return m;
}

int kl_filter_apply(const struct kl_filter *f, const struct kl_profile *p, uint8_t *keep,
		    uint8_t *line_hidden, uint8_t *loc_hidden)
{
	/* per location: 0 = neither, 1 = focused, 2 = ignored (pprof's map) */
	uint8_t *fn_match, *map_match, *loc_state = NULL;
	int rc = -ENOMEM;

	memset(keep, 1, p->nsamples);
	memset(line_hidden, 0, p->nlines);
	memset(loc_hidden, 0, p->nlocations);
	if (!f)
		return 0;
	fn_match = kl_calloc(p->nfunctions + 1, 1);
	map_match = kl_calloc(p->nmappings + 1, 1);
	loc_state = kl_calloc(p->nlocations + 1, 1);
	if (!fn_match || !map_match || !loc_state)
		goto out;
	match_names(f, f->focus, p, fn_match, map_match, M_FOCUS);
	match_names(f, f->ignore, p, fn_match, map_match, M_IGNORE);
	match_names(f, f->hide, p, fn_match, map_match, M_HIDE);
	match_names(f, f->show, p, fn_match, map_match, M_SHOW);

	for (uint32_t i = 0; i < p->nlocations; i++) {
		const struct kl_location *l = &p->locations[i];
		const struct kl_line *lines = kl_location_lines(p, l);
		uint8_t m = location_match(p, l, fn_match, map_match);
		bool map_hit;
		uint32_t left;

		if (f->ignore && (m & M_IGNORE))
			loc_state[i] = 2;
		else if (!f->focus || (m & M_FOCUS))
			loc_state[i] = 1;

		if (f->hide && (m & M_HIDE)) {
			map_hit = l->mapping && (map_match[l->mapping - 1] & M_HIDE);
			left = 0;
			for (uint32_t j = 0; j < l->nlines; j++) {
				bool hit = map_hit || (fn_match[lines[j].function] & M_HIDE);

				line_hidden[l->line_start + j] |= hit;
				left += !hit;
			}
			if (left == 0)
				loc_hidden[i] = 1;
		}
		if (f->show) {
			map_hit = l->mapping && (map_match[l->mapping - 1] & M_SHOW);
			left = 0;
			for (uint32_t j = 0; j < l->nlines; j++) {
				bool hit = map_hit || (fn_match[lines[j].function] & M_SHOW);

				if (!hit)
					line_hidden[l->line_start + j] = 1;
				left += hit && !line_hidden[l->line_start + j];
			}
			if (left == 0)
				loc_hidden[i] = 1;
		}
	}

	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *s = &p->samples[i];
		const uint32_t *locs = kl_sample_locs(p, s);
		bool focused = false;

		for (uint32_t j = 0; j < s->nlocs; j++) {
			uint8_t st = loc_state[locs[j]];

			if (st == 2) {
				focused = false;
				break;
			}
			focused |= st == 1;
		}
		if (focused && f->tagfocus && !tag_match(f, f->tagfocus, p, s))
			focused = false;
		if (focused && f->tagignore && tag_match(f, f->tagignore, p, s))
			focused = false;
		keep[i] = focused;
	}
	rc = 0;
out:
	kl_free(fn_match);
	kl_free(map_match);
	kl_free(loc_state);
	return rc;
}
