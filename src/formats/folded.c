/* SPDX-License-Identifier: Apache-2.0 */
/*
 * folded.c - the folded ("collapsed") stack format: one "root;...;leaf N"
 * line per stack, as written by FlameGraph's stackcollapse-* scripts,
 * `kiln collapse` and Pyroscope's /ingest?format=folded.
 *
 * Reading follows Pyroscope: the count is what follows the last space, so
 * frame names may contain spaces. Each distinct frame name becomes one
 * function and one location (a hash index maps names to location indexes),
 * and each line becomes one sample. Writing walks a kl_tree.
 */
#include <string.h>

#include "../core/hindex.h"
#include "folded_internal.h"
#include "limits_internal.h"

/*
 * Returns the location index of the frame named s[0..len), adding a
 * function and a location for a new name. UINT32_MAX on out of memory.
 */
static uint32_t intern_frame(struct kl_profile *p, struct kl_hindex *names, const char *s,
			     size_t len)
{
	struct kl_function fn = { 0 };
	struct kl_location loc = { 0 };
	struct kl_line line = { 0 };
	struct kl_hindex_probe probe;
	uint32_t idx;

	for (idx = kl_hindex_first(names, kl_hash(s, len), &probe); idx != KL_HINDEX_NONE;
	     idx = kl_hindex_next(names, &probe)) {
		kl_strid name = p->functions[p->lines[p->locations[idx].line_start].function].name;

		if (kl_strtab_len(p->strs, name) == len &&
		    !memcmp(kl_strtab_get(p->strs, name), s, len))
			return idx;
	}
	fn.id = p->nfunctions + 1;
	fn.name = fn.system_name = kl_profile_str(p, s, len);
	line.function = kl_profile_add_function(p, &fn);
	loc.id = p->nlocations + 1;
	idx = kl_profile_add_location(p, &loc, &line, 1);
	if (kl_profile_failed(p) || kl_hindex_insert_at(names, &probe, idx))
		return UINT32_MAX;
	return idx;
}

/* Parses a non-negative decimal count; false if s is not one. */
static bool parse_count(const char *s, size_t n, int64_t *out)
{
	int64_t v = 0;

	if (n == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9' || v > (INT64_MAX - 9) / 10)
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return true;
}

int kl_folded_read_typed(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			 const char *type, const char *unit, struct kl_profile **out,
			 struct kl_err *err)
{
	const struct kl_read_limits limits = kl_read_limits_resolve(lim);
	const uint32_t max_samples = limits.max_samples, max_depth = limits.max_depth;
	const char *text = (const char *)data;
	struct kl_hindex names = { 0 };
	struct kl_profile *p = NULL;
	uint32_t *stack = NULL;
	size_t stack_cap = 0, pos = 0, lineno = 0;
	int rc = 0;

	*out = NULL;
	if ((rc = kl_check_input_size("folded", len, limits.max_input, err)))
		return rc;
	p = kl_profile_new();
	if (!p || KL_GROW(stack, stack_cap, 64) || kl_hindex_init(&names, 512)) {
		rc = -ENOMEM;
		goto out;
	}
	kl_profile_add_sample_type(p, kl_profile_cstr(p, type), kl_profile_cstr(p, unit));
	if (len >= 3 && !memcmp(text, "\xef\xbb\xbf", 3))
		pos = 3;	/* a UTF-8 byte order mark */

	while (pos < len) {
		size_t n;
		const char *l = kl_text_line(text, len, &pos, &n);
		const char *sp, *f, *end;
		uint32_t depth = 0;
		int64_t count;

		lineno++;
		/* CRLF files and stray trailing blanks */
		while (n > 0 && (l[n - 1] == '\r' || l[n - 1] == ' ' || l[n - 1] == '\t'))
			n--;
		if (n == 0 || l[0] == '#')
			continue;
		sp = memrchr(l, ' ', n);
		if (!sp)
			continue;	/* no count */
		if (!parse_count(sp + 1, (size_t)(l + n - sp - 1), &count)) {
			int shown = (int)KL_MIN((size_t)(l + n - sp - 1), (size_t)40);

			rc = kl_errf(err, -KL_EFORMAT, "folded: line %zu: bad count \"%.*s\"", lineno,
				     shown, sp + 1);
			goto out;
		}
		if (sp == l)
			continue;	/* a count without a stack */
		if (p->nsamples >= max_samples) {
			rc = kl_errf(err, -KL_ELIMIT, "folded: more than %u stacks", max_samples);
			goto out;
		}
		/* frames root first; deeper than max_depth is cut */
		for (f = l, end = sp; depth < max_depth;) {
			const char *semi = memchr(f, ';', (size_t)(end - f));
			const char *fe = semi ? semi : end;
			uint32_t loc = intern_frame(p, &names, f, (size_t)(fe - f));

			if (loc == UINT32_MAX || KL_GROW(stack, stack_cap, depth + 1)) {
				rc = -ENOMEM;
				goto out;
			}
			stack[depth++] = loc;
			if (!semi)
				break;
			f = semi + 1;
		}
		/* samples hold their locations leaf first */
		for (uint32_t i = 0, j = depth - 1; i < j; i++, j--) {
			uint32_t t = stack[i];

			stack[i] = stack[j];
			stack[j] = t;
		}
		kl_profile_add_sample(p, stack, depth, &count, NULL, 0);
		if (kl_profile_failed(p)) {
			rc = -ENOMEM;
			goto out;
		}
	}
	rc = kl_profile_validate(p, err);
	if (rc)
		goto out;
	*out = p;
	p = NULL;
out:
	if (rc == -ENOMEM)
		kl_errf(err, rc, "folded: out of memory");
	kl_profile_free(p);
	kl_free(stack);
	kl_hindex_release(&names);
	return rc;
}

int kl_folded_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		   struct kl_profile **out, struct kl_err *err)
{
	return kl_folded_read_typed(data, len, lim, "samples", "count", out, err);
}

int kl_folded_write(const struct kl_tree *t, uint32_t col, struct kl_buf *out,
		    struct kl_err *err)
{
	struct kl_buf path;
	size_t *lens = NULL, lens_cap = 0, depth = 0;
	uint32_t n;
	int rc = 0;

	if (col >= t->ncols)
		return kl_errf(err, -KL_EUSAGE, "folded: tree has no column %u", col);
	kl_buf_init(&path, out->limit);
	if (KL_GROW(lens, lens_cap, 1))
		return kl_errf(err, -ENOMEM, "folded: out of memory");
	lens[0] = 0;
	/* depth-first, pre-order, without recursion: lens[d] = path length above depth d */
	n = t->nnodes > 0 ? t->nodes[0].first_child : KL_TREE_NONE;
	while (n != KL_TREE_NONE) {
		const struct kl_tree_node *node = &t->nodes[n];

		path.len = lens[depth];
		if (depth)
			kl_buf_addch(&path, ';');
		kl_buf_add(&path, kl_tree_name(t, n), kl_strtab_len(t->names, node->name));
		if (KL_GROW(lens, lens_cap, depth + 2)) {
			rc = kl_errf(err, -ENOMEM, "folded: out of memory");
			goto out;
		}
		lens[depth + 1] = path.len;
		if (node->self[col] != 0 && !kl_buf_error(&path)) {
			kl_buf_add(out, path.data, path.len);
			kl_buf_addch(out, ' ');
			kl_buf_add_i64(out, node->self[col]);
			kl_buf_addch(out, '\n');
		}
		if (node->first_child != KL_TREE_NONE) {
			n = node->first_child;
			depth++;
			continue;
		}
		/* next sibling of this node or of the nearest ancestor that has one */
		for (;;) {
			if (t->nodes[n].next_sibling != KL_TREE_NONE) {
				n = t->nodes[n].next_sibling;
				break;
			}
			n = t->nodes[n].parent;
			if (n == 0 || n == KL_TREE_NONE) {
				n = KL_TREE_NONE;
				break;
			}
			depth--;
		}
	}
	if (kl_buf_error(&path) || kl_buf_error(out)) {
		rc = kl_buf_error(&path) ? kl_buf_error(&path) : kl_buf_error(out);
		rc = kl_errf(err, rc, "folded: %s",
			     rc == -ENOMEM ? "out of memory" : "output too large");
	}
out:
	kl_buf_release(&path);
	kl_free(lens);
	return rc;
}
