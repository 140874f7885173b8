/* SPDX-License-Identifier: MIT */
/*
 * test_preload.c - the malloc family of preload/malloc.c, called directly.
 *
 * This program links the static libkslub, and it calls malloc, so the
 * linker takes preload/malloc.o from the archive: every malloc in the
 * process, Criterion's and libc's included, is kslub's.  The first tests
 * check exactly that through ksize and the slabinfo counts.
 *
 * Misuse (double free, foreign and interior pointers, realloc of a freed
 * block) runs in a forked child whose stderr goes to a pipe: the child must
 * die with SIGABRT after one line that names the public function.
 */
#include <criterion/criterion.h>

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "slub.h"
#include "child.h"
#include "seccomp.h"

/* The misuse below is on purpose. */
#pragma GCC diagnostic ignored "-Wfree-nonheap-object"
#pragma GCC diagnostic ignored "-Wuse-after-free"
#pragma GCC diagnostic ignored "-Walloc-size-larger-than="

#define PAGE KSLUB_PAGE_SIZE
#define MiB (1024UL * 1024)

/* Not declared by glibc 2.36's headers. */
void cfree(void *p);
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t align, size_t size);
void *__libc_malloc(size_t size);
void __libc_free(void *p);
void *__libc_calloc(size_t n, size_t size);
void *__libc_realloc(void *p, size_t size);
void *__libc_memalign(size_t align, size_t size);
void *__libc_valloc(size_t size);
void *__libc_pvalloc(size_t size);
int __posix_memalign(void **memptr, size_t align, size_t size);

/* C++'s operators, by their mangled names. */
void *_Znwm(size_t size);
void *_Znam(size_t size);
void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt);
void *_ZnamRKSt9nothrow_t(size_t size, const void *nt);
void *_ZnwmSt11align_val_t(size_t size, size_t align);
void *_ZnamSt11align_val_t(size_t size, size_t align);
void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt);
void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt);
void _ZdlPv(void *p);
void _ZdaPv(void *p);
void _ZdlPvm(void *p, size_t size);
void _ZdaPvm(void *p, size_t size);
void _ZdlPvSt11align_val_t(void *p, size_t align);
void _ZdaPvSt11align_val_t(void *p, size_t align);
void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align);
void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align);
void _ZdlPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdaPvRKSt9nothrow_t(void *p, const void *nt);
void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt);
void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt);

static const char nothrow_tag; /* stands for std::nothrow */

/* ---- helpers ---------------------------------------------------------------- */

/* Live objects of the kmalloc cache that serves size.  No cr_assert here:
 * Criterion's reporting thread allocates too, and must stay quiet while a
 * test counts. */
static unsigned long active_objs(size_t size)
{
	struct kslub_cache_info info = { 0 };

	kslub_cache_info(kslub_kmalloc_cache(size), &info);
	return info.active_objs;
}

/* Hide a pointer from the compiler, which would otherwise drop a malloc
 * whose result is only freed, or the misuse of one. */
static void *opaque(void *p)
{
	__asm__ volatile("" : "+r"(p));
	return p;
}

static bool aligned_to(const void *p, size_t align)
{
	return ((uintptr_t)p & (align - 1)) == 0;
}

static void validate_kmalloc_caches(void)
{
	for (size_t size = 8; size <= KSLUB_KMALLOC_MAX_CACHE_SIZE; size *= 2)
		cr_assert_eq(kslub_validate_slab_cache(kslub_kmalloc_cache(size)), 0,
			     "kmalloc cache for %zu bytes is inconsistent", size);
	cr_assert_eq(kslub_validate_slab_cache(kslub_kmalloc_cache(96)), 0);
	cr_assert_eq(kslub_validate_slab_cache(kslub_kmalloc_cache(192)), 0);
}

struct child {
	int status;		/* from waitpid */
	char err[4096];		/* what the child wrote on stderr */
};

/* Run fn in a forked child; the child exits 0 if fn returns. */
static void run_child(void (*fn)(void), struct child *c)
{
	child_run(child_call_void, &fn, &c->status, NULL, 0, c->err, sizeof(c->err));
}

/* fn must make the child die with SIGABRT, saying msg on stderr. */
static void expect_abort(void (*fn)(void), const char *msg)
{
	struct child c;

	run_child(fn, &c);
	cr_assert(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT,
		  "child must die with SIGABRT (status 0x%x), stderr: %s", c.status, c.err);
	cr_assert(strstr(c.err, msg), "stderr must say \"%s\", it says: %s", msg, c.err);
	cr_assert(strstr(c.err, "kslub: "), "the report starts with kslub: %s", c.err);
	cr_assert(!strchr(strchr(c.err, '\n') + 1, '\n'), "the report is one line: %s", c.err);
}

/* ---- malloc is kslub's ---------------------------------------------------------- */
Test(preload, malloc_is_kslubs_kmalloc)
{
	enum { N = 50 };
	unsigned long before = active_objs(100);
	void *p[N];

	for (int i = 0; i < N; i++)
		p[i] = opaque(malloc(100));
	cr_assert_eq(active_objs(100), before + N, "50 malloc(100) are 50 more objects of kmalloc-112");
	cr_assert_eq(malloc_usable_size(p[0]), 112, "malloc(100) is a kmalloc-112 object");
	cr_assert_eq(kslub_ksize(p[0]), 112);
	for (int i = 0; i < N; i++)
		free(p[i]);
	cr_assert_eq(active_objs(100), before, "free gives them back to kmalloc-112");
	validate_kmalloc_caches();
}

Test(preload, malloc_zero_is_a_unique_freeable_pointer)
{
	void *a = malloc(0), *b = malloc(0);

	cr_assert(a && b && a != b);
	cr_assert(a != KSLUB_ZERO_SIZE_PTR);
	cr_assert_eq(malloc_usable_size(a), 16, "malloc(0) is a 16-byte object");
	memset(a, 0xa5, 16);
	free(a);
	free(b);
}

Test(preload, small_sizes_take_kmalloc_16_never_kmalloc_8)
{
	unsigned long k8 = active_objs(8), k16 = active_objs(16);
	void *p[17];

	for (size_t n = 0; n <= 16; n++)
		p[n] = opaque(malloc(n));
	cr_assert_eq(active_objs(8), k8, "kmalloc-8 is never used by malloc");
	cr_assert_eq(active_objs(16), k16 + 17);
	for (size_t n = 0; n <= 16; n++) {
		cr_assert_eq(malloc_usable_size(p[n]), 16);
		free(p[n]);
	}
}

Test(preload, every_malloc_result_is_16_byte_aligned)
{
	static const size_t sizes[] = { 1, 7, 8, 9, 15, 17, 24, 33, 48, 65, 80, 96, 100, 150, 192, 200,
					300, 1000, 3000, 5000, 8192, 8193, 20000, 100000, 5 * MiB };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		void *p[8];

		for (int j = 0; j < 8; j++) {
			p[j] = malloc(sizes[i]);
			cr_assert(p[j] && aligned_to(p[j], 16), "malloc(%zu) = %p", sizes[i], p[j]);
			cr_assert_geq(malloc_usable_size(p[j]), sizes[i]);
			memset(p[j], 0x5a, sizes[i]);
		}
		for (int j = 0; j < 8; j++)
			free(p[j]);
	}
	validate_kmalloc_caches();
}

/* malloc finds its cache by the size itself up to 1 KiB and by 16-byte steps
 * above: either way, the object of kmalloc's cache for the size (kmalloc-16
 * below 16 bytes), from every size up to the largest cache. */
Test(preload, malloc_of_every_size_takes_kmallocs_cache_for_it)
{
	for (size_t size = 0; size <= KSLUB_KMALLOC_MAX_CACHE_SIZE; size++) {
		struct kmem_cache *s = kslub_kmalloc_cache(size < 16 ? 16 : size);
		void *p = malloc(size);

		cr_assert_not_null(p);
		cr_assert_eq(malloc_usable_size(p), kslub_kmem_cache_size(s), "malloc(%zu): %zu bytes, %s has %u",
			     size, malloc_usable_size(p), kslub_kmem_cache_name(s), kslub_kmem_cache_size(s));
		free(p);
	}
	validate_kmalloc_caches();
}

Test(preload, malloc_out_of_memory_is_null_with_enomem)
{
	static const size_t sizes[] = { SIZE_MAX, SIZE_MAX - 4096, PTRDIFF_MAX, (size_t)1 << 62 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		errno = 0;
		cr_assert_null(malloc(sizes[i]), "malloc(%zu) must fail", sizes[i]);
		cr_assert_eq(errno, ENOMEM);
	}
}

/* free() of an object of another slab than the thread's cpu slab puts it on
 * the thread's sheaf, and malloc, its cpu freelist empty, takes the sheaf's
 * objects back, the last freed first, with their free pointers wiped: both
 * in the fast paths' miss branches. */
Test(preload, malloc_takes_back_what_free_put_on_the_sheaf_last_in_first_out)
{
	enum { SIZE = 3000, FREED = 10 };
	struct kmem_cache *s = kslub_kmalloc_cache(SIZE);
	unsigned int per_slab = oo_objects(s->oo), n = 0, nr_freed = 0;
	unsigned int total = 4 * per_slab + 64;
	void **objs = calloc(total, sizeof(void *));
	void *freed[FREED];
	struct kmem_cache_cpu *c;

	cr_assert_not_null(objs);
	for (unsigned int i = 0; i < 4 * per_slab; i++)
		objs[n++] = opaque(malloc(SIZE));
	c = this_cpu_ptr(s);
	while (c->freelist) {	/* the cpu freelist empty, so that malloc takes from the sheaf */
		cr_assert_lt(n, total);
		objs[n++] = opaque(malloc(SIZE));
	}
	cr_assert_not_null(cpu_slab(c));
	for (unsigned int i = 0; i < n && nr_freed < FREED; i += 3) {
		unsigned int before = cpu_sheaf_size(c->sheaf);

		if (!objs[i] || virt_to_slab(objs[i]) == cpu_slab(c))
			continue;
		free(objs[i]);
		cr_assert_eq(cpu_sheaf_size(c->sheaf), before + 1, "free %u did not go to the sheaf", nr_freed);
		cr_assert_eq(cpu_sheaf(c->sheaf)->objects[before], objs[i]);
		freed[nr_freed++] = objs[i];
		objs[i] = NULL;
	}
	cr_assert_eq(nr_freed, FREED);
	cr_assert_null(c->freelist);
	for (int i = FREED - 1; i >= 0; i--) {
		void *p = malloc(SIZE);

		cr_assert_eq(p, freed[i], "malloc %d is not the object freed %d-th", FREED - 1 - i, i);
		cr_assert_null(*(void **)p, "the free pointer slot was not wiped");
		free(p);	/* back to the sheaf: the next malloc takes it again */
		cr_assert_eq(malloc(SIZE), p);
	}
	for (unsigned int i = 0; i < n; i++)
		free(objs[i]);
	for (int i = 0; i < FREED; i++)
		free(freed[i]);
	free(objs);
	validate_kmalloc_caches();
}

/* In a child: malloc of a kmalloc size until the slabs cannot grow under an
 * address space limit; exits 0 if it ends in NULL with ENOMEM. */
static void small_mallocs_until_out_of_memory(void)
{
	static const size_t sizes[] = { 2048, 48 };
	unsigned long vm_pages = 0;
	struct rlimit low;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%lu", &vm_pages) != 1)
		_exit(2);
	fclose(f);
	if (getrlimit(RLIMIT_AS, &low))
		_exit(3);
	low.rlim_cur = vm_pages * PAGE + 32 * MiB;
	if (setrlimit(RLIMIT_AS, &low))
		_exit(3);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		unsigned long n;

		for (n = 0; n < (1UL << 20); n++) {
			errno = 0;
			if (!malloc(sizes[i]))
				break;
		}
		if (n == 1UL << 20 || errno != ENOMEM)
			_exit(4);
	}
}

/* An empty freelist sends malloc to slab_alloc_slow with the cache it found,
 * and a slab that cannot be made is NULL with ENOMEM there too. */
Test(preload, malloc_of_a_small_size_out_of_memory_is_null_with_enomem)
{
	struct child c;

	run_child(small_mallocs_until_out_of_memory, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "child status 0x%x, stderr: %s", c.status,
		  c.err);
}

Test(preload, free_of_null_does_nothing)
{
	free(NULL);
	cfree(NULL);
	free_sized(NULL, 0);
	_ZdlPv(NULL);
}

Test(preload, cfree_free_sized_and_free_aligned_sized_free)
{
	unsigned long before = active_objs(200);
	void *a = malloc(200), *b = malloc(200), *c = aligned_alloc(64, 200);

	free_sized(a, 200);
	cfree(b);
	free_aligned_sized(c, 64, 200);
	cr_assert_eq(active_objs(200), before);
}

/* ---- calloc ------------------------------------------------------------------ */
Test(preload, calloc_returns_zeroed_memory_even_when_reused)
{
	static const size_t sizes[] = { 1, 16, 100, 1000, 8000, 20000, 300000, 5 * MiB };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i];
		unsigned char *p = malloc(n), *q;

		memset(p, 0xff, n);
		free(p);
		q = calloc(1, n);
		cr_assert_not_null(q);
		for (size_t j = 0; j < n; j++)
			cr_assert_eq(q[j], 0, "calloc(%zu) byte %zu is %d", n, j, q[j]);
		free(q);
	}
}

static size_t rss_bytes(void)
{
	long pages = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (f) {
		if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
			resident = 0;
		fclose(f);
	}
	return (size_t)resident * (size_t)sysconf(_SC_PAGESIZE);
}

Test(preload, calloc_of_fresh_pages_does_not_touch_them)
{
	size_t before = rss_bytes();
	void *p = opaque(calloc(1, 3 * MiB));
	size_t after = rss_bytes();

	cr_assert_not_null(p);
	cr_assert_lt(after, before + MiB, "calloc(3 MiB) of fresh pages made %zu bytes resident", after - before);
	free(p);
}

Test(preload, calloc_overflow_is_null_with_enomem)
{
	errno = 0;
	cr_assert_null(calloc(SIZE_MAX / 2, 3));
	cr_assert_eq(errno, ENOMEM);
	errno = 0;
	cr_assert_null(calloc((size_t)1 << 33, (size_t)1 << 33));
	cr_assert_eq(errno, ENOMEM);
}

/* ---- realloc ----------------------------------------------------------------- */
Test(preload, realloc_of_null_is_malloc)
{
	void *p = realloc(NULL, 100);

	cr_assert_eq(malloc_usable_size(p), 112);
	free(p);
}

Test(preload, realloc_to_zero_frees_and_returns_null)
{
	unsigned long before = active_objs(300);
	void *p = opaque(malloc(300));

	cr_assert_null(realloc(p, 0));
	cr_assert_eq(active_objs(300), before, "realloc(p, 0) freed p");
}

static void fill(unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31 + seed);
}

static void check_fill(const unsigned char *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(p[i], (unsigned char)(i * 31 + seed), "byte %zu lost", i);
}

Test(preload, realloc_keeps_the_contents_across_every_kind_of_block)
{
	static const size_t sizes[] = { 10, 24, 100, 1000, 8192, 9000, 70000, 3 * MiB, 5 * MiB, 40 * MiB, 6 * MiB,
					100000, 5000, 50, 16 };
	size_t prev = 10;
	unsigned char *p = malloc(prev);

	fill(p, prev, 7);
	for (size_t i = 1; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], keep = n < prev ? n : prev;

		p = realloc(p, n);
		cr_assert_not_null(p);
		cr_assert(aligned_to(p, 16));
		cr_assert_geq(malloc_usable_size(p), n);
		check_fill(p, keep, 7);
		fill(p, n, 7);
		prev = n;
	}
	free(p);
	validate_kmalloc_caches();
}

Test(preload, realloc_shrinking_below_half_moves_to_a_smaller_class)
{
	unsigned long before = active_objs(1000);
	unsigned char *p = malloc(1000), *q;

	fill(p, 1000, 3);
	q = realloc(p, 600);
	cr_assert_eq(q, p, "shrinking to more than half stays in place");
	q = realloc(q, 100);
	cr_assert_neq(q, p, "shrinking below half moves");
	cr_assert_eq(malloc_usable_size(q), 112, "to kmalloc-112");
	cr_assert_eq(active_objs(1000), before, "the kmalloc-1k object is free again");
	check_fill(q, 100, 3);
	free(q);

	p = malloc(64 * 1024);	/* a large block, shrunk to a slab object */
	fill(p, 64 * 1024, 5);
	q = realloc(p, 1000);
	cr_assert_eq(malloc_usable_size(q), 1024);
	check_fill(q, 1000, 5);
	free(q);
}

/* A large block stays where it is while the size fits it and what it would
 * free is less than a quarter of it (its slack); past that it gives its tail
 * pages back, and a size above it moves or grows it. */
Test(preload, realloc_within_a_large_block_stays_and_keeps_its_slack)
{
	unsigned char *p = malloc(10000), *q;
	size_t block = malloc_usable_size(p);

	cr_assert_eq(block, 3 * 4096, "10000 bytes take a large block of 3 pages");
	fill(p, 10000, 9);
	for (size_t n = 8193; n <= block; n += 409) {
		q = realloc(p, n);
		cr_assert_eq(q, p, "realloc(%zu) of a 3-page block stays", n);
		cr_assert_eq(malloc_usable_size(q), block, "and keeps its pages");
	}
	q = realloc(p, block + 1);
	cr_assert_geq(malloc_usable_size(q), block + 1);
	check_fill(q, 10000, 9);
	free(q);

	p = malloc(64 * 4096);
	block = malloc_usable_size(p);
	cr_assert_eq(block, 64 * 4096);
	fill(p, 48 * 4096, 4);
	q = realloc(p, 49 * 4096);
	cr_assert_eq(q, p);
	cr_assert_eq(malloc_usable_size(q), block, "15 pages of slack are kept");
	q = realloc(p, 48 * 4096);
	cr_assert_eq(q, p);
	cr_assert_eq(malloc_usable_size(q), 48 * 4096, "16 pages, a quarter, go back");
	check_fill(q, 48 * 4096, 4);
	free(q);
}

Test(preload, realloc_growing_a_mapped_block_keeps_it_usable)
{
	unsigned long before = READ_ONCE(kslub_os_mmaps);
	unsigned char *p = opaque(malloc(5 * MiB));

	cr_assert_gt(READ_ONCE(kslub_os_mmaps), before, "a block above 4 MiB is a mapping of its own");
	fill(p, 5 * MiB, 9);
	p = realloc(p, 64 * MiB);
	cr_assert_not_null(p);
	cr_assert_geq(malloc_usable_size(p), 64 * MiB);
	check_fill(p, 5 * MiB, 9);
	p[64 * MiB - 1] = 1;
	p = realloc(p, 5 * MiB);
	check_fill(p, 5 * MiB, 9);
	free(p);
}

Test(preload, realloc_failure_keeps_the_block)
{
	unsigned char *p = malloc(100), *q;

	fill(p, 100, 1);
	errno = 0;
	q = realloc(p, SIZE_MAX / 2);
	cr_assert_null(q);
	cr_assert_eq(errno, ENOMEM);
	check_fill(p, 100, 1);
	free(p);
}

Test(preload, reallocarray_overflow_is_null_with_enomem)
{
	void *p = malloc(10), *q;

	errno = 0;
	cr_assert_null(reallocarray(p, SIZE_MAX / 2, 3));
	cr_assert_eq(errno, ENOMEM);
	q = reallocarray(p, 100, 10);
	cr_assert_geq(malloc_usable_size(q), 1000);
	free(q);
}

/* ---- aligned allocation --------------------------------------------------------- */
Test(preload, posix_memalign_rejects_alignments_that_are_not_a_power_of_two_multiple_of_a_pointer)
{
	static const size_t bad[] = { 0, 1, 2, 4, 12, 24, 48, 100, 4097, SIZE_MAX };
	void *p = (void *)1;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(posix_memalign(&p, bad[i], 64), EINVAL, "alignment %zu", bad[i]);
		cr_assert_eq(p, (void *)1, "memptr is untouched on error");
	}
}

Test(preload, posix_memalign_works_for_every_power_of_two_up_to_64_mib)
{
	for (size_t align = sizeof(void *); align <= 64 * MiB; align *= 2) {
		const size_t sizes[] = { 0, 1, align / 2 + 1, align, align + 1, 3 * align / 2, 100000 };

		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			unsigned char *p = NULL;
			size_t n = sizes[i];

			if (n > 96 * MiB)
				continue;
			cr_assert_eq(posix_memalign((void **)&p, align, n), 0, "align %zu size %zu", align, n);
			cr_assert(aligned_to(p, align < 16 ? 16 : align), "align %zu size %zu: %p", align, n, p);
			cr_assert_geq(malloc_usable_size(p), n);
			if (n) {
				p[0] = 1;
				p[n - 1] = 2;
			}
			free(p);
		}
	}
	validate_kmalloc_caches();
}

Test(preload, posix_memalign_out_of_memory_is_enomem)
{
	void *p = (void *)1;

	cr_assert_eq(posix_memalign(&p, 64, SIZE_MAX / 2), ENOMEM);
	cr_assert_eq(p, (void *)1);
}

Test(preload, memalign_and_aligned_alloc_accept_what_glibc_accepts)
{
	void *p;

	/* at most 16: malloc's alignment */
	p = memalign(1, 10);
	cr_assert(p && aligned_to(p, 16));
	free(p);
	p = aligned_alloc(0, 10);
	cr_assert(p && aligned_to(p, 16));
	free(p);
	/* not a power of two: rounded up to one */
	p = memalign(48, 10);
	cr_assert(p && aligned_to(p, 64));
	free(p);
	p = aligned_alloc(3000, 100);
	cr_assert(p && aligned_to(p, 4096));
	free(p);
	for (size_t align = 32; align <= 8 * MiB; align *= 4) {
		p = aligned_alloc(align, align * 2);
		cr_assert(p && aligned_to(p, align), "aligned_alloc(%zu)", align);
		free(p);
	}
	/* beyond SIZE_MAX / 2 + 1: EINVAL */
	errno = 0;
	cr_assert_null(memalign(SIZE_MAX / 2 + 2, 10));
	cr_assert_eq(errno, EINVAL);
}

Test(preload, valloc_is_page_aligned_and_pvalloc_rounds_up_to_pages)
{
	void *p = valloc(100), *q = pvalloc(100), *r = pvalloc(0);

	cr_assert(p && aligned_to(p, PAGE));
	cr_assert(q && aligned_to(q, PAGE));
	cr_assert_geq(malloc_usable_size(q), PAGE, "pvalloc(100) holds a page");
	cr_assert(r && aligned_to(r, PAGE));
	memset(q, 1, PAGE);
	free(p);
	free(q);
	free(r);
	q = pvalloc(PAGE + 1);
	cr_assert_geq(malloc_usable_size(q), 2 * PAGE);
	free(q);
	errno = 0;
	cr_assert_null(pvalloc(SIZE_MAX - 10));
	cr_assert_eq(errno, ENOMEM);
}

/* ---- glibc's extras ---------------------------------------------------------- */
Test(preload, malloc_usable_size_is_ksize)
{
	void *p = malloc(5000), *q = malloc(10000);

	cr_assert_eq(malloc_usable_size(NULL), 0);
	cr_assert_eq(malloc_usable_size(p), 5456, "malloc(5000) is a kmalloc-5456 object");
	cr_assert_eq(malloc_usable_size(q), 3 * PAGE, "a large block holds whole pages");
	cr_assert_eq(malloc_usable_size(q), kslub_ksize(q));
	free(p);
	free(q);
}

Test(preload, malloc_trim_gives_memory_back)
{
	void *p[64];

	for (int i = 0; i < 64; i++) {
		p[i] = malloc(256 * 1024);
		memset(p[i], 1, 256 * 1024);
	}
	for (int i = 0; i < 64; i++)
		free(p[i]);
	cr_assert_eq(malloc_trim(0), 1, "16 MiB were freed: trim releases some");
	cr_assert_eq(mallopt(M_ARENA_MAX, 1), 1, "mallopt accepts and ignores");
}

/* ---- purges and seccomp -------------------------------------------------------- */

static size_t rss_now(void)
{
	unsigned long size = 0, resident = 0;
	FILE *f = fopen("/proc/self/statm", "r");

	if (!f || fscanf(f, "%lu %lu", &size, &resident) != 2)
		_exit(90);
	fclose(f);
	return resident * PAGE;
}

/* 128 blocks of 128 KiB touched, every other one freed (so that a purge
 * has ranges apart from each other, which go by process_madvise where the
 * kernel takes it), then the rest, then malloc_trim: the child exits with
 * a code of its own unless the pages come back and read as zeros. */
static void purge_round(void)
{
	enum { N = 128, SZ = 128 * 1024 };
	static unsigned char *p[N];
	size_t before = rss_now(), full;

	for (int i = 0; i < N; i++) {
		p[i] = opaque(malloc(SZ));
		if (!p[i])
			_exit(91);
		memset(p[i], i + 1, SZ);
	}
	full = rss_now();
	if (full < before + N * (size_t)SZ / 2)
		_exit(92);
	/* after each half: a few pages of kslub's own (a new arena's memmap)
	 * may stay, not a group of ranges (up to 2 MiB); the second half's
	 * blocks merge with the first's, and their purge would hide one */
	for (int pass = 0; pass < 2; pass++) {
		for (int i = pass; i < N; i += 2)
			free(p[i]);
		malloc_trim(0);
		if (rss_now() > before + (1 - pass) * (N / 2) * (size_t)SZ + MiB)
			_exit(93);
	}
	for (int i = 0; i < N; i++) {
		unsigned char *q = opaque(malloc(SZ));

		for (size_t j = 0; j < SZ; j += PAGE)
			if (q[j])
				_exit(94);	/* given back, but not emptied */
		p[i] = q;
	}
	for (int i = 0; i < N; i++)
		free(p[i]);
	malloc_trim(0);
}

/* fn must let the child exit 0 (purge_round's own codes say what failed). */
static void expect_clean_exit(void (*fn)(void))
{
	struct child c;

	run_child(fn, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0,
		  "the child ended with status 0x%x (signal %d, exit %d), stderr: %s", c.status,
		  WIFSIGNALED(c.status) ? WTERMSIG(c.status) : 0, WIFEXITED(c.status) ? WEXITSTATUS(c.status) : -1,
		  c.err);
}

/* A program that puts itself under a seccomp filter through libc's prctl
 * (sshd's sandbox does) after kslub gave pages back with process_madvise:
 * a filter that kills for every call it does not list must not see one. */
static void purge_then_sandbox_then_purge(void)
{
	purge_round();
	if (seccomp_answer(NR_PROCESS_MADVISE, SECCOMP_RET_KILL_PROCESS, true))
		_exit(95);
	purge_round();
}

Test(preload, a_program_that_sandboxes_itself_is_not_killed_by_a_purge)
{
	expect_clean_exit(purge_then_sandbox_then_purge);
}

/* A kernel that refuses process_madvise (here a filter put in place by
 * raw system calls, which kslub does not see, answers ENOSYS as a kernel
 * without the call does): the ranges go back by madvise, and nothing is
 * lost. */
static void purge_then_refuse_then_purge(void)
{
	purge_round();
	if (seccomp_answer(NR_PROCESS_MADVISE, SECCOMP_RET_ERRNO | ENOSYS, false))
		_exit(95);
	purge_round();
	purge_round();
}

Test(preload, a_kernel_that_refuses_process_madvise_gets_the_pages_back_by_madvise)
{
	expect_clean_exit(purge_then_refuse_then_purge);
}

/* Small objects in slabs of arenas mapped now: their caches found by the
 * struct page where the arena has no part of the slot map. */
static void small_objects_round(void)
{
	enum { N = 20000 };
	static unsigned char *p[N];

	for (int i = 0; i < N; i++) {
		p[i] = opaque(malloc(100 + i % 200));
		if (!p[i])
			_exit(91);
		memset(p[i], i & 0xff, 100);
	}
	for (int i = 0; i < N; i++) {
		if (p[i][99] != (i & 0xff))
			_exit(97);
		free(p[i]);
	}
}

/* A program that puts itself under a sandbox that lists what glibc's
 * malloc makes in a program of one thread (through libc's prctl, as sshd
 * and libseccomp do), and kills for madvise, process_madvise and
 * mprotect: kslub makes none of them from then on, and still gives the
 * pages back (mmap over them); new arenas (trim unmapped the old ones)
 * have no part of the slot map. */
static void purge_then_strict_sandbox_then_purge(void)
{
	purge_round();
	if (seccomp_allow_only_glibc_malloc(true, true))
		_exit(95);
	purge_round();
	small_objects_round();
	purge_round();
}

Test(preload, a_program_under_a_strict_sandbox_is_not_killed_and_gets_its_pages_back)
{
	expect_clean_exit(purge_then_strict_sandbox_then_purge);
}

/* A filter that kslub does not see starts to refuse madvise and
 * process_madvise after the first purges: the ranges go back by mmap. */
static void purge_then_refuse_madvise_then_purge(void)
{
	purge_round();
	if (seccomp_refuse_purges(false))
		_exit(95);
	purge_round();
	purge_round();
}

Test(preload, pages_go_back_by_mmap_when_madvise_is_refused)
{
	expect_clean_exit(purge_then_refuse_madvise_then_purge);
}

/* With every way refused (mmap with MAP_FIXED too), freed pages stay
 * resident, free for reuse, and dirty: calloc clears them.  Taken for
 * given back, they would reach calloc with the old bytes. */
static void refuse_every_purge_then_calloc(void)
{
	enum { N = 128, SZ = 128 * 1024 };
	static unsigned char *p[N];

	if (seccomp_refuse_purges(true))
		_exit(95);
	for (int round = 0; round < 2; round++) {
		for (int i = 0; i < N; i++) {
			p[i] = opaque(malloc(SZ));
			if (!p[i])
				_exit(91);
			memset(p[i], 0xa5, SZ);
		}
		for (int i = 0; i < N; i++)
			free(p[i]);
		malloc_trim(0);
		for (int i = 0; i < N; i++) {
			p[i] = opaque(calloc(1, SZ));
			if (!p[i])
				_exit(91);
			for (size_t j = 0; j < SZ; j++)
				if (p[i][j])
					_exit(96);	/* the old bytes, taken for zeros */
		}
		for (int i = 0; i < N; i++)
			free(p[i]);
		malloc_trim(0);
	}
}

Test(preload, pages_that_cannot_go_back_stay_dirty_for_calloc)
{
	expect_clean_exit(refuse_every_purge_then_calloc);
}

/* A program asked for a slabinfo report (KSLUB_SLABINFO) puts itself under
 * a sandbox that lists no call to open a file: kslub's report at exit
 * would have it killed, so it is not written, and a warning says so.  Run
 * this program again, as the child. */
__attribute__((constructor)) static void sandboxed_report_child(void)
{
	if (!getenv("KSLUB_TEST_SANDBOXED_REPORT"))
		return;
	free(opaque(malloc(100)));
	if (seccomp_allow_only_glibc_malloc(true, false))
		_exit(95);
	for (int i = 0; i < 1000; i++)
		free(opaque(malloc((size_t)i * 64)));
	exit(0);
}

Test(preload, a_sandboxed_program_exits_without_the_report_it_could_not_write)
{
	char path[64];
	int status;

	snprintf(path, sizeof(path), "/tmp/kslub-test-sandboxed.%d.slabinfo", (int)getpid());
	unlink(path);
	status = child_exec_self("KSLUB_TEST_SANDBOXED_REPORT", path, NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the sandboxed child ended with status %#x (signal %d): killed at exit for the report?", status,
		  WIFSIGNALED(status) ? WTERMSIG(status) : 0);
	cr_assert_neq(access(path, F_OK), 0, "the report was written under the sandbox");
}

Test(preload, mallinfo_counts_bytes_in_use_and_free)
{
	struct mallinfo2 a, b, c;
	void *p;

	{
		/* bracketed: Criterion's own thread may map memory meanwhile */
		unsigned long low = READ_ONCE(kslub_os_mapped);

		a = mallinfo2();
		cr_assert(a.arena >= low && a.arena <= READ_ONCE(kslub_os_mapped), "arena is the bytes mapped");
	}
	p = opaque(malloc(MiB));
	memset(p, 1, MiB);
	b = mallinfo2();
	cr_assert_geq(b.uordblks, a.uordblks + MiB, "in use grows by the block (%zu -> %zu)", a.uordblks,
		      b.uordblks);
	free(p);
	c = mallinfo2();
	cr_assert_leq(c.uordblks, b.uordblks - MiB);
	cr_assert_gt(c.fordblks, 0);
	cr_assert_leq(c.uordblks + c.fordblks, c.arena);
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
	{
		struct mallinfo m = mallinfo();

		cr_assert_gt(m.arena, 0);
		cr_assert_gt(m.uordblks, 0);
	}
#pragma GCC diagnostic pop
}

static void call_malloc_stats(void)
{
	malloc_stats();
}

Test(preload, malloc_stats_prints_the_slabinfo_report_on_stderr)
{
	struct child c;

	run_child(call_malloc_stats, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
	cr_assert(strstr(c.err, "in use bytes"), "%s", c.err);
	cr_assert(strstr(c.err, "slabinfo - version: 2.1"), "%s", c.err);
	cr_assert(strstr(c.err, "kmalloc-128"), "%s", c.err);
}

Test(preload, malloc_info_writes_an_xml_summary)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_eq(malloc_info(0, f), 0);
	fclose(f);
	cr_assert(strstr(buf, "<malloc version=\"kslub-1\">"), "%s", buf);
	cr_assert(strstr(buf, "kmalloc-64"), "%s", buf);
	cr_assert(strstr(buf, "</malloc>"), "%s", buf);
	free(buf);
	errno = 0;
	cr_assert_eq(malloc_info(1, stdout), -1);
	cr_assert_eq(errno, EINVAL);
}

Test(preload, glibc_internal_names_are_kslubs)
{
	void *p = __libc_malloc(100), *q = __libc_calloc(10, 10), *r = __libc_memalign(256, 10);
	void *v = __libc_valloc(10), *pv = __libc_pvalloc(10), *m = NULL;

	cr_assert_eq(malloc_usable_size(p), 112);
	cr_assert_eq(malloc_usable_size(q), 112);
	cr_assert(aligned_to(r, 256) && aligned_to(v, PAGE) && aligned_to(pv, PAGE));
	cr_assert_eq(__posix_memalign(&m, 64, 10), 0);
	cr_assert(aligned_to(m, 64));
	p = __libc_realloc(p, 1000);
	cr_assert_eq(malloc_usable_size(p), 1024);
	__libc_free(p);
	__libc_free(q);
	__libc_free(r);
	__libc_free(v);
	__libc_free(pv);
	__libc_free(m);
}

/* ---- C++ operators ------------------------------------------------------------ */
Test(preload, operator_new_and_delete_in_every_form)
{
	unsigned long before = active_objs(100);
	void *p[10];

	p[0] = _Znwm(100);
	p[1] = _Znam(100);
	p[2] = _ZnwmRKSt9nothrow_t(100, &nothrow_tag);
	p[3] = _ZnamRKSt9nothrow_t(100, &nothrow_tag);
	p[4] = _Znwm(100);
	p[5] = _Znam(100);
	cr_assert_eq(active_objs(100), before + 6);
	cr_assert_eq(malloc_usable_size(p[0]), 112);
	_ZdlPv(p[0]);
	_ZdaPv(p[1]);
	_ZdlPvRKSt9nothrow_t(p[2], &nothrow_tag);
	_ZdaPvRKSt9nothrow_t(p[3], &nothrow_tag);
	_ZdlPvm(p[4], 100);
	_ZdaPvm(p[5], 100);
	cr_assert_eq(active_objs(100), before);

	p[0] = _ZnwmSt11align_val_t(100, 4096);
	p[1] = _ZnamSt11align_val_t(100, 256);
	p[2] = _ZnwmSt11align_val_tRKSt9nothrow_t(100, 128, &nothrow_tag);
	p[3] = _ZnamSt11align_val_tRKSt9nothrow_t(100, 64 * 1024, &nothrow_tag);
	p[4] = _ZnwmSt11align_val_t(10, 32);
	p[5] = _ZnamSt11align_val_t(10, 32);
	cr_assert(aligned_to(p[0], 4096) && aligned_to(p[1], 256) && aligned_to(p[2], 128) &&
		  aligned_to(p[3], 64 * 1024) && aligned_to(p[4], 32) && aligned_to(p[5], 32));
	_ZdlPvSt11align_val_t(p[0], 4096);
	_ZdaPvSt11align_val_t(p[1], 256);
	_ZdlPvSt11align_val_tRKSt9nothrow_t(p[2], 128, &nothrow_tag);
	_ZdaPvSt11align_val_tRKSt9nothrow_t(p[3], 64 * 1024, &nothrow_tag);
	_ZdlPvmSt11align_val_t(p[4], 10, 32);
	_ZdaPvmSt11align_val_t(p[5], 10, 32);

	p[0] = _Znwm(0);
	p[1] = _Znwm(0);
	cr_assert(p[0] && p[1] && p[0] != p[1], "new of 0 bytes is a unique pointer");
	_ZdlPv(p[0]);
	_ZdlPv(p[1]);
	validate_kmalloc_caches();
}

Test(preload, nothrow_new_returns_null_on_failure)
{
	cr_assert_null(_ZnwmRKSt9nothrow_t(SIZE_MAX, &nothrow_tag));
	cr_assert_null(_ZnamRKSt9nothrow_t(SIZE_MAX / 2, &nothrow_tag));
	cr_assert_null(_ZnwmSt11align_val_tRKSt9nothrow_t(SIZE_MAX / 2, 64, &nothrow_tag));
}

static void new_too_much(void)
{
	_Znwm(SIZE_MAX / 2);
}

Test(preload, operator_new_failure_without_a_cxx_runtime_aborts_with_a_message)
{
	expect_abort(new_too_much, "operator new(): out of memory");
}

/* ---- misuse ---------------------------------------------------------------------- */
static void double_free(void)
{
	void *p = opaque(malloc(100));

	free(p);
	free(opaque(p));
}

static void double_free_large(void)
{
	void *p = opaque(malloc(100000));

	free(p);
	free(opaque(p));
}

/* a freed mapping stays in kslub's cache of mappings: still a double free */
static void double_free_huge(void)
{
	void *p = opaque(malloc(20 << 20));

	free(p);
	free(opaque(p));
}

static void free_of_stack_pointer(void)
{
	char buf[64];

	free(opaque(buf));
}

static void free_of_interior_pointer(void)
{
	char *p = opaque(malloc(100));

	free(opaque(p + 16));
}

static void free_of_interior_pointer_of_large_block(void)
{
	char *p = opaque(malloc(100000));

	free(opaque(p + 4096));
}

/* realloc of a freed 100-byte object to size */
static void realloc_freed_to(size_t size)
{
	void *p = opaque(malloc(100));

	free(p);
	p = realloc(opaque(p), size);
	free(opaque(p));
}

static void realloc_of_freed_pointer(void)
{
	realloc_freed_to(50);
}

static void realloc_of_freed_pointer_growing(void)
{
	realloc_freed_to(5000);
}

/* the same size: realloc would keep a live object where it is */
static void realloc_of_freed_pointer_same_size(void)
{
	realloc_freed_to(100);
}

/* realloc of a freed large block (pages from the buddy) to its own size:
 * a live one would stay where it is */
static void realloc_of_freed_large_block(void)
{
	void *p = opaque(malloc(20000));

	free(p);
	p = realloc(opaque(p), 20000);
	free(opaque(p));
}

static void realloc_of_interior_pointer(void)
{
	char *p = opaque(malloc(100));

	p = realloc(opaque(p + 16), 80);
	free(opaque(p));
}

static void usable_size_of_interior_pointer(void)
{
	char *p = opaque(malloc(100));

	malloc_usable_size(opaque(p + 16));
}

static void delete_twice(void)
{
	void *p = _Znwm(40);

	_ZdlPv(p);
	_ZdlPv(p);
}

static void usable_size_of_stack_pointer(void)
{
	char buf[64];

	malloc_usable_size(opaque(buf));
}

Test(preload, double_free_aborts)
{
	expect_abort(double_free, "free(): double free");
}

Test(preload, double_free_of_a_large_block_aborts)
{
	expect_abort(double_free_large, "free(): invalid pointer");
	expect_abort(double_free_huge, "free(): invalid pointer: not allocated by kslub");
}

Test(preload, free_of_a_stack_pointer_aborts)
{
	expect_abort(free_of_stack_pointer, "free(): invalid pointer: not allocated by kslub");
}

Test(preload, free_of_an_interior_pointer_aborts)
{
	expect_abort(free_of_interior_pointer, "free(): invalid pointer: not the start of an object");
	expect_abort(free_of_interior_pointer_of_large_block, "free(): invalid pointer");
}

Test(preload, realloc_of_a_freed_pointer_aborts)
{
	expect_abort(realloc_of_freed_pointer, "realloc(): double free");
	expect_abort(realloc_of_freed_pointer_growing, "realloc(): double free");
	expect_abort(realloc_of_freed_pointer_same_size, "realloc(): double free");
	expect_abort(realloc_of_freed_large_block, "realloc(): invalid pointer: memory is free");
}

Test(preload, realloc_of_an_interior_pointer_aborts)
{
	expect_abort(realloc_of_interior_pointer, "realloc(): invalid pointer: not the start of an object");
}

Test(preload, operator_delete_twice_aborts_naming_operator_delete)
{
	expect_abort(delete_twice, "operator delete(): double free");
}

Test(preload, malloc_usable_size_of_a_foreign_pointer_aborts)
{
	expect_abort(usable_size_of_stack_pointer, "malloc_usable_size(): invalid pointer");
	expect_abort(usable_size_of_interior_pointer, "malloc_usable_size(): invalid pointer: not the start of an object");
}

/* ---- threads and fork ---------------------------------------------------------- */
#define NR_THREADS 4

static void churn(unsigned seed, int rounds)
{
	void *slots[256] = { 0 };

	for (int i = 0; i < rounds; i++) {
		unsigned r = seed = seed * 1103515245u + 12345u;
		unsigned k = (r >> 8) & 255;
		size_t n = (r >> 16) % 5 == 0 ? (r >> 12) % 70000 : (r >> 12) % 600;

		if (slots[k]) {
			if (r & 1) {
				free(slots[k]);
				slots[k] = NULL;
				continue;
			}
			slots[k] = realloc(slots[k], n + 1);
		} else {
			slots[k] = (r & 2) ? calloc(1, n) : malloc(n);
		}
		if (slots[k])
			memset(slots[k], (int)k, n ? 1 : 0);
	}
	for (int k = 0; k < 256; k++)
		free(slots[k]);
}

static void *churn_thread(void *arg)
{
	churn((unsigned)(uintptr_t)arg, 20000);
	return NULL;
}

Test(preload, threads_allocate_and_free_across_each_other)
{
	pthread_t t[NR_THREADS];

	for (int round = 0; round < 3; round++) {
		for (int i = 0; i < NR_THREADS; i++)
			cr_assert_eq(pthread_create(&t[i], NULL, churn_thread, (void *)(uintptr_t)(i + round * 10)), 0);
		for (int i = 0; i < NR_THREADS; i++)
			pthread_join(t[i], NULL);
	}
	validate_kmalloc_caches();
}

/* A key created after kslub's runs its destructor after kslub flushed the
 * thread: malloc and free still work there. */
static pthread_key_t late_key;

static void late_destructor(void *arg)
{
	void *p = malloc(100), *q = malloc(20000);

	free(arg);
	memset(p, 1, 100);
	free(p);
	free(q);
}

static void *thread_with_late_key(void *arg)
{
	(void)arg;
	churn(5, 1000);
	pthread_setspecific(late_key, malloc(300));
	return NULL;
}

Test(preload, malloc_after_the_thread_exit_flush)
{
	pthread_t t[NR_THREADS];

	free(opaque(malloc(1)));	/* kslub's key first */
	cr_assert_eq(pthread_key_create(&late_key, late_destructor), 0);
	for (int i = 0; i < NR_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, thread_with_late_key, NULL), 0);
	for (int i = 0; i < NR_THREADS; i++)
		pthread_join(t[i], NULL);
	validate_kmalloc_caches();
}

static volatile int stop_churning;

static void *churn_until_stopped(void *arg)
{
	unsigned seed = (unsigned)(uintptr_t)arg;

	while (!__atomic_load_n(&stop_churning, __ATOMIC_RELAXED))
		churn(seed++, 2000);
	return NULL;
}

static void *child_thread(void *arg)
{
	churn((unsigned)(uintptr_t)arg, 5000);
	return NULL;
}

Test(preload, a_multithreaded_program_that_forks_can_allocate_in_the_child)
{
	pthread_t t[NR_THREADS];

	for (int i = 0; i < NR_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, churn_until_stopped, (void *)(uintptr_t)(i * 7)), 0);
	for (int f = 0; f < 20; f++) {
		int status;
		pid_t pid = fork();

		cr_assert_neq(pid, -1);
		if (pid == 0) {
			pthread_t ct;

			churn(99 + (unsigned)f, 5000);
			if (pthread_create(&ct, NULL, child_thread, (void *)(uintptr_t)f) != 0)
				_exit(3);
			pthread_join(ct, NULL);
			for (size_t n = 8; n <= KSLUB_KMALLOC_MAX_CACHE_SIZE; n *= 2)
				if (kslub_validate_slab_cache(kslub_kmalloc_cache(n)) != 0)
					_exit(2);
			_exit(0);
		}
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child %d: status 0x%x", f, status);
	}
	__atomic_store_n(&stop_churning, 1, __ATOMIC_RELAXED);
	for (int i = 0; i < NR_THREADS; i++)
		pthread_join(t[i], NULL);
	validate_kmalloc_caches();
}
