/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof_write.c - writing pprof's profile.proto (gzip or raw). Unlike the
 * reader (pprof.c), which decodes the wire format by hand for speed, the
 * writer fills protobuf-c's message structs (generated from pprof.proto)
 * with pointers into the profile and lets protobuf-c pack them: a write
 * happens once per output, and the generated code keeps the encoding right.
 */
#include <string.h>

#include "pprof.pb-c.h"
#include "pprof_internal.h"

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

/* Everything the protobuf-c message points to, freed in one place. */
struct wmsg {
	Perftools__Profiles__Profile prof;
	Perftools__Profiles__ValueType *vt, **vtp, period_type;
	Perftools__Profiles__Mapping *map, **mapp;
	Perftools__Profiles__Function *fn, **fnp;
	Perftools__Profiles__Location *loc, **locp;
	Perftools__Profiles__Line *ln, **lnp;
	Perftools__Profiles__Sample *smp, **smpp;
	Perftools__Profiles__Label *lb, **lbp;
	ProtobufCBinaryData *strs;
	int64_t *comments;
	uint64_t *map_ids, *fn_ids, *loc_ids, *sample_locs;
};

static void wmsg_release(struct wmsg *w)
{
	kl_free(w->vt);
	kl_free(w->vtp);
	kl_free(w->map);
	kl_free(w->mapp);
	kl_free(w->fn);
	kl_free(w->fnp);
	kl_free(w->loc);
	kl_free(w->locp);
	kl_free(w->ln);
	kl_free(w->lnp);
	kl_free(w->smp);
	kl_free(w->smpp);
	kl_free(w->lb);
	kl_free(w->lbp);
	kl_free(w->strs);
	kl_free(w->comments);
	kl_free(w->map_ids);
	kl_free(w->fn_ids);
	kl_free(w->loc_ids);
	kl_free(w->sample_locs);
}

/* kl_malloc for n elements of size, at least one so NULL means failure. */
static void *alloc_n(size_t n, size_t size)
{
	return kl_reallocarray(NULL, n ? n : 1, size);
}

static int wmsg_alloc(struct wmsg *w, const struct kl_profile *p)
{
	uint32_t nstr = kl_strtab_count(p->strs);

	w->vt = alloc_n(p->nsample_types, sizeof(*w->vt));
	w->vtp = alloc_n(p->nsample_types, sizeof(*w->vtp));
	w->map = alloc_n(p->nmappings, sizeof(*w->map));
	w->mapp = alloc_n(p->nmappings, sizeof(*w->mapp));
	w->fn = alloc_n(p->nfunctions, sizeof(*w->fn));
	w->fnp = alloc_n(p->nfunctions, sizeof(*w->fnp));
	w->loc = alloc_n(p->nlocations, sizeof(*w->loc));
	w->locp = alloc_n(p->nlocations, sizeof(*w->locp));
	w->ln = alloc_n(p->nlines, sizeof(*w->ln));
	w->lnp = alloc_n(p->nlines, sizeof(*w->lnp));
	w->smp = alloc_n(p->nsamples, sizeof(*w->smp));
	w->smpp = alloc_n(p->nsamples, sizeof(*w->smpp));
	w->lb = alloc_n(p->nlabels, sizeof(*w->lb));
	w->lbp = alloc_n(p->nlabels, sizeof(*w->lbp));
	w->strs = alloc_n(nstr, sizeof(*w->strs));
	w->comments = alloc_n(p->ncomments, sizeof(*w->comments));
	w->map_ids = alloc_n(p->nmappings, sizeof(*w->map_ids));
	w->fn_ids = alloc_n(p->nfunctions, sizeof(*w->fn_ids));
	w->loc_ids = alloc_n(p->nlocations, sizeof(*w->loc_ids));
	w->sample_locs = alloc_n(p->nsample_locs, sizeof(*w->sample_locs));
	if (!w->vt || !w->vtp || !w->map || !w->mapp || !w->fn || !w->fnp || !w->loc ||
	    !w->locp || !w->ln || !w->lnp || !w->smp || !w->smpp || !w->lb || !w->lbp ||
	    !w->strs || !w->comments || !w->map_ids || !w->fn_ids || !w->loc_ids ||
	    !w->sample_locs)
		return -ENOMEM;
	if (choose_ids(p->mappings, p->nmappings, sizeof(*p->mappings), w->map_ids) ||
	    choose_ids(p->functions, p->nfunctions, sizeof(*p->functions), w->fn_ids) ||
	    choose_ids(p->locations, p->nlocations, sizeof(*p->locations), w->loc_ids))
		return -ENOMEM;
	return 0;
}

/* Fills the message structs from p (all indexes already validated). */
static void wmsg_fill(struct wmsg *w, const struct kl_profile *p)
{
	Perftools__Profiles__Profile *m = &w->prof;
	uint32_t nstr = kl_strtab_count(p->strs), ntypes = p->nsample_types;

	perftools__profiles__profile__init(m);
	for (uint32_t i = 0; i < nstr; i++) {
		w->strs[i].data = (uint8_t *)kl_strtab_get(p->strs, i);
		w->strs[i].len = kl_strtab_len(p->strs, i);
	}
	m->n_string_table = nstr;
	m->string_table = w->strs;

	for (uint32_t i = 0; i < p->nsample_types; i++) {
		perftools__profiles__value_type__init(&w->vt[i]);
		w->vt[i].type = p->sample_types[i].type;
		w->vt[i].unit = p->sample_types[i].unit;
		w->vtp[i] = &w->vt[i];
	}
	m->n_sample_type = p->nsample_types;
	m->sample_type = w->vtp;

	for (uint32_t i = 0; i < p->nmappings; i++) {
		const struct kl_mapping *km = &p->mappings[i];
		Perftools__Profiles__Mapping *pm = &w->map[i];

		perftools__profiles__mapping__init(pm);
		pm->id = w->map_ids[i];
		pm->memory_start = km->start;
		pm->memory_limit = km->limit;
		pm->file_offset = km->offset;
		pm->filename = km->filename;
		pm->build_id = km->build_id;
		pm->has_functions = !!(km->flags & KL_MAP_HAS_FUNCTIONS);
		pm->has_filenames = !!(km->flags & KL_MAP_HAS_FILENAMES);
		pm->has_line_numbers = !!(km->flags & KL_MAP_HAS_LINE_NUMBERS);
		pm->has_inline_frames = !!(km->flags & KL_MAP_HAS_INLINE_FRAMES);
		w->mapp[i] = pm;
	}
	m->n_mapping = p->nmappings;
	m->mapping = w->mapp;

	for (uint32_t i = 0; i < p->nfunctions; i++) {
		const struct kl_function *kf = &p->functions[i];
		Perftools__Profiles__Function *pf = &w->fn[i];

		perftools__profiles__function__init(pf);
		pf->id = w->fn_ids[i];
		pf->name = kf->name;
		pf->system_name = kf->system_name;
		pf->filename = kf->filename;
		pf->start_line = kf->start_line;
		w->fnp[i] = pf;
	}
	m->n_function = p->nfunctions;
	m->function = w->fnp;

	for (uint32_t i = 0; i < p->nlines; i++) {
		perftools__profiles__line__init(&w->ln[i]);
		w->ln[i].function_id = w->fn_ids[p->lines[i].function];
		w->ln[i].line = p->lines[i].line;
		w->ln[i].column = p->lines[i].column;
		w->lnp[i] = &w->ln[i];
	}
	for (uint32_t i = 0; i < p->nlocations; i++) {
		const struct kl_location *kl = &p->locations[i];
		Perftools__Profiles__Location *pl = &w->loc[i];

		perftools__profiles__location__init(pl);
		pl->id = w->loc_ids[i];
		pl->mapping_id = kl->mapping ? w->map_ids[kl->mapping - 1] : 0;
		pl->address = kl->address;
		pl->is_folded = kl->is_folded;
		pl->n_line = kl->nlines;
		pl->line = w->lnp + kl->line_start;
		w->locp[i] = pl;
	}
	m->n_location = p->nlocations;
	m->location = w->locp;

	for (size_t i = 0; i < p->nsample_locs; i++)
		w->sample_locs[i] = w->loc_ids[p->sample_locs[i]];
	for (size_t i = 0; i < p->nlabels; i++) {
		perftools__profiles__label__init(&w->lb[i]);
		w->lb[i].key = p->labels[i].key;
		w->lb[i].str = p->labels[i].str;
		w->lb[i].num = p->labels[i].num;
		w->lb[i].num_unit = p->labels[i].num_unit;
		w->lbp[i] = &w->lb[i];
	}
	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *ks = &p->samples[i];
		Perftools__Profiles__Sample *ps = &w->smp[i];

		perftools__profiles__sample__init(ps);
		ps->n_location_id = ks->nlocs;
		ps->location_id = w->sample_locs + ks->loc_start;
		ps->n_value = p->nsample_types;
		/* protobuf-c only reads through this pointer while packing */
		ps->value = ntypes ? (int64_t *)kl_sample_values(p, i) : NULL;
		ps->n_label = ks->nlabels;
		ps->label = w->lbp + ks->label_start;
		w->smpp[i] = ps;
	}
	m->n_sample = p->nsamples;
	m->sample = w->smpp;

	m->drop_frames = p->drop_frames;
	m->keep_frames = p->keep_frames;
	m->time_nanos = p->time_nanos;
	m->duration_nanos = p->duration_nanos;
	/* an absent period type stays absent: pprof tells nil from empty */
	if (p->period_type.type || p->period_type.unit) {
		perftools__profiles__value_type__init(&w->period_type);
		w->period_type.type = p->period_type.type;
		w->period_type.unit = p->period_type.unit;
		m->period_type = &w->period_type;
	}
	m->period = p->period;
	for (uint32_t i = 0; i < p->ncomments; i++)
		w->comments[i] = p->comments[i];
	m->n_comment = p->ncomments;
	m->comment = w->comments;
	m->default_sample_type = p->default_sample_type;
}

int kl_pprof_write(const struct kl_profile *p, bool compress, struct kl_buf *out,
		   struct kl_err *err)
{
	struct wmsg w;
	struct kl_buf raw = KL_BUF_INIT;
	struct kl_buf *dst = compress ? &raw : out;
	size_t size;
	int rc;

	memset(&w, 0, sizeof(w));
	rc = kl_profile_validate(p, err);
	if (rc) {
		kl_err_prefix(err, "pprof: cannot write");
		return rc;
	}
	if (wmsg_alloc(&w, p)) {
		rc = kl_errf(err, -ENOMEM, "pprof: out of memory");
		goto out;
	}
	wmsg_fill(&w, p);
	size = perftools__profiles__profile__get_packed_size(&w.prof);
	if (kl_buf_reserve(dst, size)) {
		rc = kl_errf(err, kl_buf_error(dst), "pprof: output of %zu bytes too large", size);
		goto out;
	}
	dst->len += perftools__profiles__profile__pack(&w.prof, (uint8_t *)dst->data + dst->len);
	dst->data[dst->len] = '\0';
	if (compress)
		rc = kl_gzip(raw.data, raw.len, out, err);
out:
	wmsg_release(&w);
	kl_buf_release(&raw);
	return rc;
}
