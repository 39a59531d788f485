/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_traces.c - kiln traces: every sample kept by the filters, one block
 * each, as `go tool pprof -traces` prints them: the sample's labels, then
 * its stack leaf first, one frame per line, with the sample's value on the
 * first frame line. Frames are named at the chosen granularity by a
 * kl_view; frames inlined into their caller are marked "(inline)".
 *
 * Output is flushed to stdout in chunks: a large profile has millions of
 * frame lines.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "textreport.h"

static const char separator[] =
	"-----------+-------------------------------------------------------\n";

#define FLUSH_AT (1u << 20)

/* Writes out to stdout and empties it. Returns 0 or -KL_EIO. */
static int flush_out(struct kl_buf *out)
{
	if (kl_buf_error(out))
		return kl_buf_error(out);
	if (out->len && fwrite(out->data, 1, out->len, stdout) != out->len)
		return -KL_EIO;
	out->len = 0;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The unit of a numeric label: its own, or "bytes" for a key named bytes. */
static const char *num_label_unit(const struct kl_profile *p, const struct kl_label *l)
{
	if (l->num_unit)
		return kl_profile_sget(p, l->num_unit);
	return strcmp(kl_profile_sget(p, l->key), "bytes") ? "" : "bytes";
}

/*
 * Appends a sample's labels as pprof does: one line per key ("%10s:  v1
 * v2"), string labels sorted, then numeric ones sorted. lines and used are
 * scratch space with room for nlabels entries each.
 */
static void add_labels(struct kl_buf *out, const struct kl_profile *p, const struct kl_sample *s,
		       char **lines, bool *used)
{
	const struct kl_label *ls = kl_sample_labels(p, s);

	for (int numeric = 0; numeric < 2; numeric++) {
		uint32_t n = 0;

		memset(used, 0, s->nlabels * sizeof(*used));
		for (uint32_t i = 0; i < s->nlabels; i++) {
			struct kl_buf line = KL_BUF_INIT;
			char v[KL_UNIT_LABEL_MAX];

			if (used[i] || (ls[i].str == 0) != (numeric == 1))
				continue;
			kl_buf_addf(&line, "%10s: ", kl_profile_sget(p, ls[i].key));
			/* every value of the same key goes on one line */
			for (uint32_t j = i; j < s->nlabels; j++) {
				if (used[j] || ls[j].key != ls[i].key || (ls[j].str == 0) != numeric)
					continue;
				used[j] = true;
				kl_buf_addch(&line, ' ');
				if (numeric)
					kl_buf_addstr(&line, kl_unit_label(v, sizeof(v), ls[j].num,
									   num_label_unit(p, &ls[j]),
									   "auto"));
				else
					kl_buf_addstr(&line, kl_profile_sget(p, ls[j].str));
			}
			kl_buf_addch(&line, '\n');
			if (kl_buf_error(&line)) {
				kl_buf_release(&line);
				continue;
			}
			lines[n++] = kl_buf_detach(&line, NULL);
		}
		qsort(lines, n, sizeof(*lines), cmp_str);
		for (uint32_t i = 0; i < n; i++) {
			kl_buf_addstr(out, lines[i]);
			kl_free(lines[i]);
		}
	}
}

static int traces(const char *cmd, const struct kl_profile *p, const struct kl_view *v,
		  const char *out_unit)
{
	const char *unit = kl_profile_sget(p, p->sample_types[v->sample_index].unit);
	uint32_t *frames = cli_xmalloc(KL_MAX(v->max_depth, 1u) * sizeof(*frames));
	uint8_t *flags = cli_xmalloc(KL_MAX(v->max_depth, 1u));
	uint32_t max_labels = 1;
	struct kl_buf out = KL_BUF_INIT;
	char **label_lines;
	bool *used;
	int rc = 0;

	for (uint32_t i = 0; i < p->nsamples; i++)
		max_labels = KL_MAX(max_labels, p->samples[i].nlabels);
	label_lines = cli_xcalloc(max_labels, sizeof(*label_lines));
	used = cli_xcalloc(max_labels, sizeof(*used));
	textrep_profile_labels(&out, &(struct textrep_labels){
		.prof = p,
		.sample_index = v->sample_index,
		.time_nanos = p->time_nanos,
		.duration_nanos = p->duration_nanos,
		.total = p->duration_nanos ? textrep_abs_total(p, v->sample_index) : 0,
		.out_unit = out_unit,
	});
	for (uint32_t i = 0; i < p->nsamples && !rc; i++) {
		const int64_t *vals = kl_sample_values(p, i);
		char val[KL_UNIT_LABEL_MAX];
		bool zero = true;
		uint32_t n;

		/* pprof's merge drops samples whose values are all zero */
		for (uint32_t k = 0; k < p->nsample_types; k++)
			zero &= vals[k] == 0;
		if (zero)
			continue;
		n = kl_view_stack(v, i, frames, flags);
		if (n == 0)
			continue;
		kl_buf_addstr(&out, separator);
		add_labels(&out, p, &p->samples[i], label_lines, used);
		kl_unit_label(val, sizeof(val), kl_view_value(v, i), unit, out_unit);
		for (uint32_t k = 0; k < n; k++) {
			kl_buf_addf(&out, "%10s   ", k ? "" : val);
			kl_buf_addstr(&out, kl_strtab_get(v->names, frames[k]));
			kl_buf_addstr(&out, flags[k] & KL_FRAME_INLINED ? " (inline)\n" : "\n");
		}
		if (out.len >= FLUSH_AT)
			rc = flush_out(&out);
	}
	kl_buf_addstr(&out, separator);
	if (!rc)
		rc = flush_out(&out);
	if (!rc && fflush(stdout))
		rc = -KL_EIO;
	if (rc)
		cli_error(cmd, "writing the report failed: %s", kl_strerror(rc));
	kl_buf_release(&out);
	free(frames);
	free(flags);
	free(label_lines);
	free(used);
	return rc ? CLI_FAIL : CLI_OK;
}

int cmd_traces(int argc, const char **argv)
{
	struct cli_report_opts r;
	struct kl_profile *p = NULL;
	struct kl_filter *filter = NULL;
	struct kl_strtab *names = NULL;
	struct kl_view_opts vo;
	struct kl_view v = { 0 };
	struct kl_err err;
	int npos, rc;

	cli_report_opts_init(&r);
	{
		const struct cli_opt opts[] = {
			CLI_REPORT_OPTS(r),
			TEXTREP_UNIT_OPT(r),
			{ NULL, 0, NULL, NULL, NULL },
		};

		rc = cli_parse("traces", "[options] SOURCE...", opts, argc, argv, &npos);
	}
	if (rc)
		return rc == CLI_HELP ? CLI_OK : rc;
	if (npos < 1) {
		cli_error("traces", "no profile given (usage: kiln traces [options] SOURCE...)");
		return CLI_USAGE;
	}
	/* pprof merges even a single profile: samples with equal stacks and labels add up */
	if (cli_merge_sources(argv + 1, npos, &p, &err)) {
		cli_error("traces", "%s", err.msg);
		return CLI_FAIL;
	}
	rc = cli_view_opts("traces", &r, p, &vo, &filter);
	if (rc)
		goto out;
	names = kl_strtab_new();
	if (!names || kl_view_init(&v, p, &vo, names, &err)) {
		cli_error("traces", "%s", names ? err.msg : "out of memory");
		rc = CLI_FAIL;
		goto out;
	}
	rc = traces("traces", p, &v, textrep_unit_opt(&r));
out:
	kl_view_release(&v);
	kl_strtab_free(names);
	kl_filter_free(filter);
	kl_profile_free(p);
	return rc;
}
