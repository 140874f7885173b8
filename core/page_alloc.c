/* SPDX-License-Identifier: MIT */
/*
 * page_alloc.c - the buddy page allocator.
 *
 * One zone per NUMA node.  A zone owns arenas (arena.c) and keeps their free
 * pages in free_area[order] lists of naturally aligned blocks of 2^order
 * pages, order 0 .. MAX_ORDER - 1 (4 KiB .. 4 MiB).  Allocation takes the
 * smallest block that fits and splits it (expand); freeing merges a block
 * with its free buddy as long as it can (free_one_page).
 *
 * Per-thread page lists (the kernel's per-cpu pages) hold blocks of order
 * 0 .. PAGE_ALLOC_COSTLY_ORDER so that slab refills rarely take the zone lock;
 * they are filled and drained batch pages at a time and never hold more than
 * high pages.
 *
 * Memory goes back to the OS two ways.  Free blocks are PG_dirty while their
 * pages may be resident, and are handed out before clean ones.  Each counts
 * how many may be (page->nr_dirty, summed in zone->nr_dirty): all of a
 * freed block's, the sum of both when buddies merge (a dirty block merged
 * into clean ones counts its own pages, not the size it merged into), a
 * share when one is split.  When a zone has more dirty pages than a
 * quarter of the pages it has in use (at least KSLUB_DIRTY_MAX / 8, at most
 * KSLUB_DIRTY_MAX), blocks that have been free for KSLUB_PURGE_DELAY ms are
 * purged with MADV_DONTNEED, a batch at a time (os_purge_batch), by the
 * next free into the zone; all of them at once when there are four times
 * too many and the zone would hold more resident pages than at its peak of
 * the last second (zone_free_finish).
 * A clean block reads as zeros, which calloc uses.  An arena that is wholly
 * free is unmapped when the zone already keeps KSLUB_RETAIN_ARENAS of them.
 *
 * Locking: zone->lock guards free_area, the counters and the arena list.
 * A thread's page lists are its own.  No syscall is made under zone->lock.
 */
#include "internal.h"
#include "topology.h"

#include <errno.h>
#include <sys/uio.h>
#include <time.h>

static struct zone zone_storage[MAX_NUMNODES];
struct zone *kslub_zones[MAX_NUMNODES];

uint64_t kslub_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

unsigned int get_order(size_t size)
{
	if (size <= PAGE_SIZE)
		return 0;
	return (unsigned int)(64 - __builtin_clzl((size - 1) >> PAGE_SHIFT));
}

struct zone *zone_create(int node)
{
	struct zone *zone = &zone_storage[node];

	spin_lock_init(&zone->lock);
	zone->node = node;
	for (int o = 0; o < MAX_ORDER; o++) {
		INIT_LIST_HEAD(&zone->free_area[o].free_list);
		INIT_LIST_HEAD(&zone->free_area[o].clean_list);
		zone->free_area[o].nr_free = 0;
	}
	INIT_LIST_HEAD(&zone->arenas);
	/* a node coming online: readers that find the zone find it whole */
	__atomic_store_n(&kslub_zones[node], zone, __ATOMIC_RELEASE);
	return zone;
}

/* The zone of node; NUMA_NO_NODE, or a node that has no zone, means the
 * caller's node.  A node gets its zone before it is published in
 * kslub_nr_node_ids (see kslub_numa_init), so its kmem_cache_node slabs can
 * come from its own memory. */
static inline struct zone *node_zone(int node)
{
	struct zone *zone;

	if ((unsigned int)node < MAX_NUMNODES &&
	    (zone = __atomic_load_n(&kslub_zones[node], __ATOMIC_ACQUIRE)))
		return zone;
	return kslub_zones[kslub_current_node()];
}

static inline unsigned long page_index(const struct page *page)
{
	return (unsigned long)(page - (const struct page *)((unsigned long)page_arena(page) + ARENA_MEMMAP_OFFSET));
}

/* dirty: the block's pages that may be resident, at most its size; the
 * block is PG_dirty (not known to read as zeros) when there are any.  A
 * dirty block that merged with clean buddies counts only its own pages, so
 * the purge rules see what is resident, not the size of what it merged
 * into. */
static inline void add_to_free_list(struct zone *zone, struct page *page, unsigned int order,
				    unsigned long dirty, uint64_t freed_at)
{
	unsigned long nr = 1UL << order;

	VM_BUG_ON(dirty > nr);
	page->flags = PG_buddy | (dirty ? PG_dirty : 0);
	page->order = order;
	page->nr_dirty = (unsigned int)dirty;
	page->freed_at = freed_at;
	/* dirty blocks on a list of their own, the last freed first, to be
	 * reused while warm and purged oldest first with no clean block to
	 * walk past */
	if (dirty) {
		list_add(&page->buddy_list, &zone->free_area[order].free_list);
		zone->nr_dirty += dirty;
	} else {
		list_add_tail(&page->buddy_list, &zone->free_area[order].clean_list);
	}
	zone->free_area[order].nr_free++;
	zone->nr_free_pages += nr;
	page_arena(page)->nr_free += nr;
}

static inline void del_from_free_list(struct zone *zone, struct page *page, unsigned int order)
{
	unsigned long nr = 1UL << order;
	struct arena *arena = page_arena(page);

	if (arena->nr_free == arena->usable)
		zone->nr_empty_arenas--;
	list_del(&page->buddy_list);
	zone->free_area[order].nr_free--;
	zone->nr_free_pages -= nr;
	arena->nr_free -= nr;
	zone->nr_dirty -= page->nr_dirty;	/* 0 for a clean block */
	page->flags &= PG_dirty;
}

/* Take a free block off the lists, so that a syscall may change its pages
 * without zone->lock (the purge, fill_from_dirty); it goes back with
 * free_one_page, clean or dirty as the syscall left it.  No one else takes
 * or merges it meanwhile: it is not PG_buddy.  Called with zone->lock held. */
static inline void isolate_block(struct zone *zone, struct page *page, unsigned int order)
{
	del_from_free_list(zone, page, order);
	page->flags = PG_isolated;
	page->order = order;
}

/* A piece of nr pages of a block of 2^order with dirty pages that may be
 * resident: its share of them (where they lie is not known), at least one
 * when the block has any. */
static inline unsigned long dirty_share(unsigned long dirty, unsigned long nr, unsigned int order)
{
	unsigned long share = (dirty * nr) >> order;

	return dirty && !share ? 1 : share;
}

static void arena_release(struct zone *zone, struct arena *arena, struct arena **to_unmap);

/*
 * free_one_page: put a block back and merge it with its buddy while the buddy
 * is free and of the same order.  Called with zone->lock held.
 */
static void free_one_page(struct zone *zone, struct page *page, unsigned int order,
			  unsigned long dirty, uint64_t now, struct arena **to_unmap)
{
	struct arena *arena = page_arena(page);
	unsigned long idx = page_index(page);
	unsigned long nr_dirty = dirty ? 1UL << order : 0;

	VM_BUG_ON(idx & ((1UL << order) - 1));
	/* PG_pcp or PG_isolated: the caller's state, no longer true once merged */
	WRITE_ONCE(page->flags, 0);
	while (order < MAX_ORDER - 1) {
		unsigned long buddy_idx = idx ^ (1UL << order);
		unsigned long combined_idx = idx & buddy_idx;
		struct page *buddy = page + ((long)buddy_idx - (long)idx);

		/* an allocated page's flags change without zone->lock, but never to PG_buddy */
		if (!(READ_ONCE(buddy->flags) & PG_buddy) || buddy->order != order)
			break;
		nr_dirty += buddy->nr_dirty;	/* 0 for a clean one */
		del_from_free_list(zone, buddy, order);
		buddy->flags = 0;
		page += (long)combined_idx - (long)idx;
		idx = combined_idx;
		order++;
	}
	add_to_free_list(zone, page, order, nr_dirty, now);
	if (arena->nr_free == arena->usable) {
		zone->nr_empty_arenas++;
		if (zone->nr_empty_arenas > (unsigned long)kslub_opt(OPT_RETAIN_ARENAS) && to_unmap && !*to_unmap)
			arena_release(zone, arena, to_unmap);
	}
}

/* Add the free pages of a new arena to the zone, as the largest aligned blocks. */
static void zone_add_arena(struct zone *zone, struct arena *arena)
{
	struct page *memmap = (struct page *)((char *)arena + ARENA_MEMMAP_OFFSET);
	unsigned long i = ARENA_RESERVED_PAGES;

	list_add(&arena->list, &zone->arenas);
	zone->nr_arenas++;
	zone->nr_arena_mmap++;
	zone->managed_pages += arena->usable;
	while (i < ARENA_PAGES) {
		unsigned int order = (unsigned int)__builtin_ctzl(i);

		if (order > MAX_ORDER - 1)
			order = MAX_ORDER - 1;
		while (i + (1UL << order) > ARENA_PAGES)
			order--;
		add_to_free_list(zone, &memmap[i], order, 0, 0);
		i += 1UL << order;
	}
	zone->nr_empty_arenas++;
}

/* Take a wholly free arena off the zone; the caller unmaps it after unlocking. */
static void arena_release(struct zone *zone, struct arena *arena, struct arena **to_unmap)
{
	struct page *memmap = (struct page *)((char *)arena + ARENA_MEMMAP_OFFSET);
	unsigned long i = ARENA_RESERVED_PAGES;

	while (i < ARENA_PAGES) {
		struct page *page = &memmap[i];
		unsigned int order = page->order;

		VM_BUG_ON(!(page->flags & PG_buddy));
		del_from_free_list(zone, page, order);
		i += 1UL << order;
	}
	/* del_from_free_list counted the arena as no longer empty on its first block */
	list_del(&arena->list);
	zone->nr_arenas--;
	zone->nr_arena_munmap++;
	zone->managed_pages -= arena->usable;
	*to_unmap = arena;
}

/* expand: split a block of order high down to order low, freeing the upper
 * halves, each with its share of the block's nr_dirty pages. */
static inline void expand(struct zone *zone, struct page *page, unsigned int low, unsigned int high,
			  unsigned long nr_dirty, uint64_t freed_at)
{
	unsigned int order = high;
	unsigned long size = 1UL << high;

	while (high > low) {
		high--;
		size >>= 1;
		add_to_free_list(zone, &page[size], high, dirty_share(nr_dirty, size, order), freed_at);
	}
}

/* Pages in use or in dirty free blocks: what the zone may have resident. */
static inline unsigned long zone_resident_pages(const struct zone *zone)
{
	return zone->managed_pages - zone->nr_free_pages + zone->nr_dirty;
}

/* After pages left the free lists: the zone's peak of resident pages (see
 * zone_free_finish). */
static inline void zone_note_peak(struct zone *zone)
{
	if (zone_resident_pages(zone) > zone->peak_resident)
		zone->peak_resident = zone_resident_pages(zone);
}

/* The lowest order from order up with a dirty (or a clean) free block, or
 * MAX_ORDER. */
static inline unsigned int smallest_order(struct zone *zone, unsigned int order, bool dirty)
{
	for (; order < MAX_ORDER; order++) {
		struct free_area *area = &zone->free_area[order];

		if (!list_empty(dirty ? &area->free_list : &area->clean_list))
			return order;
	}
	return MAX_ORDER;
}

/* The smallest dirty free block of at least order, else the smallest free
 * block, split down to order.  Resident pages first: a clean block costs a
 * page fault per page at its first touch, and dirty blocks passed over pile
 * up until they are purged (kernel: __rmqueue_smallest, which knows no
 * dirty pages).  Each order keeps its dirty blocks on free_list, its clean
 * ones on clean_list. */
static struct page *rmqueue_smallest(struct zone *zone, unsigned int order, unsigned long *dirty)
{
	unsigned int o = zone->nr_dirty >= 1UL << order ? smallest_order(zone, order, true) : MAX_ORDER;
	struct list_head *list;
	struct page *page;
	unsigned long nr_dirty;
	uint64_t freed_at;

	if (o < MAX_ORDER) {
		list = &zone->free_area[o].free_list;
	} else {
		o = smallest_order(zone, order, false);
		if (o == MAX_ORDER)
			return NULL;
		list = &zone->free_area[o].clean_list;
	}
	page = list_first_entry(list, struct page, buddy_list);
	*dirty = page->flags & PG_dirty;
	freed_at = page->freed_at;
	nr_dirty = page->nr_dirty;
	del_from_free_list(zone, page, o);
	expand(zone, page, order, o, nr_dirty, freed_at);
	page->flags = 0;
	zone_note_peak(zone);
	return page;
}

/* Grow the zone by one arena.  Called and returns without zone->lock. */
static bool zone_grow(struct zone *zone, gfp_t gfp)
{
	int saved = errno;
	struct arena *arena = arena_create(zone);

	/* no room left to map one: unmap what is kept for reuse, and again */
	if (!arena && (gfp & KSLUB_GFP_DIRECT_RECLAIM) && kslub_unmap_kept())
		arena = arena_create(zone);
	if (!arena)
		return false;
	errno = saved;
	if (!spin_lock_gfp(&zone->lock, gfp | KSLUB_GFP_DIRECT_RECLAIM))
		return false;
	zone_add_arena(zone, arena);
	spin_unlock(&zone->lock);
	return true;
}

static struct page *rmqueue(struct zone *zone, gfp_t gfp, unsigned int order, unsigned long *dirty)
{
	struct page *page;

	for (;;) {
		if (!spin_lock_gfp(&zone->lock, gfp))
			return NULL;
		page = rmqueue_smallest(zone, order, dirty);
		spin_unlock(&zone->lock);
		if (page)
			return page;
		if (!zone_grow(zone, gfp))
			return NULL;
	}
}

/* Move up to count pages' worth of order blocks from the zone to a page list. */
static int rmqueue_bulk(struct zone *zone, gfp_t gfp, unsigned int order, int count, struct list_head *list)
{
	int got = 0;

	for (;;) {
		if (!spin_lock_gfp(&zone->lock, gfp))
			return got;
		while (got < count) {
			unsigned long dirty;
			struct page *page = rmqueue_smallest(zone, order, &dirty);

			if (!page)
				break;
			page->flags = PG_pcp | dirty;
			page->order = order;
			list_add_tail(&page->buddy_list, list);
			got += 1 << order;
		}
		spin_unlock(&zone->lock);
		if (got || !zone_grow(zone, gfp))
			return got;
	}
}

static void zone_purge_locked(struct zone *zone, uint64_t now, bool all);

/* The resident free pages a zone may keep: a quarter of the pages in use,
 * at least an eighth of KSLUB_DIRTY_MAX, at most all of it.  A small heap
 * keeps a small reserve; one of a few GiB keeps the full KSLUB_DIRTY_MAX. */
static inline unsigned long zone_dirty_max(const struct zone *zone)
{
	unsigned long max = (unsigned long)kslub_opt(OPT_DIRTY_MAX);
	unsigned long used = (zone->managed_pages - zone->nr_free_pages) / 4;

	return used < max / 8 ? max / 8 : used > max ? max : used;
}

/* After a free into the zone: purge if there is too much resident free memory. */
static inline bool zone_over_dirty(struct zone *zone)
{
	return zone->nr_dirty > zone_dirty_max(zone);
}

/* How long a peak of resident pages counts for the hard purge. */
#define PEAK_MS 1000

static void zone_free_finish(struct zone *zone, uint64_t now, struct arena *to_unmap)
{
	if (zone_over_dirty(zone)) {
		unsigned long max = zone_dirty_max(zone), used = zone->managed_pages - zone->nr_free_pages;
		/* at once, whatever their age, past four times the reserve and
		 * past what keeps the zone below its recent peak of resident
		 * pages (two KSLUB_DIRTY_MAX at most): a heap that frees all it
		 * has and builds it again keeps its pages, with no more
		 * resident than it had */
		unsigned long room = zone->peak_resident > used ? zone->peak_resident - used : 0;
		bool hard = zone->nr_dirty > max_t(unsigned long, 4 * max,
						   min_t(unsigned long, room, 2 * (unsigned long)kslub_opt(OPT_DIRTY_MAX)));
		uint64_t delay = (uint64_t)kslub_opt(OPT_PURGE_DELAY);

		if (now - zone->peak_since >= PEAK_MS) {
			zone->peak_resident = zone_resident_pages(zone);
			zone->peak_since = now;
		}
		if (hard || now - zone->last_purge >= delay / 2 + 1) {
			zone->last_purge = now;
			zone_purge_locked(zone, now, hard);
		}
	}
	spin_unlock(&zone->lock);
	if (to_unmap)
		arena_destroy(to_unmap);
}

/* Give blocks of a page list back to their zones; count pages, taken from the tail. */
static void free_pcppages_bulk(struct per_cpu_pages *pcp, int count)
{
	uint64_t now = kslub_now_ms();

	pcp_enter(pcp);
	while (count > 0 && pcp->count > 0) {
		struct zone *zone = NULL;
		struct arena *to_unmap = NULL;

		for (int o = NR_PCP_ORDERS - 1; o >= 0 && count > 0; o--) {
			struct list_head *list = &pcp->lists[o];

			while (count > 0 && !list_empty(list)) {
				struct page *page = list_last_entry(list, struct page, buddy_list);
				struct zone *z = page_arena(page)->zone;

				if (zone && z != zone)
					break;
				if (!zone) {
					zone = z;
					spin_lock(&zone->lock);
				}
				list_del(&page->buddy_list);
				pcp->count -= 1 << o;
				count -= 1 << o;
				free_one_page(zone, page, (unsigned int)o, page->flags & PG_dirty, now,
					      &to_unmap);
			}
		}
		if (!zone)
			break;
		zone_free_finish(zone, now, to_unmap);
	}
	pcp_exit(pcp);
}

static inline struct per_cpu_pages *this_pcp(int node)
{
	struct kslub_thread *t = kslub_current;

	if (t->state != THREAD_LIVE || t->pcp.node != node)
		return NULL;
	return &t->pcp;
}

struct page *alloc_pages_node(int node, gfp_t gfp, unsigned int order, bool *zeroed)
{
	struct zone *zone;
	struct per_cpu_pages *pcp;
	unsigned long dirty = PG_dirty;
	struct page *page;

	kslub_ensure_init();
	if (order >= MAX_ORDER)
		return errno = ENOMEM, NULL;
	zone = node_zone(node);
	node = zone->node;

	if (order < NR_PCP_ORDERS && (pcp = this_pcp(node))) {
		struct list_head *list = &pcp->lists[order];

		pcp_enter(pcp);
		if (list_empty(list)) {
			int batch = max_t(int, pcp->batch, 1 << order);
			int got = rmqueue_bulk(zone, gfp, order, batch, list);

			if (!got) {
				pcp_exit(pcp);
				return errno = ENOMEM, NULL;
			}
			pcp->count += got;
		}
		page = list_first_entry(list, struct page, buddy_list);
		list_del(&page->buddy_list);
		pcp->count -= 1 << order;
		pcp->free_count >>= 1;
		pcp_exit(pcp);
		dirty = page->flags & PG_dirty;
	} else {
		page = rmqueue(zone, gfp, order, &dirty);
		if (!page)
			return errno = ENOMEM, NULL;
	}
	WRITE_ONCE(page->flags, 0);
	page->compound_head = 0;
	if (zeroed)
		*zeroed = !dirty;
	return page;
}

/* The order of the largest block that starts at page index idx, is aligned
 * to its size and ends at or before end: how a range of pages is cut into
 * buddy blocks. */
static inline unsigned int largest_aligned_order(unsigned long idx, unsigned long end)
{
	unsigned int order = idx ? (unsigned int)__builtin_ctzl(idx) : MAX_ORDER - 1;

	if (order > MAX_ORDER - 1)
		order = MAX_ORDER - 1;
	while (idx + (1UL << order) > end)
		order--;
	return order;
}

/* nr pages from page, all in one arena, as the largest aligned pieces. */
void free_pages_range(struct page *page, unsigned long nr, bool dirty)
{
	struct zone *zone = page_arena(page)->zone;
	struct arena *to_unmap = NULL;
	unsigned long idx = page_index(page), end = idx + nr;
	uint64_t now = kslub_now_ms();

	spin_lock(&zone->lock);
	while (idx < end) {
		unsigned int order = largest_aligned_order(idx, end);

		page->flags = 0;
		free_one_page(zone, page, order, dirty ? PG_dirty : 0, now, &to_unmap);
		idx += 1UL << order;
		page += 1UL << order;
	}
	zone_free_finish(zone, now, to_unmap);
}

void free_the_pages(struct page *page, unsigned int order)
{
	struct arena *arena = page_arena(page);
	struct per_cpu_pages *pcp;

	if (order < NR_PCP_ORDERS && (pcp = this_pcp(arena->node))) {
		WRITE_ONCE(page->flags, PG_pcp | PG_dirty);
		page->order = order;
		pcp_enter(pcp);
		list_add(&page->buddy_list, &pcp->lists[order]);
		pcp->count += 1 << order;
		pcp->free_count += 1 << order;
		pcp_exit(pcp);
		/* a thread that frees many pages and allocates few (one that
		 * frees what others allocated) keeps a batch, not high: it
		 * would not take the others back (kernel: free_high) */
		if (unlikely(pcp->count > (pcp->free_count > pcp->high ? pcp->batch : pcp->high)))
			free_pcppages_bulk(pcp, pcp->batch);
		return;
	}
	free_pages_range(page, 1UL << order, true);
}

/*
 * A large block handed out clean costs a page fault per page at its first
 * touch, while the zone may hold resident pages in dirty free blocks that
 * are each too small for it.  Those would wait for the purge while the
 * process's resident memory grows by the new block (in the sqlite workload
 * a 2.4 MiB block came clean next to 14 MiB of resident free blocks).
 * Instead the dirty blocks' pages are moved into the clean block with
 * mremap: no fault, no page zeroed, no more resident memory, and the dirty
 * blocks go back to the zone clean.  Blocks of FILL_MIN_ORDER and up only
 * (a move is a syscall, worth it for 16 pages or more) and mostly resident
 * ones, the oldest first as the purge would take them.  Each move counts
 * against the arenas' cap on moves (arena_may_fill), as each may add two
 * mappings.  A move the kernel refuses leaves the rest to fault in.
 */
#define FILL_MIN_ORDER 4
#define FILL_BATCH 16
#define FILL_SCAN 64	/* blocks looked at under the lock, each time */

unsigned long fill_from_dirty(struct page *page, unsigned long from, unsigned long nr, gfp_t gfp)
{
	struct arena *arena = page_arena(page);
	struct zone *zone = arena->zone;
	char *dst = (char *)page_address(page) + from * PAGE_SIZE;
	unsigned long moved = 0;

	/* the blocks moved from go back under the lock, which a caller that
	 * may not wait for it (GFP_ATOMIC) cannot take again */
	if (!(gfp & KSLUB_GFP_DIRECT_RECLAIM))
		return 0;
	while (nr >= 1UL << FILL_MIN_ORDER && arena_may_fill()) {
		struct page *batch[FILL_BATCH];
		struct arena *to_unmap = NULL;
		unsigned long want = nr;
		int n = 0, done = 0, scan = FILL_SCAN;
		uint64_t now;

		spin_lock(&zone->lock);
		for (int o = min_t(int, MAX_ORDER - 1, 63 - __builtin_clzl(want));
		     o >= FILL_MIN_ORDER && n < FILL_BATCH && zone->nr_dirty >= 1UL << FILL_MIN_ORDER;
		     o--) {
			struct list_head *head = &zone->free_area[o].free_list;
			struct list_head *pos = head->prev;

			while (pos != head && n < FILL_BATCH && want >= 1UL << o && scan-- > 0) {
				struct page *b = list_entry(pos, struct page, buddy_list);

				pos = pos->prev;
				if (b->nr_dirty < 1UL << (o - 1))
					continue;	/* mostly clean: little to move */
				isolate_block(zone, b, (unsigned int)o);
				batch[n++] = b;
				want -= 1UL << o;
			}
		}
		spin_unlock(&zone->lock);
		if (!n)
			break;
		for (; done < n; done++) {
			unsigned long pages = 1UL << batch[done]->order;

			if (!arena_may_fill() || !os_move_pages(page_address(batch[done]), dst, pages * PAGE_SIZE))
				break;
			arena_moved_in(arena);
			dst += pages * PAGE_SIZE;
			nr -= pages;
			moved += pages;
		}
		now = kslub_now_ms();
		spin_lock(&zone->lock);
		/* the moved ones are clean now, the others dirty again
		 * (counted whole, as the purge puts back what the kernel
		 * refused) */
		for (int i = 0; i < n; i++)
			free_one_page(zone, batch[i], batch[i]->order, i < done ? 0 : PG_dirty, now, &to_unmap);
		zone_free_finish(zone, now, to_unmap);
		if (done < n)
			break;
	}
	return moved;
}

/* Large blocks of more pages than this whose size is not a power of two
 * take a run of free pages anywhere (rmqueue_run). */
#define RUN_MIN_PAGES (1UL << (MAX_ORDER - 3))
static struct page *rmqueue_run(struct zone *zone, unsigned long nr, unsigned long *dirty);

struct page *alloc_pages_exact_node(int node, gfp_t gfp, size_t size, bool *zeroed)
{
	unsigned int order = get_order(size);
	unsigned long nr = DIV_ROUND_UP(size, PAGE_SIZE);
	bool z;
	struct page *page;

	if (order >= MAX_ORDER)
		return errno = ENOMEM, NULL;
	/* the tail goes back at once, so take the block from the zone itself */
	if (order < NR_PCP_ORDERS && nr == (1UL << order)) {
		page = alloc_pages_node(node, gfp, order, &z);
	} else {
		unsigned long dirty;
		struct zone *zone;

		kslub_ensure_init();
		zone = node_zone(node);
		page = NULL;
		if (nr > RUN_MIN_PAGES && (nr & (nr - 1)) && !(gfp & KSLUB_GFP_BUDDY_BLOCK)) {
			if (!spin_lock_gfp(&zone->lock, gfp))
				return errno = ENOMEM, NULL;
			page = rmqueue_run(zone, nr, &dirty);
			spin_unlock(&zone->lock);
		}
		if (!page) {	/* the buddy's block, its tail freed */
			page = rmqueue(zone, gfp, order, &dirty);
			if (!page)
				return errno = ENOMEM, NULL;
			WRITE_ONCE(page->flags, 0);
			if (nr < (1UL << order))
				free_pages_range(page + nr, (1UL << order) - nr, dirty != 0);
		}
		z = !dirty;
		page->compound_head = 0;
		if (z && nr >= 1UL << FILL_MIN_ORDER && !(gfp & (KSLUB_GFP_ZERO | KSLUB_GFP_NOFILL)) &&
		    fill_from_dirty(page, 0, nr, gfp))
			z = false;
	}
	if (!page)
		return NULL;
	if (zeroed)
		*zeroed = z;
	return page;
}

/* The free block in the zone that holds the page at index idx, or NULL
 * (kernel: the search in take_page_off_buddy).  Called with zone->lock held.
 * A page looked at may be the head of a live block that another thread is
 * freeing (kmalloc_large_free clears its flags without the zone lock): the
 * flags are read once, and PG_buddy, set only under the zone lock, is what
 * counts. */
static struct page *buddy_block_holding(struct page *page, unsigned long idx)
{
	for (unsigned int o = 0; o < MAX_ORDER; o++) {
		struct page *head = page - (idx & ((1UL << o) - 1));

		if ((READ_ONCE(head->flags) & PG_buddy) && head->order >= o)
			return head;
	}
	return NULL;
}

/* Put the pages [from, to) of one free block back as the largest aligned
 * pieces, with the block's state (kernel: break_down_buddy_pages). */
static void free_area_add_range(struct zone *zone, struct page *page, unsigned long from, unsigned long to,
				unsigned long nr_dirty, unsigned int block_order, uint64_t freed_at)
{
	page += from - page_index(page);
	while (from < to) {
		unsigned int order = largest_aligned_order(from, to);

		add_to_free_list(zone, page, order, dirty_share(nr_dirty, 1UL << order, block_order), freed_at);
		from += 1UL << order;
		page += 1UL << order;
	}
}

/* Take the nr pages from page, all in free blocks, off the free lists; the
 * blocks' pages outside them go back as the largest aligned pieces.  Called
 * with zone->lock held. */
static void take_free_range(struct zone *zone, struct page *page, unsigned long nr)
{
	unsigned long idx = page_index(page), end = idx + nr;

	for (unsigned long i = idx; i < end;) {
		struct page *head = buddy_block_holding(page + (i - idx), i);
		unsigned int order = head->order;
		unsigned long start = page_index(head), stop = start + (1UL << order);
		unsigned long nr_dirty = head->nr_dirty;
		uint64_t freed_at = head->freed_at;

		del_from_free_list(zone, head, order);
		head->flags = 0;
		free_area_add_range(zone, head, start, idx > start ? idx : start, nr_dirty, order, freed_at);
		free_area_add_range(zone, head, end < stop ? end : stop, stop, nr_dirty, order, freed_at);
		i = stop;
	}
	for (unsigned long i = 0; i < nr; i++)
		WRITE_ONCE(page[i].flags, 0);
	/* clean pages taken raise the resident pages, whoever takes them (a
	 * run for a new block, a block growing in place): a peak that missed
	 * them would have zone_free_finish purge every page of a heap freed
	 * after it grew */
	zone_note_peak(zone);
}

bool take_pages_off_buddy(struct page *page, unsigned long nr)
{
	struct zone *zone = page_arena(page)->zone;
	unsigned long idx = page_index(page), end = idx + nr, i;

	if (!nr || end > ARENA_PAGES)
		return false;
	spin_lock(&zone->lock);
	for (i = idx; i < end;) {
		struct page *head = buddy_block_holding(page + (i - idx), i);

		if (!head) {
			spin_unlock(&zone->lock);
			return false;
		}
		i = page_index(head) + (1UL << head->order);
	}
	take_free_range(zone, page, nr);
	spin_unlock(&zone->lock);
	return true;
}

/*
 * Runs of free pages for large blocks.  The buddy gives a block of n pages
 * the aligned block of the next power of two and frees its tail: a block of
 * 2-4 MiB takes the upper half of an arena (the lower half, which holds the
 * memmap, is never a whole 4 MiB block), one of 1-2 MiB a 2 MiB quarter, and
 * the free pages beside it merge only with their buddies.  A block of more
 * than RUN_MIN_PAGES pages whose size is not a power of two (those keep the
 * alignment of their size) takes instead a run of free pages anywhere in an
 * arena, across buddy blocks: of the runs found from the free lists, the one
 * whose first n pages may have the most pages resident, the shortest of
 * those; the block is its first n pages.  Measured with 256 live blocks
 * replaced one at a time, 10,000 times: blocks of 1-2 MiB took 127k page
 * faults against 336k, of 1-4 MiB 849k against 1136k, of 2-4 MiB 1083k
 * against 1012k; under an address space limit of 256 MiB, 58 blocks of
 * 3 MiB fit against 29.  Freeing it is free_pages_range's, as before.
 */
/* free blocks looked at a search: each leads to the run that holds it */
#define RUN_SCAN_MAX 64
/* free blocks in one run: an arena cut into the largest aligned pieces */
#define RUN_BLOCKS_MAX (2 * MAX_ORDER + 2)

struct free_run {
	unsigned long start, end;		/* page indexes in the arena */
	unsigned int nr_blocks;
	struct page *block[RUN_BLOCKS_MAX];	/* in address order */
};

/* The free run that holds the free block head: the free blocks before and
 * after it.  Called with zone->lock held. */
static void free_run_of(struct page *head, struct free_run *run)
{
	struct page *blocks[RUN_BLOCKS_MAX];
	unsigned long idx = page_index(head);
	unsigned int nb = 0, back = 0;

	run->start = idx;
	/* backward: the free block that ends where the run starts */
	while (run->start > ARENA_RESERVED_PAGES && nb < RUN_BLOCKS_MAX / 2) {
		struct page *prev = buddy_block_holding(head - (idx - run->start) - 1, run->start - 1);

		if (!prev)
			break;
		blocks[nb++] = prev;
		run->start = page_index(prev);
	}
	while (nb)
		run->block[back++] = blocks[--nb];
	run->block[back++] = head;
	run->end = idx + (1UL << head->order);
	/* forward: a free block starts where the run ends */
	while (run->end < ARENA_PAGES && back < RUN_BLOCKS_MAX) {
		struct page *next = head + (run->end - idx);

		if (!(READ_ONCE(next->flags) & PG_buddy))
			break;
		run->block[back++] = next;
		run->end += 1UL << next->order;
	}
	run->nr_blocks = back;
}

/* The pages of the run's blocks in [from, to) that may be resident. */
static unsigned long run_dirty(const struct free_run *run, unsigned long from, unsigned long to)
{
	unsigned long dirty = 0;

	for (unsigned int i = 0; i < run->nr_blocks; i++) {
		const struct page *b = run->block[i];
		unsigned long s = page_index(b), e = s + (1UL << b->order);

		if (e <= from || s >= to || !b->nr_dirty)
			continue;
		dirty += dirty_share(b->nr_dirty, min_t(unsigned long, e, to) - max_t(unsigned long, s, from), b->order);
	}
	return dirty;
}

/* nr pages (more than RUN_MIN_PAGES) from the best free run of the zone, or
 * NULL; *dirty: how many of them may be resident.  Called with zone->lock
 * held. */
static struct page *rmqueue_run(struct zone *zone, unsigned long nr, unsigned long *dirty)
{
	unsigned int low = get_order(nr * PAGE_SIZE);
	struct page *best = NULL;
	unsigned long best_dirty = 0, best_len = 0;
	unsigned int scanned = 0;

	/* a run of nr pages holds an aligned block of a quarter of the next
	 * power of two, and the free block around that is on a list of that
	 * order or above */
	low = low >= 2 ? low - 2 : 0;
	/* the dirty lists first; the clean ones only when no run with
	 * resident pages was found */
	for (int l = 0; l < 2 && scanned < RUN_SCAN_MAX && !(l && best_dirty); l++) {
		for (unsigned int o = low; o < MAX_ORDER && scanned < RUN_SCAN_MAX; o++) {
			struct list_head *list = l ? &zone->free_area[o].clean_list : &zone->free_area[o].free_list;

			/* by the list links: list_for_each_entry would make a
			 * struct page of the list's head to end on */
			for (struct list_head *pos = list->next; pos != list; pos = pos->next) {
				struct page *head = list_entry(pos, struct page, buddy_list);
				struct free_run run;
				unsigned long len, d;

				if (++scanned > RUN_SCAN_MAX)
					break;
				free_run_of(head, &run);
				len = run.end - run.start;
				if (len < nr)
					continue;
				d = run_dirty(&run, run.start, run.start + nr);
				if (best && (d < best_dirty || (d == best_dirty && len >= best_len)))
					continue;
				best = head + (run.start - page_index(head));
				best_dirty = d;
				best_len = len;
				if (len == nr && d == nr)
					goto found;
			}
		}
	}
	if (!best)
		return NULL;
found:
	*dirty = best_dirty;	/* run_dirty: each block's share, at least one from a block with any */
	take_free_range(zone, best, nr);
	return best;
}

/*
 * Purge: take dirty blocks off the lists, oldest first, give them back in
 * batches (os_purge_batch: MADV_DONTNEED, one call a batch) without
 * the lock, and put them back clean (those the kernel did not take back
 * stay dirty, and the purge stops there).  With all, every dirty block goes;
 * otherwise only those free for at least KSLUB_PURGE_DELAY ms, and only until
 * the zone is back at half of KSLUB_DIRTY_MAX.  Called with zone->lock held;
 * drops and retakes it.
 */
#define PURGE_BATCH 64
static void zone_purge_locked(struct zone *zone, uint64_t now, bool all)
{
	uint64_t delay = (uint64_t)kslub_opt(OPT_PURGE_DELAY);
	unsigned long target = all ? 0 : zone_dirty_max(zone) / 2;
	unsigned int purged;

	while (zone->nr_dirty > target && os_may_purge()) {
		struct page *batch[PURGE_BATCH];
		struct iovec iov[PURGE_BATCH];
		int n = 0;

		for (int o = MAX_ORDER - 1; o >= 0 && n < PURGE_BATCH; o--) {
			struct list_head *head = &zone->free_area[o].free_list;
			struct list_head *pos = head->prev;

			while (pos != head && n < PURGE_BATCH && zone->nr_dirty > target) {
				struct page *page = list_entry(pos, struct page, buddy_list);

				pos = pos->prev;
				if (!all && now - page->freed_at < delay)
					break;	/* the rest toward the head are younger */
				isolate_block(zone, page, (unsigned int)o);
				batch[n++] = page;
			}
		}
		if (!n)
			break;
		spin_unlock(&zone->lock);
		for (int i = 0; i < n; i++) {
			iov[i].iov_base = page_address(batch[i]);
			iov[i].iov_len = PAGE_SIZE << batch[i]->order;
		}
		purged = os_purge_batch(iov, (unsigned int)n);
		spin_lock(&zone->lock);
		for (int i = 0; i < n; i++) {
			/* a range whose pages did not go back stays dirty:
			 * calloc must not take it for zeros */
			bool gone = iov[i].iov_len != 0;

			if (gone)
				zone->nr_purged += 1UL << batch[i]->order;
			free_one_page(zone, batch[i], batch[i]->order, gone ? 0 : PG_dirty, now, NULL);
		}
		if (purged < (unsigned int)n)
			break;	/* the kernel refused: no loop over the same blocks */
	}
}

void drain_thread_pages(struct kslub_thread *t)
{
	if (t->pcp.count)
		free_pcppages_bulk(&t->pcp, t->pcp.count);
}

/* Unmap every wholly free arena of the zone, kept ones too.  Called and
 * returns with zone->lock held; drops it around each unmapping. */
static void zone_unmap_free_arenas(struct zone *zone)
{
	for (;;) {
		struct arena *arena, *to_unmap = NULL;

		list_for_each_entry(arena, &zone->arenas, list) {
			if (arena->nr_free == arena->usable) {
				arena_release(zone, arena, &to_unmap);
				break;
			}
		}
		if (!to_unmap)
			break;
		spin_unlock(&zone->lock);
		arena_destroy(to_unmap);
		spin_lock(&zone->lock);
	}
}

/* malloc_trim: the caller's page lists, then every zone's dirty blocks and
 * wholly free arenas beyond none kept. */
size_t page_alloc_trim(void)
{
	size_t before = __atomic_load_n(&kslub_os_mapped, __ATOMIC_RELAXED), purged = 0;

	if (kslub_current->state == THREAD_LIVE)
		drain_thread_pages(kslub_current);
	for (int nid = 0; nid < kslub_nr_node_ids; nid++) {
		struct zone *zone = kslub_zones[nid];
		unsigned long p0;

		spin_lock(&zone->lock);
		p0 = zone->nr_purged;
		zone_purge_locked(zone, kslub_now_ms(), true);
		purged += (zone->nr_purged - p0) * PAGE_SIZE;
		zone_unmap_free_arenas(zone);
		spin_unlock(&zone->lock);
	}
	return purged + (before - __atomic_load_n(&kslub_os_mapped, __ATOMIC_RELAXED));
}

/* A mapping failed, most likely for an address space limit (ulimit -v,
 * which counts what is mapped, resident or not): unmap what is kept only
 * for reuse, the cached direct mappings and the wholly free arenas, so
 * that a retry may fit.  True if anything was unmapped. */
bool kslub_unmap_kept(void)
{
	size_t before = __atomic_load_n(&kslub_os_mapped, __ATOMIC_RELAXED);

	kmalloc_huge_trim();
	for (int nid = 0; nid < kslub_nr_node_ids; nid++) {
		struct zone *zone = kslub_zones[nid];

		spin_lock(&zone->lock);
		zone_unmap_free_arenas(zone);
		spin_unlock(&zone->lock);
	}
	return __atomic_load_n(&kslub_os_mapped, __ATOMIC_RELAXED) < before;
}

void page_alloc_init(void)
{
	slab_slots_reserve();
	for (int nid = 0; nid < kslub_nr_node_ids; nid++)
		zone_create(nid);
}

void page_alloc_bind_arenas(void)
{
	for (int nid = 0; nid < kslub_nr_node_ids; nid++) {
		struct zone *zone = kslub_zones[nid];
		struct arena *arena;

		spin_lock(&zone->lock);
		list_for_each_entry(arena, &zone->arenas, list)
			os_bind_node(arena, ARENA_SIZE, nid);
		spin_unlock(&zone->lock);
	}
}

void zone_lock_all(void)
{
	for (int nid = 0; nid < kslub_nr_node_ids; nid++)
		spin_lock(&kslub_zones[nid]->lock);
}

void zone_unlock_all(void)
{
	for (int nid = kslub_nr_node_ids - 1; nid >= 0; nid--)
		spin_unlock(&kslub_zones[nid]->lock);
}

void zone_reinit_locks(void)
{
	for (int nid = 0; nid < kslub_nr_node_ids; nid++)
		spin_lock_init(&kslub_zones[nid]->lock);
}

KSLUB_API int kslub_buddyinfo(int node, unsigned long nr_free[KSLUB_MAX_ORDER])
{
	struct zone *zone;

	kslub_ensure_init();
	if (node < 0 || node >= kslub_nr_node_ids)
		return -1;
	zone = kslub_zones[node];
	spin_lock(&zone->lock);
	for (int o = 0; o < MAX_ORDER; o++)
		nr_free[o] = zone->free_area[o].nr_free;
	spin_unlock(&zone->lock);
	return MAX_ORDER;
}
