/* SPDX-License-Identifier: Apache-2.0 */
/*
 * speedscope.c - speedscope's JSON file format
 * (https://www.speedscope.app/file-format-schema.json).
 *
 * The writer emits one "sampled" profile from a kl_view: frames are the
 * view's frame names, and samples with identical stacks are merged (with
 * their weights summed) to keep files small. The reader takes the first
 * profile of a file, "sampled" or "evented" (open/close events become one
 * sample per distinct stack weighted by the time it was on top), and
 * builds a kl_profile with one function and location per frame.
 *
 * Sections: stack set (shared), writer, reader.
 */
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "../core/hindex.h"
#include "limits_internal.h"
#include "kiln/version.h"

#define EMPTY UINT32_MAX

/* ---- stack set: distinct stacks of uint32 ids -------------------------- */

/*
 * Interns stacks (arrays of ids) so that identical stacks share an index:
 * both directions aggregate samples by stack, through a hash index on the
 * stack's hash.
 */
struct stack_set {
	uint32_t *ids;		/* every stack's ids, back to back */
	size_t nids, ids_cap;
	struct stack_ref {
		size_t start;
		uint32_t len;
	} *stacks;
	uint32_t nstacks;
	size_t stacks_cap;
	struct kl_hindex index;	/* made by the first add */
};

static void stack_set_release(struct stack_set *s)
{
	kl_free(s->ids);
	kl_free(s->stacks);
	kl_hindex_release(&s->index);
	memset(s, 0, sizeof(*s));
}

/* Finds or adds the stack ids[0..n). Returns its index, or EMPTY on ENOMEM. */
static uint32_t stack_set_add(struct stack_set *s, const uint32_t *ids, uint32_t n)
{
	struct kl_hindex_probe p;
	struct stack_ref *r;
	uint32_t i;

	if (!s->index.slots && kl_hindex_init(&s->index, 512))
		return EMPTY;
	for (i = kl_hindex_first(&s->index, kl_hash(ids, (size_t)n * sizeof(*ids)), &p);
	     i != KL_HINDEX_NONE; i = kl_hindex_next(&s->index, &p)) {
		r = &s->stacks[i];
		if (r->len == n && !memcmp(s->ids + r->start, ids, (size_t)n * sizeof(*ids)))
			return i;
	}
	if (s->nstacks == EMPTY - 1 || KL_GROW(s->stacks, s->stacks_cap, s->nstacks + 1) ||
	    KL_GROW(s->ids, s->ids_cap, s->nids + n) ||
	    kl_hindex_insert_at(&s->index, &p, s->nstacks))
		return EMPTY;
	r = &s->stacks[s->nstacks];
	r->start = s->nids;
	r->len = n;
	if (n)
		memcpy(s->ids + s->nids, ids, (size_t)n * sizeof(*ids));
	s->nids += n;
	return s->nstacks++;
}

/* ---- writer ------------------------------------------------------------ */

/* speedscope's units are a fixed set; anything else is "none". */
static const char *speedscope_unit(const char *unit)
{
	static const char *const known[] = {
		"nanoseconds", "microseconds", "milliseconds", "seconds", "bytes",
	};

	for (size_t i = 0; i < KL_ARRAY_SIZE(known); i++)
		if (!strcmp(unit, known[i]))
			return known[i];
	return "none";
}

static void add_json_cstr(struct kl_buf *b, const char *s)
{
	kl_buf_addch(b, '"');
	kl_buf_add_json_str(b, s, strlen(s));
	kl_buf_addch(b, '"');
}

int kl_speedscope_write(const struct kl_view *v, const char *name, struct kl_buf *out,
			struct kl_err *err)
{
	const struct kl_profile *p = v->profile;
	const struct kl_value_type *st = &p->sample_types[v->sample_index];
	uint32_t nname_ids = kl_strtab_count(v->names), nframes = 0;
	uint32_t *frame_of = NULL, *frames = NULL, *leaf_first = NULL, *root_first = NULL;
	struct stack_set set = { 0 };
	int64_t *weights = NULL, end_value = 0;
	size_t weights_cap = 0;
	bool first;
	int rc = 0;

	if (v->sample_index >= p->nsample_types)
		return kl_errf(err, -KL_EUSAGE, "speedscope: no sample type %u", v->sample_index);
	if (!name || !*name)
		name = kl_profile_sget(p, st->type);
	frame_of = kl_reallocarray(NULL, nname_ids, sizeof(*frame_of));
	frames = kl_reallocarray(NULL, nname_ids, sizeof(*frames));
	leaf_first = kl_reallocarray(NULL, KL_MAX(v->max_depth, 1u), sizeof(*leaf_first));
	root_first = kl_reallocarray(NULL, KL_MAX(v->max_depth, 1u), sizeof(*root_first));
	if (!frame_of || !frames || !leaf_first || !root_first)
		goto nomem;
	memset(frame_of, 0xff, nname_ids * sizeof(*frame_of));

	for (uint32_t i = 0; i < p->nsamples; i++) {
		int64_t value = kl_view_value(v, i);
		uint32_t n, idx;

		if (value == 0)
			continue;
		n = kl_view_stack(v, i, leaf_first, NULL);
		/* a kept sample whose frames are all hidden still has its weight */
		if (n == 0 && !v->keep[i])
			continue;
		for (uint32_t k = 0; k < n; k++) {
			uint32_t id = leaf_first[n - 1 - k];

			if (id >= nname_ids) {
				rc = kl_errf(err, -KL_EFORMAT, "speedscope: frame name %u out of range",
					     id);
				goto out;
			}
			if (frame_of[id] == EMPTY) {
				frame_of[id] = nframes;
				frames[nframes++] = id;
			}
			root_first[k] = frame_of[id];
		}
		idx = stack_set_add(&set, root_first, n);
		if (idx == EMPTY)
			goto nomem;
		if (idx >= weights_cap) {
			size_t old = weights_cap;

			if (KL_GROW(weights, weights_cap, (size_t)idx + 1))
				goto nomem;
			memset(weights + old, 0, (weights_cap - old) * sizeof(*weights));
		}
		weights[idx] += value;
	}

	kl_buf_addstr(out, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\","
			   "\"shared\":{\"frames\":[");
	for (uint32_t f = 0; f < nframes; f++) {
		kl_buf_addstr(out, f ? ",{\"name\":\"" : "{\"name\":\"");
		kl_buf_add_json_str(out, kl_strtab_get(v->names, frames[f]),
				    kl_strtab_len(v->names, frames[f]));
		kl_buf_addstr(out, "\"}");
	}
	kl_buf_addstr(out, "]},\"profiles\":[{\"type\":\"sampled\",\"name\":");
	add_json_cstr(out, name);
	kl_buf_addstr(out, ",\"unit\":");
	add_json_cstr(out, speedscope_unit(kl_profile_sget(p, st->unit)));
	/* speedscope cannot draw negative weights (diffs): such stacks are left out */
	for (uint32_t s = 0; s < set.nstacks; s++)
		if (weights[s] > 0)
			end_value += weights[s];
	kl_buf_addstr(out, ",\"startValue\":0,\"endValue\":");
	kl_buf_add_i64(out, end_value);
	kl_buf_addstr(out, ",\"samples\":[");
	first = true;
	for (uint32_t s = 0; s < set.nstacks; s++) {
		const struct stack_ref *r = &set.stacks[s];

		if (weights[s] <= 0)
			continue;
		kl_buf_addstr(out, first ? "[" : ",[");
		first = false;
		for (uint32_t k = 0; k < r->len; k++) {
			if (k)
				kl_buf_addch(out, ',');
			kl_buf_add_u64(out, set.ids[r->start + k]);
		}
		kl_buf_addch(out, ']');
	}
	kl_buf_addstr(out, "],\"weights\":[");
	first = true;
	for (uint32_t s = 0; s < set.nstacks; s++) {
		if (weights[s] <= 0)
			continue;
		if (!first)
			kl_buf_addch(out, ',');
		first = false;
		kl_buf_add_i64(out, weights[s]);
	}
	kl_buf_addstr(out, "]}],\"name\":");
	add_json_cstr(out, name);
	kl_buf_addstr(out, ",\"activeProfileIndex\":0,\"exporter\":\"kiln " KILN_VERSION_STRING
			   "\"}\n");
	rc = kl_buf_error(out);
	if (rc)
		rc = kl_errf(err, rc, "speedscope: output buffer: %s", kl_strerror(rc));
	goto out;
nomem:
	rc = kl_errf(err, -ENOMEM, "speedscope: out of memory");
out:
	kl_free(frame_of);
	kl_free(frames);
	kl_free(leaf_first);
	kl_free(root_first);
	kl_free(weights);
	stack_set_release(&set);
	return rc;
}

/* ---- reader ------------------------------------------------------------ */

struct ss_read {
	struct kl_profile *p;
	uint32_t nframes;
	uint32_t *loc_of_frame;		/* speedscope frame index -> location */
	double scale;			/* input unit -> profile unit */
	uint32_t max_depth, max_samples;
	struct stack_set set;		/* distinct stacks, root first, frame indexes */
	int64_t *values;		/* per stack */
	size_t values_cap;
	int64_t total;			/* of all values, to refuse overflow */
	struct kl_err *err;
};

/* Converts a weight or duration in the file's unit to a profile value. */
static int ss_value(struct ss_read *r, double w, const char *what, size_t i, int64_t *out)
{
	double v = w * r->scale;

	if (!isfinite(v) || v < 0 || v >= 9.2e18)
		return kl_errf(r->err, -KL_EFORMAT, "speedscope: %s %zu (%g) is out of range", what,
			       i, w);
	*out = llround(v);
	return 0;
}

/* Adds value to the stack frames[0..n) (root first; the leaf end is kept). */
static int ss_add(struct ss_read *r, const uint32_t *frames, uint32_t n, int64_t value)
{
	uint32_t idx;

	if (n > r->max_depth) {
		frames += n - r->max_depth;
		n = r->max_depth;
	}
	idx = stack_set_add(&r->set, frames, n);
	if (idx == EMPTY)
		return kl_errf(r->err, -ENOMEM, "speedscope: out of memory");
	if (idx >= r->max_samples)
		return kl_errf(r->err, -KL_ELIMIT, "speedscope: more than %u distinct stacks",
			       r->max_samples);
	if (idx >= r->values_cap) {
		size_t old = r->values_cap;

		if (KL_GROW(r->values, r->values_cap, (size_t)idx + 1))
			return kl_errf(r->err, -ENOMEM, "speedscope: out of memory");
		memset(r->values + old, 0, (r->values_cap - old) * sizeof(*r->values));
	}
	/* the profile's total must stay representable, not only each stack's */
	if (__builtin_add_overflow(r->total, value, &r->total))
		return kl_errf(r->err, -KL_EFORMAT, "speedscope: weights overflow");
	r->values[idx] += value;
	return 0;
}

static int ss_frame_index(struct ss_read *r, const json_t *v, const char *what, size_t i,
			  uint32_t *out)
{
	json_int_t f;

	if (!json_is_integer(v))
		return kl_errf(r->err, -KL_EFORMAT, "speedscope: %s %zu: frame is not an integer",
			       what, i);
	f = json_integer_value(v);
	if (f < 0 || f >= (json_int_t)r->nframes)
		return kl_errf(r->err, -KL_EFORMAT,
			       "speedscope: %s %zu refers to unknown frame %lld", what, i,
			       (long long)f);
	*out = (uint32_t)f;
	return 0;
}

static int read_sampled(struct ss_read *r, const json_t *prof)
{
	const json_t *samples = json_object_get(prof, "samples");
	const json_t *weights = json_object_get(prof, "weights");
	uint32_t *frames = NULL;
	size_t frames_cap = 0;
	int rc = 0;

	if (!json_is_array(samples))
		return kl_errf(r->err, -KL_EFORMAT, "speedscope: sampled profile without "
			       "\"samples\" array");
	if (weights && !json_is_null(weights) &&
	    (!json_is_array(weights) || json_array_size(weights) != json_array_size(samples)))
		return kl_errf(r->err, -KL_EFORMAT, "speedscope: \"weights\" must be an array as "
			       "long as \"samples\"");
	for (size_t i = 0; i < json_array_size(samples); i++) {
		const json_t *stack = json_array_get(samples, i);
		const json_t *w = json_is_array(weights) ? json_array_get(weights, i) : NULL;
		size_t n = json_array_size(stack);
		int64_t value = 1;

		if (!json_is_array(stack)) {
			rc = kl_errf(r->err, -KL_EFORMAT, "speedscope: sample %zu is not an array", i);
			goto out;
		}
		if (w) {
			if (!json_is_number(w)) {
				rc = kl_errf(r->err, -KL_EFORMAT,
					     "speedscope: weight %zu is not a number", i);
				goto out;
			}
			rc = ss_value(r, json_number_value(w), "weight", i, &value);
			if (rc)
				goto out;
		}
		if (n > UINT32_MAX / 2 || KL_GROW(frames, frames_cap, KL_MAX(n, (size_t)1))) {
			rc = kl_errf(r->err, -ENOMEM, "speedscope: out of memory");
			goto out;
		}
		for (size_t k = 0; k < n; k++) {
			rc = ss_frame_index(r, json_array_get(stack, k), "sample", i, &frames[k]);
			if (rc)
				goto out;
		}
		if (value == 0)
			continue;
		rc = ss_add(r, frames, (uint32_t)n, value);
		if (rc)
			goto out;
	}
out:
	kl_free(frames);
	return rc;
}

static int read_evented(struct ss_read *r, const json_t *prof)
{
	const json_t *events = json_object_get(prof, "events");
	const json_t *endv = json_object_get(prof, "endValue");
	uint32_t *stack = NULL;
	size_t depth = 0, stack_cap = 0;
	double last = 0;
	int rc = 0;

	if (!json_is_array(events))
		return kl_errf(r->err, -KL_EFORMAT, "speedscope: evented profile without "
			       "\"events\" array");
	for (size_t i = 0; i < json_array_size(events); i++) {
		const json_t *ev = json_array_get(events, i);
		const json_t *at = json_object_get(ev, "at");
		const char *type = json_string_value(json_object_get(ev, "type"));
		uint32_t frame;
		double t;

		if (!json_is_object(ev) || !type || !json_is_number(at)) {
			rc = kl_errf(r->err, -KL_EFORMAT,
				     "speedscope: event %zu needs \"type\", \"frame\" and \"at\"", i);
			goto out;
		}
		rc = ss_frame_index(r, json_object_get(ev, "frame"), "event", i, &frame);
		if (rc)
			goto out;
		t = json_number_value(at);
		if (i > 0 && !(t >= last)) {
			rc = kl_errf(r->err, -KL_EFORMAT,
				     "speedscope: event %zu goes back in time (%g after %g)", i, t,
				     last);
			goto out;
		}
		/* the time since the previous event belongs to the stack open until now */
		if (depth > 0 && t > last) {
			int64_t value = 0;

			rc = ss_value(r, t - last, "event", i, &value);
			if (!rc && value)
				rc = ss_add(r, stack, (uint32_t)depth, value);
			if (rc)
				goto out;
		}
		last = t;
		if (!strcmp(type, "O")) {
			if (depth >= UINT32_MAX / 2 || KL_GROW(stack, stack_cap, depth + 1)) {
				rc = kl_errf(r->err, -ENOMEM, "speedscope: out of memory");
				goto out;
			}
			stack[depth++] = frame;
		} else if (!strcmp(type, "C")) {
			if (depth == 0 || stack[depth - 1] != frame) {
				rc = kl_errf(r->err, -KL_EFORMAT,
					     "speedscope: event %zu closes frame %u, which is not "
					     "the innermost open frame", i, frame);
				goto out;
			}
			depth--;
		} else {
			rc = kl_errf(r->err, -KL_EFORMAT,
				     "speedscope: event %zu has unknown type \"%s\"", i, type);
			goto out;
		}
	}
	/* frames still open are closed at the profile's end */
	if (depth > 0 && json_is_number(endv) && json_number_value(endv) > last) {
		int64_t value = 0;

		rc = ss_value(r, json_number_value(endv) - last, "endValue", 0, &value);
		if (!rc && value)
			rc = ss_add(r, stack, (uint32_t)depth, value);
	}
out:
	kl_free(stack);
	return rc;
}

/* Adds one function and location per speedscope frame. */
static int read_frames(struct ss_read *r, const json_t *frames)
{
	struct kl_profile *p = r->p;

	if (json_array_size(frames) >= UINT32_MAX / 2)
		return kl_errf(r->err, -KL_ELIMIT, "speedscope: too many frames");
	r->nframes = (uint32_t)json_array_size(frames);
	r->loc_of_frame = kl_reallocarray(NULL, KL_MAX(r->nframes, 1u), sizeof(uint32_t));
	if (!r->loc_of_frame)
		return kl_errf(r->err, -ENOMEM, "speedscope: out of memory");
	for (uint32_t i = 0; i < r->nframes; i++) {
		const json_t *f = json_array_get(frames, i);
		const json_t *name = json_object_get(f, "name");
		const json_t *file = json_object_get(f, "file");
		const json_t *line = json_object_get(f, "line");
		const json_t *col = json_object_get(f, "col");
		struct kl_function fn = { .id = (uint64_t)i + 1 };
		struct kl_location loc = { .id = (uint64_t)i + 1 };
		struct kl_line ln = { 0 };

		if (!json_is_object(f) || !json_is_string(name))
			return kl_errf(r->err, -KL_EFORMAT, "speedscope: frame %u has no name", i);
		if ((file && !json_is_string(file) && !json_is_null(file)) ||
		    (line && !json_is_integer(line) && !json_is_null(line)) ||
		    (col && !json_is_integer(col) && !json_is_null(col)))
			return kl_errf(r->err, -KL_EFORMAT,
				       "speedscope: frame %u has a bad file, line or col", i);
		fn.name = kl_profile_str(p, json_string_value(name), json_string_length(name));
		fn.system_name = fn.name;
		if (json_is_string(file))
			fn.filename = kl_profile_str(p, json_string_value(file),
						     json_string_length(file));
		ln.line = json_is_integer(line) ? json_integer_value(line) : 0;
		ln.column = json_is_integer(col) ? json_integer_value(col) : 0;
		ln.function = kl_profile_add_function(p, &fn);
		r->loc_of_frame[i] = kl_profile_add_location(p, &loc, &ln, 1);
		if (kl_profile_failed(p))
			return kl_errf(r->err, -ENOMEM, "speedscope: out of memory");
	}
	return 0;
}

/* Maps the file's unit to a sample type and a factor to that type's unit. */
static int ss_unit(struct ss_read *r, const char *unit, bool evented)
{
	static const struct {
		const char *unit;
		double scale;
	} times[] = {
		{ "nanoseconds", 1 }, { "microseconds", 1e3 }, { "milliseconds", 1e6 },
		{ "seconds", 1e9 },
	};
	struct kl_profile *p = r->p;

	r->scale = 1;
	for (size_t i = 0; i < KL_ARRAY_SIZE(times); i++) {
		if (!strcmp(unit, times[i].unit)) {
			/* events are spans of wall time; samples are usually CPU */
			r->scale = times[i].scale;
			kl_profile_add_sample_type(p, kl_profile_cstr(p, evented ? "wall" : "cpu"),
						   kl_profile_cstr(p, "nanoseconds"));
			return 0;
		}
	}
	if (!strcmp(unit, "bytes"))
		kl_profile_add_sample_type(p, kl_profile_cstr(p, "space"),
					   kl_profile_cstr(p, "bytes"));
	else if (!strcmp(unit, "none"))
		kl_profile_add_sample_type(p, kl_profile_cstr(p, "samples"),
					   kl_profile_cstr(p, "count"));
	else
		return kl_errf(r->err, -KL_EFORMAT, "speedscope: unknown unit \"%s\"", unit);
	return 0;
}

int kl_speedscope_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		       struct kl_profile **out, struct kl_err *err)
{
	const struct kl_read_limits limits = kl_read_limits_resolve(lim);
	struct ss_read r = {
		.max_samples = limits.max_samples,
		.max_depth = limits.max_depth,
		.err = err,
	};
	const json_t *frames, *profiles, *prof;
	const char *type, *unit;
	json_t *root;
	json_error_t jerr;
	uint32_t *locs = NULL;
	int rc;

	*out = NULL;
	if ((rc = kl_check_input_size("speedscope", len, limits.max_input, err)))
		return rc;
	root = json_loadb((const char *)data, len, 0, &jerr);
	if (!root)
		return kl_errf(err, -KL_EFORMAT, "speedscope: invalid JSON at line %d column %d: %s",
			       jerr.line, jerr.column, jerr.text);
	frames = json_object_get(json_object_get(root, "shared"), "frames");
	profiles = json_object_get(root, "profiles");
	if (!json_is_array(frames) || !json_is_array(profiles)) {
		rc = kl_errf(err, -KL_EFORMAT, "speedscope: \"shared.frames\" and \"profiles\" "
			     "arrays are required");
		goto out;
	}
	prof = json_array_get(profiles, 0);
	if (!json_is_object(prof)) {
		rc = kl_errf(err, -KL_EFORMAT, "speedscope: no profile in \"profiles\"");
		goto out;
	}
	type = json_string_value(json_object_get(prof, "type"));
	unit = json_string_value(json_object_get(prof, "unit"));
	if (!type || (strcmp(type, "sampled") && strcmp(type, "evented"))) {
		rc = kl_errf(err, -KL_EFORMAT, "speedscope: profile type \"%s\" is not \"sampled\" "
			     "or \"evented\"", type ? type : "");
		goto out;
	}
	r.p = kl_profile_new();
	if (!r.p) {
		rc = kl_errf(err, -ENOMEM, "speedscope: out of memory");
		goto out;
	}
	rc = ss_unit(&r, unit ? unit : "none", type[0] == 'e');
	if (!rc)
		rc = read_frames(&r, frames);
	if (!rc)
		rc = type[0] == 's' ? read_sampled(&r, prof) : read_evented(&r, prof);
	if (rc)
		goto out;

	locs = kl_reallocarray(NULL, KL_MAX(r.max_depth, 1u), sizeof(*locs));
	if (!locs) {
		rc = kl_errf(err, -ENOMEM, "speedscope: out of memory");
		goto out;
	}
	for (uint32_t s = 0; s < r.set.nstacks; s++) {
		const struct stack_ref *sr = &r.set.stacks[s];

		if (r.values[s] == 0)
			continue;
		for (uint32_t k = 0; k < sr->len; k++)
			locs[k] = r.loc_of_frame[r.set.ids[sr->start + sr->len - 1 - k]];
		kl_profile_add_sample(r.p, locs, sr->len, &r.values[s], NULL, 0);
	}
	rc = kl_profile_validate(r.p, err);
	if (!rc) {
		*out = r.p;
		r.p = NULL;
	}
out:
	kl_profile_free(r.p);
	kl_free(r.loc_of_frame);
	kl_free(r.values);
	kl_free(locs);
	stack_set_release(&r.set);
	json_decref(root);
	return rc;
}
