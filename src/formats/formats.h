/* SPDX-License-Identifier: Apache-2.0 */
/*
 * formats.h - reading and writing profile file formats.
 *
 *   pprof       profile.proto, gzip or raw              pprof.c (+ pprof.proto)
 *   folded      "a;b;c 42" collapsed stacks              folded.c
 *   perf script text output of `perf script`            collapse.c
 *   speedscope  speedscope's JSON file format           speedscope.c
 *   flamebearer Pyroscope's flame graph JSON            flamebearer.c
 *
 * Readers turn bytes into a kl_profile; every reader enforces the limits in
 * struct kl_read_limits and reports bad input with -KL_EFORMAT (or
 * -KL_ETRUNC / -KL_ELIMIT) and a one-line message. Writers append to a
 * kl_buf. kl_format_read() detects the format from the content.
 */
#ifndef KL_FORMATS_H
#define KL_FORMATS_H

#include "../core/buf.h"
#include "../core/profile.h"
#include "../core/tree.h"

enum kl_format {
	KL_FORMAT_UNKNOWN = 0,
	KL_FORMAT_PPROF,
	KL_FORMAT_FOLDED,
	KL_FORMAT_PERF_SCRIPT,
	KL_FORMAT_SPEEDSCOPE,
	KL_FORMAT_FLAMEBEARER,
};

/* "pprof", "folded", "perf-script", "speedscope", "flamebearer". */
const char *kl_format_name(enum kl_format f);
/* Parses a name above (also "collapsed" for folded). */
int kl_format_parse(const char *name, enum kl_format *out);

/* Size limits on input from outside. Zero fields take the defaults. */
struct kl_read_limits {
	size_t max_input;	/* bytes after decompression; default 1 GiB */
	uint32_t max_samples;	/* default 50 M */
	uint32_t max_depth;	/* frames per stack; default 4096 (deeper is cut) */
};

/* Guesses the format of data (possibly gzip-compressed). */
enum kl_format kl_format_detect(const uint8_t *data, size_t len);

/*
 * Reads a profile in any supported format, detected from content. On
 * failure returns a negative code and a one-line message; for unknown input
 * the message names the formats tried.
 */
int kl_format_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		   struct kl_profile **out, struct kl_err *err);

/* gzip helpers (zlib). kl_gunzip enforces max_out. */
bool kl_is_gzip(const uint8_t *data, size_t len);
int kl_gunzip(const uint8_t *data, size_t len, size_t max_out, struct kl_buf *out,
	      struct kl_err *err);
/*
 * As kl_gunzip, but out must be initialised (KL_BUF_INIT, released, or
 * holding storage to reuse, e.g. from kl_buf_spare_take): its storage is
 * kept and grown as needed, its contents and limit replaced. On failure
 * out is released.
 */
int kl_gunzip_reuse(const uint8_t *data, size_t len, size_t max_out, struct kl_buf *out,
		    struct kl_err *err);
int kl_gzip(const void *data, size_t len, struct kl_buf *out, struct kl_err *err);

/* ---- pprof ---------------------------------------------------------- */

/* Reads a pprof profile, gzip-compressed or not. */
int kl_pprof_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		  struct kl_profile **out, struct kl_err *err);
/*
 * As kl_pprof_read, but a gzip input is decoded into the calling thread's
 * spare storage (kl_buf_spare_take/give in buf.h) instead of a fresh
 * buffer: for server threads that decode a profile per request. The
 * thread then keeps up to KL_BUF_SPARE_MAX bytes until it exits.
 */
int kl_pprof_read_spare(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			struct kl_profile **out, struct kl_err *err);

/* Writes p as pprof; gzip-compressed when compress is set. */
int kl_pprof_write(const struct kl_profile *p, bool compress, struct kl_buf *out,
		   struct kl_err *err);

/* ---- folded --------------------------------------------------------- */

/*
 * Reads folded stacks ("frame;frame;frame count" per line, root first; the
 * count follows the last space). Sample type samples/count. Blank lines
 * and lines without a count are skipped; a bad count is an error.
 */
int kl_folded_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		   struct kl_profile **out, struct kl_err *err);

/*
 * Writes the tree's leaf paths as folded lines (root first), one line per
 * distinct stack with its self value in column col, in tree (sorted) order.
 */
int kl_folded_write(const struct kl_tree *t, uint32_t col, struct kl_buf *out,
		    struct kl_err *err);

/* ---- perf script ---------------------------------------------------- */

/* Options of stackcollapse-perf.pl that kiln collapse supports. */
struct kl_collapse_opts {
	bool pid;	/* include the pid with the process name */
	bool tid;	/* include pid and tid */
	bool kernel;	/* annotate kernel frames with _[k] */
	bool jit;	/* annotate JIT frames with _[j] */
	bool all;	/* kernel + jit (inlined frames always get _[i]) */
	bool addrs;	/* include raw addresses for unknown symbols */
	/* keep only this event type (--event-filter); NULL or "" = the first seen */
	const char *event_filter;
};

/*
 * Collapses `perf script` text into folded lines appended to out, exactly
 * as stackcollapse-perf.pl does with the same options (order aside).
 */
int kl_collapse_perf(const char *data, size_t len, const struct kl_collapse_opts *o,
		     struct kl_buf *out, struct kl_err *err);

/* True if data looks like perf script output. */
bool kl_perf_script_detect(const char *data, size_t len);

/* Reads perf script text as a profile (collapsed with default options). */
int kl_perf_script_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			struct kl_profile **out, struct kl_err *err);

/* ---- speedscope ----------------------------------------------------- */

/* Writes the view's samples as a speedscope "sampled" profile. name: title. */
int kl_speedscope_write(const struct kl_view *v, const char *name, struct kl_buf *out,
			struct kl_err *err);

/* Reads a speedscope file (sampled and evented profiles; the first one). */
int kl_speedscope_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
		       struct kl_profile **out, struct kl_err *err);

/* ---- flamebearer ---------------------------------------------------- */

struct kl_flamebearer_meta {
	const char *name;	/* metadata.name, e.g. "cpu" */
	const char *spy_name;	/* metadata.spyName, "" if unknown */
	const char *units;	/* metadata.units: samples, objects, bytes ... */
	int64_t sample_rate;	/* metadata.sampleRate */
};

/*
 * Writes the tree as flamebearer JSON (pyroscope-compat.md section 4):
 * "single" format from column 0, or "double" (diff) when t->ncols == 2.
 * The tree should already be truncated (kl_tree_truncate) and sorted.
 * Only the top-level object's "version", "flamebearer" and "metadata"
 * members are written, plus leftTicks/rightTicks for double; with
 * members_only the surrounding braces are left out so a caller can add
 * "timeline" and "groups".
 */
int kl_flamebearer_write(const struct kl_tree *t, const struct kl_flamebearer_meta *m,
			 bool members_only, struct kl_buf *out, struct kl_err *err);

/*
 * Pyroscope's legacy metadata.units word for a sample type and unit:
 * "bytes", "objects", "goroutines", else "samples". Static string.
 */
const char *kl_flamebearer_units(const char *type, const char *unit);

/* Reads single-format flamebearer JSON back into a profile. */
int kl_flamebearer_read(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			struct kl_profile **out, struct kl_err *err);

#endif /* KL_FORMATS_H */
