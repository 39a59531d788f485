/* SPDX-License-Identifier: Apache-2.0 */
/*
 * series.c - the series model (pyroscope-compat.md section 3): one pprof
 * with several sample types becomes one series per sample type and per
 * set of promoted sample labels, each holding a pruned single-type copy of
 * the profile, or (a set with views on: the ingest endpoints) only its
 * sample selection of the decoded profile, which the store reads as is.
 * Also the canonical series key and tenant id validation.
 *
 * Sections: series sets and keys, the __name__ rule, splitting, tenants.
 */
#include <stdlib.h>
#include <string.h>

#include "ingest.h"

/* ---- series sets and keys ------------------------------------------------- */

void kl_series_set_release(struct kl_series_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++) {
		kl_labels_release(&s->v[i].labels);
		kl_profile_free(s->v[i].profile);
	}
	kl_free(s->v);
	for (size_t i = 0; i < s->nsrcs; i++) {
		if (!s->srcs[i].pending)
			kl_profile_free(s->srcs[i].p);
		kl_free(s->srcs[i].order);
	}
	kl_free(s->srcs);
	*s = (struct kl_series_set){ 0 };
}

void kl_series_set_keep(struct kl_series_set *s, struct kl_profile *p)
{
	for (size_t i = 0; s && p && i < s->nsrcs; i++) {
		if (s->srcs[i].p == p && s->srcs[i].pending) {
			s->srcs[i].pending = false;
			return;
		}
	}
	kl_profile_free(p);
}

static void add_escaped(struct kl_buf *out, const char *s)
{
	for (; *s; s++) {
		if (*s == '\\' || *s == ',' || *s == '=')
			kl_buf_addch(out, '\\');
		kl_buf_addch(out, *s);
	}
}

void kl_series_key(const struct kl_labels *ls, struct kl_buf *out)
{
	for (size_t i = 0; i < ls->n; i++) {
		if (i)
			kl_buf_addch(out, ',');
		add_escaped(out, ls->v[i].name);
		kl_buf_addch(out, '=');
		add_escaped(out, ls->v[i].value);
	}
}

uint64_t kl_series_hash(const struct kl_labels *ls)
{
	struct kl_buf b = KL_BUF_INIT;
	uint64_t h;

	kl_series_key(ls, &b);
	/* out of memory hashes what was built: a worse hash, never a crash */
	h = kl_hash(b.data ? b.data : "", b.len);
	kl_buf_release(&b);
	return h;
}

/* ---- the __name__ rule ----------------------------------------------------- */

const char *kl_series_pprof_name(const struct kl_profile *p)
{
	static const struct {
		const char *needle, *name;
	} rules[] = {
		{ "cpu", "process_cpu" }, { "alloc_", "memory" }, { "inuse_", "memory" },
		{ "space", "memory" }, { "objects", "memory" }, { "mutex_", "mutex" },
		{ "block_", "block" }, { "goroutine", "goroutine" },
	};

	for (uint32_t i = 0; i < p->nsample_types; i++)
		if (!strcmp(kl_profile_sget(p, p->sample_types[i].type), "wall"))
			return "wall";
	/* each rule over all types in order: "the first type containing cpu" */
	for (size_t r = 0; r < KL_ARRAY_SIZE(rules); r++)
		for (uint32_t i = 0; i < p->nsample_types; i++)
			if (strstr(kl_profile_sget(p, p->sample_types[i].type), rules[r].needle))
				return rules[r].name;
	return p->nsample_types ? kl_profile_sget(p, p->sample_types[0].type) : "unknown";
}

/* ---- splitting --------------------------------------------------------------- */

/* Labels that stay on samples: trace linking (profile_id is span_id's old name). */
static bool per_sample_key(const char *k)
{
	return !strcmp(k, "span_id") || !strcmp(k, "trace_id") || !strcmp(k, "profile_id");
}

/* Internal labels are dropped, except the session id that clients set. */
static bool dropped_key(const char *k)
{
	return k[0] == '_' && k[1] == '_' && strcmp(k, "__session_id__");
}

/* What a label key means for the split (cached per key string id). */
enum key_class {
	KEY_UNKNOWN = 0,
	KEY_SERIES,		/* a string label with it becomes a series label */
	KEY_SAMPLE,		/* stays on the samples (trace linking, numeric labels) */
	KEY_DROPPED,		/* internal: dropped */
};

/* Working state of one split. */
struct splitter {
	const struct kl_profile *p;
	/*
	 * Per source string id, kept over all series of the split: the class
	 * of the id as a label key, and kl_hash of its bytes | 1 (0 = not yet
	 * hashed; strtab indexes key on the high bits, so the mark is free).
	 * With unique (no two source ids hold the same bytes) copies add strings
	 * under the cached hash instead of hashing and probing them per series.
	 */
	uint8_t *kclass;
	uint64_t *strhash;
	bool unique;
	uint32_t *group;	/* per sample: its label group */
	uint32_t *order;	/* samples sorted by group */
	size_t *gstart;		/* ngroups + 1 offsets into order */
	uint32_t ngroups;
	/* old index -> new index + 1, 0 = not yet copied (reset per series) */
	uint32_t *locmap, *funcmap, *mapmap, *strmap;
	struct kl_label *lbuf;
	size_t lbuf_cap;
	uint32_t *sbuf;
	size_t sbuf_cap;
};

static enum key_class key_class(struct splitter *sp, kl_strid key)
{
	if (sp->kclass[key] == KEY_UNKNOWN) {
		const char *k = kl_profile_sget(sp->p, key);

		sp->kclass[key] = dropped_key(k) ? KEY_DROPPED :
				  per_sample_key(k) ? KEY_SAMPLE : KEY_SERIES;
	}
	return (enum key_class)sp->kclass[key];
}

/* A sample label that becomes a series label. */
static bool promoted(struct splitter *sp, const struct kl_label *l)
{
	return l->str && key_class(sp, l->key) == KEY_SERIES;
}

static int label_key_cmp(const void *a, const void *b, void *ctx)
{
	const struct kl_profile *p = ctx;

	return strcmp(kl_profile_sget(p, ((const struct kl_label *)a)->key),
		      kl_profile_sget(p, ((const struct kl_label *)b)->key));
}

/*
 * The canonical text of sample i's promoted labels ("k\0v\0" in key
 * order, the first of duplicate keys kept) into b.
 */
static int promoted_text(struct splitter *sp, uint32_t i, struct kl_buf *b)
{
	const struct kl_profile *p = sp->p;
	const struct kl_sample *s = &p->samples[i];
	const struct kl_label *ls = s->nlabels ? kl_sample_labels(p, s) : NULL;
	size_t n = 0;

	b->len = 0;
	if (KL_GROW(sp->lbuf, sp->lbuf_cap, s->nlabels + 1))
		return -ENOMEM;
	for (uint32_t j = 0; j < s->nlabels; j++)
		if (promoted(sp, &ls[j]))
			sp->lbuf[n++] = ls[j];
	qsort_r(sp->lbuf, n, sizeof(*sp->lbuf), label_key_cmp, (void *)p);
	for (size_t j = 0; j < n; j++) {
		const char *k = kl_profile_sget(p, sp->lbuf[j].key);

		if (j && !strcmp(k, kl_profile_sget(p, sp->lbuf[j - 1].key)))
			continue;
		kl_buf_add(b, k, strlen(k) + 1);
		kl_buf_add(b, kl_profile_sget(p, sp->lbuf[j].str),
			   kl_strtab_len(p->strs, sp->lbuf[j].str) + 1);
	}
	kl_buf_addch(b, '\n');	/* never empty, so b->data is set */
	return kl_buf_error(b);
}

/* Groups the samples by their promoted label sets (hash table of group texts). */
static int group_samples(struct splitter *sp)
{
	const struct kl_profile *p = sp->p;
	struct kl_buf text = KL_BUF_INIT, arena = KL_BUF_INIT;
	size_t *goff = NULL, goff_cap = 0, *glen = NULL, glen_cap = 0, nslots = 64;
	uint32_t *slots = NULL;	/* group + 1 */
	uint64_t *ghash = NULL;
	size_t ghash_cap = 0;
	int rc = -ENOMEM;

	bool any = false;

	sp->group = kl_calloc(p->nsamples + 1, sizeof(*sp->group));
	sp->order = kl_calloc(p->nsamples + 1, sizeof(*sp->order));
	slots = kl_calloc(nslots, sizeof(*slots));
	if (!sp->group || !sp->order || !slots)
		goto out;
	/* the common case, no promoted labels at all: one group, no hashing */
	for (size_t i = 0; i < p->nlabels && !any; i++)
		any = promoted(sp, &p->labels[i]);
	for (uint32_t i = 0; i < p->nsamples && any; i++) {
		const struct kl_sample *cur = &p->samples[i], *prev = cur - 1;
		uint64_t h;
		size_t s;

		/* runs of samples with the same labels are common: same group */
		if (i && cur->nlabels == prev->nlabels &&
		    (!cur->nlabels || !memcmp(kl_sample_labels(p, cur), kl_sample_labels(p, prev),
					      cur->nlabels * sizeof(struct kl_label)))) {
			sp->group[i] = sp->group[i - 1];
			continue;
		}
		if ((rc = promoted_text(sp, i, &text)))
			goto out;
		rc = -ENOMEM;
		h = kl_hash(text.data, text.len);
		for (s = h & (nslots - 1); slots[s]; s = (s + 1) & (nslots - 1)) {
			uint32_t g = slots[s] - 1;

			if (ghash[g] == h && glen[g] == text.len &&
			    !memcmp(arena.data + goff[g], text.data, text.len))
				break;
		}
		if (!slots[s]) {
			uint32_t g = sp->ngroups;

			if (KL_GROW(goff, goff_cap, g + 1) || KL_GROW(glen, glen_cap, g + 1) ||
			    KL_GROW(ghash, ghash_cap, g + 1))
				goto out;
			goff[g] = arena.len;
			glen[g] = text.len;
			ghash[g] = h;
			kl_buf_add(&arena, text.data, text.len);
			if (kl_buf_error(&arena))
				goto out;
			slots[s] = ++sp->ngroups;
			if (sp->ngroups * 2 > nslots) {
				size_t n2 = nslots * 2;
				uint32_t *ns = kl_calloc(n2, sizeof(*ns));

				if (!ns)
					goto out;
				for (uint32_t j = 0; j < sp->ngroups; j++) {
					size_t t = ghash[j] & (n2 - 1);

					while (ns[t])
						t = (t + 1) & (n2 - 1);
					ns[t] = j + 1;
				}
				kl_free(slots);
				slots = ns;
				nslots = n2;
			}
		}
		sp->group[i] = slots[s] - 1;
	}
	/* a profile without samples still gives one (empty) series per type */
	if (sp->ngroups == 0)
		sp->ngroups = 1;
	/* counting sort of the samples by group */
	sp->gstart = kl_calloc(sp->ngroups + 1, sizeof(*sp->gstart));
	if (!sp->gstart)
		goto out;
	for (uint32_t i = 0; i < p->nsamples; i++)
		sp->gstart[sp->group[i] + 1]++;
	for (uint32_t g = 0; g < sp->ngroups; g++)
		sp->gstart[g + 1] += sp->gstart[g];
	{
		size_t *fill = kl_calloc(sp->ngroups, sizeof(*fill));

		if (!fill)
			goto out;
		for (uint32_t i = 0; i < p->nsamples; i++) {
			uint32_t g = sp->group[i];

			sp->order[sp->gstart[g] + fill[g]++] = i;
		}
		kl_free(fill);
	}
	rc = 0;
out:
	kl_buf_release(&text);
	kl_buf_release(&arena);
	kl_free(goff);
	kl_free(glen);
	kl_free(ghash);
	kl_free(slots);
	return rc;
}

static kl_strid copy_str(struct splitter *sp, struct kl_profile *c, kl_strid id)
{
	if (!id)
		return 0;
	if (!sp->strmap[id]) {
		const char *s = kl_profile_sget(sp->p, id);
		size_t len = kl_strtab_len(sp->p->strs, id);

		if (sp->unique) {
			if (!sp->strhash[id])
				sp->strhash[id] = kl_hash(s, len) | 1;
			sp->strmap[id] = kl_strtab_add_hashed(c->strs, s, len, sp->strhash[id]) + 1;
		} else {
			sp->strmap[id] = kl_profile_str(c, s, len) + 1;
		}
	}
	return sp->strmap[id] - 1;
}

static uint32_t copy_function(struct splitter *sp, struct kl_profile *c, uint32_t f)
{
	struct kl_function fn;

	if (sp->funcmap[f])
		return sp->funcmap[f] - 1;
	fn = sp->p->functions[f];
	fn.name = copy_str(sp, c, fn.name);
	fn.system_name = copy_str(sp, c, fn.system_name);
	fn.filename = copy_str(sp, c, fn.filename);
	sp->funcmap[f] = kl_profile_add_function(c, &fn) + 1;
	return sp->funcmap[f] - 1;
}

static uint32_t copy_location(struct splitter *sp, struct kl_profile *c, uint32_t l)
{
	const struct kl_profile *p = sp->p;
	struct kl_location loc;
	struct kl_line lines[64], *lp = lines;
	uint32_t idx;

	if (sp->locmap[l])
		return sp->locmap[l] - 1;
	loc = p->locations[l];
	if (loc.mapping) {
		uint32_t m = loc.mapping - 1;

		if (!sp->mapmap[m]) {
			struct kl_mapping mp = p->mappings[m];

			mp.filename = copy_str(sp, c, mp.filename);
			mp.build_id = copy_str(sp, c, mp.build_id);
			sp->mapmap[m] = kl_profile_add_mapping(c, &mp) + 1;
		}
		loc.mapping = sp->mapmap[m];
	}
	if (loc.nlines > KL_ARRAY_SIZE(lines)) {
		lp = kl_malloc(loc.nlines * sizeof(*lp));
		if (!lp) {
			c->failed = true;
			return 0;
		}
	}
	for (uint32_t i = 0; i < loc.nlines; i++) {
		lp[i] = kl_location_lines(p, &p->locations[l])[i];
		lp[i].function = copy_function(sp, c, lp[i].function);
	}
	idx = kl_profile_add_location(c, &loc, lp, loc.nlines);
	if (lp != lines)
		kl_free(lp);
	sp->locmap[l] = idx + 1;
	return idx;
}

/*
 * Sizes c's arrays for group g's samples of type t at once (exactly for
 * samples, at most the source's size for the rest) so that copying never
 * grows an array. False on out of memory.
 */
static bool presize(struct splitter *sp, struct kl_profile *c, uint32_t g, uint32_t t)
{
	const struct kl_profile *p = sp->p;
	size_t ns = 0, nlocs = 0, nlabels = 0;

	for (size_t k = sp->gstart[g]; k < sp->gstart[g + 1]; k++) {
		uint32_t i = sp->order[k];

		if (kl_sample_values(p, i)[t] == 0)
			continue;
		ns++;
		nlocs += p->samples[i].nlocs;
		nlabels += p->samples[i].nlabels;
	}
	return !KL_GROW(c->samples, c->samples_cap, ns) &&
	       !KL_GROW(c->values, c->values_cap, ns) &&
	       !KL_GROW(c->sample_locs, c->sample_locs_cap, nlocs) &&
	       !KL_GROW(c->labels, c->labels_cap, nlabels) &&
	       !KL_GROW(c->locations, c->locations_cap, KL_MIN(nlocs, p->nlocations)) &&
	       !KL_GROW(c->lines, c->lines_cap, p->nlines) &&
	       !KL_GROW(c->functions, c->functions_cap, p->nfunctions) &&
	       !KL_GROW(c->mappings, c->mappings_cap, p->nmappings) &&
	       !kl_strtab_reserve(c->strs, kl_strtab_count(p->strs), kl_strtab_bytes(p->strs));
}

/* A pruned copy of group g's samples with sample type t only. NULL on out of memory. */
static struct kl_profile *extract(struct splitter *sp, uint32_t g, uint32_t t, int64_t time_ns)
{
	const struct kl_profile *p = sp->p;
	struct kl_profile *c = kl_profile_new();

	if (!c)
		return NULL;
	if (!presize(sp, c, g, t)) {
		kl_profile_free(c);
		return NULL;
	}
	memset(sp->locmap, 0, (p->nlocations + 1) * sizeof(*sp->locmap));
	memset(sp->funcmap, 0, (p->nfunctions + 1) * sizeof(*sp->funcmap));
	memset(sp->mapmap, 0, (p->nmappings + 1) * sizeof(*sp->mapmap));
	memset(sp->strmap, 0, (kl_strtab_count(p->strs) + 1) * sizeof(*sp->strmap));
	kl_profile_add_sample_type(c, copy_str(sp, c, p->sample_types[t].type),
				   copy_str(sp, c, p->sample_types[t].unit));
	if (kl_profile_failed(c)) {
		kl_profile_free(c);
		return NULL;
	}
	c->period_type.type = copy_str(sp, c, p->period_type.type);
	c->period_type.unit = copy_str(sp, c, p->period_type.unit);
	c->period = p->period;
	c->time_nanos = time_ns;
	c->duration_nanos = p->duration_nanos;
	c->drop_frames = copy_str(sp, c, p->drop_frames);
	c->keep_frames = copy_str(sp, c, p->keep_frames);
	c->default_sample_type = c->sample_types[0].type;
	for (uint32_t i = 0; i < p->ncomments; i++)
		kl_profile_add_comment(c, copy_str(sp, c, p->comments[i]));
	for (size_t k = sp->gstart[g]; k < sp->gstart[g + 1] && !kl_profile_failed(c); k++) {
		uint32_t i = sp->order[k];
		const struct kl_sample *s = &p->samples[i];
		const struct kl_label *ls = s->nlabels ? kl_sample_labels(p, s) : NULL;
		const uint32_t *locs = s->nlocs ? kl_sample_locs(p, s) : NULL;
		int64_t v = kl_sample_values(p, i)[t];
		uint32_t nl = 0;

		if (v == 0)
			continue;
		if (KL_GROW(sp->sbuf, sp->sbuf_cap, s->nlocs + 1) ||
		    KL_GROW(sp->lbuf, sp->lbuf_cap, s->nlabels + 1)) {
			c->failed = true;
			break;
		}
		for (uint32_t j = 0; j < s->nlocs; j++)
			sp->sbuf[j] = copy_location(sp, c, locs[j]);
		for (uint32_t j = 0; j < s->nlabels; j++) {
			struct kl_label l = ls[j];

			if (promoted(sp, &l) || key_class(sp, l.key) == KEY_DROPPED)
				continue;
			l.key = copy_str(sp, c, l.key);
			l.str = copy_str(sp, c, l.str);
			l.num_unit = copy_str(sp, c, l.num_unit);
			sp->lbuf[nl++] = l;
		}
		if (kl_profile_failed(c))
			break;
		kl_profile_add_sample(c, sp->sbuf, s->nlocs, &v, nl ? sp->lbuf : NULL, nl);
	}
	if (kl_profile_failed(c)) {
		kl_profile_free(c);
		return NULL;
	}
	return c;
}

/* Series labels of group g's promoted labels added to ls (existing names win). */
static int add_promoted(struct splitter *sp, uint32_t g, struct kl_labels *ls)
{
	const struct kl_profile *p = sp->p;
	const struct kl_sample *s;
	const struct kl_label *l;

	if (sp->gstart[g] == sp->gstart[g + 1])
		return 0;
	s = &p->samples[sp->order[sp->gstart[g]]];
	l = s->nlabels ? kl_sample_labels(p, s) : NULL;
	for (uint32_t j = 0; j < s->nlabels; j++)
		if (promoted(sp, &l[j]) &&
		    kl_labels_add_absent(ls, kl_profile_sget(p, l[j].key), kl_profile_sget(p, l[j].str),
					 kl_strtab_len(p->strs, l[j].str)))
			return -ENOMEM;
	return 0;
}

static int check_labels(const struct kl_labels *ls, const struct kl_ingest_limits *lim,
			struct kl_http_err *err)
{
	if (ls->n > lim->max_labels)
		return kl_http_errf(err, -KL_ELIMIT, 400, "series has %zu labels, more than the limit of %u",
				    ls->n, lim->max_labels);
	for (size_t i = 0; i < ls->n; i++) {
		if (strlen(ls->v[i].name) > lim->max_name_len)
			return kl_http_errf(err, -KL_ELIMIT, 400,
					    "label name \"%.64s...\" longer than %u bytes",
					    ls->v[i].name, lim->max_name_len);
		if (strlen(ls->v[i].value) > lim->max_value_len)
			return kl_http_errf(err, -KL_ELIMIT, 400,
					    "value of label \"%.64s\" longer than %u bytes",
					    ls->v[i].name, lim->max_value_len);
	}
	return 0;
}

/* The labels of the series for sample type t of group g. */
static int series_labels(struct splitter *sp, const struct kl_labels *base, const char *name,
			 uint32_t t, uint32_t g, struct kl_labels *ls)
{
	const struct kl_profile *p = sp->p;
	struct kl_buf pt = KL_BUF_INIT;
	int rc = -ENOMEM;

	for (size_t i = 0; i < base->n; i++) {
		const char *k = base->v[i].name;

		if (dropped_key(k) && strcmp(k, "__name__"))
			continue;
		if (kl_labels_set(ls, k, base->v[i].value, strlen(base->v[i].value)))
			goto out;
	}
	/* name:type:unit:period_type:period_unit, without printf's parsing per series */
	(void)kl_buf_reserve(&pt, 128);
	kl_buf_addstr(&pt, name);
	kl_buf_addch(&pt, ':');
	kl_buf_addstr(&pt, kl_profile_sget(p, p->sample_types[t].type));
	kl_buf_addch(&pt, ':');
	kl_buf_addstr(&pt, kl_profile_sget(p, p->sample_types[t].unit));
	kl_buf_addch(&pt, ':');
	kl_buf_addstr(&pt, kl_profile_sget(p, p->period_type.type));
	kl_buf_addch(&pt, ':');
	kl_buf_addstr(&pt, kl_profile_sget(p, p->period_type.unit));
	if (kl_buf_error(&pt) || kl_labels_set(ls, "__name__", name, strlen(name)) ||
	    kl_labels_set(ls, "__profile_type__", pt.data, pt.len) ||
	    add_promoted(sp, g, ls))
		goto out;
	kl_labels_sort(ls);
	rc = 0;
out:
	kl_buf_release(&pt);
	return rc;
}

int kl_series_split(const struct kl_profile *p, const struct kl_labels *base, int64_t from_ns,
		    int64_t until_ns, const struct kl_ingest_limits *lim, struct kl_series_set *out,
		    struct kl_http_err *err)
{
	const struct kl_ingest_limits l = kl_ingest_limits_resolve(lim);
	struct splitter sp = { .p = p };
	const char *name = kl_labels_get(base, "__name__");
	size_t n0 = out->n;
	char *name_copy = NULL;
	int64_t time_ns = p->time_nanos;
	int rc = -ENOMEM;

	if (p->nsample_types == 0)
		return kl_http_errf(err, -KL_EFORMAT, 400, "profile has no sample types");
	/* 0 or a clock that was never set: the upload's start instead */
	if (time_ns < INT64_C(365) * 86400 * 1000000000)
		time_ns = from_ns;
	if (!name || !*name)
		name = kl_series_pprof_name(p);
	/* the name may live in p's strtab: keep our own copy */
	name_copy = kl_strndup(name, strlen(name));
	sp.kclass = kl_calloc(kl_strtab_count(p->strs) + 1, sizeof(*sp.kclass));
	if (!name_copy || !sp.kclass)
		goto out;
	/* the maps of the copies: views copy nothing */
	if (!out->views) {
		sp.locmap = kl_calloc(p->nlocations + 1, sizeof(*sp.locmap));
		sp.funcmap = kl_calloc(p->nfunctions + 1, sizeof(*sp.funcmap));
		sp.mapmap = kl_calloc(p->nmappings + 1, sizeof(*sp.mapmap));
		sp.strmap = kl_calloc(kl_strtab_count(p->strs) + 1, sizeof(*sp.strmap));
		sp.unique = !kl_strtab_has_duplicates(p->strs);
		sp.strhash = kl_calloc(kl_strtab_count(p->strs) + 1, sizeof(*sp.strhash));
		if (!sp.locmap || !sp.funcmap || !sp.mapmap || !sp.strmap || !sp.strhash)
			goto out;
	}
	if (group_samples(&sp))
		goto out;
	/* views keep the sample order: its slot is reserved so that keep never fails */
	if (out->views && KL_GROW(out->srcs, out->srcs_cap, out->nsrcs + 1))
		goto out;
	for (uint32_t g = 0; g < sp.ngroups; g++) {
		for (uint32_t t = 0; t < p->nsample_types; t++) {
			struct kl_series s = { .start_ns = from_ns, .end_ns = until_ns };

			if (series_labels(&sp, base, name_copy, t, g, &s.labels)) {
				kl_labels_release(&s.labels);
				goto out;
			}
			if ((rc = check_labels(&s.labels, &l, err))) {
				kl_labels_release(&s.labels);
				goto fail;
			}
			rc = -ENOMEM;
			if (out->views) {
				s.src = p;
				s.sel = sp.order + sp.gstart[g];
				s.nsel = (uint32_t)(sp.gstart[g + 1] - sp.gstart[g]);
				s.type = t;
			} else {
				s.profile = extract(&sp, g, t, time_ns);
			}
			if ((!s.profile && !s.src) || KL_GROW(out->v, out->cap, out->n + 1)) {
				kl_labels_release(&s.labels);
				kl_profile_free(s.profile);
				goto out;
			}
			out->v[out->n++] = s;
		}
	}
	if (out->views) {
		/* cast: p stays the caller's until it hands p over with kl_series_set_keep */
		out->srcs[out->nsrcs++] = (struct kl_series_src){ .p = (struct kl_profile *)p,
								  .order = sp.order,
								  .pending = true };
		sp.order = NULL;
	}
	rc = 0;
out:
	if (rc == -ENOMEM)
		kl_http_errf(err, rc, 500, "out of memory");
fail:
	if (rc) {
		/* nothing appended on failure */
		for (size_t i = n0; i < out->n; i++) {
			kl_labels_release(&out->v[i].labels);
			kl_profile_free(out->v[i].profile);
		}
		out->n = n0;
	}
	kl_free(name_copy);
	kl_free(sp.group);
	kl_free(sp.order);
	kl_free(sp.gstart);
	kl_free(sp.locmap);
	kl_free(sp.funcmap);
	kl_free(sp.mapmap);
	kl_free(sp.strmap);
	kl_free(sp.kclass);
	kl_free(sp.strhash);
	kl_free(sp.lbuf);
	kl_free(sp.sbuf);
	return rc;
}

/* ---- tenants ----------------------------------------------------------------- */

int kl_tenant_validate(const char *tenant, struct kl_http_err *err)
{
	size_t n = tenant ? strlen(tenant) : 0;

	if (n == 0)
		return kl_http_errf(err, -KL_EFORMAT, 400, "empty tenant id");
	if (n > 150)
		return kl_http_errf(err, -KL_EFORMAT, 400, "tenant id longer than 150 characters");
	if (!strcmp(tenant, ".") || !strcmp(tenant, ".."))
		return kl_http_errf(err, -KL_EFORMAT, 400, "tenant id \"%s\" is not allowed", tenant);
	for (size_t i = 0; i < n; i++) {
		char c = tenant[i];

		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		    strchr("!-_.*'()", c))
			continue;
		return kl_http_errf(err, -KL_EFORMAT, 400,
				    "tenant id contains an invalid character at position %zu", i);
	}
	return 0;
}
