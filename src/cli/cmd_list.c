/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_list.c - kiln list: the source of every function whose name matches
 * a regular expression, each line annotated with the value spent there, as
 * `go tool pprof -list` prints it.
 *
 * Samples are attributed to source lines (function, file, line): flat goes
 * to the line of a sample's leaf frame, cum to every line on its stack,
 * once per sample. Inlined frames count as lines of their own function.
 * For each matching function and each of its files, the listing runs from
 * the function's start line (or 5 lines before its first sampled line) to
 * 5 lines past its last sampled line, as pprof's getSourceFromFile does.
 * Files are found as pprof finds them: absolute paths as they are,
 * relative ones under -source_path (default: the current directory) and
 * its parents. When a file cannot be read the sampled lines are listed
 * with their values but without text.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/hindex.h"
#include "textreport.h"

#define MARGIN 5		/* lines shown before the first / after the last sample */
#define MAX_SOURCE_FILE ((size_t)64 << 20)

/* One source line of one function: pprof's node at "lines" granularity. */
struct line_node {
	kl_strid name, file;	/* in the profile's string table */
	int64_t line;
	int64_t start_line;	/* the function's, 0 if unknown */
	int64_t flat, cum;
	uint32_t stamp;		/* 1 + last sample counted in cum */
};

struct line_table {
	struct line_node *nodes;
	uint32_t n;
	size_t cap;
	struct kl_hindex index;	/* nodes by node_hash; made by the first get */
};

static uint64_t node_hash(kl_strid name, kl_strid file, int64_t line, int64_t start)
{
	return kl_hash_u64(((uint64_t)name << 32 | file) ^ kl_hash_u64((uint64_t)line) ^
			   ((uint64_t)start << 17));
}

static void table_fail(void)
{
	fprintf(stderr, "kiln: out of memory\n");
	exit(CLI_FAIL);
}

/* Finds or adds the node of (function f, line). */
static struct line_node *table_get(struct line_table *t, const struct kl_function *f,
				   int64_t line)
{
	struct kl_hindex_probe p;
	struct line_node *nd;
	uint32_t i;

	if (!t->index.slots && kl_hindex_init(&t->index, 2048))
		table_fail();
	for (i = kl_hindex_first(&t->index, node_hash(f->name, f->filename, line, f->start_line),
				 &p);
	     i != KL_HINDEX_NONE; i = kl_hindex_next(&t->index, &p)) {
		nd = &t->nodes[i];
		if (nd->name == f->name && nd->file == f->filename && nd->line == line &&
		    nd->start_line == f->start_line)
			return nd;
	}
	if (t->n == t->cap) {
		t->cap = t->cap ? t->cap * 2 : 1024;
		t->nodes = realloc(t->nodes, t->cap * sizeof(*t->nodes));
		if (!t->nodes)
			table_fail();
	}
	if (kl_hindex_insert_at(&t->index, &p, t->n))
		table_fail();
	nd = &t->nodes[t->n];
	memset(nd, 0, sizeof(*nd));
	nd->name = f->name;
	nd->file = f->filename;
	nd->line = line;
	nd->start_line = f->start_line;
	t->n++;
	return nd;
}

/*
 * Attributes every kept sample to source lines. Frames hidden by -hide or
 * -show are skipped (the next visible frame becomes the leaf); with
 * -noinlines only the outermost line of each location counts.
 */
static void attribute(struct line_table *t, const struct kl_profile *p, uint32_t si,
		      bool no_inlines, const uint8_t *keep, const uint8_t *line_hidden,
		      const uint8_t *loc_hidden)
{
	for (uint32_t i = 0; i < p->nsamples; i++) {
		const struct kl_sample *s = &p->samples[i];
		const uint32_t *locs = kl_sample_locs(p, s);
		int64_t v = kl_sample_values(p, i)[si];
		bool leaf = true;

		if (!keep[i] || v == 0)
			continue;
		for (uint32_t k = 0; k < s->nlocs; k++) {
			const struct kl_location *loc = &p->locations[locs[k]];
			const struct kl_line *lines = kl_location_lines(p, loc);
			uint32_t first = no_inlines && loc->nlines ? loc->nlines - 1 : 0;

			if (loc_hidden[locs[k]])
				continue;
			if (loc->nlines == 0) {
				leaf = false;	/* an unsymbolized frame takes the flat value */
				continue;
			}
			for (uint32_t l = first; l < loc->nlines; l++) {
				struct line_node *nd;

				if (line_hidden[loc->line_start + l])
					continue;
				nd = table_get(t, &p->functions[lines[l].function], lines[l].line);
				if (leaf)
					nd->flat += v;
				leaf = false;
				if (nd->stamp != i + 1) {
					nd->stamp = i + 1;
					nd->cum += v;
				}
			}
		}
	}
}

/* ---- source files --------------------------------------------------- */

struct source {
	char *path;		/* as named in the profile */
	char *data;		/* file contents, NULL if unreadable */
	char **lines;		/* lines[1..nlines] point into data */
	size_t nlines;
	char err[600];
};

struct list_ctx {
	const char *cmd;
	const struct kl_profile *p;
	const char *unit, *out_unit;
	const char *source_path, *trim_path;	/* as given; "" = not set */
	const char *search_path;		/* source_path, or the cwd */
	int64_t total;
	struct source *sources;
	size_t nsources;
	struct kl_buf out;
};

/* Go's filepath.Base of a directory, for pprof's trim heuristic. */
static const char *base_of(const char *dir, size_t len, size_t *blen)
{
	size_t end = len, start;

	while (end > 1 && dir[end - 1] == '/')
		end--;
	start = end;
	while (start > 0 && dir[start - 1] != '/')
		start--;
	*blen = end - start;
	return dir + start;
}

/*
 * pprof's trimPath: with no -trim_path, strip everything up to and
 * including "/<basename of a search dir>/"; then strip configured prefixes
 * and /proc/self/cwd/.
 */
static const char *trim_path(const struct list_ctx *c, const char *path, const char *search)
{
	const char *s, *e;

	if (!c->trim_path || !*c->trim_path) {
		for (s = search; *s; s = *e ? e + 1 : e) {
			char want[4096];
			size_t blen;
			const char *b, *hit;

			e = strchr(s, ':');
			if (!e)
				e = s + strlen(s);
			b = base_of(s, (size_t)(e - s), &blen);
			if (blen + 3 > sizeof(want))
				continue;
			snprintf(want, sizeof(want), "/%.*s/", (int)blen, b);
			hit = strstr(path, want);
			if (hit)
				return hit + strlen(want);
		}
	}
	for (s = c->trim_path ? c->trim_path : ""; *s; s = *e ? e + 1 : e) {
		size_t n;

		e = strchr(s, ':');
		if (!e)
			e = s + strlen(s);
		n = (size_t)(e - s);
		if (n && !strncmp(path, s, n) && (s[n - 1] == '/' || path[n] == '/'))
			return path + n + (s[n - 1] == '/' ? 0 : 1);
	}
	if (!strncmp(path, "/proc/self/cwd/./", 17))
		return path + 17;
	if (!strncmp(path, "/proc/self/cwd/", 15))
		return path + 15;
	return path;
}

/* Reads a whole regular file of at most MAX_SOURCE_FILE bytes. NULL with errno set on failure. */
static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t cap = 1 << 16, n = 0;
	char *data;

	if (!f)
		return NULL;
	data = cli_xmalloc(cap + 1);
	for (;;) {
		size_t got = fread(data + n, 1, cap - n, f);

		n += got;
		if (n < cap) {
			if (ferror(f)) {
				int e = errno ? errno : EIO;

				free(data);
				fclose(f);
				errno = e;
				return NULL;
			}
			break;
		}
		if (cap >= MAX_SOURCE_FILE) {
			free(data);
			fclose(f);
			errno = EFBIG;
			return NULL;
		}
		cap *= 2;
		data = realloc(data, cap + 1);
		if (!data) {
			fprintf(stderr, "kiln: out of memory\n");
			exit(CLI_FAIL);
		}
	}
	fclose(f);
	data[n] = '\0';
	*len = n;
	return data;
}

/* pprof's openSourceFile: absolute as is, relative under each search dir and its parents. */
static char *open_source(const struct list_ctx *c, const char *file, size_t *len)
{
	const char *path = trim_path(c, file, c->search_path);
	const char *s, *e;

	if (path[0] == '/')
		return slurp(path, len);
	for (s = c->search_path; *s; s = *e ? e + 1 : e) {
		char dir[4096];

		e = strchr(s, ':');
		if (!e)
			e = s + strlen(s);
		if ((size_t)(e - s) >= sizeof(dir))
			continue;
		memcpy(dir, s, (size_t)(e - s));
		dir[e - s] = '\0';
		for (;;) {
			char full[8192];
			char *data, *slash;

			snprintf(full, sizeof(full), "%s/%s", dir, path);
			data = slurp(full, len);
			if (data)
				return data;
			slash = strrchr(dir, '/');
			if (!slash || (slash == dir && dir[1] == '\0'))
				break;
			if (slash == dir)
				slash[1] = '\0';
			else
				*slash = '\0';
		}
	}
	errno = ENOENT;
	return NULL;
}

/* The lines of file, read once and cached. */
static struct source *get_source(struct list_ctx *c, const char *file)
{
	struct source *src;
	size_t len = 0, cap = 0;
	char *p, *end;

	for (size_t i = 0; i < c->nsources; i++)
		if (!strcmp(c->sources[i].path, file))
			return &c->sources[i];
	c->sources = realloc(c->sources, (c->nsources + 1) * sizeof(*c->sources));
	if (!c->sources) {
		fprintf(stderr, "kiln: out of memory\n");
		exit(CLI_FAIL);
	}
	src = &c->sources[c->nsources++];
	memset(src, 0, sizeof(*src));
	src->path = strdup(file);
	src->data = open_source(c, file, &len);
	if (!src->data) {
		/* worded as pprof words it, with Go's lower-case error text */
		const char *path = trim_path(c, file, c->search_path);
		char why[256];

		snprintf(why, sizeof(why), "%s", strerror(errno));
		why[0] = (char)tolower((unsigned char)why[0]);
		if (path[0] == '/')
			snprintf(src->err, sizeof(src->err), "open %s: %s", path, why);
		else
			snprintf(src->err, sizeof(src->err), "could not find file %s on path %s",
				 path, c->search_path);
		return src;
	}
	/* split like Go's bufio.Scanner: "\n" ends a line, a final "\r" is dropped */
	p = src->data;
	end = src->data + len;
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		char *e = nl ? nl : end;

		if (e > p && e[-1] == '\r')
			e--;
		*e = '\0';
		if (src->nlines + 2 > cap) {
			cap = cap ? cap * 2 : 256;
			src->lines = realloc(src->lines, cap * sizeof(*src->lines));
			if (!src->lines) {
				fprintf(stderr, "kiln: out of memory\n");
				exit(CLI_FAIL);
			}
		}
		src->lines[++src->nlines] = p;
		p = nl ? nl + 1 : end;
	}
	return src;
}

/* ---- the listing ---------------------------------------------------- */

static const char *value(const struct list_ctx *c, int64_t v, char *buf)
{
	return kl_unit_label(buf, KL_UNIT_LABEL_MAX, v, c->unit, c->out_unit);
}

static const char *value_or_dot(const struct list_ctx *c, int64_t v, char *buf)
{
	return v ? value(c, v, buf) : ".";
}

/* Sorted so that one function's nodes are together, by file, then line. */
static int cmp_nodes(const void *a, const void *b, void *ctx)
{
	const struct kl_profile *p = ctx;
	const struct line_node *x = *(const struct line_node *const *)a;
	const struct line_node *y = *(const struct line_node *const *)b;
	int r = strcmp(kl_profile_sget(p, x->name), kl_profile_sget(p, y->name));

	if (!r)
		r = strcmp(kl_profile_sget(p, x->file), kl_profile_sget(p, y->file));
	if (!r)
		r = (x->line > y->line) - (x->line < y->line);
	if (!r)
		r = (x->start_line > y->start_line) - (x->start_line < y->start_line);
	return r;
}

/* Lists nodes[0..n): one function in one file. */
static void list_file(struct list_ctx *c, struct line_node **nodes, size_t n)
{
	const struct kl_profile *p = c->p;
	const char *name = kl_profile_sget(p, nodes[0]->name);
	/* pprof shows the file trimmed by -trim_path/-source_path as given */
	const char *file = trim_path(c, kl_profile_sget(p, nodes[0]->file), c->source_path);
	char a[KL_UNIT_LABEL_MAX], b[KL_UNIT_LABEL_MAX], pct[KL_UNIT_LABEL_MAX];
	int64_t flat = 0, cum = 0, start, end;
	struct source *src;
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		flat += nodes[i]->flat;
		cum += nodes[i]->cum;
	}
	kl_buf_addf(&c->out, "ROUTINE ======================== %s in %s\n", name, file);
	kl_buf_addf(&c->out, "%10s %10s (flat, cum) %s of Total\n", value(c, flat, a),
		    value(c, cum, b), kl_unit_percentage(pct, sizeof(pct), cum, c->total));
	src = get_source(c, file);
	if (!src->data) {
		/* no text: the sampled lines alone still say where the time went */
		kl_buf_addf(&c->out, " Error: %s\n", src->err);
		for (size_t i = 0; i < n; i++)
			kl_buf_addf(&c->out, "%10s %10s %6lld:\n", value_or_dot(c, nodes[i]->flat, a),
				    value_or_dot(c, nodes[i]->cum, b), (long long)nodes[i]->line);
		return;
	}
	/* pprof's range: the start line (or the first sample - MARGIN) to last + MARGIN */
	start = nodes[0]->start_line ? nodes[0]->start_line : nodes[0]->line - MARGIN;
	end = nodes[0]->line + MARGIN;
	for (size_t i = 0; i < n; i++) {
		int64_t ns = nodes[i]->start_line ? nodes[i]->start_line : nodes[i]->line - MARGIN;

		if (ns < start)
			start = ns;
		else if (nodes[i]->line + MARGIN > end)
			end = nodes[i]->line + MARGIN;
	}
	if (start < 1)
		start = 1;
	for (int64_t l = start; l <= end && (uint64_t)l <= src->nlines; l++) {
		int64_t lflat = 0, lcum = 0;

		/* nodes are sorted by line: several may share one (different start lines) */
		while (k < n && nodes[k]->line < l)
			k++;
		for (size_t j = k; j < n && nodes[j]->line == l; j++) {
			lflat += nodes[j]->flat;
			lcum += nodes[j]->cum;
		}
		kl_buf_addf(&c->out, "%10s %10s %6lld:%s\n", value_or_dot(c, lflat, a),
			    value_or_dot(c, lcum, b), (long long)l, src->lines[l]);
	}
}

/* Equal strings may have two ids when a reader kept a file's string table. */
static bool same_str(const struct kl_profile *p, kl_strid a, kl_strid b)
{
	return a == b || !strcmp(kl_profile_sget(p, a), kl_profile_sget(p, b));
}

/* Lists every function of nodes[0..n) (sorted), grouping by name then file. */
static void list_all(struct list_ctx *c, struct line_node **nodes, size_t n)
{
	const struct kl_profile *p = c->p;
	size_t i = 0;

	while (i < n) {
		size_t j = i;
		bool any_file = false;

		while (j < n && same_str(p, nodes[j]->name, nodes[i]->name))
			any_file |= *kl_profile_sget(p, nodes[j++]->file) != '\0';
		if (!any_file) {
			kl_buf_addf(&c->out, "No source information for %s\n",
				    kl_profile_sget(p, nodes[i]->name));
			i = j;
			continue;
		}
		while (i < j) {
			size_t k = i;

			while (k < j && same_str(p, nodes[k]->file, nodes[i]->file))
				k++;
			if (*kl_profile_sget(p, nodes[i]->file))
				list_file(c, nodes + i, k - i);
			i = k;
		}
	}
}

int cmd_list(int argc, const char **argv)
{
	struct cli_report_opts r;
	struct list_ctx c = { .cmd = "list" };
	struct kl_profile *p = NULL;
	struct kl_filter *filter = NULL;
	struct kl_view_opts vo;
	struct line_table t = { 0 };
	struct line_node **matched = NULL;
	uint8_t *keep = NULL, *line_hidden = NULL, *loc_hidden = NULL;
	pcre2_code *re = NULL;
	pcre2_match_data *md = NULL;
	char cwd[4096] = ".";
	struct kl_err err;
	size_t nmatched = 0;
	int npos, rc, errcode;
	PCRE2_SIZE erroff;

	cli_report_opts_init(&r);
	c.source_path = "";
	{
		const struct cli_opt opts[] = {
			CLI_REPORT_OPTS(r),
			TEXTREP_UNIT_OPT(r),
			{ "source_path", CLI_OPT_STRING, &c.source_path,
			  "where to look for source files (':'-separated; default: cwd)", NULL },
			{ "trim_path", CLI_OPT_STRING, &c.trim_path,
			  "path prefixes to remove from file names (':'-separated)", NULL },
			{ NULL, 0, NULL, NULL, NULL },
		};

		rc = cli_parse("list", "REGEX [options] SOURCE...", opts, argc, argv, &npos);
	}
	if (rc)
		return rc == CLI_HELP ? CLI_OK : rc;
	if (npos < 2) {
		cli_error("list", "need a regular expression and a profile "
				  "(usage: kiln list REGEX [options] SOURCE...)");
		return CLI_USAGE;
	}
	re = pcre2_compile((PCRE2_SPTR)argv[1], PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &errcode,
			   &erroff, NULL);
	if (!re) {
		PCRE2_UCHAR msg[256];

		pcre2_get_error_message(errcode, msg, sizeof(msg));
		cli_error("list", "bad regular expression '%s' at offset %zu: %s", argv[1],
			  (size_t)erroff, (const char *)msg);
		return CLI_USAGE;
	}
	md = pcre2_match_data_create_from_pattern(re, NULL);
	if (cli_load_profiles(argv + 2, npos - 1, &p, &err)) {
		cli_error("list", "%s", err.msg);
		rc = CLI_FAIL;
		goto out;
	}
	rc = cli_view_opts("list", &r, p, &vo, &filter);
	if (rc)
		goto out;
	keep = cli_xmalloc(KL_MAX(p->nsamples, 1u));
	line_hidden = cli_xmalloc(KL_MAX(p->nlines, 1u));
	loc_hidden = cli_xmalloc(KL_MAX(p->nlocations, 1u));
	if (kl_filter_apply(filter, p, keep, line_hidden, loc_hidden)) {
		cli_error("list", "out of memory");
		rc = CLI_FAIL;
		goto out;
	}
	attribute(&t, p, vo.sample_index, vo.no_inlines, keep, line_hidden, loc_hidden);

	matched = cli_xcalloc(KL_MAX(t.n, 1u), sizeof(*matched));
	for (uint32_t i = 0; i < t.n; i++) {
		const char *name = kl_profile_sget(p, t.nodes[i].name);

		if (pcre2_match(re, (PCRE2_SPTR)name, strlen(name), 0, 0, md, NULL) >= 0)
			matched[nmatched++] = &t.nodes[i];
	}
	if (nmatched == 0) {
		cli_error("list", "no matches found for regexp: %s", argv[1]);
		rc = CLI_FAIL;
		goto out;
	}
	qsort_r(matched, nmatched, sizeof(*matched), cmp_nodes, p);

	c.search_path = c.source_path;
	if (!*c.search_path)
		c.search_path = getcwd(cwd, sizeof(cwd)) ? cwd : ".";
	c.p = p;
	c.unit = kl_profile_sget(p, p->sample_types[vo.sample_index].unit);
	c.out_unit = textrep_unit_opt(&r);
	c.total = textrep_abs_total(p, vo.sample_index);
	kl_buf_init(&c.out, 0);
	{
		char a[KL_UNIT_LABEL_MAX];

		kl_buf_addf(&c.out, "Total: %s\n", value(&c, c.total, a));
	}
	list_all(&c, matched, nmatched);
	rc = CLI_OK;
	if (kl_buf_error(&c.out) ||
	    (c.out.len && fwrite(c.out.data, 1, c.out.len, stdout) != c.out.len) || fflush(stdout)) {
		cli_error("list", "writing the listing failed");
		rc = CLI_FAIL;
	}
out:
	for (size_t i = 0; i < c.nsources; i++) {
		free(c.sources[i].path);
		free(c.sources[i].data);
		free(c.sources[i].lines);
	}
	free(c.sources);
	kl_buf_release(&c.out);
	free(matched);
	free(t.nodes);
	kl_hindex_release(&t.index);
	free(keep);
	free(line_hidden);
	free(loc_hidden);
	kl_filter_free(filter);
	kl_profile_free(p);
	pcre2_match_data_free(md);
	pcre2_code_free(re);
	return rc;
}
