/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the structures every core file shares: struct page and its
 * slab overlay, arenas and the section map, zones, struct kmem_cache and its
 * per-thread and per-node parts, the per-thread state, and small helpers.
 *
 * The layout follows the kernel: struct slab overlays the head struct page of
 * a slab, and a free buddy block is known by PG_buddy on its head page.  A
 * slab's tail pages differ: where the kernel's point at their head, each
 * holds PG_slab_tail and the slab's mask, from which compound_head finds the
 * head.  kfree of a kmalloc object reads no struct page: the arena's slot
 * map (kslub_slab_slots) gives its cache, which knows the rest.
 */
#ifndef KSLUB_INTERNAL_H
#define KSLUB_INTERNAL_H

#define KSLUB_NO_KERNEL_NAMES
#include "kslub.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>
#if !defined(__x86_64__)
#include <errno.h>
#include <unistd.h>
#endif

/* ---- compiler helpers ------------------------------------------------------ */
#define likely(x)   __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define noinline    __attribute__((noinline))
/* no interprocedural analysis of the function (gcc 8): what it does stays
 * unknown to its callers */
#if defined(__has_attribute)
#if __has_attribute(noipa)
#define noipa __attribute__((noipa))
#endif
#endif
#ifndef noipa
#define noipa
#endif
#define always_inline inline __attribute__((always_inline))
#define KSLUB_API   __attribute__((visibility("default")))
#define barrier()        __asm__ volatile("" ::: "memory")
#define READ_ONCE(x)     __atomic_load_n(&(x), __ATOMIC_RELAXED)
#define WRITE_ONCE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define container_of(ptr, type, member) \
	((type *)((char *)(ptr) - offsetof(type, member)))
#define ALIGN(x, a)       (((x) + ((a) - 1)) & ~((__typeof__(x))(a) - 1))
#define ALIGN_DOWN(x, a)  ((x) & ~((__typeof__(x))(a) - 1))
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define min_t(t, a, b) ((t)(a) < (t)(b) ? (t)(a) : (t)(b))
#define max_t(t, a, b) ((t)(a) > (t)(b) ? (t)(a) : (t)(b))

/* Internal invariants: compiled away unless configured with --enable-debug. */
#if KSLUB_DEBUG_ASSERT
#define VM_BUG_ON(cond) do { if (unlikely(cond)) kslub_bug(__FILE__, __LINE__, #cond); } while (0)
#else
#define VM_BUG_ON(cond) do { if (0 && (cond)) {} } while (0)
#endif

/* ---- sizes ------------------------------------------------------------------ */
#define PAGE_SHIFT 12
#define PAGE_SIZE  (1UL << PAGE_SHIFT)
#define PAGE_MASK  (~(PAGE_SIZE - 1))
/* Number of buddy orders, 0 .. MAX_ORDER - 1 (the kernel's meaning before 6.4). */
#define MAX_ORDER KSLUB_MAX_ORDER
#define PAGE_ALLOC_COSTLY_ORDER 3

/* An arena is ARENA_SIZE bytes aligned to ARENA_SIZE: page 0 holds struct
 * arena, the next pages the memmap, the rest goes to the buddy. */
#define ARENA_SHIFT 23
#define ARENA_SIZE  (1UL << ARENA_SHIFT)
#define ARENA_MASK  (ARENA_SIZE - 1)
#define ARENA_PAGES (ARENA_SIZE / PAGE_SIZE)
#define ARENA_MEMMAP_OFFSET PAGE_SIZE
#define ARENA_RESERVED_PAGES (1 + (ARENA_PAGES * 64) / PAGE_SIZE)

/* The section map: one byte per ARENA_SIZE of the 47-bit user address space,
 * saying whether kslub owns that range and how.  free() consults it before it
 * touches anything, so a foreign pointer is reported, never dereferenced. */
#define SECTION_ADDR_BITS 47
#define NR_SECTIONS (1UL << (SECTION_ADDR_BITS - ARENA_SHIFT))
enum section_type {
	SECTION_NONE = 0,
	SECTION_ARENA,     /* an arena: memmap at its start */
	SECTION_HUGE_HEAD, /* first section of a direct mapping: header at its start */
	SECTION_HUGE_TAIL, /* further sections of a direct mapping */
};
extern uint8_t kslub_section_map[NR_SECTIONS];

#define MAX_NUMNODES 64
#define KSLUB_MAX_CACHES 512 /* kmem_cache_cpu slots in each thread */

/* ---- lists ------------------------------------------------------------------ */
struct list_head {
	struct list_head *next, *prev;
};
#define LIST_HEAD_INIT(name) { &(name), &(name) }
static inline void INIT_LIST_HEAD(struct list_head *l) { l->next = l; l->prev = l; }
static inline void list_add_between(struct list_head *n, struct list_head *prev, struct list_head *next)
{
	next->prev = n;
	n->next = next;
	n->prev = prev;
	prev->next = n;
}
static inline void list_add(struct list_head *n, struct list_head *head) { list_add_between(n, head, head->next); }
static inline void list_add_tail(struct list_head *n, struct list_head *head) { list_add_between(n, head->prev, head); }
static inline void list_del(struct list_head *e)
{
	e->next->prev = e->prev;
	e->prev->next = e->next;
	e->next = e->prev = NULL;
}
static inline bool list_empty(const struct list_head *head) { return head->next == head; }
#define list_entry(ptr, type, member) container_of(ptr, type, member)
#define list_first_entry(head, type, member) list_entry((head)->next, type, member)
#define list_last_entry(head, type, member) list_entry((head)->prev, type, member)
#define list_for_each_entry(pos, head, member) \
	for (pos = list_entry((head)->next, __typeof__(*pos), member); \
	     &pos->member != (head); \
	     pos = list_entry(pos->member.next, __typeof__(*pos), member))
#define list_for_each_entry_safe(pos, n, head, member) \
	for (pos = list_entry((head)->next, __typeof__(*pos), member), \
	     n = list_entry(pos->member.next, __typeof__(*pos), member); \
	     &pos->member != (head); \
	     pos = n, n = list_entry(n->member.next, __typeof__(*n), member))

/* ---- locks ------------------------------------------------------------------ */
typedef pthread_mutex_t kslub_lock_t;
#define KSLUB_LOCK_INIT PTHREAD_ADAPTIVE_MUTEX_INITIALIZER_NP
static inline void spin_lock_init(kslub_lock_t *l) { *l = (kslub_lock_t)KSLUB_LOCK_INIT; }
static inline void spin_lock(kslub_lock_t *l) { pthread_mutex_lock(l); }
static inline void spin_unlock(kslub_lock_t *l) { pthread_mutex_unlock(l); }
static inline bool spin_trylock(kslub_lock_t *l) { return pthread_mutex_trylock(l) == 0; }
/* kslub's own gfp bit, never a caller's: a large block from the buddy's
 * block of the next power of two, not from a run of free pages anywhere
 * (see rmqueue_run).  For the block that realloc moves a growing one to. */
#define KSLUB_GFP_BUDDY_BLOCK 0x100000u
/* kslub's own too: a clean block left clean, not filled with the resident
 * pages of dirty free blocks (fill_from_dirty), for a caller that moves
 * pages in itself. */
#define KSLUB_GFP_NOFILL 0x200000u

/* GFP_ATOMIC callers never wait for a lock: they fail instead. */
static inline bool spin_lock_gfp(kslub_lock_t *l, gfp_t gfp)
{
	if (gfp & KSLUB_GFP_DIRECT_RECLAIM) {
		spin_lock(l);
		return true;
	}
	return spin_trylock(l);
}

/* ---- struct page -------------------------------------------------------------- */
enum pageflags {
	PG_reserved = 1UL << 0, /* arena header and memmap */
	PG_buddy    = 1UL << 1, /* head of a free block in a zone's free_area */
	PG_pcp      = 1UL << 2, /* head of a free block on a per-thread page list */
	PG_slab     = 1UL << 3, /* head of a slab: the page is a struct slab */
	PG_large    = 1UL << 4, /* head of a block handed out by the page allocator */
	PG_dirty    = 1UL << 5, /* free block whose pages may be resident */
	PG_isolated = 1UL << 6, /* free block taken off the lists to be purged */
	PG_slab_tail = 1UL << 8, /* with PG_slab: a tail page of a slab, not its head */
};

struct page {
	unsigned long flags;
	union {
		struct {			/* free block: PG_buddy or PG_pcp */
			struct list_head buddy_list;	/* at offset 8: bit 0 clear */
			unsigned int order;		/* the block's order */
			unsigned int nr_dirty;		/* in the zone: its pages that may be resident */
			uint64_t freed_at;		/* ms clock, for the purge delay */
		};
		struct {			/* offset 8: slab_cache in a slab's head */
			unsigned long compound_head;	/* cleared when a block is handed out */
		};
		struct {			/* PG_large: block from the page allocator */
			unsigned long large_zero;	/* at offset 8: 0 */
			unsigned long nr_pages;		/* pages handed out */
			unsigned int large_order;	/* order asked for, or -1 for exact */
		};
	};
	unsigned long pad1[3];
} __attribute__((aligned(64)));

/* The slab overlay of the head page.  A tail page of the slab holds flags
 * (PG_slab | PG_slab_tail) and the head's mask, which never changes while
 * the slab lives, and nothing else. */
struct kmem_cache;
struct slab {
	unsigned long flags;			/* PG_slab */
	struct kmem_cache *slab_cache;		/* overlays compound_head */
	union {
		struct list_head slab_list;	/* on a node partial list */
		struct {			/* on a thread's cpu-partial list */
			struct slab *next;
			int slabs;		/* slabs on the list from here on */
			unsigned int local;	/* the owner's frees while here: offset + 1 of the first, 0 if none */
		};
	};
	union {					/* changed together by cmpxchg16b */
		struct {
			void *freelist;		/* first free object, remote frees */
			union {
				unsigned long counters;
				struct {
					unsigned inuse:16;   /* objects not on slab->freelist */
					unsigned objects:15; /* objects in the slab */
					unsigned frozen:1;   /* owned by a thread */
					/* objects at the slab's end never linked
					 * nor handed out, counted in inuse: see
					 * link_fresh in slub.c */
					unsigned fresh:16;
					/* the fresh objects are ones a shrink
					 * gave the pages of back (see
					 * purge_partial_tails in slub.c) */
					unsigned purged:1;
				};
			};
		};
		unsigned __int128 freelist_counters;
	};
	unsigned long starts_below;		/* objects * (div_magic * size mod 2^64): object_is_start */
	unsigned long mask;			/* slab bytes - 1: slabs are aligned to their size */
	/* mask is a whole word so that kfree tests with it in memory, twice,
	 * with no load; the order and the node follow from mask and the arena */
};

_Static_assert(sizeof(struct page) == 64, "struct page is one cache line");
_Static_assert(sizeof(struct slab) == 64, "struct slab overlays struct page");
_Static_assert(offsetof(struct slab, slab_cache) == offsetof(struct page, compound_head),
	       "slab_cache overlays compound_head");
_Static_assert(offsetof(struct slab, freelist) % 16 == 0, "cmpxchg16b needs 16 byte alignment");

/* ---- arenas and zones ------------------------------------------------------- */
struct zone;
#define ARENA_MAGIC 0x6b736c62u /* "kslb" */
struct arena {
	uint32_t magic;
	int node;
	struct zone *zone;
	struct list_head list;		/* zone->arenas */
	unsigned long nr_free;		/* pages of this arena in the zone's free_area */
	unsigned long usable;		/* pages the arena gives to the buddy */
	unsigned long nr_moved_in;	/* large blocks mremap moved here (atomic): each may split the mapping */
	bool slots;			/* its part of the slab slot map is writable */
};

/* The slab slot map: a byte for each page of a window of the address space
 * (SLAB_SLOTS_PAGES pages from kslub_slab_slots_lo: 256 GiB, around where
 * the first mappings went, so where the arenas go), the kmalloc slot of
 * the cache whose slab holds the page when that slab has the cache's
 * preferred order, else 0.  kfree reads this byte where it would read the
 * page's struct page: an arena's 8 MiB take 2 KiB, 64 pages to a line,
 * where the memmap gives a page a line of its own; and the byte's index is
 * the page number less lo, with no test of the section map before it.  The
 * map is 64 MiB of address space reserved read-only at start, so a byte of
 * any page in the window reads 0 (the kernel's zero page) and costs no
 * memory; the part of an arena is made writable when the arena is mapped.
 * With no map (it could not be reserved) lo is 2^63, so that no page
 * number is in the window; an arena outside the window has no bytes.  kfree
 * then goes by the struct page.  A byte is set after its slab is made and
 * cleared before it is freed, like PG_slab. */
#define SLAB_SLOTS_PAGES (1UL << 26)
#define SLAB_SLOTS_NONE (1UL << 63)
extern uint8_t *kslub_slab_slots __attribute__((visibility("hidden")));
extern unsigned long kslub_slab_slots_lo __attribute__((visibility("hidden")));
/* The page before the map holds, at its end, a copy of kmalloc_caches (its
 * NR_SLAB_SLOT_CACHES pointers, written with them): kfree reaches the cache
 * from the map's address and the byte, with no second base address. */
#define NR_SLAB_SLOT_CACHES 64
struct kmem_cache;
static always_inline struct kmem_cache *slab_slot_cache(const uint8_t *map, unsigned long slot)
{
	return __atomic_load_n(&((struct kmem_cache *const *)map - NR_SLAB_SLOT_CACHES)[slot], __ATOMIC_ACQUIRE);
}
/* Before that copy, the caches' cpu offsets (kmalloc_tables.cpu_offset,
 * written with it): kfree finds the thread's slot of the cache the same
 * way, and reads the slot, not the cache.  Slot 0's is the empty cpu slot
 * 0 of every thread. */
static always_inline unsigned int slab_slot_cpu_offset(const uint8_t *map, unsigned long slot)
{
	return __atomic_load_n(&((const uint32_t *)((struct kmem_cache *const *)map - NR_SLAB_SLOT_CACHES) -
				 NR_SLAB_SLOT_CACHES)[slot], __ATOMIC_ACQUIRE);
}
/* The index of the byte of the page that holds addr: SLAB_SLOTS_PAGES or
 * more outside the window.  lo is read by the subtraction itself (a memory
 * operand: an aligned word, written once): an address is in the window
 * only once lo is published, after the map (with its copy of the caches)
 * is whole, and a thread that frees an object of kslub's has seen them
 * when it got the object. */
static always_inline unsigned long slab_slot_index(const void *addr)
{
	unsigned long i = (unsigned long)addr >> PAGE_SHIFT;

	__asm__("sub %1, %0" : "+r"(i) : "m"(kslub_slab_slots_lo) : "cc");
	return i;
}
/* The byte of the page that holds addr, which is in the window. */
static always_inline uint8_t *addr_slab_slot(const void *addr)
{
	return kslub_slab_slots + slab_slot_index(addr);
}
static always_inline bool slab_slot_mapped(const void *addr)
{
	return slab_slot_index(addr) < SLAB_SLOTS_PAGES;
}
/* The slot byte of any address: 0 outside the window. */
static always_inline unsigned int slab_slot_of(const void *addr)
{
	unsigned long i = slab_slot_index(addr);

	if (i >= SLAB_SLOTS_PAGES)
		return 0;
	return __atomic_load_n(&kslub_slab_slots[i], __ATOMIC_ACQUIRE);
}

static always_inline struct page *virt_to_page(const void *addr)
{
	unsigned long a = (unsigned long)addr;
	return (struct page *)((a & ~ARENA_MASK) + ARENA_MEMMAP_OFFSET) + ((a & ARENA_MASK) >> PAGE_SHIFT);
}
static always_inline void *page_address(const struct page *page)
{
	unsigned long base = (unsigned long)page & ~ARENA_MASK;
	unsigned long idx = ((unsigned long)page - base - ARENA_MEMMAP_OFFSET) / sizeof(struct page);
	return (void *)(base + (idx << PAGE_SHIFT));
}
static always_inline struct arena *page_arena(const struct page *page)
{
	return (struct arena *)((unsigned long)page & ~ARENA_MASK);
}
/* The head of the slab a PG_slab_tail page is in: slabs are aligned to
 * their size within the arena, and mask >> PAGE_SHIFT is pages - 1. */
static always_inline struct page *compound_head(struct page *page)
{
	if (unlikely(READ_ONCE(page->flags) & PG_slab_tail)) {
		unsigned long idx = (((unsigned long)page & ARENA_MASK) - ARENA_MEMMAP_OFFSET) / sizeof(struct page);

		return page - (idx & (((struct slab *)page)->mask >> PAGE_SHIFT));
	}
	return page;
}
static always_inline struct slab *page_slab(struct page *page) { return (struct slab *)page; }
static always_inline struct page *slab_page(struct slab *slab) { return (struct page *)slab; }
static always_inline void *slab_address(struct slab *slab) { return page_address(slab_page(slab)); }
static always_inline unsigned int slab_order(const struct slab *slab)
{
	return (unsigned int)__builtin_ctzl(slab->mask + 1) - PAGE_SHIFT;
}
/* NUMA node of the slab's memory: its arena's */
static always_inline int slab_nid(const struct slab *slab)
{
	return page_arena((const struct page *)slab)->node;
}

static always_inline int section_type(const void *addr)
{
	unsigned long sec = (unsigned long)addr >> ARENA_SHIFT;
	if (unlikely(sec >= NR_SECTIONS))
		return SECTION_NONE;
	return kslub_section_map[sec];
}

struct free_area {
	struct list_head free_list;	/* PG_dirty blocks, the last freed first */
	struct list_head clean_list;	/* blocks whose pages are not resident */
	unsigned long nr_free;		/* blocks on both lists */
};

struct zone {
	kslub_lock_t lock;
	int node;
	struct free_area free_area[MAX_ORDER];
	unsigned long nr_free_pages;	/* pages in free_area */
	unsigned long nr_dirty;		/* free pages that may be resident: the blocks' nr_dirty */
	unsigned long managed_pages;	/* pages of all arenas given to the buddy */
	struct list_head arenas;
	unsigned long nr_arenas;
	unsigned long nr_empty_arenas;	/* arenas wholly free */
	uint64_t last_purge;		/* ms clock of the last purge */
	unsigned long peak_resident;	/* most pages in use or dirty since peak_since */
	uint64_t peak_since;		/* ms clock */
	/* counters for the report */
	unsigned long nr_arena_mmap;	/* arenas mapped */
	unsigned long nr_arena_munmap;	/* arenas unmapped */
	unsigned long nr_purged;	/* pages given back with madvise */
};

/* Per-thread page lists: the kernel's per-cpu pages, one list per small order. */
#define NR_PCP_ORDERS (PAGE_ALLOC_COSTLY_ORDER + 1)
struct per_cpu_pages {
	int count;			/* pages on all lists */
	int high;			/* above this, give batch back to the zone */
	int batch;			/* pages moved at once */
	int node;
	int busy;			/* the lists are being changed (seen by a fork child) */
	int free_count;			/* pages freed here, halved by each allocation (kernel: pcp->free_count) */
	struct list_head lists[NR_PCP_ORDERS];
};

/* A fork child sees another thread's memory as it was at one instant, and on
 * x86 a thread's stores become visible in program order: a list whose busy
 * flag reads 0 there is whole.  The child leaves a busy list alone. */
static always_inline void pcp_enter(struct per_cpu_pages *pcp)
{
	WRITE_ONCE(pcp->busy, 1);
	barrier();
}
static always_inline void pcp_exit(struct per_cpu_pages *pcp)
{
	barrier();
	WRITE_ONCE(pcp->busy, 0);
}

/* ---- SLUB --------------------------------------------------------------------- */
struct kmem_cache_order_objects {
	unsigned int x;			/* order << 16 | objects */
};
#define OO_SHIFT 16
#define OO_MASK  ((1U << OO_SHIFT) - 1)
#define MAX_OBJS_PER_PAGE 32767
static inline unsigned int oo_order(struct kmem_cache_order_objects x) { return x.x >> OO_SHIFT; }
static inline unsigned int oo_objects(struct kmem_cache_order_objects x) { return x.x & OO_MASK; }

/* A thread's array of free objects of one cache, of any slab of its node
 * (kernel: struct slab_sheaf, the cpu's main sheaf).  Objects in it count as
 * in use for their slab (inuse), like those on a cpu freelist; each has an
 * encoded NULL free pointer, so that freeing it again is reported. */
struct slab_sheaf {
	unsigned int capacity;
	short node;			/* the node of every object in it */
	short busy;			/* objects[] and the count change together (seen by a fork child) */
	/* objects[-1], always NULL: what a pop of the last object reads as
	 * the next top (sheaf_pop_at); the header stays 16 bytes, so that a
	 * sheaf fills a kmalloc size */
	void *bottom;
	void *objects[];		/* [0 .. count - 1] are free, the last freed last */
};
#define SHEAF_MAX_CAPACITY 1000	/* the sheaf still fits the largest kmalloc cache */
_Static_assert(offsetof(struct slab_sheaf, objects) == 16, "sheaf_pop_at and sheaf_push_at know the header");
#define SHEAF_CONSUMER_BYTES 4096	/* of objects in the sheaf of a thread with no cpu slab */

struct kmem_cache_cpu {
	void **freelist;		/* next free object, private to the thread */
	/* the slab we allocate from (frozen), by its address, 0 for none: a
	 * free tells an object of it from the object's address and the slab's
	 * mask (in_slab_at), with no struct page read.  cpu_slab() gives the
	 * struct slab, cpu_slab_set() sets it. */
	unsigned long slab_addr;
	unsigned long sheaf;		/* freed objects, last in first out: see cpu_sheaf */
	/* the sheaf's last object (objects[count - 1]), NULL with none: a
	 * pop hands it out read from this line, and only the next top is
	 * read from the sheaf, off the way of the object's address.  Every
	 * change of the count sets it (set_cpu_sheaf and the inline paths). */
	void *sheaf_top;
	/* What the inline sheaf paths may do, set with the cpu slab
	 * (cpu_sheaf_limits_set), so that each tests one field: a pop takes
	 * an object when the sheaf's count field (objects + 1) is above
	 * pop_floor, a push goes on while the sheaf holds fewer than
	 * push_limit objects.  All 0 in a thread's empty slot. */
	uint16_t pop_floor;
	uint16_t sheaf_capacity;	/* the capacity of the thread's sheaf, which grows (0: none) */
	unsigned int push_limit;
	/* kfree's checks for an object of a slab of the cache's preferred
	 * order, copied from its kmem_cache (oo_mask, div_magic,
	 * oo_starts_below) into each thread's slot of a kmalloc cache, so that
	 * kfree reads this line and no line of the cache.  All 0 in a slot not
	 * filled (kmalloc_cpu_fill): the first check then fails for every
	 * address and the free goes the long way, kfree_slow, which fills it.
	 * The kernel's c->partial is in struct kslub_thread (cpu_partial). */
	unsigned long oo_mask;
	uint64_t div_magic;
	unsigned long oo_starts_below;
};
_Static_assert(sizeof(struct kmem_cache_cpu) == 64, "cpu slot is one cache line");

/* A pop_floor no count field reaches (it has 16 bits). */
#define SHEAF_POP_NEVER 0xffffU

/* The kernel's c->slab. */
static inline struct slab *cpu_slab(const struct kmem_cache_cpu *c)
{
	unsigned long addr = __atomic_load_n(&c->slab_addr, __ATOMIC_RELAXED);

	return addr ? page_slab(virt_to_page((void *)addr)) : NULL;
}

/* kmem_cache_cpu->sheaf is 0 for no sheaf, else the sheaf's address shifted
 * up SHEAF_COUNT_BITS bits (user-space addresses are below 2^47) with the
 * count of objects in it plus one in the low bits: a push or a pop reads no
 * line of the sheaf but the slot, and stores one word, which a fork child or
 * a report sees whole.  The count is the low 16 bits, one instruction away;
 * the one more makes a sheaf never look like none, and 0 (every slot of a
 * new thread) wrap to a count no push goes on with (sheaf_push_at). */
#define SHEAF_COUNT_BITS 16
#define SHEAF_COUNT_MASK ((1UL << SHEAF_COUNT_BITS) - 1)
static inline struct slab_sheaf *cpu_sheaf(unsigned long v)
{
	return (struct slab_sheaf *)(v >> SHEAF_COUNT_BITS);
}

static inline unsigned int cpu_sheaf_size(unsigned long v)
{
	return v ? (unsigned int)(v & SHEAF_COUNT_MASK) - 1 : 0;
}

/* Released: the objects stored are seen before the count that covers them. */
static inline void set_cpu_sheaf(struct kmem_cache_cpu *c, struct slab_sheaf *sheaf, unsigned int size)
{
	WRITE_ONCE(c->sheaf_top, sheaf && size ? sheaf->objects[size - 1] : NULL);
	__atomic_store_n(&c->sheaf, sheaf ? (unsigned long)sheaf << SHEAF_COUNT_BITS | (size + 1) : 0,
			 __ATOMIC_RELEASE);
}

struct kmem_cache_node {
	kslub_lock_t list_lock;
	unsigned long nr_partial;	/* slabs on partial */
	struct list_head partial;	/* partially free slabs, not frozen */
	long nr_slabs;			/* slabs of this node (atomic) */
	long total_objects;		/* objects in those slabs (atomic) */
	struct list_head full;		/* full slabs, for debug caches only */
	unsigned long purge_mark;	/* nr_partial after the last purge of the slabs' tails */
};

#define KSLUB_CACHE_NAME_MAX 40
struct kmem_cache {
	unsigned int cpu_offset;	/* offset of our kmem_cache_cpu in struct kslub_thread */
	unsigned int offset;		/* free pointer offset in an object */
	uint64_t div_magic;		/* floor(2^64 / size) + 1: tells if an offset is a multiple of size */
	/* a slab of the preferred order's mask and starts_below: kfree's
	 * checks when the arena's slot map names the cache */
	unsigned long oo_starts_below;
	unsigned long oo_mask;
	unsigned int size;		/* object with metadata, the slot size */
	/* in the first line, with what the fast paths read: free_to_pcs
	 * reads it for every free to the sheaf past the inline push */
	unsigned int sheaf_capacity;	/* objects in a thread's sheaf, 0 = no sheaves */
	unsigned int sheaf_consumer;	/* the inline pushes' bound: lower for big objects, which a
					 * thread with no cpu slab of the cache (a consumer) never reuses */
	unsigned int sheaf_push_max;	/* sheaf_consumer, or 0 with no inline push (more than one
					 * node): see sheaf_push_at */
	unsigned int sheaf_push_cap;	/* the same for a thread with a cpu slab of the cache:
					 * sheaf_capacity, or 0; a grown sheaf's own capacity
					 * above it (cpu_sheaf_limits_set) */
	unsigned int object_size;	/* object without metadata */
	slab_flags_t flags;
	unsigned int red_left_pad;	/* left red zone (debug) */
	unsigned int inuse;		/* offset to metadata */
	unsigned int kmalloc_slot;	/* slot in kmalloc_caches, 0 for other caches: see kslub_slab_slots */
	unsigned long min_partial;	/* empty slabs kept on a node list */
	unsigned int cpu_partial;	/* objects kept on cpu-partial lists */
	unsigned int cpu_partial_slabs;	/* the same in slabs */
	unsigned int sheaf_capacity_max;	/* what a thread's sheaf may grow to: see sheaf_grow */
	unsigned int align;
	struct kmem_cache_order_objects oo;	/* preferred order and objects */
	struct kmem_cache_order_objects min;	/* smallest order that holds one object */
	void (*ctor)(void *);
	int refcount;
	int index;			/* slot in each thread's cpu array */
	bool is_kmalloc;
	char name[KSLUB_CACHE_NAME_MAX];
	struct list_head list;		/* slab_caches */
	/* the last member: a cache made at run time has kslub_node_slots of them */
	struct kmem_cache_node *node[MAX_NUMNODES];
};
_Static_assert(offsetof(struct kmem_cache, sheaf_capacity) < 64, "sheaf_capacity in the first line");
_Static_assert(offsetof(struct kmem_cache, sheaf_push_max) < 64, "sheaf_push_max in the first line");
_Static_assert(offsetof(struct kmem_cache, sheaf_push_cap) < 64, "sheaf_push_cap in the first line");
_Static_assert(offsetof(struct kmem_cache, oo_mask) < 64, "oo_mask in the first line");

/* ---- per-thread state ---------------------------------------------------------- */
enum kslub_thread_state {
	THREAD_EMPTY = 0,	/* the shared, never-written empty state */
	THREAD_LIVE,
	THREAD_DEAD,		/* flushed at exit; allocations bypass the cpu slabs */
};

struct kslub_thread {
	struct kmem_cache_cpu cpu[KSLUB_MAX_CACHES];	/* first: cpu_offset stays small */
	struct per_cpu_pages pcp;
	unsigned char nr_single[KSLUB_MAX_CACHES];	/* objects taken single, per cache (alloc_first) */
	struct list_head list;		/* kslub_threads */
	int state;
	int node;
	unsigned int alloc_pages;	/* pages this structure occupies */
	/* each slot's frozen partially free slabs (the kernel's c->partial),
	 * off the slot's line: see cpu_partial.  Last, so that the entries of
	 * the caches made first (the kmalloc caches) share a page with the
	 * fields above: a thread that uses a few caches writes two pages of
	 * its state, the first of cpu[] and this one, not three. */
	struct slab *cpu_partial[KSLUB_MAX_CACHES];
};

extern __thread struct kslub_thread *kslub_current __attribute__((tls_model("initial-exec")));
extern struct kslub_thread kslub_thread_empty;

static always_inline struct kmem_cache_cpu *this_cpu_ptr(struct kmem_cache *s)
{
	return (struct kmem_cache_cpu *)((char *)kslub_current + s->cpu_offset);
}

/* The kernel's c->partial of s's slot c: in the same thread's state. */
static always_inline struct slab **cpu_partial(const struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	struct kslub_thread *t = (struct kslub_thread *)((char *)c - s->cpu_offset);

	return &t->cpu_partial[s->index];
}

/* ---- shared globals and functions ------------------------------------------------ */
extern int kslub_nr_node_ids;			/* nodes in use */
extern int kslub_node_slots;			/* kmem_cache->node[] entries: 1, or MAX_NUMNODES where
						 * there may be more nodes */
extern struct zone *kslub_zones[MAX_NUMNODES];
extern struct list_head kslub_slab_caches;	/* every kmem_cache, under slab_mutex */
extern kslub_lock_t kslub_slab_mutex;
extern struct list_head kslub_threads;		/* every struct kslub_thread */
extern kslub_lock_t kslub_threads_lock;
extern int kslub_initialized;

void kslub_init_slow(void);

/* The inline sheaf paths of c, from whether the thread has a cpu slab of s:
 * with one, pops and pushes up to the sheaf's capacity; with none, the
 * thread is still taking its first objects of s (alloc_first takes its
 * pops the long way) or only frees them, and pushes batch its frees up to
 * sheaf_consumer.  On a machine of several nodes neither is inline: s's
 * push bounds are 0 and pops go by alloc_from_pcs, which looks at the node.
 * Another thread sets them only while nodes come online. */
static inline void cpu_sheaf_limits_set(const struct kmem_cache *s, struct kmem_cache_cpu *c, bool has_slab)
{
	bool one_node = __atomic_load_n(&kslub_nr_node_ids, __ATOMIC_ACQUIRE) == 1;
	unsigned int cap = READ_ONCE(s->sheaf_push_cap);

	/* a sheaf that has grown takes pushes up to its own capacity */
	if (cap && READ_ONCE(c->sheaf_capacity) > cap)
		cap = READ_ONCE(c->sheaf_capacity);
	__atomic_store_n(&c->push_limit, has_slab ? cap : READ_ONCE(s->sheaf_push_max), __ATOMIC_RELAXED);
	__atomic_store_n(&c->pop_floor, has_slab && one_node ? 1 : SHEAF_POP_NEVER, __ATOMIC_RELAXED);
}

/* Sets the kernel's c->slab, and with it what the inline sheaf paths may do. */
static inline void cpu_slab_set(const struct kmem_cache *s, struct kmem_cache_cpu *c, struct slab *slab)
{
	__atomic_store_n(&c->slab_addr, slab ? (unsigned long)slab_address(slab) : 0, __ATOMIC_RELAXED);
	cpu_sheaf_limits_set(s, c, slab != NULL);
}
static always_inline void kslub_ensure_init(void)
{
	if (unlikely(!__atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE)))
		kslub_init_slow();
}
struct kslub_thread *kslub_thread_get(void);	/* the caller's state, created if needed */
void kslub_thread_flush(struct kslub_thread *t);
uint64_t kslub_now_ms(void);
int kslub_current_node(void);

/* A system call of up to three arguments made here, not through libc: each
 * libc function kslub calls at start maps its part of libc's text (64 KB
 * around it, by the kernel's fault-around) into a process that may never
 * need it.  -errno on failure, as the kernel returns it. */
static inline long os_syscall3(long nr, long a, long b, long c)
{
#if defined(__x86_64__)
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c) : "rcx", "r11", "memory");
	return ret;
#else
	long ret = syscall(nr, a, b, c);

	return ret == -1 ? -(long)errno : ret;
#endif
}

/* os.c */
void *os_mmap_aligned(size_t size, size_t align);
void *os_mmap(size_t size);
int os_munmap(void *addr, size_t size);
struct iovec;
unsigned int os_purge_batch(struct iovec *iov, unsigned int n);
void os_restrict(void);
bool os_restricted(void);
bool os_may_purge(void);
void os_forked(void);
void *os_mremap(void *old, size_t old_size, size_t new_size, void *fixed);
bool os_move_pages(void *old, void *dst, size_t size);
void os_hugepage(void *addr, size_t size);
void os_bind_node(void *addr, size_t size, int node);
void *os_reserve(size_t size);
bool os_make_writable(void *addr, size_t size);
extern unsigned long kslub_os_mmaps, kslub_os_munmaps, kslub_os_purges, kslub_os_mapped, kslub_os_moves;
extern unsigned long kslub_slab_purged_pages;	/* pages of partial slabs given back (slub.c) */

/* arena.c */
struct arena *arena_create(struct zone *zone);
void arena_destroy(struct arena *arena);
void section_map_set(void *addr, size_t size, enum section_type head, enum section_type tail);
void slab_slots_reserve(void);
bool arena_may_move_in(void);
bool arena_may_fill(void);
void arena_moved_in(struct arena *arena);

/* page_alloc.c */
#include "page_alloc.h"

/* slub.c */
void kmem_cache_init(void);
int kmem_cache_online_node(int node);
struct kmem_cache *kmem_cache_create_flags(const char *name, unsigned int size, unsigned int align,
					   slab_flags_t flags, void (*ctor)(void *), bool is_kmalloc);
void *slab_alloc_refill(struct kmem_cache *s, gfp_t gfp);
void slab_free_slow(struct kmem_cache *s, struct slab *slab, void *obj);
void flush_cpu_slab(struct kmem_cache *s, struct kmem_cache_cpu *c);
void release_cpu_sheaf(struct kmem_cache *s, struct kmem_cache_cpu *c);
size_t kmem_cache_shrink_locked(struct kmem_cache *s);	/* under kslub_slab_mutex; bytes purged */
void kslub_cache_count(struct kmem_cache *s, struct kslub_cache_info *info, unsigned long *node_partial);
/* Reports and aborts; for kmalloc_boot_cache (kfree's slot 0) it frees x
 * by its struct page instead.  noipa: gcc must not learn in slub.c that it
 * does not return, or it calls it instead of jumping, and the fast paths
 * that reach it set up a stack frame. */
noinline noipa __attribute__((cold)) void kslub_bad_object_free(struct kmem_cache *s, const void *x,
									  const char *func);

/* kmalloc.c */
void create_kmalloc_caches(void);
void kmalloc_large_free(struct page *page, const void *p, const char *func);
size_t kmalloc_huge_size(const void *p);
size_t kmalloc_huge_trim(void);
extern kslub_lock_t kslub_huge_cache_lock;

/* stats.c */
int kslub_write_slabinfo_fd(int fd);	/* the report on fd; 0, or -1 with errno */

/* options.c */
#include "options.h"

/* report.c */
#include "report.h"

#endif /* KSLUB_INTERNAL_H */
