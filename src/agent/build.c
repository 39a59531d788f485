/* SPDX-License-Identifier: Apache-2.0 */
/*
 * build.c - what the sampler, heap and lock hooks collected -> one pprof
 * profile per type (profile-types.md: sample types, period, time). Stacks
 * are symbolized here, off the signal path, with locations, functions and
 * mappings de-duplicated per profile; label sets become string sample
 * labels; equal (labels, stack) pairs become one sample. Called by the
 * exporter, one build at a time.
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
	struct kl_hindex samples;	/* (label set, locations) -> sample */
	uint32_t *sample_lsets;	/* label set of each sample */
	size_t sample_lsets_cap;
	uint32_t *maps;		/* symbolizer map index -> mapping index + 1 */
	size_t maps_cap;
	uint32_t *stack;	/* location indexes of the stack being added */
	size_t stack_cap;
	uint64_t nseen;		/* value 0 summed (cpu, wall: samples) */
};

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

static uint32_t function_of(struct builder *b, const struct agent_symframe *f)
{
	struct kl_profile *p = b->p;
	struct kl_function fn = {
		.name = kl_profile_cstr(p, f->function),
		.system_name = kl_profile_cstr(p, f->system_name),
		.filename = kl_profile_cstr(p, f->file),
	};
	uint64_t h = kl_hash_u64(((uint64_t)fn.name << 32 | fn.system_name) ^
				 kl_hash_u64(fn.filename));
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
	idx = kl_profile_add_mapping(b->p, &m);
	if (kl_profile_failed(b->p)) {
		b->failed = -ENOMEM;
		return 0;
	}
	b->maps[sym->map_index] = idx + 1;
	return idx + 1;
}

static uint32_t location_of(struct builder *b, uintptr_t pc)
{
	uint64_t h = kl_hash_u64(pc);
	struct kl_hindex_probe pr;
	struct kl_line lines[AGENT_SYM_MAX_FRAMES];
	struct kl_location loc = { 0 };
	struct agent_sym sym;
	uint32_t idx;

	for (idx = kl_hindex_first(&b->locs, h, &pr); idx != KL_HINDEX_NONE;
	     idx = kl_hindex_next(&b->locs, &pr)) {
		if (b->p->locations[idx].address == pc)
			return idx;
	}
	if (agent_symbolize(symbolizer, pc, &sym)) {
		b->failed = -ENOMEM;
		return 0;
	}
	loc.mapping = mapping_of(b, &sym);
	for (uint32_t i = 0; i < sym.nframes; i++) {
		lines[i].function = function_of(b, &sym.frames[i]);
		lines[i].line = sym.frames[i].line;
		lines[i].column = 0;
	}
	if (b->failed)
		return 0;
	loc.id = b->p->nlocations + 1;
	loc.address = pc;
	idx = kl_profile_add_location(b->p, &loc, lines, sym.nframes);
	if (kl_profile_failed(b->p) || kl_hindex_insert_at(&b->locs, &pr, idx)) {
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
	h = kl_hash_u64(kl_hash(b->stack, n * sizeof(uint32_t)) ^ labelset);
	for (idx = kl_hindex_first(&b->samples, h, &pr); idx != KL_HINDEX_NONE;
	     idx = kl_hindex_next(&b->samples, &pr)) {
		const struct kl_sample *s = &p->samples[idx];

		if (b->sample_lsets[idx] == labelset && s->nlocs == n &&
		    !memcmp(kl_sample_locs(p, s), b->stack, n * sizeof(uint32_t))) {
			int64_t *v = p->values + (size_t)idx * b->ncols + b->col;

			for (uint32_t k = 0; k < nvals; k++)
				v[k] += values[k];
			return;
		}
	}
	for (uint32_t k = 0; k < nvals; k++)
		vals[b->col + k] = values[k];
	nl = labels_of(b, labelset, labels);
	idx = kl_profile_add_sample(p, b->stack, n, vals, nl ? labels : NULL, nl);
	if (kl_profile_failed(p) || KL_GROW(b->sample_lsets, b->sample_lsets_cap, idx + 1) ||
	    kl_hindex_insert_at(&b->samples, &pr, idx)) {
		b->failed = -ENOMEM;
		return;
	}
	b->sample_lsets[idx] = labelset;
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

struct kl_profile *agent_build_profile(unsigned type, int64_t start_ns, int64_t end_ns)
{
	const struct agent_config *c = agent_config_current();
	struct builder b;
	uint64_t dropped = 0;

	memset(&b, 0, sizeof(b));
	b.p = kl_profile_new();
	if (!b.p)
		return NULL;
	if (!symbolizer)
		symbolizer = agent_symbolizer_new();
	else if (agent_symbolizer_refresh(symbolizer))
		agent_build_reset();
	if (!symbolizer || kl_hindex_init(&b.locs, 1024) || kl_hindex_init(&b.funcs, 1024) ||
	    kl_hindex_init(&b.samples, 1024))
		goto fail;
	set_types(b.p, type, c);
	b.ncols = b.p->nsample_types;
	b.nvals = b.ncols < 2 ? b.ncols : 2;
	b.p->time_nanos = start_ns;
	b.p->duration_nanos = end_ns > start_ns ? end_ns - start_ns : 0;
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
		if (agent_heap_alloc_buf)
			dropped = agent_profbuf_drain(agent_heap_alloc_buf, add_stack, &b);
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
	kl_free(b.sample_lsets);
	kl_free(b.maps);
	kl_free(b.stack);
	return b.p;
}
