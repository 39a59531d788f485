/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof_write.c - writing pprof's profile.proto (gzip or raw), encoded
 * straight from the profile's arrays into the output: no message tree (the
 * protobuf-c structs cost ~350 bytes per sample, the agent writes every
 * interval inside someone else's process), and when compressing the bytes
 * go through zlib in 64 KiB chunks, so the raw encoding is never whole in
 * memory. Fields come in field-number order and proto3 defaults are left
 * out, as protobuf-c packs them: the bytes are the same (pprof_test checks).
 */
#include <string.h>
#include <zlib.h>

#include "pprof_internal.h"
#include "protowire.h"

/*
 * Chooses the pprof ids to write for n objects: their own ids when all are
 * non-zero and unique (a profile read from pprof), else index + 1 (a
 * profile built by another reader or by merge). ids[i] receives the id.
 */
static int choose_ids(const void *objs, size_t n, size_t stride, uint64_t *ids)
{
	struct pprof_idmap m;
	uint64_t max_id = 0;
	bool own = true;

	for (size_t i = 0; i < n; i++) {
		ids[i] = pprof_obj_id(objs, i, stride);
		if (ids[i] == 0)
			own = false;
		max_id = KL_MAX(max_id, ids[i]);
	}
	if (own && n) {
		if (pprof_idmap_init(&m, n, max_id))
			return -ENOMEM;
		for (size_t i = 0; own && i < n; i++)
			own = pprof_idmap_put(&m, ids[i], (uint32_t)i);
		pprof_idmap_release(&m);
	}
	if (!own) {
		for (size_t i = 0; i < n; i++)
			ids[i] = i + 1;
	}
	return 0;
}

/* Raw bytes gathered before they go through zlib. */
#define CHUNK ((size_t)64 << 10)

/* Room for the largest fixed-size message (Mapping: 10 fields). */
struct small {
	uint8_t b[128];
	size_t n;
};

static size_t varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static uint8_t *varint_put(uint8_t *d, uint64_t v)
{
	while (v >= 0x80) {
		*d++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*d++ = (uint8_t)v;
	return d;
}

/* A scalar field of a small message; proto3 leaves zero out. */
static void sm_varint(struct small *s, uint32_t field, uint64_t v)
{
	uint8_t *d = s->b + s->n;

	if (v) {
		d = varint_put(d, (uint64_t)field << 3 | WT_VARINT);
		s->n = (size_t)(varint_put(d, v) - s->b);
	}
}

static void buf_varint(struct kl_buf *b, uint64_t v)
{
	uint8_t tmp[10];

	kl_buf_add(b, tmp, (size_t)(varint_put(tmp, v) - tmp));
}

/* Key and length of a length-delimited field. */
static void buf_len(struct kl_buf *b, uint32_t field, size_t len)
{
	buf_varint(b, (uint64_t)field << 3 | WT_LEN);
	buf_varint(b, len);
}

static void buf_msg(struct kl_buf *b, uint32_t field, const void *data, size_t len)
{
	buf_len(b, field, len);
	kl_buf_add(b, data, len);
}

/* A packed repeated varint field (omitted when empty). Values are u64 or i64. */
static void buf_packed(struct kl_buf *b, uint32_t field, const uint64_t *v, size_t n)
{
	size_t len = 0;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		len += varint_len(v[i]);
	buf_len(b, field, len);
	for (size_t i = 0; i < n; i++)
		buf_varint(b, v[i]);
}

/* The writer: the profile's bytes go to raw, and on through zlib when gz. */
struct pw {
	struct kl_buf *out;
	struct kl_buf *dst;		/* out, or &raw when compressing */
	struct kl_buf raw;		/* bytes not yet compressed */
	struct kl_buf msg;		/* one Sample or Location being built */
	z_stream zs;
	bool gz;
	uint64_t *map_ids, *fn_ids, *loc_ids;
	uint64_t *packed;		/* one sample's location ids or values */
	size_t packed_cap;
};

/* Compresses what raw holds into out (finishing the stream when flush is Z_FINISH). */
static int pw_deflate(struct pw *w, int flush)
{
	struct kl_buf *out = w->out;
	int zrc;

	w->zs.next_in = (Bytef *)w->raw.data;
	w->zs.avail_in = (uInt)w->raw.len;
	for (;;) {
		size_t room;

		/* the buffer grows by doubling: any room it has is used */
		if (kl_buf_reserve(out, 4096))
			return kl_buf_error(out);
		room = out->cap - out->len - 1;
		w->zs.next_out = (Bytef *)out->data + out->len;
		w->zs.avail_out = (uInt)KL_MIN(room, (size_t)UINT32_MAX);
		zrc = deflate(&w->zs, flush);
		out->len = (size_t)((char *)w->zs.next_out - out->data);
		out->data[out->len] = '\0';
		if (zrc == Z_STREAM_ERROR)
			return -KL_EIO;
		if (flush == Z_FINISH ? zrc == Z_STREAM_END : !w->zs.avail_in && w->zs.avail_out)
			break;
	}
	w->raw.len = 0;
	return 0;
}

/* After each top-level field: hands a full chunk to zlib. */
static int pw_step(struct pw *w)
{
	int rc = kl_buf_error(w->dst);

	if (!rc && w->gz && w->raw.len >= CHUNK)
		rc = pw_deflate(w, Z_NO_FLUSH);
	return rc;
}

static int pw_packed_room(struct pw *w, size_t n)
{
	return KL_GROW(w->packed, w->packed_cap, KL_MAX(n, (size_t)1)) ? -ENOMEM : 0;
}

static void put_value_type(struct kl_buf *b, uint32_t field, const struct kl_value_type *vt)
{
	struct small s = { .n = 0 };

	sm_varint(&s, 1, (uint64_t)(int64_t)vt->type);
	sm_varint(&s, 2, (uint64_t)(int64_t)vt->unit);
	buf_msg(b, field, s.b, s.n);
}

static int put_sample(struct pw *w, const struct kl_profile *p, uint32_t i)
{
	const struct kl_sample *ks = &p->samples[i];
	const int64_t *vals = p->nsample_types ? kl_sample_values(p, i) : NULL;
	struct kl_buf *m = &w->msg;

	if (pw_packed_room(w, KL_MAX((size_t)ks->nlocs, (size_t)p->nsample_types)))
		return -ENOMEM;
	m->len = 0;
	for (uint32_t k = 0; k < ks->nlocs; k++)
		w->packed[k] = w->loc_ids[p->sample_locs[ks->loc_start + k]];
	buf_packed(m, 1, w->packed, ks->nlocs);
	for (uint32_t k = 0; k < p->nsample_types; k++)
		w->packed[k] = (uint64_t)vals[k];
	buf_packed(m, 2, w->packed, p->nsample_types);
	for (uint32_t k = 0; k < ks->nlabels; k++) {
		const struct kl_label *l = &p->labels[ks->label_start + k];
		struct small s = { .n = 0 };

		sm_varint(&s, 1, (uint64_t)(int64_t)l->key);
		sm_varint(&s, 2, (uint64_t)(int64_t)l->str);
		sm_varint(&s, 3, (uint64_t)l->num);
		sm_varint(&s, 4, (uint64_t)(int64_t)l->num_unit);
		buf_msg(m, 3, s.b, s.n);
	}
	if (kl_buf_error(m))
		return kl_buf_error(m);
	buf_msg(w->dst, 2, m->data, m->len);
	return pw_step(w);
}

static int put_mapping(struct pw *w, const struct kl_profile *p, uint32_t i)
{
	const struct kl_mapping *km = &p->mappings[i];
	struct small s = { .n = 0 };

	sm_varint(&s, 1, w->map_ids[i]);
	sm_varint(&s, 2, km->start);
	sm_varint(&s, 3, km->limit);
	sm_varint(&s, 4, km->offset);
	sm_varint(&s, 5, (uint64_t)(int64_t)km->filename);
	sm_varint(&s, 6, (uint64_t)(int64_t)km->build_id);
	sm_varint(&s, 7, !!(km->flags & KL_MAP_HAS_FUNCTIONS));
	sm_varint(&s, 8, !!(km->flags & KL_MAP_HAS_FILENAMES));
	sm_varint(&s, 9, !!(km->flags & KL_MAP_HAS_LINE_NUMBERS));
	sm_varint(&s, 10, !!(km->flags & KL_MAP_HAS_INLINE_FRAMES));
	buf_msg(w->dst, 3, s.b, s.n);
	return pw_step(w);
}

static int put_location(struct pw *w, const struct kl_profile *p, uint32_t i)
{
	const struct kl_location *kl = &p->locations[i];
	struct kl_buf *m = &w->msg;
	struct small s = { .n = 0 };

	m->len = 0;
	sm_varint(&s, 1, w->loc_ids[i]);
	sm_varint(&s, 2, kl->mapping ? w->map_ids[kl->mapping - 1] : 0);
	sm_varint(&s, 3, kl->address);
	kl_buf_add(m, s.b, s.n);
	for (uint32_t k = 0; k < kl->nlines; k++) {
		const struct kl_line *ln = &p->lines[kl->line_start + k];

		s.n = 0;
		sm_varint(&s, 1, w->fn_ids[ln->function]);
		sm_varint(&s, 2, (uint64_t)ln->line);
		sm_varint(&s, 3, (uint64_t)ln->column);
		buf_msg(m, 4, s.b, s.n);
	}
	s.n = 0;
	sm_varint(&s, 5, kl->is_folded);
	kl_buf_add(m, s.b, s.n);
	if (kl_buf_error(m))
		return kl_buf_error(m);
	buf_msg(w->dst, 4, m->data, m->len);
	return pw_step(w);
}

static int put_function(struct pw *w, const struct kl_profile *p, uint32_t i)
{
	const struct kl_function *kf = &p->functions[i];
	struct small s = { .n = 0 };

	sm_varint(&s, 1, w->fn_ids[i]);
	sm_varint(&s, 2, (uint64_t)(int64_t)kf->name);
	sm_varint(&s, 3, (uint64_t)(int64_t)kf->system_name);
	sm_varint(&s, 4, (uint64_t)(int64_t)kf->filename);
	sm_varint(&s, 5, (uint64_t)kf->start_line);
	buf_msg(w->dst, 5, s.b, s.n);
	return pw_step(w);
}

/* The scalar fields after the string table (7-14). */
static void put_tail(struct pw *w, const struct kl_profile *p)
{
	struct small s = { .n = 0 };

	sm_varint(&s, 7, (uint64_t)(int64_t)p->drop_frames);
	sm_varint(&s, 8, (uint64_t)(int64_t)p->keep_frames);
	sm_varint(&s, 9, (uint64_t)p->time_nanos);
	sm_varint(&s, 10, (uint64_t)p->duration_nanos);
	kl_buf_add(w->dst, s.b, s.n);
	/* an absent period type stays absent: pprof tells nil from empty */
	if (p->period_type.type || p->period_type.unit)
		put_value_type(w->dst, 11, &p->period_type);
	s.n = 0;
	sm_varint(&s, 12, (uint64_t)p->period);
	kl_buf_add(w->dst, s.b, s.n);
}

static int pw_encode(struct pw *w, const struct kl_profile *p)
{
	uint32_t nstr = kl_strtab_count(p->strs);
	struct small s = { .n = 0 };
	int rc = 0;

	for (uint32_t i = 0; i < p->nsample_types; i++)
		put_value_type(w->dst, 1, &p->sample_types[i]);
	for (uint32_t i = 0; i < p->nsamples && !rc; i++)
		rc = put_sample(w, p, i);
	for (uint32_t i = 0; i < p->nmappings && !rc; i++)
		rc = put_mapping(w, p, i);
	for (uint32_t i = 0; i < p->nlocations && !rc; i++)
		rc = put_location(w, p, i);
	for (uint32_t i = 0; i < p->nfunctions && !rc; i++)
		rc = put_function(w, p, i);
	for (uint32_t i = 0; i < nstr && !rc; i++) {
		buf_msg(w->dst, 6, kl_strtab_get(p->strs, i), kl_strtab_len(p->strs, i));
		rc = pw_step(w);
	}
	if (rc)
		return rc;
	put_tail(w, p);
	if (p->ncomments) {
		if (pw_packed_room(w, p->ncomments))
			return -ENOMEM;
		for (uint32_t i = 0; i < p->ncomments; i++)
			w->packed[i] = (uint64_t)(int64_t)p->comments[i];
		buf_packed(w->dst, 13, w->packed, p->ncomments);
	}
	sm_varint(&s, 14, (uint64_t)(int64_t)p->default_sample_type);
	kl_buf_add(w->dst, s.b, s.n);
	rc = kl_buf_error(w->dst);
	if (!rc && w->gz)
		rc = pw_deflate(w, Z_FINISH);
	return rc;
}

static int pw_ids(struct pw *w, const struct kl_profile *p)
{
	w->map_ids = kl_reallocarray(NULL, KL_MAX(p->nmappings, 1u), sizeof(*w->map_ids));
	w->fn_ids = kl_reallocarray(NULL, KL_MAX(p->nfunctions, 1u), sizeof(*w->fn_ids));
	w->loc_ids = kl_reallocarray(NULL, KL_MAX(p->nlocations, 1u), sizeof(*w->loc_ids));
	if (!w->map_ids || !w->fn_ids || !w->loc_ids ||
	    choose_ids(p->mappings, p->nmappings, sizeof(*p->mappings), w->map_ids) ||
	    choose_ids(p->functions, p->nfunctions, sizeof(*p->functions), w->fn_ids) ||
	    choose_ids(p->locations, p->nlocations, sizeof(*p->locations), w->loc_ids))
		return -ENOMEM;
	return 0;
}

int kl_pprof_write(const struct kl_profile *p, bool compress, struct kl_buf *out,
		   struct kl_err *err)
{
	struct pw w;
	bool zinit = false;
	int rc;

	memset(&w, 0, sizeof(w));
	rc = kl_profile_validate(p, err);
	if (rc) {
		kl_err_prefix(err, "pprof: cannot write");
		return rc;
	}
	w.out = out;
	w.gz = compress;
	w.dst = compress ? &w.raw : out;
	if (pw_ids(&w, p)) {
		rc = kl_errf(err, -ENOMEM, "pprof: out of memory");
		goto out;
	}
	/*
	 * level 1, as kl_gzip and Go's runtime/pprof: profiles are written
	 * often (agents, exports) and level 6 costs 4x the time for ~10 %
	 */
	if (compress) {
		if (deflateInit2(&w.zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) !=
		    Z_OK) {
			rc = kl_errf(err, -ENOMEM, "gzip: cannot initialise zlib");
			goto out;
		}
		zinit = true;
	}
	rc = pw_encode(&w, p);
	if (rc == -ENOMEM)
		kl_errf(err, rc, "pprof: out of memory");
	else if (rc == -KL_EIO)
		kl_errf(err, rc, "gzip: compression failed");
	else if (rc)
		kl_errf(err, rc, "pprof: output too large");
out:
	if (zinit)
		deflateEnd(&w.zs);
	kl_buf_release(&w.raw);
	kl_buf_release(&w.msg);
	kl_free(w.map_ids);
	kl_free(w.fn_ids);
	kl_free(w.loc_ids);
	kl_free(w.packed);
	return rc;
}
