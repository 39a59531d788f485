/* SPDX-License-Identifier: Apache-2.0 */
/*
 * export_test.c - unit tests of the export helper's agent internals:
 * settings (config.c: defaults, precedence, every kind of bad value),
 * dynamic tags (labels.c: interning, nesting, hiding, limits) and the
 * symbolizer (symbolize.c: a static function of this test by name, file
 * and line; an address outside every module).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent.h"

static int resolve(char **env, const struct kiln_config *cfg, struct agent_config *out,
		   char *msg)
{
	return agent_config_resolve(cfg, env, out, msg, 512);
}

static void test_config_defaults(void **state)
{
	char *env[] = { NULL };
	struct agent_config c;
	char msg[512];

	assert_int_equal(resolve(env, NULL, &c, msg), 0);
	assert_int_equal(c.profiles, KILN_PROFILE_CPU);
	assert_int_equal(c.cpu_hz, 100);
	assert_int_equal(c.wall_hz, 100);
	assert_int_equal(c.heap_sample_bytes, 524288);
	assert_int_equal(c.max_frames, 128);
	assert_int_equal(c.upload_interval_ms, 10000);
	assert_int_equal(c.upload_timeout_ms, 10000);
	assert_int_equal(c.upload_queue, 32);
	assert_null(c.server_address);
	assert_null(c.output);
	assert_false(c.follow_fork);
	assert_non_null(c.application_name);
	assert_true(strlen(c.application_name) > 0);
	agent_config_release(&c);
}

static void test_config_env_and_fields(void **state)
{
	char *env[] = {
		"KILN_CPU_HZ=250", "KILN_PROFILES=cpu,heap,mutex", "KILN_UPLOAD_INTERVAL=2s",
		"KILN_UPLOAD_TIMEOUT=1500ms", "KILN_HEAP_SAMPLE_BYTES=64k", "KILN_FOLLOW_FORK=yes",
		"KILN_SERVER_ADDRESS=http://127.0.0.1:4040", "KILN_TAGS=a=1,b.c=x-y",
		"KILN_APPLICATION_NAME=from-env", "KILN_WALL_HZ=", NULL,
	};
	struct kiln_config k = KILN_CONFIG_INIT;
	struct agent_config c;
	char msg[512];

	k.cpu_hz = 97;
	k.application_name = "from-field";
	assert_int_equal(resolve(env, &k, &c, msg), 0);
	assert_int_equal(c.cpu_hz, 97);			/* field wins */
	assert_int_equal(c.wall_hz, 100);		/* empty variable = unset */
	assert_string_equal(c.application_name, "from-field");
	assert_int_equal(c.profiles, KILN_PROFILE_CPU | KILN_PROFILE_HEAP | KILN_PROFILE_LOCK);
	assert_int_equal(c.upload_interval_ms, 2000);
	assert_int_equal(c.upload_timeout_ms, 1500);
	assert_int_equal(c.heap_sample_bytes, 65536);
	assert_true(c.follow_fork);
	assert_string_equal(c.server_address, "http://127.0.0.1:4040");
	assert_string_equal(c.tags, "a=1,b.c=x-y");
	agent_config_release(&c);
	agent_config_release(NULL);
}

static void test_config_bad(void **state)
{
	static const struct {
		const char *env, *msg;
	} cases[] = {
		{ "KILN_CPU_HZ=abc", "KILN_CPU_HZ=abc: not a number in 1..10000" },
		{ "KILN_CPU_HZ=10001", "KILN_CPU_HZ=10001: not a number in 1..10000" },
		{ "KILN_CPU_HZ=-5", "KILN_CPU_HZ=-5: not a number in 1..10000" },
		{ "KILN_CPU_HZ=99999999999999999999999", "KILN_CPU_HZ=99999999999999999999999: "
		  "not a number in 1..10000" },
		{ "KILN_UPLOAD_QUEUE=0", "KILN_UPLOAD_QUEUE=0: not a number in 1..1024" },
		{ "KILN_UPLOAD_INTERVAL=5h", "KILN_UPLOAD_INTERVAL=5h: not a duration" },
		{ "KILN_UPLOAD_INTERVAL=50ms", "KILN_UPLOAD_INTERVAL=50ms: not a duration" },
		{ "KILN_PROFILES=,", "KILN_PROFILES=,: no profile type named" },
		{ "KILN_TAGS=a", "KILN_TAGS=a: tags must be name=value pairs" },
		{ "KILN_TAGS=a=", "KILN_TAGS=a=: a tag value is empty" },
		{ "KILN_TAGS=__x=1", "KILN_TAGS=__x=1: tags must be" },
		{ "KILN_TAGS=a=b{", "KILN_TAGS=a=b{: a tag value is empty or holds" },
		{ "KILN_BASIC_AUTH=nocolon", "KILN_BASIC_AUTH=...: not user:password" },
		{ "KILN_OUTPUT=a.html", "KILN_OUTPUT=a.html: the agent writes pprof" },
		{ "KILN_PPROF_LISTEN=host:99999", "KILN_PPROF_LISTEN=host:99999: not host:port" },
		{ "KILN_SIGNAL=0x", "KILN_SIGNAL=0x: not a number" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *env[] = { (char *)cases[i].env, NULL };
		struct agent_config c;
		char msg[512];

		assert_int_equal(resolve(env, NULL, &c, msg), -KILN_ECONFIG);
		if (strncmp(msg, cases[i].msg, strlen(cases[i].msg)))
			fail_msg("%s: message \"%s\"", cases[i].env, msg);
		assert_null(c.application_name);	/* released */
	}
	{
		struct kiln_config k = KILN_CONFIG_INIT;
		struct agent_config c;
		char *env[] = { NULL }, msg[512];

		k.sz = 8;
		assert_int_equal(resolve(env, &k, &c, msg), -KILN_ECONFIG);
		k.sz = sizeof(k);
		k.max_frames = 513;
		assert_int_equal(resolve(env, &k, &c, msg), -KILN_ECONFIG);
		assert_string_equal(msg, "KILN_MAX_FRAMES=513: not a number in 1..512");
	}
}

/* The label pairs of the calling thread's current set, as "a=1,b=2". */
static void current_labels(char *buf, size_t n)
{
	const char *const *names, *const *values;
	size_t cnt, off = 0;

	buf[0] = 0;
	if (agent_labelset_get(agent_labelset_current(), &names, &values, &cnt))
		return;
	for (size_t i = 0; i < cnt; i++)
		off += (size_t)snprintf(buf + off, n - off, "%s%s=%s", i ? "," : "", names[i],
					values[i]);
}

static void test_labels(void **state)
{
	char buf[256];
	uint32_t car, again;

	assert_int_equal(agent_labelset_current(), 0);
	assert_int_equal(kiln_tag_pop(), -ENOENT);
	assert_int_equal(kiln_tag_push("bad name", "x"), -EINVAL);
	assert_int_equal(kiln_tag_push("__reserved", "x"), -EINVAL);
	assert_int_equal(kiln_tag_push(NULL, "x"), -EINVAL);
	assert_int_equal(kiln_tag_push("vehicle", "car"), 0);
	car = agent_labelset_current();
	assert_int_not_equal(car, 0);
	current_labels(buf, sizeof(buf));
	assert_string_equal(buf, "vehicle=car");
	assert_int_equal(kiln_tag_push("region", "eu"), 0);
	current_labels(buf, sizeof(buf));
	assert_string_equal(buf, "region=eu,vehicle=car");	/* sorted by name */
	assert_int_equal(kiln_tag_push("vehicle", "bike"), 0);	/* hides car */
	current_labels(buf, sizeof(buf));
	assert_string_equal(buf, "region=eu,vehicle=bike");
	assert_int_equal(kiln_tag_pop(), 0);
	current_labels(buf, sizeof(buf));
	assert_string_equal(buf, "region=eu,vehicle=car");
	assert_int_equal(kiln_tag_pop(), 0);
	assert_int_equal(agent_labelset_current(), car);
	assert_int_equal(kiln_tag_pop(), 0);
	assert_int_equal(agent_labelset_current(), 0);
	/* the same set is the same id, by the push cache or by interning */
	assert_int_equal(kiln_tag_push("vehicle", "car"), 0);
	again = agent_labelset_current();
	assert_int_equal(again, car);
	kiln_tag_pop();
	/* 16 nested tags at most */
	for (int i = 0; i < 16; i++) {
		char name[16];

		snprintf(name, sizeof(name), "k%d", i);
		assert_int_equal(kiln_tag_push(name, "v"), 0);
	}
	assert_int_equal(kiln_tag_push("k16", "v"), -E2BIG);
	for (int i = 0; i < 16; i++)
		assert_int_equal(kiln_tag_pop(), 0);
	assert_int_equal(agent_labelset_current(), 0);
}

static void inside(void *arg)
{
	current_labels(arg, 256);
}

static void test_with_tags(void **state)
{
	const char *names[] = { "vehicle", "span_id" }, *values[] = { "bike", "abc" };
	const char *bad[] = { "ok", "not ok" };
	char buf[256] = "";

	assert_int_equal(kiln_with_tags(names, values, 2, inside, buf), 0);
	assert_string_equal(buf, "span_id=abc,vehicle=bike");
	assert_int_equal(agent_labelset_current(), 0);
	buf[0] = 0;
	assert_int_equal(kiln_with_tags(bad, values, 2, inside, buf), -EINVAL);
	assert_string_equal(buf, "");			/* fn not called */
	assert_int_equal(agent_labelset_current(), 0);	/* the first push was undone */
	assert_int_equal(kiln_with_tags(names, values, 0, NULL, NULL), -EINVAL);
}

__attribute__((noinline)) static int known_static_function(int x)
{
	__asm__ volatile("" ::: "memory");
	return x * 3 + 1;
}

static void test_symbolize(void **state)
{
	struct agent_symbolizer *s = agent_symbolizer_new();
	struct agent_sym sym;
	uintptr_t pc = (uintptr_t)&known_static_function + 1;

	assert_non_null(s);
	assert_int_equal(known_static_function(1), 4);
	assert_int_equal(agent_symbolize(s, pc, &sym), 0);
	assert_true(sym.nframes >= 1);
	assert_string_equal(sym.frames[sym.nframes - 1].function, "known_static_function");
	assert_non_null(strstr(sym.frames[sym.nframes - 1].file, "export_test.c"));
	assert_true(sym.frames[sym.nframes - 1].line > 0);
	assert_true(sym.has_map);
	assert_true(sym.map_start <= pc && pc < sym.map_limit);
	assert_true(strlen(sym.map_build_id) >= 16);
	/* cached: the same answer again */
	assert_int_equal(agent_symbolize(s, pc, &sym), 0);
	assert_string_equal(sym.frames[sym.nframes - 1].function, "known_static_function");
	/* in no module at all */
	assert_int_equal(agent_symbolize(s, 0x10, &sym), 0);
	assert_int_equal(sym.nframes, 1);
	assert_false(sym.has_map);
	assert_string_equal(sym.frames[0].function, "[unknown]+0x10");
	assert_int_equal(agent_symbolizer_refresh(s), 0);
	agent_symbolizer_free(s);
	agent_symbolizer_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults),
		cmocka_unit_test(test_config_env_and_fields),
		cmocka_unit_test(test_config_bad),
		cmocka_unit_test(test_labels),
		cmocka_unit_test(test_with_tags),
		cmocka_unit_test(test_symbolize),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
