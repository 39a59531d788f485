/* SPDX-License-Identifier: Apache-2.0 */
/*
 * merge.c - combining profiles (kl_profile_merge) and copying a subset of
 * a profile's samples (kl_profile_copy_samples).
 *
 * Merging follows pprof's profile.Merge: strings are re-interned into the
 * new profile; mappings are the same when their size (rounded to a page),
 * file offset and build id (or file name) agree, and addresses are moved
 * by the difference of the mapping starts so that two runs of one binary
 * under ASLR line up; functions and locations are the same when their
 * content is; samples with the same locations and labels are summed.
 * Every "is it the same" question is one probe in a hash table over the
 * output's objects, so merging costs O(input size).
 */
#include "hindex.h"
#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The profile.h accessors, but NULL for an empty range: a profile without
 * labels (or lines ...) has a NULL array, and NULL + 0 is undefined.
 */
static const uint32_t *locs_of(const struct kl_profile *p, const struct kl_sample *s)
{
	return s->nlocs ? kl_sample_locs(p, s) : NULL;
}

static const struct kl_label *labels_of(const struct kl_profile *p, const struct kl_sample *s)
{
	return s->nlabels ? kl_sample_labels(p, s) : NULL;
}

static const struct kl_line *lines_of(const struct kl_profile *p, const struct kl_location *l)
{
	return l->nlines ? kl_location_lines(p, l) : NULL;
}

static const int64_t *values_of(const struct kl_profile *p, uint32_t i)
{
	return p->nsample_types ? kl_sample_values(p, i) : NULL;
}

/* ---- hash indexes of output objects ------------------------------------- */

typedef bool (*eq_fn)(const void *ctx, uint32_t idx);

/*
 * Finds the output object equal to the key (eq(ctx, idx) says whether
 * object idx equals it). Returns its index, or KL_HINDEX_NONE with p at
 * the slot where kl_hindex_insert_at() puts the object added next.
 */
static inline uint32_t itab_find(const struct kl_hindex *t, uint64_t hash, eq_fn eq,
				 const void *ctx, struct kl_hindex_probe *p)
{
	uint32_t idx;

	for (idx = kl_hindex_first(t, hash, p); idx != KL_HINDEX_NONE; idx = kl_hindex_next(t, p))
		if (eq(ctx, idx))
			return idx;
	return KL_HINDEX_NONE;
}

/* ---- merging ---------------------------------------------------------- */

struct merger {
	struct kl_profile *out;
	const struct kl_profile *src;
	struct kl_hindex maps, funcs, locs, samples;

	/* per source profile: its index -> output index */
	kl_strid *strmap;
	uint32_t *mapmap;	/* index + 1, 0 = none */
	int64_t *map_delta;	/* output start - source start */
	uint32_t *funcmap;
	uint32_t *locmap;

	/* the key being looked up */
	struct kl_mapping kmap;
	struct kl_function kfunc;
	struct kl_location kloc;
	struct kl_line *klines;
	size_t klines_cap;
	uint32_t *klocs;
	size_t klocs_cap;
	struct kl_label *klabels;
	size_t klabels_cap;
	uint32_t nklocs, nklabels;
};

/* pprof rounds mapping sizes up to a page when comparing mappings */
#define MAP_SIZE_ROUNDING 0x1000

static uint64_t map_size(const struct kl_mapping *m)
{
	uint64_t size = m->limit - m->start;

	return (size + MAP_SIZE_ROUNDING - 1) / MAP_SIZE_ROUNDING * MAP_SIZE_ROUNDING;
}

/* The mapping's identity: its build id, else its file name (0 for both). */
static kl_strid map_ident(const struct kl_mapping *m)
{
	return m->build_id ? m->build_id : m->filename;
}

static uint64_t hash_words(const uint64_t *w, size_t n)
{
	return kl_hash(w, n * sizeof(*w));
}

static bool map_eq(const void *ctx, uint32_t idx)
{
	const struct merger *mg = ctx;
	const struct kl_mapping *a = &mg->out->mappings[idx], *b = &mg->kmap;

	return map_size(a) == map_size(b) && a->offset == b->offset &&
	       map_ident(a) == map_ident(b);
}

static bool func_eq(const void *ctx, uint32_t idx)
{
	const struct merger *mg = ctx;
	const struct kl_function *a = &mg->out->functions[idx], *b = &mg->kfunc;

	return a->name == b->name && a->system_name == b->system_name &&
	       a->filename == b->filename && a->start_line == b->start_line;
}

static bool loc_eq(const void *ctx, uint32_t idx)
{
	const struct merger *mg = ctx;
	const struct kl_location *a = &mg->out->locations[idx], *b = &mg->kloc;
	const struct kl_line *al = lines_of(mg->out, a);

	if (a->mapping != b->mapping || a->address != b->address ||
	    a->is_folded != b->is_folded || a->nlines != b->nlines)
		return false;
	for (uint32_t i = 0; i < a->nlines; i++) {
		if (al[i].function != mg->klines[i].function || al[i].line != mg->klines[i].line ||
		    al[i].column != mg->klines[i].column)
			return false;
	}
	return true;
}

static bool sample_eq(const void *ctx, uint32_t idx)
{
	const struct merger *mg = ctx;
	const struct kl_sample *s = &mg->out->samples[idx];
	const struct kl_label *lb = labels_of(mg->out, s);

	if (s->nlocs != mg->nklocs || s->nlabels != mg->nklabels)
		return false;
	if (s->nlocs &&
	    memcmp(locs_of(mg->out, s), mg->klocs, s->nlocs * sizeof(uint32_t)))
		return false;
	for (uint32_t i = 0; i < s->nlabels; i++) {
		const struct kl_label *k = &mg->klabels[i];

		if (lb[i].key != k->key || lb[i].str != k->str || lb[i].num != k->num ||
		    lb[i].num_unit != k->num_unit)
			return false;
	}
	return true;
}

static int label_cmp(const void *pa, const void *pb)
{
	const struct kl_label *a = pa, *b = pb;

	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	if (a->str != b->str)
		return a->str < b->str ? -1 : 1;
	if (a->num != b->num)
		return a->num < b->num ? -1 : 1;
	if (a->num_unit != b->num_unit)
		return a->num_unit < b->num_unit ? -1 : 1;
	return 0;
}

/* a + b wrapping around: values come from files and may be hostile */
static int64_t wrap_add(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int map_strings(struct merger *mg)
{
	uint32_t n = kl_strtab_count(mg->src->strs);

	mg->strmap = kl_malloc(n * sizeof(*mg->strmap));
	if (!mg->strmap)
		return -ENOMEM;
	mg->strmap[0] = 0;
	for (uint32_t i = 1; i < n; i++)
		mg->strmap[i] = kl_strtab_intern(mg->out->strs, kl_strtab_get(mg->src->strs, i),
						 kl_strtab_len(mg->src->strs, i));
	return kl_strtab_failed(mg->out->strs) ? -ENOMEM : 0;
}

/* String ids from a source are trusted only after a range check. */
static kl_strid S(const struct merger *mg, kl_strid id)
{
	return id < kl_strtab_count(mg->src->strs) ? mg->strmap[id] : 0;
}

static int merge_mappings(struct merger *mg)
{
	const struct kl_profile *src = mg->src;

	mg->mapmap = kl_calloc(src->nmappings + 1, sizeof(*mg->mapmap));
	mg->map_delta = kl_calloc(src->nmappings + 1, sizeof(*mg->map_delta));
	if (!mg->mapmap || !mg->map_delta)
		return -ENOMEM;
	for (uint32_t i = 0; i < src->nmappings; i++) {
		const struct kl_mapping *m = &src->mappings[i];
		struct kl_hindex_probe probe;
		uint64_t key[3], h;
		uint32_t found;

		mg->kmap = *m;
		mg->kmap.filename = S(mg, m->filename);
		mg->kmap.build_id = S(mg, m->build_id);
		key[0] = map_size(&mg->kmap);
		key[1] = mg->kmap.offset;
		key[2] = map_ident(&mg->kmap);
		h = hash_words(key, 3);
		found = itab_find(&mg->maps, h, map_eq, mg, &probe);
		if (found == KL_HINDEX_NONE) {
			mg->kmap.id = mg->out->nmappings + 1;
			found = kl_profile_add_mapping(mg->out, &mg->kmap);
			if (kl_profile_failed(mg->out))
				return -ENOMEM;
			if (kl_hindex_insert_at(&mg->maps, &probe, found))
				return -ENOMEM;
		}
		mg->mapmap[i] = (uint32_t)found + 1;
		mg->map_delta[i] = (int64_t)(mg->out->mappings[found].start - m->start);
	}
	return 0;
}

static int merge_functions(struct merger *mg)
{
	const struct kl_profile *src = mg->src;

	mg->funcmap = kl_malloc((src->nfunctions + 1) * sizeof(*mg->funcmap));
	if (!mg->funcmap)
		return -ENOMEM;
	for (uint32_t i = 0; i < src->nfunctions; i++) {
		const struct kl_function *f = &src->functions[i];
		struct kl_hindex_probe probe;
		uint64_t key[4], h;
		uint32_t found;

		mg->kfunc = (struct kl_function){
			.name = S(mg, f->name),
			.system_name = S(mg, f->system_name),
			.filename = S(mg, f->filename),
			.start_line = f->start_line,
		};
		key[0] = mg->kfunc.name;
		key[1] = mg->kfunc.system_name;
		key[2] = mg->kfunc.filename;
		key[3] = (uint64_t)f->start_line;
		h = hash_words(key, 4);
		found = itab_find(&mg->funcs, h, func_eq, mg, &probe);
		if (found == KL_HINDEX_NONE) {
			mg->kfunc.id = mg->out->nfunctions + 1;
			found = kl_profile_add_function(mg->out, &mg->kfunc);
			if (kl_profile_failed(mg->out))
				return -ENOMEM;
			if (kl_hindex_insert_at(&mg->funcs, &probe, found))
				return -ENOMEM;
		}
		mg->funcmap[i] = (uint32_t)found;
	}
	return 0;
}

static int merge_locations(struct merger *mg)
{
	const struct kl_profile *src = mg->src;

	mg->locmap = kl_malloc((src->nlocations + 1) * sizeof(*mg->locmap));
	if (!mg->locmap)
		return -ENOMEM;
	for (uint32_t i = 0; i < src->nlocations; i++) {
		const struct kl_location *l = &src->locations[i];
		const struct kl_line *ln = lines_of(src, l);
		struct kl_hindex_probe probe;
		uint64_t h;
		uint32_t found;

		if (KL_GROW(mg->klines, mg->klines_cap, l->nlines))
			return -ENOMEM;
		mg->kloc = (struct kl_location){ .is_folded = l->is_folded, .address = l->address };
		if (l->mapping && l->mapping <= src->nmappings) {
			mg->kloc.mapping = mg->mapmap[l->mapping - 1];
			mg->kloc.address = l->address + (uint64_t)mg->map_delta[l->mapping - 1];
		}
		h = kl_hash_u64(((uint64_t)mg->kloc.mapping << 1 | mg->kloc.is_folded) ^
				kl_hash_u64(mg->kloc.address));
		for (uint32_t j = 0; j < l->nlines; j++) {
			mg->klines[j] = (struct kl_line){ mg->funcmap[ln[j].function], ln[j].line,
							  ln[j].column };
			h = kl_hash_u64(h ^ mg->klines[j].function ^
					kl_hash_u64((uint64_t)ln[j].line * 31 + (uint64_t)ln[j].column));
		}
		mg->kloc.nlines = l->nlines;
		found = itab_find(&mg->locs, h, loc_eq, mg, &probe);
		if (found == KL_HINDEX_NONE) {
			mg->kloc.id = mg->out->nlocations + 1;
			found = kl_profile_add_location(mg->out, &mg->kloc, mg->klines, l->nlines);
			if (kl_profile_failed(mg->out))
				return -ENOMEM;
			if (kl_hindex_insert_at(&mg->locs, &probe, found))
				return -ENOMEM;
		}
		mg->locmap[i] = (uint32_t)found;
	}
	return 0;
}

static int merge_samples(struct merger *mg)
{
	const struct kl_profile *src = mg->src;
	uint32_t nvals = src->nsample_types;

	for (uint32_t i = 0; i < src->nsamples; i++) {
		const struct kl_sample *s = &src->samples[i];
		const uint32_t *locs = locs_of(src, s);
		const struct kl_label *lb = labels_of(src, s);
		const int64_t *vals = values_of(src, i);
		struct kl_hindex_probe probe;
		uint64_t h = s->nlocs;
		uint32_t found;

		if (KL_GROW(mg->klocs, mg->klocs_cap, s->nlocs) ||
		    KL_GROW(mg->klabels, mg->klabels_cap, s->nlabels))
			return -ENOMEM;
		for (uint32_t j = 0; j < s->nlocs; j++)
			mg->klocs[j] = mg->locmap[locs[j]];
		for (uint32_t j = 0; j < s->nlabels; j++)
			mg->klabels[j] = (struct kl_label){ S(mg, lb[j].key), S(mg, lb[j].str),
							    lb[j].num, S(mg, lb[j].num_unit) };
		/* label order carries no meaning: compare them sorted */
		if (s->nlabels > 1)
			qsort(mg->klabels, s->nlabels, sizeof(*mg->klabels), label_cmp);
		mg->nklocs = s->nlocs;
		mg->nklabels = s->nlabels;
		if (s->nlocs)
			h ^= kl_hash(mg->klocs, s->nlocs * sizeof(uint32_t));
		for (uint32_t j = 0; j < s->nlabels; j++) {
			/* field by field: struct kl_label has padding */
			const struct kl_label *k = &mg->klabels[j];

			h = kl_hash_u64(h ^ ((uint64_t)k->key << 32 | k->str)) ^
			    kl_hash_u64((uint64_t)k->num ^ ((uint64_t)k->num_unit << 40));
		}
		found = itab_find(&mg->samples, h, sample_eq, mg, &probe);
		if (found != KL_HINDEX_NONE) {
			for (uint32_t v = 0; v < nvals; v++) {
				int64_t *dst = &mg->out->values[(size_t)found * nvals + v];

				*dst = wrap_add(*dst, vals[v]);
			}
			continue;
		}
		found = kl_profile_add_sample(mg->out, mg->klocs, s->nlocs, vals, mg->klabels,
					      s->nlabels);
		if (kl_profile_failed(mg->out))
			return -ENOMEM;
		if (kl_hindex_insert_at(&mg->samples, &probe, found))
			return -ENOMEM;
	}
	return 0;
}

static void release_source(struct merger *mg)
{
	kl_free(mg->strmap);
	kl_free(mg->mapmap);
	kl_free(mg->map_delta);
	kl_free(mg->funcmap);
	kl_free(mg->locmap);
	mg->strmap = NULL;
	mg->mapmap = NULL;
	mg->map_delta = NULL;
	mg->funcmap = NULL;
	mg->locmap = NULL;
}

/* Formats "type/unit, type/unit" for a mismatch message. */
static void describe_types(const struct kl_profile *p, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (uint32_t i = 0; i < p->nsample_types && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s/%s", i ? ", " : "",
				 kl_profile_sget(p, p->sample_types[i].type),
				 kl_profile_sget(p, p->sample_types[i].unit));
		if (n < 0)
			break;
		used += (size_t)n;
	}
	if (!p->nsample_types)
		snprintf(buf, size, "none");
}

static int check_types(struct kl_profile *const *ps, size_t n, struct kl_err *err)
{
	const struct kl_profile *a = ps[0];

	for (size_t k = 1; k < n; k++) {
		const struct kl_profile *b = ps[k];
		bool same = a->nsample_types == b->nsample_types;

		for (uint32_t i = 0; same && i < a->nsample_types; i++) {
			same = !strcmp(kl_profile_sget(a, a->sample_types[i].type),
				       kl_profile_sget(b, b->sample_types[i].type)) &&
			       !strcmp(kl_profile_sget(a, a->sample_types[i].unit),
				       kl_profile_sget(b, b->sample_types[i].unit));
		}
		if (!same) {
			char ta[200], tb[200];

			describe_types(a, ta, sizeof(ta));
			describe_types(b, tb, sizeof(tb));
			return kl_errf(err, -KL_EMISMATCH,
				       "merge: profile 1 has sample types %s but profile %zu has %s",
				       ta, k + 1, tb);
		}
	}
	return 0;
}

/*
 * Header fields as pprof's combineHeaders merges them: the largest period,
 * the earliest time (a zero time is replaced by the next profile's, as in
 * pprof), the sum of the durations, comments de-duplicated in order, and
 * the first profile's settings (the default sample type from the first
 * profile that has one).
 */
static int merge_header(struct merger *mg, struct kl_profile *const *ps, size_t n)
{
	struct kl_profile *out = mg->out;
	const struct kl_profile *first = ps[0];

	for (size_t k = 0; k < n; k++) {
		const struct kl_profile *p = ps[k];

		out->period = KL_MAX(out->period, p->period);
		if (out->time_nanos == 0 || p->time_nanos < out->time_nanos)
			out->time_nanos = p->time_nanos;
		out->duration_nanos = wrap_add(out->duration_nanos, p->duration_nanos);
	}
#define FIRST_STR(field) \
	kl_strtab_intern(out->strs, kl_profile_sget(first, first->field), \
			 kl_strtab_len(first->strs, first->field))
	out->drop_frames = FIRST_STR(drop_frames);
	out->keep_frames = FIRST_STR(keep_frames);
	/* the first profile that names a default sample type sets it (pprof) */
	for (size_t k = 0; k < n && !out->default_sample_type; k++)
		out->default_sample_type = kl_strtab_intern(
			out->strs, kl_profile_sget(ps[k], ps[k]->default_sample_type),
			kl_strtab_len(ps[k]->strs, ps[k]->default_sample_type));
	out->period_type.type = FIRST_STR(period_type.type);
	out->period_type.unit = FIRST_STR(period_type.unit);
	for (uint32_t i = 0; i < first->nsample_types; i++)
		kl_profile_add_sample_type(out, FIRST_STR(sample_types[i].type),
					   FIRST_STR(sample_types[i].unit));
#undef FIRST_STR
	for (size_t k = 0; k < n; k++) {
		const struct kl_profile *p = ps[k];

		for (uint32_t i = 0; i < p->ncomments; i++) {
			kl_strid c = kl_strtab_intern(out->strs, kl_profile_sget(p, p->comments[i]),
						      kl_strtab_len(p->strs, p->comments[i]));
			bool dup = false;

			for (uint32_t j = 0; j < out->ncomments && !dup; j++)
				dup = out->comments[j] == c;
			if (!dup)
				kl_profile_add_comment(out, c);
		}
	}
	return kl_profile_failed(out) ? -ENOMEM : 0;
}

int kl_profile_merge(struct kl_profile *const *profiles, size_t n, struct kl_profile **out,
		     struct kl_err *err)
{
	struct merger mg;
	size_t nsamples = 0, nlocs = 0;
	int rc;

	*out = NULL;
	memset(&mg, 0, sizeof(mg));
	if (n == 0)
		return kl_errf(err, -KL_EUSAGE, "merge: no profiles to merge");
	rc = check_types(profiles, n, err);
	if (rc)
		return rc;
	for (size_t k = 0; k < n; k++) {
		nsamples = KL_MAX(nsamples, (size_t)profiles[k]->nsamples);
		nlocs = KL_MAX(nlocs, (size_t)profiles[k]->nlocations);
	}
	mg.out = kl_profile_new();
	if (!mg.out || kl_hindex_init(&mg.maps, 16) || kl_hindex_init(&mg.funcs, nlocs) ||
	    kl_hindex_init(&mg.locs, nlocs) || kl_hindex_init(&mg.samples, nsamples) ||
	    merge_header(&mg, profiles, n)) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		mg.src = profiles[k];
		if ((rc = map_strings(&mg)) || (rc = merge_mappings(&mg)) ||
		    (rc = merge_functions(&mg)) || (rc = merge_locations(&mg)) ||
		    (rc = merge_samples(&mg)))
			goto out;
		release_source(&mg);
	}
out:
	release_source(&mg);
	kl_hindex_release(&mg.maps);
	kl_hindex_release(&mg.funcs);
	kl_hindex_release(&mg.locs);
	kl_hindex_release(&mg.samples);
	kl_free(mg.klines);
	kl_free(mg.klocs);
	kl_free(mg.klabels);
	if (rc || kl_profile_failed(mg.out)) {
		kl_profile_free(mg.out);
		return kl_errf(err, rc ? rc : -ENOMEM, "merge: out of memory");
	}
	*out = mg.out;
	return 0;
}

/* ---- copying a subset of samples ---------------------------------------- */

struct kl_profile *kl_profile_copy_samples(const struct kl_profile *p, const uint8_t *keep)
{
	struct kl_profile *c = kl_profile_new(), *ret = NULL;
	uint32_t *locmap = NULL, *funcmap = NULL, *mapmap = NULL, *buf = NULL;
	struct kl_line *lines = NULL;
	size_t lines_cap = 0, buf_cap = 0;
	uint32_t nstr = kl_strtab_count(p->strs);

	if (!c)
		return NULL;
	locmap = kl_calloc(p->nlocations + 1, sizeof(*locmap));
	funcmap = kl_calloc(p->nfunctions + 1, sizeof(*funcmap));
	mapmap = kl_calloc(p->nmappings + 1, sizeof(*mapmap));
	if (!locmap || !funcmap || !mapmap)
		goto out;
	/* same string ids: the copy's strings are the original's, in order */
	for (uint32_t i = 1; i < nstr; i++)
		kl_strtab_append(c->strs, kl_strtab_get(p->strs, i), kl_strtab_len(p->strs, i));
	c->drop_frames = p->drop_frames;
	c->keep_frames = p->keep_frames;
	c->period_type = p->period_type;
	c->period = p->period;
	c->time_nanos = p->time_nanos;
	c->duration_nanos = p->duration_nanos;
	c->default_sample_type = p->default_sample_type;
	for (uint32_t i = 0; i < p->ncomments; i++)
		kl_profile_add_comment(c, p->comments[i]);
	for (uint32_t i = 0; i < p->nsample_types; i++)
		kl_profile_add_sample_type(c, p->sample_types[i].type, p->sample_types[i].unit);

	/* mark what kept samples use (maps hold 1 = used, then index + 1) */
	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *s = &p->samples[i];

		if (keep && !keep[i])
			continue;
		for (uint32_t j = 0; j < s->nlocs; j++)
			locmap[locs_of(p, s)[j]] = 1;
	}
	for (uint32_t i = 0; i < p->nlocations; i++) {
		const struct kl_location *l = &p->locations[i];

		if (!locmap[i])
			continue;
		if (l->mapping)
			mapmap[l->mapping - 1] = 1;
		for (uint32_t j = 0; j < l->nlines; j++)
			funcmap[lines_of(p, l)[j].function] = 1;
	}
	for (uint32_t i = 0; i < p->nmappings; i++) {
		if (mapmap[i])
			mapmap[i] = kl_profile_add_mapping(c, &p->mappings[i]) + 1;
	}
	for (uint32_t i = 0; i < p->nfunctions; i++) {
		if (funcmap[i])
			funcmap[i] = kl_profile_add_function(c, &p->functions[i]) + 1;
	}
	if (kl_profile_failed(c))
		goto out;
	for (uint32_t i = 0; i < p->nlocations; i++) {
		struct kl_location l = p->locations[i];
		const struct kl_line *ln = lines_of(p, &p->locations[i]);

		if (!locmap[i])
			continue;
		if (KL_GROW(lines, lines_cap, l.nlines))
			goto out;
		for (uint32_t j = 0; j < l.nlines; j++) {
			lines[j] = ln[j];
			lines[j].function = funcmap[ln[j].function] - 1;
		}
		if (l.mapping)
			l.mapping = mapmap[l.mapping - 1];
		locmap[i] = kl_profile_add_location(c, &l, lines, l.nlines) + 1;
		if (kl_profile_failed(c))
			goto out;
	}
	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *s = &p->samples[i];

		if (keep && !keep[i])
			continue;
		if (KL_GROW(buf, buf_cap, s->nlocs))
			goto out;
		for (uint32_t j = 0; j < s->nlocs; j++)
			buf[j] = locmap[locs_of(p, s)[j]] - 1;
		kl_profile_add_sample(c, buf, s->nlocs, values_of(p, i),
				      labels_of(p, s), s->nlabels);
		if (kl_profile_failed(c))
			goto out;
	}
	if (!kl_profile_failed(c)) {
		ret = c;
		c = NULL;
	}
out:
	kl_free(locmap);
	kl_free(funcmap);
	kl_free(mapmap);
	kl_free(lines);
	kl_free(buf);
	kl_profile_free(c);
	return ret;
}
