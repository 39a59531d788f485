/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profile.c - building, validating and querying the in-memory profile.
 *
 * Merging lives in merge.c; turning samples into stacks of named frames
 * lives in view.c.
 */
#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct kl_profile *kl_profile_new(void)
{
	struct kl_profile *p = kl_calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->strs = kl_strtab_new();
	if (!p->strs) {
		kl_free(p);
		return NULL;
	}
	return p;
}

void kl_profile_free(struct kl_profile *p)
{
	if (!p)
		return;
	kl_strtab_free(p->strs);
	kl_free(p->sample_types);
	kl_free(p->mappings);
	kl_free(p->functions);
	kl_free(p->lines);
	kl_free(p->locations);
	kl_free(p->samples);
	kl_free(p->sample_locs);
	kl_free(p->values);
	kl_free(p->labels);
	kl_free(p->comments);
	kl_free(p);
}

kl_strid kl_profile_str(struct kl_profile *p, const char *s, size_t len)
{
	return kl_strtab_intern(p->strs, s, len);
}

kl_strid kl_profile_cstr(struct kl_profile *p, const char *s)
{
	return kl_strtab_intern(p->strs, s, strlen(s));
}

bool kl_profile_failed(const struct kl_profile *p)
{
	return p->failed || kl_strtab_failed(p->strs);
}

uint32_t kl_profile_add_sample_type(struct kl_profile *p, kl_strid type, kl_strid unit)
{
	if (p->nsamples) {
		/* values are laid out per sample: types must come first */
		p->failed = true;
		return 0;
	}
	if (KL_GROW(p->sample_types, p->sample_types_cap, p->nsample_types + 1)) {
		p->failed = true;
		return 0;
	}
	p->sample_types[p->nsample_types] = (struct kl_value_type){ type, unit };
	return p->nsample_types++;
}

uint32_t kl_profile_add_mapping(struct kl_profile *p, const struct kl_mapping *m)
{
	if (p->nmappings == UINT32_MAX - 1 ||
	    KL_GROW(p->mappings, p->mappings_cap, p->nmappings + 1)) {
		p->failed = true;
		return 0;
	}
	p->mappings[p->nmappings] = *m;
	return p->nmappings++;
}

uint32_t kl_profile_add_function(struct kl_profile *p, const struct kl_function *f)
{
	if (p->nfunctions == UINT32_MAX ||
	    KL_GROW(p->functions, p->functions_cap, p->nfunctions + 1)) {
		p->failed = true;
		return 0;
	}
	p->functions[p->nfunctions] = *f;
	return p->nfunctions++;
}

uint32_t kl_profile_add_location(struct kl_profile *p, const struct kl_location *loc,
				 const struct kl_line *lines, uint32_t nlines)
{
	struct kl_location *l;

	if (p->nlocations == UINT32_MAX || (uint64_t)p->nlines + nlines > UINT32_MAX ||
	    KL_GROW(p->locations, p->locations_cap, p->nlocations + 1) ||
	    KL_GROW(p->lines, p->lines_cap, (size_t)p->nlines + nlines)) {
		p->failed = true;
		return 0;
	}
	l = &p->locations[p->nlocations];
	*l = *loc;
	l->line_start = p->nlines;
	l->nlines = nlines;
	if (nlines)
		memcpy(p->lines + p->nlines, lines, nlines * sizeof(*lines));
	p->nlines += nlines;
	return p->nlocations++;
}

uint32_t kl_profile_add_sample(struct kl_profile *p, const uint32_t *locs, uint32_t nlocs,
			       const int64_t *values, const struct kl_label *labels,
			       uint32_t nlabels)
{
	size_t nvals = p->nsample_types;
	struct kl_sample *s;

	if (p->nsamples == UINT32_MAX || p->nsample_locs + nlocs > UINT32_MAX ||
	    p->nlabels + nlabels > UINT32_MAX ||
	    KL_GROW(p->samples, p->samples_cap, p->nsamples + 1) ||
	    KL_GROW(p->sample_locs, p->sample_locs_cap, p->nsample_locs + nlocs) ||
	    KL_GROW(p->values, p->values_cap, ((size_t)p->nsamples + 1) * nvals) ||
	    KL_GROW(p->labels, p->labels_cap, p->nlabels + nlabels)) {
		p->failed = true;
		return 0;
	}
	s = &p->samples[p->nsamples];
	s->loc_start = (uint32_t)p->nsample_locs;
	s->nlocs = nlocs;
	s->label_start = (uint32_t)p->nlabels;
	s->nlabels = nlabels;
	if (nlocs)
		memcpy(p->sample_locs + p->nsample_locs, locs, nlocs * sizeof(*locs));
	/* one value (every series profile) is a store, not a memcpy call */
	if (nvals == 1)
		p->values[p->nsamples] = values[0];
	else if (nvals)
		memcpy(p->values + (size_t)p->nsamples * nvals, values, nvals * sizeof(*values));
	if (nlabels)
		memcpy(p->labels + p->nlabels, labels, nlabels * sizeof(*labels));
	p->nsample_locs += nlocs;
	p->nlabels += nlabels;
	return p->nsamples++;
}

void kl_profile_add_comment(struct kl_profile *p, kl_strid comment)
{
	if (KL_GROW(p->comments, p->comments_cap, p->ncomments + 1)) {
		p->failed = true;
		return;
	}
	p->comments[p->ncomments++] = comment;
}

int kl_profile_validate(const struct kl_profile *p, struct kl_err *err)
{
	uint32_t nstr = kl_strtab_count(p->strs);

	if (kl_profile_failed(p))
		return kl_errf(err, -ENOMEM, "out of memory while building the profile");
	for (uint32_t i = 0; i < p->nfunctions; i++) {
		const struct kl_function *f = &p->functions[i];

		if (f->name >= nstr || f->system_name >= nstr || f->filename >= nstr)
			return kl_errf(err, -KL_EFORMAT, "function %u has a bad string index", i);
	}
	for (uint32_t i = 0; i < p->nlines; i++) {
		if (p->lines[i].function >= p->nfunctions)
			return kl_errf(err, -KL_EFORMAT, "line %u refers to unknown function %u", i,
				       p->lines[i].function);
	}
	for (uint32_t i = 0; i < p->nlocations; i++) {
		const struct kl_location *l = &p->locations[i];

		if (l->mapping > p->nmappings)
			return kl_errf(err, -KL_EFORMAT, "location %u refers to unknown mapping", i);
		if ((uint64_t)l->line_start + l->nlines > p->nlines)
			return kl_errf(err, -KL_EFORMAT, "location %u has bad lines", i);
	}
	for (size_t i = 0; i < p->nsample_locs; i++) {
		if (p->sample_locs[i] >= p->nlocations)
			return kl_errf(err, -KL_EFORMAT, "a sample refers to unknown location %u",
				       p->sample_locs[i]);
	}
	for (size_t i = 0; i < p->nlabels; i++) {
		const struct kl_label *lb = &p->labels[i];

		if (lb->key >= nstr || lb->str >= nstr || lb->num_unit >= nstr)
			return kl_errf(err, -KL_EFORMAT, "label %zu has a bad string index", i);
	}
	return 0;
}

int kl_profile_sample_index(const struct kl_profile *p, const char *name, struct kl_err *err)
{
	char list[256];
	size_t used = 0;
	char *end;
	long idx;

	if (p->nsample_types == 0)
		return kl_errf(err, -KL_ENOTFOUND, "profile has no sample types");
	if (!name || !*name) {
		if (p->default_sample_type) {
			for (uint32_t i = 0; i < p->nsample_types; i++)
				if (p->sample_types[i].type == p->default_sample_type)
					return (int)i;
		}
		return (int)p->nsample_types - 1;
	}
	idx = strtol(name, &end, 10);
	if (*end == '\0' && end != name) {
		if (idx >= 0 && idx < (long)p->nsample_types)
			return (int)idx;
	}
	for (uint32_t i = 0; i < p->nsample_types; i++) {
		if (strcmp(kl_profile_sget(p, p->sample_types[i].type), name) == 0)
			return (int)i;
	}
	/* not found: list the valid names in the message */
	for (uint32_t i = 0; i < p->nsample_types && used < sizeof(list); i++) {
		int n = snprintf(list + used, sizeof(list) - used, "%s%s", i ? ", " : "",
				 kl_profile_sget(p, p->sample_types[i].type));
		if (n < 0)
			break;
		used += (size_t)n;
	}
	return kl_errf(err, -KL_ENOTFOUND, "sample type \"%s\" not found; this profile has: %s",
		       name, list);
}

int64_t kl_profile_total(const struct kl_profile *p, uint32_t sample_index)
{
	int64_t total = 0;

	for (uint32_t i = 0; i < p->nsamples; i++)
		total += kl_sample_values(p, i)[sample_index];
	return total;
}

size_t kl_profile_memory(const struct kl_profile *p)
{
	return sizeof(*p) + kl_strtab_memory(p->strs) +
	       p->sample_types_cap * sizeof(*p->sample_types) +
	       p->mappings_cap * sizeof(*p->mappings) + p->functions_cap * sizeof(*p->functions) +
	       p->lines_cap * sizeof(*p->lines) + p->locations_cap * sizeof(*p->locations) +
	       p->samples_cap * sizeof(*p->samples) + p->sample_locs_cap * sizeof(uint32_t) +
	       p->values_cap * sizeof(int64_t) + p->labels_cap * sizeof(*p->labels) +
	       p->comments_cap * sizeof(kl_strid);
}
