/* SPDX-License-Identifier: Apache-2.0 */
/*
 * flamebearer.c - Pyroscope's flame graph JSON (pyroscope-compat.md §4).
 *
 * The writer turns a kl_tree into "single" (4 ints per node) or "double"
 * (7 ints per node, diffs) flamebearer. It is on the server's query path,
 * so it writes JSON by hand in one depth-first walk that gives every node
 * its x offset and name index and appends its ints to its level's buffer;
 * the levels are then concatenated.
 * The reader parses single-format JSON with jansson and rebuilds one
 * sample per node that has self value, validating every offset.
 *
 * Sections: writer (walk, emit), reader (decode levels, build profile).
 */
#include <jansson.h>
#include <string.h>

#include "limits_internal.h"

/* ---- writer ---------------------------------------------------------- */

/*
 * Per level of the graph: where the next node goes, where the last one
 * ended (offsets are deltas from it), and the level's ints written so far.
 * Writing each level into its own buffer during the walk keeps every write
 * sequential, where collecting nodes and sorting them by level would read
 * them back scattered over memory (a cache miss per node on big trees).
 */
struct fb_level {
	int64_t next_x[2];
	int64_t last_end[2];
	struct kl_buf b;
};

struct fb_walk {
	const struct kl_tree *t;
	uint32_t ncols;
	uint32_t nvisited;
	struct fb_level *lv;
	size_t lv_cap;
	uint32_t nlevels;
	size_t limit;		/* the output buffer's ceiling */
	/* name id in t->names -> index in "names"; UINT32_MAX = not yet */
	uint32_t *name_index;
	uint32_t nname_ids;
	uint32_t *names;	/* name ids in output order; [0] unused ("total") */
	uint32_t nnames;
	int64_t max_self;
	int error;		/* first level buffer failure */
};

static int walk_level(struct fb_walk *w, uint32_t level)
{
	if (level < w->nlevels)
		return 0;
	if (KL_GROW(w->lv, w->lv_cap, (size_t)level + 1))
		return -ENOMEM;
	memset(&w->lv[level], 0, sizeof(w->lv[level]));
	kl_buf_init(&w->lv[level].b, w->limit);
	w->nlevels = level + 1;
	return 0;
}

/* Writes v in decimal at p, returns the end. p needs room for 20 bytes. */
static char *put_i64(char *p, int64_t v)
{
	char tmp[20];
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	size_t i = sizeof(tmp);

	if (v < 0)
		*p++ = '-';
	do {
		tmp[--i] = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	memcpy(p, tmp + i, sizeof(tmp) - i);
	return p + sizeof(tmp) - i;
}

/* Appends node's 4 or 7 ints to its level. */
static void walk_visit(struct fb_walk *w, uint32_t node, uint32_t level)
{
	const struct kl_tree_node *n = &w->t->nodes[node];
	struct fb_level *lv = &w->lv[level];
	uint32_t name = 0;
	char *p;

	w->nvisited++;
	if (node != 0 && n->name < w->nname_ids) {
		if (w->name_index[n->name] == UINT32_MAX) {
			w->name_index[n->name] = w->nnames;
			w->names[w->nnames++] = n->name;
		}
		name = w->name_index[n->name];
	}
	if (kl_buf_reserve(&lv->b, 7 * 21 + 2)) {
		w->error = kl_buf_error(&lv->b);
		return;
	}
	p = lv->b.data + lv->b.len;
	if (lv->b.len)
		*p++ = ',';
	for (uint32_t c = 0; c < w->ncols; c++) {
		int64_t x = lv->next_x[c];

		p = put_i64(p, x - lv->last_end[c]);
		*p++ = ',';
		p = put_i64(p, n->total[c]);
		*p++ = ',';
		p = put_i64(p, n->self[c]);
		*p++ = ',';
		lv->last_end[c] = x + n->total[c];
		lv->next_x[c] = x + n->total[c];
		if (n->self[c] > w->max_self)
			w->max_self = n->self[c];
	}
	p = put_i64(p, name);
	*p = '\0';
	lv->b.len = (size_t)(p - lv->b.data);
}

/*
 * Walks the tree depth first, siblings in list order (kl_tree_sort's name
 * order), without recursion: the tree may be thousands of levels deep.
 * Pre-order reaches the nodes of each level left to right. Children are
 * laid out after their parent's self value, as Pyroscope does.
 */
static int walk_tree(struct fb_walk *w)
{
	const struct kl_tree *t = w->t;
	uint32_t node = 0, level = 0;

	if (walk_level(w, 0))
		return -ENOMEM;
	walk_visit(w, 0, 0);
	for (;;) {
		const struct kl_tree_node *n = &t->nodes[node];

		/* a pointer chase through memory: start fetching the way on */
		if (n->next_sibling < t->nnodes)
			__builtin_prefetch(&t->nodes[n->next_sibling]);
		if (n->first_child != KL_TREE_NONE) {
			if (walk_level(w, level + 1))
				return -ENOMEM;
			/* the node ends at next_x: its children start after its self */
			for (uint32_t c = 0; c < w->ncols; c++)
				w->lv[level + 1].next_x[c] = w->lv[level].next_x[c] - n->total[c] +
							     n->self[c];
			node = n->first_child;
			level++;
		} else {
			while (node != 0 && t->nodes[node].next_sibling == KL_TREE_NONE) {
				/* parents come before their children (tree.c): climbing ends */
				if (t->nodes[node].parent >= node)
					return -KL_EFORMAT;
				node = t->nodes[node].parent;
				level--;
			}
			if (node == 0)
				break;
			node = t->nodes[node].next_sibling;
		}
		if (node >= t->nnodes || w->nvisited >= t->nnodes)
			return -KL_EFORMAT;	/* broken links: never loop forever */
		walk_visit(w, node, level);
	}
	return w->error;
}

static void emit_str_member(struct kl_buf *b, const char *key, const char *val)
{
	kl_buf_addch(b, '"');
	kl_buf_addstr(b, key);
	kl_buf_addstr(b, "\":\"");
	kl_buf_add_json_str(b, val, strlen(val));
	kl_buf_addch(b, '"');
}

const char *kl_flamebearer_units(const char *type, const char *unit)
{
	if (!strcmp(unit, "bytes"))
		return "bytes";
	if (strstr(type, "objects"))
		return "objects";
	if (strstr(type, "goroutine"))
		return "goroutines";
	return "samples";
}

/* Pyroscope's legacy "units" and sampleRate for a tree without metadata. */
static void default_meta(const struct kl_tree *t, struct kl_flamebearer_meta *m)
{
	m->name = t->sample_type;
	m->spy_name = "";
	m->units = kl_flamebearer_units(t->sample_type, t->unit);
	m->sample_rate = !strcmp(m->units, "samples") && !strcmp(t->unit, "nanoseconds")
				 ? 1000000000 : 100;
}

int kl_flamebearer_write(const struct kl_tree *t, const struct kl_flamebearer_meta *m,
			 bool members_only, struct kl_buf *out, struct kl_err *err)
{
	struct kl_flamebearer_meta meta;
	struct fb_walk w = { .t = t };
	const struct kl_tree_node *root;
	size_t levels_len = 0;
	int64_t num_ticks, total_id;
	int rc;

	if (!t || t->nnodes == 0)
		return kl_errf(err, -KL_EFORMAT, "flamebearer: empty tree");
	if (t->ncols != 1 && t->ncols != 2)
		return kl_errf(err, -KL_EFORMAT, "flamebearer: tree has %u columns", t->ncols);
	default_meta(t, &meta);
	if (m) {
		meta.sample_rate = m->sample_rate;
		if (m->name)
			meta.name = m->name;
		if (m->spy_name)
			meta.spy_name = m->spy_name;
		if (m->units)
			meta.units = m->units;
	}
	w.ncols = t->ncols;
	w.limit = out->limit;
	w.nname_ids = kl_strtab_count(t->names);
	w.name_index = kl_reallocarray(NULL, w.nname_ids, sizeof(*w.name_index));
	w.names = kl_reallocarray(NULL, (size_t)t->nnodes + 1, sizeof(*w.names));
	if (!w.name_index || !w.names) {
		rc = kl_errf(err, -ENOMEM, "flamebearer: out of memory");
		goto out;
	}
	memset(w.name_index, 0xff, w.nname_ids * sizeof(*w.name_index));
	/* "total" is the root's name; a frame called "total" shares index 0 */
	w.nnames = 1;
	total_id = kl_strtab_find(t->names, "total", 5);
	if (total_id >= 0 && (uint64_t)total_id < w.nname_ids)
		w.name_index[total_id] = 0;
	rc = walk_tree(&w);
	if (rc) {
		rc = kl_errf(err, rc, rc == -KL_EFORMAT ? "flamebearer: tree links are inconsistent"
						       : "flamebearer: %s", kl_strerror(rc));
		goto out;
	}

	for (uint32_t l = 0; l < w.nlevels; l++)
		levels_len += w.lv[l].b.len + 3;
	kl_buf_reserve(out, levels_len + (size_t)w.nnames * 24 + 512);
	root = &t->nodes[0];
	/* Pyroscope's double format counts both sides in numTicks */
	num_ticks = root->total[0] + (t->ncols == 2 ? root->total[1] : 0);
	if (!members_only)
		kl_buf_addch(out, '{');
	kl_buf_addstr(out, "\"version\":1,\"flamebearer\":{\"names\":[\"total\"");
	for (uint32_t i = 1; i < w.nnames; i++) {
		uint32_t id = w.names[i];

		kl_buf_addstr(out, ",\"");
		kl_buf_add_json_str(out, kl_strtab_get(t->names, id), kl_strtab_len(t->names, id));
		kl_buf_addch(out, '"');
	}
	kl_buf_addstr(out, "],\"levels\":[");
	for (uint32_t l = 0; l < w.nlevels; l++) {
		kl_buf_addstr(out, l ? ",[" : "[");
		kl_buf_add(out, w.lv[l].b.data, w.lv[l].b.len);
		kl_buf_addch(out, ']');
	}
	kl_buf_addstr(out, "],\"numTicks\":");
	kl_buf_add_i64(out, num_ticks);
	kl_buf_addstr(out, ",\"maxSelf\":");
	kl_buf_add_i64(out, w.max_self);
	kl_buf_addstr(out, "},\"metadata\":{");
	emit_str_member(out, "format", t->ncols == 2 ? "double" : "single");
	kl_buf_addch(out, ',');
	emit_str_member(out, "spyName", meta.spy_name);
	kl_buf_addstr(out, ",\"sampleRate\":");
	kl_buf_add_i64(out, meta.sample_rate);
	kl_buf_addch(out, ',');
	emit_str_member(out, "units", meta.units);
	kl_buf_addch(out, ',');
	emit_str_member(out, "name", meta.name);
	kl_buf_addch(out, '}');
	if (t->ncols == 2) {
		kl_buf_addstr(out, ",\"leftTicks\":");
		kl_buf_add_i64(out, root->total[0]);
		kl_buf_addstr(out, ",\"rightTicks\":");
		kl_buf_add_i64(out, root->total[1]);
	}
	if (!members_only)
		kl_buf_addch(out, '}');
	rc = kl_buf_error(out);
	if (rc)
		rc = kl_errf(err, rc, "flamebearer: output buffer: %s", kl_strerror(rc));
out:
	for (uint32_t l = 0; l < w.nlevels; l++)
		kl_buf_release(&w.lv[l].b);
	kl_free(w.lv);
	kl_free(w.name_index);
	kl_free(w.names);
	return rc;
}

/* ---- reader ---------------------------------------------------------- */

/* A decoded node: absolute x, values, name index and parent (node index). */
struct fb_node {
	int64_t x, total, self;
	int64_t kids;		/* sum of the children's totals so far */
	uint32_t name;
	uint32_t parent;
};

struct fb_read {
	struct fb_node *nodes;
	size_t nnodes;
	size_t *level_start;	/* nlevels + 1 */
	uint32_t nlevels;
	uint32_t nnames;
};

static const char *json_str_member(const json_t *obj, const char *key, const char *dflt)
{
	const json_t *v = json_object_get(obj, key);

	return json_is_string(v) ? json_string_value(v) : dflt;
}

/* Decodes and checks one level; parents are on level - 1 (already decoded). */
static int decode_level(struct fb_read *r, const json_t *arr, uint32_t level,
			struct kl_err *err)
{
	size_t n = json_array_size(arr), p = 0, pend = 0;
	int64_t end = 0;

	if (n % 4)
		return kl_errf(err, -KL_EFORMAT,
			       "flamebearer: level %u has %zu values, not a multiple of 4", level,
			       n);
	if (level == 0 && n != 4)
		return kl_errf(err, -KL_EFORMAT, "flamebearer: level 0 must hold only the root");
	if (level > 0) {
		p = r->level_start[level - 1];
		pend = r->level_start[level];
	}
	for (size_t i = 0; i < n; i += 4) {
		struct fb_node *nd = &r->nodes[r->nnodes];
		json_int_t v[4];

		for (int k = 0; k < 4; k++) {
			const json_t *e = json_array_get(arr, i + (size_t)k);

			if (!json_is_integer(e))
				return kl_errf(err, -KL_EFORMAT,
					       "flamebearer: level %u value %zu is not an integer",
					       level, i + (size_t)k);
			v[k] = json_integer_value(e);
			if (v[k] < 0)
				return kl_errf(err, -KL_EFORMAT,
					       "flamebearer: level %u value %zu is negative", level,
					       i + (size_t)k);
		}
		if (v[2] > v[1])
			return kl_errf(err, -KL_EFORMAT,
				       "flamebearer: level %u node %zu has self %lld above total %lld",
				       level, i / 4, (long long)v[2], (long long)v[1]);
		if ((uint64_t)v[3] >= r->nnames)
			return kl_errf(err, -KL_EFORMAT,
				       "flamebearer: level %u node %zu has name index %lld out of range",
				       level, i / 4, (long long)v[3]);
		if (__builtin_add_overflow(end, (int64_t)v[0], &nd->x) ||
		    __builtin_add_overflow(nd->x, (int64_t)v[1], &end))
			return kl_errf(err, -KL_EFORMAT,
				       "flamebearer: level %u node %zu: offset overflows", level,
				       i / 4);
		nd->total = v[1];
		nd->self = v[2];
		nd->name = (uint32_t)v[3];
		nd->parent = UINT32_MAX;
		nd->kids = 0;
		if (level > 0) {
			struct fb_node *pn;

			/* nodes are left to right on both levels: the parent cursor only advances */
			while (p < pend && r->nodes[p].x + r->nodes[p].total < end)
				p++;
			if (p == pend || nd->x < r->nodes[p].x)
				return kl_errf(err, -KL_EFORMAT,
					       "flamebearer: level %u node %zu (x %lld, total %lld) "
					       "lies outside every node of level %u",
					       level, i / 4, (long long)nd->x, (long long)nd->total,
					       level - 1);
			/* children and self must fit in the parent's total */
			pn = &r->nodes[p];
			if (__builtin_add_overflow(pn->kids, nd->total, &pn->kids) ||
			    pn->kids > pn->total - pn->self)
				return kl_errf(err, -KL_EFORMAT,
					       "flamebearer: level %u node %zu: children of a node "
					       "add up to more than its total minus self",
					       level, i / 4);
			nd->parent = (uint32_t)p;
		}
		r->nnodes++;
	}
	return 0;
}

static void sample_type_from_meta(const json_t *meta, const char **type, const char **unit)
{
	const char *units = json_str_member(meta, "units", "");
	const char *name = json_str_member(meta, "name", "");
	const json_t *rate = json_object_get(meta, "sampleRate");
	static const struct {
		const char *units, *type, *unit;
	} map[] = {
		{ "objects", "objects", "count" },
		{ "goroutines", "goroutine", "count" },
		{ "bytes", "space", "bytes" },
		{ "lock_samples", "contentions", "count" },
		{ "lock_nanoseconds", "delay", "nanoseconds" },
	};

	*type = "samples";
	*unit = "count";
	if (!strcmp(units, "samples") || !*units) {
		/* modern Pyroscope: samples at a rate of 1e9 Hz are nanoseconds */
		if (json_is_integer(rate) && json_integer_value(rate) == 1000000000) {
			*type = "cpu";
			*unit = "nanoseconds";
		}
	} else {
		*unit = units;
		*type = units;
		for (size_t i = 0; i < KL_ARRAY_SIZE(map); i++) {
			if (!strcmp(units, map[i].units)) {
				*type = map[i].type;
				*unit = map[i].unit;
			}
		}
	}
	if (*name)
		*type = name;
}

static int build_profile(const struct fb_read *r, const json_t *names, const json_t *meta,
			 uint32_t max_depth, uint32_t max_samples, bool cut, struct kl_profile *p,
			 struct kl_err *err)
{
	uint32_t *loc_of_name = NULL, *stack = NULL;
	const char *type, *unit;
	uint32_t nsamples = 0;
	int rc = 0;

	sample_type_from_meta(meta, &type, &unit);
	kl_profile_add_sample_type(p, kl_profile_cstr(p, type), kl_profile_cstr(p, unit));
	loc_of_name = kl_reallocarray(NULL, r->nnames ? r->nnames : 1, sizeof(*loc_of_name));
	stack = kl_reallocarray(NULL, max_depth ? max_depth : 1, sizeof(*stack));
	if (!loc_of_name || !stack) {
		rc = kl_errf(err, -ENOMEM, "flamebearer: out of memory");
		goto out;
	}
	memset(loc_of_name, 0xff, r->nnames * sizeof(*loc_of_name));
	/* the root's own value is a sample with an empty stack */
	if (r->nodes[0].self) {
		int64_t value = r->nodes[0].self;

		nsamples++;
		kl_profile_add_sample(p, NULL, 0, &value, NULL, 0);
	}
	for (uint32_t l = 1; l < r->nlevels; l++) {
		for (size_t i = r->level_start[l]; i < r->level_start[l + 1]; i++) {
			const struct fb_node *nd = &r->nodes[i];
			/* the deepest kept level stands for everything cut below it */
			int64_t value = cut && l + 1 == r->nlevels ? nd->total : nd->self;
			uint32_t depth = 0;

			if (value == 0)
				continue;
			if (++nsamples > max_samples) {
				rc = kl_errf(err, -KL_ELIMIT, "flamebearer: more than %u samples",
					     max_samples);
				goto out;
			}
			for (size_t j = i; j != UINT32_MAX && r->nodes[j].parent != UINT32_MAX;
			     j = r->nodes[j].parent) {
				uint32_t ni = r->nodes[j].name;

				if (loc_of_name[ni] == UINT32_MAX) {
					const json_t *s = json_array_get(names, ni);
					struct kl_function f = { .id = p->nfunctions + 1 };
					struct kl_location loc = { .id = p->nlocations + 1 };
					struct kl_line line = { 0 };

					f.name = kl_profile_str(p, json_string_value(s),
								json_string_length(s));
					f.system_name = f.name;
					line.function = kl_profile_add_function(p, &f);
					loc_of_name[ni] = kl_profile_add_location(p, &loc, &line, 1);
					if (kl_profile_failed(p)) {
						rc = kl_errf(err, -ENOMEM, "flamebearer: out of memory");
						goto out;
					}
				}
				stack[depth++] = loc_of_name[ni];
			}
			kl_profile_add_sample(p, stack, depth, &value, NULL, 0);
		}
	}
	if (kl_profile_failed(p))
		rc = kl_errf(err, -ENOMEM, "flamebearer: out of memory");
out:
	kl_free(loc_of_name);
	kl_free(stack);
	return rc;
}

int kl_flamebearer_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			struct kl_profile **out, struct kl_err *err)
{
	const struct kl_read_limits limits = kl_read_limits_resolve(lim);
	const uint32_t max_samples = limits.max_samples, max_depth = limits.max_depth;
	struct fb_read r = { 0 };
	struct kl_profile *p = NULL;
	json_t *root = NULL, *fb, *names, *levels, *meta;
	json_error_t jerr;
	size_t total_nodes = 0, nlevels;
	const char *format;
	int rc;

	*out = NULL;
	if ((rc = kl_check_input_size("flamebearer", len, limits.max_input, err)))
		return rc;
	root = json_loadb((const char *)data, len, 0, &jerr);
	if (!root)
		return kl_errf(err, -KL_EFORMAT, "flamebearer: invalid JSON at line %d column %d: %s",
			       jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		rc = kl_errf(err, -KL_EFORMAT, "flamebearer: top level is not an object");
		goto out;
	}
	/* the render response wraps the graph; accept the bare graph as well */
	fb = json_object_get(root, "flamebearer");
	if (!fb)
		fb = root;
	meta = json_object_get(root, "metadata");
	if (!json_is_object(meta))
		meta = json_object_get(fb, "metadata");
	format = json_str_member(meta, "format", "single");
	if (strcmp(format, "single")) {
		rc = kl_errf(err, -KL_EFORMAT, "flamebearer: format \"%s\" cannot be read, only "
			     "\"single\"", format);
		goto out;
	}
	names = json_object_get(fb, "names");
	levels = json_object_get(fb, "levels");
	if (!json_is_array(names) || !json_is_array(levels)) {
		rc = kl_errf(err, -KL_EFORMAT, "flamebearer: \"names\" and \"levels\" arrays are "
			     "required");
		goto out;
	}
	if (json_array_size(names) == 0 || json_array_size(levels) == 0) {
		rc = kl_errf(err, -KL_EFORMAT, "flamebearer: no root node");
		goto out;
	}
	if (json_array_size(names) > UINT32_MAX / 2) {
		rc = kl_errf(err, -KL_ELIMIT, "flamebearer: too many names");
		goto out;
	}
	r.nnames = (uint32_t)json_array_size(names);
	for (size_t i = 0; i < r.nnames; i++) {
		if (!json_is_string(json_array_get(names, i))) {
			rc = kl_errf(err, -KL_EFORMAT, "flamebearer: name %zu is not a string", i);
			goto out;
		}
	}
	/* level 0 is the root; deeper than max_depth frames is cut */
	nlevels = KL_MIN(json_array_size(levels), (size_t)max_depth + 1);
	for (size_t l = 0; l < nlevels; l++) {
		const json_t *lv = json_array_get(levels, l);

		if (!json_is_array(lv)) {
			rc = kl_errf(err, -KL_EFORMAT, "flamebearer: level %zu is not an array", l);
			goto out;
		}
		total_nodes += json_array_size(lv) / 4;
	}
	if (total_nodes >= UINT32_MAX) {
		rc = kl_errf(err, -KL_ELIMIT, "flamebearer: too many nodes");
		goto out;
	}
	r.nodes = kl_reallocarray(NULL, total_nodes + 1, sizeof(*r.nodes));
	r.level_start = kl_calloc(nlevels + 1, sizeof(*r.level_start));
	if (!r.nodes || !r.level_start) {
		rc = kl_errf(err, -ENOMEM, "flamebearer: out of memory");
		goto out;
	}
	for (uint32_t l = 0; l < nlevels; l++) {
		r.level_start[l] = r.nnodes;
		rc = decode_level(&r, json_array_get(levels, l), l, err);
		if (rc)
			goto out;
		r.nlevels = l + 1;
		r.level_start[l + 1] = r.nnodes;
	}
	{
		/* numTicks, when present, is the root's total */
		const json_t *ticks = json_object_get(fb, "numTicks");

		if (ticks && (!json_is_integer(ticks) ||
			      json_integer_value(ticks) != r.nodes[0].total)) {
			rc = kl_errf(err, -KL_EFORMAT, "flamebearer: numTicks is not the root "
				     "total %lld", (long long)r.nodes[0].total);
			goto out;
		}
	}
	p = kl_profile_new();
	if (!p) {
		rc = kl_errf(err, -ENOMEM, "flamebearer: out of memory");
		goto out;
	}
	rc = build_profile(&r, names, meta, max_depth, max_samples,
			   json_array_size(levels) > nlevels, p, err);
	if (!rc)
		rc = kl_profile_validate(p, err);
	if (!rc) {
		*out = p;
		p = NULL;
	}
out:
	kl_profile_free(p);
	kl_free(r.nodes);
	kl_free(r.level_start);
	json_decref(root);
	return rc;
}
