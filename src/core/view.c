/* SPDX-License-Identifier: Apache-2.0 */
/*
 * view.c - naming frames at a granularity and walking filtered stacks.
 *
 * Frame names follow pprof's NodeInfo.PrintableName so that reports match
 * `go tool pprof` line for line: the components are an address (only at
 * address granularity), the function name, and "file:line" or the file,
 * falling back to "[objfile]" and then "<unknown>" when nothing else is
 * known. Which components exist depends on the granularity, as pprof's
 * Profile.Aggregate clears them.
 */
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "view.h"

/*
 * Appends path cleaned lexically like Go's filepath.Clean: repeated and
 * trailing slashes, "." and ".." elements are resolved. pprof cleans file
 * names before naming nodes, so "a//b.go" and "a/b.go" are one node.
 */
static void add_clean_path(struct kl_buf *b, const char *path, size_t n)
{
	size_t start = b->len, root_end;
	bool rooted = n > 0 && path[0] == '/';
	size_t i = 0;

	if (n == 0) {
		kl_buf_addch(b, '.');
		return;
	}
	if (rooted) {
		kl_buf_addch(b, '/');
		i = 1;
	}
	root_end = b->len;
	while (i < n && !kl_buf_error(b)) {
		size_t j = i;

		while (j < n && path[j] != '/')
			j++;
		if (j == i || (j - i == 1 && path[i] == '.')) {
			/* empty or "." element: skip */
		} else if (j - i == 2 && path[i] == '.' && path[i + 1] == '.') {
			/* ".." removes the last element unless there is none to remove */
			size_t end = b->len;
			bool removable = end > root_end &&
					 !(end - root_end >= 2 && b->data[end - 1] == '.' &&
					   b->data[end - 2] == '.' &&
					   (end - root_end == 2 || b->data[end - 3] == '/'));

			if (removable) {
				while (end > root_end && b->data[end - 1] != '/')
					end--;
				if (end > root_end)
					end--;	/* the separator */
				b->len = end;
				b->data[end] = '\0';
			} else if (!rooted) {
				if (b->len > root_end)
					kl_buf_addch(b, '/');
				kl_buf_add(b, "..", 2);
			}
		} else {
			if (b->len > root_end)
				kl_buf_addch(b, '/');
			kl_buf_add(b, path + i, j - i);
		}
		i = j + 1;
	}
	if (b->len == start)
		kl_buf_addch(b, '.');
}

/* Base name of a path, as Go's filepath.Base. */
static void add_base(struct kl_buf *b, const char *path)
{
	size_t n = strlen(path), end, start;

	end = n;
	while (end > 1 && path[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && path[start - 1] != '/')
		start--;
	if (end == start)
		kl_buf_addch(b, n ? '/' : '.');
	else
		kl_buf_add(b, path + start, end - start);
}

/* Builds the printable name of one frame into b (reset first). */
static void frame_name(struct kl_buf *b, const struct kl_profile *p, const struct kl_location *loc,
		       const struct kl_line *line, enum kl_granularity g)
{
	bool keep_name = g != KL_GRAN_FILES;
	bool keep_file = g != KL_GRAN_FUNCTIONS;
	bool keep_line = g == KL_GRAN_LINES || g == KL_GRAN_ADDRESSES;
	const struct kl_function *fn = line ? &p->functions[line->function] : NULL;
	const char *name = fn && keep_name ? kl_profile_sget(p, fn->name) : "";
	const char *file = fn && keep_file ? kl_profile_sget(p, fn->filename) : "";
	int64_t lineno = line && keep_line ? line->line : 0;
	bool sep = false;

	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
	if (g == KL_GRAN_ADDRESSES && loc->address) {
		kl_buf_addf(b, "%016llx", (unsigned long long)loc->address);
		sep = true;
	}
	if (*name) {
		if (sep)
			kl_buf_addch(b, ' ');
		kl_buf_addstr(b, name);
		sep = true;
	}
	if (lineno != 0 || *file) {
		if (sep)
			kl_buf_addch(b, ' ');
		if (*file)
			add_clean_path(b, file, strlen(file));
		if (lineno != 0) {
			kl_buf_addch(b, ':');
			kl_buf_add_i64(b, lineno);
		}
	} else if (!*name) {
		const char *obj = loc->mapping ? kl_profile_sget(p, p->mappings[loc->mapping - 1].filename)
					       : "";

		if (sep)
			kl_buf_addch(b, ' ');
		if (*obj) {
			kl_buf_addch(b, '[');
			add_base(b, obj);
			kl_buf_addch(b, ']');
		} else {
			kl_buf_addstr(b, "<unknown>");
		}
	}
}

void kl_view_release(struct kl_view *v)
{
	if (!v)
		return;
	kl_free(v->frame_start);
	kl_free(v->frames);
	kl_free(v->frame_flags);
	kl_free(v->keep);
	memset(v, 0, sizeof(*v));
}

/* Fills frames/frame_flags for every location. */
static int name_locations(struct kl_view *v, const struct kl_view_opts *o,
			  const uint8_t *line_hidden, const uint8_t *loc_hidden)
{
	const struct kl_profile *p = v->profile;
	struct kl_buf name = KL_BUF_INIT;
	size_t nframes = 0, cap = (size_t)p->nlines + p->nlocations;
	uint32_t kept[256];
	int rc = 0;

	v->frame_start = kl_malloc(((size_t)p->nlocations + 1) * sizeof(uint32_t));
	v->frames = kl_malloc(KL_MAX(cap, (size_t)1) * sizeof(uint32_t));
	v->frame_flags = kl_malloc(KL_MAX(cap, (size_t)1));
	if (!v->frame_start || !v->frames || !v->frame_flags)
		return -ENOMEM;
	kl_buf_init(&name, 1 << 20);
	for (uint32_t i = 0; i < p->nlocations; i++) {
		const struct kl_location *loc = &p->locations[i];
		const struct kl_line *lines = kl_location_lines(p, loc);
		uint32_t nkept = 0;

		v->frame_start[i] = (uint32_t)nframes;
		if (loc_hidden[i])
			continue;
		if (loc->nlines == 0) {
			frame_name(&name, p, loc, NULL, o->granularity);
			v->frames[nframes] = kl_strtab_intern(v->names, name.data ? name.data : "",
							      name.len);
			v->frame_flags[nframes++] = 0;
			continue;
		}
		/* innermost first; inline depth beyond 256 is folded away */
		for (uint32_t j = 0; j < loc->nlines && nkept < KL_ARRAY_SIZE(kept); j++)
			if (!line_hidden[loc->line_start + j])
				kept[nkept++] = j;
		if (o->no_inlines && nkept > 1) {
			kept[0] = kept[nkept - 1];
			nkept = 1;
		}
		for (uint32_t k = 0; k < nkept; k++) {
			frame_name(&name, p, loc, &lines[kept[k]], o->granularity);
			v->frames[nframes] = kl_strtab_intern(v->names, name.data ? name.data : "",
							      name.len);
			v->frame_flags[nframes++] = k + 1 < nkept ? KL_FRAME_INLINED : 0;
		}
	}
	v->frame_start[p->nlocations] = (uint32_t)nframes;
	if (kl_buf_error(&name) || kl_strtab_failed(v->names))
		rc = -ENOMEM;
	kl_buf_release(&name);
	return rc;
}

int kl_view_init(struct kl_view *v, const struct kl_profile *p, const struct kl_view_opts *o,
		 struct kl_strtab *names, struct kl_err *err)
{
	uint8_t *line_hidden = NULL, *loc_hidden = NULL;
	int rc;

	memset(v, 0, sizeof(*v));
	v->profile = p;
	v->names = names;
	v->sample_index = o->sample_index;
	if (o->sample_index >= p->nsample_types)
		return kl_errf(err, -KL_ENOTFOUND, "sample index %u out of range (profile has %u)",
			       o->sample_index, p->nsample_types);
	v->keep = kl_malloc(KL_MAX(p->nsamples, 1u));
	line_hidden = kl_malloc(KL_MAX(p->nlines, 1u));
	loc_hidden = kl_malloc(KL_MAX(p->nlocations, 1u));
	if (!v->keep || !line_hidden || !loc_hidden) {
		rc = -ENOMEM;
		goto out;
	}
	rc = kl_filter_apply(o->filter, p, v->keep, line_hidden, loc_hidden);
	if (rc)
		goto out;
	rc = name_locations(v, o, line_hidden, loc_hidden);
	if (rc)
		goto out;
	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *s = &p->samples[i];
		const uint32_t *locs = kl_sample_locs(p, s);
		uint32_t depth = 0;

		if (!v->keep[i])
			continue;
		for (uint32_t j = 0; j < s->nlocs; j++)
			depth += v->frame_start[locs[j] + 1] - v->frame_start[locs[j]];
		if (depth == 0)
			v->keep[i] = 0;	/* every frame hidden: pprof drops the sample */
		if (depth > v->max_depth)
			v->max_depth = depth;
	}
out:
	kl_free(line_hidden);
	kl_free(loc_hidden);
	if (rc) {
		if (rc == -ENOMEM)
			kl_errf(err, rc, "out of memory");
		kl_view_release(v);
	}
	return rc;
}

uint32_t kl_view_stack(const struct kl_view *v, uint32_t sample, uint32_t *buf, uint8_t *flags)
{
	const struct kl_profile *p = v->profile;
	const struct kl_sample *s = &p->samples[sample];
	const uint32_t *locs = kl_sample_locs(p, s);
	uint32_t n = 0;

	if (!v->keep[sample])
		return 0;
	for (uint32_t j = 0; j < s->nlocs; j++) {
		uint32_t start = v->frame_start[locs[j]], end = v->frame_start[locs[j] + 1];

		memcpy(buf + n, v->frames + start, (end - start) * sizeof(*buf));
		if (flags)
			memcpy(flags + n, v->frame_flags + start, end - start);
		n += end - start;
	}
	return n;
}
