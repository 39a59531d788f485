/* SPDX-License-Identifier: Apache-2.0 */
/*
 * profile.h - Kiln's in-memory profile model.
 *
 * The model mirrors pprof's profile.proto so that any pprof file can be read
 * and written back without loss, but it is laid out for speed and low memory
 * on profiles of millions of samples:
 *
 *   - every string is interned in one kl_strtab (kl_strid);
 *   - mappings, functions, locations and samples live in flat arrays and
 *     refer to each other by array index, not by pointer or pprof id (the
 *     pprof ids are kept only for round trips);
 *   - the lines of all locations share one array, as do the location lists,
 *     values and labels of all samples (each object holds start + count).
 *
 * Conventions: index fields named "mapping" hold index + 1 so that 0 means
 * "none"; all other indexes are plain 0-based. A sample's locations are leaf
 * first, as in pprof; a location's lines are innermost (inlined callee) first.
 *
 * Building: create with kl_profile_new(), add objects with kl_profile_add_*.
 * These never fail loudly; an allocation failure marks the profile failed and
 * kl_profile_failed() reports it once the builder is done (the SQLite
 * mallocFailed pattern), which keeps readers free of per-call error checks.
 */
#ifndef KL_PROFILE_H
#define KL_PROFILE_H

#include "base.h"
#include "strtab.h"

struct kl_value_type {
	kl_strid type;		/* e.g. "cpu", "alloc_space" */
	kl_strid unit;		/* e.g. "nanoseconds", "bytes", "count" */
};

enum kl_mapping_flags {
	KL_MAP_HAS_FUNCTIONS = 1 << 0,
	KL_MAP_HAS_FILENAMES = 1 << 1,
	KL_MAP_HAS_LINE_NUMBERS = 1 << 2,
	KL_MAP_HAS_INLINE_FRAMES = 1 << 3,
};

struct kl_mapping {
	uint64_t id;		/* pprof id, unique and non-zero */
	uint64_t start, limit, offset;
	kl_strid filename;
	kl_strid build_id;
	uint32_t flags;		/* enum kl_mapping_flags */
};

struct kl_function {
	uint64_t id;		/* pprof id */
	kl_strid name;
	kl_strid system_name;
	kl_strid filename;
	int64_t start_line;
};

struct kl_line {
	uint32_t function;	/* index into functions */
	int64_t line;
	int64_t column;
};

struct kl_location {
	uint64_t id;		/* pprof id */
	uint32_t mapping;	/* index + 1 into mappings, 0 = none */
	bool is_folded;
	uint64_t address;
	uint32_t line_start;	/* first entry in lines[] */
	uint32_t nlines;
};

struct kl_label {
	kl_strid key;
	kl_strid str;		/* string value, or 0 for a numeric label */
	int64_t num;
	kl_strid num_unit;
};

struct kl_sample {
	uint32_t loc_start;	/* first entry in sample_locs[] */
	uint32_t nlocs;
	uint32_t label_start;	/* first entry in labels[] */
	uint32_t nlabels;
	/* values are at values[index * nsample_types ...] */
};

struct kl_profile {
	struct kl_strtab *strs;

	struct kl_value_type *sample_types;
	uint32_t nsample_types;
	size_t sample_types_cap;

	struct kl_mapping *mappings;
	uint32_t nmappings;
	size_t mappings_cap;

	struct kl_function *functions;
	uint32_t nfunctions;
	size_t functions_cap;

	struct kl_line *lines;
	uint32_t nlines;
	size_t lines_cap;

	struct kl_location *locations;
	uint32_t nlocations;
	size_t locations_cap;

	struct kl_sample *samples;
	uint32_t nsamples;
	size_t samples_cap;

	uint32_t *sample_locs;	/* location indexes of all samples */
	size_t nsample_locs;
	size_t sample_locs_cap;

	int64_t *values;	/* nsamples * nsample_types */
	size_t values_cap;

	struct kl_label *labels;	/* labels of all samples */
	size_t nlabels;
	size_t labels_cap;

	kl_strid *comments;
	uint32_t ncomments;
	size_t comments_cap;

	kl_strid drop_frames;
	kl_strid keep_frames;
	struct kl_value_type period_type;
	int64_t period;
	int64_t time_nanos;
	int64_t duration_nanos;
	kl_strid default_sample_type;

	bool failed;		/* an allocation failed while building */
};

/* Creates an empty profile. NULL on out of memory. */
struct kl_profile *kl_profile_new(void);

/* Frees a profile and all it holds. NULL and half-built profiles are fine. */
void kl_profile_free(struct kl_profile *p);

/* Interns a string in the profile's table (see kl_strtab_intern). */
kl_strid kl_profile_str(struct kl_profile *p, const char *s, size_t len);
kl_strid kl_profile_cstr(struct kl_profile *p, const char *s);

/* Borrows the string with this id. */
static inline const char *kl_profile_sget(const struct kl_profile *p, kl_strid id)
{
	return kl_strtab_get(p->strs, id);
}

/*
 * Builder calls. Each returns the new object's index (or, for add_sample,
 * the sample index). On allocation failure the profile is marked failed and
 * the return value must not be used; check kl_profile_failed() at the end.
 */
uint32_t kl_profile_add_sample_type(struct kl_profile *p, kl_strid type, kl_strid unit);
uint32_t kl_profile_add_mapping(struct kl_profile *p, const struct kl_mapping *m);
uint32_t kl_profile_add_function(struct kl_profile *p, const struct kl_function *f);
/* Adds a location whose lines are given (copied, innermost first). */
uint32_t kl_profile_add_location(struct kl_profile *p, const struct kl_location *loc,
				 const struct kl_line *lines, uint32_t nlines);
/*
 * Adds a sample: locs are location indexes, leaf first; values has exactly
 * nsample_types entries (so sample types must be added first); labels may
 * be NULL when nlabels is 0.
 */
uint32_t kl_profile_add_sample(struct kl_profile *p, const uint32_t *locs, uint32_t nlocs,
			       const int64_t *values, const struct kl_label *labels,
			       uint32_t nlabels);
void kl_profile_add_comment(struct kl_profile *p, kl_strid comment);

/* True if an allocation failed while building (or interning). */
bool kl_profile_failed(const struct kl_profile *p);

/*
 * Accessors for one sample's arrays. They return NULL when the profile has
 * no entries of that kind at all (then the count is 0): offsetting a NULL
 * array, even by 0, is undefined behaviour that UBSan reports.
 */
static inline const uint32_t *kl_sample_locs(const struct kl_profile *p, const struct kl_sample *s)
{
	return p->sample_locs ? p->sample_locs + s->loc_start : NULL;
}
static inline const int64_t *kl_sample_values(const struct kl_profile *p, uint32_t sample_index)
{
	return p->values + (size_t)sample_index * p->nsample_types;
}
static inline const struct kl_label *kl_sample_labels(const struct kl_profile *p,
						      const struct kl_sample *s)
{
	return p->labels ? p->labels + s->label_start : NULL;
}
static inline const struct kl_line *kl_location_lines(const struct kl_profile *p,
						      const struct kl_location *loc)
{
	return p->lines ? p->lines + loc->line_start : NULL;
}

/*
 * Checks internal consistency (indexes in range, values sized right).
 * Returns 0 or -KL_EFORMAT with a message in err. Readers call it last.
 */
int kl_profile_validate(const struct kl_profile *p, struct kl_err *err);

/*
 * Finds the sample type whose type name is name (or, if name is a number,
 * that index). Returns the index, or -KL_ENOTFOUND with the list of valid
 * names in err. An empty or NULL name picks the default: the
 * default_sample_type if set, else the last sample type (pprof's rule).
 */
int kl_profile_sample_index(const struct kl_profile *p, const char *name, struct kl_err *err);

/*
 * Merges n profiles into a new one (*out). All must have the same sample
 * types (names and units) or -KL_EMISMATCH is returned with a message.
 * Functions, mappings and locations are de-duplicated by content; samples
 * with identical stacks and labels are summed. Period (largest), time
 * (earliest), duration (sum) and comments are combined as pprof does.
 */
int kl_profile_merge(struct kl_profile *const *profiles, size_t n, struct kl_profile **out,
		     struct kl_err *err);

/*
 * Returns a copy of p holding only the samples for which keep[i] is non-zero
 * (the mask kl_filter_apply writes; NULL keeps all),
 * with unreferenced locations, functions and mappings dropped. Cheap helper
 * shared by filters.
 */
struct kl_profile *kl_profile_copy_samples(const struct kl_profile *p, const uint8_t *keep);

/* Sum of values of sample type index over all samples. */
int64_t kl_profile_total(const struct kl_profile *p, uint32_t sample_index);

/* Bytes of memory held by the profile, for statistics and benchmarks. */
size_t kl_profile_memory(const struct kl_profile *p);

#endif /* KL_PROFILE_H */
