/* SPDX-License-Identifier: Apache-2.0 */
/*
 * build.c - what the sampler, heap and lock hooks collected -> one pprof
 * profile per type (profile-types.md: sample types, period, time). Stacks
 * are symbolized here, off the signal path, with locations, functions and
 * mappings de-duplicated per profile; label sets become string sample
 * labels; equal (labels, stack) pairs become one sample. Called by the
 * exporter, one build at a time. A build may also add to a profile built
 * before (KILN_OUTPUT's total): its tables are indexed again, so that a
 * run's total is never copied to be merged; a location reused from an
 * earlier build is checked once per build against what its address means
 * now (a library unloaded and another loaded there gets new locations).
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../core/hindex.h"
#include "../core/profile.h"
#include "agent.h"

struct builder {
	struct kl_profile *p;
	uint32_t ncols;		/* sample types */
	uint32_t col;		/* first column the drained values go to (heap in-use: 2) */
	uint32_t nvals;		/* values per drained entry */
	int failed;
	struct kl_hindex locs;	/* pc -> location */
	struct kl_hindex funcs;	/* (name, system name, file) -> function */
	struct kl_hindex samples;	/* (labels, locations) -> sample */
	uint32_t nold;		/* locations of earlier builds (build into a total) */
	uint8_t *checked;	/* per old location: LOC_UNCHECKED, LOC_OK, LOC_STALE */
	uint32_t *maps;		/* symbolizer map index -> mapping index + 1 */
	size_t maps_cap;
	uint32_t *stack;	/* location indexes of the stack being added */
	size_t stack_cap;
	uint64_t nseen;		/* value 0 summed (cpu, wall: samples) */
};

enum { LOC_UNCHECKED, LOC_OK, LOC_STALE };

static struct agent_symbolizer *symbolizer;
static _Atomic uint64_t dropped_total, samples_total;

void agent_build_reset(void)
{
	agent_symbolizer_free(symbolizer);
	symbolizer = NULL;
}

void agent_build_idle(void)
{
	agent_symbolizer_idle(symbolizer);
}

uint64_t agent_build_dropped(void)
{
	return atomic_load(&dropped_total);
}

uint64_t agent_build_samples(void)
{
	return atomic_load(&samples_total);
}

static uint64_t function_hash(const struct kl_function *fn)
{
	return kl_hash_u64(((uint64_t)fn->name << 32 | fn->system_name) ^
			   kl_hash_u64(fn->filename));
}

static uint32_t function_of(struct builder *b, const struct agent_symframe *f)
{
	struct kl_profile *p = b->p;
	struct kl_function fn = {
		.name = kl_profile_cstr(p, f->function),
		.system_name = kl_profile_cstr(p, f->system_name),
		.filename = kl_profile_cstr(p, f->file),
	};
	uint64_t h = function_hash(&fn);
	struct kl_hindex_probe pr;
	uint32_t idx;

	for (idx = kl_hindex_first(&b->funcs, h, &pr); idx != KL_HINDEX_NONE;
	     idx = kl_hindex_next(&b->funcs, &pr)) {
		const struct kl_function *g = &p->functions[idx];

		if (g->name == fn.name && g->system_name == fn.system_name &&
		    g->filename == fn.filename)
			return idx;
	}
	fn.id = p->nfunctions + 1;
	idx = kl_profile_add_function(p, &fn);
	if (kl_profile_failed(p) || kl_hindex_insert_at(&b->funcs, &pr, idx)) {
		b->failed = -ENOMEM;
		return 0;
	}
	return idx;
}

static uint32_t mapping_of(struct builder *b, const struct agent_sym *sym)
{
	struct kl_mapping m = { 0 };
	uint32_t idx;

	if (!sym->has_map)
		return 0;
	if (sym->map_index < b->maps_cap && b->maps[sym->map_index])
		return b->maps[sym->map_index];
	if (sym->map_index >= b->maps_cap) {
		size_t old = b->maps_cap;

		if (KL_GROW(b->maps, b->maps_cap, (size_t)sym->map_index + 1)) {
			b->failed = -ENOMEM;
			return 0;
		}
		memset(b->maps + old, 0, (b->maps_cap - old) * sizeof(*b->maps));
	}
	m.id = b->p->nmappings + 1;
	m.start = sym->map_start;
	m.limit = sym->map_limit;
	m.filename = kl_profile_cstr(b->p, sym->map_path);
	m.build_id = kl_profile_cstr(b->p, sym->map_build_id);
	m.flags = KL_MAP_HAS_FUNCTIONS | KL_MAP_HAS_INLINE_FRAMES |
		  (sym->map_has_lines ? KL_MAP_HAS_FILENAMES | KL_MAP_HAS_LINE_NUMBERS : 0);
	/* an earlier build's (a total has a few dozen at most: a scan will do) */
	for (idx = 0; idx < b->p->nmappings; idx++) {
		const struct kl_mapping *o = &b->p->mappings[idx];

		if (o->start == m.start && o->limit == m.limit && o->filename == m.filename &&
		    o->build_id == m.build_id && o->flags == m.flags)
			break;
	}
	if (idx == b->p->nmappings)
		idx = kl_profile_add_mapping(b->p, &m);
	if (kl_profile_failed(b->p)) {
		b->failed = -ENOMEM;
		return 0;
	}
	b->maps[sym->map_index] = idx + 1;
	return idx + 1;
}

/* Whether old location idx says what lines[0..n) in mapping say now. */
static bool location_same(const struct kl_profile *p, uint32_t idx, uint32_t mapping,
			  const struct kl_line *lines, uint32_t n)
{
	const struct kl_location *l = &p->locations[idx];
	const struct kl_line *o = kl_location_lines(p, l);

	if (l->mapping != mapping || l->nlines != n)
		return false;
	for (uint32_t i = 0; i < n; i++) {
		if (o[i].function != lines[i].function || o[i].line != lines[i].line)
			return false;
	}
	return true;
}

/* What pc means now: *mapping and lines (*n of them). 0 or -ENOMEM. */
static int location_lines(struct builder *b, uintptr_t pc, uint32_t *mapping,
			  struct kl_line *lines, uint32_t *n)
{
	struct agent_sym sym;

	if (agent_symbolize(symbolizer, pc, &sym))
		return b->failed = -ENOMEM;
	*mapping = mapping_of(b, &sym);
	for (uint32_t i = 0; i < sym.nframes; i++) {
		lines[i].function = function_of(b, &sym.frames[i]);
		lines[i].line = sym.frames[i].line;
		lines[i].column = 0;
	}
	*n = sym.nframes;
	return b->failed;
}

static uint32_t location_of(struct builder *b, uintptr_t pc)
{
	uint64_t h = kl_hash_u64(pc);
	struct kl_hindex_probe pr;
	struct kl_line lines[AGENT_SYM_MAX_FRAMES];
	struct kl_location loc = { 0 };
	uint32_t idx, nlines = 0;
	bool have = false;

	for (idx = kl_hindex_first(&b->locs, h, &pr); idx != KL_HINDEX_NONE;
	     idx = kl_hindex_next(&b->locs, &pr)) {
		if (b->p->locations[idx].address != pc)
			continue;
		if (idx >= b->nold || b->checked[idx] == LOC_OK)
			return idx;
		if (b->checked[idx] == LOC_STALE)
			continue;
		/* an earlier build's, not compared yet in this one */
		if (!have && location_lines(b, pc, &loc.mapping, lines, &nlines))
			return 0;
		have = true;
		if (location_same(b->p, idx, loc.mapping, lines, nlines)) {
			b->checked[idx] = LOC_OK;
			return idx;
		}
		b->checked[idx] = LOC_STALE;
	}
	if (!have && location_lines(b, pc, &loc.mapping, lines, &nlines))
		return 0;
	loc.id = b->p->nlocations + 1;
	loc.address = pc;
	idx = kl_profile_add_location(b->p, &loc, lines, nlines);
	if (kl_profile_failed(b->p) || kl_hindex_insert(&b->locs, h, idx)) {
		b->failed = -ENOMEM;
		return 0;
	}
	return idx;
}

/* The sample's labels from label set id (none when unknown). */
static uint32_t labels_of(struct builder *b, uint32_t id, struct kl_label *out)
{
	const char *const *names, *const *values;
	size_t n;

	if (!id || agent_labelset_get(id, &names, &values, &n))
		return 0;
	for (size_t i = 0; i < n; i++) {
		out[i] = (struct kl_label){
			.key = kl_profile_cstr(b->p, names[i]),
			.str = kl_profile_cstr(b->p, values[i]),
		};
	}
	return (uint32_t)n;
}

static uint64_t sample_hash(const uint32_t *locs, uint32_t n, const struct kl_label *labels,
			    uint32_t nl)
{
	uint64_t h = kl_hash(locs, n * sizeof(uint32_t));

	for (uint32_t i = 0; i < nl; i++)
		h = kl_hash_u64(h ^ ((uint64_t)labels[i].key << 32 | labels[i].str));
	return h;
}

static bool sample_same(const struct kl_profile *p, uint32_t idx, const uint32_t *locs,
			uint32_t n, const struct kl_label *labels, uint32_t nl)
{
	const struct kl_sample *s = &p->samples[idx];
	const struct kl_label *o = kl_sample_labels(p, s);

	if (s->nlocs != n || s->nlabels != nl ||
	    memcmp(kl_sample_locs(p, s), locs, n * sizeof(uint32_t)))
		return false;
	for (uint32_t i = 0; i < nl; i++) {
		if (o[i].key != labels[i].key || o[i].str != labels[i].str ||
		    o[i].num != labels[i].num)
			return false;
	}
	return true;
}

static void add_stack(void *ctx, uint32_t labelset, const uintptr_t *pcs, uint32_t n,
		      const int64_t *values)
{
	struct builder *b = ctx;
	struct kl_profile *p = b->p;
	struct kl_label labels[32];
	int64_t vals[4] = { 0 };
	struct kl_hindex_probe pr;
	uint32_t idx, nl, nvals = b->nvals;
	uint64_t h;

	if (b->failed || n == 0)
		return;
	if (KL_GROW(b->stack, b->stack_cap, n)) {
		b->failed = -ENOMEM;
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		b->stack[i] = location_of(b, pcs[i]);
		if (b->failed)
			return;
	}
	if (b->col == 0)
		b->nseen += (uint64_t)values[0];
	/* by labels, not label set id: samples of earlier builds have only their labels */
	nl = labels_of(b, labelset, labels);
	h = sample_hash(b->stack, n, labels, nl);
	for (idx = kl_hindex_first(&b->samples, h, &pr); idx != KL_HINDEX_NONE;
	     idx = kl_hindex_next(&b->samples, &pr)) {
		if (sample_same(p, idx, b->stack, n, labels, nl)) {
			int64_t *v = p->values + (size_t)idx * b->ncols + b->col;

			for (uint32_t k = 0; k < nvals; k++)
				v[k] += values[k];
			return;
		}
	}
	for (uint32_t k = 0; k < nvals; k++)
		vals[b->col + k] = values[k];
	idx = kl_profile_add_sample(p, b->stack, n, vals, nl ? labels : NULL, nl);
	if (kl_profile_failed(p) || kl_hindex_insert_at(&b->samples, &pr, idx)) {
		b->failed = -ENOMEM;
		return;
	}
}

static void set_types(struct kl_profile *p, unsigned type, const struct agent_config *c)
{
	static const char *const types[][8] = {
		/* sample types (type, unit)..., then period type, unit */
		[0] = { "samples", "count", "cpu", "nanoseconds", NULL },
		[1] = { "samples", "count", "wall", "nanoseconds", NULL },
		[2] = { "alloc_objects", "count", "alloc_space", "bytes", "inuse_objects", "count",
			"inuse_space", "bytes" },
		[3] = { "contentions", "count", "delay", "nanoseconds", NULL },
		[4] = { "threads", "count", NULL },
	};
	unsigned t = type == KILN_PROFILE_CPU ? 0 : type == KILN_PROFILE_WALL ? 1
		     : type == KILN_PROFILE_HEAP ? 2 : type == KILN_PROFILE_LOCK ? 3 : 4;

	for (unsigned i = 0; i < 8 && types[t][i]; i += 2)
		kl_profile_add_sample_type(p, kl_profile_cstr(p, types[t][i]),
					   kl_profile_cstr(p, types[t][i + 1]));
	switch (type) {
	case KILN_PROFILE_CPU:
		p->period_type = (struct kl_value_type){ kl_profile_cstr(p, "cpu"),
							 kl_profile_cstr(p, "nanoseconds") };
		p->period = 1000000000 / (c ? c->cpu_hz : 100);
		p->default_sample_type = kl_profile_cstr(p, "cpu");
		break;
	case KILN_PROFILE_WALL:
		p->period_type = (struct kl_value_type){ kl_profile_cstr(p, "wall"),
							 kl_profile_cstr(p, "nanoseconds") };
		p->period = 1000000000 / (c ? c->wall_hz : 100);
		p->default_sample_type = kl_profile_cstr(p, "wall");
		break;
	case KILN_PROFILE_HEAP:
		p->period_type = (struct kl_value_type){ kl_profile_cstr(p, "space"),
							 kl_profile_cstr(p, "bytes") };
		p->period = c ? (int64_t)c->heap_sample_bytes : 524288;
		p->default_sample_type = kl_profile_cstr(p, "inuse_space");
		break;
	case KILN_PROFILE_LOCK:
		p->period_type = (struct kl_value_type){ kl_profile_cstr(p, "contentions"),
							 kl_profile_cstr(p, "count") };
		p->period = 1;
		p->default_sample_type = kl_profile_cstr(p, "delay");
		break;
	default:
		p->period_type = (struct kl_value_type){ kl_profile_cstr(p, "threads"),
							 kl_profile_cstr(p, "count") };
		p->period = 1;
		break;
	}
}

/*
 * pprof takes the first mapping for the main binary (its "File:" line):
 * move the program's own mapping there, whatever address was seen first.
 */
static void main_mapping_first(struct kl_profile *p)
{
	char exe[4096];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	uint32_t m;

	if (n <= 0)
		return;
	exe[n] = 0;
	for (m = 0; m < p->nmappings; m++) {
		if (!strcmp(kl_profile_sget(p, p->mappings[m].filename), exe))
			break;
	}
	if (m == 0 || m == p->nmappings)
		return;
	{
		struct kl_mapping t = p->mappings[0];

		p->mappings[0] = p->mappings[m];
		p->mappings[m] = t;
		p->mappings[0].id = 1;
		p->mappings[m].id = m + 1;
	}
	for (uint32_t i = 0; i < p->nlocations; i++) {
		if (p->locations[i].mapping == 1)
			p->locations[i].mapping = m + 1;
		else if (p->locations[i].mapping == m + 1)
			p->locations[i].mapping = 1;
	}
}

/* Indexes into's functions, locations and samples for a build that adds to it. */
static int index_old(struct builder *b)
{
	struct kl_profile *p = b->p;

	if (kl_hindex_reserve(&b->funcs, p->nfunctions) ||
	    kl_hindex_reserve(&b->locs, p->nlocations) ||
	    kl_hindex_reserve(&b->samples, p->nsamples))
		return -ENOMEM;
	for (uint32_t i = 0; i < p->nfunctions; i++) {
		if (kl_hindex_insert(&b->funcs, function_hash(&p->functions[i]), i))
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < p->nlocations; i++) {
		if (kl_hindex_insert(&b->locs, kl_hash_u64(p->locations[i].address), i))
			return -ENOMEM;
	}
	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *s = &p->samples[i];

		if (kl_hindex_insert(&b->samples, sample_hash(kl_sample_locs(p, s), s->nlocs,
							      kl_sample_labels(p, s), s->nlabels),
				     i))
			return -ENOMEM;
	}
	b->nold = p->nlocations;
	b->checked = p->nlocations ? kl_calloc(p->nlocations, 1) : NULL;
	return p->nlocations && !b->checked ? -ENOMEM : 0;
}

struct kl_profile *agent_build_profile(unsigned type, int64_t start_ns, int64_t end_ns)
{
	return agent_build_into(type, NULL, start_ns, end_ns);
}

struct kl_profile *agent_build_into(unsigned type, struct kl_profile *into, int64_t start_ns,
				    int64_t end_ns)
{
	const struct agent_config *c = agent_config_current();
	struct builder b;
	uint64_t dropped = 0;

	memset(&b, 0, sizeof(b));
	b.p = into ? into : kl_profile_new();
	if (!b.p)
		return NULL;
	if (!symbolizer)
		symbolizer = agent_symbolizer_new();
	else if (agent_symbolizer_refresh(symbolizer))
		agent_build_reset();
	if (!symbolizer || kl_hindex_init(&b.locs, 1024) || kl_hindex_init(&b.funcs, 1024) ||
	    kl_hindex_init(&b.samples, 1024))
		goto fail;
	if (into) {
		if (index_old(&b))
			goto fail;
		b.p->duration_nanos = end_ns > b.p->time_nanos ? end_ns - b.p->time_nanos : 0;
	} else {
		set_types(b.p, type, c);
		b.p->time_nanos = start_ns;
		b.p->duration_nanos = end_ns > start_ns ? end_ns - start_ns : 0;
	}
	b.ncols = b.p->nsample_types;
	b.nvals = b.ncols < 2 ? b.ncols : 2;
	switch (type) {
	case KILN_PROFILE_CPU:
		if (agent_cpu_buf)
			dropped = agent_profbuf_drain(agent_cpu_buf, add_stack, &b);
		break;
	case KILN_PROFILE_WALL:
		if (agent_wall_buf)
			dropped = agent_profbuf_drain(agent_wall_buf, add_stack, &b);
		break;
	case KILN_PROFILE_HEAP:
		dropped = agent_heap_allocs(add_stack, &b);
		b.col = 2;
		agent_heap_inuse(add_stack, &b);
		break;
	case KILN_PROFILE_LOCK:
		if (agent_lock_buf)
			dropped = agent_profbuf_drain(agent_lock_buf, add_stack, &b);
		break;
	case KILN_PROFILE_THREADS:
		agent_threads_snapshot(add_stack, &b);
		break;
	default:
		goto fail;
	}
	atomic_fetch_add(&dropped_total, dropped);
	if (type == KILN_PROFILE_CPU || type == KILN_PROFILE_WALL)
		atomic_fetch_add(&samples_total, b.nseen);
	if (dropped) {
		char note[96];

		snprintf(note, sizeof(note), "kiln: %llu samples dropped (stack table full)",
			 (unsigned long long)dropped);
		kl_profile_add_comment(b.p, kl_profile_cstr(b.p, note));
	}
	if (b.failed || kl_profile_failed(b.p))
		goto fail;
	main_mapping_first(b.p);
	goto out;
fail:
	kl_profile_free(b.p);
	b.p = NULL;
out:
	kl_hindex_release(&b.locs);
	kl_hindex_release(&b.funcs);
	kl_hindex_release(&b.samples);
	kl_free(b.checked);
	kl_free(b.maps);
	kl_free(b.stack);
	return b.p;
}
