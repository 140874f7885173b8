/* SPDX-License-Identifier: MIT */
/*
 * launch - run a program N times in a row and time each run, for
 * scripts/kslub-bench.
 *
 *   launch [-n RUNS] [-T SECONDS] [-e VAR=VALUE]... [-i IN] [-o OUT] \
 *          -- PROGRAM [ARG...]
 *
 * Each run is fork + execvp + wait4 in its own process group; the wall time
 * is taken with CLOCK_MONOTONIC around it, the peak RSS is ru_maxrss from
 * wait4 (the largest of the child and the descendants it waited for).  One
 * line per run on stdout:
 *
 *   run=1 status=0 wall_ns=123456 maxrss_kb=2048
 *
 * status is the exit code, 128 + the signal number for a killed run, or
 * "timeout" when the run outlived -T (then the whole process group is
 * killed).  -e sets a variable for the program only (LD_PRELOAD is given
 * this way, so that the launcher itself runs on the system allocator); -i
 * and -o redirect the program's stdin and its stdout + stderr (appended, the
 * file is emptied once at start).  launch exits 0 when every run exited 0.
 *
 * Linked with libc only; a C launcher rather than a shell loop, so that a
 * run of /bin/true is not drowned by the shell's own cost.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out;

static void on_alarm(int sig)
{
	(void)sig;
	timed_out = 1;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(void)
{
	fprintf(stderr,
		"usage: launch [-n RUNS] [-T SECONDS] [-e VAR=VALUE]... [-i IN] [-o OUT] -- PROGRAM [ARG...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	long runs = 1, timeout = 0;
	const char *in = NULL, *out = NULL;
	struct sigaction sa;
	int opt, failed = 0;

	while ((opt = getopt(argc, argv, "+n:T:e:i:o:")) != -1) {
		switch (opt) {
		case 'n':
			runs = atol(optarg);
			break;
		case 'T':
			timeout = atol(optarg);
			break;
		case 'e': {
			char *eq = strchr(optarg, '=');

			if (!eq)
				usage();
			*eq = '\0';
			if (setenv(optarg, eq + 1, 1)) {
				perror("launch: setenv");
				return 2;
			}
			break;
		}
		case 'i':
			in = optarg;
			break;
		case 'o':
			out = optarg;
			break;
		default:
			usage();
		}
	}
	if (optind >= argc || runs < 1)
		usage();

	if (out) {
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (fd < 0) {
			perror(out);
			return 2;
		}
		close(fd);
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_alarm;	/* no SA_RESTART: wait4 must stop */
	sigaction(SIGALRM, &sa, NULL);

	for (long run = 1; run <= runs; run++) {
		struct rusage ru;
		long long start, end;
		int status = 0;
		pid_t pid, got;

		start = now_ns();
		pid = fork();
		if (pid < 0) {
			perror("launch: fork");
			return 2;
		}
		if (pid == 0) {
			setpgid(0, 0);
			if (in) {
				int fd = open(in, O_RDONLY);

				if (fd < 0 || dup2(fd, 0) < 0)
					_exit(126);
				close(fd);
			}
			if (out) {
				int fd = open(out, O_WRONLY | O_APPEND);

				if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
					_exit(126);
				close(fd);
			}
			execvp(argv[optind], argv + optind);
			_exit(127);
		}
		setpgid(pid, pid);	/* either side may win the race */

		timed_out = 0;
		if (timeout > 0)
			alarm((unsigned int)timeout);
		for (;;) {
			got = wait4(pid, &status, 0, &ru);
			if (got == pid)
				break;
			if (got < 0 && errno == EINTR) {
				if (timed_out)
					kill(-pid, SIGKILL);
				continue;
			}
			perror("launch: wait4");
			return 2;
		}
		alarm(0);
		end = now_ns();
		/* descendants left behind in the group must not outlive the run */
		kill(-pid, SIGKILL);

		if (timed_out) {
			printf("run=%ld status=timeout wall_ns=%lld maxrss_kb=%ld\n",
			       run, end - start, ru.ru_maxrss);
			failed = 1;
		} else {
			int code = WIFEXITED(status) ? WEXITSTATUS(status) :
				   128 + WTERMSIG(status);

			printf("run=%ld status=%d wall_ns=%lld maxrss_kb=%ld\n",
			       run, code, end - start, ru.ru_maxrss);
			if (code)
				failed = 1;
		}
	}
	return failed;
}
