/* SPDX-License-Identifier: MIT */
/*
 * test_kmalloc.c - the kmalloc family: every size up to 64 KiB round-trips,
 * kmalloc(0) is ZERO_SIZE_PTR, alignment as the kernel guarantees it, ksize,
 * krealloc across the slab / large / huge boundaries, kcalloc overflow,
 * zeroed memory, and the kernel's kmalloc cache names.
 *
 * Expected figures come from the kernel's definitions: the kmalloc-<size>
 * caches (mm/slab_common.c kmalloc_info[]), KMALLOC_MAX_CACHE_SIZE, the
 * alignment of power-of-two sizes, ARCH_KMALLOC_MINALIGN = 8 on x86-64.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <sys/wait.h>
#include <unistd.h>

#include "child.h"
#include "kslub.h"
#include "report.h"
#undef check	/* child.h's; this file has a check() of its own */

#define PAGE KSLUB_PAGE_SIZE
#define KiB 1024UL
#define MiB (1024UL * 1024)
#define KMALLOC_MAX_SIZE (PAGE << (KSLUB_MAX_ORDER - 1)) /* 4 MiB: the largest buddy block */
#define KMALLOC_MIN_ALIGN 8				     /* ARCH_KMALLOC_MINALIGN on x86-64 */

/* ---- helpers ---------------------------------------------------------------- */

static const size_t kmalloc_cache_sizes[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192 };

static void validate_kmalloc_caches(void)
{
	for (size_t i = 0; i < sizeof(kmalloc_cache_sizes) / sizeof(kmalloc_cache_sizes[0]); i++) {
		struct kmem_cache *s = kslub_kmalloc_cache(kmalloc_cache_sizes[i]);

		cr_assert_not_null(s);
		cr_assert_eq(kslub_validate_slab_cache(s), 0, "%s is inconsistent (see stderr)",
			     kslub_kmem_cache_name(s));
	}
}

/* A pattern that differs with the size (or any seed) and the offset, written
 * a word at a time so that gigabytes of it stay fast. */
static inline uint64_t pattern_word(uint64_t seed, size_t word)
{
	return (seed * 0x9e3779b97f4a7c15ULL) ^ (word * 0xff51afd7ed558ccdULL) ^ (word >> 3);
}

/* Byte i of the pattern, the same whether written as a word or a byte. */
static inline unsigned char pattern_byte(uint64_t seed, size_t i)
{
	return (unsigned char)(pattern_word(seed, i / 8) >> (8 * (i % 8)));
}

static void fill(void *p, size_t size, uint64_t seed)
{
	uint64_t *w = p;
	size_t words = size / 8;

	for (size_t i = 0; i < words; i++)
		w[i] = pattern_word(seed, i);
	for (size_t i = words * 8; i < size; i++)
		((unsigned char *)p)[i] = pattern_byte(seed, i);
}

/* A kmalloc block of size bytes filled with the pattern of seed. */
static char *filled(size_t size, uint64_t seed)
{
	char *p = kmalloc(size, GFP_KERNEL);

	cr_assert_not_null(p, "kmalloc(%zu) failed", size);
	fill(p, size, seed);
	return p;
}

/* The first offset where p does not hold the pattern, or size. */
static size_t check(const void *p, size_t size, uint64_t seed)
{
	const uint64_t *w = p;
	size_t words = size / 8;

	for (size_t i = 0; i < words; i++)
		if (w[i] != pattern_word(seed, i))
			return i * 8;
	for (size_t i = words * 8; i < size; i++)
		if (((const unsigned char *)p)[i] != pattern_byte(seed, i))
			return i;
	return size;
}

static size_t first_nonzero(const void *p, size_t size)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < size; i++)
		if (b[i])
			return i;
	return size;
}

/* ---- every size --------------------------------------------------------------- */

#define ROUND_TRIP_MAX (64 * KiB)
#define WINDOW 2048 /* sizes live at once: at most 128 MiB */

Test(kmalloc, every_size_to_64k_round_trips)
{
	static void *ptrs[WINDOW];

	for (size_t lo = 0; lo <= ROUND_TRIP_MAX; lo += WINDOW) {
		size_t hi = lo + WINDOW > ROUND_TRIP_MAX + 1 ? ROUND_TRIP_MAX + 1 : lo + WINDOW;

		for (size_t size = lo; size < hi; size++) {
			void *p = kmalloc(size, GFP_KERNEL);

			ptrs[size - lo] = p;
			if (!size) {
				cr_assert_eq(p, ZERO_SIZE_PTR, "kmalloc(0) = %p", p);
				continue;
			}
			cr_assert_not_null(p, "kmalloc(%zu) failed", size);
			cr_assert_eq((uintptr_t)p % KMALLOC_MIN_ALIGN, 0, "kmalloc(%zu) = %p is not 8-byte aligned",
				     size, p);
			cr_assert_geq(ksize(p), size, "ksize(kmalloc(%zu)) = %zu", size, ksize(p));
			fill(p, size, size);
		}
		for (size_t size = lo ? lo : 1; size < hi; size++) {
			size_t bad = check(ptrs[size - lo], size, size);

			cr_assert_eq(bad, size, "kmalloc(%zu) = %p: byte %zu was overwritten while all of sizes "
				     "%zu..%zu were live", size, ptrs[size - lo], bad, lo, hi - 1);
		}
		for (size_t size = lo; size < hi; size++)
			kfree(ptrs[size - lo]);
	}
	validate_kmalloc_caches();
}

Test(kmalloc, zero_size_is_ZERO_SIZE_PTR_and_kfree_accepts_it)
{
	struct kmem_cache *k8 = kslub_kmalloc_cache(8);
	struct kslub_cache_info before, after;
	void *p;

	cr_assert_eq(kmalloc(0, GFP_KERNEL), ZERO_SIZE_PTR);
	cr_assert_eq(kzalloc(0, GFP_KERNEL), ZERO_SIZE_PTR);
	cr_assert_eq(kcalloc(0, 100, GFP_KERNEL), ZERO_SIZE_PTR);
	cr_assert_eq(kcalloc(100, 0, GFP_KERNEL), ZERO_SIZE_PTR);
	cr_assert(ZERO_OR_NULL_PTR(ZERO_SIZE_PTR));
	cr_assert_eq(ksize(ZERO_SIZE_PTR), 0);
	kfree(ZERO_SIZE_PTR);
	kfree(NULL);

	/* krealloc treats ZERO_SIZE_PTR as nothing allocated, and to size 0 frees */
	kslub_cache_info(k8, &before);
	p = krealloc(ZERO_SIZE_PTR, 8, GFP_KERNEL);
	cr_assert_not_null(p);
	cr_assert_neq(p, ZERO_SIZE_PTR);
	kslub_cache_info(k8, &after);
	cr_assert_eq(after.active_objs, before.active_objs + 1);
	p = krealloc(p, 0, GFP_KERNEL);
	cr_assert_eq(p, ZERO_SIZE_PTR, "krealloc(p, 0) = %p", p);
	kslub_cache_info(k8, &after);
	cr_assert_eq(after.active_objs, before.active_objs, "krealloc(p, 0) did not free p");
	p = krealloc(NULL, 0, GFP_KERNEL);
	cr_assert_eq(p, ZERO_SIZE_PTR);
	validate_kmalloc_caches();
}

/* ---- alignment ------------------------------------------------------------------- */

Test(kmalloc, power_of_two_sizes_are_aligned_to_their_size)
{
	enum { PER_SIZE = 6 };

	for (size_t size = 1; size <= KMALLOC_MAX_SIZE; size *= 2) {
		void *p[PER_SIZE];
		int n = size >= MiB ? 2 : PER_SIZE;
		size_t align = size < KMALLOC_MIN_ALIGN ? KMALLOC_MIN_ALIGN : size;

		for (int i = 0; i < n; i++) {
			p[i] = kmalloc(size, GFP_KERNEL);
			cr_assert_not_null(p[i], "kmalloc(%zu) failed", size);
			cr_assert_eq((uintptr_t)p[i] % align, 0, "kmalloc(%zu) = %p is not aligned to %zu", size,
				     p[i], align);
			memset(p[i], 0x77, size);
		}
		for (int i = 0; i < n; i++)
			kfree(p[i]);
	}
	validate_kmalloc_caches();
}

/* ---- ksize ------------------------------------------------------------------------- */

Test(kmalloc, ksize_is_at_least_size_and_all_of_it_is_usable)
{
	static const size_t sizes[] = {
		1,    7,    9,	  24,	  33,	  65,	  97,	   100,	    129,      193,	257,	   500,
		513,  1000, 1025, 2000,	  2049,	  4000,	  4097,	   8000,    8192,     8193,	10000,	   12289,
		65537, 100000, 1 * MiB + 1, 3 * MiB, 4 * MiB, 4 * MiB + 1, 5 * MiB + 123,
	};
	enum { N = sizeof(sizes) / sizeof(sizes[0]), COPIES = 3 };
	static unsigned char *p[N][COPIES];
	static size_t ks[N][COPIES];

	for (size_t i = 0; i < N; i++) {
		for (int c = 0; c < COPIES; c++) {
			p[i][c] = kmalloc(sizes[i], GFP_KERNEL);
			cr_assert_not_null(p[i][c], "kmalloc(%zu) failed", sizes[i]);
			ks[i][c] = ksize(p[i][c]);
			cr_assert_geq(ks[i][c], sizes[i], "ksize(kmalloc(%zu)) = %zu", sizes[i], ks[i][c]);
			fill(p[i][c], ks[i][c], i * COPIES + (size_t)c);
		}
	}
	/* every block filled to its ksize: none may have written over another */
	for (size_t i = 0; i < N; i++) {
		for (int c = 0; c < COPIES; c++) {
			size_t bad = check(p[i][c], ks[i][c], i * COPIES + (size_t)c);

			cr_assert_eq(bad, ks[i][c], "kmalloc(%zu) filled to its ksize %zu: byte %zu was overwritten",
				     sizes[i], ks[i][c], bad);
			cr_assert_eq(ksize(p[i][c]), ks[i][c]);
		}
	}
	for (size_t i = 0; i < N; i++)
		for (int c = 0; c < COPIES; c++)
			kfree(p[i][c]);
	validate_kmalloc_caches();
}

/* Every size: kmalloc finds the cache by the size itself from 9 bytes to
 * 1 KiB, through kmalloc_size_index below and above. */
Test(kmalloc, ksize_of_a_kmalloc_cache_object_is_the_cache_object_size)
{
	for (size_t size = 1; size <= KMALLOC_MAX_CACHE_SIZE; size++) {
		void *p = kmalloc(size, GFP_KERNEL);
		struct kmem_cache *s = kslub_kmalloc_cache(size);

		cr_assert_not_null(p);
		cr_assert_not_null(s);
		cr_assert_eq(ksize(p), kmem_cache_size(s), "kmalloc(%zu): ksize %zu, %s holds %u", size, ksize(p),
			     kslub_kmem_cache_name(s), kmem_cache_size(s));
		kfree(p);
	}
	validate_kmalloc_caches();
}

/* ---- krealloc ------------------------------------------------------------------------- */

Test(kmalloc, krealloc_keeps_contents_across_slab_large_and_huge)
{
	/* slab -> large -> huge and back, growing and shrinking */
	static const size_t steps[] = {
		24,	   200,	       8192,	       8193,	      100000,	   KMALLOC_MAX_SIZE,
		KMALLOC_MAX_SIZE + 1,  12 * MiB,	5 * MiB,	     4 * MiB + 8192, 3 * MiB,	  9000,
		8000,	   100,	       10,	       1,	      64 * KiB,	   7 * MiB,
		20 * MiB,  2 * MiB,    300,	       0,
	};
	size_t old = 0;
	void *p = NULL;

	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		size_t size = steps[i], keep = old < size ? old : size, bad;
		void *q = krealloc(p, size, GFP_KERNEL);

		if (!size) {
			cr_assert_eq(q, ZERO_SIZE_PTR);
			break;
		}
		cr_assert_not_null(q, "krealloc(%p, %zu) failed", p, size);
		bad = check(q, keep, i - 1);
		cr_assert_eq(bad, keep, "krealloc from %zu to %zu bytes: byte %zu of the old contents changed", old,
			     size, bad);
		cr_assert_geq(ksize(q), size);
		fill(q, size, i);
		p = q;
		old = size;
	}
	validate_kmalloc_caches();
}

Test(kmalloc, krealloc_shrinks_in_place_and_grows_back)
{
	char *p = filled(100 * KiB, 1), *q;

	/* less than a quarter of the block: its pages stay, as slack */
	q = krealloc(p, 80 * KiB, GFP_KERNEL);
	cr_assert_eq(q, p, "shrinking a large block moved it");
	cr_assert_eq(ksize(q), 100 * KiB, "a shrink of less than a quarter gave pages back");
	/* more: the pages past the new size go back to the buddy */
	q = krealloc(p, 50 * KiB, GFP_KERNEL);
	cr_assert_eq(q, p, "shrinking a large block moved it");
	cr_assert_eq(ksize(q), 52 * KiB, "a shrink of half kept the pages past the new size");
	cr_assert_eq(check(q, 50 * KiB, 1), 50 * KiB);
	q = krealloc(q, 90 * KiB, GFP_KERNEL);
	cr_assert_not_null(q);
	cr_assert_eq(check(q, 50 * KiB, 1), 50 * KiB, "growing after a shrink lost contents");
	kfree(q);
	validate_kmalloc_caches();
}

Test(kmalloc, krealloc_with_gfp_zero_zeroes_the_new_tail)
{
	static const size_t steps[] = { 100, 5000, 50000, 3 * MiB, 6 * MiB, 10 * MiB };
	size_t old;
	char *p = kzalloc(40, GFP_KERNEL);

	cr_assert_not_null(p);
	memset(p, 0x5a, 40);
	old = 40;
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		char *q = krealloc(p, steps[i], GFP_KERNEL | __GFP_ZERO);
		size_t nz;

		cr_assert_not_null(q);
		for (size_t j = 0; j < 40; j++)
			cr_assert_eq(q[j], 0x5a, "krealloc to %zu: byte %zu lost", steps[i], j);
		nz = first_nonzero(q + 40, steps[i] - 40);
		cr_assert_eq(nz, steps[i] - 40, "krealloc(%zu -> %zu, __GFP_ZERO): byte %zu is not zero", old, steps[i],
			     nz + 40);
		p = q;
		old = steps[i];
	}
	kfree(p);
	validate_kmalloc_caches();
}

Test(kmalloc, failed_krealloc_leaves_the_block_intact)
{
	char *p = filled(300, 7), *q;

	errno = 0;
	q = krealloc(p, SIZE_MAX / 2, GFP_KERNEL);
	cr_assert_null(q, "krealloc to SIZE_MAX / 2 succeeded");
	cr_assert_eq(errno, ENOMEM);
	cr_assert_eq(check(p, 300, 7), 300, "a failed krealloc changed the block");
	kfree(p);
	validate_kmalloc_caches();
}

/* ---- failures ------------------------------------------------------------------------- */

Test(kmalloc, kcalloc_overflow_gives_null_and_enomem)
{
	static const size_t cases[][2] = {
		{ SIZE_MAX, 2 },
		{ 2, SIZE_MAX },
		{ SIZE_MAX / 2 + 1, 2 },
		{ 1UL << 32, 1UL << 32 },
		{ (SIZE_MAX / 16) + 1, 16 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		errno = 0;
		cr_assert_null(kcalloc(cases[i][0], cases[i][1], GFP_KERNEL), "kcalloc(%zu, %zu) did not fail",
			       cases[i][0], cases[i][1]);
		cr_assert_eq(errno, ENOMEM, "kcalloc(%zu, %zu): errno %d", cases[i][0], cases[i][1], errno);
		errno = 0;
		cr_assert_null(kmalloc_array(cases[i][0], cases[i][1], GFP_KERNEL));
		cr_assert_eq(errno, ENOMEM);
	}
	validate_kmalloc_caches();
}

Test(kmalloc, impossible_sizes_give_null_and_enomem)
{
	static const size_t sizes[] = { SIZE_MAX, SIZE_MAX - PAGE, SIZE_MAX / 2, 1UL << 62, 1UL << 50 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		errno = 0;
		cr_assert_null(kmalloc(sizes[i], GFP_KERNEL), "kmalloc(%#zx) did not fail", sizes[i]);
		cr_assert_eq(errno, ENOMEM, "kmalloc(%#zx): errno %d", sizes[i], errno);
	}
	validate_kmalloc_caches();
}

/* ---- zeroed memory -------------------------------------------------------------------- */

Test(kmalloc, kzalloc_gives_zeroed_memory_even_where_it_was_dirty)
{
	static const size_t sizes[] = {
		1,	   8,	     24,	 96,	     100,	 192,	     1000,	4096,
		8192,	   8193,     12288,	 3 * PAGE + 5, 65536,	 1 * MiB,    KMALLOC_MAX_SIZE, KMALLOC_MAX_SIZE + 1,
		9 * MiB,
	};
	enum { PER_SIZE = 16 };

	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t size = sizes[i];
		int n = size > 64 * KiB ? 2 : PER_SIZE;
		void *p[PER_SIZE];

		for (int k = 0; k < n; k++) {
			p[k] = kmalloc(size, GFP_KERNEL);
			cr_assert_not_null(p[k]);
			memset(p[k], 0xff, ksize(p[k]));
		}
		for (int k = 0; k < n; k++)
			kfree(p[k]);
		for (int k = 0; k < n; k++) {
			size_t nz;

			p[k] = (k & 1) ? kcalloc(1, size, GFP_KERNEL) : kzalloc(size, GFP_KERNEL);
			cr_assert_not_null(p[k]);
			nz = first_nonzero(p[k], ksize(p[k]));
			cr_assert_eq(nz, ksize(p[k]), "%s(%zu) #%d: byte %zu of %zu is not zero",
				     (k & 1) ? "kcalloc" : "kzalloc", size, k, nz, ksize(p[k]));
			memset(p[k], 0xff, size);
		}
		for (int k = 0; k < n; k++)
			kfree(p[k]);
	}
	validate_kmalloc_caches();
}

/* A direct mapping of size bytes, filled with c and freed: its address. */
static char *freed_mapping(size_t size, int c)
{
	char *p = kmalloc(size, GFP_KERNEL);

	cr_assert_not_null(p);
	memset(p, c, size);
	kfree(p);
	return p;
}

/* A freed direct mapping is kept, pages and all, for the next large request,
 * cut to its size (11 MiB of a 16 MiB block: 5 MiB, more than a quarter, is
 * no slack to keep); kslub_trim (malloc_trim) gives the kept mappings back. */
Test(kmalloc, a_freed_mapping_is_reused_and_trim_unmaps_it)
{
	char *p = freed_mapping(20 * MiB, 0x5a), *q, *r;

	q = kmalloc(11 * MiB, GFP_KERNEL);
	cr_assert_eq(q, p, "the freed 20 MiB mapping serves the 11 MiB request");
	cr_assert_geq(ksize(q), 11 * MiB);
	cr_assert_lt(ksize(q), 12 * MiB, "cut to the size asked");
	memset(q, 1, 11 * MiB);
	r = kmalloc(30 * MiB, GFP_KERNEL);	/* the kept 4 MiB tail, grown */
	cr_assert_not_null(r);
	memset(r, 2, 30 * MiB);
	kfree(q);
	kfree(r);
	cr_assert_geq(kslub_trim(), 41 * MiB, "trim unmaps both kept mappings");
	cr_assert_lt(kslub_trim(), 1 * MiB, "nothing left to unmap");
	validate_kmalloc_caches();
}

/* Is the page at p mapped? */
static bool is_mapped(const void *p)
{
	unsigned char vec;

	return mincore((void *)((uintptr_t)p & ~(uintptr_t)(PAGE - 1)), PAGE, &vec) == 0;
}

/* When the cache of freed mappings is full, the smallest goes, whatever its
 * age, and a mapping smaller than every kept one is not kept: a big one
 * serves any smaller request, cut, and saves the faults of all its pages. */
Test(kmalloc, the_freed_mapping_cache_keeps_the_largest)
{
	static const size_t mib[] = { 20, 16, 12, 8, 24, 6 };
	char *p[6];

	kslub_trim();
	for (int i = 0; i < 6; i++) {
		p[i] = kmalloc(mib[i] * MiB, GFP_KERNEL);
		cr_assert_not_null(p[i]);
	}
	for (int i = 0; i < 4; i++)
		kfree(p[i]);
	for (int i = 0; i < 4; i++)
		cr_assert(is_mapped(p[i]), "the freed %zu MiB mapping is kept", mib[i]);
	kfree(p[4]);
	cr_assert(is_mapped(p[4]), "the freed 24 MiB mapping is kept");
	cr_assert_not(is_mapped(p[3]), "the smallest kept mapping, 8 MiB, made room for it");
	cr_assert(is_mapped(p[0]), "the oldest kept mapping, 20 MiB, stays: it is not the smallest");
	kfree(p[5]);
	cr_assert_not(is_mapped(p[5]), "the 6 MiB mapping, smaller than every kept one, is not kept");
	cr_assert(is_mapped(p[2]), "the 12 MiB mapping stays");
	kslub_trim();
	for (int i = 0; i < 6; i++)
		cr_assert_not(is_mapped(p[i]), "trim unmapped the %zu MiB mapping", mib[i]);
	validate_kmalloc_caches();
}

/* The address space mapped now (VmSize), in bytes. */
static size_t vm_size(void)
{
	char line[256];
	size_t kb = 0;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
			break;
	if (f)
		fclose(f);
	return kb * 1024;
}

/* An address space limit (ulimit -v) of what is mapped now and more. */
static bool limit_address_space(size_t more)
{
	size_t limit = vm_size() + more;
	struct rlimit rl = { limit, limit };

	return setrlimit(RLIMIT_AS, &rl) == 0;
}

/* Under an address space limit, the freed mappings kslub keeps for reuse
 * (and its wholly free arenas) give their room to a request that would not
 * fit beside them, and a request that succeeds leaves errno alone. */
Test(kmalloc, kept_mappings_give_way_under_an_address_space_limit)
{
	void *p[16], *q;
	int n = 0;

	kslub_trim();
	cr_assert(limit_address_space(200 * MiB));
	while (n < 16 && (p[n] = kmalloc(48 * MiB, GFP_KERNEL)))
		n++;
	cr_assert_geq(n, 2, "only %d blocks of 48 MiB under a limit 200 MiB above", n);
	for (int i = 0; i < n; i++)
		kfree(p[i]);
	errno = 0;
	q = kmalloc(120 * MiB, GFP_KERNEL);
	cr_assert_not_null(q, "120 MiB did not fit beside the %d kept mappings of 48 MiB", n);
	cr_assert_eq(errno, 0, "a request that succeeded left errno %d", errno);
	memset(q, 1, PAGE);
	kfree(q);
}

/* A process of one thread grows a big block with krealloc under an address
 * space limit that holds a reservation of the new size beside the old
 * block, but not that and the growth, which the kernel counts at once when
 * it moves the pages there: the reservation goes first.  Run this program
 * again before criterion starts its threads. */
__attribute__((constructor)) static void grow_under_a_limit_child(void)
{
	unsigned char *p, *q;

	if (!getenv("KSLUB_TEST_GROW_UNDER_LIMIT"))
		return;
	if (!__libc_single_threaded)
		_exit(4);
	p = kmalloc(100 * MiB, GFP_KERNEL);
	if (!p)
		_exit(3);
	/* room for the reservation of 200 MiB, not for it and the growth */
	if (!limit_address_space(250 * MiB))
		_exit(3);
	for (size_t i = 0; i < 100 * MiB; i += 64 * PAGE)
		p[i] = (unsigned char)(i >> 18);
	q = krealloc(p, 200 * MiB, GFP_KERNEL);
	if (!q)
		_exit(5);
	for (size_t i = 0; i < 100 * MiB; i += 64 * PAGE)
		if (q[i] != (unsigned char)(i >> 18))
			_exit(6);
	memset(q + 100 * MiB, 2, 100 * MiB);
	kfree(q);
	_exit(0);
}

Test(kmalloc, the_only_thread_grows_a_big_block_under_an_address_space_limit)
{
	int status = child_exec_self("KSLUB_TEST_GROW_UNDER_LIMIT", NULL, NULL);

	cr_assert(WIFEXITED(status), "the child died (status %#x)", status);
	cr_assert_neq(WEXITSTATUS(status), 4, "the child had more than one thread");
	cr_assert_neq(WEXITSTATUS(status), 5, "krealloc from 100 to 200 MiB failed under the limit");
	cr_assert_eq(WEXITSTATUS(status), 0, "the child failed (exit %d)", WEXITSTATUS(status));
}

/* A kept mapping longer than asked is cut at the first arena boundary past
 * the request, and the rest is kept, pages and all, for the next one. */
Test(kmalloc, a_kept_mapping_is_cut_and_its_tail_kept)
{
	char *p = freed_mapping(40 * MiB, 0x5a), *q, *r;

	q = kmalloc(10 * MiB, GFP_KERNEL);
	cr_assert_eq(q, p, "the freed 40 MiB mapping serves the 10 MiB request");
	cr_assert_lt(ksize(q), 11 * MiB, "6 MiB up to the boundary, more than a quarter, went back");
	r = kmalloc(20 * MiB, GFP_KERNEL);
	/* the header page of q is at q - 4 KiB; 10 MiB + 4 KiB ends below 16 MiB */
	cr_assert_eq(r, p + 16 * MiB, "the 20 MiB request takes the kept tail");
	cr_assert_eq(r[0], 0x5a, "the tail kept its pages");
	cr_assert_eq(r[20 * MiB - 1], 0x5a, "the tail kept its pages");
	kfree(q);
	kfree(r);
	validate_kmalloc_caches();
}

/* The pages between the end of the request and the arena boundary stay
 * with the block, pages and all, when they are less than a quarter of it. */
Test(kmalloc, a_cut_mapping_keeps_a_slack_of_up_to_a_quarter)
{
	char *p = freed_mapping(40 * MiB, 0x5a), *q, *r;

	q = kmalloc(30 * MiB, GFP_KERNEL);
	cr_assert_eq(q, p, "the freed 40 MiB mapping serves the 30 MiB request");
	/* the header page of q is at q - 4 KiB: the block ends at p + 28 MiB */
	cr_assert_eq(ksize(q), 32 * MiB - 4096, "the 2 MiB up to the boundary stay with the block");
	cr_assert_eq(q[32 * MiB - 4096 - 1], 0x5a, "with their pages");
	memset(q, 1, ksize(q));
	/* the 8 MiB tail, kept on its own, serves 5 MiB: 3 MiB of slack is
	 * more than a quarter */
	r = kmalloc(5 * MiB, GFP_KERNEL);
	cr_assert_eq(r, p + 32 * MiB, "the 5 MiB request takes the kept tail");
	cr_assert_lt(ksize(r), 6 * MiB, "the slack of more than a quarter went back");
	memset(r, 2, 5 * MiB);
	/* growing or shrinking within a quarter keeps the mapping as it is */
	q = krealloc(q, 31 * MiB, GFP_KERNEL);
	cr_assert_eq(q, p);
	cr_assert_eq(ksize(q), 32 * MiB - 4096, "a realloc within the slack keeps it");
	q = krealloc(q, 25 * MiB, GFP_KERNEL);
	cr_assert_eq(ksize(q), 32 * MiB - 4096, "a shrink of less than a quarter keeps the pages");
	/* a shrink of more than a quarter gives the pages back */
	q = krealloc(q, 20 * MiB, GFP_KERNEL);
	cr_assert_eq(q, p);
	cr_assert_lt(ksize(q), 21 * MiB);
	cr_assert_eq(q[20 * MiB - 1], 1);
	kfree(q);
	kfree(r);
	validate_kmalloc_caches();
}

/* A kept mapping shorter than asked grows where it is, or moves its pages
 * (no copy) when the address space after it is taken. */
Test(kmalloc, a_kept_mapping_grows_or_moves_with_its_pages)
{
	char *p = kmalloc(6 * MiB, GFP_KERNEL), *q, *guard;

	cr_assert_not_null(p);
	memset(p, 0x33, 6 * MiB);
	guard = mmap(p + 6 * MiB, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	cr_assert_eq(guard, p + 6 * MiB, "the page after the mapping is free");
	kfree(p);
	q = kmalloc(14 * MiB, GFP_KERNEL);
	cr_assert_not_null(q);
	cr_assert_neq(q, p, "the mapping cannot grow where it is");
	cr_assert_eq(q[0], 0x33, "the pages moved with the mapping");
	cr_assert_eq(q[6 * MiB - 1], 0x33, "the pages moved with the mapping");
	memset(q, 1, 14 * MiB);
	kfree(q);
	munmap(guard, 4096);
	validate_kmalloc_caches();
}

Test(kmalloc, kmemdup_and_kstrdup_copy)
{
	static const char text[] = "the kernel's slab allocator";
	char *s = kstrdup(text, GFP_KERNEL), *m;

	cr_assert_not_null(s);
	cr_assert_str_eq(s, text);
	cr_assert_neq(s, text);
	m = kmemdup(text, sizeof(text), GFP_KERNEL);
	cr_assert_not_null(m);
	cr_assert_arr_eq(m, text, sizeof(text));
	cr_assert_null(kstrdup(NULL, GFP_KERNEL));
	kfree(s);
	kfree(m);
	validate_kmalloc_caches();
}

/* ---- the kmalloc caches ------------------------------------------------------------------ */

struct cache_case {
	size_t size;
	char name[16];
};

/* The kernel's kmalloc sizes and, between them, about four steps for each
 * power of two, sized to fill their slabs; sqlite's page-cache entries
 * (1032, 4104 and 4368 bytes) waste a sixteenth at most, not a quarter. */
ParameterizedTestParameters(kmalloc, a_size_is_served_by_the_kernels_kmalloc_cache)
{
	static struct cache_case cases[] = {
		{ 1, "kmalloc-8" },	  { 8, "kmalloc-8" },	    { 9, "kmalloc-16" },    { 16, "kmalloc-16" },
		{ 17, "kmalloc-32" },	  { 32, "kmalloc-32" },	    { 33, "kmalloc-48" },   { 48, "kmalloc-48" },
		{ 49, "kmalloc-64" },	  { 64, "kmalloc-64" },	    { 65, "kmalloc-80" },   { 81, "kmalloc-96" },
		{ 96, "kmalloc-96" },	  { 97, "kmalloc-112" },    { 113, "kmalloc-128" }, { 128, "kmalloc-128" },
		{ 129, "kmalloc-160" },	  { 161, "kmalloc-192" },   { 192, "kmalloc-192" }, { 193, "kmalloc-224" },
		{ 225, "kmalloc-256" },	  { 256, "kmalloc-256" },   { 257, "kmalloc-336" }, { 449, "kmalloc-512" },
		{ 512, "kmalloc-512" },	  { 513, "kmalloc-672" },   { 1000, "kmalloc-1k" }, { 1024, "kmalloc-1k" },
		{ 1025, "kmalloc-1088" }, { 1032, "kmalloc-1088" }, { 1089, "kmalloc-1168" }, { 2048, "kmalloc-2k" },
		{ 2049, "kmalloc-2336" }, { 4096, "kmalloc-4k" },   { 4097, "kmalloc-4368" }, { 4368, "kmalloc-4368" },
		{ 4369, "kmalloc-4672" }, { 6545, "kmalloc-8k" },	  { 8192, "kmalloc-8k" },
	};

	return cr_make_param_array(struct cache_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct cache_case *c, kmalloc, a_size_is_served_by_the_kernels_kmalloc_cache)
{
	struct kmem_cache *s = kslub_kmalloc_cache(c->size);
	struct kslub_cache_info before, after;
	void *p;

	cr_assert_not_null(s, "no kmalloc cache for %zu bytes", c->size);
	cr_assert_str_eq(kslub_kmem_cache_name(s), c->name, "kmalloc(%zu) is served by %s, the kernel's %s",
			 c->size, kslub_kmem_cache_name(s), c->name);
	cr_assert_geq(kmem_cache_size(s), c->size);
	/* and kmalloc really takes its objects from that cache; a first
	 * kmalloc/kfree makes the thread's sheaf of the cache, an object of a
	 * kmalloc cache itself (kmalloc-256 for the 30 pointers of a sheaf of
	 * 256-byte objects), before the counting starts */
	kfree(kmalloc(c->size, GFP_KERNEL));
	cr_assert_eq(kslub_cache_info(s, &before), 0);
	p = kmalloc(c->size, GFP_KERNEL);
	cr_assert_not_null(p);
	cr_assert_eq(kslub_cache_info(s, &after), 0);
	cr_assert_eq(after.active_objs, before.active_objs + 1, "kmalloc(%zu) did not take an object of %s",
		     c->size, c->name);
	kfree(p);
	cr_assert_eq(kslub_cache_info(s, &after), 0);
	cr_assert_eq(after.active_objs, before.active_objs, "%zu: %lu -> %lu", c->size, before.active_objs, after.active_objs);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
}

/* No slab of a kmalloc cache ends in a tail that a larger object size (the
 * next multiple of 16) could have used with as many objects per slab. */
Test(kmalloc, every_kmalloc_cache_fills_its_slab)
{
	struct kmem_cache *prev = NULL;

	for (size_t size = 1; size <= KMALLOC_MAX_CACHE_SIZE; size++) {
		struct kmem_cache *s = kslub_kmalloc_cache(size);
		struct kslub_cache_info info;
		size_t slab_bytes;

		if (s == prev)
			continue;
		prev = s;
		cr_assert_eq(kslub_cache_info(s, &info), 0);
		slab_bytes = (size_t)PAGE << info.order;
		cr_assert_leq((size_t)info.objs_per_slab * info.size, slab_bytes);
		cr_assert_gt((size_t)info.objs_per_slab * (info.size + 16), slab_bytes,
			     "%s: %u objects of %u bytes leave %zu bytes of its %zu-byte slab unused",
			     kslub_kmem_cache_name(s), info.objs_per_slab, info.size,
			     slab_bytes - (size_t)info.objs_per_slab * info.size, slab_bytes);
	}
}

/* kmalloc-4368 fills a slab of order 4 (15 objects, 16 bytes left) where
 * slub_max_order's 32 KiB would leave 2 KiB; a cache of that size that a
 * program makes keeps the order calculate_order gives it. */
Test(kmalloc, only_a_kmalloc_size_goes_past_slub_max_order_to_fill_its_slab)
{
	struct kmem_cache *own = kmem_cache_create("own-4368", 4368, 0, 0, NULL);
	struct kslub_cache_info info;

	cr_assert_eq(kslub_cache_info(kslub_kmalloc_cache(4368), &info), 0);
	cr_assert_eq(info.order, 4, "kmalloc-4368: order %u", info.order);
	cr_assert_eq(info.objs_per_slab, 15);
	cr_assert_not_null(own);
	cr_assert_eq(kslub_cache_info(own, &info), 0);
	cr_assert_eq(info.order, 3, "a program's cache of 4368 bytes: order %u", info.order);
	kmem_cache_destroy(own);
}

Test(kmalloc, sizes_outside_the_kmalloc_caches_have_no_cache)
{
	cr_assert_null(kslub_kmalloc_cache(0));
	cr_assert_null(kslub_kmalloc_cache(KMALLOC_MAX_CACHE_SIZE + 1));
	cr_assert_null(kslub_kmalloc_cache(1 * MiB));
}

/* ---- gfp flags and nodes ------------------------------------------------------------------ */

Test(kmalloc, gfp_atomic_and_nowait_succeed_when_nothing_contends)
{
	static const gfp_t flags[] = { GFP_ATOMIC, GFP_NOWAIT, GFP_NOFS, GFP_ATOMIC | __GFP_ZERO };
	static const size_t sizes[] = { 1, 64, 192, 1000, 8192, 8193, 65536, 2 * MiB, 5 * MiB };

	for (size_t f = 0; f < sizeof(flags) / sizeof(flags[0]); f++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			/* a few, so that slabs and page lists must be refilled */
			void *p[40];

			for (int k = 0; k < 40; k++) {
				p[k] = kmalloc(sizes[i], flags[f]);
				cr_assert_not_null(p[k], "kmalloc(%zu, %#x) failed with no other thread", sizes[i], flags[f]);
				if (flags[f] & __GFP_ZERO)
					cr_assert_eq(first_nonzero(p[k], sizes[i]), sizes[i]);
				memset(p[k], 0x19, sizes[i]);
			}
			for (int k = 0; k < 40; k++)
				kfree(p[k]);
		}
	}
	validate_kmalloc_caches();
}

Test(kmalloc, kmalloc_node_on_this_node_or_any_node_works)
{
	static const int nodes[] = { NUMA_NO_NODE, 0 };
	static const size_t sizes[] = { 8, 100, 4096, 8193, 100000, 5 * MiB };

	for (size_t n = 0; n < sizeof(nodes) / sizeof(nodes[0]); n++) {
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			void *p = kmalloc_node(sizes[i], GFP_KERNEL, nodes[n]);

			cr_assert_not_null(p, "kmalloc_node(%zu, node %d) failed", sizes[i], nodes[n]);
			cr_assert_geq(ksize(p), sizes[i]);
			memset(p, 0x2d, sizes[i]);
			kfree(p);
		}
		cr_assert_eq(kmalloc_node(0, GFP_KERNEL, nodes[n]), ZERO_SIZE_PTR);
	}
	validate_kmalloc_caches();
}

/* ---- large blocks that grow ------------------------------------------------------------------ */

Test(kmalloc, krealloc_grows_a_large_block_in_place_into_free_pages)
{
	/* 10 pages from a 16-page buddy block: the 6 after it are free */
	char *p = filled(40 * KiB, 3), *q;

	q = krealloc(p, 44 * KiB, GFP_KERNEL);
	cr_assert_eq(q, p, "krealloc to 44 KiB moved the block although the pages after it are free");
	cr_assert_geq(ksize(q), 44 * KiB);
	cr_assert_eq(check(q, 40 * KiB, 3), 40 * KiB, "growing in place changed the contents");
	memset(q + 40 * KiB, 0x77, ksize(q) - 40 * KiB);
	kfree(q);
	validate_kmalloc_caches();
}

/* Big blocks of 256 KiB, two at a time, until one has another right after
 * it (so that it cannot grow in place): that one; the others, the
 * neighbour among them, are in blk[0 .. *n) for the caller to free. */
enum { BIG_TRIES = 16 };
static char *big_block_with_a_neighbour(char *blk[2 * BIG_TRIES], int *n)
{
	char *p = NULL;

	*n = 0;
	for (int i = 0; i < BIG_TRIES && !p; i++) {
		blk[*n] = kmalloc(256 * KiB, GFP_KERNEL);
		blk[*n + 1] = kmalloc(256 * KiB, GFP_KERNEL);
		cr_assert(blk[*n] && blk[*n + 1]);
		if (blk[*n] + 256 * KiB == blk[*n + 1])
			p = blk[*n];
		*n += 2;
	}
	cr_assert_not_null(p, "no two 256 KiB blocks side by side");
	return p;
}

static void free_big_blocks_but(char *blk[], int n, const char *p)
{
	for (int i = 0; i < n; i++)
		if (blk[i] != p)
			kfree(blk[i]);
}

Test(kmalloc, krealloc_moves_the_pages_of_a_big_block_that_cannot_grow_in_place)
{
	char *blk[2 * BIG_TRIES] = { 0 }, *p, *q;
	unsigned long before;
	int n;

	p = big_block_with_a_neighbour(blk, &n);
	fill(p, 256 * KiB, 5);
	before = report_value("os ", " moves ");
	q = krealloc(p, 512 * KiB, GFP_KERNEL | __GFP_ZERO);
	cr_assert_not_null(q);
	cr_assert_neq(q, p, "the block grew into its allocated neighbour");
	cr_assert_eq(report_value("os ", " moves "), before + 1, "the block was copied, not moved");
	cr_assert_eq(check(q, 256 * KiB, 5), 256 * KiB, "moving the pages changed the contents");
	cr_assert_eq(first_nonzero(q + 256 * KiB, 256 * KiB), 256 * KiB, "__GFP_ZERO: the new part is not zero");
	free_big_blocks_but(blk, n, p);
	/* the pages the block left are free and usable again */
	p = filled(256 * KiB, 6);
	cr_assert_eq(check(p, 256 * KiB, 6), 256 * KiB);
	kfree(p);
	kfree(q);
	validate_kmalloc_caches();
}

/* A big block that must move to grow, into a block a free left resident, is
 * copied there: mremap would throw the resident pages away, to be faulted
 * in again as the block grows.  Its old pages go back as a free block. */
Test(kmalloc, krealloc_copies_a_big_block_into_resident_pages)
{
	char *blk[2 * BIG_TRIES] = { 0 }, *p, *r, *q;
	unsigned long before;
	int n;

	p = big_block_with_a_neighbour(blk, &n);
	fill(p, 256 * KiB, 8);
	r = kmalloc(512 * KiB, GFP_KERNEL);
	cr_assert_not_null(r);
	memset(r, 0x55, 512 * KiB);	/* resident */
	kfree(r);
	before = report_value("os ", " moves ");
	q = krealloc(p, 400 * KiB, GFP_KERNEL | __GFP_ZERO);
	cr_assert_not_null(q);
	cr_assert(q >= r && q < r + 512 * KiB, "the block did not go to the resident pages freed last");
	cr_assert_eq(report_value("os ", " moves "), before, "the block's pages were moved over resident ones");
	cr_assert_eq(check(q, 256 * KiB, 8), 256 * KiB, "the copy changed the contents");
	cr_assert_eq(first_nonzero(q + 256 * KiB, 144 * KiB), 144 * KiB,
		     "__GFP_ZERO: the new part keeps what the freed block held");
	free_big_blocks_but(blk, n, p);
	kfree(q);
	validate_kmalloc_caches();
}

/* A 3-page block on a 16 KiB boundary that grows in place to 8 pages is a
 * power of two not aligned to its size: freeing it must not put it on the
 * page list of order 3, from which the next slab of order 3 would come out
 * misaligned (slabs are aligned to their size, which free() relies on). */
Test(kmalloc, a_block_grown_to_an_unaligned_power_of_two_frees_cleanly)
{
	enum { TRIES = 64, LATER = 256 };
	char *blk[TRIES] = { 0 }, *p = NULL, *later[LATER];
	int n = 0;

	for (; n < TRIES && !p; n++) {
		blk[n] = kmalloc(12 * KiB, GFP_KERNEL);
		cr_assert_not_null(blk[n]);
		if ((uintptr_t)blk[n] % (32 * KiB) == 16 * KiB) {
			char *q = krealloc(blk[n], 26000, GFP_KERNEL);

			cr_assert_not_null(q);
			if (q == blk[n] && ksize(q) == 32 * KiB)
				p = q;
			blk[n] = q;
		}
	}
	cr_assert_not_null(p, "no 12 KiB block grew in place to 8 unaligned pages");
	fill(p, 26000, 9);
	cr_assert_eq(check(p, 26000, 9), 26000);
	kfree(p);
	/* order-3 slabs: kmalloc-2720 holds 12 objects in 32 KiB */
	for (int i = 0; i < LATER; i++) {
		later[i] = kmalloc(2700, GFP_KERNEL);
		cr_assert_not_null(later[i]);
		fill(later[i], 2700, (uint64_t)i + 100);
	}
	for (int i = 0; i < LATER; i++) {
		cr_assert_eq(check(later[i], 2700, (uint64_t)i + 100), 2700, "object %d shares memory", i);
		kfree(later[i]);
	}
	for (int i = 0; i < n; i++)
		if (blk[i] != p)
			kfree(blk[i]);
	validate_kmalloc_caches();
}

/* ---- direct mappings ------------------------------------------------------------------------- */

/* The VmFlags line of the mapping of /proc/self/smaps that holds p. */
static bool smaps_vmflags(const void *p, char *flags, size_t len)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false, found = false;

	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		unsigned long lo, hi;

		if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
			in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
		else if (in && !strncmp(line, "VmFlags:", 8)) {
			snprintf(flags, len, "%.*s", (int)(len - 1), line + 8);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

/* By default a big block is left to the system's THP setting, as the peers
 * do: no MADV_HUGEPAGE. */
Test(kmalloc, a_big_direct_mapping_asks_for_no_huge_pages_by_default)
{
	char flags[256];
	char *p = kmalloc(16 * MiB, GFP_KERNEL);

	cr_assert_not_null(p);
	cr_assert(smaps_vmflags(p, flags, sizeof(flags)), "no mapping holds %p", p);
	cr_assert_null(strstr(flags, " hg"), "the 16 MiB block is madvise(MADV_HUGEPAGE): VmFlags:%s", flags);
	kfree(p);
}

static void thp_on(void)
{
	setenv("KSLUB_THP", "1", 1);
}

Test(kmalloc, with_kslub_thp_a_big_direct_mapping_asks_for_huge_pages_unless_zeroed, .init = thp_on)
{
	char flags[256];
	char *p = kmalloc(16 * MiB, GFP_KERNEL);

	cr_assert_not_null(p);
	cr_assert(smaps_vmflags(p, flags, sizeof(flags)), "no mapping holds %p", p);
	cr_assert_not_null(strstr(flags, " hg"), "the 16 MiB block is not madvise(MADV_HUGEPAGE): VmFlags:%s", flags);
	memset(p, 1, 16 * MiB);
	kfree(p);
	/* a zeroed one does not: a big table is often touched sparsely */
	kslub_trim();
	p = kzalloc(16 * MiB, GFP_KERNEL);
	cr_assert_not_null(p);
	cr_assert(smaps_vmflags(p, flags, sizeof(flags)), "no mapping holds %p", p);
	cr_assert_null(strstr(flags, " hg"), "the zeroed 16 MiB block asks for huge pages: VmFlags:%s", flags);
	kfree(p);
}

/* Each block mremap moves into an arena may split the arena's mapping for
 * good: past 16384 such moves into the arenas mapped, krealloc copies, so
 * that the process keeps far below vm.max_map_count.  (Pages move only
 * into a clean block: each round purges the blocks it freed, and a small
 * block kept live keeps the arena, and its count of moves, mapped.) */
Test(kmalloc, krealloc_stops_moving_pages_before_the_mappings_run_out)
{
	enum { CAP = 16384, ROUNDS = CAP + 2000 };
	char *pin = kmalloc(16 * KiB, GFP_KERNEL);
	unsigned long before = report_value("os ", " moves "), moves;

	cr_assert_not_null(pin);
	for (int i = 0; i < ROUNDS; i++) {
		char *a = kmalloc(256 * KiB, GFP_KERNEL), *b = kmalloc(256 * KiB, GFP_KERNEL), *q;

		cr_assert(a && b);
		a[0] = (char)i;
		q = krealloc(a, 300 * KiB, GFP_KERNEL);
		cr_assert_not_null(q);
		cr_assert_eq(q[0], (char)i, "round %d: krealloc lost the contents", i);
		kfree(b);
		kfree(q);
		kslub_trim();
	}
	kfree(pin);
	moves = report_value("os ", " moves ") - before;
	cr_assert_geq(moves, CAP / 2, "only %lu of %d reallocations moved pages", moves, ROUNDS);
	cr_assert_leq(moves, CAP, "%lu blocks moved into the arenas mapped, more than %d", moves, CAP);
	validate_kmalloc_caches();
}
