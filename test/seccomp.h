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
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define NR_PROCESS_MADVISE 440	/* x86-64 */

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
	struct sock_fprog prog = { .len = sizeof(filter) / sizeof(filter[0]), .filter = filter };

	if (through_libc) {
		if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
			return -1;
		return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog);
	}
	if (syscall(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0))
		return -1;
	return (int)syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
}

#endif
