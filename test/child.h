/* SPDX-License-Identifier: MIT */
/*
 * child.h - run a function in a forked child and collect what it wrote on
 * stdout and stderr, and how it ended.  The tests use it to watch kslub in a
 * fresh process: a report on stderr, an abort, the options read at start.
 *
 * The child has no core dump and the default SIGABRT action; it exits 0 when
 * fn returns.  The parent reads both pipes until the child closes them (past
 * a full buffer it reads on and drops the rest, so the child never blocks).
 */
#ifndef KSLUB_TEST_CHILD_H
#define KSLUB_TEST_CHILD_H

#include <criterion/criterion.h>

#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

struct child_pipe {
	int fd;
	char *buf;
	size_t size, len;
	bool open;
};

static inline void child_pipe_drain(struct child_pipe *p)
{
	char sink[4096];
	ssize_t n;

	if (p->len < p->size - 1)
		n = read(p->fd, p->buf + p->len, p->size - 1 - p->len);
	else
		n = read(p->fd, sink, sizeof(sink));
	if (n <= 0) {
		p->open = false;
		return;
	}
	if (p->len < p->size - 1) {
		p->len += (size_t)n;
		p->buf[p->len] = '\0';
	}
}

/* Run fn(arg) in a child; out and err receive its output, NUL-terminated
 * (either may be NULL to discard); *status is from waitpid. */
static inline void child_run(void (*fn)(void *), void *arg, int *status, char *out, size_t out_size,
			     char *err, size_t err_size)
{
	char discard[2][64];
	struct child_pipe p[2] = {
		{ -1, out ? out : discard[0], out ? out_size : sizeof(discard[0]), 0, true },
		{ -1, err ? err : discard[1], err ? err_size : sizeof(discard[1]), 0, true },
	};
	int fds[2][2];
	pid_t pid;

	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pipe(fds[i]), 0);
		p[i].buf[0] = '\0';
		p[i].fd = fds[i][0];
	}
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	cr_assert_neq(pid, -1, "fork failed");
	if (pid == 0) {
		struct rlimit no_core = { 0, 0 };

		setrlimit(RLIMIT_CORE, &no_core);
		signal(SIGABRT, SIG_DFL);
		dup2(fds[0][1], STDOUT_FILENO);
		dup2(fds[1][1], STDERR_FILENO);
		for (int i = 0; i < 2; i++) {
			close(fds[i][0]);
			close(fds[i][1]);
		}
		fn(arg);
		fflush(stdout);
		_exit(0);
	}
	close(fds[0][1]);
	close(fds[1][1]);
	while (p[0].open || p[1].open) {
		struct pollfd pfd[2] = { { p[0].fd, POLLIN, 0 }, { p[1].fd, POLLIN, 0 } };

		if (poll(pfd, 2, -1) < 0)
			continue;
		for (int i = 0; i < 2; i++)
			if (p[i].open && pfd[i].revents)
				child_pipe_drain(&p[i]);
	}
	close(fds[0][0]);
	close(fds[1][0]);
	cr_assert_eq(waitpid(pid, status, 0), pid);
}

/* For a child function that takes no argument. */
static inline void child_call_void(void *fn)
{
	(*(void (**)(void))fn)();
}

/* Run this test program again, in a child, with the environment variable
 * marker set to 1 and slabinfo as KSLUB_SLABINFO (unset if NULL): a fresh
 * process, in which a constructor that sees marker does the test before
 * criterion starts (and before it has threads).  Returns the wait status;
 * *pid, if pid is not NULL, the child's pid. */
static inline int child_exec_self(const char *marker, const char *slabinfo, pid_t *pid)
{
	int status;
	pid_t child;

	fflush(stdout);
	fflush(stderr);
	child = fork();
	cr_assert_neq(child, -1);
	if (child == 0) {
		setenv(marker, "1", 1);
		if (slabinfo)
			setenv("KSLUB_SLABINFO", slabinfo, 1);
		else
			unsetenv("KSLUB_SLABINFO");
		execl("/proc/self/exe", "test", (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(child, &status, 0), child);
	if (pid)
		*pid = child;
	return status;
}

/* ---- helpers for the child's own checks ------------------------------------------ */

/* In the child: when cond is false, say where and why on stderr and exit 1,
 * which the parent's assertion on the exit status then reports. */
#define check(cond, ...)                                                     \
	do {                                                                 \
		if (!(cond)) {                                               \
			fprintf(stderr, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                        \
			fputc('\n', stderr);                                 \
			fflush(stderr);                                      \
			_exit(1);                                            \
		}                                                            \
	} while (0)

/* Does a line of /proc/self/maps name what (a library, say)? */
static inline bool maps_have(const char *what)
{
	char line[4096];
	bool found = false;
	FILE *f = fopen("/proc/self/maps", "r");

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, what))
			found = true;
	fclose(f);
	return found;
}

/* The path of a file of test/data in the source tree (make check sets
 * KSLUB_SRCDIR). */
static inline const char *data_file(const char *name)
{
	static char path[4096];
	const char *dir = getenv("KSLUB_SRCDIR");

	snprintf(path, sizeof(path), "%s/test/data/%s", dir ? dir : ".", name);
	return path;
}

#endif
