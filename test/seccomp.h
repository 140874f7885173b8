/* SPDX-License-Identifier: MIT */
/*
 * seccomp.h - put the calling thread under a seccomp filter that answers
 * one system call with action and lets every other through, as a sandbox
 * does for the calls it does not list.  Through libc's prctl (what kslub's
 * preload layer sees, as it would see sshd's or libseccomp's), or through
 * raw system calls that no library sees.
 */
#ifndef KSLUB_TEST_SECCOMP_H
#define KSLUB_TEST_SECCOMP_H

#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NR_PROCESS_MADVISE 440	/* x86-64 */

/* Put the filter in place, through libc's prctl or by raw system calls. */
static inline int seccomp_install(struct sock_filter *filter, unsigned short len, bool through_libc)
{
	struct sock_fprog prog = { .len = len, .filter = filter };

	if (through_libc) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
			return -1;
		return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
	}
	if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

/* 0, or -1 with errno. */
static inline int seccomp_answer(long nr, unsigned int action, bool through_libc)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned int)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, action),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};

	return seccomp_install(filter, sizeof(filter) / sizeof(filter[0]), through_libc);
}

/* A sandbox that lists what a program of one thread under glibc's malloc
 * makes, with the time calls a test needs and, with files, the calls that
 * open and read one, and kills the process for any other: madvise,
 * process_madvise and mprotect among them. */
static inline int seccomp_allow_only_glibc_malloc(bool through_libc, bool files)
{
	static const unsigned int allowed[] = {
		SYS_read, SYS_write, SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_exit, SYS_exit_group,
		SYS_clock_gettime, SYS_getpid, SYS_gettid, SYS_futex, SYS_rt_sigprocmask, SYS_rt_sigreturn,
		SYS_sched_yield,
		/* files */
		SYS_openat, SYS_close, SYS_fstat, SYS_newfstatat, SYS_lseek,
	};
	const unsigned int N = sizeof(allowed) / sizeof(allowed[0]) - (files ? 0 : 5);
	struct sock_filter filter[sizeof(allowed) / sizeof(allowed[0]) + 5];
	unsigned short k = 0;

	filter[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch));
	filter[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, N + 1);
	filter[k++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr));
	for (unsigned int i = 0; i < N; i++)	/* to the ALLOW after the KILL */
		filter[k++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, allowed[i],
							   (unsigned char)(N - i), 0);
	filter[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS);
	filter[k++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
	return seccomp_install(filter, k, through_libc);
}

/* A filter, by raw system calls that no library sees, that answers madvise
 * and process_madvise with EPERM, and with map_fixed an mmap with
 * MAP_FIXED too: the pages of a free range cannot go back. */
static inline int seccomp_refuse_purges(bool map_fixed)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_madvise, 4, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_PROCESS_MADVISE, 3, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, map_fixed ? SYS_mmap : ~0U, 0, 3),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[3])),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, MAP_FIXED, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};

	return seccomp_install(filter, sizeof(filter) / sizeof(filter[0]), false);
}

#endif
