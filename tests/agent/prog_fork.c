/* SPDX-License-Identifier: Apache-2.0 */
/*
 * prog_fork.c - process life events under the agent (LD_PRELOAD):
 *   prog_fork fork        parent_work, fork: the child runs child_work and
 *                         exits 7, the parent checks that, parent_work again
 *   prog_fork exec OUT    like fork, but the child sets KILN_OUTPUT=OUT and
 *                         execs "prog_fork child" (a fresh agent in a new image)
 *   prog_fork child       child_work, exit 7
 *   prog_fork thread-exit a thread calls exit(0) while main burns CPU
 * Prints "prog_fork: ok" (or the child's status) and exits 0 when all went
 * as planned. Work is measured in thread CPU time.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "burn.h"

__attribute__((noinline)) static void parent_work(void)
{
	burn(0.3);
	burn_sink += 1;
}

__attribute__((noinline)) static void child_work(void)
{
	burn(0.3);
	burn_sink += 2;
}

static void *exiter(void *arg)
{
	burn(0.2);
	printf("prog_fork: ok\n");
	fflush(stdout);
	exit(0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "fork";
	pid_t pid;
	int status;

	if (!strcmp(mode, "child")) {
		child_work();
		return 7;
	}
	if (!strcmp(mode, "thread-exit")) {
		pthread_t t;

		if (pthread_create(&t, NULL, exiter, NULL))
			return 1;
		for (;;)
			parent_work();
	}
	parent_work();
	pid = fork();
	if (pid < 0)
		return 1;
	if (pid == 0) {
		if (!strcmp(mode, "exec") && argc > 2) {
			setenv("KILN_OUTPUT", argv[2], 1);
			execl("/proc/self/exe", argv[0], "child", (char *)NULL);
			_exit(99);
		}
		child_work();
		exit(7);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 7) {
		printf("prog_fork: child status %d\n", status);
		return 1;
	}
	parent_work();
	printf("prog_fork: ok\n");
	return 0;
}
