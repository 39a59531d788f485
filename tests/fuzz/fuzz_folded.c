/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_folded.c - libFuzzer target for the text stack formats: the folded
 * reader, kl_collapse_perf with option sets chosen by the first input byte,
 * the perf script reader, and folded -> profile for collapse's own output.
 * Every call must return cleanly (0 or an error) without leaking.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct kl_read_limits lim = { .max_input = 1 << 20, .max_samples = 100000,
				      .max_depth = 256 };
	struct kl_collapse_opts o = { 0 };
	struct kl_profile *p = NULL;
	struct kl_err err;
	struct kl_buf out;
	uint8_t flags = size ? data[0] : 0;

	if (kl_folded_read(data, size, &lim, &p, &err) == 0)
		kl_profile_free(p);
	p = NULL;

	o.pid = flags & 1;
	o.tid = flags & 2;
	o.kernel = flags & 4;
	o.jit = flags & 8;
	o.all = flags & 16;
	o.addrs = flags & 32;
	o.event_filter = flags & 64 ? "cycles" : NULL;
	kl_buf_init(&out, 1 << 24);
	if (kl_collapse_perf((const char *)data, size, &o, &out, &err) == 0 && out.len) {
		/* collapse's output must always be valid folded input */
		if (kl_folded_read((const uint8_t *)out.data, out.len, NULL, &p, &err) != 0)
			abort();
		kl_profile_free(p);
		p = NULL;
	}
	kl_buf_release(&out);

	(void)kl_perf_script_detect((const char *)data, size);
	if (kl_perf_script_read(data, size, &lim, &p, &err) == 0)
		kl_profile_free(p);
	return 0;
}
