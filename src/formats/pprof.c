/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof.c - reading pprof's profile.proto (gzip or raw); the writer is in
 * pprof_write.c, and the id map both use is declared in pprof_internal.h.
 *
 * Reading decodes the wire format by hand, straight into struct kl_profile:
 * on go-large.cpu.pb.gz (2.4 MB raw) protobuf-c's unpack plus freeing its
 * ~100k small messages cost about 25 ms, as much as the rest of the read
 * together. The reader makes four passes over the top-level fields (header
 * and strings; mappings and functions; locations; samples) so every id is
 * resolved when it is met, whatever order the file uses.
 *
 * Sections: id maps (pprof id -> array index), wire format, reading.
 *
 * String ids are kept as in the file (kl_strtab_append), so a string index
 * read from the file is used as a kl_strid after a range check, and a read
 * profile is written back with the same string table and the same ids.
 */
#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "limits_internal.h"
#include "pprof_internal.h"
#include "protowire.h"

/* ---- id maps ---------------------------------------------------------- */

void pprof_idmap_release(struct pprof_idmap *m)
{
	kl_free(m->dense);
	kl_free(m->keys);
	kl_free(m->vals);
	memset(m, 0, sizeof(*m));
}

int pprof_idmap_init(struct pprof_idmap *m, size_t n, uint64_t max_id)
{
	size_t nslots = 16;

	memset(m, 0, sizeof(*m));
	if (max_id <= (uint64_t)n * 2 + 1024) {
		m->ndense = max_id + 1;
		m->dense = kl_calloc((size_t)m->ndense, sizeof(*m->dense));
		return m->dense ? 0 : -ENOMEM;
	}
	while (nslots < n * 2)
		nslots *= 2;
	m->mask = nslots - 1;
	m->keys = kl_calloc(nslots, sizeof(*m->keys));
	m->vals = kl_malloc(nslots * sizeof(*m->vals));
	if (!m->keys || !m->vals) {
		pprof_idmap_release(m);
		return -ENOMEM;
	}
	return 0;
}

bool pprof_idmap_put(struct pprof_idmap *m, uint64_t id, uint32_t idx)
{
	size_t i;

	if (m->dense) {
		if (m->dense[id])
			return false;
		m->dense[id] = idx + 1;
		return true;
	}
	for (i = kl_hash_u64(id) & m->mask; m->keys[i]; i = (i + 1) & m->mask) {
		if (m->keys[i] == id)
			return false;
	}
	m->keys[i] = id;
	m->vals[i] = idx;
	return true;
}

/* Returns the index of id, or -1 if absent. */
static inline int64_t idmap_get(const struct pprof_idmap *m, uint64_t id)
{
	if (id == 0)
		return -1;
	if (m->dense)
		return id < m->ndense && m->dense[id] ? (int64_t)m->dense[id] - 1 : -1;
	if (!m->keys)
		return -1;
	for (size_t i = kl_hash_u64(id) & m->mask; m->keys[i]; i = (i + 1) & m->mask) {
		if (m->keys[i] == id)
			return m->vals[i];
	}
	return -1;
}

/* ---- reading: wire format ----------------------------------------------- */

/*
 * Steps to the next field of a message whose fields 1..max are scalars
 * (varints), except those whose bit is set in len_fields, which are
 * length-delimited (sub messages or strings). Higher fields are skipped, as
 * protobuf asks of unknown fields; a known field with another wire type is
 * malformed. Returns 1 with *f and *v (varint) or *sub (length-delimited)
 * set, 0 at the end of the message, -1 on malformed data (b is left where
 * decoding stopped, for the error message).
 */
static int pb_next(struct pb *b, uint32_t max, uint32_t len_fields, uint32_t *f, uint64_t *v,
		   struct pb *sub)
{
	uint32_t wt;

	while (b->p < b->end) {
		if (!pb_key(b, f, &wt))
			return -1;
		if (*f > max) {
			if (!pb_skip(b, wt))
				return -1;
			continue;
		}
		if (*f < 32 && (len_fields >> *f & 1))
			return wt == WT_LEN && pb_sub(b, sub) ? 1 : -1;
		return wt == WT_VARINT && pb_varint(b, v) ? 1 : -1;
	}
	return 0;
}

/*
 * Decodes a message whose fields 1..max are all scalars into v[1..max]
 * (v[0] is unused; a field given twice keeps its last value, as protobuf
 * does; absent fields keep what v held). False on malformed data.
 */
static bool pb_scalars(struct pb *b, uint64_t *v, uint32_t max)
{
	uint32_t f;
	uint64_t x;
	int rc;

	while ((rc = pb_next(b, max, 0, &f, &x, NULL)) > 0)
		v[f] = x;
	return rc == 0;
}

/*
 * Runs the statements given last (variadic, so they may hold commas) with v
 * set to each varint of a repeated scalar field, packed (wt 2) or not
 * (wt 0); jumps to the caller's "bad" label on malformed data.
 */
#define PB_REPEATED(b, wt, v, ...)                                                         \
	do {                                                                               \
		if ((wt) == WT_VARINT) {                                                   \
			if (!pb_varint((b), &(v)))                                        \
				goto bad;                                                  \
			__VA_ARGS__;                                                       \
		} else if ((wt) == WT_LEN) {                                               \
			struct pb pk_;                                                     \
			if (!pb_sub((b), &pk_))                                            \
				goto bad;                                                  \
			while (pk_.p < pk_.end) {                                          \
				if (!pb_varint(&pk_, &(v)))                                \
					goto bad;                                          \
				__VA_ARGS__;                                               \
			}                                                                  \
		} else {                                                                   \
			goto bad;                                                          \
		}                                                                          \
	} while (0)

/* ---- reading: profile.proto --------------------------------------------- */

struct reader {
	struct pb top;			/* the whole message */
	struct kl_profile *p;
	struct kl_err *err;
	uint32_t nstr;
	uint32_t max_depth, max_samples;
	struct pprof_idmap maps, funcs, locs;
	/* counts from the first pass, to size arrays once */
	size_t nsamples, nmappings, nfunctions, nlocations;
	/*
	 * Per top-level field 2..5 (sample, mapping, location, function): from
	 * the key of its first occurrence to the end of its last, so a later pass
	 * walks only that range (writers group each kind: no skipping at all).
	 */
	const uint8_t *kind_start[6], *kind_end[6];
	/* header fields whose string indexes are checked once all strings are in */
	int64_t drop_frames, keep_frames, default_sample_type, pt_type, pt_unit;
	bool has_period_type;
	/* scratch for one sample or location */
	uint32_t *locs_buf;
	size_t locs_cap;
	int64_t *vals_buf;
	size_t vals_cap;
	struct kl_label *labels_buf;
	size_t labels_cap;
	struct kl_line *lines_buf;
	size_t lines_cap;
};

/* Checks a string index from the file; what/id name the referring object. */
static int check_str(struct reader *r, int64_t s, const char *what, uint64_t id)
{
	if (s >= 0 && s < (int64_t)r->nstr)
		return 0;
	return kl_errf(r->err, -KL_EFORMAT,
		       "pprof: %s %" PRIu64 " has string index %" PRId64
		       " out of range (string table has %" PRIu32 ")", what, id, s, r->nstr);
}

static int malformed(struct reader *r, const char *what, const struct pb *b)
{
	return kl_errf(r->err, -KL_EFORMAT,
		       "pprof: malformed protobuf in %s at byte %td (corrupt or truncated data)",
		       what, b->p - r->top.p);
}

static int oom(struct reader *r)
{
	return kl_errf(r->err, -ENOMEM, "pprof: out of memory");
}

/* Decodes a ValueType message. */
static bool read_value_type(struct pb *b, int64_t *type, int64_t *unit)
{
	uint32_t f, wt;
	uint64_t v;

	*type = *unit = 0;
	while (b->p < b->end) {
		if (!pb_key(b, &f, &wt))
			return false;
		if ((f == 1 || f == 2) && wt == WT_VARINT) {
			if (!pb_varint(b, &v))
				return false;
			*(f == 1 ? type : unit) = (int64_t)v;
		} else if (!pb_skip(b, wt)) {
			return false;
		}
	}
	return true;
}

/*
 * Pass 1 over the top level: strings, scalar header fields, comments and
 * sample types, and counts of the repeated messages (the sample limit is
 * enforced here, before anything is sized by it).
 */
static int pass_header(struct reader *r)
{
	struct pb b = r->top;
	struct kl_profile *p = r->p;
	uint32_t f, wt;
	uint64_t v;
	bool first_string = true;
	int64_t *comments = NULL;
	size_t ncomments = 0, comments_cap = 0;
	int64_t (*types)[2] = NULL;
	size_t ntypes = 0, types_cap = 0;
	int rc = 0;

	while (b.p < b.end) {
		const uint8_t *key_at = b.p;
		struct pb sub;

		if (!pb_key(&b, &f, &wt))
			goto bad;
		switch (f) {
		case 1: {	/* sample_type */
			int64_t t, u;

			if (wt != WT_LEN || !pb_sub(&b, &sub) || !read_value_type(&sub, &t, &u))
				goto bad;
			if (KL_GROW(types, types_cap, ntypes + 1)) {
				rc = oom(r);
				goto out;
			}
			/* range-checked below, once the string table is complete */
			types[ntypes][0] = t;
			types[ntypes][1] = u;
			ntypes++;
			break;
		}
		case 2: case 3: case 4: case 5:
			if (wt != WT_LEN || !pb_sub(&b, &sub))
				goto bad;
			if (f == 2 && ++r->nsamples > r->max_samples) {
				rc = kl_errf(r->err, -KL_ELIMIT, "pprof: more than %" PRIu32 " samples",
					     r->max_samples);
				goto out;
			}
			if (f == 3)
				r->nmappings++;
			else if (f == 4)
				r->nlocations++;
			else if (f == 5)
				r->nfunctions++;
			if (!r->kind_start[f])
				r->kind_start[f] = key_at;
			r->kind_end[f] = b.p;
			break;
		case 6:		/* string_table */
			if (wt != WT_LEN || !pb_sub(&b, &sub))
				goto bad;
			if (first_string) {
				if (sub.end != sub.p) {
					rc = kl_errf(r->err, -KL_EFORMAT,
						     "pprof: string_table[0] is not empty");
					goto out;
				}
				first_string = false;
				break;
			}
			kl_strtab_append(p->strs, (const char *)sub.p, (size_t)(sub.end - sub.p));
			break;
		case 7: case 8: case 9: case 10: case 12: case 14:
			if (wt != WT_VARINT || !pb_varint(&b, &v))
				goto bad;
			if (f == 7)
				r->drop_frames = (int64_t)v;
			else if (f == 8)
				r->keep_frames = (int64_t)v;
			else if (f == 9)
				p->time_nanos = (int64_t)v;
			else if (f == 10)
				p->duration_nanos = (int64_t)v;
			else if (f == 12)
				p->period = (int64_t)v;
			else
				r->default_sample_type = (int64_t)v;
			break;
		case 11:	/* period_type */
			if (wt != WT_LEN || !pb_sub(&b, &sub) ||
			    !read_value_type(&sub, &r->pt_type, &r->pt_unit))
				goto bad;
			r->has_period_type = true;
			break;
		case 13:	/* comment */
			PB_REPEATED(&b, wt, v, {
				if (KL_GROW(comments, comments_cap, ncomments + 1)) {
					rc = oom(r);
					goto out;
				}
				comments[ncomments++] = (int64_t)v;
			});
			break;
		default:
			if (!pb_skip(&b, wt))
				goto bad;
		}
	}
	if (kl_strtab_failed(p->strs)) {
		rc = oom(r);
		goto out;
	}
	r->nstr = kl_strtab_count(p->strs);
	for (size_t i = 0; i < ntypes; i++) {
		if ((rc = check_str(r, types[i][0], "sample type", i)) ||
		    (rc = check_str(r, types[i][1], "sample type", i)))
			goto out;
		kl_profile_add_sample_type(p, (kl_strid)types[i][0], (kl_strid)types[i][1]);
	}
	for (size_t i = 0; i < ncomments; i++) {
		if ((rc = check_str(r, comments[i], "comment", i)))
			goto out;
		kl_profile_add_comment(p, (kl_strid)comments[i]);
	}
	if ((rc = check_str(r, r->drop_frames, "drop_frames", 0)) ||
	    (rc = check_str(r, r->keep_frames, "keep_frames", 0)) ||
	    (rc = check_str(r, r->default_sample_type, "default_sample_type", 0)) ||
	    (rc = check_str(r, r->pt_type, "period type", 0)) ||
	    (rc = check_str(r, r->pt_unit, "period type", 0)))
		goto out;
	p->drop_frames = (kl_strid)r->drop_frames;
	p->keep_frames = (kl_strid)r->keep_frames;
	p->default_sample_type = (kl_strid)r->default_sample_type;
	p->period_type.type = (kl_strid)r->pt_type;
	p->period_type.unit = (kl_strid)r->pt_unit;
	if (r->nmappings >= UINT32_MAX - 1 || r->nfunctions >= UINT32_MAX ||
	    r->nlocations >= UINT32_MAX) {
		rc = kl_errf(r->err, -KL_ELIMIT, "pprof: too many objects");
		goto out;
	}
	/* every value takes at least a byte: this bounds what is allocated below */
	if (r->nsamples && p->nsample_types > (size_t)(r->top.end - r->top.p) / r->nsamples) {
		rc = kl_errf(r->err, -KL_EFORMAT,
			     "pprof: %zu samples cannot each hold %" PRIu32 " values", r->nsamples,
			     p->nsample_types);
		goto out;
	}
	if (KL_GROW(p->mappings, p->mappings_cap, r->nmappings) ||
	    KL_GROW(p->functions, p->functions_cap, r->nfunctions) ||
	    KL_GROW(p->locations, p->locations_cap, r->nlocations) ||
	    KL_GROW(p->samples, p->samples_cap, r->nsamples) ||
	    KL_GROW(p->values, p->values_cap, r->nsamples * p->nsample_types))
		rc = oom(r);
	/*
	 * The stacks' location ids, sized once from the samples' bytes (an id
	 * takes 1-2 bytes in practice: half the bytes is a close upper bound)
	 * instead of a series of doublings and copies while samples are read.
	 */
	if (!rc && r->nsamples &&
	    KL_GROW(p->sample_locs, p->sample_locs_cap,
		    (size_t)(r->kind_end[2] - r->kind_start[2]) / 2))
		rc = oom(r);
	goto out;
bad:
	rc = malformed(r, "profile", &b);
out:
	kl_free(comments);
	kl_free(types);
	return rc;
}

static int read_mapping(struct reader *r, struct pb *b)
{
	/* by field number: id, start, limit, offset, filename, build_id, has_* */
	uint64_t v[11] = { 0 };
	struct kl_mapping m = { 0 };
	int rc;

	if (!pb_scalars(b, v, 10))
		return malformed(r, "mapping", b);
	m.id = v[1];
	m.start = v[2];
	m.limit = v[3];
	m.offset = v[4];
	m.flags = (v[7] ? KL_MAP_HAS_FUNCTIONS : 0) | (v[8] ? KL_MAP_HAS_FILENAMES : 0) |
		  (v[9] ? KL_MAP_HAS_LINE_NUMBERS : 0) | (v[10] ? KL_MAP_HAS_INLINE_FRAMES : 0);
	if ((rc = check_str(r, (int64_t)v[5], "mapping", m.id)) ||
	    (rc = check_str(r, (int64_t)v[6], "mapping", m.id)))
		return rc;
	m.filename = (kl_strid)v[5];
	m.build_id = (kl_strid)v[6];
	kl_profile_add_mapping(r->p, &m);
	return 0;
}

static int read_function(struct reader *r, struct pb *b)
{
	/* by field number: id, name, system_name, filename, start_line */
	uint64_t v[6] = { 0 };
	struct kl_function fn = { 0 };
	int rc;

	if (!pb_scalars(b, v, 5))
		return malformed(r, "function", b);
	fn.id = v[1];
	fn.start_line = (int64_t)v[5];
	if ((rc = check_str(r, (int64_t)v[2], "function", fn.id)) ||
	    (rc = check_str(r, (int64_t)v[3], "function", fn.id)) ||
	    (rc = check_str(r, (int64_t)v[4], "function", fn.id)))
		return rc;
	fn.name = (kl_strid)v[2];
	fn.system_name = (kl_strid)v[3];
	fn.filename = (kl_strid)v[4];
	kl_profile_add_function(r->p, &fn);
	return 0;
}

/*
 * Decodes a location's Line message (sub, read from the location's b) into
 * r->lines_buf[i], growing the buffer as needed.
 */
static int read_line(struct reader *r, const struct pb *b, struct pb *sub, uint64_t loc_id,
		     uint32_t i)
{
	uint64_t v[4] = { 0 };	/* by field number: function_id, line, column */
	int64_t fi;

	if (!pb_scalars(sub, v, 3))
		return malformed(r, "location", b);
	fi = idmap_get(&r->funcs, v[1]);
	if (fi < 0)
		return kl_errf(r->err, -KL_EFORMAT,
			       "pprof: location %" PRIu64 " refers to unknown function %" PRIu64,
			       loc_id, v[1]);
	if (i >= r->lines_cap && KL_GROW(r->lines_buf, r->lines_cap, (size_t)i + 1))
		return oom(r);
	r->lines_buf[i] = (struct kl_line){ (uint32_t)fi, (int64_t)v[2], (int64_t)v[3] };
	return 0;
}

static int read_location(struct reader *r, struct pb *b)
{
	struct kl_location loc = { 0 };
	uint64_t mapping_id = 0, v;
	uint32_t f, nlines = 0;
	struct pb sub;
	int rc;

	/* field 4 (line) is the only message; the others are scalars */
	while ((rc = pb_next(b, 5, 1u << 4, &f, &v, &sub)) > 0) {
		if (f == 1) {
			loc.id = v;
		} else if (f == 2) {
			mapping_id = v;
		} else if (f == 3) {
			loc.address = v;
		} else if (f == 5) {
			loc.is_folded = v != 0;
		} else {
			if ((rc = read_line(r, b, &sub, loc.id, nlines)))
				return rc;
			nlines++;
		}
	}
	if (rc < 0)
		return malformed(r, "location", b);
	if (mapping_id) {
		int64_t mi = idmap_get(&r->maps, mapping_id);

		if (mi < 0)
			return kl_errf(r->err, -KL_EFORMAT,
				       "pprof: location %" PRIu64 " refers to unknown mapping %" PRIu64,
				       loc.id, mapping_id);
		loc.mapping = (uint32_t)mi + 1;
	}
	kl_profile_add_location(r->p, &loc, r->lines_buf, nlines);
	return 0;
}

static int read_label(struct reader *r, struct pb *b, size_t sample, struct kl_label *out)
{
	uint64_t v[5] = { 0 };	/* by field number: key 1, str 2, num 3, num_unit 4 */
	int rc;

	if (!pb_scalars(b, v, 4))
		return malformed(r, "label", b);
	if ((rc = check_str(r, (int64_t)v[1], "label of sample", sample)) ||
	    (rc = check_str(r, (int64_t)v[2], "label of sample", sample)) ||
	    (rc = check_str(r, (int64_t)v[4], "label of sample", sample)))
		return rc;
	*out = (struct kl_label){ (kl_strid)v[1], (kl_strid)v[2], (int64_t)v[3], (kl_strid)v[4] };
	return 0;
}

static int read_sample(struct reader *r, struct pb *b, size_t index)
{
	uint32_t ntypes = r->p->nsample_types;
	size_t nlocs = 0, nvals = 0, nlabels = 0;
	uint32_t f, wt;
	uint64_t v;
	int rc;

	while (b->p < b->end) {
		if (!pb_key(b, &f, &wt))
			goto bad;
		switch (f) {
		case 1:
			PB_REPEATED(b, wt, v, {
				int64_t li = idmap_get(&r->locs, v);

				if (li < 0)
					return kl_errf(r->err, -KL_EFORMAT,
						       "pprof: sample %zu refers to unknown location %" PRIu64,
						       index, v);
				/* deeper stacks are cut, keeping the leaf end as profilers do */
				if (nlocs < r->max_depth) {
					if (nlocs >= r->locs_cap &&
					    KL_GROW(r->locs_buf, r->locs_cap, nlocs + 1))
						return oom(r);
					r->locs_buf[nlocs++] = (uint32_t)li;
				}
			});
			break;
		case 2:
			PB_REPEATED(b, wt, v, {
				if (nvals >= ntypes)
					return kl_errf(r->err, -KL_EFORMAT,
						       "pprof: sample %zu has more than %" PRIu32
						       " values (one per sample type)", index, ntypes);
				r->vals_buf[nvals++] = (int64_t)v;
			});
			break;
		case 3: {
			struct pb sub;

			if (wt != WT_LEN || !pb_sub(b, &sub))
				goto bad;
			if (nlabels >= r->labels_cap &&
			    KL_GROW(r->labels_buf, r->labels_cap, nlabels + 1))
				return oom(r);
			if ((rc = read_label(r, &sub, index, &r->labels_buf[nlabels])))
				return rc;
			nlabels++;
			break;
		}
		default:
			if (!pb_skip(b, wt))
				goto bad;
		}
	}
	if (nvals != ntypes)
		return kl_errf(r->err, -KL_EFORMAT,
			       "pprof: sample %zu has %zu values, expected %" PRIu32
			       " (one per sample type)", index, nvals, ntypes);
	if (r->p->nsample_locs + nlocs >= UINT32_MAX || r->p->nlabels + nlabels >= UINT32_MAX)
		return kl_errf(r->err, -KL_ELIMIT, "pprof: samples too large");
	kl_profile_add_sample(r->p, r->locs_buf, (uint32_t)nlocs, r->vals_buf, r->labels_buf,
			      (uint32_t)nlabels);
	return 0;
bad:
	return malformed(r, "sample", b);
}

/*
 * Builds an id map over n objects of stride bytes whose uint64 id is their
 * first member (kl_mapping, kl_function, kl_location), rejecting id 0 and
 * duplicates. what names the kind of object in messages.
 */
static int build_idmap(struct reader *r, struct pprof_idmap *map, const void *objs, size_t n,
		       size_t stride, const char *what)
{
	uint64_t max_id = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t id = pprof_obj_id(objs, i, stride);

		if (id == 0)
			return kl_errf(r->err, -KL_EFORMAT, "pprof: %s %zu has id 0", what, i);
		max_id = KL_MAX(max_id, id);
	}
	if (pprof_idmap_init(map, n, max_id))
		return oom(r);
	for (size_t i = 0; i < n; i++) {
		uint64_t id = pprof_obj_id(objs, i, stride);

		if (!pprof_idmap_put(map, id, (uint32_t)i))
			return kl_errf(r->err, -KL_EFORMAT, "pprof: duplicate %s id %" PRIu64,
				       what, id);
	}
	return 0;
}

/*
 * Runs read_one over each top-level field numbered fa or fb, in order,
 * walking only the part of the message where pass_header saw them.
 */
static int pass_objects(struct reader *r, uint32_t fa, uint32_t fb)
{
	struct pb b = r->top;
	size_t counts[16] = { 0 };
	uint32_t f, wt;
	int rc;

	if (!r->kind_start[fa] && !r->kind_start[fb])
		return 0;
	if (!r->kind_start[fa] || (r->kind_start[fb] && r->kind_start[fb] < r->kind_start[fa]))
		b.p = r->kind_start[fb];
	else
		b.p = r->kind_start[fa];
	b.end = KL_MAX(r->kind_end[fa] ? r->kind_end[fa] : b.p,
		       r->kind_end[fb] ? r->kind_end[fb] : b.p);

	while (b.p < b.end) {
		struct pb sub;

		/* pass_header has checked the top-level framing */
		if (!pb_key(&b, &f, &wt))
			return malformed(r, "profile", &b);
		if (f != fa && f != fb) {
			if (!pb_skip(&b, wt))
				return malformed(r, "profile", &b);
			continue;
		}
		if (!pb_sub(&b, &sub))
			return malformed(r, "profile", &b);
		switch (f) {
		case 2: rc = read_sample(r, &sub, counts[2]); break;
		case 3: rc = read_mapping(r, &sub); break;
		case 4: rc = read_location(r, &sub); break;
		default: rc = read_function(r, &sub); break;
		}
		counts[f]++;
		if (rc)
			return rc;
		if (kl_profile_failed(r->p))
			return oom(r);
	}
	return 0;
}

/* kl_pprof_read; spare: gunzip into the thread's spare storage (kl_pprof_read_spare) */
static int pprof_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		      struct kl_profile **out, struct kl_err *err, bool spare)
{
	const struct kl_read_limits limits = kl_read_limits_resolve(lim);
	const size_t max_input = limits.max_input;
	struct reader r = { .err = err };
	struct kl_buf raw = KL_BUF_INIT;
	struct kl_profile *p;
	int rc;

	*out = NULL;
	r.max_depth = limits.max_depth;
	r.max_samples = limits.max_samples;
	if (kl_is_gzip(data, len)) {
		if (spare)
			kl_buf_spare_take(&raw, len * 4);
		rc = kl_gunzip_reuse(data, len, max_input, &raw, err);
		if (rc) {
			kl_err_prefix(err, "pprof");
			return rc;
		}
		data = (const uint8_t *)raw.data;
		len = raw.len;
	} else if (len > max_input) {
		return kl_errf(err, -KL_ELIMIT, "pprof: input larger than %zu bytes", max_input);
	}
	r.p = p = kl_profile_new();
	if (!p) {
		rc = oom(&r);
		goto out;
	}
	if (len == 0) {
		rc = kl_errf(err, -KL_EFORMAT, "pprof: empty profile");
		goto out;
	}
	r.top = (struct pb){ data, data + len };
	if ((rc = pass_header(&r)))
		goto out;
	r.vals_buf = kl_malloc((p->nsample_types + 1) * sizeof(*r.vals_buf));
	if (!r.vals_buf) {
		rc = oom(&r);
		goto out;
	}
	/* mappings and functions first: locations refer to them, samples to locations */
	if ((rc = pass_objects(&r, 3, 5)) ||
	    (rc = build_idmap(&r, &r.maps, p->mappings, p->nmappings, sizeof(*p->mappings),
			      "mapping")) ||
	    (rc = build_idmap(&r, &r.funcs, p->functions, p->nfunctions, sizeof(*p->functions),
			      "function")) ||
	    (rc = pass_objects(&r, 4, 4)) ||
	    (rc = build_idmap(&r, &r.locs, p->locations, p->nlocations, sizeof(*p->locations),
			      "location")) ||
	    (rc = pass_objects(&r, 2, 2)))
		goto out;
	rc = kl_profile_validate(p, err);
	if (rc)
		kl_err_prefix(err, "pprof");
out:
	pprof_idmap_release(&r.maps);
	pprof_idmap_release(&r.funcs);
	pprof_idmap_release(&r.locs);
	kl_free(r.locs_buf);
	kl_free(r.vals_buf);
	kl_free(r.labels_buf);
	kl_free(r.lines_buf);
	if (spare)
		kl_buf_spare_give(&raw);
	else
		kl_buf_release(&raw);
	if (rc)
		kl_profile_free(r.p);
	else
		*out = r.p;
	return rc;
}

int kl_pprof_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		  struct kl_profile **out, struct kl_err *err)
{
	return pprof_read(data, len, lim, out, err, false);
}

int kl_pprof_read_spare(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			struct kl_profile **out, struct kl_err *err)
{
	return pprof_read(data, len, lim, out, err, true);
}
