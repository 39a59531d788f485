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
	/*
	 * A series key with empty text or a NUL inside: its text (cut at the
	 * NUL) is not its bytes, so its id does not stand for its text.
	 */
	bool odd_key;
	uint32_t *group;	/* per sample: its label group */
	uint32_t *order;	/* samples sorted by group */
	size_t *gstart;		/* ngroups + 1 offsets into order */
	uint32_t ngroups;
	/* old index -> new index + 1, 0 = not yet copied (reset per series) */
	uint32_t *locmap, *funcmap, *mapmap, *strmap;
	struct kl_label *lbuf;
	size_t lbuf_cap;
	uint32_t *kbuf;		/* a group identity by ids */
	size_t kbuf_cap;
	uint32_t *sbuf;
	size_t sbuf_cap;
};

static void classify_key(struct splitter *sp, kl_strid key)
{
	const char *k = kl_profile_sget(sp->p, key);

	sp->kclass[key] = dropped_key(k) ? KEY_DROPPED :
			  per_sample_key(k) ? KEY_SAMPLE : KEY_SERIES;
	if (sp->kclass[key] == KEY_SERIES &&
	    (!*k || strlen(k) != kl_strtab_len(sp->p->strs, key)))
		sp->odd_key = true;
}

static inline enum key_class key_class(struct splitter *sp, kl_strid key)
{
	if (sp->kclass[key] == KEY_UNKNOWN)
		classify_key(sp, key);
	return (enum key_class)sp->kclass[key];
}

/* A sample label that becomes a series label. */
static inline bool promoted(struct splitter *sp, const struct kl_label *l)
{
	return l->str && key_class(sp, l->key) == KEY_SERIES;
}

/*
 * The identity of sample i's promoted label set, *len bytes into b (text)
 * or sp->kbuf (ids): two samples are in one group when their identities
 * are equal. The promoted labels in key order, the first of duplicate keys
 * kept, as their text ("k\0v\0"), or, with ids, as (key id, value id)
 * pairs: without duplicates in the string table (and no odd key) an id
 * stands for its bytes, but "" may have several ids (its value id is 0).
 * Ids spare the text's copies and string compares per sample.
 */
static int group_key(struct splitter *sp, uint32_t i, bool ids, struct kl_buf *b, size_t *len)
{
	const struct kl_profile *p = sp->p;
	const struct kl_sample *s = &p->samples[i];
	const struct kl_label *ls = s->nlabels ? kl_sample_labels(p, s) : NULL;
	size_t n = 0;

	b->len = 0;
	if (ids) {
		uint32_t *w;

		if (KL_GROW(sp->kbuf, sp->kbuf_cap, (size_t)s->nlabels * 2 + 1))
			return -ENOMEM;
		w = sp->kbuf;
		/* insertion by key id; a key already there is an earlier label of it: it wins */
		for (uint32_t j = 0; j < s->nlabels; j++) {
			kl_strid key = ls[j].key, str = ls[j].str;
			size_t at = n;

			if (!promoted(sp, &ls[j]))
				continue;
			while (at > 0 && w[2 * (at - 1)] > key)
				at--;
			if (at > 0 && w[2 * (at - 1)] == key)
				continue;
			for (size_t k = 2 * n; k > 2 * at; k--)
				w[k + 1] = w[k - 1];
			w[2 * at] = key;
			w[2 * at + 1] = kl_profile_sget(p, str)[0] || kl_strtab_len(p->strs, str) ?
					str : 0;
			n++;
		}
		*len = n * 2 * sizeof(*w);
		return 0;
	}
	if (KL_GROW(sp->lbuf, sp->lbuf_cap, s->nlabels + 1))
		return -ENOMEM;
	/* insertion sort, stable: the first of a key stays first */
	for (uint32_t j = 0; j < s->nlabels; j++) {
		size_t k = n;

		if (!promoted(sp, &ls[j]))
			continue;
		for (; k > 0 && strcmp(kl_profile_sget(p, ls[j].key),
				       kl_profile_sget(p, sp->lbuf[k - 1].key)) < 0; k--)
			sp->lbuf[k] = sp->lbuf[k - 1];
		sp->lbuf[k] = ls[j];
		n++;
	}
	for (size_t j = 0; j < n; j++) {
		const struct kl_label *l = &sp->lbuf[j];
		const char *k = kl_profile_sget(p, l->key);

		if (j && !strcmp(k, kl_profile_sget(p, l[-1].key)))
			continue;
		kl_buf_add(b, k, strlen(k) + 1);
		kl_buf_add(b, kl_profile_sget(p, l->str), kl_strtab_len(p->strs, l->str) + 1);
	}
	*len = b->len;
	return kl_buf_error(b);
}

/* The hash table of group identities of group_samples. */
struct groups {
	struct kl_buf arena;	/* the identities */
	size_t *goff, goff_cap, *glen, glen_cap;
	uint64_t *ghash;
	size_t ghash_cap;
	uint32_t *slots;	/* group + 1 */
	size_t nslots;
};

/* Group of identity key[0..len) (hash h), a new one if unseen. 0 or -ENOMEM. */
static int group_find(struct splitter *sp, struct groups *gs, const char *key, size_t len,
		      uint32_t *group)
{
	uint64_t h = kl_hash(key, len);
	size_t s;

	for (s = h & (gs->nslots - 1); gs->slots[s]; s = (s + 1) & (gs->nslots - 1)) {
		uint32_t g = gs->slots[s] - 1;

		if (gs->ghash[g] == h && gs->glen[g] == len &&
		    (!len || !memcmp(gs->arena.data + gs->goff[g], key, len))) {
			*group = g;
			return 0;
		}
	}
	*group = sp->ngroups;
	if (KL_GROW(gs->goff, gs->goff_cap, *group + 1) ||
	    KL_GROW(gs->glen, gs->glen_cap, *group + 1) ||
	    KL_GROW(gs->ghash, gs->ghash_cap, *group + 1))
		return -ENOMEM;
	gs->goff[*group] = gs->arena.len;
	gs->glen[*group] = len;
	gs->ghash[*group] = h;
	kl_buf_add(&gs->arena, key, len);
	if (kl_buf_error(&gs->arena))
		return -ENOMEM;
	gs->slots[s] = ++sp->ngroups;
	if (sp->ngroups * 2 > gs->nslots) {
		size_t n2 = gs->nslots * 2;
		uint32_t *ns = kl_calloc(n2, sizeof(*ns));

		if (!ns)
			return -ENOMEM;
		for (uint32_t j = 0; j < sp->ngroups; j++) {
			size_t t = gs->ghash[j] & (n2 - 1);

			while (ns[t])
				t = (t + 1) & (n2 - 1);
			ns[t] = j + 1;
		}
		kl_free(gs->slots);
		gs->slots = ns;
		gs->nslots = n2;
	}
	return 0;
}

/* Whether samples a and b have the same labels (a few: no memcmp call). */
static inline bool same_labels(const struct kl_profile *p, const struct kl_sample *a,
			       const struct kl_sample *b)
{
	const struct kl_label *la, *lb;

	if (a->nlabels != b->nlabels)
		return false;
	la = kl_sample_labels(p, a);
	lb = kl_sample_labels(p, b);
	for (uint32_t j = 0; j < a->nlabels; j++)
		if (la[j].key != lb[j].key || la[j].str != lb[j].str || la[j].num != lb[j].num ||
		    la[j].num_unit != lb[j].num_unit)
			return false;
	return true;
}

/*
 * Assigns every sample its group (numbered by first appearance). With ids,
 * returns 1 as soon as an odd key shows up: the caller starts again by text.
 */
static int assign_groups(struct splitter *sp, bool ids)
{
	const struct kl_profile *p = sp->p;
	struct groups gs = { .arena = KL_BUF_INIT, .nslots = 64 };
	struct kl_buf key = KL_BUF_INIT;
	uint32_t recent[4];	/* samples of the last label sets looked up */
	size_t len, nrecent = 0, next = 0;
	int rc = -ENOMEM;

	sp->ngroups = 0;
	gs.slots = kl_calloc(gs.nslots, sizeof(*gs.slots));
	if (!gs.slots)
		goto out;
	for (uint32_t i = 0; i < p->nsamples; i++) {
		size_t r;

		/* runs of samples with the same labels are common: same group */
		if (i && same_labels(p, &p->samples[i], &p->samples[i - 1])) {
			sp->group[i] = sp->group[i - 1];
			continue;
		}
		/* so are a few label sets taking turns (pprof labels of a few values) */
		for (r = 0; r < nrecent; r++)
			if (same_labels(p, &p->samples[i], &p->samples[recent[r]]))
				break;
		if (r < nrecent) {
			sp->group[i] = sp->group[recent[r]];
			continue;
		}
		recent[next++ % KL_ARRAY_SIZE(recent)] = i;
		nrecent = KL_MIN(nrecent + 1, KL_ARRAY_SIZE(recent));
		if ((rc = group_key(sp, i, ids, &key, &len)))
			goto out;
		if (ids && sp->odd_key) {
			rc = 1;
			goto out;
		}
		if ((rc = group_find(sp, &gs, ids ? (const char *)sp->kbuf : key.data, len,
				     &sp->group[i])))
			goto out;
	}
	rc = 0;
out:
	kl_buf_release(&key);
	kl_buf_release(&gs.arena);
	kl_free(gs.goff);
	kl_free(gs.glen);
	kl_free(gs.ghash);
	kl_free(gs.slots);
	return rc;
}

/* Groups the samples by their promoted label sets; sp->order lists them by group. */
static int group_samples(struct splitter *sp)
{
	const struct kl_profile *p = sp->p;
	bool any = false;
	size_t *fill = NULL;
	int rc = -ENOMEM;

	sp->order = kl_malloc((p->nsamples + 1) * sizeof(*sp->order));
	if (!sp->order)
		goto out;
	/* the common case, no promoted labels at all: one group in sample order */
	for (size_t i = 0; i < p->nlabels && !any; i++)
		any = promoted(sp, &p->labels[i]);
	if (!any) {
		sp->ngroups = 1;
		sp->gstart = kl_malloc(2 * sizeof(*sp->gstart));
		if (!sp->gstart)
			goto out;
		sp->gstart[0] = 0;
		sp->gstart[1] = p->nsamples;
		for (uint32_t i = 0; i < p->nsamples; i++)
			sp->order[i] = i;
		rc = 0;
		goto out;
	}
	sp->group = kl_malloc((p->nsamples + 1) * sizeof(*sp->group));
	if (!sp->group)
		goto out;
	rc = assign_groups(sp, !kl_strtab_has_duplicates(p->strs) && !sp->odd_key);
	if (rc == 1)
		rc = assign_groups(sp, false);
	if (rc)
		goto out;
	rc = -ENOMEM;
	/* a profile without samples still gives one (empty) series per type */
	if (sp->ngroups == 0)
		sp->ngroups = 1;
	/* counting sort of the samples by group */
	sp->gstart = kl_calloc(sp->ngroups + 1, sizeof(*sp->gstart));
	fill = kl_malloc(sp->ngroups * sizeof(*fill));
	if (!sp->gstart || !fill)
		goto out;
	for (uint32_t i = 0; i < p->nsamples; i++)
		sp->gstart[sp->group[i] + 1]++;
	for (uint32_t g = 0; g < sp->ngroups; g++) {
		sp->gstart[g + 1] += sp->gstart[g];
		fill[g] = sp->gstart[g];
	}
	for (uint32_t i = 0; i < p->nsamples; i++)
		sp->order[fill[sp->group[i]]++] = i;
	rc = 0;
out:
	kl_free(fill);
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

/*
 * A label of a series in the making: bytes borrowed from the base labels,
 * the profile's strings or the split's own buffers, with their lengths.
 */
struct part {
	const char *name, *value;
	size_t nlen, vlen;
};

/* The labels every series of one split shares, and a scratch list per group. */
struct labeler {
	struct part *common;	/* base labels kept, and __name__ */
	size_t ncommon, common_cap;
	struct part *v;		/* one group's labels, sorted, __profile_type__ at pt */
	size_t n, cap, pt;
	size_t bytes;		/* of v's names and values with NULs, but pt's value */
	bool long_part;		/* a name or value of v longer than its limit */
	struct kl_buf ptypes;	/* each type's __profile_type__ value, NUL-terminated */
	size_t *ptoff;		/* per type: offset in ptypes */
};

static bool has_part(const struct part *v, size_t n, const char *name, size_t nlen)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].nlen == nlen && !memcmp(v[i].name, name, nlen))
			return true;
	return false;
}

static int add_part(struct part **v, size_t *n, size_t *cap, const char *name, size_t nlen,
		    const char *value, size_t vlen)
{
	if (KL_GROW(*v, *cap, *n + 1))
		return -ENOMEM;
	(*v)[(*n)++] = (struct part){ name, value, nlen, vlen };
	return 0;
}

/*
 * What all series of the split share: the base labels but internal ones
 * (__name__ is name instead), and the __profile_type__ of each sample type,
 * "name:type:unit:period_type:period_unit".
 */
static int labeler_init(struct labeler *lb, const struct kl_profile *p,
			const struct kl_labels *base, const char *name)
{
	static const char name_key[] = "__name__";

	for (size_t i = 0; i < base->n; i++) {
		const char *k = base->v[i].name, *v = base->v[i].value;

		if (dropped_key(k))
			continue;
		if (add_part(&lb->common, &lb->ncommon, &lb->common_cap, k, strlen(k), v, strlen(v)))
			return -ENOMEM;
	}
	if (add_part(&lb->common, &lb->ncommon, &lb->common_cap, name_key, sizeof(name_key) - 1,
		     name, strlen(name)))
		return -ENOMEM;
	lb->ptoff = kl_malloc((p->nsample_types + 1) * sizeof(*lb->ptoff));
	if (!lb->ptoff)
		return -ENOMEM;
	for (uint32_t t = 0; t < p->nsample_types; t++) {
		const char *f[] = { name, kl_profile_sget(p, p->sample_types[t].type),
				    kl_profile_sget(p, p->sample_types[t].unit),
				    kl_profile_sget(p, p->period_type.type),
				    kl_profile_sget(p, p->period_type.unit) };
		size_t len[KL_ARRAY_SIZE(f)], total = 0;
		char *d;

		/* C strings (cut at a NUL inside), joined by ':' and NUL-terminated */
		for (size_t k = 0; k < KL_ARRAY_SIZE(f); k++)
			total += (len[k] = strlen(f[k])) + 1;
		lb->ptoff[t] = lb->ptypes.len;
		if (kl_buf_reserve(&lb->ptypes, total))
			return -ENOMEM;
		d = lb->ptypes.data + lb->ptypes.len;
		for (size_t k = 0; k < KL_ARRAY_SIZE(f); k++) {
			memcpy(d, f[k], len[k]);
			d += len[k];
			*d++ = k + 1 < KL_ARRAY_SIZE(f) ? ':' : '\0';
		}
		lb->ptypes.len += total;
	}
	lb->ptoff[p->nsample_types] = lb->ptypes.len;
	return 0;
}

static void labeler_release(struct labeler *lb)
{
	kl_free(lb->common);
	kl_free(lb->v);
	kl_buf_release(&lb->ptypes);
	kl_free(lb->ptoff);
}

static int part_cmp(const struct part *a, const struct part *b)
{
	int c;

	/* most names differ in their first byte: no memcmp call */
	if (a->nlen && b->nlen && a->name[0] != b->name[0])
		return (unsigned char)a->name[0] - (unsigned char)b->name[0];
	c = memcmp(a->name, b->name, KL_MIN(a->nlen, b->nlen));

	return c ? c : (a->nlen > b->nlen) - (a->nlen < b->nlen);
}

/*
 * The labels of group g's series but __profile_type__'s value, sorted, into
 * lb->v: the shared ones, then the promoted labels of the group's first
 * sample (base labels win, the first of a name wins).
 */
static int group_labels(struct labeler *lb, struct splitter *sp, uint32_t g,
			const struct kl_ingest_limits *lim)
{
	static const char pt_key[] = "__profile_type__";
	const struct kl_profile *p = sp->p;

	lb->n = 0;
	for (size_t i = 0; i < lb->ncommon; i++)
		if (add_part(&lb->v, &lb->n, &lb->cap, lb->common[i].name, lb->common[i].nlen,
			     lb->common[i].value, lb->common[i].vlen))
			return -ENOMEM;
	if (add_part(&lb->v, &lb->n, &lb->cap, pt_key, sizeof(pt_key) - 1, "", 0))
		return -ENOMEM;
	if (sp->gstart[g] < sp->gstart[g + 1]) {
		const struct kl_sample *s = &p->samples[sp->order[sp->gstart[g]]];
		const struct kl_label *l = s->nlabels ? kl_sample_labels(p, s) : NULL;

		for (uint32_t j = 0; j < s->nlabels; j++) {
			const char *k;
			size_t kn;

			if (!promoted(sp, &l[j]))
				continue;
			/* a name is a C string: cut at a NUL inside, as a copy of it would be */
			k = kl_profile_sget(p, l[j].key);
			kn = strlen(k);
			if (has_part(lb->v, lb->n, k, kn))
				continue;
			if (add_part(&lb->v, &lb->n, &lb->cap, k, kn, kl_profile_sget(p, l[j].str),
				     kl_strtab_len(p->strs, l[j].str)))
				return -ENOMEM;
		}
	}
	/* insertion sort (names are unique): a handful of labels */
	lb->bytes = 0;
	lb->long_part = false;
	for (size_t i = 0; i < lb->n; i++) {
		struct part x = lb->v[i];
		size_t j = i;

		for (; j > 0 && part_cmp(&lb->v[j - 1], &x) > 0; j--)
			lb->v[j] = lb->v[j - 1];
		lb->v[j] = x;
		lb->bytes += x.nlen + x.vlen + 2;
		lb->long_part |= x.nlen > lim->max_name_len || x.vlen > lim->max_value_len;
	}
	for (lb->pt = 0; lb->v[lb->pt].name != pt_key; lb->pt++)
		;
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

/*
 * The labels of the series for sample type t of the group in lb->v, in one
 * piece of storage; 0, -ENOMEM or (over a limit) -KL_ELIMIT with err set.
 */
static int series_labels(struct labeler *lb, uint32_t t, const struct kl_ingest_limits *lim,
			 struct kl_labels *ls, struct kl_http_err *err)
{
	const char *pt = lb->ptypes.data + lb->ptoff[t];
	size_t ptlen = lb->ptoff[t + 1] - lb->ptoff[t] - 1;

	lb->v[lb->pt].value = pt;
	lb->v[lb->pt].vlen = ptlen;
	if (kl_labels_reserve(ls, lb->n, lb->bytes + ptlen))
		return -ENOMEM;
	for (size_t i = 0; i < lb->n; i++)
		if (kl_labels_push(ls, lb->v[i].name, lb->v[i].nlen, lb->v[i].value, lb->v[i].vlen))
			return -ENOMEM;
	/* the exact check (and its message) only when a length or the count says so */
	if (lb->n > lim->max_labels || lb->long_part || ptlen > lim->max_value_len)
		return check_labels(ls, lim, err);
	return 0;
}

int kl_series_split(const struct kl_profile *p, const struct kl_labels *base, int64_t from_ns,
		    int64_t until_ns, const struct kl_ingest_limits *lim, struct kl_series_set *out,
		    struct kl_http_err *err)
{
	const struct kl_ingest_limits l = kl_ingest_limits_resolve(lim);
	struct splitter sp = { .p = p };
	struct labeler lb = { .ptypes = KL_BUF_INIT };
	const char *name = kl_labels_get(base, "__name__");
	size_t n0 = out->n;
	int64_t time_ns = p->time_nanos;
	int rc = -ENOMEM;

	if (p->nsample_types == 0)
		return kl_http_errf(err, -KL_EFORMAT, 400, "profile has no sample types");
	/* 0 or a clock that was never set: the upload's start instead */
	if (time_ns < INT64_C(365) * 86400 * 1000000000)
		time_ns = from_ns;
	if (!name || !*name)
		name = kl_series_pprof_name(p);
	sp.kclass = kl_calloc(kl_strtab_count(p->strs) + 1, sizeof(*sp.kclass));
	if (!sp.kclass || labeler_init(&lb, p, base, name))
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
		if (group_labels(&lb, &sp, g, &l))
			goto out;
		for (uint32_t t = 0; t < p->nsample_types; t++) {
			struct kl_series s = { .start_ns = from_ns, .end_ns = until_ns };

			if ((rc = series_labels(&lb, t, &l, &s.labels, err))) {
				kl_labels_release(&s.labels);
				if (rc == -ENOMEM)
					goto out;
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
	labeler_release(&lb);
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
	kl_free(sp.kbuf);
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
