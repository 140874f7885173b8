/* SPDX-License-Identifier: MIT */
/*
 * kmalloc.c - kmalloc and friends on top of SLUB and the buddy.
 *
 *   size 1 .. 8 KiB        a kmalloc cache: kmalloc-8 ... kmalloc-8k, with the
 *                          kernel's kmalloc-96 and kmalloc-192
 *   8 KiB .. 4 MiB         kmalloc_large: exactly the pages needed, from a
 *                          buddy block whose unused tail goes straight back
 *                          (above 1 MiB and not a power of two, from a run
 *                          of free pages anywhere in an arena: rmqueue_run)
 *   above 4 MiB            a mapping of its own (the kernel's vmalloc), with a
 *                          header page; realloc moves it with mremap; with
 *                          KSLUB_THP=1 and unless zeroed, it asks for
 *                          transparent huge pages (MADV_HUGEPAGE)
 *
 * A power-of-two size is aligned to its size, as the kernel guarantees.
 * kmalloc(0) is ZERO_SIZE_PTR, which kfree accepts and nothing may touch.
 */
#include "slub.h"
#include "topology.h"

#include <errno.h>
#include <stdint.h>
#include <sys/single_threaded.h>

/* Before the caches exist every slot points at a cache whose kmem_cache_cpu
 * is slot 0 of the thread: the empty thread's, whose freelist is NULL, so the
 * first kmalloc takes the slow path and starts kslub. */
struct kmem_cache kmalloc_boot_cache;
struct kmem_cache *kmalloc_caches[NR_KMALLOC_SLOTS] = {
	[0 ... NR_KMALLOC_SLOTS - 1] = &kmalloc_boot_cache,
};
/* Slot 0 is the boot cache's for good, so that the index tables, all zero
 * until the caches exist, never name a cache before its sizes are filled
 * in; its cpu offset is 0, a thread's slot that no cache has (see
 * alloc_cache_slot). */
uint8_t kmalloc_size_index[KSLUB_KMALLOC_MAX_CACHE_SIZE / KMALLOC_MIN_SIZE];
struct kmalloc_tables kmalloc_tables;
uint16_t kmalloc_cpu_offsets_16[KSLUB_KMALLOC_MAX_CACHE_SIZE / 16];

/* The kmalloc sizes: the kernel's (8, 16, 32, 64, 96, 128, 192, 256, 512,
 * 1k ... 8k) with about four steps in between each power of two from 32 up,
 * so that no request wastes more than a fifth of its object (the kernel's
 * classes waste up to half: a 257-byte request takes 512).  Every size is
 * one that fills its slab: the largest multiple of 16 of which n fit the
 * order calculate_order gives it (336 = 4 KiB / 12, 4672 = 32 KiB / 7),
 * so no slab ends in a tail no object can use, and the sizes between
 * cover the common "power of two plus a header" requests better than a
 * grid would: 1088 (15 in 16 KiB) takes a KiB and a header of up to 64
 * bytes, and sqlite's 1032-byte page-cache entries take 1088, where
 * quarter steps gave 1280.  4368 is the one size (with the default
 * options) whose slab is of an order above slub_max_order, 15 in 64 KiB
 * (see calculate_sizes): sqlite's 4104 and 4368-byte entries took 4672
 * without it, 14% and 7% more than asked.  Every size from 16 up is a
 * multiple of 16, so every object is 16-byte aligned, and the powers of
 * two keep their natural alignment. */
static const unsigned int kmalloc_sizes[] = {
	8, 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256,
	336, 384, 448, 512, 672, 768, 896, 1024,
	1088, 1168, 1360, 1552, 1808, 2048,
	2336, 2720, 3264, 3632, 4096,
	4368, 4672, 5456, 6544, 8192,
};
_Static_assert(sizeof(kmalloc_sizes) / sizeof(kmalloc_sizes[0]) <= NR_KMALLOC_SLOTS, "kmalloc slots");
_Static_assert(NR_SLAB_SLOT_CACHES == NR_KMALLOC_SLOTS, "the slot map's copy of kmalloc_caches");

void create_kmalloc_caches(void)
{
	char name[KSLUB_CACHE_NAME_MAX];
	unsigned int slot = 1;	/* 0 is the boot cache's */

	for (unsigned int i = 0; i < ARRAY_SIZE(kmalloc_sizes); i++) {
		unsigned int size = kmalloc_sizes[i];
		struct kmem_cache *s;

		if (size % 1024 == 0)
			kslub_snprintf(name, sizeof(name), "kmalloc-%uk", size / 1024);
		else
			kslub_snprintf(name, sizeof(name), "kmalloc-%u", size);
		s = kmem_cache_create_flags(name, size, 0, 0, NULL, true);
		if (!s)
			kslub_fatal(NULL, NULL, "cannot create %s", name);
		if (s->cpu_offset > UINT16_MAX)
			kslub_fatal(NULL, NULL, "%s: cpu offset %u past malloc's table", name, s->cpu_offset);
		/* kmalloc_freelist_pop and kfree's slot map rely on it */
		if (s->offset != 0 || s->ctor || s->red_left_pad)
			kslub_fatal(NULL, NULL, "%s: free pointer not at offset 0, or a left red zone", name);
		/* before any slab of it is made, so that kfree finds them all */
		s->kmalloc_slot = slot;
		/* the slot whole before an index names it */
		__atomic_store_n(&kmalloc_tables.cpu_offset[slot], s->cpu_offset, __ATOMIC_RELEASE);
		__atomic_store_n(&kmalloc_caches[slot], s, __ATOMIC_RELEASE);
		if (kslub_slab_slots) {	/* the map's copies */
			__atomic_store_n(&((uint32_t *)((struct kmem_cache **)kslub_slab_slots - NR_SLAB_SLOT_CACHES) -
					   NR_SLAB_SLOT_CACHES)[slot], s->cpu_offset, __ATOMIC_RELEASE);
			__atomic_store_n(&((struct kmem_cache **)kslub_slab_slots - NR_SLAB_SLOT_CACHES)[slot], s,
					 __ATOMIC_RELEASE);
		}
		for (unsigned int sz = i ? kmalloc_sizes[i - 1] + 1 : 1; sz <= size; sz += KMALLOC_MIN_SIZE)
			__atomic_store_n(&kmalloc_size_index[(sz - 1) >> KMALLOC_SHIFT_LOW], (uint8_t)slot,
					 __ATOMIC_RELEASE);
		/* by 16 bytes: kmalloc-8 shares (0, 16] with kmalloc-16, which
		 * comes after it and takes the entry */
		if (size % 16 == 0) {
			for (unsigned int sz = i ? kmalloc_sizes[i - 1] + 1 : 1; sz <= size; sz += 16)
				__atomic_store_n(&kmalloc_cpu_offsets_16[(sz - 1) >> 4], (uint16_t)s->cpu_offset,
						 __ATOMIC_RELEASE);
		}
		/* malloc's table: kmalloc-16 from size 0, kmalloc-8 never */
		if (size >= 16) {
			for (unsigned int sz = size == 16 ? 0 : kmalloc_sizes[i - 1] + 1;
			     sz <= size && sz <= KMALLOC_SMALL_MAX; sz++) {
				__atomic_store_n(&kmalloc_tables.index_small[sz], (uint8_t)slot, __ATOMIC_RELEASE);
				__atomic_store_n(&kmalloc_tables.cpu_offset_small[sz], (uint16_t)s->cpu_offset,
						 __ATOMIC_RELEASE);
			}
		}
		slot++;
	}
}

KSLUB_API struct kmem_cache *kslub_kmalloc_cache(size_t size)
{
	kslub_ensure_init();
	if (!size || size > KSLUB_KMALLOC_MAX_CACHE_SIZE)
		return NULL;
	return kmalloc_cache_indexed(size);
}

/* ---- direct mappings ("vmalloc") -------------------------------------------- */
#define HUGE_MAGIC 0x6b736c7562687567UL
struct huge_header {
	unsigned long magic;
	size_t map_size;	/* bytes mapped, from the header */
	size_t size;		/* usable bytes from user */
	void *user;		/* what the program holds */
};

#define KMALLOC_LARGE_MAX (PAGE_SIZE << (MAX_ORDER - 1))

/* ---- lazily freed mappings ---------------------------------------------------
 * The kernel's vfree leaves a freed area mapped until enough have piled up
 * (purge_vmap_area_lazy).  Here a freed direct mapping stays mapped, with its
 * pages, in a small cache, and the next large request takes it, cut down
 * (the tail past the next arena boundary stays cached) or grown with mremap
 * (moved, pages and all, when it cannot grow in place): no mmap, and no page
 * faults for the pages it already has.  The cache holds at most
 * HUGE_CACHE_NR mappings and 8 * KSLUB_DIRTY_MAX pages (256 MiB by
 * default), the largest first; a mapping that waited
 * HUGE_CACHE_MS goes back to the OS at the next large allocation or free, and
 * malloc_trim() empties the cache.  A cached mapping is not in the section
 * map, so a second free of its block is still reported. */
#define HUGE_CACHE_NR 4
#define HUGE_CACHE_MS 1000
struct huge_cached {
	struct huge_header *h;
	size_t map_size;
	uint64_t freed_at;
};
static struct huge_cached huge_cache[HUGE_CACHE_NR];
static unsigned int huge_cache_nr;
static size_t huge_cache_bytes;
kslub_lock_t kslub_huge_cache_lock = KSLUB_LOCK_INIT;	/* a leaf: no lock is taken under it */

static size_t huge_cache_max_bytes(void)
{
	return 8 * (size_t)kslub_opt(OPT_DIRTY_MAX) * PAGE_SIZE;
}

static void huge_cache_del(unsigned int i)
{
	huge_cache_bytes -= huge_cache[i].map_size;
	huge_cache[i] = huge_cache[huge_cache_nr - 1];
	/* stored once: huge_cache_get reads it without the lock */
	WRITE_ONCE(huge_cache_nr, huge_cache_nr - 1);
}

/* Take the expired mappings (all with all) off the cache into out[]. */
static unsigned int huge_cache_expire(struct huge_cached *out, uint64_t now, bool all)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < huge_cache_nr;) {
		if (all || now - huge_cache[i].freed_at >= HUGE_CACHE_MS) {
			out[n++] = huge_cache[i];
			huge_cache_del(i);
		} else {
			i++;
		}
	}
	return n;
}

static void huge_unmap_list(struct huge_cached *list, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		os_munmap(list[i].h, list[i].map_size);
}

/* Make the mapping at h, old bytes long, total bytes long: in place if the
 * address space after it is free, else by moving its pages (no copy) to a new
 * range aligned to align.  The new address, or NULL with h left as it was.
 * The caller keeps h out of the section map while it may move. */
static struct huge_header *huge_grow(struct huge_header *h, size_t old, size_t total, size_t align)
{
	struct huge_header *nh = NULL;
	void *dst;

	if (os_mremap(h, old, total, NULL))
		return h;
	for (int again = 0; !nh && again < 2; again++) {
		/* again: no room was left; unmap what is kept for reuse */
		if (again && !kslub_unmap_kept())
			break;
		dst = os_mmap_aligned(total, align);
		if (!dst)
			continue;
		nh = os_mremap(h, old, total, dst);
		if (!nh && __libc_single_threaded) {
			/* the kernel counts the reservation and the growth at
			 * once: under an address space limit the move may need
			 * the reservation gone first, which only a process with
			 * no other thread to map there meanwhile can do */
			os_munmap(dst, total);
			nh = os_mremap(h, old, total, dst);
			if (nh)
				__atomic_fetch_add(&kslub_os_mapped, total, __ATOMIC_RELAXED);
			else
				dst = NULL;	/* unmapped already */
		}
		if (!nh && dst)
			os_munmap(dst, total);
	}
	if (!nh)
		return NULL;
	/* the reservation at dst was replaced by the moved pages */
	__atomic_fetch_sub(&kslub_os_mapped, total, __ATOMIC_RELAXED);
	return nh;
}

static bool huge_cache_put(struct huge_header *h, size_t map_size, uint64_t freed_at);

/* A cached mapping at least total bytes long (*mapped bytes), or NULL: the
 * one closest in size, the smallest that is long enough if any.  A longer
 * one is cut at the first ARENA_SIZE boundary after total and what lies
 * beyond stays in the cache, pages and all; the pages between total and
 * that boundary stay with the block as its slack (keeps_slack), or go back
 * to the OS.  A shorter one grows, in place or moved. */
static struct huge_header *huge_cache_get(size_t total, size_t *mapped)
{
	struct huge_cached old[HUGE_CACHE_NR], got = { 0 };
	unsigned int n, best = HUGE_CACHE_NR;
	struct huge_header *h;

	if (!READ_ONCE(huge_cache_nr))
		return NULL;
	spin_lock(&kslub_huge_cache_lock);
	n = huge_cache_expire(old, kslub_now_ms(), false);
	for (unsigned int i = 0; i < huge_cache_nr; i++) {
		size_t m = huge_cache[i].map_size;

		if (best == HUGE_CACHE_NR ||
		    (m >= total ? huge_cache[best].map_size < total || m < huge_cache[best].map_size
				: huge_cache[best].map_size < total && m > huge_cache[best].map_size))
			best = i;
	}
	if (best < HUGE_CACHE_NR) {
		got = huge_cache[best];
		huge_cache_del(best);
	}
	spin_unlock(&kslub_huge_cache_lock);
	huge_unmap_list(old, n);
	if (!got.h)
		return NULL;
	h = got.h;
	if (got.map_size > total) {
		size_t keep = ALIGN(total, ARENA_SIZE);

		/* a tail too short for a mapping of its own goes back to the OS */
		if (keep >= got.map_size || got.map_size - keep <= KMALLOC_LARGE_MAX ||
		    !huge_cache_put((struct huge_header *)((char *)h + keep), got.map_size - keep, got.freed_at))
			keep = got.map_size;
		if (keeps_slack(total, keep)) {
			*mapped = keep;
			return h;
		}
		os_munmap((char *)h + total, keep - total);
	} else if (got.map_size < total) {
		struct huge_header *nh = huge_grow(h, got.map_size, total, ARENA_SIZE);

		if (!nh) {
			os_munmap(h, got.map_size);
			return NULL;
		}
		h = nh;
	}
	if ((((unsigned long)h + total - 1) >> ARENA_SHIFT) >= NR_SECTIONS) {
		os_munmap(h, total);
		return NULL;
	}
	*mapped = total;
	return h;
}

/* Keep a freed mapping, or unmap it: false when the caller must unmap it. */
static bool huge_cache_put(struct huge_header *h, size_t map_size, uint64_t freed_at)
{
	struct huge_cached old[HUGE_CACHE_NR];
	unsigned int n;
	bool kept = false;

	if (map_size > huge_cache_max_bytes())
		return false;
	spin_lock(&kslub_huge_cache_lock);
	n = huge_cache_expire(old, kslub_now_ms(), false);
	/* room: the smallest go first, and the new mapping is kept only if it
	 * is not the smallest.  A kept mapping saves the page faults of its
	 * size, and a big one serves a smaller request, cut, where a small one
	 * must grow and fault the rest.  (Oldest first, with the coarse
	 * clock's ties, made which one stayed depend on the tick: 141.6k to
	 * 146.9k faults in the large workload, against 130.4k.) */
	while (huge_cache_nr && (huge_cache_nr == HUGE_CACHE_NR ||
				 huge_cache_bytes + map_size > huge_cache_max_bytes())) {
		unsigned int smallest = 0;

		for (unsigned int i = 1; i < huge_cache_nr; i++)
			if (huge_cache[i].map_size < huge_cache[smallest].map_size)
				smallest = i;
		if (huge_cache[smallest].map_size >= map_size)
			break;
		old[n++] = huge_cache[smallest];
		huge_cache_del(smallest);
	}
	if (huge_cache_nr < HUGE_CACHE_NR && huge_cache_bytes + map_size <= huge_cache_max_bytes()) {
		huge_cache[huge_cache_nr] = (struct huge_cached){ h, map_size, freed_at };
		WRITE_ONCE(huge_cache_nr, huge_cache_nr + 1);
		huge_cache_bytes += map_size;
		kept = true;
	}
	spin_unlock(&kslub_huge_cache_lock);
	huge_unmap_list(old, n);
	return kept;
}

/* malloc_trim: every cached mapping back to the OS; the bytes unmapped. */
size_t kmalloc_huge_trim(void)
{
	struct huge_cached old[HUGE_CACHE_NR];
	size_t bytes = 0;
	unsigned int n;

	spin_lock(&kslub_huge_cache_lock);
	n = huge_cache_expire(old, 0, true);
	spin_unlock(&kslub_huge_cache_lock);
	for (unsigned int i = 0; i < n; i++)
		bytes += old[i].map_size;
	huge_unmap_list(old, n);
	return bytes;
}

static void *kmalloc_huge(size_t size, size_t align, gfp_t gfp)
{
	size_t off = max_t(size_t, PAGE_SIZE, align);
	size_t total, map_align = max_t(size_t, ARENA_SIZE, align);
	struct huge_header *h = NULL;
	bool reused = false;
	size_t mapped = 0;	/* total, or more with a cut mapping's slack */
	int saved = errno;	/* a failed try on the way is no failure */

	if (size > PTRDIFF_MAX - off - ARENA_SIZE)
		return errno = ENOMEM, NULL;
	total = ALIGN(off + size, PAGE_SIZE);
	if (align <= PAGE_SIZE) {
		h = huge_cache_get(total, &mapped);
		reused = h != NULL;
	}
	if (!h) {
		h = os_mmap_aligned(total, map_align);
		/* no room left to map it: unmap what is kept for reuse, and again */
		if (!h && (gfp & KSLUB_GFP_DIRECT_RECLAIM) && kslub_unmap_kept())
			h = os_mmap_aligned(total, map_align);
		mapped = total;
	}
	if (!h)
		return NULL;
	if ((((unsigned long)h + mapped - 1) >> ARENA_SHIFT) >= NR_SECTIONS) {
		os_munmap(h, mapped);
		return errno = ENOMEM, NULL;
	}
	if (!reused) {
		os_bind_node(h, total, kslub_current_node());	/* before the first touch */
		/* on request only, as the peers do: where free memory is
		 * handed back to a hypervisor, a huge page's first touch can
		 * cost more than its 512 small pages; and not for calloc: a
		 * big zeroed table is often touched sparsely */
		if (kslub_opt(OPT_THP) && !(gfp & KSLUB_GFP_ZERO))
			os_hugepage(h, total);
	}
	h->magic = HUGE_MAGIC;
	h->map_size = mapped;
	h->size = mapped - off;
	h->user = (char *)h + off;
	if (reused && (gfp & KSLUB_GFP_ZERO))
		memset(h->user, 0, h->size);
	section_map_set(h, mapped, SECTION_HUGE_HEAD, SECTION_HUGE_TAIL);
	errno = saved;
	return h->user;
}

/* The header of the mapping that holds x, or NULL. */
static struct huge_header *huge_header_of(const void *x)
{
	unsigned long sec = (unsigned long)x >> ARENA_SHIFT;
	struct huge_header *h;

	while (sec && READ_ONCE(kslub_section_map[sec]) == SECTION_HUGE_TAIL)
		sec--;
	if (READ_ONCE(kslub_section_map[sec]) != SECTION_HUGE_HEAD)
		return NULL;
	h = (struct huge_header *)(sec << ARENA_SHIFT);
	if (h->magic != HUGE_MAGIC || h->user != x)
		return NULL;
	return h;
}

static void huge_free(struct huge_header *h)
{
	size_t map_size = h->map_size;

	section_map_set(h, map_size, SECTION_NONE, SECTION_NONE);
	h->magic = 0;
	if (!huge_cache_put(h, map_size, kslub_now_ms()))
		os_munmap(h, map_size);
}

size_t kmalloc_huge_size(const void *p)
{
	struct huge_header *h = huge_header_of(p);

	return h ? h->size : 0;
}

/* Grow or shrink a mapping: in place if the address space allows, else move
 * the pages (no copy) to a new aligned range. */
static void *huge_realloc(struct huge_header *h, size_t new_size)
{
	size_t off = (size_t)((char *)h->user - (char *)h);
	size_t total, map_align;
	struct huge_header *nh;

	if (new_size > PTRDIFF_MAX - off - ARENA_SIZE)
		return errno = ENOMEM, NULL;
	total = ALIGN(off + new_size, PAGE_SIZE);
	if (total <= h->map_size && keeps_slack(total, h->map_size))
		return h->user;
	if (total < h->map_size) {
		section_map_set((char *)h + total, h->map_size - total, SECTION_NONE, SECTION_NONE);
		section_map_set(h, total, SECTION_HUGE_HEAD, SECTION_HUGE_TAIL);
		os_munmap((char *)h + total, h->map_size - total);
		h->map_size = total;
		h->size = total - off;
		return h->user;
	}
	map_align = max_t(size_t, ARENA_SIZE, off);
	/* out of the section map while it may move: the old range can be
	 * another mapping's as soon as the pages have left it */
	section_map_set(h, h->map_size, SECTION_NONE, SECTION_NONE);
	nh = huge_grow(h, h->map_size, total, map_align);
	if (!nh) {
		section_map_set(h, h->map_size, SECTION_HUGE_HEAD, SECTION_HUGE_TAIL);
		return errno = ENOMEM, NULL;
	}
	nh->map_size = total;
	nh->size = total - off;
	nh->user = (char *)nh + off;
	section_map_set(nh, total, SECTION_HUGE_HEAD, SECTION_HUGE_TAIL);
	return nh->user;
}

/* ---- large blocks from the buddy -------------------------------------------- */
static void *large_setup(struct page *page, size_t size, bool zeroed, gfp_t gfp, int order)
{
	void *p = page_address(page);

	page->nr_pages = DIV_ROUND_UP(size, PAGE_SIZE);
	page->large_order = (unsigned int)order;
	__atomic_store_n(&page->flags, PG_large, __ATOMIC_RELEASE);
	if ((gfp & KSLUB_GFP_ZERO) && !zeroed)
		memset(p, 0, page->nr_pages * PAGE_SIZE);
	return p;
}

/* A large block of size bytes (at most KMALLOC_LARGE_MAX) from node's zone;
 * *zeroed says whether its pages were clean (none resident). */
static void *large_alloc(size_t size, gfp_t gfp, int node, bool *zeroed)
{
	struct page *page = alloc_pages_exact_node(node, gfp, size, zeroed);

	if (!page)
		return NULL;
	return large_setup(page, size, *zeroed, gfp, -1);
}

void *kmalloc_large_node(size_t size, gfp_t gfp, int node)
{
	bool zeroed;

	if (size > KMALLOC_LARGE_MAX)
		return kmalloc_huge(size, 0, gfp);
	return large_alloc(size, gfp, node, &zeroed);
}

void kmalloc_large_free(struct page *page, const void *p, const char *func)
{
	unsigned long nr = page->nr_pages;

	if (unlikely(p != page_address(page) || !nr || nr > (1UL << (MAX_ORDER - 1))))
		kslub_fatal(func, p, "invalid pointer: not the start of a block");
	__atomic_store_n(&page->flags, 0, __ATOMIC_RELEASE);
	page->nr_pages = 0;
	/* a block that grew in place may be a power of two not aligned to its size */
	if (!(nr & (nr - 1)) && nr < (1UL << NR_PCP_ORDERS) && !((unsigned long)p & ((nr << PAGE_SHIFT) - 1)))
		free_the_pages(page, (unsigned int)__builtin_ctzl(nr));
	else
		free_pages_range(page, nr, true);
}

/* The live large block that x lies inside, if any: its head is at most
 * 2^(MAX_ORDER-1) pages back in the same arena.  Only for reports. */
static struct page *large_block_holding(const void *x)
{
	struct page *page = virt_to_page(x);
	struct page *first = (struct page *)((unsigned long)page_arena(page) + ARENA_MEMMAP_OFFSET);

	for (unsigned long back = 0; back < (1UL << (MAX_ORDER - 1)) && page - back >= first; back++) {
		struct page *head = page - back;
		unsigned long flags = READ_ONCE(head->flags);

		if (flags & PG_large)
			return head->nr_pages > back ? head : NULL;
		if (flags & (PG_slab | PG_buddy | PG_pcp | PG_reserved))
			return NULL;
	}
	return NULL;
}

/* What kfree_inline leaves: objects of caches whose free pointer is not at
 * offset 0, and everything that is not a slab object. */
noinline void kfree_slow(const void *x, const char *func)
{
	struct slab *slab = virt_to_slab(x);
	struct kmem_cache *s;

	if (!slab)
		return kfree_nonslab(x, func);
	s = slab->slab_cache;
	if (s->kmalloc_slot && !READ_ONCE(this_cpu_ptr(s)->oo_starts_below))
		kmalloc_cpu_fill(s);	/* the next free of s goes kfree's short way */
	slab_free(s, slab, (void *)x, func);
}

/* kfree's copies of s's checks in the calling thread's slot of s (see
 * struct kmem_cache_cpu), for a kmalloc cache; only the thread writes them,
 * and only while it is live: the empty state is shared and stays 0.  At
 * the thread's first kfree of each cache (kfree_slow), not as it starts:
 * no line of its state is written for a cache it never frees to, and a
 * state kept for the next thread keeps them. */
void kmalloc_cpu_fill(const struct kmem_cache *s)
{
	struct kmem_cache_cpu *c;

	if (kslub_current->state != THREAD_LIVE || !s->kmalloc_slot)
		return;
	c = (struct kmem_cache_cpu *)((char *)kslub_current + s->cpu_offset);
	WRITE_ONCE(c->oo_mask, s->oo_mask);
	WRITE_ONCE(c->div_magic, s->div_magic);
	/* last: with it 0 the first check fails whatever the others hold
	 * (a free from a signal handler that lands in between) */
	__atomic_store_n(&c->oo_starts_below, s->oo_starts_below, __ATOMIC_RELEASE);
}

/* Everything kfree gets that is not a slab object, NULL and ZERO_SIZE_PTR
 * included. */
noinline void kfree_nonslab(const void *x, const char *func)
{
	int type;

	if (KSLUB_ZERO_OR_NULL_PTR(x))
		return;
	type = section_type(x);

	if (type == SECTION_ARENA) {
		struct page *page = compound_head(virt_to_page(x));
		unsigned long flags = READ_ONCE(page->flags);

		if (flags & PG_large) {
			kmalloc_large_free(page, x, func);
			return;
		}
		if (flags & PG_slab)
			kslub_fatal(func, x, "invalid pointer: not the start of an object of %s",
				    page_slab(page)->slab_cache->name);
		if (!(flags & (PG_buddy | PG_pcp | PG_reserved)) && large_block_holding(x))
			kslub_fatal(func, x, "invalid pointer: inside a block, not its start");
		if (flags & PG_reserved)
			kslub_fatal(func, x, "invalid pointer: kslub's own metadata");
		kslub_fatal(func, x, "invalid pointer: memory is free (double free?)");
	}
	if (type == SECTION_HUGE_HEAD || type == SECTION_HUGE_TAIL) {
		struct huge_header *h = huge_header_of(x);

		if (!h)
			kslub_fatal(func, x, "invalid pointer: not the start of a mapped block");
		huge_free(h);
		return;
	}
	kslub_fatal(func, x, "invalid pointer: not allocated by kslub");
}

/* ---- the kmalloc family ------------------------------------------------------- */
/* kmalloc_slow for the first call (kslub starts), sizes above the caches and
 * zero. */
static noinline void *kmalloc_slow_start(size_t size, gfp_t gfp)
{
	kslub_ensure_init();
	if (unlikely(!__atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE)))
		kslub_fatal(NULL, NULL, "internal error: kmalloc called while kslub is starting");
	if (likely(size - 1 < KSLUB_KMALLOC_MAX_CACHE_SIZE))
		return slab_alloc(kmalloc_cache_indexed(size), gfp);
	if (!size)
		return KSLUB_ZERO_SIZE_PTR;
	return kmalloc_large_node(size, gfp, -1);
}

/* The thread's freelist and sheaf of a kmalloc cache were empty, or
 * __GFP_ZERO, which tried neither: once kslub runs, straight on to
 * slab_alloc_refill, which pops a cpu freelist or a sheaf that is not empty
 * and zeroes, by a tail call. */
noinline void *kmalloc_slow(size_t size, gfp_t gfp)
{
	if (likely(size - 1 < KSLUB_KMALLOC_MAX_CACHE_SIZE && __atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE)))
		return slab_alloc_refill(kmalloc_cache_indexed(size), gfp);
	return kmalloc_slow_start(size, gfp);
}

KSLUB_API void *kslub_kmalloc(size_t size, gfp_t gfp)
{
	return kmalloc_inline(size, gfp);
}

KSLUB_API void *kslub_kmalloc_node(size_t size, gfp_t gfp, int node)
{
	kslub_ensure_init();
	if (node < 0 || node >= kslub_nr_node_ids || node == kslub_current->node)
		return kmalloc_inline(size, gfp);
	if (size - 1 < KSLUB_KMALLOC_MAX_CACHE_SIZE)
		return kslub_kmem_cache_alloc_node(kmalloc_cache_indexed(size),
						   gfp, node);
	if (!size)
		return KSLUB_ZERO_SIZE_PTR;
	return kmalloc_large_node(size, gfp, node);
}

KSLUB_API void *kslub_kcalloc(size_t n, size_t size, gfp_t gfp)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes))
		return errno = ENOMEM, NULL;
	return kmalloc_inline(bytes, gfp | KSLUB_GFP_ZERO);
}

KSLUB_API void kslub_kfree(const void *p)
{
	kfree_inline(p, "kfree");
}

size_t ksize_internal(const void *p, const char *func)
{
	struct slab *slab;
	struct page *page;
	int type;

	if (KSLUB_ZERO_OR_NULL_PTR(p))
		return 0;
	type = section_type(p);
	if (type == SECTION_HUGE_HEAD || type == SECTION_HUGE_TAIL) {
		struct huge_header *h = huge_header_of(p);

		if (!h)
			kslub_fatal(func, p, "invalid pointer: not the start of a mapped block");
		return h->size;
	}
	if (type != SECTION_ARENA)
		kslub_fatal(func, p, "invalid pointer: not allocated by kslub");
	page = compound_head(virt_to_page(p));
	if (page->flags & PG_large) {
		if (p != page_address(page))
			kslub_fatal(func, p, "invalid pointer: not the start of a block");
		return page->nr_pages * PAGE_SIZE;
	}
	if (!(page->flags & PG_slab)) {
		if (!(page->flags & (PG_buddy | PG_pcp | PG_reserved)) && large_block_holding(p))
			kslub_fatal(func, p, "invalid pointer: inside a block, not its start");
		kslub_fatal(func, p, "invalid pointer: memory is free");
	}
	slab = page_slab(page);
	if (!object_is_start(slab->slab_cache, slab, p))
		kslub_fatal(func, p, "invalid pointer: not the start of an object of %s", slab->slab_cache->name);
	return slab->slab_cache->object_size;
}

KSLUB_API size_t kslub_ksize(const void *p)
{
	return ksize_internal(p, "ksize");
}

/* Shrink a large block in place to new_size (at most its size): its tail
 * pages go back to the buddy, unless the block keeps them as its slack
 * (large_keeps). */
static void large_shrink(struct page *page, size_t new_size)
{
	unsigned long nr = DIV_ROUND_UP(new_size, PAGE_SIZE);

	if (!large_keeps(page->nr_pages, new_size)) {
		free_pages_range(page + nr, page->nr_pages - nr, true);
		page->nr_pages = nr;
	}
}

/* Grow a large block in place into the free pages that follow it in its
 * zone: with the quarter more room a move would give it, else with what is
 * asked.  The buddy knows its free neighbours; no copy, and no freed block
 * left behind to keep resident. */
static bool large_grow(struct page *page, size_t new_size)
{
	unsigned long nr = page->nr_pages, want = DIV_ROUND_UP(new_size, PAGE_SIZE);
	unsigned long room = DIV_ROUND_UP(new_size + new_size / 4, PAGE_SIZE);
	unsigned long max = 1UL << (MAX_ORDER - 1);

	if (room > max)
		room = max;
	if (want > max || want <= nr)
		return false;
	if (!take_pages_off_buddy(page + nr, room - nr)) {
		if (room == want || !take_pages_off_buddy(page + nr, want - nr))
			return false;
		room = want;
	}
	page->nr_pages = room;
	return true;
}

/* A large block this big that must move to grow into a clean block (no
 * page resident) moves its pages there with mremap rather than being
 * copied: the old block is left empty, so it is freed clean, and no byte is
 * copied.  Into a block with resident pages (freed not long ago) it is
 * copied: mremap would throw those pages away, and the growth would fault
 * them in again.  Smaller ones are always copied: the syscall and a mapping
 * of their own would cost more. */
#define LARGE_MOVE_MIN (64 * PAGE_SIZE)

/* Move the pages of large block p (ks bytes) to the large block dst and free
 * p's pages clean; false if the kernel refused, and nothing changed. */
static bool large_move(const void *p, void *dst, size_t ks)
{
	struct page *page = compound_head(virt_to_page(p));
	unsigned long nr = page->nr_pages;

	/* into another arena of the same node only: a direct mapping must stay
	 * one mapping for mremap to grow it */
	if (section_type(dst) != SECTION_ARENA || !(page->flags & PG_large) ||
	    !(compound_head(virt_to_page(dst))->flags & PG_large) ||
	    page_arena(page)->node != page_arena(virt_to_page(dst))->node || !arena_may_move_in() ||
	    !os_move_pages((void *)p, dst, ks))
		return false;
	arena_moved_in(page_arena(virt_to_page(dst)));
	__atomic_store_n(&page->flags, 0, __ATOMIC_RELEASE);
	page->nr_pages = 0;
	free_pages_range(page, nr, false);
	return true;
}

/* Large block p (ks bytes, at least LARGE_MOVE_MIN) moved to a new large
 * block of size bytes, and freed: its pages moved when that block is clean,
 * else copied (see LARGE_MOVE_MIN).  The new block is the buddy's, not a
 * run of free pages: with runs, the realloc workload's vectors peaked at
 * 50.3 MB against 42.0 MB (and 21.9k page faults against 17.7k). */
static void *large_realloc_move(const void *p, size_t ks, size_t size, gfp_t gfp, const char *func)
{
	bool zeroed;
	void *ret = large_alloc(size, gfp | KSLUB_GFP_BUDDY_BLOCK | KSLUB_GFP_NOFILL, -1, &zeroed);

	if (!ret)
		return NULL;
	if (zeroed && large_move(p, ret, ks)) {
		/* and resident pages past them, for the growth */
		struct page *page = virt_to_page(ret);	/* the block's head */
		unsigned long from = DIV_ROUND_UP(ks, PAGE_SIZE);

		fill_from_dirty(page, from, page->nr_pages - from, gfp);
		return ret;
	}
	memcpy(ret, p, ks);
	kfree_inline(p, func);
	return ret;
}

void *krealloc_internal(const void *p, size_t new_size, gfp_t gfp, const char *func)
{
	if (KSLUB_ZERO_OR_NULL_PTR(p))
		return kmalloc_inline(new_size, gfp);
	if (!new_size) {
		kfree_inline(p, func);
		return KSLUB_ZERO_SIZE_PTR;
	}
	return krealloc_sized(p, ksize_internal(p, func), new_size, gfp, func);
}

/* krealloc of a live block p of ks bytes (ksize_internal's answer, which
 * checked p) to new_size, not 0. */
void *krealloc_sized(const void *p, size_t ks, size_t new_size, gfp_t gfp, const char *func)
{
	int type = section_type(p);
	bool moves = false;
	void *ret;

	if (type == SECTION_HUGE_HEAD || type == SECTION_HUGE_TAIL) {
		if (new_size > KMALLOC_LARGE_MAX || new_size >= ks / 2) {
			size_t old = ks;

			ret = huge_realloc(huge_header_of(p), new_size);
			if (ret && (gfp & KSLUB_GFP_ZERO) && new_size > old)
				memset((char *)ret + old, 0, new_size - old);
			return ret;
		}
	} else if (new_size <= ks) {
		struct page *page = compound_head(virt_to_page(p));

		if ((page->flags & PG_large) && new_size > KSLUB_KMALLOC_MAX_CACHE_SIZE)
			large_shrink(page, new_size);
		return (void *)p;
	}
	if (type == SECTION_ARENA && new_size > ks && new_size <= KMALLOC_LARGE_MAX) {
		struct page *page = compound_head(virt_to_page(p));

		if ((page->flags & PG_large) && large_grow(page, new_size)) {
			if (gfp & KSLUB_GFP_ZERO)
				memset((char *)p + ks, 0, new_size - ks);
			return (void *)p;
		}
	}
	if (new_size > ks && new_size > KSLUB_KMALLOC_MAX_CACHE_SIZE && new_size <= KMALLOC_LARGE_MAX) {
		/* a buffer growing past the kmalloc caches gets a quarter more
		 * than it asked, as the caches' quarter steps give the small
		 * ones: appending a few bytes at a time then copies it every
		 * 25% of growth, not at every page */
		size_t room = new_size + new_size / 4;

		if (room > KMALLOC_LARGE_MAX)
			room = new_size;
		moves = type == SECTION_ARENA && ks >= LARGE_MOVE_MIN;
		if (moves)	/* p is moved or copied, and freed */
			ret = large_realloc_move(p, ks, room, gfp & ~KSLUB_GFP_ZERO, func);
		else
			ret = kmalloc_inline(room, gfp & ~KSLUB_GFP_ZERO);
	} else {
		ret = kmalloc_inline(new_size, gfp & ~KSLUB_GFP_ZERO);
	}
	if (!ret)
		return NULL;
	if (!moves) {
		memcpy(ret, p, ks < new_size ? ks : new_size);
		kfree_inline(p, func);
	}
	if ((gfp & KSLUB_GFP_ZERO) && new_size > ks)
		memset((char *)ret + ks, 0, new_size - ks);
	return ret;
}

KSLUB_API void *kslub_krealloc(const void *p, size_t new_size, gfp_t gfp)
{
	return krealloc_internal(p, new_size, gfp, "krealloc");
}

/* size bytes aligned to align (a power of two).  Power-of-two kmalloc caches
 * are aligned to their size; buddy blocks to theirs. */
void *kmalloc_aligned(size_t size, size_t align, gfp_t gfp)
{
	size_t need;
	unsigned int order;
	struct page *page;
	bool zeroed;

	if (align <= 16)
		return kmalloc_inline(size < 16 ? 16 : size, gfp);
	need = size > align ? size : align;
	if (need <= KSLUB_KMALLOC_MAX_CACHE_SIZE) {
		size_t pow2 = 1UL << (64 - __builtin_clzl(need - 1));

		return kmalloc_inline(pow2, gfp);
	}
	if (need > KMALLOC_LARGE_MAX || align > KMALLOC_LARGE_MAX)
		return kmalloc_huge(size ? size : 1, align, gfp);
	/* a block of order get_order(align) or more is aligned to align */
	order = get_order(need);
	if (size <= (PAGE_SIZE << order) && align <= (PAGE_SIZE << order) && align <= PAGE_SIZE)
		return kmalloc_large_node(size, gfp, -1);
	page = alloc_pages_node(-1, gfp, order, &zeroed);
	if (!page)
		return NULL;
	{
		unsigned long nr = DIV_ROUND_UP(size ? size : 1, PAGE_SIZE);

		if (nr < (1UL << order))
			free_pages_range(page + nr, (1UL << order) - nr, !zeroed);
		return large_setup(page, nr * PAGE_SIZE, zeroed, gfp, -1);
	}
}

/* ---- the page allocator's public API ---------------------------------------------- */
KSLUB_API void *kslub_alloc_pages(gfp_t gfp, unsigned int order)
{
	bool zeroed;
	struct page *page = alloc_pages_node(-1, gfp, order, &zeroed);

	if (!page)
		return NULL;
	return large_setup(page, PAGE_SIZE << order, zeroed, gfp, (int)order);
}

static struct page *checked_block(void *addr, unsigned long nr, const char *func)
{
	struct page *page;

	if (section_type(addr) != SECTION_ARENA)
		kslub_fatal(func, addr, "invalid pointer: not pages of kslub");
	page = virt_to_page(addr);
	if (!(page->flags & PG_large) || page_address(page) != addr)
		kslub_fatal(func, addr, "invalid pointer: not the start of a block of pages");
	if (page->nr_pages != nr)
		kslub_fatal(func, addr, "block has %lu pages, freed as %lu pages", page->nr_pages, nr);
	return page;
}

KSLUB_API void kslub_free_pages(void *addr, unsigned int order)
{
	struct page *page;

	if (!addr)
		return;
	if (order >= MAX_ORDER)
		kslub_fatal("free_pages", addr, "invalid order %u", order);
	page = checked_block(addr, 1UL << order, "free_pages");
	WRITE_ONCE(page->flags, 0);
	page->nr_pages = 0;
	free_the_pages(page, order);
}

KSLUB_API void *kslub_alloc_pages_exact(size_t size, gfp_t gfp)
{
	bool zeroed;
	struct page *page;

	if (!size || size > KMALLOC_LARGE_MAX)
		return errno = size ? ENOMEM : EINVAL, NULL;
	page = alloc_pages_exact_node(-1, gfp, size, &zeroed);
	if (!page)
		return NULL;
	return large_setup(page, size, zeroed, gfp, -1);
}

KSLUB_API void kslub_free_pages_exact(void *addr, size_t size)
{
	struct page *page;
	unsigned long nr = DIV_ROUND_UP(size, PAGE_SIZE);

	if (!addr)
		return;
	page = checked_block(addr, nr, "free_pages_exact");
	WRITE_ONCE(page->flags, 0);
	page->nr_pages = 0;
	free_pages_range(page, nr, true);
}
