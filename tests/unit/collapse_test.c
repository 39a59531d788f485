/* SPDX-License-Identifier: Apache-2.0 */
/*
 * collapse_test.c - kl_collapse_perf on small inline `perf script` texts,
 * one rule of stackcollapse-perf.pl per test (header forms, periods, event
 * filtering, symbol cleaning, annotations, the Perl script's quirks), plus
 * detection and the perf script reader on a real fixture.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testlib.h"

#include "formats/formats.h"

/* Collapses text with o and returns the folded output (kl_free it). */
static char *collapse(const char *text, const struct kl_collapse_opts *o)
{
	struct kl_buf b;
	struct kl_err err = { "" };
	char *s;

	kl_buf_init(&b, 0);
	assert_int_equal(kl_collapse_perf(text, strlen(text), o, &b, &err), 0);
	s = kl_buf_detach(&b, NULL);
	return s ? s : kl_strndup("", 0);
}

static void expect(const char *text, const struct kl_collapse_opts *o, const char *want)
{
	char *got = collapse(text, o);

	assert_string_equal(got, want);
	kl_free(got);
}

static const struct kl_collapse_opts none;

static void test_basic(void **state)
{
	(void)state;
	/* callers come after callees; the command name is the root */
	expect("swapper     0 [000] 158665.570607: cpu-clock: \n"
	       "\tffffffff8103ce3b native_safe_halt ([kernel.kallsyms])\n"
	       "\tffffffff8101c6a3 default_idle ([kernel.kallsyms])\n"
	       "\tffffffff81aebbfe start_kernel ([kernel.kallsyms].init.text)\n"
	       "\n",
	       &none, "swapper;start_kernel;default_idle;native_safe_halt 1\n");
	/* identical stacks add up; output is sorted like Perl's sort */
	expect("bb 1 1.0: cycles:\n\t1 f (m)\n\naa 1 1.0: cycles:\n\t1 f (m)\n\n"
	       "bb 1 1.0: cycles:\n\t1 f (m)\n\n",
	       &none, "aa;f 1\nbb;f 2\n");
	/* a sample without frames is just the command */
	expect("cmd 5 1.0: cycles:\n\n", &none, "cmd 1\n");
	/* names with spaces: the shortest prefix before "spaces digits space" */
	expect("V8 WorkerThread 25607 4794564.109216: cycles:\n\t1 f (m)\n\n", &none,
	       "V8_WorkerThread;f 1\n");
}

static void test_periods(void **state)
{
	(void)state;
	expect("go 1 661.98: 500250 cpu-clock:pppH: \n\t1 a (m)\n\n"
	       "go 1 661.99: 250 cpu-clock:pppH: \n\t1 a (m)\n\n",
	       &none, "go;a 500500\n");
	/* Perl's truthiness: a period of "0" counts as 1, "00" as 0 */
	expect("go 1 1.0: 0 cycles:\n\t1 a (m)\n\n", &none, "go;a 1\n");
	expect("go 1 1.0: 00 cycles:\n\t1 a (m)\n\n", &none, "go;a 0\n");
}

static void test_period_overflow(void **state)
{
	const char *big = "go 1 1.0: 99999999999999999999 cycles:\n\t1 a (m)\n\n";
	const char *sum = "go 1 1.0: 5000000000000000000 cycles:\n\t1 a (m)\n\n"
			  "go 1 1.1: 5000000000000000000 cycles:\n\t1 a (m)\n\n";
	struct kl_buf b;
	struct kl_err err;

	(void)state;
	/* counts must fit the profile model's int64 values */
	kl_buf_init(&b, 0);
	assert_int_equal(kl_collapse_perf(big, strlen(big), &none, &b, &err), -KL_ELIMIT);
	assert_non_null(strstr(err.msg, "line 1"));
	assert_int_equal(kl_collapse_perf(sum, strlen(sum), &none, &b, &err), -KL_ELIMIT);
	kl_buf_release(&b);
}

static void test_event_filter(void **state)
{
	struct kl_collapse_opts o = { .event_filter = "instructions" };
	const char *in = "pp 1 1.0: cycles:\n\t1 a (m)\n\n"
			 "pp 1 1.1: instructions:\n\t1 b (m)\n\n"
			 "pp 1 1.2: cycles:\n\t1 a (m)\n\n";

	(void)state;
	/* the first event type wins by default */
	expect(in, &none, "pp;a 2\n");
	expect(in, &o, "pp;b 1\n");
	/* header without an event is never filtered */
	expect("pp 1 1.0: cycles:\n\t1 a (m)\n\npp 7 \n\t1 c (m)\n\n", &none, "pp;a 1\npp;c 1\n");
}

static void test_pid_tid(void **state)
{
	struct kl_collapse_opts pid = { .pid = true }, tid = { .tid = true };
	const char *both = "java 24636/25607 [000] 4794564.109216: cycles:\n\t1 a (m)\n\n";
	const char *one = "java 12688 [002] 6544038.708352: cpu-clock:\n\t1 a (m)\n\n";

	(void)state;
	expect(both, &pid, "java-24636;a 1\n");
	expect(both, &tid, "java-24636/25607;a 1\n");
	expect(one, &pid, "java-?;a 1\n");
	expect(one, &tid, "java-?/12688;a 1\n");
	/* a tid of "0" is false to Perl: pid becomes "?" */
	expect("swapper 0/0 [000] 1.0: cycles:\n\t1 a (m)\n\n", &tid, "swapper-?/0;a 1\n");
	/* spaces in the name become underscores */
	expect("V8 Worker 1/2 1.0: cycles:\n\t1 a (m)\n\n", &tid, "V8_Worker-1/2;a 1\n");
}

static void test_symbols(void **state)
{
	(void)state;
	/* offsets go, C++ arguments go, (anonymous namespace) stays */
	expect("pp 1 1.0: c:\n"
	       "\t1 ns::f(int, char const*)+0x1f (/bin/p)\n"
	       "\t2 ns::(anonymous namespace)::g(long) (/bin/p)\n"
	       "\t3 net/http.(*Client).Do+0x2a (/bin/p)\n"
	       "\t4 a;b\"c'd (/bin/p)\n"
	       "\n",
	       &none, "pp;a:bcd;net/http.(*Client).Do;ns::(anonymous namespace)::g;ns::f 1\n");
	/* a frame that is a process name in parentheses is skipped */
	expect("pp 1 1.0: c:\n\t1 a (m)\n\t2 (deleted) (m)\n\n", &none, "pp;a 1\n");
	/* the offset is stripped only when it is lower-case hex to the end */
	expect("pp 1 1.0: c:\n\t1 f+0xAB (m)\n\t2 g+0x1g (m)\n\n", &none, "pp;g+0x1g;f+0xAB 1\n");
}

static void test_unknown_and_addrs(void **state)
{
	struct kl_collapse_opts addrs = { .addrs = true };
	const char *in = "pp 1 1.0: c:\n"
			 "\t7f12 [unknown] (/lib/x86_64/libc.so.6)\n"
			 "\t1e00 [unknown] ([unknown])\n"
			 "\n";

	(void)state;
	expect(in, &none, "pp;[unknown];[libc.so.6] 1\n");
	expect(in, &addrs, "pp;[unknown <1e00>];[libc.so.6 <7f12>] 1\n");
}

static void test_annotations(void **state)
{
	struct kl_collapse_opts k = { .kernel = true }, j = { .jit = true }, all = { .all = true };
	const char *in = "pp 1 1.0: c:\n"
			 "\t1 do_sys ([kernel.kallsyms])\n"
			 "\t2 tcp_sendmsg (/lib/modules/4.3/build/vmlinux)\n"
			 "\t3 Ljava/io/X;::print (/tmp/perf-19982.map)\n"
			 "\t4 [unknown] ([unknown])\n"
			 "\t5 main (/bin/p)\n"
			 "\n";

	(void)state;
	expect(in, &none, "pp;main;[unknown];Ljava/io/X:::print;tcp_sendmsg;do_sys 1\n");
	expect(in, &k, "pp;main;[unknown];Ljava/io/X:::print;tcp_sendmsg_[k];do_sys_[k] 1\n");
	expect(in, &j, "pp;main;[unknown];Ljava/io/X:::print_[j];tcp_sendmsg;do_sys 1\n");
	expect(in, &all,
	       "pp;main;[unknown];Ljava/io/X:::print_[j];tcp_sendmsg_[k];do_sys_[k] 1\n");
}

static void test_inline_and_java(void **state)
{
	struct kl_collapse_opts pid = { .pid = true };
	const char *java = "java 1 1.0: c:\n"
			   "\t1 Lorg/X;.call(Lorg/Y;)V (/tmp/perf-1.map)\n"
			   "\t2 Lmain (/tmp/perf-1.map)\n"
			   "\n";

	(void)state;
	/* "callee->caller" chains: one block, later elements marked _[i] */
	expect("pp 1 1.0: c:\n\t1 a->b->c (m)\n\t2 d (m)\n\n", &none, "pp;d;a;b_[i];c_[i] 1\n");
	/* trailing empty fields of the split are dropped */
	expect("pp 1 1.0: c:\n\t1 a-> (m)\n\n", &none, "pp;a 1\n");
	/* java frames lose the leading L only for the plain "java" command */
	expect(java, &none, "java;Lmain;org/X:.call 1\n");
	expect(java, &pid, "java-?;Lmain;Lorg/X:.call 1\n");
}

static void test_quirks(void **state)
{
	(void)state;
	/* comments skipped; no final blank line: the last sample is dropped */
	expect("# cmdline : perf record\npp 1 1.0: c:\n\t1 a (m)\n\npp 1 1.1: c:\n\t1 b (m)\n",
	       &none, "pp;a 1\n");
	/* frames of a filtered sample are not added to anything */
	expect("pp 1 1.0: c:\n\t1 a (m)\n\npp 1 1.1: d:\n\t1 b (m)\n\n", &none, "pp;a 1\n");
	/* unrecognised lines are ignored, as the Perl script warns and goes on */
	expect("garbage\npp 1 1.0: c:\n\t1 a (m)\n\tjunk\n\n", &none, "pp;a 1\n");
	/* frames before any header belong to nothing */
	expect("\t1 a (m)\n\n", &none, "");
	expect("", &none, "");
	/* a one-letter command name never matches the header pattern */
	expect("p 1 1.0: c:\n\t1 a (m)\n\n", &none, "");
	/* a CR-only line is not a blank line to Perl */
	expect("pp 1 1.0: c:\r\n\t1 a (m)\r\n\r\n", &none, "");
}

static void test_binary_garbage(void **state)
{
	char buf[4096];
	struct kl_buf b;
	struct kl_err err;
	unsigned x = 12345;

	(void)state;
	for (int round = 0; round < 200; round++) {
		for (size_t i = 0; i < sizeof(buf); i++) {
			static const char alphabet[] = " \t\n()[]:;->+0x1a/Lunknown";

			x = x * 1103515245 + 12345;
			buf[i] = alphabet[(x >> 16) % (sizeof(alphabet) - 1)];
		}
		kl_buf_init(&b, 0);
		assert_int_equal(kl_collapse_perf(buf, sizeof(buf), &none, &b, &err), 0);
		kl_buf_release(&b);
	}
}

static void test_detect(void **state)
{
	size_t len;
	char *d = (char *)test_read_fixture("perf-script/perf-vertx-stacks-01.txt", &len);

	(void)state;
	assert_true(kl_perf_script_detect(d, len));
	assert_int_equal(kl_format_detect((const uint8_t *)d, len), KL_FORMAT_PERF_SCRIPT);
	free(d);
	d = (char *)test_read_fixture("perf-script/perf-cycles-instructions-01.txt", &len);
	assert_true(kl_perf_script_detect(d, len));
	free(d);
	assert_false(kl_perf_script_detect("a;b;c 42\nx;y 1\n", 15));
	assert_false(kl_perf_script_detect("main;foo 42\r\nmain 1\r\n", 21));
	assert_false(kl_perf_script_detect("", 0));
	/* a first sample without frames does not hide the next one */
	assert_true(kl_perf_script_detect("pp 1 1.0: c:\n\npp 1 1.1: c:\n\t1 a (m)\n\n", 37));
	assert_false(kl_perf_script_detect("pp 1 1.0: c:\nnot a frame\n", 25));
	assert_false(kl_perf_script_detect("# only\n# comments\n", 18));
}

static void test_read(void **state)
{
	size_t len;
	char *d = (char *)test_read_fixture("perf-script/perf-numa-stacks-01.txt", &len);
	struct kl_profile *p = NULL;
	struct kl_buf b;
	struct kl_err err;
	int64_t want = 0;

	(void)state;
	/* the profile's total equals the sum of the collapsed counts */
	kl_buf_init(&b, 0);
	assert_int_equal(kl_collapse_perf(d, len, &none, &b, &err), 0);
	for (char *s = b.data; s && *s;) {
		char *nl = strchr(s, '\n');

		*nl = '\0';
		want += strtoll(strrchr(s, ' ') + 1, NULL, 10);
		s = nl + 1;
	}
	kl_buf_release(&b);
	assert_int_equal(kl_format_read((const uint8_t *)d, len, NULL, &p, &err), 0);
	assert_int_equal(p->nsample_types, 1);
	assert_int_equal(kl_profile_total(p, 0), want);
	assert_true(want > 0);
	kl_profile_free(p);
	free(d);
}

static void test_read_event_type(void **state)
{
	const char *in = "go 1 1.0: 500 cpu-clock:pppH: \n\t1 a (m)\n\t2 main (m)\n\n"
			 "go 1 1.1: 700 cpu-clock:pppH: \n\t1 b (m)\n\t2 main (m)\n\n";
	struct kl_profile *p = NULL;
	struct kl_err err;

	(void)state;
	assert_int_equal(kl_perf_script_read((const uint8_t *)in, strlen(in), NULL, &p, &err), 0);
	assert_string_equal(kl_profile_sget(p, p->sample_types[0].type), "cpu-clock");
	assert_string_equal(kl_profile_sget(p, p->sample_types[0].unit), "nanoseconds");
	assert_int_equal(p->nsamples, 2);
	assert_int_equal(kl_profile_total(p, 0), 1200);
	kl_profile_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_basic),
		cmocka_unit_test(test_periods),
		cmocka_unit_test(test_period_overflow),
		cmocka_unit_test(test_event_filter),
		cmocka_unit_test(test_pid_tid),
		cmocka_unit_test(test_symbols),
		cmocka_unit_test(test_unknown_and_addrs),
		cmocka_unit_test(test_annotations),
		cmocka_unit_test(test_inline_and_java),
		cmocka_unit_test(test_quirks),
		cmocka_unit_test(test_binary_garbage),
		cmocka_unit_test(test_detect),
		cmocka_unit_test(test_read),
		cmocka_unit_test(test_read_event_type),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
