/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pprof_test.c - unit tests of the pprof reader and writer: every fixture
 * survives read -> write -> read unchanged, every field is read, and
 * malformed input (truncated gzip or protobuf, random bytes, dangling ids,
 * wrong value counts, bad string indexes) fails with a clear message.
 * Hand-made protobuf messages are built with a tiny encoder below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testlib.h"

#include "core/buf.h"
#include "core/profile.h"
#include "formats/formats.h"
#include "pprof.pb-c.h"

/* ---- helpers -------------------------------------------------------- */

static bool str_eq(const struct kl_profile *a, kl_strid x, const struct kl_profile *b, kl_strid y)
{
	return kl_strtab_len(a->strs, x) == kl_strtab_len(b->strs, y) &&
	       !memcmp(kl_profile_sget(a, x), kl_profile_sget(b, y), kl_strtab_len(a->strs, x));
}

/* Asserts that two profiles hold the same model, field by field. */
static void assert_same_profile(const struct kl_profile *a, const struct kl_profile *b)
{
	assert_int_equal(kl_strtab_count(a->strs), kl_strtab_count(b->strs));
	for (uint32_t i = 0; i < kl_strtab_count(a->strs); i++)
		assert_true(str_eq(a, i, b, i));
	assert_int_equal(a->nsample_types, b->nsample_types);
	assert_memory_equal(a->sample_types, b->sample_types,
			    a->nsample_types * sizeof(*a->sample_types));
	assert_int_equal(a->nmappings, b->nmappings);
	for (uint32_t i = 0; i < a->nmappings; i++) {
		const struct kl_mapping *x = &a->mappings[i], *y = &b->mappings[i];

		assert_int_equal(x->id, y->id);
		assert_int_equal(x->start, y->start);
		assert_int_equal(x->limit, y->limit);
		assert_int_equal(x->offset, y->offset);
		assert_int_equal(x->filename, y->filename);
		assert_int_equal(x->build_id, y->build_id);
		assert_int_equal(x->flags, y->flags);
	}
	assert_int_equal(a->nfunctions, b->nfunctions);
	for (uint32_t i = 0; i < a->nfunctions; i++) {
		const struct kl_function *x = &a->functions[i], *y = &b->functions[i];

		assert_int_equal(x->id, y->id);
		assert_int_equal(x->name, y->name);
		assert_int_equal(x->system_name, y->system_name);
		assert_int_equal(x->filename, y->filename);
		assert_int_equal(x->start_line, y->start_line);
	}
	assert_int_equal(a->nlocations, b->nlocations);
	for (uint32_t i = 0; i < a->nlocations; i++) {
		const struct kl_location *x = &a->locations[i], *y = &b->locations[i];

		assert_int_equal(x->id, y->id);
		assert_int_equal(x->mapping, y->mapping);
		assert_int_equal(x->is_folded, y->is_folded);
		assert_int_equal(x->address, y->address);
		assert_int_equal(x->nlines, y->nlines);
		for (uint32_t j = 0; j < x->nlines; j++) {
			const struct kl_line *lx = kl_location_lines(a, x) + j;
			const struct kl_line *ly = kl_location_lines(b, y) + j;

			assert_int_equal(lx->function, ly->function);
			assert_int_equal(lx->line, ly->line);
			assert_int_equal(lx->column, ly->column);
		}
	}
	assert_int_equal(a->nsamples, b->nsamples);
	for (uint32_t i = 0; i < a->nsamples; i++) {
		const struct kl_sample *x = &a->samples[i], *y = &b->samples[i];

		assert_int_equal(x->nlocs, y->nlocs);
		assert_int_equal(x->nlabels, y->nlabels);
		if (x->nlocs)
			assert_memory_equal(kl_sample_locs(a, x), kl_sample_locs(b, y),
					    x->nlocs * sizeof(uint32_t));
		if (a->nsample_types)
			assert_memory_equal(kl_sample_values(a, i), kl_sample_values(b, i),
					    a->nsample_types * sizeof(int64_t));
		for (uint32_t j = 0; j < x->nlabels; j++) {
			const struct kl_label *lx = kl_sample_labels(a, x) + j;
			const struct kl_label *ly = kl_sample_labels(b, y) + j;

			assert_int_equal(lx->key, ly->key);
			assert_int_equal(lx->str, ly->str);
			assert_int_equal(lx->num, ly->num);
			assert_int_equal(lx->num_unit, ly->num_unit);
		}
	}
	assert_int_equal(a->ncomments, b->ncomments);
	if (a->ncomments)
		assert_memory_equal(a->comments, b->comments, a->ncomments * sizeof(kl_strid));
	assert_int_equal(a->drop_frames, b->drop_frames);
	assert_int_equal(a->keep_frames, b->keep_frames);
	assert_int_equal(a->period_type.type, b->period_type.type);
	assert_int_equal(a->period_type.unit, b->period_type.unit);
	assert_int_equal(a->period, b->period);
	assert_int_equal(a->time_nanos, b->time_nanos);
	assert_int_equal(a->duration_nanos, b->duration_nanos);
	assert_int_equal(a->default_sample_type, b->default_sample_type);
}

/* A minimal protobuf encoder for hand-made test messages. */
static void pb_varint(struct kl_buf *b, uint64_t v)
{
	do {
		uint8_t c = v & 0x7f;

		v >>= 7;
		kl_buf_addch(b, (char)(c | (v ? 0x80 : 0)));
	} while (v);
}

static void pb_int(struct kl_buf *b, uint32_t field, uint64_t v)
{
	pb_varint(b, (uint64_t)field << 3);
	pb_varint(b, v);
}

static void pb_bytes(struct kl_buf *b, uint32_t field, const void *data, size_t len)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, len);
	kl_buf_add(b, data, len);
}

static void pb_msg(struct kl_buf *b, uint32_t field, struct kl_buf *sub)
{
	pb_bytes(b, field, sub->data ? sub->data : "", sub->len);
	kl_buf_release(sub);
}

/*
 * A small valid profile: strings "", "cpu", "ns", "main", "f.go";
 * sample type cpu/ns; function 1 main; location 1 -> function 1; and
 * whatever the caller adds as samples (extra) after them.
 */
static void base_profile(struct kl_buf *b)
{
	struct kl_buf m = KL_BUF_INIT;
	static const char *strs[] = { "", "cpu", "ns", "main", "f.go" };

	pb_int(&m, 1, 1);
	pb_int(&m, 2, 2);
	pb_msg(b, 1, &m);	/* sample_type */
	pb_int(&m, 1, 1);
	pb_int(&m, 2, 3);
	pb_int(&m, 4, 4);
	pb_msg(b, 5, &m);	/* function */
	{
		struct kl_buf line = KL_BUF_INIT;

		pb_int(&line, 1, 1);
		pb_int(&line, 2, 7);
		pb_int(&m, 1, 1);
		pb_msg(&m, 4, &line);
		pb_msg(b, 4, &m);	/* location */
	}
	for (size_t i = 0; i < KL_ARRAY_SIZE(strs); i++)
		pb_bytes(b, 6, strs[i], strlen(strs[i]));
}

/* Adds a sample with location ids locs (unpacked) and values vals. */
static void add_sample(struct kl_buf *b, const uint64_t *locs, size_t nlocs, const int64_t *vals,
		       size_t nvals)
{
	struct kl_buf s = KL_BUF_INIT;

	for (size_t i = 0; i < nlocs; i++)
		pb_int(&s, 1, locs[i]);
	for (size_t i = 0; i < nvals; i++)
		pb_int(&s, 2, (uint64_t)vals[i]);
	pb_msg(b, 2, &s);
}

/* Reads b expecting failure with code and a message containing text. */
static void expect_error(struct kl_buf *b, int code, const char *text)
{
	struct kl_profile *p = (struct kl_profile *)1;
	struct kl_err err = { "" };
	int rc = kl_pprof_read((const uint8_t *)b->data, b->len, NULL, &p, &err);

	if (rc != code || !strstr(err.msg, text))
		fail_msg("expected %d \"%s\", got %d \"%s\"", code, text, rc, err.msg);
	assert_null(p);
	assert_non_null(strstr(err.msg, "pprof: "));
	assert_null(strchr(err.msg, '\n'));
}

/* ---- tests ---------------------------------------------------------- */

static void test_roundtrip_fixtures(void **state)
{
	(void)state;
	for (size_t i = 0; i < KL_ARRAY_SIZE(test_pprof_fixtures); i++) {
		struct kl_profile *p = test_load_pprof(test_pprof_fixtures[i]), *q = NULL;
		struct kl_buf gz = KL_BUF_INIT, raw = KL_BUF_INIT, raw2 = KL_BUF_INIT;
		struct kl_err err;

		assert_int_equal(kl_profile_validate(p, &err), 0);
		assert_int_equal(kl_pprof_write(p, true, &gz, &err), 0);
		assert_true(kl_is_gzip((const uint8_t *)gz.data, gz.len));
		if (kl_pprof_read((const uint8_t *)gz.data, gz.len, NULL, &q, &err))
			fail_msg("%s: reading our output: %s", test_pprof_fixtures[i], err.msg);
		assert_same_profile(p, q);
		/* raw output, and writing is deterministic */
		assert_int_equal(kl_pprof_write(p, false, &raw, &err), 0);
		assert_int_equal(kl_pprof_write(q, false, &raw2, &err), 0);
		assert_false(kl_is_gzip((const uint8_t *)raw.data, raw.len));
		assert_int_equal(raw.len, raw2.len);
		assert_memory_equal(raw.data, raw2.data, raw.len);
		kl_profile_free(p);
		kl_profile_free(q);
		kl_buf_release(&gz);
		kl_buf_release(&raw);
		kl_buf_release(&raw2);
	}
}

static void test_fields_of_go_cpu(void **state)
{
	struct kl_profile *p = test_load_pprof("pprof/go-cpu.pb.gz");
	bool car = false, bike = false;

	(void)state;
	assert_int_equal(p->nsample_types, 2);
	assert_string_equal(kl_profile_sget(p, p->sample_types[0].type), "samples");
	assert_string_equal(kl_profile_sget(p, p->sample_types[0].unit), "count");
	assert_string_equal(kl_profile_sget(p, p->sample_types[1].type), "cpu");
	assert_string_equal(kl_profile_sget(p, p->sample_types[1].unit), "nanoseconds");
	assert_string_equal(kl_profile_sget(p, p->period_type.type), "cpu");
	assert_int_equal(p->period, 10000000);
	assert_true(p->time_nanos > 1700000000000000000LL);
	assert_true(p->duration_nanos > 0);
	assert_int_equal(kl_profile_total(p, 0), 293);	/* as go tool pprof -top */
	for (size_t i = 0; i < p->nlabels; i++) {
		const char *k = kl_profile_sget(p, p->labels[i].key);
		const char *v = kl_profile_sget(p, p->labels[i].str);

		if (!strcmp(k, "vehicle")) {
			car |= !strcmp(v, "car");
			bike |= !strcmp(v, "bike");
		}
	}
	assert_true(car && bike);
	/* Go fills in mappings with flags, functions with lines */
	assert_true(p->nmappings > 0);
	assert_true(p->mappings[0].flags & KL_MAP_HAS_FUNCTIONS);
	for (uint32_t i = 0; i < p->nlocations; i++)
		assert_true(p->locations[i].mapping >= 1);
	kl_profile_free(p);
}

static void test_fields_of_legacy(void **state)
{
	struct kl_profile *p = test_load_pprof("pprof/legacy-converted/cppbench.heap.pb.gz");
	struct kl_profile *j = test_load_pprof("pprof/legacy-converted/java.heap.pb.gz");
	bool numeric = false;

	(void)state;
	/* heap samples carry numeric "bytes" labels with a unit */
	for (size_t i = 0; i < p->nlabels; i++) {
		if (p->labels[i].str == 0 && p->labels[i].num != 0)
			numeric = true;
	}
	assert_true(numeric);
	assert_true(p->nmappings > 1);
	assert_true(kl_strtab_len(p->strs, p->mappings[0].filename) > 0);
	assert_true(j->ncomments > 0 || j->nsamples > 0);
	kl_profile_free(p);
	kl_profile_free(j);
}

static void test_large_counts(void **state)
{
	struct kl_profile *p = test_load_pprof("pprof/go-large.cpu.pb.gz");

	(void)state;
	assert_int_equal(p->nsamples, 20430);
	assert_int_equal(p->nlocations, 23355);
	assert_int_equal(p->nfunctions, 23038);
	assert_int_equal(p->nsample_locs, 499787);
	kl_profile_free(p);
}

static void test_handmade_packed_and_unpacked(void **state)
{
	struct kl_buf a = KL_BUF_INIT, b = KL_BUF_INIT, packed = KL_BUF_INIT, s = KL_BUF_INIT;
	struct kl_profile *pa, *pb;
	struct kl_err err;
	uint64_t locs[] = { 1, 1, 1 };
	int64_t v = 42;

	(void)state;
	base_profile(&a);
	add_sample(&a, locs, 3, &v, 1);
	pb_int(&a, 13, 3);	/* comment "main", unpacked */
	pb_int(&a, 99, 5);	/* an unknown field is skipped */

	base_profile(&b);
	pb_varint(&packed, 1);
	pb_varint(&packed, 1);
	pb_varint(&packed, 1);
	pb_msg(&s, 1, &packed);
	pb_varint(&packed, 42);
	pb_msg(&s, 2, &packed);
	pb_msg(&b, 2, &s);
	pb_varint(&packed, 3);
	pb_msg(&b, 13, &packed);	/* comment, packed */

	assert_int_equal(kl_pprof_read((uint8_t *)a.data, a.len, NULL, &pa, &err), 0);
	assert_int_equal(kl_pprof_read((uint8_t *)b.data, b.len, NULL, &pb, &err), 0);
	assert_same_profile(pa, pb);
	assert_int_equal(pa->nsamples, 1);
	assert_int_equal(pa->samples[0].nlocs, 3);
	assert_int_equal(kl_sample_values(pa, 0)[0], 42);
	assert_int_equal(pa->ncomments, 1);
	assert_string_equal(kl_profile_sget(pa, pa->comments[0]), "main");
	assert_int_equal(pa->lines[0].line, 7);
	assert_string_equal(kl_profile_sget(pa, pa->functions[0].filename), "f.go");
	kl_profile_free(pa);
	kl_profile_free(pb);
	kl_buf_release(&a);
	kl_buf_release(&b);
}

static void test_sparse_ids_and_order(void **state)
{
	/* ids far apart (hash map path) and samples before the objects */
	struct kl_buf b = KL_BUF_INIT, m = KL_BUF_INIT, line = KL_BUF_INIT;
	struct kl_profile *p;
	struct kl_err err;
	uint64_t locs[] = { 900000000001ULL, 77 };
	int64_t v = 5;
	static const char *strs[] = { "", "cpu", "ns", "a", "b" };

	(void)state;
	pb_int(&m, 1, 1);
	pb_int(&m, 2, 2);
	pb_msg(&b, 1, &m);
	add_sample(&b, locs, 2, &v, 1);
	for (int i = 0; i < 2; i++) {
		pb_int(&line, 1, i ? 5000000000ULL : 3);
		pb_int(&m, 1, locs[i]);
		pb_int(&m, 2, 1ULL << 40);	/* mapping id */
		pb_int(&m, 3, 0x1000 + (uint64_t)i);
		pb_msg(&m, 4, &line);
		pb_msg(&b, 4, &m);
	}
	pb_int(&m, 1, 1ULL << 40);
	pb_int(&m, 2, 0x1000);
	pb_int(&m, 3, 0x2000);
	pb_int(&m, 7, 1);
	pb_msg(&b, 3, &m);
	pb_int(&m, 1, 3);
	pb_int(&m, 2, 3);
	pb_msg(&b, 5, &m);
	pb_int(&m, 1, 5000000000ULL);
	pb_int(&m, 2, 4);
	pb_msg(&b, 5, &m);
	for (size_t i = 0; i < KL_ARRAY_SIZE(strs); i++)
		pb_bytes(&b, 6, strs[i], strlen(strs[i]));
	if (kl_pprof_read((uint8_t *)b.data, b.len, NULL, &p, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(p->nsamples, 1);
	assert_int_equal(kl_sample_locs(p, &p->samples[0])[0], 0);
	assert_int_equal(kl_sample_locs(p, &p->samples[0])[1], 1);
	assert_string_equal(kl_profile_sget(p, p->functions[p->lines[1].function].name), "b");
	assert_int_equal(p->locations[1].mapping, 1);
	assert_int_equal(p->mappings[0].flags, KL_MAP_HAS_FUNCTIONS);
	kl_profile_free(p);
	kl_buf_release(&b);
}

static void test_limits(void **state)
{
	struct kl_buf b = KL_BUF_INIT;
	struct kl_profile *p = NULL;
	struct kl_err err;
	uint64_t locs[10] = { 1, 1, 1, 1, 1, 1, 1, 1, 1, 1 };
	int64_t v = 1;
	struct kl_read_limits lim = { .max_samples = 2, .max_depth = 4 };
	size_t len;
	uint8_t *gz;

	(void)state;
	base_profile(&b);
	add_sample(&b, locs, 10, &v, 1);
	add_sample(&b, locs, 3, &v, 1);
	assert_int_equal(kl_pprof_read((uint8_t *)b.data, b.len, &lim, &p, &err), 0);
	assert_int_equal(p->samples[0].nlocs, 4);	/* cut at max_depth */
	assert_int_equal(p->samples[1].nlocs, 3);
	kl_profile_free(p);
	add_sample(&b, locs, 1, &v, 1);
	assert_int_equal(kl_pprof_read((uint8_t *)b.data, b.len, &lim, &p, &err), -KL_ELIMIT);
	assert_non_null(strstr(err.msg, "more than 2 samples"));
	lim = (struct kl_read_limits){ .max_input = 16 };
	assert_int_equal(kl_pprof_read((uint8_t *)b.data, b.len, &lim, &p, &err), -KL_ELIMIT);
	/* the limit applies to gzip's output too */
	gz = test_read_fixture("pprof/go-cpu.pb.gz", &len);
	lim.max_input = 1000;
	assert_int_equal(kl_pprof_read(gz, len, &lim, &p, &err), -KL_ELIMIT);
	assert_null(p);
	free(gz);
	kl_buf_release(&b);
}

static void test_truncated_gzip(void **state)
{
	size_t len;
	uint8_t *gz = test_read_fixture("pprof/go-heap.pb.gz", &len);
	struct kl_profile *p = NULL;
	struct kl_err err;

	(void)state;
	for (size_t cut = 10; cut < len; cut += len / 7) {
		int rc = kl_pprof_read(gz, cut, NULL, &p, &err);

		assert_true(rc == -KL_ETRUNC || rc == -KL_EFORMAT);
		assert_null(p);
		assert_non_null(strstr(err.msg, "pprof: gzip"));
	}
	free(gz);
}

/*
 * kl_gunzip sizes its output by the trailer's ISIZE, which is only a hint:
 * with two gzip members it is the second's, far too small for the first
 * (which is all kl_gunzip reads), and the output must still be whole; a
 * hint above the limit must not get around the limit.
 */
static void test_gunzip_size_hint(void **state)
{
	struct kl_buf raw = KL_BUF_INIT, gz = KL_BUF_INIT, out = KL_BUF_INIT;
	struct kl_err err;

	(void)state;
	for (int i = 0; i < 300000; i++)
		kl_buf_addch(&raw, (char)('a' + (i * 7 + i / 13) % 26));
	assert_int_equal(kl_gzip(raw.data, raw.len, &gz, &err), 0);
	assert_int_equal(kl_gzip("tiny", 4, &gz, &err), 0);	/* second member: ISIZE 4 */
	assert_int_equal(kl_gunzip((const uint8_t *)gz.data, gz.len, 0, &out, &err), 0);
	assert_int_equal(out.len, raw.len);
	assert_memory_equal(out.data, raw.data, raw.len);
	kl_buf_release(&out);
	assert_int_equal(kl_gunzip((const uint8_t *)gz.data, gz.len, 100000, &out, &err),
			 -KL_ELIMIT);
	kl_buf_release(&gz);
	/* one member, exact hint: the output is exact too */
	assert_int_equal(kl_gzip(raw.data, raw.len, &gz, &err), 0);
	assert_int_equal(kl_gunzip((const uint8_t *)gz.data, gz.len, raw.len, &out, &err), 0);
	assert_int_equal(out.len, raw.len);
	assert_int_equal(out.data[out.len], '\0');
	kl_buf_release(&out);
	assert_int_equal(kl_gunzip((const uint8_t *)gz.data, gz.len, raw.len - 1, &out, &err),
			 -KL_ELIMIT);
	kl_buf_release(&gz);
	kl_buf_release(&raw);
}

static void test_truncated_protobuf(void **state)
{
	struct kl_profile *p = test_load_pprof("pprof/go-cpu.pb.gz");
	struct kl_buf raw = KL_BUF_INIT;
	struct kl_err err;
	int failed = 0;

	(void)state;
	assert_int_equal(kl_pprof_write(p, false, &raw, &err), 0);
	for (size_t cut = 1; cut < raw.len; cut += 1 + cut / 3) {
		struct kl_profile *q = NULL;
		int rc = kl_pprof_read((uint8_t *)raw.data, cut, NULL, &q, &err);

		/* a cut at a field boundary can still be a valid (smaller) profile */
		if (rc) {
			assert_true(rc == -KL_EFORMAT || rc == -KL_ETRUNC);
			assert_null(q);
			failed++;
		}
		kl_profile_free(q);
	}
	assert_true(failed > 10);
	/* a cut inside the last field (a varint) is always an error, and says so */
	kl_profile_free(p);
	p = NULL;
	assert_true(kl_pprof_read((uint8_t *)raw.data, raw.len - 1, NULL, &p, &err) < 0);
	assert_non_null(strstr(err.msg, "truncated"));
	kl_buf_release(&raw);
}

static void test_random_bytes(void **state)
{
	uint8_t buf[4096];
	uint64_t x = 0x9e3779b97f4a7c15ULL;
	int ok = 0;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		size_t len = 1 + (size_t)(x % sizeof(buf));
		struct kl_profile *p = NULL;
		struct kl_err err;

		for (size_t i = 0; i < len; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			buf[i] = (uint8_t)x;
		}
		if (kl_pprof_read(buf, len, NULL, &p, &err) == 0)
			ok++;
		kl_profile_free(p);
	}
	assert_true(ok < 20);	/* random bytes are almost never a profile */
	assert_int_equal(kl_pprof_read(buf, 0, NULL, &(struct kl_profile *){ NULL },
				       &(struct kl_err){ "" }), -KL_EFORMAT);
}

static void test_bad_references(void **state)
{
	struct kl_buf b = KL_BUF_INIT, m = KL_BUF_INIT;
	uint64_t locs[] = { 1, 7 };
	int64_t vals[] = { 1, 2 };

	(void)state;
	/* sample refers to a location that does not exist */
	base_profile(&b);
	add_sample(&b, locs, 1, vals, 1);
	add_sample(&b, locs, 2, vals, 1);
	expect_error(&b, -KL_EFORMAT, "pprof: sample 1 refers to unknown location 7");
	kl_buf_release(&b);

	/* values count differs from the number of sample types */
	base_profile(&b);
	add_sample(&b, locs, 1, vals, 2);
	expect_error(&b, -KL_EFORMAT, "sample 0 has more than 1 values");
	kl_buf_release(&b);
	base_profile(&b);
	add_sample(&b, locs, 1, vals, 0);
	expect_error(&b, -KL_EFORMAT, "sample 0 has 0 values, expected 1");
	kl_buf_release(&b);

	/* location refers to an unknown function, and to an unknown mapping */
	base_profile(&b);
	{
		struct kl_buf line = KL_BUF_INIT;

		pb_int(&line, 1, 9);
		pb_int(&m, 1, 2);
		pb_msg(&m, 4, &line);
		pb_msg(&b, 4, &m);
	}
	expect_error(&b, -KL_EFORMAT, "location 2 refers to unknown function 9");
	kl_buf_release(&b);
	base_profile(&b);
	pb_int(&m, 1, 2);
	pb_int(&m, 2, 4);
	pb_msg(&b, 4, &m);
	expect_error(&b, -KL_EFORMAT, "location 2 refers to unknown mapping 4");
	kl_buf_release(&b);

	/* duplicate ids and id 0 */
	base_profile(&b);
	pb_int(&m, 1, 1);
	pb_msg(&b, 4, &m);
	expect_error(&b, -KL_EFORMAT, "duplicate location id 1");
	kl_buf_release(&b);
	base_profile(&b);
	pb_int(&m, 2, 3);
	pb_msg(&b, 5, &m);
	expect_error(&b, -KL_EFORMAT, "function 1 has id 0");
	kl_buf_release(&b);

	/* string indexes out of range */
	base_profile(&b);
	pb_int(&m, 1, 2);
	pb_int(&m, 2, 5);
	pb_msg(&b, 5, &m);
	expect_error(&b, -KL_EFORMAT, "function 2 has string index 5 out of range");
	kl_buf_release(&b);
	base_profile(&b);
	pb_int(&b, 14, (uint64_t)-1);
	expect_error(&b, -KL_EFORMAT, "default_sample_type 0 has string index -1");
	kl_buf_release(&b);
	base_profile(&b);
	{
		struct kl_buf s = KL_BUF_INIT, lb = KL_BUF_INIT;

		pb_int(&s, 1, 1);
		pb_int(&s, 2, 1);
		pb_int(&lb, 1, 3);
		pb_int(&lb, 2, 1000);
		pb_msg(&s, 3, &lb);
		pb_msg(&b, 2, &s);
	}
	expect_error(&b, -KL_EFORMAT, "label of sample 0 has string index 1000");
	kl_buf_release(&b);

	/* the string table must start with "" */
	pb_bytes(&b, 6, "x", 1);
	expect_error(&b, -KL_EFORMAT, "string_table[0] is not empty");
	kl_buf_release(&b);

	/* wrong wire type for a known field */
	base_profile(&b);
	pb_bytes(&b, 9, "abc", 3);
	expect_error(&b, -KL_EFORMAT, "malformed protobuf");
	kl_buf_release(&b);
}

static void test_write_builder_profile(void **state)
{
	/* a profile made by the builder has no pprof ids: the writer numbers them */
	struct kl_profile *p = kl_profile_new(), *q = NULL;
	struct kl_buf out = KL_BUF_INIT;
	struct kl_err err;
	struct kl_function f = { .name = kl_profile_cstr(p, "main") };
	struct kl_line line = { 0, 3, 0 };
	struct kl_location loc = { 0 };
	uint32_t locs[2];
	int64_t v = 10;
	struct kl_label lb = { kl_profile_cstr(p, "k"), kl_profile_cstr(p, "v"), 0, 0 };

	(void)state;
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "samples"), kl_profile_cstr(p, "count"));
	kl_profile_add_function(p, &f);
	f.name = kl_profile_cstr(p, "leaf");
	kl_profile_add_function(p, &f);
	locs[1] = kl_profile_add_location(p, &loc, &line, 1);
	line.function = 1;
	locs[0] = kl_profile_add_location(p, &loc, &line, 1);
	kl_profile_add_sample(p, locs, 2, &v, &lb, 1);
	assert_false(kl_profile_failed(p));
	assert_int_equal(kl_pprof_write(p, true, &out, &err), 0);
	if (kl_pprof_read((uint8_t *)out.data, out.len, NULL, &q, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(q->nlocations, 2);
	assert_int_equal(q->locations[0].id, 1);
	assert_int_equal(q->locations[1].id, 2);
	assert_int_equal(q->functions[1].id, 2);
	assert_string_equal(kl_profile_sget(q, q->functions[q->lines[q->locations[
		kl_sample_locs(q, &q->samples[0])[0]].line_start].function].name), "leaf");
	assert_string_equal(kl_profile_sget(q, q->labels[0].str), "v");
	kl_profile_free(p);
	kl_profile_free(q);
	kl_buf_release(&out);
}

/*
 * Asserts that raw is exactly what protobuf-c packs from the message it
 * decodes raw into: the writer encodes by hand, and pprof's readers expect
 * the same bytes protobuf's own code would give them.
 */
static void assert_protobuf_c_bytes(const struct kl_buf *raw)
{
	Perftools__Profiles__Profile *m;
	uint8_t *re;
	size_t n;

	m = perftools__profiles__profile__unpack(NULL, raw->len, (const uint8_t *)raw->data);
	assert_non_null(m);
	n = perftools__profiles__profile__get_packed_size(m);
	assert_int_equal(n, raw->len);
	re = malloc(n ? n : 1);
	assert_non_null(re);
	assert_int_equal(perftools__profiles__profile__pack(m, re), n);
	assert_memory_equal(re, raw->data, n);
	free(re);
	perftools__profiles__profile__free_unpacked(m, NULL);
}

/* Asserts that gz inflates to exactly raw. */
static void assert_gzip_of(const struct kl_buf *gz, const struct kl_buf *raw)
{
	struct kl_buf un = KL_BUF_INIT;
	struct kl_err err;

	assert_true(kl_is_gzip((const uint8_t *)gz->data, gz->len));
	if (kl_gunzip((const uint8_t *)gz->data, gz->len, 1u << 30, &un, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(un.len, raw->len);
	assert_memory_equal(un.data, raw->data, raw->len);
	kl_buf_release(&un);
}

static void test_write_bytes_as_protobuf_c(void **state)
{
	(void)state;
	for (size_t i = 0; i < KL_ARRAY_SIZE(test_pprof_fixtures); i++) {
		struct kl_profile *p = test_load_pprof(test_pprof_fixtures[i]);
		struct kl_buf gz = KL_BUF_INIT, raw = KL_BUF_INIT;
		struct kl_err err;

		assert_int_equal(kl_pprof_write(p, false, &raw, &err), 0);
		assert_protobuf_c_bytes(&raw);
		assert_int_equal(kl_pprof_write(p, true, &gz, &err), 0);
		assert_gzip_of(&gz, &raw);
		kl_profile_free(p);
		kl_buf_release(&gz);
		kl_buf_release(&raw);
	}
}

/*
 * A profile of 40,000 distinct samples (~2 MB raw, many 64 KiB chunks
 * through zlib) with every field the writer encodes set, negative values
 * and numeric labels included.
 */
static struct kl_profile *big_profile(void)
{
	struct kl_profile *p = kl_profile_new();
	struct kl_mapping map = { .start = 0x400000, .limit = 0x800000, .offset = 0x1000,
				  .flags = KL_MAP_HAS_FUNCTIONS | KL_MAP_HAS_LINE_NUMBERS };
	struct kl_location loc = { .mapping = 1 };
	struct kl_line lines[2] = { { 0, 10, 3 }, { 1, -1, 0 } };
	struct kl_function f = { .start_line = 7 };
	uint32_t nloc = 2000, locs[3];
	char name[32];

	map.filename = kl_profile_cstr(p, "/bin/prog");
	map.build_id = kl_profile_cstr(p, "abcdef");
	kl_profile_add_mapping(p, &map);
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "alloc_space"),
				   kl_profile_cstr(p, "bytes"));
	kl_profile_add_sample_type(p, kl_profile_cstr(p, "delta"), kl_profile_cstr(p, "bytes"));
	for (uint32_t i = 0; i < nloc; i++) {
		snprintf(name, sizeof(name), "fn_%u", i);
		f.name = f.system_name = kl_profile_cstr(p, name);
		f.filename = kl_profile_cstr(p, "prog.c");
		kl_profile_add_function(p, &f);
	}
	for (uint32_t i = 0; i < nloc; i++) {
		loc.address = 0x401000 + (uint64_t)i * 16;
		loc.is_folded = i % 7 == 0;
		lines[0].function = i;
		lines[1].function = (i + 1) % nloc;
		kl_profile_add_location(p, &loc, lines, 1 + i % 2);
	}
	for (uint32_t i = 0; i < 40000; i++) {
		int64_t v[2] = { (int64_t)i * 4096 + 1, -(int64_t)i };
		struct kl_label lb[2] = {
			{ kl_profile_cstr(p, "thread"), kl_profile_cstr(p, i % 2 ? "a" : "b"), 0,
			  0 },
			{ kl_profile_cstr(p, "bytes"), 0, (int64_t)i, kl_profile_cstr(p, "bytes") },
		};

		locs[0] = i % nloc;
		locs[1] = (i / nloc) % nloc;
		locs[2] = (i * 7) % nloc;
		kl_profile_add_sample(p, locs, 3, v, lb, 1 + i % 2);
	}
	kl_profile_add_comment(p, kl_profile_cstr(p, "a comment"));
	kl_profile_add_comment(p, kl_profile_cstr(p, "another"));
	p->period_type.type = kl_profile_cstr(p, "space");
	p->period_type.unit = kl_profile_cstr(p, "bytes");
	p->period = 524288;
	p->time_nanos = 1700000000000000000;
	p->duration_nanos = 10000000000;
	p->default_sample_type = p->sample_types[0].type;
	p->drop_frames = kl_profile_cstr(p, "runtime\\..*");
	assert_false(kl_profile_failed(p));
	return p;
}

static void test_write_streamed_large(void **state)
{
	struct kl_profile *p = big_profile(), *q = NULL;
	struct kl_buf gz = KL_BUF_INIT, raw = KL_BUF_INIT, small = KL_BUF_INIT;
	struct kl_err err;

	(void)state;
	assert_int_equal(kl_pprof_write(p, false, &raw, &err), 0);
	assert_true(raw.len > (size_t)1 << 20);
	assert_protobuf_c_bytes(&raw);
	/* appended after what the buffer already holds, as the agent's exports are */
	kl_buf_addstr(&gz, "head");
	assert_int_equal(kl_pprof_write(p, true, &gz, &err), 0);
	assert_memory_equal(gz.data, "head", 4);
	memmove(gz.data, gz.data + 4, gz.len - 4);
	gz.len -= 4;
	assert_gzip_of(&gz, &raw);
	if (kl_pprof_read((const uint8_t *)gz.data, gz.len, NULL, &q, &err))
		fail_msg("%s", err.msg);
	assert_int_equal(q->nsamples, 40000);
	assert_int_equal(q->nlocations, 2000);
	assert_int_equal(q->nlabels, 60000);
	assert_int_equal(kl_sample_values(q, 39999)[1], -39999);
	assert_int_equal(q->labels[1].num, 0);
	assert_int_equal(q->period, 524288);
	assert_int_equal(q->ncomments, 2);
	assert_string_equal(kl_profile_sget(q, q->comments[1]), "another");
	assert_string_equal(kl_profile_sget(q, q->period_type.type), "space");
	/* an output ceiling is an error, gzip or not, and nothing is overrun */
	kl_buf_init(&small, 100000);
	assert_int_equal(kl_pprof_write(p, true, &small, &err), -KL_ELIMIT);
	kl_buf_release(&small);
	kl_buf_init(&small, 100000);
	assert_int_equal(kl_pprof_write(p, false, &small, &err), -KL_ELIMIT);
	assert_non_null(strstr(err.msg, "pprof: "));
	kl_buf_release(&small);
	kl_profile_free(p);
	kl_profile_free(q);
	kl_buf_release(&gz);
	kl_buf_release(&raw);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_fixtures),
		cmocka_unit_test(test_fields_of_go_cpu),
		cmocka_unit_test(test_fields_of_legacy),
		cmocka_unit_test(test_large_counts),
		cmocka_unit_test(test_handmade_packed_and_unpacked),
		cmocka_unit_test(test_sparse_ids_and_order),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_truncated_gzip),
		cmocka_unit_test(test_gunzip_size_hint),
		cmocka_unit_test(test_truncated_protobuf),
		cmocka_unit_test(test_random_bytes),
		cmocka_unit_test(test_bad_references),
		cmocka_unit_test(test_write_builder_profile),
		cmocka_unit_test(test_write_bytes_as_protobuf_c),
		cmocka_unit_test(test_write_streamed_large),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
