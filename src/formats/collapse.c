/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collapse.c - `perf script` text to folded stacks, with the semantics of
 * FlameGraph's stackcollapse-perf.pl (options --pid, --tid, --kernel, --jit,
 * --all, --addrs, --event-filter), and the perf script reader built on it.
 *
 * One pass over the buffer and no regex engine: each regular expression of
 * the Perl script is matched by a small scanner that gives the same result
 * Perl's backtracking would (the comment above each scanner says how).
 * Stacks are aggregated in a hash index (hindex.h) over entries whose keys
 * live in one arena; the scratch buffers are reused, so steady state
 * allocates nothing per line.
 *
 * Sections: character classes, event header lines, stack lines, frame
 * cleaning, the stack table, the main loop, detection and reading.
 */
#include <stdlib.h>
#include <string.h>

#include "../core/hindex.h"
#include "folded_internal.h"
#include "formats.h"

/* Output and scratch buffers are capped like any other input-driven buffer. */
#define COLLAPSE_LIMIT ((size_t)2 << 30)

/* ---- character classes (Perl's /d rules on byte strings: ASCII only) ---- */

enum {
	C_SPACE = 1,	/* \s: \t \n \v \f \r and space */
	C_DIGIT = 2,	/* \d */
	C_WORD = 4,	/* \w */
	C_HEX = 8,	/* [\da-f] */
	C_TIDY = 16,	/* bytes the symbol tidying may change: ; ( " ' */
};

static const uint8_t cclass[256] = {
	['\t'] = C_SPACE, ['\n'] = C_SPACE, ['\v'] = C_SPACE, ['\f'] = C_SPACE,
	['\r'] = C_SPACE, [' '] = C_SPACE,
	['0' ... '9'] = C_DIGIT | C_WORD | C_HEX,
	['a' ... 'f'] = C_WORD | C_HEX,
	['g' ... 'z'] = C_WORD,
	['A' ... 'Z'] = C_WORD,
	['_'] = C_WORD,
	[';'] = C_TIDY, ['('] = C_TIDY, ['"'] = C_TIDY, ['\''] = C_TIDY,
};

static inline bool is_space(unsigned char c)
{
	return cclass[c] & C_SPACE;
}

static inline bool is_digit(unsigned char c)
{
	return cclass[c] & C_DIGIT;
}

static inline bool is_word(unsigned char c)
{
	return cclass[c] & C_WORD;
}

struct span {
	const char *p;
	size_t n;
};

static inline bool span_eq(struct span s, const char *lit, size_t n)
{
	return s.n == n && !memcmp(s.p, lit, n);
}

/*
 * kl_buf_reserve without the call when there is room already: the hot
 * loops reserve once per frame.
 */
static inline int buf_room(struct kl_buf *b, size_t n)
{
	if (!b->error && n < b->cap - b->len && b->len + n <= b->limit)
		return 0;
	return kl_buf_reserve(b, n);
}

/* The error of a failed kl_buf: out of memory, or what outgrew its limit. */
static int buf_err(struct kl_err *err, int code, size_t lineno, const char *what)
{
	if (code == -ENOMEM)
		return lineno ? kl_errf(err, code, "perf: line %zu: out of memory", lineno)
			      : kl_errf(err, code, "perf: out of memory");
	return lineno ? kl_errf(err, code, "perf: line %zu: %s", lineno, what)
		      : kl_errf(err, code, "perf: %s", what);
}

/* ---- event header lines ------------------------------------------------- */

struct header {
	struct span comm, pid, tid;	/* tid.p is NULL when absent */
	struct span period;		/* period.p is NULL when absent */
	struct span event;		/* event.p is NULL when not found */
};

/*
 * /^(\S.+?)\s+(\d+)\/{0,}(\d+)*\s+/ (Perl writes the slashes starred): the
 * command name is the shortest prefix (two bytes or more, starting with a
 * non-space) followed by spaces, digits, optional slashes and digits, and
 * a space. Past the name nothing can backtrack usefully (the classes are
 * disjoint), so each candidate is one
 * forward scan, and a failed scan lets the next candidate start where it
 * stopped: linear time.
 */
static bool match_header(const char *l, size_t n, struct header *h)
{
	size_t i = 2;

	if (n < 2 || is_space((unsigned char)l[0]))
		return false;
	while (i < n) {
		size_t j, k, m, t;

		if (!is_space((unsigned char)l[i])) {
			i++;
			continue;
		}
		for (j = i; j < n && is_space((unsigned char)l[j]); j++)
			;
		for (k = j; k < n && is_digit((unsigned char)l[k]); k++)
			;
		for (m = k; m < n && l[m] == '/'; m++)
			;
		for (t = m; t < n && is_digit((unsigned char)l[t]); t++)
			;
		if (k > j && t < n && is_space((unsigned char)l[t])) {
			h->comm = (struct span){ l, i };
			h->pid = (struct span){ l + j, k - j };
			h->tid = t > m ? (struct span){ l + m, t - m } : (struct span){ NULL, 0 };
			return true;
		}
		i = t > i ? t : i + 1;
	}
	return false;
}

/*
 * /:\s*(\d+)*\s+(\S+):\s*$/ - the event is the last word of the line less
 * its final colon; before it come spaces, an optional period and optional
 * spaces after a colon. Read backwards from the end, that is one way to
 * match, so the scan below is exact.
 */
static void match_event(const char *l, size_t n, struct header *h)
{
	size_t e = n, ts, p, d, w;

	h->period = h->event = (struct span){ NULL, 0 };
	while (e > 0 && is_space((unsigned char)l[e - 1]))
		e--;
	for (ts = e; ts > 0 && !is_space((unsigned char)l[ts - 1]); ts--)
		;
	if (e - ts < 2 || l[e - 1] != ':' || ts == 0)
		return;
	for (p = ts; p > 0 && is_space((unsigned char)l[p - 1]); p--)
		;
	for (d = p; d > 0 && is_digit((unsigned char)l[d - 1]); d--)
		;
	for (w = d; w > 0 && is_space((unsigned char)l[w - 1]); w--)
		;
	if (w == 0 || l[w - 1] != ':')
		return;
	h->event = (struct span){ l + ts, e - ts - 1 };
	if (d < p)
		h->period = (struct span){ l + d, p - d };
}

/* ---- stack lines -------------------------------------------------------- */

/*
 * /^\s*(\w+)\s*(.+) \((.*)\)/ - both (.+) and (.*) are greedy, so the module
 * is what lies between the last " (" that has a ")" somewhere after it and
 * the last ")". The symbol starts where the address and the spaces after it
 * end, unless that leaves it empty, in which case Perl backtracks into the
 * spaces and then into the address itself: start = min(end of spaces,
 * q - 1), and the address stops there if the start falls inside it.
 */
static bool match_frame(const char *l, size_t n, struct span *pc, struct span *func,
			struct span *mod)
{
	size_t s, we, f, g, q;
	const char *rp;

	for (s = 0; s < n && is_space((unsigned char)l[s]); s++)
		;
	if (s == n || !is_word((unsigned char)l[s]))
		return false;
	for (we = s; we < n && is_word((unsigned char)l[we]); we++)
		;
	for (f = we; f < n && is_space((unsigned char)l[f]); f++)
		;
	rp = memrchr(l, ')', n);
	if (!rp || (size_t)(rp - l) < s + 4)
		return false;
	/* the last "(" at or before rp - 1 that follows a space, q at the space */
	for (const char *lim = rp;;) {
		const char *op = memrchr(l + s + 3, '(', (size_t)(lim - (l + s + 3)));

		if (!op)
			return false;
		if (op[-1] == ' ') {
			q = (size_t)(op - l) - 1;
			break;
		}
		lim = op;
	}
	g = KL_MIN(f, q - 1);
	*pc = (struct span){ l + s, KL_MIN(we, g) - s };
	*func = (struct span){ l + g, q - g };
	*mod = (struct span){ l + q + 2, (size_t)(rp - l) - q - 2 };
	return true;
}

/* ---- collapser state ---------------------------------------------------- */

struct entry {
	size_t off, len;	/* key in keys arena */
	uint64_t count;
};

struct frame_ref {
	size_t off, len;	/* in frames arena */
};

struct collapser {
	const struct kl_collapse_opts *o;
	bool kernel, jit;

	/* current sample: Perl's $pname, @stack and $m_period */
	bool have_pname, pname_java;
	struct kl_buf pname;
	struct kl_buf frames;
	struct frame_ref *refs;
	size_t nrefs, refs_cap;
	uint64_t period;

	/* event filter: given, or the first event seen */
	char *event;
	size_t event_len;
	bool have_event, any_period;

	/* "a->b->c" inline chains split here */
	struct span *parts;
	size_t parts_cap;

	/* the stack table */
	struct kl_buf key;
	struct kl_buf keys;
	struct entry *entries;
	size_t nentries, entries_cap;
	struct kl_hindex index;	/* entries by kl_hash of their key */
};

/* ---- frame cleaning ----------------------------------------------------- */

static bool span_has(const char *p, size_t n, const char *lit, size_t ln)
{
	return n >= ln && memmem(p, n, lit, ln) != NULL;
}

/* mod =~ /(^\[|vmlinux$)/ && mod !~ /unknown/ */
static bool kernel_module(struct span m)
{
	bool k = (m.n > 0 && m.p[0] == '[') ||
		 (m.n >= 7 && !memcmp(m.p + m.n - 7, "vmlinux", 7));

	return k && !span_has(m.p, m.n, "unknown", 7);
}

/* mod =~ m:/tmp/perf-\d+\.map: */
static bool jit_module(struct span m)
{
	const char *p = m.p, *end = m.p + m.n;

	while ((p = memmem(p, (size_t)(end - p), "/tmp/perf-", 10))) {
		const char *d = p + 10;

		while (d < end && is_digit((unsigned char)*d))
			d++;
		if (d > p + 10 && end - d >= 4 && !memcmp(d, ".map", 4))
			return true;
		p++;
	}
	return false;
}

/* m/\.\(.*\)\./ : a Go method such as "net/http.(*Client).Do" */
static bool go_method(const char *p, size_t n)
{
	const char *a = n >= 2 ? memmem(p, n, ".(", 2) : NULL;
	size_t start;

	if (!a)
		return false;
	start = (size_t)(a - p) + 2;	/* ")." may begin right after ".(" */
	for (size_t j = n; j >= start + 2; j--) {
		if (p[j - 2] == ')' && p[j - 1] == '.')
			return true;
	}
	return false;
}

/*
 * Applies the Perl script's tidying to the frame text at frames[off..]:
 * ';' becomes ':'; unless it is a Go method, everything from the first '('
 * that does not open "(anonymous namespace)" goes; quotes go; Java frames
 * lose a leading 'L' when they contain a '/'. Works in place (it only
 * shrinks), returns the new length.
 */
static size_t tidy(char *p, size_t n, bool java)
{
	size_t w = 0, i = 0;

	/* most symbols hold none of ; ( " ' : one look and done */
	while (i < n && !(cclass[(unsigned char)p[i]] & C_TIDY))
		i++;
	if (i == n)
		goto java;
	for (; i < n; i++) {
		if (p[i] == ';')
			p[i] = ':';
	}
	if (memchr(p, '(', n) && !go_method(p, n)) {
		static const char anon[] = "anonymous namespace)";
		const size_t alen = sizeof(anon) - 1;

		for (i = 0; i < n; i++) {
			if (p[i] == '(' && !(n - i - 1 >= alen && !memcmp(p + i + 1, anon, alen))) {
				n = i;
				break;
			}
		}
	}
	for (i = 0; i < n; i++) {
		if (p[i] != '"' && p[i] != '\'')
			p[w++] = p[i];
	}
	n = w;
java:
	if (java && n > 0 && p[0] == 'L' && memchr(p, '/', n)) {
		memmove(p, p + 1, n - 1);
		n--;
	}
	return n;
}

/* Appends one cleaned frame (one element of an "a->b" chain). */
static void add_frame(struct collapser *c, struct span part, bool inlined, struct span pc,
		      struct span mod, bool kmod, bool jmod)
{
	struct kl_buf *b = &c->frames;
	size_t off = b->len, n;
	char *p;

	if (span_eq(part, "[unknown]", 9)) {
		struct span base = { "unknown", 7 };

		if (!span_eq(mod, "[unknown]", 9)) {
			const char *slash = memrchr(mod.p, '/', mod.n);

			base = slash ? (struct span){ slash + 1, (size_t)(mod.p + mod.n - slash - 1) }
				     : mod;
		}
		kl_buf_addch(b, '[');
		kl_buf_add(b, base.p, base.n);
		if (c->o->addrs) {
			kl_buf_add(b, " <", 2);
			kl_buf_add(b, pc.p, pc.n);
			kl_buf_addch(b, '>');
		}
		kl_buf_addch(b, ']');
	} else if (!buf_room(b, part.n + 4)) {
		/* + 4: room for an annotation, so the common case copies once */
		memcpy(b->data + b->len, part.p, part.n);
		b->len += part.n;
	}
	if (kl_buf_error(b))
		return;
	p = b->data + off;
	n = tidy(p, b->len - off, c->pname_java);
	b->len = off + n;
	if (inlined) {
		if (!span_has(p, n, "_[i]", 4))
			kl_buf_add(b, "_[i]", 4);
	} else if (kmod) {
		kl_buf_add(b, "_[k]", 4);
	} else if (jmod) {
		if (!span_has(p, n, "_[j]", 4))
			kl_buf_add(b, "_[j]", 4);
	}
	if (c->nrefs == c->refs_cap && KL_GROW(c->refs, c->refs_cap, c->nrefs + 1)) {
		b->error = -ENOMEM;
		return;
	}
	c->refs[c->nrefs++] = (struct frame_ref){ off, b->len - off };
}

/* Handles one stack line of the current sample. */
static int stack_line(struct collapser *c, struct span pc, struct span func, struct span mod)
{
	bool kmod, jmod;
	size_t nparts = 0, first = c->nrefs;
	const char *p, *end;

	/* s/\+0x[\da-f]+$// : the symbol offset perf 4.8+ prints */
	{
		size_t h = func.n;

		while (h > 0 && (cclass[(unsigned char)func.p[h - 1]] & C_HEX))
			h--;
		if (h < func.n && h >= 3 && !memcmp(func.p + h - 3, "+0x", 3))
			func.n = h - 3;
	}
	if (func.n > 0 && func.p[0] == '(')
		return 0;	/* a process name, not a frame */

	/* split /->/, dropping trailing empty fields as Perl's split does */
	p = func.p;
	end = func.p + func.n;
	for (;;) {
		const char *a = p, *e;

		/* find "->" by its rarer second byte */
		while ((a = memchr(a, '>', (size_t)(end - a))) && (a == p || a[-1] != '-'))
			a++;
		e = a ? a - 1 : end;
		if (nparts == c->parts_cap && KL_GROW(c->parts, c->parts_cap, nparts + 1))
			return -ENOMEM;
		c->parts[nparts++] = (struct span){ p, (size_t)(e - p) };
		if (!a)
			break;
		p = a + 1;
	}
	while (nparts > 0 && c->parts[nparts - 1].n == 0)
		nparts--;
	if (nparts == 0)
		return 0;

	kmod = c->kernel && kernel_module(mod);
	jmod = c->jit && jit_module(mod);
	for (size_t i = 0; i < nparts; i++)
		add_frame(c, c->parts[i], i > 0, pc, mod, kmod, jmod);
	if (kl_buf_error(&c->frames))
		return kl_buf_error(&c->frames);
	/*
	 * Perl unshifts the line's frames as one block in front of the stack;
	 * refs are kept leaf first and read backwards, so store the block
	 * reversed.
	 */
	for (size_t i = first, j = c->nrefs - 1; i < j; i++, j--) {
		struct frame_ref t = c->refs[i];

		c->refs[i] = c->refs[j];
		c->refs[j] = t;
	}
	return 0;
}

/* ---- the stack table ---------------------------------------------------- */

/* $collapsed{$key} += $count */
static int remember(struct collapser *c, const char *key, size_t len, uint64_t count,
		    struct kl_err *err)
{
	struct kl_hindex_probe p;
	struct entry *e;
	uint32_t i;

	if (!c->index.slots && kl_hindex_init(&c->index, 2048))
		return kl_errf(err, -ENOMEM, "perf: out of memory");
	for (i = kl_hindex_first(&c->index, kl_hash(key, len), &p); i != KL_HINDEX_NONE;
	     i = kl_hindex_next(&c->index, &p)) {
		e = &c->entries[i];
		if (e->len == len && !memcmp(c->keys.data + e->off, key, len)) {
			if (e->count > INT64_MAX - count)
				return kl_errf(err, -KL_ELIMIT, "perf: stack count overflows");
			e->count += count;
			return 0;
		}
	}
	if (c->nentries >= KL_HINDEX_MAX_INDEX)
		return kl_errf(err, -KL_ELIMIT, "perf: too many distinct stacks");
	if (KL_GROW(c->entries, c->entries_cap, c->nentries + 1))
		return kl_errf(err, -ENOMEM, "perf: out of memory");
	e = &c->entries[c->nentries];
	*e = (struct entry){ c->keys.len, len, count };
	kl_buf_add(&c->keys, key, len);
	if (kl_buf_error(&c->keys))
		return buf_err(err, kl_buf_error(&c->keys), 0, "collapsed stacks too large");
	if (kl_hindex_insert_at(&c->index, &p, (uint32_t)c->nentries))
		return kl_errf(err, -ENOMEM, "perf: out of memory");
	c->nentries++;
	return 0;
}

/* End of a sample (a blank line): join "pname;root;...;leaf" and count it. */
static int flush_sample(struct collapser *c, struct kl_err *err)
{
	struct kl_buf *k = &c->key;
	int rc;

	k->len = 0;
	kl_buf_add(k, c->pname.data, c->pname.len);
	for (size_t i = c->nrefs; i-- > 0;) {
		if (buf_room(k, c->refs[i].len + 1))
			break;
		k->data[k->len++] = ';';
		memcpy(k->data + k->len, c->frames.data + c->refs[i].off, c->refs[i].len);
		k->len += c->refs[i].len;
	}
	if (kl_buf_error(k))
		return buf_err(err, kl_buf_error(k), 0, "stack too large");
	rc = remember(c, k->data ? k->data : "", k->len, c->period, err);
	c->nrefs = 0;
	c->frames.len = 0;
	c->have_pname = false;
	return rc;
}

/* ---- the main loop ------------------------------------------------------ */

/* Perl's truthiness of a period string: "" and "0" are false, giving 1. */
static int parse_period(struct span p, size_t lineno, uint64_t *out, struct kl_err *err)
{
	uint64_t v = 0;

	if (!p.p || p.n == 0 || span_eq(p, "0", 1)) {
		*out = 1;
		return 0;
	}
	for (size_t i = 0; i < p.n; i++) {
		/* counts stay within int64, the profile model's value type */
		if (v > (INT64_MAX - 9) / 10)
			return kl_errf(err, -KL_ELIMIT, "perf: line %zu: period %.*s too large",
				       lineno, (int)KL_MIN(p.n, (size_t)40), p.p);
		v = v * 10 + (uint64_t)(p.p[i] - '0');
	}
	*out = v;
	return 0;
}

static int header_line(struct collapser *c, const struct header *h, const char *l, size_t n,
		       size_t lineno, struct kl_err *err)
{
	struct header ev = *h;
	struct kl_buf *pn = &c->pname;
	uint64_t period = 1;
	int rc;

	match_event(l, n, &ev);
	if (ev.event.p) {
		if (!c->have_event) {
			c->event = kl_strndup(ev.event.p, ev.event.n);
			if (!c->event)
				return kl_errf(err, -ENOMEM, "perf: out of memory");
			c->event_len = ev.event.n;
			c->have_event = true;
		} else if (ev.event.n != c->event_len ||
			   memcmp(ev.event.p, c->event, c->event_len)) {
			return 0;	/* another event type: filtered out */
		}
		if (ev.period.p)
			c->any_period = true;
	}
	rc = parse_period(ev.period, lineno, &period, err);
	if (rc)
		return rc;
	c->period = period;

	/* "comm", "comm-pid" or "comm-pid/tid"; pid is "?" without a tid */
	pn->len = 0;
	kl_buf_add(pn, h->comm.p, h->comm.n);
	if (c->o->tid || c->o->pid) {
		bool has_tid = h->tid.p && !span_eq(h->tid, "0", 1);

		kl_buf_addch(pn, '-');
		if (has_tid)
			kl_buf_add(pn, h->pid.p, h->pid.n);
		else
			kl_buf_addch(pn, '?');
		if (c->o->tid) {
			kl_buf_addch(pn, '/');
			if (has_tid)
				kl_buf_add(pn, h->tid.p, h->tid.n);
			else
				kl_buf_add(pn, h->pid.p, h->pid.n);
		}
	}
	if (kl_buf_error(pn))
		return buf_err(err, kl_buf_error(pn), lineno, "command name too long");
	for (size_t i = 0; i < pn->len; i++) {
		if (pn->data[i] == ' ')
			pn->data[i] = '_';
	}
	c->have_pname = true;
	/* exactly "java": with --pid/--tid the Perl script leaves Java names alone */
	c->pname_java = pn->len == 4 && !memcmp(pn->data, "java", 4);
	return 0;
}

static int cmp_entries(const void *a, const void *b, void *ctx)
{
	const struct entry *x = a, *y = b;
	const char *keys = ctx;
	int r = memcmp(keys + x->off, keys + y->off, KL_MIN(x->len, y->len));

	if (r)
		return r;
	return x->len < y->len ? -1 : x->len > y->len;
}

static void collapser_release(struct collapser *c)
{
	kl_buf_release(&c->pname);
	kl_buf_release(&c->frames);
	kl_buf_release(&c->key);
	kl_buf_release(&c->keys);
	kl_free(c->refs);
	kl_free(c->parts);
	kl_free(c->entries);
	kl_hindex_release(&c->index);
	kl_free(c->event);
}

/*
 * The whole collapse; event_out (if not NULL) receives the event type that
 * was kept (NUL-terminated, truncated to size) and *periods whether any
 * header carried a period.
 */
static int collapse(const char *data, size_t len, const struct kl_collapse_opts *o,
		    struct kl_buf *out, char *event_out, size_t event_size, bool *periods,
		    struct kl_err *err)
{
	struct collapser c = { 0 };
	size_t pos = 0, lineno = 0;
	int rc = 0;

	c.o = o;
	c.kernel = o->kernel || o->all;
	c.jit = o->jit || o->all;
	kl_buf_init(&c.pname, COLLAPSE_LIMIT);
	kl_buf_init(&c.frames, COLLAPSE_LIMIT);
	kl_buf_init(&c.key, COLLAPSE_LIMIT);
	kl_buf_init(&c.keys, COLLAPSE_LIMIT);
	if (o->event_filter && o->event_filter[0]) {
		c.event = kl_strndup(o->event_filter, strlen(o->event_filter));
		if (!c.event) {
			rc = kl_errf(err, -ENOMEM, "perf: out of memory");
			goto out;
		}
		c.event_len = strlen(o->event_filter);
		c.have_event = true;
	}

	while (pos < len) {
		size_t n;
		const char *l = kl_text_line(data, len, &pos, &n);
		struct header h;
		struct span pc, func, mod;

		lineno++;
		if (n == 0) {
			/* end of a sample; ignored while no header is in effect */
			if (c.have_pname && (rc = flush_sample(&c, err)))
				goto out;
			continue;
		}
		if (l[0] == '#')
			continue;
		if (match_header(l, n, &h)) {
			if ((rc = header_line(&c, &h, l, n, lineno, err)))
				goto out;
		} else if (match_frame(l, n, &pc, &func, &mod)) {
			if (!c.have_pname)
				continue;	/* the sample's event is filtered out */
			if ((rc = stack_line(&c, pc, func, mod))) {
				rc = buf_err(err, rc, lineno, "stack too large");
				goto out;
			}
		}
		/* anything else: Perl warns "Unrecognized line" and goes on */
	}
	/* like the Perl script, a last sample without a blank line is dropped */

	if (c.nentries)
		qsort_r(c.entries, c.nentries, sizeof(*c.entries), cmp_entries, c.keys.data);
	for (size_t i = 0; i < c.nentries; i++) {
		const struct entry *e = &c.entries[i];

		kl_buf_add(out, c.keys.data + e->off, e->len);
		kl_buf_addch(out, ' ');
		kl_buf_add_u64(out, e->count);
		kl_buf_addch(out, '\n');
	}
	if (kl_buf_error(out)) {
		rc = buf_err(err, kl_buf_error(out), 0, "collapsed output too large");
		goto out;
	}
	if (event_out && event_size) {
		size_t n = c.have_event ? KL_MIN(c.event_len, event_size - 1) : 0;

		if (n)
			memcpy(event_out, c.event, n);
		event_out[n] = '\0';
	}
	if (periods)
		*periods = c.any_period;
out:
	collapser_release(&c);
	return rc;
}

int kl_collapse_perf(const char *data, size_t len, const struct kl_collapse_opts *o,
		     struct kl_buf *out, struct kl_err *err)
{
	static const struct kl_collapse_opts defaults;

	return collapse(data, len, o ? o : &defaults, out, NULL, 0, NULL, err);
}

/* ---- detection and reading ---------------------------------------------- */

bool kl_perf_script_detect(const char *data, size_t len)
{
	size_t pos = 0, checked = 0;
	bool after_header = false;

	/*
	 * Only the first lines: comments, then headers; the first header that
	 * is followed by a line must be followed by an indented frame.
	 */
	len = KL_MIN(len, (size_t)64 << 10);
	while (pos < len && checked < 64) {
		size_t n;
		const char *l = kl_text_line(data, len, &pos, &n);
		struct header h;
		struct span pc, func, mod;

		if (n == 0 || l[0] == '#') {
			after_header = false;	/* a sample without frames */
			continue;
		}
		checked++;
		if (after_header)
			return is_space((unsigned char)l[0]) && match_frame(l, n, &pc, &func, &mod);
		if (!match_header(l, n, &h))
			return false;
		after_header = true;
	}
	return false;
}

/* Periods of these software events are nanoseconds of CPU time. */
static const char *event_unit(const char *event)
{
	if (!strcmp(event, "cpu-clock") || !strcmp(event, "task-clock"))
		return "nanoseconds";
	return "count";
}

int kl_perf_script_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			struct kl_profile **out, struct kl_err *err)
{
	static const struct kl_collapse_opts defaults;
	struct kl_buf folded;
	char event[64];
	bool periods = false;
	int rc;

	*out = NULL;
	if (lim && lim->max_input && len > lim->max_input)
		return kl_errf(err, -KL_ELIMIT, "perf: input of %zu bytes exceeds the limit of %zu",
			       len, lim->max_input);
	kl_buf_init(&folded, COLLAPSE_LIMIT);
	rc = collapse((const char *)data, len, &defaults, &folded, event, sizeof(event), &periods,
		      err);
	if (rc)
		goto out;
	/* "cpu-clock:pppH" is cpu-clock with modifiers */
	event[strcspn(event, ":")] = '\0';
	if (periods && event[0])
		rc = kl_folded_read_typed((const uint8_t *)folded.data, folded.len, lim, event,
					  event_unit(event), out, err);
	else
		rc = kl_folded_read_typed((const uint8_t *)folded.data, folded.len, lim, "samples",
					  "count", out, err);
	if (rc)
		kl_err_prefix(err, "perf");
out:
	kl_buf_release(&folded);
	return rc;
}
