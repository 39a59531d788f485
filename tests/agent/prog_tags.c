/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prog_tags.c - a program using libkiln's linked API: kiln_start with a
 * config, then known amounts of CPU time under known tags, so tests can
 * check that samples carry the right labels in the right shares:
 *   work_car   50% of the CPU time, vehicle=car (kiln_tag_push/pop)
 *   work_bike  30%, vehicle=bike + span_id=span-7 (kiln_with_tags)
 *   work_none  20%, no tags
 * Usage: prog_tags OUTPUT.pb.gz [SCALE]   (SCALE: seconds of CPU in all, default 2)
 * Other settings come from KILN_* (e.g. KILN_SERVER_ADDRESS); exit 0 on success.
 * Prints how long the work and kiln_stop took (wall ms) and the agent's
 * upload counters, for the tests of a slow or absent server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "burn.h"
#include "kiln/kiln.h"

static double wall_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

__attribute__((noinline)) static void work_car(double s)
{
	burn(s);
	burn_sink += 1;
}

__attribute__((noinline)) static void work_bike(void *arg)
{
	burn(*(double *)arg);
	burn_sink += 2;
}

__attribute__((noinline)) static void work_none(double s)
{
	burn(s);
	burn_sink += 3;
}

int main(int argc, char **argv)
{
	struct kiln_config cfg = KILN_CONFIG_INIT;
	const char *names[] = { "vehicle", "span_id" };
	const char *values[] = { "bike", "span-7" };
	double scale = argc > 2 ? strtod(argv[2], NULL) : 2.0, bike, t0, t1, t2;
	struct kiln_stats st = { .sz = sizeof(st) };
	int rc;

	cfg.application_name = "prog_tags";
	cfg.output = argc > 1 ? argv[1] : NULL;
	cfg.profiles = KILN_PROFILE_CPU;
	cfg.cpu_hz = 250;
	rc = kiln_start(&cfg);
	if (rc) {
		fprintf(stderr, "prog_tags: kiln_start: %s\n", kiln_strerror(rc));
		return 1;
	}
	if (kiln_tag_push("bad name!", "x") == 0 || kiln_tag_pop() == 0) {
		fprintf(stderr, "prog_tags: a bad tag name was accepted or pop of nothing worked\n");
		return 1;
	}
	t0 = wall_now();
	for (int round = 0; round < 4; round++) {
		if (kiln_tag_push("vehicle", "car")) {
			fprintf(stderr, "prog_tags: kiln_tag_push failed\n");
			return 1;
		}
		work_car(scale * 0.5 / 4);
		kiln_tag_pop();
		bike = scale * 0.3 / 4;
		rc = kiln_with_tags(names, values, 2, work_bike, &bike);
		if (rc) {
			fprintf(stderr, "prog_tags: kiln_with_tags: %s\n", kiln_strerror(rc));
			return 1;
		}
		work_none(scale * 0.2 / 4);
	}
	t1 = wall_now();
	if (!kiln_running() || kiln_flush()) {
		fprintf(stderr, "prog_tags: the agent is not running or kiln_flush failed\n");
		return 1;
	}
	rc = kiln_stop();
	t2 = wall_now();
	if (rc || kiln_running() || kiln_stop() != -KILN_ENOTRUNNING) {
		fprintf(stderr, "prog_tags: kiln_stop: %s\n", kiln_strerror(rc));
		return 1;
	}
	if (kiln_get_stats(&st)) {
		fprintf(stderr, "prog_tags: kiln_get_stats failed\n");
		return 1;
	}
	printf("prog_tags: work_ms=%d stop_ms=%d uploads=%llu failed=%llu dropped=%llu\n",
	       (int)((t1 - t0) * 1000), (int)((t2 - t1) * 1000), (unsigned long long)st.uploads,
	       (unsigned long long)st.uploads_failed, (unsigned long long)st.uploads_dropped);
	puts("prog_tags: done");
	return 0;
}
