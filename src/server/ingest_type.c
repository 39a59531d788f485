/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ingest_type.c - the profile type of folded and lines bodies, which carry
 * no sample type of their own: Pyroscope takes it from the suffix of the
 * app name ("myapp.alloc_space"). The table is pyroscope-compat.md
 * section 1; its period types are those Go's own profiles use, so that a
 * text upload and a pprof upload of the same kind land in the same
 * __profile_type__ where Pyroscope does the same.
 */
#include <string.h>

#include "ingest.h"

static const struct suffix {
	const char *suffix;
	struct kl_ingest_type t;
} suffixes[] = {
	{ "cpu", { "process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds", true } },
	{ "itimer", { "process_cpu", "cpu", "nanoseconds", "cpu", "nanoseconds", true } },
	{ "wall", { "wall", "wall", "nanoseconds", "cpu", "nanoseconds", true } },
	{ "seconds", { "wall", "wall", "nanoseconds", "cpu", "nanoseconds", true } },
	{ "nanoseconds", { "wall", "wall", "nanoseconds", "cpu", "nanoseconds", true } },
	{ "microseconds", { "wall", "wall", "nanoseconds", "cpu", "nanoseconds", true } },
	{ "milliseconds", { "wall", "wall", "nanoseconds", "cpu", "nanoseconds", true } },
	{ "inuse_objects", { "memory", "inuse_objects", "count", "space", "bytes", false } },
	{ "alloc_objects", { "memory", "alloc_objects", "count", "space", "bytes", false } },
	{ "inuse_space", { "memory", "inuse_space", "bytes", "space", "bytes", false } },
	{ "alloc_space", { "memory", "alloc_space", "bytes", "space", "bytes", false } },
	{ "bytes", { "memory", "samples", "bytes", "space", "bytes", false } },
	{ "goroutines", { "goroutine", "goroutines", "count", "goroutine", "count", false } },
	{ "mutex_count", { "mutex", "contentions", "count", "contentions", "count", false } },
	{ "mutex_duration", { "mutex", "delay", "nanoseconds", "contentions", "count", false } },
	{ "block_count", { "block", "contentions", "count", "contentions", "count", false } },
	{ "block_duration", { "block", "delay", "nanoseconds", "contentions", "count", false } },
	{ "lock_count", { "block", "contentions", "count", "contentions", "count", false } },
	{ "lock_duration", { "block", "delay", "nanoseconds", "contentions", "count", false } },
};

int kl_ingest_type_lookup(const char *app_name, int64_t sample_rate, struct kl_ingest_type *out,
			  size_t *service_len, struct kl_http_err *err)
{
	const char *dot = strrchr(app_name, '.');
	const char *suffix = dot ? dot + 1 : "cpu";

	for (size_t i = 0; i < KL_ARRAY_SIZE(suffixes); i++) {
		if (strcmp(suffix, suffixes[i].suffix))
			continue;
		*out = suffixes[i].t;
		/* time at rate 0 cannot be computed: keep the raw sample counts */
		if (out->scale && sample_rate <= 0) {
			out->type = "samples";
			out->unit = "count";
			out->scale = false;
		}
		*service_len = dot ? (size_t)(dot - app_name) : strlen(app_name);
		return 0;
	}
	return kl_http_errf(err, -KL_EFORMAT, 400, "unknown profile type \"%.64s\" in name \"%.128s\"",
			    suffix, app_name);
}
