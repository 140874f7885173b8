/* SPDX-License-Identifier: MIT */
/*
 * test_page_alloc.c - the buddy page allocator through the public API:
 * blocks split and coalesce back to the same free areas, alloc_pages_exact
 * takes only the pages asked for, blocks are aligned to their order, freed
 * memory goes back to the OS, and a failed mmap is NULL with ENOMEM.
 *
 * Free-area figures are read with kslub_buddyinfo() after
 * kslub_flush_thread(), which empties the thread's page lists into the zone.
 * Criterion runs each test in a process of its own, so tunables set in an
 * .init function are read by that test's first kslub call.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "kslub.h"
#include "held.h"
#include "report.h"
#include "seccomp.h"

#define PAGE KSLUB_PAGE_SIZE
#define NR_ORDERS KSLUB_MAX_ORDER
#define MAX_BLOCK (PAGE << (NR_ORDERS - 1)) /* the largest buddy block: 4 MiB */
#define MiB (1024UL * 1024)

/* ---- helpers ---------------------------------------------------------------- */

/* The zone's free areas with the thread's page lists drained into them. */
static void buddy_snapshot(unsigned long nr_free[NR_ORDERS])
{
	kslub_flush_thread();
	cr_assert_eq(kslub_buddyinfo(0, nr_free), NR_ORDERS, "kslub_buddyinfo(0) must report %d orders", NR_ORDERS);
}

static unsigned long free_pages_of(const unsigned long nr_free[NR_ORDERS])
{
	unsigned long pages = 0;

	for (int o = 0; o < NR_ORDERS; o++)
		pages += nr_free[o] << o;
	return pages;
}

static unsigned long zone_free_pages(void)
{
	unsigned long nr_free[NR_ORDERS];

	buddy_snapshot(nr_free);
	return free_pages_of(nr_free);
}

/* Resident set size in bytes, from /proc/self/statm. */
static size_t rss_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");

	cr_assert_not_null(f, "cannot open /proc/self/statm");
	cr_assert_eq(fscanf(f, "%lu %lu", &size, &resident), 2, "cannot parse /proc/self/statm");
	fclose(f);
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

/* Mark a block with its number at both ends; check the mark before freeing,
 * so that two blocks handed out over each other show up. */
static void tag_block(void *p, size_t bytes, unsigned long tag)
{
	((unsigned long *)p)[0] = tag;
	((unsigned long *)((char *)p + bytes))[-1] = ~tag;
}

static void check_tag(void *p, size_t bytes, unsigned long tag)
{
	cr_assert_eq(((unsigned long *)p)[0], tag, "block %lu at %p was overwritten at its start", tag, p);
	cr_assert_eq(((unsigned long *)((char *)p + bytes))[-1], ~tag, "block %lu at %p was overwritten at its end",
		     tag, p);
}

static void retain_arenas(void)
{
	/* wholly free arenas stay mapped, so the free areas can be compared */
	setenv("KSLUB_RETAIN_ARENAS", "100000", 1);
}

/* ---- split and coalesce ------------------------------------------------------- */

/* A mix of whole blocks and exact page counts, in a fixed pseudo-random order. */
#define NR_BLOCKS 400
struct block {
	void *p;
	size_t bytes;
	int order;		/* -1: alloc_pages_exact */
};

static unsigned long lcg(unsigned long *state)
{
	*state = *state * 6364136223846793005UL + 1442695040888963407UL;
	return *state >> 33;
}

static unsigned long allocate_mix(struct block *b, unsigned long seed)
{
	unsigned long pages = 0, state = seed;

	for (int i = 0; i < NR_BLOCKS; i++) {
		unsigned long r = lcg(&state);

		if (r % 3) {
			/* small orders far more often than large, as slabs ask */
			int order = (int)(lcg(&state) % 100);

			order = order < 60 ? order % 4 : order < 95 ? 4 + order % 4 : 8 + order % 3;
			b[i].order = order;
			b[i].bytes = PAGE << order;
			b[i].p = alloc_pages(GFP_KERNEL, (unsigned int)order);
		} else {
			unsigned long n = 1 + lcg(&state) % 300;

			b[i].order = -1;
			b[i].bytes = n * PAGE;
			b[i].p = alloc_pages_exact(b[i].bytes, GFP_KERNEL);
		}
		cr_assert_not_null(b[i].p, "allocation %d (%zu bytes) failed", i, b[i].bytes);
		tag_block(b[i].p, b[i].bytes, (unsigned long)i);
		pages += b[i].bytes / PAGE;
	}
	return pages;
}

static void free_block(struct block *b, int i)
{
	check_tag(b[i].p, b[i].bytes, (unsigned long)i);
	if (b[i].order >= 0)
		free_pages(b[i].p, (unsigned int)b[i].order);
	else
		free_pages_exact(b[i].p, b[i].bytes);
	b[i].p = NULL;
}

/* Free in an order unlike the allocation order: odd blocks first, then the
 * even ones backwards, so that buddies come back in every sequence. */
static void free_mix(struct block *b)
{
	for (int i = 1; i < NR_BLOCKS; i += 2)
		free_block(b, i);
	for (int i = (NR_BLOCKS - 1) & ~1; i >= 0; i -= 2)
		free_block(b, i);
}

Test(page_alloc, flush_thread_gives_the_thread_page_lists_back, .init = retain_arenas)
{
	unsigned long before[NR_ORDERS], after[NR_ORDERS];

	/* Small orders go through the thread's page lists, which take a batch
	 * from the zone at a time; once the block is freed and the lists are
	 * flushed, the zone must hold every page again. */
	free_pages(alloc_pages(GFP_KERNEL, NR_ORDERS - 1), NR_ORDERS - 1);
	for (unsigned int order = 0; order < 4; order++) {
		void *p;

		buddy_snapshot(before);
		p = alloc_pages(GFP_KERNEL, order);
		cr_assert_not_null(p);
		free_pages(p, order);
		buddy_snapshot(after);
		cr_assert_eq(free_pages_of(after), free_pages_of(before),
			     "order %u: alloc, free and kslub_flush_thread() left the zone with %lu free pages, "
			     "%lu before: the rest stay on the thread's page lists", order,
			     free_pages_of(after), free_pages_of(before));
		for (int o = 0; o < NR_ORDERS; o++)
			cr_assert_eq(after[o], before[o], "order %u round: order %d has %lu free blocks, %lu before",
				     order, o, after[o], before[o]);
	}
}

/* A thread that frees pages others allocated, and allocates none, keeps a
 * batch of them on its page lists, not up to KSLUB_PCP_HIGH: it would never
 * take the others back. */
#define FREED_PAGES 64
static void *freed_pages[FREED_PAGES];
static struct held_thread page_freer_held;

static void *page_freer(void *arg)
{
	(void)arg;
	kfree(kmalloc(8, GFP_KERNEL));	/* the thread has its state, and its page lists */
	for (int i = 0; i < FREED_PAGES; i++)
		free_pages(freed_pages[i], 0);
	held_pause(&page_freer_held);	/* its lists go back when it exits */
	return NULL;
}

static void *page_idler(void *arg)
{
	(void)arg;
	kfree(kmalloc(8, GFP_KERNEL));
	held_pause(&page_freer_held);
	return NULL;
}

Test(page_alloc, a_thread_that_only_frees_pages_keeps_a_batch_of_them, .init = retain_arenas)
{
	unsigned long before, during;

	/* a thread's state, kept for the next thread when it exits, is not
	 * counted with the pages the freeing thread holds */
	held_start(&page_freer_held, page_idler, NULL);
	held_finish(&page_freer_held);
	for (int i = 0; i < FREED_PAGES; i++) {
		freed_pages[i] = alloc_pages(GFP_KERNEL, 0);
		cr_assert_not_null(freed_pages[i]);
	}
	before = zone_free_pages();
	held_start(&page_freer_held, page_freer, NULL);
	during = zone_free_pages();
	held_finish(&page_freer_held);
	/* the default batch is 8 pages; the kmalloc above may have taken a
	 * batch for a slab too */
	cr_assert_geq(during + 16, before + FREED_PAGES,
		      "%lu of %d freed pages in the zone while the freeing thread lives", during - before,
		      FREED_PAGES);
	/* and its lists went back when it exited (but for its slab) */
	cr_assert_geq(zone_free_pages() + 8, before + FREED_PAGES);
}

Test(page_alloc, freeing_every_block_restores_the_original_free_areas, .init = retain_arenas)
{
	static struct block blocks[NR_BLOCKS];
	unsigned long before[NR_ORDERS], during[NR_ORDERS], after[NR_ORDERS];
	unsigned long pages;

	/* A first round maps the arenas the mix needs; they stay (retained). */
	allocate_mix(blocks, 42);
	free_mix(blocks);

	buddy_snapshot(before);
	pages = allocate_mix(blocks, 42);
	buddy_snapshot(during);
	cr_assert_eq(free_pages_of(before) - free_pages_of(during), pages,
		     "%lu pages were handed out but the zone's free pages went from %lu to %lu", pages,
		     free_pages_of(before), free_pages_of(during));
	free_mix(blocks);
	buddy_snapshot(after);

	for (int o = 0; o < NR_ORDERS; o++)
		cr_expect_eq(after[o], before[o], "order %d: %lu free blocks before, %lu after freeing everything",
			     o, before[o], after[o]);
}

/* ---- alloc_pages_exact ------------------------------------------------------------- */

struct exact_case {
	unsigned long pages;
};

ParameterizedTestParameters(page_alloc, alloc_pages_exact_uses_only_the_pages_asked_for)
{
	static struct exact_case cases[] = {
		{ 1 }, { 3 }, { 5 }, { 17 }, { 33 }, { 63 }, { 65 }, { 300 }, { 513 }, { 1023 }, { 1024 },
	};

	return cr_make_param_array(struct exact_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct exact_case *c, page_alloc, alloc_pages_exact_uses_only_the_pages_asked_for,
		  .init = retain_arenas)
{
	size_t bytes = c->pages * PAGE;
	unsigned long before, during, after;
	char *p;

	/* map the zone's first arena before counting */
	free_pages(alloc_pages(GFP_KERNEL, 0), 0);
	before = zone_free_pages();
	p = alloc_pages_exact(bytes, GFP_KERNEL);
	cr_assert_not_null(p, "alloc_pages_exact(%lu pages) failed", c->pages);
	memset(p, 0x5a, bytes);
	during = zone_free_pages();
	cr_assert_eq(before - during, c->pages,
		     "alloc_pages_exact(%lu pages) took %lu pages from the zone (the tail must go back)",
		     c->pages, before - during);
	free_pages_exact(p, bytes);
	after = zone_free_pages();
	cr_assert_eq(after, before, "free_pages_exact gave back %lu pages of %lu", after - during, c->pages);
}

Test(page_alloc, kmalloc_of_33_pages_uses_33_pages_not_64, .init = retain_arenas)
{
	size_t bytes = 33 * PAGE;
	unsigned long before, during, after;
	char *p;

	free_pages(alloc_pages(GFP_KERNEL, 0), 0);
	before = zone_free_pages();
	p = kmalloc(bytes, GFP_KERNEL);
	cr_assert_not_null(p);
	memset(p, 0xa5, bytes);
	cr_assert_geq(ksize(p), bytes);
	cr_assert_lt(ksize(p), 34 * PAGE, "ksize %zu: kmalloc(33 pages) holds more than 33 pages", ksize(p));
	during = zone_free_pages();
	cr_assert_eq(before - during, 33, "kmalloc(33 pages) took %lu pages from the zone", before - during);
	kfree(p);
	after = zone_free_pages();
	cr_assert_eq(after, before, "kfree gave back %lu pages of 33", after - during);
}

Test(page_alloc, alloc_pages_exact_above_the_largest_order_fails_with_enomem)
{
	void *p;

	errno = 0;
	p = alloc_pages_exact(MAX_BLOCK + PAGE, GFP_KERNEL);
	cr_assert_null(p, "alloc_pages_exact(4 MiB + 1 page) must fail: no buddy block is that large");
	cr_assert_eq(errno, ENOMEM, "errno %d, not ENOMEM", errno);
	errno = 0;
	p = alloc_pages(GFP_KERNEL, NR_ORDERS);
	cr_assert_null(p, "alloc_pages(order %d) must fail", NR_ORDERS);
	cr_assert_eq(errno, ENOMEM, "errno %d, not ENOMEM", errno);
}

/* ---- alignment -------------------------------------------------------------------- */

Test(page_alloc, blocks_are_aligned_to_their_order)
{
	enum { PER_ORDER = 5 };
	void *blocks[NR_ORDERS][PER_ORDER];

	for (int o = 0; o < NR_ORDERS; o++) {
		for (int i = 0; i < PER_ORDER; i++) {
			char *p = alloc_pages(GFP_KERNEL, (unsigned int)o);

			cr_assert_not_null(p, "alloc_pages(order %d) failed", o);
			cr_assert_eq((uintptr_t)p & ((PAGE << o) - 1), 0, "order %d block %p is not aligned to %lu",
				     o, (void *)p, PAGE << o);
			p[0] = 1;
			p[(PAGE << o) - 1] = 2;
			blocks[o][i] = p;
		}
	}
	for (int o = 0; o < NR_ORDERS; o++)
		for (int i = 0; i < PER_ORDER; i++)
			free_pages(blocks[o][i], (unsigned int)o);

	/* exact blocks are at least page aligned */
	for (unsigned long n = 1; n < 40; n += 3) {
		void *p = alloc_pages_exact(n * PAGE, GFP_KERNEL);

		cr_assert_not_null(p);
		cr_assert_eq((uintptr_t)p & (PAGE - 1), 0, "alloc_pages_exact(%lu pages) = %p", n, p);
		free_pages_exact(p, n * PAGE);
	}
}

Test(page_alloc, alloc_pages_with_gfp_zero_gives_zeroed_pages_after_reuse)
{
	for (int o = 0; o < NR_ORDERS; o++) {
		size_t bytes = PAGE << o;
		unsigned char *p = alloc_pages(GFP_KERNEL, (unsigned int)o);

		cr_assert_not_null(p);
		memset(p, 0xff, bytes);
		free_pages(p, (unsigned int)o);
		p = alloc_pages(GFP_KERNEL | __GFP_ZERO, (unsigned int)o);
		cr_assert_not_null(p);
		for (size_t i = 0; i < bytes; i += sizeof(long))
			cr_assert_eq(*(long *)(p + i), 0, "order %d: byte %zu of a __GFP_ZERO block is not zero", o, i);
		free_pages(p, (unsigned int)o);
	}
}

/* ---- memory goes back to the OS ------------------------------------------------------- */

#define BIG_BLOCKS 200 /* of 1 MiB, a kmalloc_large size */

static void purge_tunables(void)
{
	setenv("KSLUB_DIRTY_MAX", "2048", 1);	  /* pages: 8 MiB */
	setenv("KSLUB_RETAIN_ARENAS", "1", 1);
}

static void keep_everything(void)
{
	/* free memory stays resident and mapped until kslub_trim() */
	setenv("KSLUB_DIRTY_MAX", "1073741824", 1);
	setenv("KSLUB_RETAIN_ARENAS", "100000", 1);
}

static size_t touch_big_blocks(void **blocks)
{
	for (int i = 0; i < BIG_BLOCKS; i++) {
		blocks[i] = kmalloc(MiB, GFP_KERNEL);
		cr_assert_not_null(blocks[i], "kmalloc(1 MiB) number %d failed", i);
		memset(blocks[i], i + 1, MiB);
	}
	return (size_t)BIG_BLOCKS * MiB;
}

/* Touch 200 MiB of blocks, free them (with KSLUB_DIRTY_MAX and
 * KSLUB_RETAIN_ARENAS at their maximum they stay resident), then
 * kslub_trim(): RSS comes back to where it was, kslub_trim says so, and the
 * pages given back read as zeros when used again. */
static void trim_gives_back_all(void)
{
	static void *blocks[BIG_BLOCKS];
	size_t base, full, freed, trimmed, given, total;

	kfree(kmalloc(100, GFP_KERNEL));	/* start kslub before the baseline */
	base = rss_bytes();
	total = touch_big_blocks(blocks);
	full = rss_bytes();
	cr_assert_geq(full - base, total * 9 / 10, "200 MiB touched but RSS grew by only %zu MiB",
		      (full - base) / MiB);
	for (int i = 0; i < BIG_BLOCKS; i++)
		kfree(blocks[i]);
	freed = rss_bytes();
	cr_assert_geq(freed - base, total * 9 / 10,
		      "with KSLUB_DIRTY_MAX and KSLUB_RETAIN_ARENAS at their maximum, free() already gave "
		      "back %zu of 200 MiB", (full - freed) / MiB);
	given = kslub_trim();
	trimmed = rss_bytes();
	cr_assert_leq(trimmed, base + total / 10,
		      "after kslub_trim RSS is still %zu MiB above where it started (200 MiB were freed)",
		      (trimmed - base) / MiB);
	cr_assert_geq(given, total * 9 / 10, "kslub_trim() says it gave back %zu bytes of the 200 MiB freed",
		      given);
	cr_assert_eq(kslub_validate_slab_cache(kslub_kmalloc_cache(100)), 0);
	/* the blocks held 1 .. 200, and kmalloc itself writes nothing in them */
	for (int i = 0; i < BIG_BLOCKS; i++) {
		unsigned char *p = kmalloc(MiB, GFP_KERNEL);

		cr_assert_not_null(p);
		for (size_t j = 0; j < MiB; j += PAGE)
			cr_assert_eq(p[j], 0, "block %d: byte %zu is %d after a purge", i, j, p[j]);
		blocks[i] = p;
	}
	for (int i = 0; i < BIG_BLOCKS; i++)
		kfree(blocks[i]);
}

Test(page_alloc, trim_gives_freed_memory_back_to_the_os, .init = keep_everything)
{
	trim_gives_back_all();
}

/* A process that runs under a seccomp filter (here one that kills it for
 * process_madvise, as a sandbox kills for the calls it does not list) gets
 * its pages back with the calls glibc's malloc makes (mmap over them):
 * kslub looks at /proc/self/status before its first purge.  The filter is
 * put in place by raw system calls, which no library sees. */
Test(page_alloc, a_process_under_a_seccomp_filter_gets_its_pages_back_without_process_madvise,
     .init = keep_everything)
{
	cr_assert_eq(seccomp_answer(NR_PROCESS_MADVISE, SECCOMP_RET_KILL_PROCESS, false), 0, "seccomp filter: %s",
		     strerror(errno));
	trim_gives_back_all();
}

Test(page_alloc, freed_memory_goes_back_to_the_os_without_trim, .init = purge_tunables)
{
	static void *blocks[BIG_BLOCKS];
	size_t base, after, total;
	/* at most 4 * KSLUB_DIRTY_MAX pages stay resident before a purge of
	 * everything, plus the KSLUB_RETAIN_ARENAS arena kept mapped */
	size_t bound = 4 * 2048 * PAGE + 8 * MiB + 8 * MiB;

	kfree(kmalloc(100, GFP_KERNEL));
	base = rss_bytes();
	total = touch_big_blocks(blocks);
	for (int i = 0; i < BIG_BLOCKS; i++)
		kfree(blocks[i]);
	after = rss_bytes();
	cr_assert_leq(after, base + bound,
		      "%zu MiB freed, RSS still %zu MiB above where it started (bound %zu MiB)", total / MiB,
		      (after - base) / MiB, bound / MiB);
	cr_assert_eq(kslub_validate_slab_cache(kslub_kmalloc_cache(100)), 0);
}

/* With the default KSLUB_DIRTY_MAX (32 MiB) a heap of a few MiB keeps no
 * more than a quarter of what it uses, at least 4 MiB, of freed pages
 * resident once they have been free KSLUB_PURGE_DELAY ms (100): 26 MiB
 * freed next to 4 MiB in use are given back, but for that reserve, by the
 * first free into the zone after the delay.  Until then they may stay, up
 * to what the heap had resident lately, for a heap that builds again. */
Test(page_alloc, a_small_heap_keeps_a_small_reserve_of_freed_pages)
{
	enum { BLOCKS = 30, KEPT = 4 };
	static void *blocks[BLOCKS];
	size_t base, after;
	/* the live blocks, the 4 MiB reserve, and 2 MiB of slack */
	size_t bound = KEPT * MiB + 4 * MiB + 2 * MiB;

	kfree(kmalloc(100, GFP_KERNEL));
	base = rss_bytes();
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = kmalloc(MiB, GFP_KERNEL);
		cr_assert_not_null(blocks[i]);
		memset(blocks[i], i + 1, MiB);
	}
	for (int i = KEPT; i < BLOCKS; i++)
		kfree(blocks[i]);
	usleep(150 * 1000);
	kfree(kmalloc(MiB, GFP_KERNEL));	/* a free into the zone, past the delay */
	after = rss_bytes();
	cr_assert_leq(after, base + bound, "%d MiB freed next to %d MiB in use, RSS still %zu MiB above the start",
		      BLOCKS - KEPT, KEPT, (after - base) / MiB);
	for (int i = 0; i < KEPT; i++)
		kfree(blocks[i]);
	cr_assert_eq(kslub_validate_slab_cache(kslub_kmalloc_cache(100)), 0);
}

/* Page faults of this process so far. */
static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_minflt;
}

/* Touch every page of a block; the page faults it took. */
static long touch_faults(void *p, size_t bytes)
{
	long before = minor_faults();

	for (size_t off = 0; off < bytes; off += PAGE)
		((volatile char *)p)[off] = 1;
	return minor_faults() - before;
}

/* An allocation takes resident free pages before clean ones, even from a
 * larger block: clean 64 KiB holes are passed over for a dirty 256 KiB block
 * (orders 4 and 6: above the thread page lists). */
Test(page_alloc, resident_free_pages_are_handed_out_before_clean_ones, .init = retain_arenas)
{
	enum { N = 64 };
	void *blocks[N], *big, *p;
	long faults;

	for (int i = 0; i < N; i++) {
		blocks[i] = alloc_pages(GFP_KERNEL, 4);
		cr_assert_not_null(blocks[i]);
		touch_faults(blocks[i], PAGE << 4);
	}
	for (int i = 1; i < N; i += 2)
		free_pages(blocks[i], 4);
	kslub_trim();	/* the holes are clean now */
	big = alloc_pages(GFP_KERNEL, 6);
	cr_assert_not_null(big);
	touch_faults(big, PAGE << 6);
	free_pages(big, 6);
	p = alloc_pages(GFP_KERNEL, 4);
	cr_assert_not_null(p);
	faults = touch_faults(p, PAGE << 4);
	cr_assert_eq(faults, 0, "the 64 KiB block took %ld page faults: a clean hole was chosen over resident pages",
		     faults);
	free_pages(p, 4);
	for (int i = 0; i < N; i += 2)
		free_pages(blocks[i], 4);
}

/* n blocks of HOLE_BYTES, each touched (resident); then every other one
 * freed (free_every_other(blocks, n, 1)): n / 2 resident free blocks, held
 * apart by the live ones, which free_every_other(blocks, n, 0) frees. */
#define HOLE_BYTES (64 * 1024)
static void take_touched_blocks(void **blocks, int n)
{
	for (int i = 0; i < n; i++) {
		blocks[i] = kmalloc(HOLE_BYTES, GFP_KERNEL);
		cr_assert_not_null(blocks[i]);
		touch_faults(blocks[i], HOLE_BYTES);
	}
}

static void free_every_other(void **blocks, int n, int first)
{
	for (int i = first; i < n; i += 2)
		kfree(blocks[i]);
}

/* A large block that the zone can only hand out clean (every resident free
 * block is smaller) takes those blocks' pages, moved in, instead of faulting
 * in new ones: here 32 freed 64 KiB blocks, pinned apart by live ones, and
 * a 1 MiB block after them.  The block works like any other, and kzalloc's
 * blocks still read as zeros. */
Test(page_alloc, a_clean_large_block_takes_the_pages_of_smaller_freed_ones, .init = retain_arenas)
{
	enum { N = 64, HOLE = HOLE_BYTES, BIG = 1024 * 1024 };
	void *blocks[N];
	unsigned char *big, *z;
	long faults;

	kfree(kmalloc(100, GFP_KERNEL));
	kslub_flush_thread();
	kslub_trim();	/* every free page clean */
	take_touched_blocks(blocks, N);
	for (int i = 0; i < N; i += 2)
		tag_block(blocks[i], HOLE, (unsigned long)i);
	free_every_other(blocks, N, 1);
	/* a zeroed block is not filled: its pages must read as zeros */
	z = kzalloc(BIG, GFP_KERNEL);
	cr_assert_not_null(z);
	for (size_t off = 0; off < BIG; off += 512)
		cr_assert_eq(z[off], 0, "kzalloc(1 MiB): byte %zu is %d", off, z[off]);
	big = kmalloc(BIG, GFP_KERNEL);
	cr_assert_not_null(big);
	faults = touch_faults(big, BIG);
	cr_assert_lt(faults, (long)(BIG / PAGE) / 4,
		     "the 1 MiB block took %ld page faults next to 2 MiB of freed resident pages", faults);
	for (size_t off = 0; off < BIG; off += PAGE)
		big[off] = (unsigned char)(off / PAGE);
	for (size_t off = 0; off < BIG; off += PAGE)
		cr_assert_eq(big[off], (unsigned char)(off / PAGE), "byte %zu of the block changed", off);
	for (int i = 0; i < N; i += 2)
		check_tag(blocks[i], HOLE, (unsigned long)i);	/* the live ones untouched */
	kfree(big);
	kfree(z);
	free_every_other(blocks, N, 0);
}

/* A large block that krealloc moves into a clean block goes there by mremap,
 * and the room past it takes the pages of smaller freed blocks: the data
 * comes through whole, and the growth does not fault its pages in. */
Test(page_alloc, a_block_krealloc_moves_keeps_its_data_and_grows_into_resident_pages, .init = retain_arenas)
{
	enum { N = 64, OLD = 256 * 1024, NEW = 1024 * 1024 };
	void *blocks[N], *pin;
	unsigned char *p;
	long faults;

	kfree(kmalloc(100, GFP_KERNEL));
	kslub_flush_thread();
	kslub_trim();
	take_touched_blocks(blocks, N);
	p = kmalloc(OLD, GFP_KERNEL);
	pin = kmalloc(HOLE_BYTES, GFP_KERNEL);	/* likely right after p: no growth in place */
	cr_assert_not_null(p);
	cr_assert_not_null(pin);
	for (size_t i = 0; i < OLD; i++)
		p[i] = (unsigned char)(i * 7 + i / 4096);
	free_every_other(blocks, N, 1);	/* after p and pin: neither takes a hole */
	p = krealloc(p, NEW, GFP_KERNEL);
	cr_assert_not_null(p);
	for (size_t i = 0; i < OLD; i++)
		cr_assert_eq(p[i], (unsigned char)(i * 7 + i / 4096), "byte %zu changed in the move", i);
	faults = touch_faults(p + OLD, NEW - OLD);
	cr_assert_lt(faults, (long)((NEW - OLD) / PAGE) / 4,
		     "the grown block's new 768 KiB took %ld page faults next to 2 MiB of freed resident pages",
		     faults);
	kfree(p);
	kfree(pin);
	free_every_other(blocks, N, 0);
}

/* The zone's count of free pages that may be resident, from the report. */
static unsigned long zone_dirty_pages(void)
{
	return report_value("node 0 ", " dirty_pages ");
}

/* The process's mappings: the lines of /proc/self/maps. */
static long count_mappings(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	long n = 0;
	int c;

	cr_assert_not_null(f, "cannot open /proc/self/maps");
	while ((c = fgetc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

/* A GFP_ATOMIC caller may not wait for the zone lock, which the blocks moved
 * from would need again: its clean block is not filled (no move), though
 * freed resident blocks lie beside it. */
Test(page_alloc, a_gfp_atomic_block_is_not_filled, .init = retain_arenas)
{
	enum { N = 16, BIG = 512 * 1024 };
	void *blocks[N], *big, *atomic;
	unsigned long moves;

	kfree(kmalloc(100, GFP_KERNEL));
	kslub_trim();
	take_touched_blocks(blocks, N);
	free_every_other(blocks, N, 1);
	moves = report_value("os ", " moves ");
	atomic = kmalloc(BIG, GFP_ATOMIC);
	cr_assert_not_null(atomic);
	cr_assert_eq(report_value("os ", " moves "), moves, "a GFP_ATOMIC block was filled");
	/* the same with GFP_KERNEL is filled */
	big = kmalloc(BIG, GFP_KERNEL);
	cr_assert_not_null(big);
	cr_assert_gt(report_value("os ", " moves "), moves, "a GFP_KERNEL block next to the same holes was not filled");
	kfree(big);
	kfree(atomic);
	free_every_other(blocks, N, 0);
}

/* Each move that fills a clean block may add two mappings to the process,
 * and they stay until the arena is unmapped: the moves stop at their cap, a
 * quarter of the arenas' 16384.  Round after round of a 256 KiB block that
 * comes clean next to four freed 64 KiB ones (four moves a round): the moves
 * reach the cap and no more, and the mappings stay within two a move. */
Test(page_alloc, the_moves_that_fill_clean_blocks_stop_at_their_cap, .init = retain_arenas)
{
	enum { HOLES = 8, BIG = HOLES / 2 * HOLE_BYTES, CAP = 4096, ROUNDS = CAP / 4 + 64 };
	long maps0, maps, faults = 0, first_faults = -1;
	unsigned long moves;

	kfree(kmalloc(100, GFP_KERNEL));
	maps0 = count_mappings();
	for (int r = 0; r < ROUNDS; r++) {
		void *h[HOLES];
		void *big;

		kslub_trim();	/* every free page clean */
		take_touched_blocks(h, HOLES);
		free_every_other(h, HOLES, 1);
		big = kmalloc(BIG, GFP_KERNEL);
		cr_assert_not_null(big);
		faults = touch_faults(big, BIG);
		if (first_faults < 0)
			first_faults = faults;
		kfree(big);
		free_every_other(h, HOLES, 0);
	}
	moves = report_value("os ", " moves ");
	maps = count_mappings();
	cr_log_info("%d rounds: %lu moves, %ld mappings more, first block %ld faults, last %ld", ROUNDS, moves,
		    maps - maps0, first_faults, faults);
	cr_assert_lt(first_faults, (long)(BIG / PAGE) / 4, "the first block took %ld page faults: nothing was moved in",
		     first_faults);
	cr_assert_eq(moves, (unsigned long)CAP, "%lu moves after %d rounds of four: the cap is %d", moves, ROUNDS, CAP);
	cr_assert_leq(maps - maps0, 2L * CAP, "%lu moves added %ld mappings", moves, maps - maps0);
}

/* A freed block adds its own pages to the zone's resident free pages, not
 * those of the clean buddies it merges with: a 64 KiB block freed into a
 * clean 4 MiB one counts 16 pages, and the purge rules see 16.  A block
 * split off it takes a share. */
Test(page_alloc, a_freed_block_counts_only_its_own_pages_as_resident, .init = retain_arenas)
{
	unsigned long d0, d1, d2;
	void *p, *q;

	kfree(kmalloc(100, GFP_KERNEL));
	kslub_flush_thread();
	kslub_trim();	/* every free page clean */
	d0 = zone_dirty_pages();
	cr_assert_eq(d0, 0, "%lu resident free pages after kslub_trim", d0);
	p = alloc_pages(GFP_KERNEL, 4);	/* above the page lists' orders */
	cr_assert_not_null(p);
	memset(p, 1, PAGE << 4);
	free_pages(p, 4);
	d1 = zone_dirty_pages();
	cr_assert_eq(d1, 16, "a freed 16-page block counts %lu resident pages", d1);
	/* the block it merged into is handed out first, split: the part taken
	 * leaves the count, the rest keeps its share */
	q = alloc_pages(GFP_KERNEL, 9);
	cr_assert_not_null(q);
	d2 = zone_dirty_pages();
	cr_assert_leq(d2, 16, "%lu resident free pages after a 2 MiB block was taken", d2);
	free_pages(q, 9);
}

/* A heap that frees all it has and builds it again at once keeps its pages:
 * up to what it had in use lately (and 2 * KSLUB_DIRTY_MAX), the freed
 * pages are purged only once they have been free KSLUB_PURGE_DELAY ms. */
Test(page_alloc, a_heap_freed_and_built_again_at_once_keeps_its_pages)
{
	enum { BLOCKS = 24 };
	static void *blocks[BLOCKS];
	long faults = 0;

	kfree(kmalloc(100, GFP_KERNEL));
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = kmalloc(MiB, GFP_KERNEL);
		cr_assert_not_null(blocks[i]);
		touch_faults(blocks[i], MiB);
	}
	for (int i = 0; i < BLOCKS; i++)
		kfree(blocks[i]);
	for (int i = 0; i < BLOCKS; i++) {
		blocks[i] = kmalloc(MiB, GFP_KERNEL);
		cr_assert_not_null(blocks[i]);
		faults += touch_faults(blocks[i], MiB);
	}
	cr_assert_lt(faults, BLOCKS * (long)(MiB / PAGE) / 10,
		     "building the %d MiB again took %ld page faults: the freed pages were given back", BLOCKS, faults);
	for (int i = 0; i < BLOCKS; i++)
		kfree(blocks[i]);
}

/* The same for a heap whose blocks grew in place (krealloc, as a vector
 * grows): the clean pages a block takes as it grows count toward the
 * zone's recent peak of resident pages like those of a new block.  Blocks
 * cut to a quarter and trimmed, a second for that peak to be taken again
 * (PEAK_MS) from a heap of 12 MiB, then 18 MiB taken by growing the blocks
 * back: freeing them keeps their pages, where a peak that missed the growth
 * saw more freed pages than the heap ever had and purged them all. */
Test(page_alloc, a_heap_grown_in_place_and_freed_at_once_keeps_its_pages)
{
	enum { BLOCKS = 24, OTHERS = 6 };
	static void *blocks[BLOCKS], *others[OTHERS];
	unsigned long dirty;

	kfree(kmalloc(100, GFP_KERNEL));
	for (int i = 0; i < BLOCKS; i++) {
		void *p = kmalloc(MiB, GFP_KERNEL);

		cr_assert_not_null(p);
		touch_faults(p, MiB);
		blocks[i] = krealloc(p, MiB / 4, GFP_KERNEL);
		cr_assert_eq(blocks[i], p, "krealloc moved a block it shrank");
	}
	kslub_trim();	/* the freed three quarters are clean */
	usleep(1100 * 1000);
	for (int i = 0; i < OTHERS; i++) {
		others[i] = kmalloc(MiB, GFP_KERNEL);
		cr_assert_not_null(others[i]);
		touch_faults(others[i], MiB);
	}
	for (int i = 0; i < OTHERS; i++)
		kfree(others[i]);	/* over the reserve: the peak is taken again */
	for (int i = 0; i < BLOCKS; i++) {
		void *p = krealloc(blocks[i], MiB, GFP_KERNEL);

		cr_assert_eq(p, blocks[i], "krealloc moved block %d, whose freed pages were free", i);
		touch_faults(p, MiB);
	}
	for (int i = 0; i < BLOCKS; i++)
		kfree(blocks[i]);
	dirty = zone_dirty_pages();
	cr_assert_geq(dirty, BLOCKS * (MiB / PAGE) * 9 / 10,
		      "%lu resident free pages after %d MiB were freed: they were given back", dirty, BLOCKS);
}

/* ---- running out of address space ----------------------------------------------------- */

static size_t vm_size_bytes(void)
{
	unsigned long size;
	FILE *f = fopen("/proc/self/statm", "r");

	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%lu", &size), 1);
	fclose(f);
	return size * (size_t)sysconf(_SC_PAGESIZE);
}

Test(page_alloc, mmap_failure_gives_null_and_enomem_not_a_crash)
{
	enum { MAX_PTRS = 1 << 16 };
	static void *ptrs[MAX_PTRS];
	struct rlimit old, low;
	int n = 0, large = 0;
	void *p;

	kfree(kmalloc(64, GFP_KERNEL));
	cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
	low = old;
	low.rlim_cur = vm_size_bytes() + 48 * MiB;
	cr_assert_eq(setrlimit(RLIMIT_AS, &low), 0);

	errno = 0;
	p = kmalloc(1UL << 30, GFP_KERNEL);
	cr_assert_null(p, "kmalloc(1 GiB) under a 48 MiB address space limit succeeded");
	cr_assert_eq(errno, ENOMEM, "kmalloc(1 GiB): errno %d, not ENOMEM", errno);

	/* Buddy blocks until the zone cannot grow: NULL and ENOMEM, no crash. */
	for (;;) {
		errno = 0;
		p = alloc_pages(GFP_KERNEL, NR_ORDERS - 1);
		if (!p)
			break;
		cr_assert_lt(n, MAX_PTRS);
		ptrs[n++] = p;
		large++;
	}
	cr_assert_eq(errno, ENOMEM, "alloc_pages failed with errno %d, not ENOMEM", errno);
	cr_assert_lt(large, 100, "the address space limit had no effect");

	/* Slab objects until the slabs cannot grow either. */
	for (;;) {
		errno = 0;
		p = kmalloc(2048, GFP_KERNEL);
		if (!p)
			break;
		cr_assert_lt(n, MAX_PTRS, "64 Ki objects of 2 KiB under a 48 MiB limit");
		memset(p, 1, 2048);
		ptrs[n++] = p;
	}
	cr_assert_eq(errno, ENOMEM, "kmalloc(2048) failed with errno %d, not ENOMEM", errno);

	while (n > large)
		kfree(ptrs[--n]);
	while (n > 0)
		free_pages(ptrs[--n], NR_ORDERS - 1);
	cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);

	/* and kslub works again once memory is there */
	p = kmalloc(1UL << 30, GFP_KERNEL);
	cr_assert_not_null(p, "kmalloc(1 GiB) fails after the limit was lifted");
	kfree(p);
	p = kmalloc(2048, GFP_KERNEL);
	cr_assert_not_null(p);
	kfree(p);
	cr_assert_eq(kslub_validate_slab_cache(kslub_kmalloc_cache(2048)), 0);
	cr_assert_eq(kslub_validate_slab_cache(kslub_kmalloc_cache(64)), 0);
}

/* Blocks of 1-4 MiB take runs of free pages anywhere in an arena, not the
 * aligned 2 MiB or 4 MiB block their size rounds up to: two blocks of 3 MiB
 * fit in one 8 MiB arena, where the buddy put each in an arena's upper half
 * (the lower half holds the memmap, so it is never a whole 4 MiB block).
 * Under an address space limit that is twice the blocks: 58 against 29 in
 * 256 MiB. */
Test(page_alloc, blocks_of_3_mib_share_arenas_under_an_address_space_limit)
{
	enum { MAX_BLOCKS = 256 };
	static char *blocks[MAX_BLOCKS];
	size_t bytes = 3 * MiB, room = 192 * MiB;
	struct rlimit old, low;
	int n = 0;

	kfree(kmalloc(64, GFP_KERNEL));
	cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
	low = old;
	low.rlim_cur = vm_size_bytes() + room;
	cr_assert_eq(setrlimit(RLIMIT_AS, &low), 0);
	while (n < MAX_BLOCKS && (blocks[n] = kmalloc(bytes, GFP_KERNEL))) {
		tag_block(blocks[n], bytes, (unsigned long)n);
		n++;
	}
	cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0);
	/* 64 would fill the room; an 8 MiB arena holds two, and a few
	 * arenas' worth goes to what the process had mapped already */
	cr_assert_geq(n, 40, "only %d blocks of 3 MiB in %zu MiB of address space: one an arena", n, room / MiB);
	for (int i = 0; i < n; i++) {
		check_tag(blocks[i], bytes, (unsigned long)i);
		kfree(blocks[i]);
	}
}

/* A block from a run of free pages that a free left resident is not taken
 * for zeros: kzalloc of it clears what the last block there held. */
Test(page_alloc, a_block_from_a_run_of_resident_pages_is_zeroed_by_kzalloc)
{
	enum { SIZE = 3 * MiB };	/* not a power of two: a run of free pages */

	for (int round = 0; round < 4; round++) {
		unsigned char *p = kmalloc(SIZE, GFP_KERNEL), *q;

		cr_assert_not_null(p);
		memset(p, 0xa5, SIZE);
		kfree(p);
		q = kzalloc(SIZE, GFP_KERNEL);
		cr_assert_not_null(q);
		for (size_t i = 0; i < SIZE; i += 512)
			cr_assert_eq(q[i], 0, "byte %zu of a kzalloc'd block is %#x (round %d, %s block)", i, q[i],
				     round, q == p ? "the freed" : "another");
		kfree(q);
	}
}

/* Blocks of more than 1 MiB in runs of free pages across buddy blocks, mixed
 * with smaller ones, freed in random order, grown and shrunk in place and
 * moved: no block overlaps another, and once all are freed every page is
 * back in the zone's free areas, merged as before. */
Test(page_alloc, blocks_in_runs_of_free_pages_never_overlap_and_all_come_back, .init = retain_arenas)
{
	enum { N = 96, ROUNDS = 600 };
	char *p[N] = { 0 };
	size_t len[N] = { 0 };
	unsigned long before[NR_ORDERS], after[NR_ORDERS], state = 42;

	/* arenas enough for every block at once (retained, so the free
	 * areas compare): one a 4 MiB block, 8 MiB of address space each */
	for (int i = 0; i < N; i++) {
		p[i] = alloc_pages(GFP_KERNEL, NR_ORDERS - 1);
		cr_assert_not_null(p[i]);
	}
	for (int i = 0; i < N; i++) {
		free_pages(p[i], NR_ORDERS - 1);
		p[i] = NULL;
	}
	buddy_snapshot(before);
	for (int r = 0; r < ROUNDS; r++) {
		int i = (int)(lcg(&state) % N);
		unsigned long kind = lcg(&state) % 8;

		if (p[i]) {
			check_tag(p[i], len[i], (unsigned long)i);
			if (kind < 3) {
				/* grow or shrink: in place, or moved */
				size_t to = MiB + lcg(&state) % (3 * MiB);

				p[i] = krealloc(p[i], to, GFP_KERNEL);
				cr_assert_not_null(p[i], "krealloc to %zu bytes failed", to);
				cr_assert_eq(((unsigned long *)p[i])[0], (unsigned long)i, "krealloc lost block %d's start",
					     i);
				cr_assert_eq((unsigned char)p[i][(to < len[i] ? to : len[i]) / 2], (unsigned char)i,
					     "krealloc lost block %d's middle", i);
				if (to > len[i])	/* over the old end mark too */
					memset(p[i] + len[i] - sizeof(long), (int)i, to - len[i] + sizeof(long));
				len[i] = to;
				tag_block(p[i], len[i], (unsigned long)i);
				continue;
			}
			kfree(p[i]);
			p[i] = NULL;
			continue;
		}
		/* mostly sizes above 1 MiB, not powers of two; some small */
		len[i] = kind < 6 ? MiB + PAGE + lcg(&state) % (3 * MiB - PAGE) : PAGE * (1 + lcg(&state) % 200);
		p[i] = kmalloc(len[i], GFP_KERNEL);
		cr_assert_not_null(p[i], "kmalloc(%zu) failed", len[i]);
		memset(p[i], (int)i, len[i]);
		tag_block(p[i], len[i], (unsigned long)i);
	}
	for (int i = 0; i < N; i++) {
		if (!p[i])
			continue;
		check_tag(p[i], len[i], (unsigned long)i);
		/* the middle too, where a neighbour laid over it would show */
		cr_assert_eq((unsigned char)p[i][len[i] / 2], (unsigned char)i, "block %d was overwritten inside", i);
		kfree(p[i]);
	}
	buddy_snapshot(after);
	cr_assert_eq(free_pages_of(after) - free_pages_of(before), 0,
		     "%ld pages not back in the zone after every block was freed",
		     (long)(free_pages_of(before) - free_pages_of(after)));
	for (int o = 0; o < NR_ORDERS; o++)
		cr_assert_eq(after[o], before[o], "order %d: %lu free blocks after, %lu before: not merged back", o,
			     after[o], before[o]);
}

/* ---- misuse ------------------------------------------------------------------------------- */

static void no_core_dump(void)
{
	struct rlimit r = { 0, 0 };

	setrlimit(RLIMIT_CORE, &r);
}

Test(page_alloc, free_pages_with_the_wrong_order_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	void *p = alloc_pages(GFP_KERNEL, 2);

	cr_assert_not_null(p);
	free_pages(p, 3);
}

Test(page_alloc, free_pages_of_an_address_inside_a_block_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	char *p = alloc_pages(GFP_KERNEL, 2);

	cr_assert_not_null(p);
	free_pages(p + PAGE, 1);
}

Test(page_alloc, free_pages_exact_with_the_wrong_size_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	void *p = alloc_pages_exact(5 * PAGE, GFP_KERNEL);

	cr_assert_not_null(p);
	free_pages_exact(p, 3 * PAGE);
}

Test(page_alloc, free_pages_of_a_slab_object_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	void *p = kmalloc(4096, GFP_KERNEL);

	cr_assert_not_null(p);
	free_pages(p, 0);
}

Test(page_alloc, buddyinfo_of_a_node_that_does_not_exist_is_minus_one)
{
	unsigned long nr_free[NR_ORDERS];

	cr_assert_eq(kslub_buddyinfo(-1, nr_free), -1);
	cr_assert_eq(kslub_buddyinfo(4096, nr_free), -1);
	cr_assert_eq(kslub_buddyinfo(0, nr_free), NR_ORDERS);
}
