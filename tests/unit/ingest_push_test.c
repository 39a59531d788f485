/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ingest_push_test.c - Connect Push: binary PushRequest (built with
 * kl_push_encode, and by hand where fields come in another order),
 * protojson with base64 raw profiles, whole-body gzip, the unknown_service
 * default, all-or-nothing failure and Connect error codes; base64 edge cases.
 */
#include "ingest_testlib.h"

/* The labels of the two series of every request: name, value, ..., NULL. */
static const char *const cpu_labels[] = { "__name__", "process_cpu", "service_name", "py-app",
					  "__delta__", "false", "env", "prod", NULL };
static const char *const heap_labels[] = { "region", "eu", NULL };

/* Appends a PushRequest of one series (labels kv, raw profile raw) to req. */
static void encode_series(struct kl_buf *req, const char *const *kv, const void *raw, size_t len)
{
	struct kl_labels ls = { 0 };

	for (; *kv; kv += 2)
		assert_int_equal(kl_labels_set(&ls, kv[0], kv[1], strlen(kv[1])), 0);
	kl_push_encode(&ls, raw, len, req);
	assert_int_equal(kl_buf_error(req), 0);
	kl_labels_release(&ls);
}

static void encode_fixture(struct kl_buf *req, const char *const *kv, const char *fixture)
{
	size_t len;
	uint8_t *raw = test_read_fixture(fixture, &len);

	encode_series(req, kv, raw, len);
	free(raw);
}

/*
 * A PushRequest of two series: go-cpu under full labels, go-heap without
 * service_name. Two requests of one series each, back to back, are one
 * request of both: protobuf concatenates repeated fields.
 */
static void build_request(struct kl_buf *req)
{
	encode_fixture(req, cpu_labels, "pprof/go-cpu.pb.gz");
	encode_fixture(req, heap_labels, "pprof/go-heap.pb.gz");
}

/*
 * A protobuf writer for what kl_push_encode never writes, which SDKs may:
 * a series whose sample precedes its labels, a sample whose ID precedes
 * raw_profile, and a field the decoder does not know (it must skip it).
 */
static void pb_varint(struct kl_buf *b, uint64_t v)
{
	while (v >= 0x80) {
		kl_buf_addch(b, (char)(v | 0x80));
		v >>= 7;
	}
	kl_buf_addch(b, (char)v);
}

static void pb_bytes(struct kl_buf *b, uint32_t field, const void *data, size_t len)
{
	pb_varint(b, (uint64_t)field << 3 | 2);
	pb_varint(b, len);
	kl_buf_add(b, data, len);
}

/* The go-cpu series of build_request with its fields out of kl_push_encode's order. */
static void build_reordered(struct kl_buf *req)
{
	struct kl_buf series = KL_BUF_INIT, m = KL_BUF_INIT;
	size_t len;
	uint8_t *cpu = test_read_fixture("pprof/go-cpu.pb.gz", &len);

	pb_bytes(&m, 2, "0f3a-uuid", 9);	/* ID first */
	pb_bytes(&m, 1, cpu, len);
	pb_varint(&m, 9 << 3 | 0);	/* an unknown varint field */
	pb_varint(&m, 42);
	pb_bytes(&series, 2, m.data, m.len);	/* the sample before the labels */
	for (const char *const *kv = cpu_labels; *kv; kv += 2) {
		m.len = 0;
		pb_bytes(&m, 1, kv[0], strlen(kv[0]));
		pb_bytes(&m, 2, kv[1], strlen(kv[1]));
		pb_bytes(&series, 1, m.data, m.len);
	}
	pb_bytes(req, 1, series.data, series.len);
	assert_int_equal(kl_buf_error(req), 0);
	encode_fixture(req, heap_labels, "pprof/go-heap.pb.gz");
	kl_buf_release(&series);
	kl_buf_release(&m);
	free(cpu);
}

static void check_series(const struct kl_series_set *s)
{
	long i;

	/* go-cpu: 2 types x 3 vehicle groups; go-heap: 4 types */
	assert_int_equal(s->n, 10);
	i = find_series(s, "__profile_type__", "process_cpu:cpu:nanoseconds:cpu:nanoseconds", 0);
	assert_true(i >= 0);
	assert_string_equal(kl_labels_get(&s->v[i].labels, "service_name"), "py-app");
	assert_string_equal(kl_labels_get(&s->v[i].labels, "env"), "prod");
	assert_null(kl_labels_get(&s->v[i].labels, "__delta__"));
	/* the profile's own time is the series start */
	assert_true(s->v[i].start_ns == s->v[i].profile->time_nanos);
	assert_true(s->v[i].end_ns > s->v[i].start_ns);
	i = find_series(s, "__profile_type__", "memory:inuse_space:bytes:space:bytes", 0);
	assert_true(i >= 0);
	assert_string_equal(kl_labels_get(&s->v[i].labels, "service_name"), "unknown_service");
	assert_string_equal(kl_labels_get(&s->v[i].labels, "region"), "eu");
	assert_string_equal(kl_labels_get(&s->v[i].labels, "__name__"), "memory");
}

/* kl_push_encode writes what kl_push_decode reads back: labels and the raw profile. */
static void test_push_encode(void **state)
{
	/* an empty value is encoded too */
	static const char *const labels[] = { "service_name", "enc-app", "env", "", "team", "kiln",
					      NULL };
	struct kl_series_set s = { 0 };
	struct kl_http_err err = { 0 };
	struct kl_buf req = KL_BUF_INIT;
	long i;

	(void)state;
	encode_fixture(&req, labels, "pprof/go-cpu.pb.gz");
	assert_int_equal(kl_push_decode("application/proto", NULL, (const uint8_t *)req.data, req.len,
					NOW_NS, NULL, &s, &err), 0);
	/* go-cpu: 2 types x 3 vehicle groups */
	assert_int_equal(s.n, 6);
	i = find_series(&s, "__profile_type__", "process_cpu:cpu:nanoseconds:cpu:nanoseconds", 0);
	assert_true(i >= 0);
	assert_string_equal(kl_labels_get(&s.v[i].labels, "service_name"), "enc-app");
	assert_string_equal(kl_labels_get(&s.v[i].labels, "team"), "kiln");
	assert_string_equal(kl_labels_get(&s.v[i].labels, "env"), "");
	kl_series_set_release(&s);
	kl_buf_release(&req);
}

static void test_push_proto(void **state)
{
	struct kl_buf req = KL_BUF_INIT, gz = KL_BUF_INIT;
	struct kl_series_set s = { 0 };
	struct kl_http_err err = { 0 };
	struct kl_err e;

	(void)state;
	build_request(&req);
	assert_int_equal(kl_push_decode("application/proto", NULL, (const uint8_t *)req.data, req.len,
					NOW_NS, NULL, &s, &err), 0);
	check_series(&s);
	kl_series_set_release(&s);

	/* the whole body gzip, as the Rust-based SDKs send it */
	assert_int_equal(kl_gzip(req.data, req.len, &gz, &e), 0);
	assert_int_equal(kl_push_decode("application/proto", "gzip", (const uint8_t *)gz.data, gz.len,
					NOW_NS, NULL, &s, &err), 0);
	check_series(&s);
	/* a gzip body over max_body is refused with 413 */
	{
		struct kl_series_set s2 = { 0 };
		struct kl_ingest_limits lim = { .max_body = 1000 };

		assert_int_equal(kl_push_decode("application/proto", "gzip", (const uint8_t *)gz.data,
						gz.len, NOW_NS, &lim, &s2, &err), -KL_ELIMIT);
		assert_int_equal(err.status, 413);
		assert_string_equal(err.code, "resource_exhausted");
	}
	/* all or nothing: a bad second series leaves the set as it was */
	{
		static const char *const bad_labels[] = { "service_name", "x", NULL };
		struct kl_buf bad = KL_BUF_INIT;
		size_t n0 = s.n;

		kl_buf_add(&bad, req.data, req.len);
		encode_series(&bad, bad_labels, "garbage", 7);
		assert_int_equal(kl_push_decode("application/proto", NULL, (const uint8_t *)bad.data,
						bad.len, NOW_NS, NULL, &s, &err), -KL_EFORMAT);
		assert_int_equal(s.n, n0);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.code, "invalid_argument");
		kl_buf_release(&bad);
	}
	kl_series_set_release(&s);
	kl_buf_release(&gz);
	kl_buf_release(&req);
}

/* Fields in another order, IDs and unknown fields: the same series. */
static void test_push_proto_order(void **state)
{
	struct kl_buf req = KL_BUF_INIT;
	struct kl_series_set s = { 0 };
	struct kl_http_err err = { 0 };

	(void)state;
	build_reordered(&req);
	assert_int_equal(kl_push_decode("application/proto", NULL, (const uint8_t *)req.data,
					req.len, NOW_NS, NULL, &s, &err), 0);
	check_series(&s);
	kl_series_set_release(&s);
	kl_buf_release(&req);
}

static void b64(struct kl_buf *out, const uint8_t *d, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)d[i] << 16 | (i + 1 < n ? (uint32_t)d[i + 1] << 8 : 0) |
			     (i + 2 < n ? d[i + 2] : 0);

		kl_buf_addch(out, tab[v >> 18 & 63]);
		kl_buf_addch(out, tab[v >> 12 & 63]);
		kl_buf_addch(out, i + 1 < n ? tab[v >> 6 & 63] : '=');
		kl_buf_addch(out, i + 2 < n ? tab[v & 63] : '=');
	}
}

static void test_push_json(void **state)
{
	struct kl_buf js = KL_BUF_INIT;
	struct kl_series_set s = { 0 };
	struct kl_http_err err = { 0 };
	size_t len;
	uint8_t *cpu = test_read_fixture("pprof/go-cpu.pb.gz", &len), *heap;

	(void)state;
	kl_buf_addstr(&js, "{\"series\":[{\"labels\":[{\"name\":\"__name__\",\"value\":\"process_cpu\"},"
		      "{\"name\":\"service_name\",\"value\":\"py-app\"},{\"name\":\"__delta__\","
		      "\"value\":\"false\"},{\"name\":\"env\",\"value\":\"prod\"}],"
		      "\"samples\":[{\"rawProfile\":\"");
	b64(&js, cpu, len);
	free(cpu);
	heap = test_read_fixture("pprof/go-heap.pb.gz", &len);
	kl_buf_addstr(&js, "\",\"ID\":\"u-1\"}]},{\"labels\":[{\"name\":\"region\",\"value\":\"eu\"}],"
		      "\"samples\":[{\"raw_profile\":\"");
	b64(&js, heap, len);
	free(heap);
	kl_buf_addstr(&js, "\"}]}]}");
	assert_int_equal(kl_push_decode("application/json; charset=utf-8", "identity",
					(const uint8_t *)js.data, js.len, NOW_NS, NULL, &s, &err), 0);
	check_series(&s);
	kl_series_set_release(&s);
	kl_buf_release(&js);

	/* errors */
	assert_int_equal(kl_push_decode("application/json", NULL, (const uint8_t *)"{", 1, NOW_NS,
					NULL, &s, &err), -KL_EFORMAT);
	assert_non_null(strstr(err.e.msg, "push: bad JSON"));
	assert_int_equal(kl_push_decode("application/json", NULL,
					(const uint8_t *)"{\"series\":[{\"samples\":[{\"rawProfile\":\"!!\"}]}]}",
					46, NOW_NS, NULL, &s, &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "push: series 0: sample 0: rawProfile is not base64");
	assert_int_equal(kl_push_decode("application/json", NULL,
					(const uint8_t *)"{\"series\":[{\"labels\":[{\"name\":1}]}]}", 36,
					NOW_NS, NULL, &s, &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "push: series 0: label 0 needs string name and value");
	assert_int_equal(kl_push_decode("text/plain", NULL, (const uint8_t *)"", 0, NOW_NS, NULL, &s,
					&err), -KL_EFORMAT);
	assert_int_equal(err.status, 415);
	assert_int_equal(kl_push_decode("application/proto", "br", (const uint8_t *)"", 0, NOW_NS,
					NULL, &s, &err), -KL_EFORMAT);
	assert_int_equal(err.status, 415);
	/* an empty request is a valid, empty push */
	assert_int_equal(kl_push_decode("application/proto", NULL, (const uint8_t *)"", 0, NOW_NS,
					NULL, &s, &err), 0);
	assert_int_equal(kl_push_decode("application/json", NULL, (const uint8_t *)"{}", 2, NOW_NS,
					NULL, &s, &err), 0);
	assert_int_equal(s.n, 0);
	/* malformed protobuf */
	assert_int_equal(kl_push_decode("application/proto", NULL, (const uint8_t *)"\x0a\x05\x0a", 3,
					NOW_NS, NULL, &s, &err), -KL_EFORMAT);
	assert_string_equal(err.e.msg, "push: malformed protobuf in PushRequest");
	assert_int_equal(kl_push_decode("application/proto", NULL,
					(const uint8_t *)"\x0a\x02\x12\x00", 4, NOW_NS, NULL, &s, &err),
			 -KL_EFORMAT);
	assert_string_equal(err.e.msg, "push: sample without raw_profile");
}

static void test_base64(void **state)
{
	static const struct {
		const char *in, *out;
	} ok[] = {
		{ "", "" }, { "Zg==", "f" }, { "Zm8=", "fo" }, { "Zm9v", "foo" }, { "Zg", "f" },
		{ "Zm8", "fo" }, { "-_-_", "\xfb\xff\xbf" }, { "+/+/", "\xfb\xff\xbf" },
	};
	static const char *const bad[] = { "Z", "Zg=", "Zm9v=", "Zg===", "Zm 9", "Z=g=", "Zm9vZ" };

	(void)state;
	for (size_t i = 0; i < KL_ARRAY_SIZE(ok); i++) {
		struct kl_buf b = KL_BUF_INIT;

		assert_int_equal(kl_base64_decode(ok[i].in, strlen(ok[i].in), &b), 0);
		assert_int_equal(b.len, strlen(ok[i].out));
		if (b.len)
			assert_memory_equal(b.data, ok[i].out, b.len);
		kl_buf_release(&b);
	}
	for (size_t i = 0; i < KL_ARRAY_SIZE(bad); i++) {
		struct kl_buf b = KL_BUF_INIT;

		if (kl_base64_decode(bad[i], strlen(bad[i]), &b) == 0)
			fail_msg("base64 \"%s\" accepted", bad[i]);
		kl_buf_release(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_push_proto),
		cmocka_unit_test(test_push_proto_order),
		cmocka_unit_test(test_push_encode),
		cmocka_unit_test(test_push_json),
		cmocka_unit_test(test_base64),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
