/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_pprof.c - libFuzzer target for the pprof reader and writer, and for
 * merge on what they produce: any input must be read or rejected cleanly; a
 * profile that is read must write, read back, and write again to the same
 * bytes; merged with its copy it must stay valid, as must a subset copy.
 */
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* small limits keep the fuzzer fast and exercise the limit paths */
	struct kl_read_limits lim = { .max_input = 1 << 24, .max_samples = 100000,
				      .max_depth = 64 };
	struct kl_profile *p = NULL, *q = NULL;
	struct kl_buf out = KL_BUF_INIT, again = KL_BUF_INIT;
	struct kl_err err;

	if (kl_pprof_read(data, size, &lim, &p, &err))
		return 0;
	if (kl_pprof_write(p, size & 1, &out, &err))
		abort();	/* a profile we read must be writable */
	if (kl_pprof_read((const uint8_t *)out.data, out.len, &lim, &q, &err))
		abort();	/* and what we write must read back */
	if (kl_pprof_write(q, false, &again, &err))
		abort();
	if (!(size & 1) && (out.len != again.len || memcmp(out.data, again.data, out.len)))
		abort();	/* writing is stable across a round trip */
	{
		struct kl_profile *pair[2] = { p, q }, *m = NULL, *c;
		uint8_t *keep = calloc(p->nsamples + 1, sizeof(*keep));

		if (kl_profile_merge(pair, 2, &m, &err) == 0) {
			if (kl_profile_validate(m, &err) || m->nsamples > p->nsamples)
				abort();
			kl_profile_free(m);
		}
		if (keep) {
			for (uint32_t i = 0; i < p->nsamples; i += 2)
				keep[i] = 1;
			c = kl_profile_copy_samples(p, keep);
			if (c && (kl_profile_validate(c, &err) ||
				  c->nsamples != (p->nsamples + 1) / 2))
				abort();
			kl_profile_free(c);
			free(keep);
		}
	}
	kl_profile_free(p);
	kl_profile_free(q);
	kl_buf_release(&out);
	kl_buf_release(&again);
	return 0;
}
