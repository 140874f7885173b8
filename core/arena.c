/* SPDX-License-Identifier: MIT */
/*
 * arena.c - arenas and the section map.
 *
 * An arena is an ARENA_SIZE (8 MiB) mapping aligned to its size.  Page 0 holds
 * struct arena; the next 32 pages hold the memmap, one 64-byte struct page for
 * each of the arena's 2048 pages, so virt_to_page() is a mask and an index.
 * The remaining pages are handed to the zone's buddy lists by page_alloc.c.
 *
 * The section map has one byte for each ARENA_SIZE of the address space.  It
 * is written when a range is mapped or unmapped and read, without a lock, by
 * free() before it looks at anything else.
 *
 * The slab slot map (see internal.h) is reserved here at start and made
 * writable an arena's part at a time.
 */
#include "slub.h"
#include "topology.h"

#include <sys/mman.h>
#include <sys/resource.h>

uint8_t kslub_section_map[NR_SECTIONS];
uint8_t *kslub_slab_slots;
unsigned long kslub_slab_slots_lo = SLAB_SLOTS_NONE;

/* At start, before any arena: the map's 64 MiB, read-only, so that it is
 * neither memory nor committed (a read maps the zero page), and left out of
 * core dumps.  Its window is centred on the map itself: mappings go down
 * from there (or up, in the legacy layout), the arenas with them.  Not
 * under an address space limit (ulimit -v) of less than 16 times its size,
 * where it would take room the program needs: kfree then finds every cache
 * by its struct page, as it does if the reservation fails. */
void slab_slots_reserve(void)
{
	unsigned long pfn, lo;
	struct rlimit as;
	void *map;

	if (kslub_slab_slots_lo != SLAB_SLOTS_NONE)
		return;
	if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY && as.rlim_cur / 16 < SLAB_SLOTS_PAGES)
		return;
	/* a page before the map for the copy of kmalloc_caches, writable */
	map = os_reserve(SLAB_SLOTS_PAGES + PAGE_SIZE);
	if (!map)
		return;
	if (!os_make_writable(map, PAGE_SIZE)) {
		munmap(map, SLAB_SLOTS_PAGES + PAGE_SIZE);	/* address space only: not counted */
		return;
	}
	map = (char *)map + PAGE_SIZE;
	for (unsigned long slot = 0; slot < NR_SLAB_SLOT_CACHES; slot++)
		((struct kmem_cache **)map - NR_SLAB_SLOT_CACHES)[slot] = &kmalloc_boot_cache;
	pfn = (unsigned long)map >> PAGE_SHIFT;
	/* a multiple of an arena's pages: an arena is in the window or out,
	 * and its 2 KiB lie in one page of the map */
	lo = (pfn > SLAB_SLOTS_PAGES / 2 ? pfn - SLAB_SLOTS_PAGES / 2 : 0) & ~(ARENA_PAGES - 1);
	kslub_slab_slots = map;
	__atomic_store_n(&kslub_slab_slots_lo, lo, __ATOMIC_RELEASE);
}

/* The arena's part of the slot map made writable (its 2 KiB lie in one
 * page of the map); false with no part, where nothing is written. */
static bool slab_slots_map_arena(struct arena *arena)
{
	unsigned long page;

	if (!slab_slot_mapped(arena))
		return false;
	_Static_assert(ARENA_PAGES <= PAGE_SIZE, "an arena's slot bytes lie in one page");
	_Static_assert(SLAB_SLOTS_PAGES % ARENA_PAGES == 0, "an arena is in the window or out");
	page = (unsigned long)addr_slab_slot(arena) & ~(PAGE_SIZE - 1);
	return os_make_writable((void *)page, PAGE_SIZE);
}

void section_map_set(void *addr, size_t size, enum section_type head, enum section_type tail)
{
	unsigned long sec = (unsigned long)addr >> ARENA_SHIFT;
	unsigned long end = ((unsigned long)addr + size - 1) >> ARENA_SHIFT;

	if (end >= NR_SECTIONS)
		return;
	__atomic_store_n(&kslub_section_map[sec], (uint8_t)head, __ATOMIC_RELEASE);
	for (sec++; sec <= end; sec++)
		__atomic_store_n(&kslub_section_map[sec], (uint8_t)tail, __ATOMIC_RELEASE);
}

/* Map and lay out a new arena; the caller adds its free pages to the zone. */
struct arena *arena_create(struct zone *zone)
{
	struct arena *arena = os_mmap_aligned(ARENA_SIZE, ARENA_SIZE);
	struct page *memmap;

	if (!arena)
		return NULL;
	if (((unsigned long)arena >> ARENA_SHIFT) >= NR_SECTIONS) {
		/* above the 47-bit space the section map covers: unusable */
		os_munmap(arena, ARENA_SIZE);
		return NULL;
	}
	/* without its part of the slot map (under a seccomp filter, or
	 * refused) kfree finds the caches of its slabs by their struct page */
	arena->slots = slab_slots_map_arena(arena);
	/* before the first touch, so that the memmap too is on the node; a
	 * refusal leaves the memory wherever the kernel puts it */
	os_bind_node(arena, ARENA_SIZE, zone->node);
	arena->magic = ARENA_MAGIC;
	arena->node = zone->node;
	arena->zone = zone;
	arena->nr_free = 0;
	arena->usable = ARENA_PAGES - ARENA_RESERVED_PAGES;
	arena->nr_moved_in = 0;
	INIT_LIST_HEAD(&arena->list);
	memmap = (struct page *)((char *)arena + ARENA_MEMMAP_OFFSET);
	for (unsigned long i = 0; i < ARENA_RESERVED_PAGES; i++)
		memmap[i].flags = PG_reserved;
	section_map_set(arena, ARENA_SIZE, SECTION_ARENA, SECTION_ARENA);
	return arena;
}

/* A block that mremap moves into an arena becomes a mapping of its own that
 * never merges back with the arena's (its page offset differs), so each
 * move may add two mappings to the process.  Moves stop while the arenas
 * mapped hold ARENA_MOVES_MAX of them: far below vm.max_map_count (65530),
 * which the program needs for its own mappings too. */
#define ARENA_MOVES_MAX 16384
static unsigned long arena_moves_live;	/* moves into the arenas mapped now */

bool arena_may_move_in(void)
{
	return READ_ONCE(arena_moves_live) < ARENA_MOVES_MAX;
}

/* fill_from_dirty's moves, which save page faults only, stop at a quarter
 * of that: the rest stays for realloc's, which save copies. */
bool arena_may_fill(void)
{
	return READ_ONCE(arena_moves_live) < ARENA_MOVES_MAX / 4;
}

void arena_moved_in(struct arena *arena)
{
	__atomic_fetch_add(&arena->nr_moved_in, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&arena_moves_live, 1, __ATOMIC_RELAXED);
}

void arena_destroy(struct arena *arena)
{
	__atomic_fetch_sub(&arena_moves_live, READ_ONCE(arena->nr_moved_in), __ATOMIC_RELAXED);
	section_map_set(arena, ARENA_SIZE, SECTION_NONE, SECTION_NONE);
	arena->magic = 0;
	os_munmap(arena, ARENA_SIZE);
}
