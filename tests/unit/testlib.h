/* SPDX-License-Identifier: Apache-2.0 */
/*
 * testlib.h - helpers the cmocka unit tests share: reading the real
 * fixtures under $KILN_FIXTURES (set by CTest; ../shared/fixtures when run
 * by hand from the project root), and reading text with any format reader,
 * expecting success or a given error. Include after <cmocka.h>.
 */
#ifndef KL_TESTLIB_H
#define KL_TESTLIB_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/profile.h"
#include "formats/formats.h"

/* Every pprof fixture in ../shared/fixtures (paths relative to it). */
static const char *const test_pprof_fixtures[] KL_UNUSED = {
	"pprof/go-allocs.pb.gz",
	"pprof/go-block.pb.gz",
	"pprof/go-cpu.pb.gz",
	"pprof/go-goroutine.pb.gz",
	"pprof/go-heap.pb.gz",
	"pprof/go-large.cpu.pb.gz",
	"pprof/go-mutex.pb.gz",
	"pprof/go-sample.cpu.pb.gz",
	"pprof/go-threadcreate.pb.gz",
	"pprof/legacy-converted/cppbench.contention.pb.gz",
	"pprof/legacy-converted/cppbench.cpu.pb.gz",
	"pprof/legacy-converted/cppbench.growth.pb.gz",
	"pprof/legacy-converted/cppbench.heap.pb.gz",
	"pprof/legacy-converted/cppbench.thread.pb.gz",
	"pprof/legacy-converted/go.crc32.cpu.pb.gz",
	"pprof/legacy-converted/go.godoc.thread.pb.gz",
	"pprof/legacy-converted/gobench.cpu.pb.gz",
	"pprof/legacy-converted/gobench.heap.pb.gz",
	"pprof/legacy-converted/java.contention.pb.gz",
	"pprof/legacy-converted/java.cpu.pb.gz",
	"pprof/legacy-converted/java.heap.pb.gz",
};

/*
 * Reads the file at path whole into a malloc'ed, NUL-terminated buffer;
 * *len gets its size. Fails the test if it cannot.
 */
static KL_UNUSED uint8_t *test_slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data;
	long n;

	if (!f)
		fail_msg("cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	data[n] = '\0';
	*len = (size_t)n;
	return data;
}

/*
 * Reads fixture rel (e.g. "pprof/go-cpu.pb.gz") whole into a malloc'ed,
 * NUL-terminated buffer; *len gets its size. Fails the test if absent.
 */
static KL_UNUSED uint8_t *test_read_fixture(const char *rel, size_t *len)
{
	const char *dir = getenv("KILN_FIXTURES");
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir ? dir : "../shared/fixtures", rel);
	return test_slurp(path, len);
}

/* Reads a pprof fixture into a profile. Fails the test on any error. */
static KL_UNUSED struct kl_profile *test_load_pprof(const char *rel)
{
	struct kl_profile *p = NULL;
	struct kl_err err;
	size_t len;
	uint8_t *data = test_read_fixture(rel, &len);

	if (kl_pprof_read(data, len, NULL, &p, &err))
		fail_msg("%s: %s", rel, err.msg);
	free(data);
	return p;
}

/* What every format reader is: kl_pprof_read, kl_folded_read, kl_speedscope_read... */
typedef int (*test_reader_fn)(const uint8_t *data, size_t len, const struct kl_read_limits *lim,
			      struct kl_profile **out, struct kl_err *err);

/*
 * Reads NUL-terminated text with reader under lim (NULL: the defaults).
 * Fails the test on an error; the caller frees the profile.
 */
static KL_UNUSED struct kl_profile *test_read_text(test_reader_fn reader, const char *text,
						   const struct kl_read_limits *lim)
{
	struct kl_profile *p = NULL;
	struct kl_err err = { "" };

	if (reader((const uint8_t *)text, strlen(text), lim, &p, &err))
		fail_msg("read failed: %s", err.msg);
	assert_non_null(p);
	return p;
}

/*
 * Expects reader to refuse NUL-terminated text with return code code, no
 * profile, and a message naming the format (prefix, e.g. "speedscope: ")
 * that contains msg_part.
 */
static KL_UNUSED void test_read_bad(test_reader_fn reader, const char *prefix, const char *text,
				    int code, const char *msg_part)
{
	struct kl_profile *p = (struct kl_profile *)1;
	struct kl_err err = { "" };
	int rc = reader((const uint8_t *)text, strlen(text), NULL, &p, &err);

	if (rc != code || !strstr(err.msg, msg_part))
		fail_msg("input %s: rc %d (want %d), message \"%s\" (want \"%s\")", text, rc, code,
			 err.msg, msg_part);
	assert_null(p);
	assert_non_null(strstr(err.msg, prefix));
}

#endif /* KL_TESTLIB_H */
