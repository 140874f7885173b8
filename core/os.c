/* SPDX-License-Identifier: MIT */
/*
 * os.c - the only file that calls mmap, munmap, madvise, mprotect and
 * mremap (and, through the topology, mbind).  Every call keeps the caller's
 * errno, except that a failed mapping leaves ENOMEM, which is what malloc's
 * callers expect to see.
 */
#include "internal.h"
#include "topology.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

unsigned long kslub_os_mmaps;	/* successful mappings */
unsigned long kslub_os_munmaps;	/* unmappings */
unsigned long kslub_os_purges;	/* ranges given back by madvise, process_madvise or mmap */
unsigned long kslub_os_mapped;	/* bytes mapped now */
unsigned long kslub_os_moves;	/* blocks moved by mremap instead of copied */
/* under a seccomp filter: mmap, munmap and mremap alone (os_restrict) */
static bool restricted;

void *os_mmap(size_t size)
{
	int saved = errno;
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		errno = ENOMEM;
		return NULL;
	}
	errno = saved;
	__atomic_fetch_add(&kslub_os_mmaps, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&kslub_os_mapped, size, __ATOMIC_RELAXED);
	return p;
}

/* Address space only: read-only, not committed, reads as zeros, left out of
 * core dumps (not counted in kslub_os_mapped, which is memory). */
void *os_reserve(size_t size)
{
	int saved = errno;
	void *p = mmap(NULL, size, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p != MAP_FAILED)
		madvise(p, size, MADV_DONTDUMP);	/* not in a core dump */
	errno = saved;
	return p == MAP_FAILED ? NULL : p;
}

/* A part of a reservation made writable (committed, zero until written). */
bool os_make_writable(void *addr, size_t size)
{
	int saved = errno, ret;

	if (READ_ONCE(restricted))
		return false;	/* no mprotect under a filter (see os_restrict) */
	ret = mprotect(addr, size, PROT_READ | PROT_WRITE);
	errno = saved;
	return ret == 0;
}

int os_munmap(void *addr, size_t size)
{
	int saved = errno, ret = munmap(addr, size);

	errno = saved;
	if (ret == 0) {
		__atomic_fetch_add(&kslub_os_munmaps, 1, __ATOMIC_RELAXED);
		__atomic_fetch_sub(&kslub_os_mapped, size, __ATOMIC_RELAXED);
	}
	return ret;
}

/* A mapping of size bytes at addr exactly, where nothing is mapped; false
 * (nothing mapped) if the range is taken or the kernel does not know
 * MAP_FIXED_NOREPLACE (before Linux 4.17 it takes addr as a hint). */
static bool try_mmap_at(void *addr, size_t size)
{
	int saved = errno;
	void *p = mmap(addr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	errno = saved;
	if (p == MAP_FAILED)
		return false;
	if (p != addr) {
		munmap(p, size);
		return false;
	}
	__atomic_fetch_add(&kslub_os_mmaps, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&kslub_os_mapped, size, __ATOMIC_RELAXED);
	return true;
}

/* A mapping of size bytes whose start is a multiple of align (a power of two
 * no smaller than a page): where one lands aligned, or at the aligned
 * address below it, or map more and cut the ends off. */
void *os_mmap_aligned(size_t size, size_t align)
{
	char *p, *start;
	size_t lead, trail;

	if (size + align < size)
		return errno = ENOMEM, NULL;
	p = os_mmap(size);
	if (!p)
		return NULL;
	if (((unsigned long)p & (align - 1)) == 0)
		return p;
	os_munmap(p, size);
	/* mappings go down from the top: the space below p is most likely
	 * free, and a range at the aligned address below p, which ends
	 * inside p's, needs no more address space than size (a limit set
	 * with ulimit -v may leave no more) */
	start = (char *)((unsigned long)p & ~(align - 1));
	if (try_mmap_at(start, size))
		return start;
	p = os_mmap(size + align);
	if (!p)
		return NULL;
	start = (char *)ALIGN((unsigned long)p, align);
	lead = (size_t)(start - p);
	trail = align - lead;
	if (lead)
		os_munmap(p, lead);
	if (trail)
		os_munmap(start + size, trail);
	/* the two cuts were counted as unmappings of a mapping that lives on */
	__atomic_fetch_sub(&kslub_os_munmaps, (lead != 0) + (trail != 0), __ATOMIC_RELAXED);
	return start;
}

/* The pages of free ranges go back, the ranges stay mapped.  MADV_DONTNEED
 * makes the next touch a zero page, which lets callers skip a memset.
 *
 * Since Linux 6.13 process_madvise takes any advice, MADV_DONTNEED too,
 * for the caller's own process, which recent kernels name with no
 * descriptor (PIDFD_SELF_THREAD; the project's 6.18 does): a group of
 * ranges in one call, with one TLB flush where a madvise each flushes each
 * time.  On the project's VM, groups of 64 gave back 65536 separate 4 KiB
 * pages in 39 ms where a madvise each took 96 ms (see
 * test/bench/RESULTS.md).  A group
 * holds PURGE_GROUP_BYTES at most (one range may be longer): a call holds
 * the address space's lock for reading all along, and a thread that maps
 * or unmaps meanwhile waits no longer than for one madvise of that size.
 * A kernel that does not know the call, the pid or the advice for it makes
 * the first try fail at once: from then on a madvise each.
 *
 * A seccomp filter may kill the process for a system call it does not list
 * (sshd's sandbox, a browser's renderer, systemd's SystemCallFilter=), or
 * answer it with an error.  What it lists is what the program needs:
 * glibc's malloc in a program of one thread makes brk, mmap, munmap and
 * mremap, no madvise, process_madvise or mprotect.  So kslub is restricted
 * to mmap, munmap and mremap (os_restrict) in a process that runs under a
 * filter, as /proc/self/status says before the first purge, or that asks
 * for one through libc's prctl (preload/malloc.c): a range then goes back
 * by mapping fresh zero pages over it (mmap with MAP_FIXED, as glibc's
 * shrink_heap does), a slot map page is not made writable (arena.c), no
 * block moves with MREMAP_DONTUNMAP, and neither huge pages nor a NUMA
 * node (mbind) are asked for.  A
 * filter put in place by raw system calls after the first purge is not
 * seen: a madvise it refuses sends the ranges the mmap way from then on.
 * A range given back by mmap in a fork child leaves a mapping of its own
 * (the kernel does not merge it with the neighbours it shares with the
 * parent), so a child gives at most PURGE_MMAP_MAX ranges back that way;
 * past that, or when mmap is refused too, ranges stay resident (still
 * free, for reuse) and only wholly free arenas go back.  A range not given
 * back is reported to the caller, which keeps it dirty: calloc must not
 * take it for zeros.  A process that cannot read /proc/self/status (no
 * /proc in a chroot) is taken to be under a filter.  kslub_os_purges
 * counts the ranges given back. */
#define PIDFD_SELF_THREAD (-10000)
#ifndef SYS_process_madvise
#define SYS_process_madvise 440
#endif
#define PURGE_GROUP_BYTES (2UL << 20)
#define PURGE_MMAP_MAX 8192
/* process_madvise: not looked at yet, to be used, or not (refused, or the
 * process runs or may run under a seccomp filter) */
enum { PM_UNKNOWN, PM_USE, PM_OFF };
static int process_madvise_state = PM_UNKNOWN;
/* how a single range goes back: madvise, mmap, or not at all */
enum { PURGE_MADVISE, PURGE_MMAP, PURGE_NONE };
static int purge_mode = PURGE_MADVISE;
static unsigned long purge_mmaps;	/* ranges given back by mmap in a fork child */
static bool forked;			/* a fork child, whose arenas came from its parent */

/* Does /proc/self/status say the process runs under a seccomp filter?
 * True when it cannot tell. */
static bool under_seccomp(void)
{
	static const char key[] = "\nSeccomp:\t";
	char buf[512];
	unsigned int matched = 0;
	bool found = false, under = true;
	long fd = os_syscall3(SYS_openat, AT_FDCWD, (long)"/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return true;
	for (long got; !found && (got = os_syscall3(SYS_read, fd, (long)buf, sizeof(buf))) > 0;) {
		for (long i = 0; i < got; i++) {
			if (matched == sizeof(key) - 1) {
				under = buf[i] != '0';
				found = true;
				break;
			}
			matched = buf[i] == key[matched] ? matched + 1 : buf[i] == key[0];
		}
	}
	os_syscall3(SYS_close, fd, 0, 0);
	return !found || under;
}

/* From now on mmap, munmap and mremap alone (see above). */
void os_restrict(void)
{
	WRITE_ONCE(restricted, true);
	WRITE_ONCE(process_madvise_state, PM_OFF);
	__atomic_compare_exchange_n(&purge_mode, &(int){ PURGE_MADVISE }, PURGE_MMAP, false, __ATOMIC_RELAXED,
				    __ATOMIC_RELAXED);
}

bool os_restricted(void)
{
	return READ_ONCE(restricted);
}

void os_forked(void)
{
	WRITE_ONCE(forked, true);
}

bool os_may_purge(void)
{
	return READ_ONCE(purge_mode) != PURGE_NONE;
}

/* The ranges of iov[0 .. n) that one process_madvise gave back: n, fewer if
 * it stopped part way, 0 if it failed or is not to be had. */
static unsigned int purge_group(struct iovec *iov, unsigned int n)
{
	unsigned int done = 0;
	long ret;

	if (n < 2 || READ_ONCE(process_madvise_state) != PM_USE)
		return 0;
	ret = syscall(SYS_process_madvise, PIDFD_SELF_THREAD, iov, n, MADV_DONTNEED, 0);
	if (ret >= 0) {
		for (size_t bytes = (size_t)ret; done < n && bytes >= iov[done].iov_len; done++)
			bytes -= iov[done].iov_len;
	} else if (errno == ENOSYS || errno == EINVAL || errno == EBADF || errno == EPERM || errno == ESRCH ||
		   errno == EACCES) {
		WRITE_ONCE(process_madvise_state, PM_OFF);
	}
	return done;
}

/* An error that says the call will never be allowed (a filter's answer). */
static bool refused(int err)
{
	return err == EPERM || err == EACCES || err == ENOSYS;
}

static bool purge_range(void *addr, size_t len)
{
	int mode = READ_ONCE(purge_mode);

	if (mode == PURGE_MADVISE) {
		if (madvise(addr, len, MADV_DONTNEED) == 0)
			return true;
		if (refused(errno))
			__atomic_compare_exchange_n(&purge_mode, &mode, PURGE_MMAP, false, __ATOMIC_RELAXED,
						    __ATOMIC_RELAXED);
		mode = READ_ONCE(purge_mode);
	}
	if (mode != PURGE_MMAP)
		return false;
	if (READ_ONCE(forked) && __atomic_fetch_add(&purge_mmaps, 1, __ATOMIC_RELAXED) >= PURGE_MMAP_MAX) {
		WRITE_ONCE(purge_mode, PURGE_NONE);
		return false;
	}
	if (mmap(addr, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED)
		return true;
	if (refused(errno))
		WRITE_ONCE(purge_mode, PURGE_NONE);
	return false;
}

/* Give back the pages of the n ranges of iov; a range whose pages could
 * not go back gets iov_len 0.  The ranges given back. */
unsigned int os_purge_batch(struct iovec *iov, unsigned int n)
{
	int saved = errno;
	unsigned int purged = 0;

	if (READ_ONCE(process_madvise_state) == PM_UNKNOWN) {
		if (under_seccomp())
			os_restrict();
		else	/* not over an off set meanwhile by a prctl */
			__atomic_compare_exchange_n(&process_madvise_state, &(int){ PM_UNKNOWN }, PM_USE, false,
						    __ATOMIC_RELAXED, __ATOMIC_RELAXED);
	}
	for (unsigned int i = 0; i < n;) {
		unsigned int end = i + 1, done;
		size_t bytes = iov[i].iov_len;

		while (end < n && bytes + iov[end].iov_len <= PURGE_GROUP_BYTES)
			bytes += iov[end++].iov_len;
		done = purge_group(iov + i, end - i);
		purged += done;
		for (i += done; i < end; i++) {
			if (purge_range(iov[i].iov_base, iov[i].iov_len))
				purged++;
			else
				iov[i].iov_len = 0;
		}
	}
	__atomic_fetch_add(&kslub_os_purges, purged, __ATOMIC_RELAXED);
	errno = saved;
	return purged;
}

/* Grow or shrink a mapping.  With fixed, move it there (the range at fixed
 * must be reserved by the caller); without, only in place. */
void *os_mremap(void *old, size_t old_size, size_t new_size, void *fixed)
{
	int saved = errno;
	void *p;

	if (fixed)
		p = mremap(old, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, fixed);
	else
		p = mremap(old, old_size, new_size, 0);
	errno = saved;
	if (p == MAP_FAILED)
		return NULL;
	__atomic_fetch_add(&kslub_os_mapped, new_size - old_size, __ATOMIC_RELAXED);
	return p;
}

/* Move the pages of [old, old + size) to dst, a range of ours whose own
 * pages are given up, and leave old mapped and empty (it reads as zeros
 * again): a large block changes place without a copy, and the block it
 * leaves costs no memory.  False, and nothing moved, if the kernel refuses
 * (MREMAP_DONTUNMAP before Linux 5.7, or too many mappings). */
bool os_move_pages(void *old, void *dst, size_t size)
{
	int saved = errno;
	void *p;

	if (READ_ONCE(restricted))
		return false;	/* copied instead (see os_restrict) */
	p = mremap(old, size, size, MREMAP_MAYMOVE | MREMAP_FIXED | MREMAP_DONTUNMAP, dst);

	errno = saved;
	if (p == MAP_FAILED)
		return false;
	__atomic_fetch_add(&kslub_os_moves, 1, __ATOMIC_RELAXED);
	return true;
}

/* Ask the kernel to place a range's pages on a node (mbind, through the
 * topology); not under a seccomp filter, which may not list mbind. */
void os_bind_node(void *addr, size_t size, int node)
{
	if (!READ_ONCE(restricted))
		topology_bind(addr, size, node);
}

/* Ask for transparent huge pages on a range (where the system leaves it to
 * madvise): a fault then fills 2 MiB at once. */
void os_hugepage(void *addr, size_t size)
{
	int saved = errno;

	if (!READ_ONCE(restricted))
		madvise(addr, size, MADV_HUGEPAGE);
	errno = saved;
}
