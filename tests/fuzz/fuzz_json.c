/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_json.c - libFuzzer target for the JSON readers: flamebearer and
 * speedscope. Every call must return cleanly (0 or an error) without
 * leaking; a flamebearer profile that was read must write back and read
 * again with the same total, and so must a speedscope one.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int64_t total(const struct kl_profile *p)
{
	return p->nsample_types ? kl_profile_total(p, 0) : 0;
}

/* What a writer can carry over: samples the view keeps (with a stack, for trees). */
static int64_t view_total(const struct kl_view *v, bool need_stack)
{
	uint32_t *buf = malloc((v->max_depth + 1) * sizeof(*buf));
	int64_t sum = 0;

	if (!buf)
		abort();
	for (uint32_t i = 0; i < v->profile->nsamples; i++) {
		if (!v->keep[i] || (need_stack && !kl_view_stack(v, i, buf, NULL)))
			continue;
		sum += kl_view_value(v, i);
	}
	free(buf);
	return sum;
}

/* profile -> view -> (tree ->) JSON -> profile: the total must survive. */
static void round_trip(const struct kl_profile *p, bool speedscope)
{
	struct kl_view_opts o = { 0 };
	struct kl_tree *t = kl_tree_new(NULL, 1);
	struct kl_profile *q = NULL;
	struct kl_view v;
	struct kl_err err;
	struct kl_buf b;
	int rc;

	if (!t)
		return;
	kl_buf_init(&b, 1 << 26);
	if (kl_view_init(&v, p, &o, t->names, &err)) {
		kl_tree_free(t);
		return;
	}
	if (speedscope) {
		rc = kl_speedscope_write(&v, "fuzz", &b, &err);
		if (!rc)
			rc = kl_speedscope_read((const uint8_t *)b.data, b.len, NULL, &q, &err);
	} else {
		rc = kl_tree_add_view(t, &v, 0, false);
		if (!rc)
			rc = kl_tree_sort(t);
		if (!rc)
			rc = kl_flamebearer_write(t, NULL, false, &b, &err);
		if (!rc)
			rc = kl_flamebearer_read((const uint8_t *)b.data, b.len, NULL, &q, &err);
	}
	if (rc == 0 && total(q) != view_total(&v, !speedscope))
		abort();
	kl_profile_free(q);
	kl_buf_release(&b);
	kl_view_release(&v);
	kl_tree_free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_read_limits lim = { .max_input = 1 << 20, .max_samples = 100000,
				      .max_depth = 256 };
	struct kl_profile *p = NULL;
	struct kl_err err;

	if (kl_flamebearer_read(data, size, &lim, &p, &err) == 0) {
		round_trip(p, false);
		kl_profile_free(p);
	}
	p = NULL;
	if (kl_speedscope_read(data, size, &lim, &p, &err) == 0) {
		round_trip(p, true);
		kl_profile_free(p);
	}
	return 0;
}
