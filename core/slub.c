/* SPDX-License-Identifier: MIT */
/*
 * slub.c - the SLUB allocator: kmem_cache, per-thread kmem_cache_cpu,
 * per-node kmem_cache_node, slabs carved from buddy pages.
 *
 * Lock order (take them in this order, never the other way):
 *   1. kslub_slab_mutex       the list of caches, cache slots, create/destroy
 *   2. kslub_threads_lock     the list of threads (exit, fork, reports)
 *   3. kmem_cache_node->list_lock   a node's partial list of one cache
 *   4. zone->lock             a node's buddy lists (page_alloc.c)
 *   5. kslub_huge_cache_lock  freed direct mappings kept for reuse (kmalloc.c)
 * The purge of slab tails that a new slab may start (slab_purge_auto) takes
 * kslub_slab_mutex with a trylock, so that it never waits for it whatever
 * its thread holds.
 *
 * What guards what:
 *   - kmem_cache_cpu is private to its thread: no lock, no atomic.  Another
 *     thread touches it only when its owner is gone (thread exit, fork child)
 *     or when kmem_cache_destroy() clears a cache nobody may use any more.
 *   - slab->freelist and slab->counters (inuse, objects, frozen, fresh)
 *     change together, by cmpxchg16b, from any thread.
 *   - slab->slab_list and n->nr_partial change only under n->list_lock.
 *   - n->nr_slabs and n->total_objects are atomic counters.
 *
 * The states of a slab:
 *   cpu slab      frozen; cpu_slab(c) of one thread, whose c->freelist holds its
 *                 free objects; slab->freelist collects frees by other threads.
 *   cpu partial   frozen; on a thread's c->partial list; free objects on
 *                 slab->freelist, and the owner's own frees on the slab's
 *                 local list (no atomic: nobody else touches it), which
 *                 becomes the cpu freelist when the slab becomes the cpu
 *                 slab and joins slab->freelist when it is unfrozen.  Gets
 *                 there when a free hits a full slab.
 *   node partial  not frozen; on n->partial under list_lock; free objects on
 *                 slab->freelist.
 *   full          not frozen; on no list (on n->full for debug caches);
 *                 slab->freelist is NULL and no object is fresh.  The next
 *                 free freezes it onto the freeing thread's cpu-partial list.
 *   empty         inuse == fresh: kept on the node partial list while the
 *                 node has fewer than min_partial slabs, else back to the
 *                 buddy.
 * A node partial slab whose last pages held free objects only may have given
 * those pages back to the OS (kmem_cache_shrink, malloc_trim): their
 * objects count as fresh, marked purged, and are linked again before a
 * thread takes the slab (purge_partial_tails, unpurge_slab).
 *
 * Object layout: objects sit at multiples of s->size from the slab start.
 * The free pointer is at s->offset: 0 (in the object) for caches without a
 * constructor, after the object for caches with one, so that a constructed
 * object keeps its state while free.  Free pointers are stored obfuscated
 * (SLAB_FREELIST_HARDENED): ptr ^ kslub_freelist_random ^ swab(address of the object).
 * An allocated object has 0 in that slot: free() decodes the slot to tell a
 * double free from a first one.  What differs from the kernel: the free
 * objects of a slab that the cpu takes back are relinked in address order
 * (order_freelist), so that the slab hands them out upwards: always for the
 * thread's own frees to a cpu-partial slab, and for a slab's freelist while
 * the process has one thread; and a new slab links its objects a page at a
 * time as they are needed, not all at once (link_fresh), so that a slab of
 * which a few objects are used has only their pages resident.
 *
 * Frees by another thread use the kernel's __slab_free; a thread that exits
 * flushes its cpu slabs and cpu-partial slabs to the nodes (flush_cpu_slab)
 * and later allocations of that thread take single objects from the node
 * lists (alloc_single_from_partial), so nothing is stranded.
 *
 * Sheaves (the kernel's per-cpu sheaves of 6.18, per thread here): a free
 * that is not to the cpu slab stores the object in the thread's sheaf of
 * the cache when the object's slab is of the thread's node (free_to_pcs):
 * no atomic, no lock, whichever thread allocated it.  An allocation takes
 * the sheaf's last object first (alloc_from_pcs), as the kernel's does, then
 * the cpu freelist, and only then refills: an object freed in random order
 * is handed out again while its lines are in the cache, before the cpu
 * slab's free objects, of which only the ones freed last are warm.  A free
 * to a full sheaf sends its older half to the slabs (sheaf_flush_main).
 * Objects in a sheaf are in use for their slab
 * (inuse) and carry an encoded NULL free pointer, which the fast path's
 * check reads as free: a second free is reported.  What differs from the
 * kernel: one sheaf per thread and cache (no spare, no per-node barn of
 * full and empty sheaves; a full sheaf is half flushed where the kernel
 * swaps it for an empty one), reached through kmem_cache_cpu->sheaf; the
 * sheaf of a thread that allocates from the cache grows when it fills, up
 * to four times its first capacity (sheaf_grow), where the kernel's
 * capacity is fixed; sheaf
 * structures come from the kmalloc caches by the node lists (alloc_single),
 * never through a cpu slot, and go back the same way; the capacity is
 * chosen by object size unless KSLUB_SHEAF_CAPACITY says otherwise.
 * kmem_cache_shrink empties the calling thread's sheaf only, as it flushes
 * only its cpu slabs; kmem_cache_destroy empties every thread's.
 *
 * Fork safety (a child sees another thread's memory as it was at one
 * instant, stores in program order; it flushes the slots of threads that did
 * not come along):
 *   - a cpu-partial slab is linked before c->partial points at it, and off
 *     the list before it becomes c->slab: a slot seen halfway loses a slab,
 *     never holds it twice;
 *   - a sheaf push writes objects[size] before size grows, a pop reads
 *     objects[size - 1] before size shrinks: the child sees an object being
 *     freed lost (a leak) or in the sheaf, an object being taken still in the
 *     sheaf (the thread that took it is gone, so it is free indeed), never an
 *     object twice;
 *   - a flush, which frees objects and moves the rest down, runs with
 *     sheaf->busy set: the child drops a busy sheaf's objects (a leak);
 *   - c->sheaf is set after the sheaf is whole and cleared before it is
 *     emptied for good.
 */
#include "slub.h"
#include "topology.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/auxv.h>
#include <sys/single_threaded.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

struct list_head kslub_slab_caches = LIST_HEAD_INIT(kslub_slab_caches);
kslub_lock_t kslub_slab_mutex = KSLUB_LOCK_INIT;

/* The cache of struct kmem_cache and the cache of struct kmem_cache_node.
 * They start as static structures and move into their own slabs (bootstrap). */
static struct kmem_cache boot_kmem_cache, boot_kmem_cache_node;
static struct kmem_cache *kmem_cache;
static struct kmem_cache *kmem_cache_node;
static enum { DOWN, PARTIAL, UP, FULL } slab_state = DOWN;

/* used kmem_cache_cpu slots; slot 0 is no cache's, for kmalloc's boot slot
 * (kmalloc_tables.cpu_offset[0]): every thread's stays empty */
static uint64_t cache_slots[KSLUB_MAX_CACHES / 64] = { 1 };
unsigned long kslub_freelist_random;

static inline struct kmem_cache_node *get_node(struct kmem_cache *s, int node)
{
	return s->node[node];
}

static inline bool kmem_cache_has_cpu_partial(struct kmem_cache *s)
{
	return s->cpu_partial_slabs != 0;
}

static bool free_to_own_partial(struct kmem_cache *s, struct slab *slab, void *head, void *tail);
/* A thread's first allocations of a cache take single objects from the
 * node partial lists (alloc_single, the kernel's alloc_single_from_partial),
 * packed with other threads' objects in shared slabs: a short-lived thread
 * that allocates a few objects of many sizes claims no slab of each size
 * for itself.  The SINGLE_ALLOCS-th allocation claims a cpu slab (the first
 * one while the process has one thread), and the sheaf that recycled the
 * thread's frees until then goes back first, so that its frees reach the
 * cpu slab's fast path from then on.  Until then a free does not freeze a
 * full slab onto the thread's cpu-partial list either: a slab there serves
 * only the thread's allocations from slabs. */
#define SINGLE_ALLOCS 16

static void *alloc_single(struct kmem_cache *s, gfp_t gfp, int node);
static void __slab_free_loop(struct kmem_cache *s, struct slab *slab, void *head, void *tail, int cnt,
			     bool can_freeze);

/* ---- freelist and counters, changed together ----------------------------- */
static always_inline unsigned __int128 fc_make(void *freelist, unsigned long counters)
{
	return ((unsigned __int128)counters << 64) | (unsigned long)freelist;
}

/* While the process has one thread no other thread can touch a slab, and a
 * plain compare and store does what the locked cmpxchg16b does at a fraction
 * of its cost: in a single-threaded program with objects freed in random
 * order, the locked instruction was a quarter of the run.  glibc's
 * __libc_single_threaded turns false before the first pthread_create returns
 * and never turns back, so a thread that reads it true is alone (glibc's own
 * malloc skips its atomics on the same test). */
static always_inline bool cmpxchg_double_slab(struct slab *slab, void *freelist_old, unsigned long counters_old,
					      void *freelist_new, unsigned long counters_new)
{
	if (__libc_single_threaded) {
		if (slab->freelist != freelist_old || slab->counters != counters_old)
			return false;
		slab->freelist = freelist_new;
		slab->counters = counters_new;
		return true;
	}
	return __sync_bool_compare_and_swap(&slab->freelist_counters, fc_make(freelist_old, counters_old),
					    fc_make(freelist_new, counters_new));
}

/* A local copy of the counters, to change fields before the cmpxchg. */
struct slab_counters {
	union {
		unsigned long counters;
		struct {
			unsigned inuse:16;
			unsigned objects:15;
			unsigned frozen:1;
			unsigned fresh:16;
			unsigned purged:1;
		};
	};
};

/* The kernel's __slab_free.  Its common case, a slab that stays on its list
 * (frozen, or still partial after the free), is one try of
 * cmpxchg_double_slab inline (plain loads and stores while the process
 * has one thread); a slab that changes list, or a lost race, goes on to
 * __slab_free_loop, which tries again from the start. */
static always_inline void __slab_free(struct kmem_cache *s, struct slab *slab, void *head, void *tail, int cnt,
				      bool can_freeze)
{
	void *prior = READ_ONCE(slab->freelist);
	unsigned long counters = READ_ONCE(slab->counters);
	struct slab_counters new = { .counters = counters };

	/* stays on its list: frozen, or partial and not empty after the free;
	 * a slab with fresh objects goes the whole way, which checks that
	 * none of them is freed */
	if (likely(!new.fresh && (new.frozen || (prior && new.inuse != cnt)))) {
		set_freepointer(s, tail, prior);
		new.inuse -= cnt;
		if (likely(cmpxchg_double_slab(slab, prior, counters, head, new.counters)))
			return;
	}
	__slab_free_loop(s, slab, head, tail, cnt, can_freeze);
}

/* ---- node lists ------------------------------------------------------------ */
enum { DEACTIVATE_TO_HEAD, DEACTIVATE_TO_TAIL };

static void add_partial(struct kmem_cache_node *n, struct slab *slab, int tail)
{
	WRITE_ONCE(n->nr_partial, n->nr_partial + 1);
	if (tail == DEACTIVATE_TO_TAIL)
		list_add_tail(&slab->slab_list, &n->partial);
	else
		list_add(&slab->slab_list, &n->partial);
}

static void remove_partial(struct kmem_cache_node *n, struct slab *slab)
{
	list_del(&slab->slab_list);
	WRITE_ONCE(n->nr_partial, n->nr_partial - 1);
}

static inline void inc_slabs_node(struct kmem_cache *s, int node, int objects)
{
	struct kmem_cache_node *n = get_node(s, node);

	if (likely(n)) {
		__atomic_fetch_add(&n->nr_slabs, 1, __ATOMIC_RELAXED);
		__atomic_fetch_add(&n->total_objects, objects, __ATOMIC_RELAXED);
	}
}

static inline void dec_slabs_node(struct kmem_cache *s, int node, int objects)
{
	struct kmem_cache_node *n = get_node(s, node);

	__atomic_fetch_sub(&n->nr_slabs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_sub(&n->total_objects, objects, __ATOMIC_RELAXED);
}

/* ---- slabs from the buddy -------------------------------------------------- */
/* Names the slab's pages in the slot map (slot 0: none). */
static void slab_set_slot(struct slab *slab, unsigned int order, unsigned int slot)
{
	unsigned long i = slab_slot_index(slab_address(slab));

	if (i >= SLAB_SLOTS_PAGES || !page_arena(slab_page(slab))->slots)
		return;	/* no map, an arena outside its window, or without its part */
	for (unsigned long n = 0; n < (1UL << order); n++)
		__atomic_store_n(&kslub_slab_slots[i + n], (uint8_t)slot, __ATOMIC_RELEASE);
}

/*
 * Fresh objects.  A new slab links only the objects that start in its first
 * page; the rest, slab->fresh of them at its end, are linked a page's worth
 * at a time when the slab has no other free object to give (get_freelist,
 * acquire_slab) or taken one by one (alloc_single).  The kernel links a
 * new slab's every object, which writes every page of it: a cache that a
 * thread takes a few objects from kept the whole slab resident, 32 KiB for
 * one 4 KiB stdio buffer, and a program of short threads that each take a
 * few objects of many sizes a slab of each size per live thread (the
 * threads workload: 2.6 MB at its peak against glibc's 2.2).  Fresh objects
 * count in inuse, as if a holder had them: a slab is empty when inuse ==
 * fresh, full when its freelist is NULL and fresh is 0.  fresh changes with
 * the freelist and the counters, by the same cmpxchg, and only for the
 * slab's owner: the thread it is frozen for, or one holding the node's
 * list_lock while it is on the partial list.  Caches with a constructor
 * construct and link every object at once.
 */
/* The first of a slab's fresh objects, fresh of them. */
static inline char *fresh_start(const struct kmem_cache *s, struct slab *slab, unsigned int fresh)
{
	return (char *)slab_address(slab) + s->red_left_pad + (size_t)(slab->objects - fresh) * s->size;
}

static inline bool object_is_fresh(const struct kmem_cache *s, struct slab *slab, const void *x,
				   unsigned int fresh)
{
	return (const char *)x >= fresh_start(s, slab, fresh);
}

/* A free of cnt objects, head .. tail, to a slab with fresh objects: none
 * of them fresh, and no more of them than the slab has in use.  A purged
 * object (one whose page a shrink gave back) was free already: a second
 * free of it reads the 0 of a new page where the free pointer was, passes
 * kfree's test of that word, and is caught here.  Each object of the run
 * is looked at: the run came from a sheaf, where it was not checked. */
enum fresh_free { FREED_TOO_MANY, FREED_NEVER_ALLOCATED, FREED_PURGED };
static noinline __attribute__((cold)) void report_fresh_free(struct kmem_cache *s, const void *x, enum fresh_free why)
{
	if (why == FREED_NEVER_ALLOCATED)
		kslub_fatal(NULL, x, "invalid pointer: an object of %s that was never allocated", s->name);
	if (why == FREED_PURGED)
		kslub_fatal(NULL, x, "double free or invalid pointer: an object of %s that is free", s->name);
	kslub_fatal(NULL, x, "double free: more objects of %s freed than are in use", s->name);
}

static noinline void check_not_fresh(struct kmem_cache *s, struct slab *slab, void *head, void *tail, int cnt,
				     struct slab_counters c)
{
	void *p = head;

	for (int i = 0; i < cnt; i++) {
		if (object_is_fresh(s, slab, p, c.fresh))
			report_fresh_free(s, p, c.purged ? FREED_PURGED : FREED_NEVER_ALLOCATED);
		if (p == tail)
			break;
		p = get_freepointer(s, p);
	}
	if (c.inuse < cnt + c.fresh)
		report_fresh_free(s, head, FREED_TOO_MANY);
}

static void *link_fresh(struct kmem_cache *s, struct slab *slab, unsigned int fresh, unsigned int *nr)
{
	char *first = fresh_start(s, slab, fresh), *p;
	unsigned long page_end = ((unsigned long)first | (PAGE_SIZE - 1)) + 1;
	unsigned int n = (unsigned int)DIV_ROUND_UP(page_end - (unsigned long)first, s->size);

	if (n > fresh)
		n = fresh;
	for (p = first; p < first + (size_t)(n - 1) * s->size; p += s->size)
		set_freepointer(s, p, p + s->size);
	set_freepointer(s, p, NULL);
	*nr = n;
	return first;
}

static struct slab *allocate_slab(struct kmem_cache *s, gfp_t gfp, int node)
{
	struct kmem_cache_order_objects oo = s->oo;
	struct page *page;
	struct slab *slab;
	unsigned int order, objects;
	char *start, *p;

	page = alloc_pages_node(node, gfp, oo_order(oo), NULL);
	if (unlikely(!page)) {
		oo = s->min;
		page = alloc_pages_node(node, gfp, oo_order(oo), NULL);
		if (unlikely(!page))
			return NULL;
	}
	order = oo_order(oo);
	objects = oo_objects(oo);
	slab = page_slab(page);
	slab->slab_cache = s;
	slab->freelist = NULL;
	slab->counters = 0;
	slab->objects = objects;
	slab->mask = (PAGE_SIZE << order) - 1;
	slab->starts_below = slab_starts_below(s, objects);
	/* a tail page holds what compound_head needs */
	for (unsigned long i = 1; i < (1UL << order); i++) {
		page_slab(&page[i])->mask = slab->mask;
		__atomic_store_n(&page[i].flags, PG_slab | PG_slab_tail, __ATOMIC_RELEASE);
	}
	/* flags last: free() trusts PG_slab only on a slab that is set up */
	__atomic_store_n(&slab->flags, PG_slab, __ATOMIC_RELEASE);
	/* kfree's way in, for the slabs whose mask and starts_below the
	 * cache holds */
	if (s->kmalloc_slot && oo.x == s->oo.x)
		slab_set_slot(slab, order, s->kmalloc_slot);

	if (s->ctor) {	/* constructed all at once, as the kernel does */
		start = (char *)slab_address(slab) + s->red_left_pad;
		for (p = start; p < start + (objects - 1) * s->size; p += s->size) {
			s->ctor(p);
			set_freepointer(s, p, p + s->size);
		}
		s->ctor(p);
		set_freepointer(s, p, NULL);
		slab->freelist = start;
	} else {
		unsigned int nr;

		slab->freelist = link_fresh(s, slab, objects, &nr);
		slab->fresh = objects - nr;
		slab->inuse = objects - nr;
	}
	inc_slabs_node(s, slab_nid(slab), (int)objects);
	return slab;
}

static void slab_purge_tick(void);

static struct slab *new_slab(struct kmem_cache *s, gfp_t gfp, int node)
{
	slab_purge_tick();
	return allocate_slab(s, gfp & ~KSLUB_GFP_ZERO, node);
}

static void free_slab(struct slab *slab)
{
	struct page *page = slab_page(slab);
	unsigned int order = slab_order(slab);

	if (slab->slab_cache->kmalloc_slot)
		slab_set_slot(slab, order, 0);
	for (unsigned long i = 1; i < (1UL << order); i++)
		__atomic_store_n(&page[i].flags, 0, __ATOMIC_RELEASE);
	slab->slab_cache = NULL;
	__atomic_store_n(&slab->flags, 0, __ATOMIC_RELEASE);
	free_the_pages(page, order);
}

static void discard_slab(struct kmem_cache *s, struct slab *slab)
{
	dec_slabs_node(s, slab_nid(slab), slab->objects);
	free_slab(slab);
}

/* Discard slabs chained through slab->next, taken off every list already. */
static void discard_slab_list(struct kmem_cache *s, struct slab *slab)
{
	while (slab) {
		struct slab *next = slab->next;

		discard_slab(s, slab);
		slab = next;
	}
}

/* ---- cpu-partial lists --------------------------------------------------- */

/* The owner's local list of a slab on its cpu-partial list: objects it freed
 * there, chained by free pointers like any freelist, counted in inuse. */
static inline void *slab_local_head(struct kmem_cache *s, struct slab *slab)
{
	unsigned int local = READ_ONCE(slab->local);	/* kslub_cache_count reads other threads' */

	return local ? (char *)slab_address(slab) + s->red_left_pad + local - 1 : NULL;
}

static inline void slab_set_local_head(struct kmem_cache *s, struct slab *slab, void *object)
{
	WRITE_ONCE(slab->local, object ? (unsigned int)((char *)object - ((char *)slab_address(slab) + s->red_left_pad)) + 1 : 0);
}

/* Take a slab's local list: returns its head, the number of objects in
 * *count and the last one in *tail. */
static void *take_local(struct kmem_cache *s, struct slab *slab, int *count, void **tail)
{
	void *head = slab_local_head(s, slab), *p;

	*count = 0;
	*tail = NULL;
	for (p = head; p; p = get_freepointer(s, p)) {
		(*count)++;
		*tail = p;
	}
	slab_set_local_head(s, slab, NULL);
	return head;
}

/* How far slab_free_slow looks along the cpu-partial list for the slab. */
#define LOCAL_FREE_WALK 8

/* A free to a slab frozen on our own cpu-partial list goes on its local
 * list, without an atomic: only the owner unfreezes the slab, takes it as
 * the cpu slab, or touches the local list.  head .. tail: objects of the
 * slab linked by free pointers, counted in inuse.  Returns false when the
 * slab is not (found) there; then the kernel's __slab_free does it. */
static bool free_to_own_partial(struct kmem_cache *s, struct slab *slab, void *head, void *tail)
{
	struct slab *p = *cpu_partial(s, this_cpu_ptr(s));
	struct slab_counters counters;

	if (!p)
		return false;
	counters.counters = READ_ONCE(slab->counters);
	if (!counters.frozen)
		return false;
	for (int i = 0; p != slab; p = p->next)
		if (!p || ++i > LOCAL_FREE_WALK)
			return false;
	set_freepointer(s, tail, slab_local_head(s, slab));
	barrier();	/* linked before it is on the list, for a fork child */
	slab_set_local_head(s, slab, head);
	return true;
}

/* Unfreeze a list of frozen slabs onto their node partial lists, discarding
 * the empty ones the nodes do not need (kernel: __unfreeze_partials). */
static void unfreeze_partials_list(struct kmem_cache *s, struct slab *partial_slab)
{
	struct kmem_cache_node *n = NULL, *n2;
	struct slab *slab, *slab_to_discard = NULL;

	while ((slab = partial_slab)) {
		struct slab_counters old, new;
		void *freelist, *local, *local_tail;
		int local_count;

		partial_slab = slab->next;
		local = take_local(s, slab, &local_count, &local_tail);
		n2 = get_node(s, slab_nid(slab));
		if (n != n2) {
			if (n)
				spin_unlock(&n->list_lock);
			n = n2;
			spin_lock(&n->list_lock);
		}
		do {
			freelist = READ_ONCE(slab->freelist);
			old.counters = READ_ONCE(slab->counters);
			VM_BUG_ON(!old.frozen);
			new.counters = old.counters;
			new.frozen = 0;
			if (local) {	/* the local list goes in front */
				set_freepointer(s, local_tail, freelist);
				new.inuse -= local_count;
			}
		} while (!cmpxchg_double_slab(slab, freelist, old.counters, local ? local : freelist, new.counters));

		if (unlikely(new.inuse == new.fresh && n->nr_partial >= s->min_partial)) {
			slab->next = slab_to_discard;
			slab_to_discard = slab;
		} else {
			add_partial(n, slab, DEACTIVATE_TO_TAIL);
		}
	}
	if (n)
		spin_unlock(&n->list_lock);
	discard_slab_list(s, slab_to_discard);
}

static void unfreeze_partials(struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	struct slab *partial_slab = *cpu_partial(s, c);

	*cpu_partial(s, c) = NULL;
	if (partial_slab)
		unfreeze_partials_list(s, partial_slab);
}

/* Put a slab that was frozen for us on our cpu-partial list; with drain, a
 * full list is unfrozen to the node first (kernel: put_cpu_partial). */
static void put_cpu_partial(struct kmem_cache *s, struct slab *slab, int drain)
{
	struct kmem_cache_cpu *c = this_cpu_ptr(s);
	struct slab *oldslab = *cpu_partial(s, c), *slab_to_unfreeze = NULL;
	int slabs = 0;

	if (oldslab) {
		if (drain && oldslab->slabs >= (int)s->cpu_partial_slabs) {
			slab_to_unfreeze = oldslab;
			oldslab = NULL;
		} else {
			slabs = oldslab->slabs;
		}
	}
	slabs++;
	slab->slabs = slabs;
	slab->local = 0;
	slab->next = oldslab;
	barrier();	/* linked before it is visible, for a fork child */
	*cpu_partial(s, c) = slab;
	if (slab_to_unfreeze)
		unfreeze_partials_list(s, slab_to_unfreeze);
}

/* ---- taking slabs ------------------------------------------------------------- */

/* The free objects of a slab that the cpu takes back, relinked in address
 * order, so that the slab hands them out upwards as it did when new.  The
 * frees that made the list came in the program's order, and a list of them
 * last in first out would hand the objects out in that order turned around,
 * several runs interleaved after a few rounds: objects allocated one after
 * the other then lie apart, and a program that walks them in the order it
 * made them (python's collector over its objects) waits on more lines.  A
 * list that is not a list of this slab's objects is left as it is.  A
 * shared list, one that other threads may have freed into (the slab's own
 * freelist, not the owner's local list), stays as it is once the process
 * has a second thread: their objects' lines are
 * in other CPUs' caches, and the walk waited on each (producer/consumer
 * pairs 12% slower). */
#define ORDER_FREELIST_MAX 512	/* objects of a slab, one bit each */
#define BITS_PER_LONG (8 * (unsigned int)sizeof(long))

/* The objects of a slab marked in map, of the first nr, linked upwards
 * (the last one's free pointer NULL); returns the first, NULL if none. */
static void *link_free_map(struct kmem_cache *s, char *start, const unsigned long *map, unsigned int nr)
{
	char *first = NULL, *prev = NULL;

	for (unsigned int w = 0; w < DIV_ROUND_UP(nr, BITS_PER_LONG); w++) {
		unsigned long bits = map[w];

		if (w == nr / BITS_PER_LONG)	/* the last word, in part */
			bits &= (1UL << (nr % BITS_PER_LONG)) - 1;
		while (bits) {
			char *p = start + ((size_t)w * BITS_PER_LONG + (unsigned int)__builtin_ctzl(bits)) * s->size;

			bits &= bits - 1;
			if (prev)
				set_freepointer(s, prev, p);
			else
				first = p;
			prev = p;
		}
	}
	if (prev)
		set_freepointer(s, prev, NULL);
	return first;
}

static void *order_freelist(struct kmem_cache *s, struct slab *slab, void *head, bool shared)
{
	unsigned long free_map[ORDER_FREELIST_MAX / BITS_PER_LONG] = { 0 };
	unsigned int objects = slab->objects, n = 0;
	char *start = (char *)slab_address(slab) + s->red_left_pad;

	if ((shared && !__libc_single_threaded) || !head || !get_freepointer(s, head) ||
	    objects > ORDER_FREELIST_MAX)
		return head;
	/* the objects' lines at once, not one miss after the other: a line
	 * at a time where objects are smaller */
	for (size_t a = 0; a < (size_t)(objects - slab->fresh) * s->size; a += max_t(size_t, s->size, 64))
		__builtin_prefetch(start + a + s->offset);
	for (void *p = head; p; p = get_freepointer(s, p)) {
		unsigned long off = (unsigned long)((char *)p - start);
		unsigned long i = (unsigned long)(((unsigned __int128)off * s->div_magic) >> 64);

		if (i >= objects || i * s->size != off || ++n > objects)
			return head;
		free_map[i / BITS_PER_LONG] |= 1UL << (i % BITS_PER_LONG);
	}
	return link_free_map(s, start, free_map, objects);
}

/* For a taker of all of a slab's free objects whose freelist is empty: the
 * next page's fresh objects, linked upwards already, their count taken off
 * new (the counters to be).  NULL with a freelist, which the taker puts in
 * order once it is its own (order_freelist), or no fresh object.  Called
 * again when the taker's cmpxchg fails. */
static void *take_fresh(struct kmem_cache *s, struct slab *slab, void *freelist, struct slab_counters *new)
{
	unsigned int nr;
	void *fresh;

	if (freelist || !new->fresh)
		return NULL;
	fresh = link_fresh(s, slab, new->fresh, &nr);
	new->fresh -= nr;
	return fresh;
}

/* Take all objects of a frozen slab's freelist for the cpu; unfreeze it if
 * there are none (kernel: get_freelist). */
static void *get_freelist(struct kmem_cache *s, struct slab *slab)
{
	struct slab_counters new;
	unsigned long counters;
	void *freelist, *fresh;

	do {
		freelist = READ_ONCE(slab->freelist);
		counters = READ_ONCE(slab->counters);
		new.counters = counters;
		VM_BUG_ON(!new.frozen);
		new.inuse = slab->objects;
		fresh = take_fresh(s, slab, freelist, &new);
		new.frozen = freelist || fresh;
	} while (!cmpxchg_double_slab(slab, freelist, counters, NULL, new.counters));
	return freelist ? order_freelist(s, slab, freelist, true) : fresh;
}

/* The fresh objects of a slab a shrink purged, linked before its freelist:
 * a frozen slab must have none, since kfree puts an object of the cpu slab
 * or of a cpu-partial slab on a freelist with no look at fresh objects, and
 * a second free of a purged object would go there unseen.  Their pages come
 * back as the links are written; the thread that takes the slab hands the
 * objects out next.  Called with n->list_lock held and the slab on the node
 * partial list, where nobody else changes fresh. */
static void unpurge_slab(struct kmem_cache *s, struct slab *slab)
{
	struct slab_counters c = { .counters = READ_ONCE(slab->counters) }, new;
	unsigned int nr = c.fresh;
	char *first = NULL, *last = NULL;
	unsigned long counters;
	void *freelist;

	if (likely(!c.purged))
		return;
	if (nr) {
		first = fresh_start(s, slab, nr);
		last = first + (size_t)(nr - 1) * s->size;
		for (char *p = first; p < last; p += s->size)
			set_freepointer(s, p, p + s->size);
	}
	do {
		freelist = READ_ONCE(slab->freelist);
		counters = READ_ONCE(slab->counters);
		new.counters = counters;
		VM_BUG_ON(new.fresh != nr || new.frozen);
		if (nr)
			set_freepointer(s, last, freelist);
		new.inuse -= nr;
		new.fresh = 0;
		new.purged = 0;
	} while (!cmpxchg_double_slab(slab, freelist, counters, nr ? first : freelist, new.counters));
}

/* Freeze a slab of the node partial list; with mode, take its freelist for the
 * cpu.  Called with n->list_lock held (kernel: acquire_slab). */
static void *acquire_slab(struct kmem_cache *s, struct kmem_cache_node *n, struct slab *slab, int mode)
{
	struct slab_counters new;
	unsigned long counters;
	void *freelist, *fresh;

	unpurge_slab(s, slab);
	do {
		freelist = READ_ONCE(slab->freelist);
		counters = READ_ONCE(slab->counters);
		new.counters = counters;
		fresh = NULL;
		if (mode) {
			new.inuse = slab->objects;
			fresh = take_fresh(s, slab, freelist, &new);
		}
		VM_BUG_ON(new.frozen);
		new.frozen = 1;
	} while (!cmpxchg_double_slab(slab, freelist, counters, mode ? NULL : freelist, new.counters));
	remove_partial(n, slab);
	if (!mode)
		return freelist;
	return freelist ? order_freelist(s, slab, freelist, true) : fresh;
}

/* The first partial slab becomes the cpu slab, more fill the cpu-partial list
 * to half its size (kernel: get_partial_node). */
static void *get_partial_node(struct kmem_cache *s, struct kmem_cache_node *n, struct kmem_cache_cpu *c, gfp_t gfp)
{
	struct slab *slab, *slab2;
	void *object = NULL;
	unsigned int partial_slabs = 0;

	if (!n || !READ_ONCE(n->nr_partial))
		return NULL;
	if (!spin_lock_gfp(&n->list_lock, gfp))
		return NULL;
	list_for_each_entry_safe(slab, slab2, &n->partial, slab_list) {
		void *t = acquire_slab(s, n, slab, object == NULL);

		if (!object) {
			cpu_slab_set(s, c, slab);
			object = t;
		} else {
			put_cpu_partial(s, slab, 0);
			partial_slabs++;
		}
		if (!kmem_cache_has_cpu_partial(s) || partial_slabs > s->cpu_partial_slabs / 2)
			break;
	}
	spin_unlock(&n->list_lock);
	return object;
}

/* Our node first, then the others in order of distance (kernel: get_partial
 * and get_any_partial). */
static void *get_partial(struct kmem_cache *s, int node, struct kmem_cache_cpu *c, gfp_t gfp)
{
	void *object = get_partial_node(s, get_node(s, node), c, gfp);
	int nr = READ_ONCE(kslub_nr_node_ids);
	const unsigned char *order;

	if (likely(object || nr == 1))
		return object;
	/* get_any_partial: the other nodes, nearest first */
	order = topology_node_order(node);
	for (int i = 1; !object && i < nr; i++)
		if (order[i] < nr)
			object = get_partial_node(s, get_node(s, order[i]), c, gfp);
	return object;
}

/* Give the cpu slab back: splice the thread's freelist onto the slab's,
 * unfreeze it, and put it where it belongs (kernel: deactivate_slab). */
static void deactivate_slab(struct kmem_cache *s, struct slab *slab, void *freelist)
{
	enum { M_PARTIAL, M_FREE, M_FULL_NOLIST } mode;
	struct kmem_cache_node *n = get_node(s, slab_nid(slab));
	int free_delta = 0, tail = DEACTIVATE_TO_HEAD;
	void *nextfree, *freelist_iter, *freelist_tail = NULL;
	struct slab_counters old, new;
	void *old_freelist;

	if (READ_ONCE(slab->freelist))
		tail = DEACTIVATE_TO_TAIL;

	/* Stage one: count the thread's free objects, find the last. */
	freelist_iter = freelist;
	while (freelist_iter) {
		nextfree = get_freepointer(s, freelist_iter);
		free_delta++;
		freelist_tail = freelist_iter;
		freelist_iter = nextfree;
	}

	/* Stage two: unfreeze the slab while splicing the lists together. */
redo:
	old_freelist = READ_ONCE(slab->freelist);
	old.counters = READ_ONCE(slab->counters);
	VM_BUG_ON(!old.frozen);
	new.counters = old.counters;
	if (freelist_tail) {
		new.inuse -= free_delta;
		set_freepointer(s, freelist_tail, old_freelist);
	} else {
		freelist = old_freelist;
	}
	new.frozen = 0;

	if (new.inuse == new.fresh && READ_ONCE(n->nr_partial) >= s->min_partial) {
		mode = M_FREE;
	} else if (freelist || new.fresh) {
		mode = M_PARTIAL;
		spin_lock(&n->list_lock);
	} else {
		mode = M_FULL_NOLIST;
	}
	if (!cmpxchg_double_slab(slab, old_freelist, old.counters, freelist, new.counters)) {
		if (mode == M_PARTIAL)
			spin_unlock(&n->list_lock);
		goto redo;
	}
	if (mode == M_PARTIAL) {
		add_partial(n, slab, tail);
		spin_unlock(&n->list_lock);
	} else if (mode == M_FREE) {
		discard_slab(s, slab);
	}
}

/* ---- sheaves ------------------------------------------------------------------ */

/* The slab of an object known to be in one. */
static always_inline struct slab *object_slab(const void *x)
{
	return page_slab(compound_head(virt_to_page(x)));
}

/* The same for an object of s, with no line of the memmap read when the
 * slot map says its slab has s's preferred order: the head's
 * address then follows from s->oo_mask. */
static always_inline struct slab *cache_object_slab(const struct kmem_cache *s, const void *x)
{
	unsigned long a = (unsigned long)x;

	if (s->kmalloc_slot && slab_slot_of(x))
		return page_slab(virt_to_page((void *)(a & ~(unsigned long)s->oo_mask)));
	return object_slab(x);
}

/* Objects leave a sheaf for their slab, head .. tail linked by free
 * pointers: onto the freelist of c when they are of c's cpu slab, else as
 * any other free (the owner's local list of a slab on its cpu-partial list,
 * or __slab_free).  A free pointer in the sheaf is its encoded NULL, and in
 * the list one to the same slab, so no check would pass an object twice. */
static void sheaf_objects_to_slab(struct kmem_cache *s, struct kmem_cache_cpu *c, struct slab *slab,
				  void *head, void *tail, int cnt, bool can_freeze)
{
	if (slab == cpu_slab(c)) {
		set_freepointer(s, tail, c->freelist);
		barrier();	/* linked before it is on the list, for a fork child */
		c->freelist = head;
		return;
	}
	/* a run goes by one cmpxchg even to a slab of our cpu-partial list: a
	 * local list is walked, an object at a time, when the slab is unfrozen.
	 * Alone in the process, __slab_free takes no atomic either, and needs
	 * no walk of the list. */
	if (cnt == 1 && !__libc_single_threaded && free_to_own_partial(s, slab, head, tail))
		return;
	__slab_free(s, slab, head, tail, cnt, can_freeze);
}

/* The nr oldest objects of c's sheaf back to their slabs (kernel:
 * sheaf_flush_main, which flushes it all).  Neighbours in the sheaf are
 * often of one slab (a thread that frees what another allocated in a row),
 * and each run of them goes back as one list, with one look for the slab
 * and one cmpxchg (kernel: build_detached_freelist).  A free here never
 * reaches a sheaf, nor allocates. */
#define SHEAF_FLUSH_CHUNK 64	/* objects whose lines are asked for at once */
static noinline void sheaf_flush_main(struct kmem_cache *s, struct kmem_cache_cpu *c, unsigned int nr,
				      bool can_freeze)
{
	struct slab_sheaf *sheaf = cpu_sheaf(c->sheaf);
	unsigned int size = cpu_sheaf_size(c->sheaf);
	struct slab *slabs[SHEAF_FLUSH_CHUNK];

	WRITE_ONCE(sheaf->busy, 1);
	barrier();
	for (unsigned int done = 0; done < nr; done += SHEAF_FLUSH_CHUNK) {
		void **objects = sheaf->objects + done;
		unsigned int n = min_t(unsigned int, nr - done, SHEAF_FLUSH_CHUNK);

		/* the objects are of slabs all over the heap, whose lines the
		 * loop below would wait for one after the other: ask for them
		 * all first, and keep the slabs found */
		for (unsigned int i = 0; i < n; i++) {
			slabs[i] = cache_object_slab(s, objects[i]);
			__builtin_prefetch(slabs[i], 1);
			__builtin_prefetch(objects[i], 1);
		}
		for (unsigned int i = 0; i < n;) {
			struct slab *slab = slabs[i];
			void *head = objects[i], *tail = head;
			int cnt = 1;

			while (++i < n && slabs[i] == slab) {
				set_freepointer(s, tail, objects[i]);
				tail = objects[i];
				cnt++;
			}
			sheaf_objects_to_slab(s, c, slab, head, tail, cnt, can_freeze);
		}
	}
	memmove(sheaf->objects, sheaf->objects + nr, (size - nr) * sizeof(void *));
	set_cpu_sheaf(c, sheaf, size - nr);	/* a report reads it */
	barrier();
	WRITE_ONCE(sheaf->busy, 0);
}

/* Every object of c's sheaf back to the slabs (kernel: pcs_flush_all).  A
 * sheaf left busy by a thread that a fork did not bring along is dropped. */
static void pcs_flush_all(struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	struct slab_sheaf *sheaf = cpu_sheaf(c->sheaf);

	if (!sheaf)
		return;
	if (unlikely(READ_ONCE(sheaf->busy))) {
		set_cpu_sheaf(c, sheaf, 0);
		sheaf->busy = 0;
		return;
	}
	if (cpu_sheaf_size(c->sheaf))
		sheaf_flush_main(s, c, cpu_sheaf_size(c->sheaf), false);
}

/* The sheaf's own memory: an object of the kmalloc cache of its size, taken
 * from and given back to the node lists directly, so that no cpu slot (the
 * kmalloc cache's own, maybe flushed already) is touched. */
static void free_sheaf(struct slab_sheaf *sheaf)
{
	struct slab *slab = object_slab(sheaf);

	__slab_free(slab->slab_cache, slab, sheaf, sheaf, 1, false);
}

static struct slab_sheaf *alloc_sheaf(unsigned int capacity, int node)
{
	size_t bytes = sizeof(struct slab_sheaf) + capacity * sizeof(void *);
	struct kmem_cache *kc = kmalloc_cache_indexed(bytes);
	struct slab_sheaf *sheaf;

	if (!kc->is_kmalloc)
		return NULL;	/* still starting: the kmalloc caches come later */
	sheaf = alloc_single(kc, KSLUB_GFP_KERNEL, node);
	if (!sheaf)
		return NULL;
	if (unlikely((unsigned long)sheaf >> (64 - SHEAF_COUNT_BITS))) {
		/* no room for the count in c->sheaf (a program that mapped
		 * memory above 2^48): no sheaf */
		free_sheaf(sheaf);
		return NULL;
	}
	sheaf->capacity = capacity;
	sheaf->node = (short)node;
	sheaf->busy = 0;
	sheaf->bottom = NULL;
	return sheaf;
}

/* Empty c's sheaf and give its memory back; for a thread that exits, and
 * for a cache that goes. */
void release_cpu_sheaf(struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	struct slab_sheaf *sheaf = cpu_sheaf(c->sheaf);

	if (!sheaf)
		return;
	pcs_flush_all(s, c);
	WRITE_ONCE(c->sheaf, 0);	/* pcs_flush_all left the top NULL */
	WRITE_ONCE(c->sheaf_capacity, 0);
	barrier();
	free_sheaf(sheaf);
}

/* sheaf, holding size objects, becomes c's, whole before it is seen (by a
 * fork child or a report); the cpu slot keeps its capacity, which the
 * inline push goes up to (cpu_sheaf_limits_set). */
static void cpu_sheaf_install(struct kmem_cache *s, struct kmem_cache_cpu *c, struct slab_sheaf *sheaf,
			      unsigned int size)
{
	set_cpu_sheaf(c, sheaf, size);
	WRITE_ONCE(c->sheaf_capacity, (uint16_t)sheaf->capacity);
	cpu_sheaf_limits_set(s, c, c->slab_addr != 0);
}

/* A thread that allocates from the cache and fills its sheaf gets one
 * twice as large, up to s->sheaf_capacity_max, in place of a flush
 * (tcmalloc's thread caches grow the same way): its frees then go back to
 * the slabs in larger batches, fewer times, and more of them come back
 * warm.  A thread that does little keeps the small sheaf it started with.
 * The objects are copied into the new sheaf before it is seen (by a fork
 * child or a report), and the old one is given back after.  NULL when
 * there is no memory for it: the caller flushes as before. */
static struct slab_sheaf *sheaf_grow(struct kmem_cache *s, struct kmem_cache_cpu *c, struct slab_sheaf *sheaf,
				     unsigned int size)
{
	unsigned int capacity = min_t(unsigned int, 2 * sheaf->capacity + 2, s->sheaf_capacity_max);
	struct slab_sheaf *grown = alloc_sheaf(capacity, sheaf->node);

	if (!grown)
		return NULL;
	memcpy(grown->objects, sheaf->objects, size * sizeof(void *));
	cpu_sheaf_install(s, c, grown, size);
	barrier();
	free_sheaf(sheaf);
	return grown;
}

/* A free past the inline push (no sheaf yet, the push bound reached, several
 * nodes), of an object of the thread's node (kernel: free_to_pcs).  Returns
 * false when there is no sheaf to be had. */
static bool free_to_pcs(struct kmem_cache *s, struct kmem_cache_cpu *c, void *x, int node)
{
	struct slab_sheaf *sheaf = cpu_sheaf(c->sheaf);
	unsigned int size;

	if (unlikely(!sheaf)) {
		sheaf = alloc_sheaf(s->sheaf_capacity, node);
		if (!sheaf)
			return false;
		/* a thread that only frees has set no cpu slab: its pushes
		 * go inline from now on */
		cpu_sheaf_install(s, c, sheaf, 0);
	}
	if (unlikely(sheaf->node != node)) {
		/* the thread has moved: the old node's objects go back */
		pcs_flush_all(s, c);
		sheaf->node = (short)node;
	}
	size = cpu_sheaf_size(c->sheaf);
	if (unlikely(size >= (c->slab_addr ? sheaf->capacity : s->sheaf_consumer))) {
		struct slab_sheaf *grown = NULL;

		if (c->slab_addr && sheaf->capacity < s->sheaf_capacity_max)
			grown = sheaf_grow(s, c, sheaf, size);
		if (grown) {
			sheaf = grown;
		} else {
			/* the older half goes; the recent, cache-hot half
			 * stays for our allocations, or goes too if we make
			 * none from this cache (no cpu slab) */
			unsigned int nr = size > 1 && c->slab_addr ? size / 2 : size;

			/* a full slab becomes ours only if we allocate from
			 * this cache: frozen for a thread that only frees (a
			 * consumer), its free objects would be hidden from
			 * those that allocate until our cpu-partial list
			 * overflowed, and they would make new slabs meanwhile */
			sheaf_flush_main(s, c, nr, c->slab_addr != 0);
			size -= nr;
		}
	}
	set_freepointer(s, x, NULL);	/* free: a second free is reported */
	sheaf->objects[size] = x;
	set_cpu_sheaf(c, sheaf, size + 1);	/* stored before it is counted */
	return true;
}

/* The allocation side (kernel: alloc_from_pcs): the object freed last. */
static always_inline void *alloc_from_pcs(struct kmem_cache *s, struct kmem_cache_cpu *c, int node)
{
	struct slab_sheaf *sheaf = cpu_sheaf(c->sheaf);
	unsigned int size = cpu_sheaf_size(c->sheaf);
	void *object;

	if (!size)
		return NULL;
	if (unlikely(sheaf->node != node)) {
		/* the thread has moved (refill_alloc's node_match) */
		pcs_flush_all(s, c);
		sheaf->node = (short)node;
		return NULL;
	}
	object = sheaf->objects[size - 1];
	set_cpu_sheaf(c, sheaf, size - 1);	/* read before it is uncounted */
	return object;
}

void flush_cpu_slab(struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	struct slab *slab;

	/* first: some objects go to the cpu slab's freelist or local lists */
	pcs_flush_all(s, c);
	slab = cpu_slab(c);
	if (slab) {
		void *freelist = c->freelist;

		cpu_slab_set(s, c, NULL);
		c->freelist = NULL;
		deactivate_slab(s, slab, freelist);
	}
	unfreeze_partials(s, c);
}

/* ---- single objects, for threads without cpu slabs ------------------------- */

/* A thread that has exited (other libraries' destructors still allocate)
 * takes objects one at a time from the node lists, caching nothing. */
static void *alloc_single(struct kmem_cache *s, gfp_t gfp, int node)
{
	struct kmem_cache_node *n;
	struct slab *slab;
	void *object;

	int nr = READ_ONCE(kslub_nr_node_ids);
	const unsigned char *order = topology_node_order(node);

	if ((unsigned int)node >= (unsigned int)nr)
		node = 0;
	for (int i = 0; i < nr; i++) {
		int nid = nr == 1 ? 0 : order[i];

		if (nid >= nr)
			continue;
		n = get_node(s, nid);
		if (!READ_ONCE(n->nr_partial) || !spin_lock_gfp(&n->list_lock, gfp))
			continue;
		if (!list_empty(&n->partial)) {
			struct slab_counters new;
			unsigned long counters;
			void *freelist, *next;

			slab = list_first_entry(&n->partial, struct slab, slab_list);
			do {
				/* acquire: the free pointer read next was written
				 * by the free that put the object there, by
				 * another thread and without the list lock */
				freelist = __atomic_load_n(&slab->freelist, __ATOMIC_ACQUIRE);
				counters = READ_ONCE(slab->counters);
				new.counters = counters;
				if (freelist) {
					object = freelist;
					next = get_freepointer(s, object);
					new.inuse++;
				} else {	/* a fresh one, which inuse counts already */
					object = fresh_start(s, slab, new.fresh);
					next = NULL;
					new.fresh--;
				}
				/* taking the last object, the slab is full but
				 * still on the list: frozen until it is off, or a
				 * free (which takes no lock for a full slab)
				 * would freeze it and link it by slab_list's
				 * words meanwhile */
				new.frozen = !next && !new.fresh;
			} while (!cmpxchg_double_slab(slab, freelist, counters, next, new.counters));
			if (new.frozen) {
				remove_partial(n, slab);
				do {	/* frees meanwhile went to slab->freelist */
					freelist = READ_ONCE(slab->freelist);
					counters = READ_ONCE(slab->counters);
					new.counters = counters;
					new.frozen = 0;
				} while (!cmpxchg_double_slab(slab, freelist, counters, freelist, new.counters));
				if (freelist)
					add_partial(n, slab, DEACTIVATE_TO_TAIL);
			}
			spin_unlock(&n->list_lock);
			return object;
		}
		spin_unlock(&n->list_lock);
	}

	slab = new_slab(s, gfp, node);
	if (!slab)
		return NULL;
	object = slab->freelist;
	slab->freelist = get_freepointer(s, object);
	slab->inuse++;	/* from the fresh objects' count */
	if (slab->freelist || slab->fresh) {
		n = get_node(s, slab_nid(slab));
		spin_lock(&n->list_lock);
		add_partial(n, slab, DEACTIVATE_TO_HEAD);
		spin_unlock(&n->list_lock);
	}
	return object;
}

/* ---- the slow paths --------------------------------------------------------- */

/* The thread's freelist is empty (kernel: ___slab_alloc). */
static void *refill_alloc(struct kmem_cache *s, struct kmem_cache_cpu *c, gfp_t gfp, int node)
{
	struct slab *slab;
	void *freelist;

redo:
	slab = cpu_slab(c);
	if (!slab)
		goto new_slab;
	if (unlikely(slab_nid(slab) != node)) {
		/* the thread has moved to another node (kernel: node_match) */
		freelist = c->freelist;
		cpu_slab_set(s, c, NULL);
		c->freelist = NULL;
		deactivate_slab(s, slab, freelist);
		goto new_slab;
	}
	freelist = c->freelist;
	if (freelist)
		goto load_freelist;
	/* get_freelist may unfreeze the slab, and a free can then freeze it for
	 * another thread: it must not be our cpu slab meanwhile, or a fork child
	 * would flush it twice */
	cpu_slab_set(s, c, NULL);
	barrier();
	freelist = get_freelist(s, slab);	/* frees by other threads, or fresh objects */
	if (!freelist)
		goto new_slab;			/* it was full, and is unfrozen now */
	cpu_slab_set(s, c, slab);
load_freelist:
	c->freelist = get_freepointer(s, freelist);
	return freelist;

new_slab:
	while (unlikely(*cpu_partial(s, c) && slab_nid(*cpu_partial(s, c)) != node)) {
		/* a slab of the node the thread left goes back to that node */
		slab = *cpu_partial(s, c);
		*cpu_partial(s, c) = slab->next;
		slab->next = NULL;
		unfreeze_partials_list(s, slab);
	}
	if (*cpu_partial(s, c)) {
		/* off the list before it is the cpu slab: a fork child that sees
		 * the slot halfway loses the slab, never holds it twice */
		slab = *cpu_partial(s, c);
		*cpu_partial(s, c) = slab->next;
		/* our local frees there are the new cpu freelist: they are
		 * counted in inuse like one already.  Off the slab before
		 * they are relinked: a report may walk a local list. */
		freelist = slab_local_head(s, slab);
		slab_set_local_head(s, slab, NULL);
		c->freelist = order_freelist(s, slab, freelist, false);
		barrier();	/* the compiler must not set the cpu slab first */
		cpu_slab_set(s, c, slab);
		goto redo;
	}
	freelist = get_partial(s, node, c, gfp);
	if (freelist)
		goto load_freelist;
	slab = new_slab(s, gfp, node);
	if (unlikely(!slab))
		return NULL;
	freelist = slab->freelist;
	slab->freelist = NULL;
	slab->inuse = slab->objects;
	slab->frozen = 1;
	cpu_slab_set(s, c, slab);
	goto load_freelist;
}

static void *alloc_first(struct kmem_cache *s, struct kslub_thread *t, gfp_t gfp, int node)
{
	struct kmem_cache_cpu *c = this_cpu_ptr(s);
	void *object;

	/* the only thread has nobody to share slabs with (see cmpxchg_double_slab) */
	if (__libc_single_threaded)
		t->nr_single[s->index] = SINGLE_ALLOCS - 1;
	if (++t->nr_single[s->index] < SINGLE_ALLOCS) {
		object = alloc_from_pcs(s, c, node);
		return object ? object : alloc_single(s, gfp, node);
	}
	pcs_flush_all(s, c);
	return refill_alloc(s, c, gfp, node);
}

/* Everything but a pop from the sheaf on a machine of one node: the thread's
 * first allocation, a thread that has exited, another node, an empty sheaf. */
noinline void *slab_alloc_refill(struct kmem_cache *s, gfp_t gfp)
{
	struct kslub_thread *t = kslub_current;
	void *object;
	int node;

	if (unlikely(t->state != THREAD_LIVE)) {
		if (t->state == THREAD_EMPTY)
			t = kslub_thread_get();
		if (t->state != THREAD_LIVE) {
			object = alloc_single(s, gfp, kslub_current_node());
			goto out;
		}
	}
	node = kslub_current_node();
	/* not GFP_ATOMIC: alloc_single may wait for a list lock */
	if (unlikely(t->nr_single[s->index] < SINGLE_ALLOCS) && (gfp & KSLUB_GFP_DIRECT_RECLAIM)) {
		object = alloc_first(s, t, gfp, node);
		goto out;
	}
	object = alloc_from_pcs(s, this_cpu_ptr(s), node);
	if (!object)
		object = refill_alloc(s, this_cpu_ptr(s), gfp, node);
out:
	if (unlikely(!object)) {
		errno = ENOMEM;
		return NULL;
	}
	wipe_freepointer(s, object);
	if (unlikely(gfp & KSLUB_GFP_ZERO))
		memset(object, 0, s->object_size);
	return object;
}

/* __slab_free's whole way: cnt objects, head .. tail linked by free
 * pointers, back to their slab by cmpxchg of the slab's freelist and
 * counters, under the node's list lock when the slab changes list;
 * can_freeze: a full slab becomes the calling thread's, on its cpu-partial
 * list. */
static noinline void __slab_free_loop(struct kmem_cache *s, struct slab *slab, void *head, void *tail, int cnt,
				      bool can_freeze)
{
	struct kmem_cache_node *n = NULL;
	struct slab_counters new;
	unsigned long counters;
	void *prior;
	bool was_frozen, was_full;

	do {
		if (unlikely(n)) {
			spin_unlock(&n->list_lock);
			n = NULL;
		}
		prior = READ_ONCE(slab->freelist);
		counters = READ_ONCE(slab->counters);
		set_freepointer(s, tail, prior);
		new.counters = counters;
		was_frozen = new.frozen;
		if (unlikely(new.fresh))
			check_not_fresh(s, slab, head, tail, cnt, new);
		was_full = !prior && !new.fresh;
		new.inuse -= cnt;
		if ((new.inuse == new.fresh || was_full) && !was_frozen) {
			if (can_freeze && was_full) {
				new.frozen = 1;		/* full slab: ours now */
			} else {
				n = get_node(s, slab_nid(slab));
				spin_lock(&n->list_lock);
			}
		}
	} while (!cmpxchg_double_slab(slab, prior, counters, head, new.counters));

	if (likely(!n)) {
		if (new.frozen && !was_frozen)
			put_cpu_partial(s, slab, 1);
		return;
	}
	if (unlikely(new.inuse == new.fresh && n->nr_partial >= s->min_partial)) {
		if (!was_full)
			remove_partial(n, slab);
		spin_unlock(&n->list_lock);
		discard_slab(s, slab);
		return;
	}
	if (was_full)
		add_partial(n, slab, DEACTIVATE_TO_TAIL);
	spin_unlock(&n->list_lock);
}

/* A free that is not to the thread's cpu slab, when slab_free's inline push
 * could not simply add it to the sheaf (no sheaf yet, a full one, more than
 * one node): to the thread's sheaf (made, or half flushed, first) when the
 * object is of its node, else to the slab (kernel: slab_free's free_to_pcs,
 * then __slab_free). */
noinline void slab_free_slow(struct kmem_cache *s, struct slab *slab, void *x)
{
	struct kslub_thread *t = kslub_current;
	bool local;

	/* A thread's first free gets it its state, as its first allocation
	 * does: a thread that only frees (a consumer) then frees to its
	 * sheaves, as a kernel cpu does, not by a cmpxchg per object.  That
	 * first object goes back to its slab: one handed to a thread as it
	 * starts is most likely its creator's, and a neighbour of others it
	 * handed out; from our sheaf it would be our next allocation, sharing
	 * a cache line with another thread's (cache-scratch). */
	if (unlikely(t->state == THREAD_EMPTY)) {
		kslub_thread_get();
		__slab_free(s, slab, x, x, 1, false);
		return;
	}
	local = t->state == THREAD_LIVE && slab_nid(slab) == t->node;

	if (local && s->sheaf_capacity && free_to_pcs(s, this_cpu_ptr(s), x, t->node))
		return;
	if (free_to_own_partial(s, slab, x, x))
		return;
	/* a full slab of another node goes back to its node, not to us */
	__slab_free(s, slab, x, x, 1, local && kmem_cache_has_cpu_partial(s) && cpu_slab(this_cpu_ptr(s)));
}

/* ---- reports of misuse ------------------------------------------------------- */
/* Reports and aborts; for kmalloc_boot_cache (kfree's slot 0) it frees x
 * by its struct page instead.  Not declared noreturn so that the fast path
 * can reach it by a tail call. */
noinline __attribute__((cold)) void kslub_bad_object_free(struct kmem_cache *s, const void *x, const char *func)
{
	struct slab *slab;

	/* kfree's way for a page with slot 0 in the slot map (see kfree_inline) */
	if (s == &kmalloc_boot_cache)
		return kfree_slow(x, func);
	slab = object_slab(x);

	if (!object_is_start(s, slab, x))
		kslub_fatal(func, x, "invalid pointer: not the start of an object of %s (object size %u)",
			    s->name, s->object_size);
	kslub_fatal(func, x, "double free: object of %s already free", s->name);
}

/* ---- sizes and orders ----------------------------------------------------------- */
static unsigned int nr_cpu_ids_cached;

static unsigned int nr_cpu_ids(void)
{
	if (!nr_cpu_ids_cached) {
		/* the cpus this process may run on; by system call, not libc's
		 * sched_getaffinity and CPU_COUNT (see os_syscall3) */
		unsigned long set[1024 / (8 * sizeof(unsigned long))] = { 0 };
		long bytes = os_syscall3(SYS_sched_getaffinity, 0, (long)sizeof(set), (long)set);
		unsigned int n = 0;

		for (long i = 0; i < bytes / (long)sizeof(set[0]); i++)
			n += (unsigned int)__builtin_popcountl(set[i]);
		nr_cpu_ids_cached = n > 0 ? n : 1;
	}
	return nr_cpu_ids_cached;
}

static inline int fls(unsigned int x)
{
	return x ? 32 - __builtin_clz(x) : 0;
}

static inline unsigned int order_objects(unsigned int order, unsigned int size)
{
	return (unsigned int)((PAGE_SIZE << order) / size);
}

static inline struct kmem_cache_order_objects oo_make(unsigned int order, unsigned int size)
{
	struct kmem_cache_order_objects x = { (order << OO_SHIFT) + order_objects(order, size) };
	return x;
}

/* The smallest order from min_objects up whose leftover is at most
 * 1/fract_leftover of the slab (kernel: calc_slab_order). */
static int calc_slab_order(unsigned int size, unsigned int min_objects, unsigned int max_order,
			   unsigned int fract_leftover)
{
	unsigned int min_order = (unsigned int)kslub_opt(OPT_MIN_ORDER);
	unsigned int order;

	if (order_objects(min_order, size) > MAX_OBJS_PER_PAGE)
		return (int)get_order((size_t)size * MAX_OBJS_PER_PAGE) - 1;
	for (order = max_t(unsigned int, min_order, get_order((size_t)min_objects * size));
	     order <= max_order; order++) {
		unsigned long slab_size = PAGE_SIZE << order;
		unsigned long rem = slab_size % size;

		if (rem <= slab_size / fract_leftover)
			break;
	}
	return (int)order;
}

/* kernel: calculate_order */
static int calculate_order(unsigned int size)
{
	unsigned int slub_max_order = (unsigned int)kslub_opt(OPT_MAX_ORDER);
	unsigned int min_objects = (unsigned int)kslub_opt(OPT_MIN_OBJECTS);
	unsigned int max_objects;
	int order;

	if (!min_objects)
		min_objects = 4 * (unsigned int)(fls(nr_cpu_ids()) + 1);
	max_objects = order_objects(slub_max_order, size);
	min_objects = min_t(unsigned int, min_objects, max_objects);

	while (min_objects > 1) {
		for (unsigned int fraction = 16; fraction >= 4; fraction /= 2) {
			order = calc_slab_order(size, min_objects, slub_max_order, fraction);
			if (order <= (int)slub_max_order)
				return order;
		}
		min_objects--;
	}
	order = calc_slab_order(size, 1, slub_max_order, 1);
	if (order <= (int)slub_max_order)
		return order;
	order = calc_slab_order(size, 1, MAX_ORDER - 1, 1);
	if (order < MAX_ORDER)
		return order;
	return -ENOSYS;
}

static void set_min_partial(struct kmem_cache *s, unsigned long min)
{
	if (min < 5)
		min = 5;
	else if (min > 10)
		min = 10;
	s->min_partial = min;
}

static void set_cpu_partial(struct kmem_cache *s)
{
	unsigned int nr_objects;
	long opt = kslub_opt(OPT_CPU_PARTIAL);

	if (opt >= 0)
		nr_objects = (unsigned int)opt;
	else if (s->size >= PAGE_SIZE)
		nr_objects = 6;
	else if (s->size >= 1024)
		nr_objects = 24;
	else if (s->size >= 256)
		nr_objects = 52;
	else
		nr_objects = 120;
	s->cpu_partial = nr_objects;
	/* kernel: slub_set_cpu_partial, assuming slabs half full */
	s->cpu_partial_slabs = nr_objects ? DIV_ROUND_UP(nr_objects * 2, oo_objects(s->oo)) : 0;
}

/* What a thread's sheaf may grow to (sheaf_grow): each step doubles the
 * sheaf's bytes (14, 30, 62, 126, 254 objects: a sheaf fills a kmalloc
 * size), at most two steps, while the objects take no more than
 * SHEAF_GROW_BYTES: 254 objects below 256 bytes, 126 from 256 to 520, 62
 * to 1057, 30 to 2184, no growth above (the kmalloc sizes 256 and 512:
 * 126; 1024: 62; 2048: 30).  A capacity set with KSLUB_SHEAF_CAPACITY
 * stays as set. */
#define SHEAF_GROW_BYTES 65536
static unsigned int sheaf_capacity_max(const struct kmem_cache *s, bool by_size)
{
	unsigned int max = s->sheaf_capacity;

	if (!by_size || !max)
		return max;
	for (int step = 0; step < 2; step++) {
		unsigned int next = 2 * max + 2;

		if (next > SHEAF_MAX_CAPACITY || (unsigned long)next * s->size > SHEAF_GROW_BYTES)
			break;
		max = next;
	}
	return max;
}

/* Objects in a thread's sheaf (kernel: kmem_cache_args.sheaf_capacity, which
 * each cache's creator chooses).  By object size, like cpu_partial: a sheaf
 * holds at most 15.5 KiB of small objects, a few of large ones (14 of 8 KiB
 * is the most, 112 KiB), and with its 16-byte header fills a kmalloc size
 * (512, 256 or 128 bytes).  Half as many made a workload that frees in
 * random order flush a sheaf every 60 frees, at about 40 instructions an
 * object flushed. */
static void set_sheaf_capacity(struct kmem_cache *s)
{
	long opt = kslub_opt(OPT_SHEAF_CAPACITY);

	if (opt >= 0)
		s->sheaf_capacity = (unsigned int)opt;
	else if (s->size < 256)
		s->sheaf_capacity = 62;
	else if (s->size < 1024)
		s->sheaf_capacity = 30;
	else
		s->sheaf_capacity = 14;
	/* A thread that frees objects of a cache it does not allocate from (a
	 * consumer, a main thread freeing what its workers made) never reuses
	 * its sheaf, which only batches its frees: it holds SHEAF_CONSUMER_BYTES
	 * at most, not objects that other threads could have reused.  The
	 * inline push tests this bound; a thread with a cpu slab goes on to
	 * its sheaf's capacity through free_to_pcs, which grows the sheaf. */
	s->sheaf_capacity_max = sheaf_capacity_max(s, opt < 0);
	s->sheaf_consumer = s->sheaf_capacity;
	if (s->sheaf_consumer > 2 && s->sheaf_consumer * s->size > SHEAF_CONSUMER_BYTES)
		s->sheaf_consumer = SHEAF_CONSUMER_BYTES / s->size > 2 ? SHEAF_CONSUMER_BYTES / s->size : 2;
	/* with more than one node a free goes by free_to_pcs, which keeps
	 * each sheaf to the objects of one node */
	s->sheaf_push_max = READ_ONCE(kslub_nr_node_ids) == 1 ? s->sheaf_consumer : 0;
	s->sheaf_push_cap = READ_ONCE(kslub_nr_node_ids) == 1 ? s->sheaf_capacity : 0;
}

static int calculate_sizes(struct kmem_cache *s)
{
	unsigned int size = ALIGN(s->object_size, (unsigned int)sizeof(void *));
	int order;

	s->inuse = size;
	if (s->ctor || size < sizeof(void *)) {
		s->offset = size;		/* keep constructed objects intact */
		size += sizeof(void *);
	} else {
		s->offset = 0;
	}
	s->red_left_pad = 0;
	size = ALIGN(size, s->align);
	s->size = size;
	s->div_magic = (uint64_t)(((unsigned __int128)1 << 64) / size) + 1;
	order = calculate_order(size);
	if (order < 0)
		return 0;
	/* A kmalloc size whose slab of the chosen order leaves more than a
	 * sixteenth unused takes the order above when that one does not:
	 * 4368 (sqlite's 4 KiB pages with their header) is 7 to 32 KiB, 2 KiB
	 * left, and 15 to 64 KiB, 16 bytes left. */
	if (s->is_kmalloc && order + 1 < MAX_ORDER &&
	    (PAGE_SIZE << order) % size > (PAGE_SIZE << order) / 16 &&
	    (PAGE_SIZE << (order + 1)) % size <= (PAGE_SIZE << (order + 1)) / 16)
		order++;
	/* struct slab counts objects in 15 bits */
	while (order > 0 && order_objects((unsigned int)order, size) > MAX_OBJS_PER_PAGE)
		order--;
	s->oo = oo_make((unsigned int)order, size);
	s->min = oo_make(get_order(size), size);
	s->oo_mask = (PAGE_SIZE << order) - 1;
	s->oo_starts_below = slab_starts_below(s, oo_objects(s->oo));
	return oo_objects(s->oo) != 0;
}

static unsigned int calculate_alignment(slab_flags_t flags, unsigned int align, unsigned int size)
{
	if (flags & KSLUB_SLAB_HWCACHE_ALIGN) {
		unsigned int ralign = 64;

		while (size <= ralign / 2)
			ralign /= 2;
		align = max_t(unsigned int, align, ralign);
	}
	align = max_t(unsigned int, align, sizeof(void *));
	return ALIGN(align, (unsigned int)sizeof(void *));
}

/* ---- nodes ---------------------------------------------------------------------- */
static void init_kmem_cache_node(struct kmem_cache_node *n)
{
	spin_lock_init(&n->list_lock);
	n->nr_partial = 0;
	INIT_LIST_HEAD(&n->partial);
	n->nr_slabs = 0;
	n->total_objects = 0;
	INIT_LIST_HEAD(&n->full);
	n->purge_mark = 0;
}

/* The first kmem_cache_node of a node comes from a slab of the
 * kmem_cache_node cache made by hand (kernel: early_kmem_cache_node_alloc). */
static void early_kmem_cache_node_alloc(int node)
{
	struct slab *slab = new_slab(kmem_cache_node, KSLUB_GFP_KERNEL, node);
	struct kmem_cache_node *n;

	if (!slab)
		kslub_fatal(NULL, NULL, "out of memory while starting (kmem_cache_node)");
	n = slab->freelist;
	slab->freelist = get_freepointer(kmem_cache_node, n);
	slab->inuse++;	/* from the fresh objects' count */
	kmem_cache_node->node[node] = n;
	init_kmem_cache_node(n);
	inc_slabs_node(kmem_cache_node, node, slab->objects);
	add_partial(n, slab, DEACTIVATE_TO_HEAD);
}

static int init_kmem_cache_nodes(struct kmem_cache *s)
{
	for (int node = 0; node < kslub_nr_node_ids; node++) {
		struct kmem_cache_node *n;

		if (slab_state == DOWN) {
			early_kmem_cache_node_alloc(node);
			continue;
		}
		n = slab_alloc(kmem_cache_node, KSLUB_GFP_KERNEL);
		if (!n)
			return 0;
		init_kmem_cache_node(n);
		s->node[node] = n;
	}
	return 1;
}

/* A node comes online: every cache gets its kmem_cache_node, the
 * kmem_cache_node cache first, from a slab of the node's own memory (kernel:
 * slab_mem_going_online_callback).  The caller holds slab_mutex and publishes
 * the node afterwards.  0, or -ENOMEM with the node left offline. */
int kmem_cache_online_node(int node)
{
	struct kmem_cache *s;

	if (!kmem_cache_node->node[node])
		early_kmem_cache_node_alloc(node);
	/* before the node is counted: from then on a free reaches a sheaf by
	 * free_to_pcs, which looks at the object's node */
	WRITE_ONCE(kmem_cache_node->sheaf_push_max, 0);
	WRITE_ONCE(kmem_cache_node->sheaf_push_cap, 0);
	list_for_each_entry(s, &kslub_slab_caches, list) {
		struct kmem_cache_node *n;

		WRITE_ONCE(s->sheaf_push_max, 0);
		WRITE_ONCE(s->sheaf_push_cap, 0);
		if (s->node[node])
			continue;
		n = slab_alloc(kmem_cache_node, KSLUB_GFP_KERNEL);
		if (!n)
			return -ENOMEM;
		init_kmem_cache_node(n);
		s->node[node] = n;
	}
	return 0;
}

static void free_kmem_cache_nodes(struct kmem_cache *s)
{
	for (int node = 0; node < kslub_nr_node_ids; node++) {
		if (s->node[node])
			kslub_kmem_cache_free(kmem_cache_node, s->node[node]);
		s->node[node] = NULL;
	}
}

/* ---- cache slots in each thread's cpu array ------------------------------------ */
static int alloc_cache_slot(void)
{
	for (unsigned int w = 0; w < ARRAY_SIZE(cache_slots); w++) {
		if (~cache_slots[w]) {
			int bit = __builtin_ctzll(~cache_slots[w]);

			cache_slots[w] |= 1ULL << bit;
			return (int)(w * 64) + bit;
		}
	}
	return -1;
}

static void free_cache_slot(int index)
{
	cache_slots[index / 64] &= ~(1ULL << (index % 64));
}

/* ---- creating caches ------------------------------------------------------------- */
static int kmem_cache_open(struct kmem_cache *s, const char *name, unsigned int size, unsigned int align,
			   slab_flags_t flags, void (*ctor)(void *))
{
	size_t len = strlen(name);

	if (len >= sizeof(s->name))
		len = sizeof(s->name) - 1;
	memcpy(s->name, name, len);
	s->name[len] = '\0';
	s->object_size = size;
	s->flags = flags;
	s->ctor = ctor;
	s->align = calculate_alignment(flags, align, size);
	s->refcount = 1;
	if (!calculate_sizes(s))
		return -EINVAL;
	set_min_partial(s, (unsigned long)(fls(s->size) - 1) / 2);
	if (kslub_opt(OPT_MIN_PARTIAL) >= 0)
		s->min_partial = (unsigned long)kslub_opt(OPT_MIN_PARTIAL);
	set_cpu_partial(s);
	set_sheaf_capacity(s);
	s->index = alloc_cache_slot();
	if (s->index < 0)
		return -ENOSPC;
	s->cpu_offset = (unsigned int)(offsetof(struct kslub_thread, cpu) +
				       (size_t)s->index * sizeof(struct kmem_cache_cpu));
	if (!init_kmem_cache_nodes(s)) {
		free_cache_slot(s->index);
		return -ENOMEM;
	}
	return 0;
}

static void create_boot_cache(struct kmem_cache *s, const char *name, unsigned int size, slab_flags_t flags)
{
	if (kmem_cache_open(s, name, size, 0, flags, NULL))
		kslub_fatal(NULL, NULL, "cannot create boot cache %s", name);
}

/* Move a static boot cache into an object of the kmem_cache cache and point
 * its slabs at the copy (kernel: bootstrap). */
static struct kmem_cache *bootstrap(struct kmem_cache *static_cache)
{
	struct kmem_cache *s = slab_alloc(kmem_cache, KSLUB_GFP_KERNEL);

	if (!s)
		kslub_fatal(NULL, NULL, "out of memory while starting (bootstrap)");
	memcpy(s, static_cache, kmem_cache->object_size);	/* node[] to kslub_node_slots */
	/* only the starting thread can hold slabs of it: give them to the node */
	flush_cpu_slab(s, this_cpu_ptr(s));
	for (int node = 0; node < kslub_nr_node_ids; node++) {
		struct kmem_cache_node *n = get_node(s, node);
		struct slab *p;

		list_for_each_entry(p, &n->partial, slab_list)
			p->slab_cache = s;
	}
	list_add(&s->list, &kslub_slab_caches);
	return s;
}

/* Full slabs are on no list, so bootstrap() could not reach them: the boot
 * caches must not have any when they move.  They hold one kmem_cache_node per
 * node and two kmem_cache objects, far from a slab's worth. */
void kmem_cache_init(void)
{
	const void *rnd = (const void *)getauxval(AT_RANDOM);	/* 16 random bytes from the kernel */
	unsigned long random;

	if (rnd)
		memcpy(&random, rnd, sizeof(random));
	else
		random = (unsigned long)&rnd ^ (unsigned long)getpid() << 32 ^ kslub_now_ms();
	/* bit 56 set: see freelist_ptr */
	kslub_freelist_random = random | 1UL << 56;
	kmem_cache_node = &boot_kmem_cache_node;
	kmem_cache = &boot_kmem_cache;

	create_boot_cache(kmem_cache_node, "kmem_cache_node", sizeof(struct kmem_cache_node),
			  KSLUB_SLAB_HWCACHE_ALIGN);
	slab_state = PARTIAL;
	/* room for the nodes there may be, as the kernel's kmem_cache has
	 * for nr_node_ids: 64 node pointers are most of a kmem_cache */
	create_boot_cache(kmem_cache, "kmem_cache",
			  offsetof(struct kmem_cache, node) + kslub_node_slots * sizeof(struct kmem_cache_node *),
			  KSLUB_SLAB_HWCACHE_ALIGN);

	kmem_cache = bootstrap(&boot_kmem_cache);
	kmem_cache_node = bootstrap(&boot_kmem_cache_node);
	slab_state = UP;
}

struct kmem_cache *kmem_cache_create_flags(const char *name, unsigned int size, unsigned int align,
					   slab_flags_t flags, void (*ctor)(void *), bool is_kmalloc)
{
	struct kmem_cache *s;
	int err;

	kslub_ensure_init();
	if (!name || !size || size > (PAGE_SIZE << (MAX_ORDER - 1)) || (align & (align - 1)) ||
	    align > PAGE_SIZE) {
		err = -EINVAL;
		goto fail;
	}
	spin_lock(&kslub_slab_mutex);
	s = slab_alloc(kmem_cache, KSLUB_GFP_KERNEL | KSLUB_GFP_ZERO);
	if (!s) {
		spin_unlock(&kslub_slab_mutex);
		err = -ENOMEM;
		goto fail;
	}
	s->is_kmalloc = is_kmalloc;	/* calculate_sizes asks */
	err = kmem_cache_open(s, name, size, align, flags, ctor);
	if (err) {
		spin_unlock(&kslub_slab_mutex);
		kslub_kmem_cache_free(kmem_cache, s);
		goto fail;
	}
	list_add_tail(&s->list, &kslub_slab_caches);
	spin_unlock(&kslub_slab_mutex);
	return s;
fail:
	if (flags & KSLUB_SLAB_PANIC)
		kslub_fatal("kmem_cache_create", NULL, "cannot create cache %s (error %d)", name ? name : "(null)", -err);
	errno = -err;
	return NULL;
}

/* ---- the public API ----------------------------------------------------------------- */
KSLUB_API struct kmem_cache *kslub_kmem_cache_create(const char *name, unsigned int size, unsigned int align,
						     slab_flags_t flags, void (*ctor)(void *))
{
	return kmem_cache_create_flags(name, size, align, flags, ctor, false);
}

KSLUB_API void *kslub_kmem_cache_alloc(struct kmem_cache *s, gfp_t gfp)
{
	return slab_alloc(s, gfp);
}

KSLUB_API void *kslub_kmem_cache_alloc_node(struct kmem_cache *s, gfp_t gfp, int node)
{
	void *object;

	if (node < 0 || node >= kslub_nr_node_ids || node == kslub_current->node)
		return slab_alloc(s, gfp);
	/* another node: take an object of that node, caching nothing */
	object = alloc_single(s, gfp, node);
	if (!object) {
		errno = ENOMEM;
		return NULL;
	}
	wipe_freepointer(s, object);
	if (gfp & KSLUB_GFP_ZERO)
		memset(object, 0, s->object_size);
	return object;
}

/* kmem_cache_free of NULL, of a pointer in no slab or of another cache's
 * object.  Out of line and reached by a tail call, so that the fast path
 * keeps no stack frame. */
static noinline __attribute__((cold)) void kmem_cache_free_bad(struct kmem_cache *s, struct slab *slab, void *x)
{
	if (!x)
		return;
	if (!slab)
		kslub_fatal("kmem_cache_free", x, "invalid pointer: not an object of cache %s", s ? s->name : "(null)");
	kslub_fatal("kmem_cache_free", x, "object of cache %s freed to cache %s",
		    slab->slab_cache->name, s ? s->name : "(null)");
}

KSLUB_API void kslub_kmem_cache_free(struct kmem_cache *s, void *x)
{
	/* NULL lies in no slab (see kfree_inline) */
	struct slab *slab = virt_to_slab(x);

	if (unlikely(!slab || slab->slab_cache != s))
		return kmem_cache_free_bad(s, slab, x);
	slab_free(s, slab, x, "kmem_cache_free");
}

KSLUB_API unsigned int kslub_kmem_cache_size(struct kmem_cache *s)
{
	return s->object_size;
}

KSLUB_API const char *kslub_kmem_cache_name(struct kmem_cache *s)
{
	return s->name;
}

/* Flush every thread's cpu slot of s, sheaves and all.  Only for a cache no
 * thread uses now. */
static void flush_all(struct kmem_cache *s)
{
	struct kslub_thread *t;

	spin_lock(&kslub_threads_lock);
	list_for_each_entry(t, &kslub_threads, list) {
		struct kmem_cache_cpu *c = (struct kmem_cache_cpu *)((char *)t + s->cpu_offset);

		flush_cpu_slab(s, c);
		release_cpu_sheaf(s, c);
	}
	spin_unlock(&kslub_threads_lock);
}

/* Mark the free objects of a slab in map (bit per object); returns how many. */
static unsigned int slab_free_map(struct kmem_cache *s, struct slab *slab, void *freelist, uint64_t *map)
{
	char *base = (char *)slab_address(slab) + s->red_left_pad;
	unsigned int n = 0;

	for (void *p = freelist; p && n <= slab->objects; p = get_freepointer(s, p)) {
		unsigned long idx = (unsigned long)((char *)p - base) / s->size;

		if ((char *)p < base || idx >= slab->objects)
			break;
		map[idx / 64] |= 1ULL << (idx % 64);
		n++;
	}
	return n;
}

/* Every empty slab of a node partial list back to the buddy.  Allocations
 * from node lists take list_lock, and an empty slab has nothing to free, so
 * no free can race with taking it off. */
static void discard_empty_partials(struct kmem_cache *s, struct kmem_cache_node *n)
{
	struct slab *slab, *h, *to_discard = NULL;

	spin_lock(&n->list_lock);
	list_for_each_entry_safe(slab, h, &n->partial, slab_list) {
		if (slab->inuse == slab->fresh) {
			remove_partial(n, slab);
			slab->next = to_discard;
			to_discard = slab;
		}
	}
	spin_unlock(&n->list_lock);
	discard_slab_list(s, to_discard);
}

/* Report the live objects of a cache that is being destroyed (kernel:
 * list_slab_objects).  Returns the number of slabs still in use. */
static long shutdown_node(struct kmem_cache *s, struct kmem_cache_node *n)
{
	struct slab *slab;
	long reported = 0;

	discard_empty_partials(s, n);
	spin_lock(&n->list_lock);
	list_for_each_entry(slab, &n->partial, slab_list) {
		uint64_t map[(MAX_OBJS_PER_PAGE + 64) / 64];
		char *base = (char *)slab_address(slab) + s->red_left_pad;

		if (reported >= 16)
			break;
		memset(map, 0, DIV_ROUND_UP(slab->objects, 64) * sizeof(uint64_t));
		slab_free_map(s, slab, slab->freelist, map);
		for (unsigned int i = 0; i < (unsigned int)(slab->objects - slab->fresh) && reported < 16; i++) {
			if (!(map[i / 64] & (1ULL << (i % 64)))) {
				kslub_dprintf(2, "kslub: Object %p @offset=%lu in %s\n", base + (size_t)i * s->size,
					      (unsigned long)i * s->size, s->name);
				reported++;
			}
		}
	}
	spin_unlock(&n->list_lock);
	return READ_ONCE(n->nr_slabs);
}

KSLUB_API void kslub_kmem_cache_destroy(struct kmem_cache *s)
{
	long slabs = 0, objects = 0;
	struct kslub_cache_info info;

	if (!s)
		return;
	spin_lock(&kslub_slab_mutex);
	if (s->is_kmalloc || s == kmem_cache || s == kmem_cache_node) {
		spin_unlock(&kslub_slab_mutex);
		kslub_warn("kmem_cache_destroy(): %s is not a cache of the program's; not destroyed", s->name);
		return;
	}
	flush_all(s);
	kslub_cache_count(s, &info, NULL);
	for (int node = 0; node < kslub_nr_node_ids; node++)
		slabs += shutdown_node(s, get_node(s, node));
	objects = (long)info.active_objs;
	if (slabs) {
		/* kernel: "Slab cache still has objects"; the cache stays */
		kslub_dprintf(2, "kslub: kmem_cache_destroy %s: Slab cache still has objects"
			      " (%ld objects in %ld slabs)\n", s->name, objects, slabs);
		spin_unlock(&kslub_slab_mutex);
		return;
	}
	list_del(&s->list);
	free_cache_slot(s->index);
	spin_unlock(&kslub_slab_mutex);
	free_kmem_cache_nodes(s);
	kslub_kmem_cache_free(kmem_cache, s);
}

/*
 * The free pages at the end of a node's partial slabs back to the OS.  A
 * heap whose objects were freed in random order keeps its slabs for the few
 * objects left in each; the kernel has no such memory to give back, but a
 * program that calls malloc_trim expects the free pages in the middle of
 * its heap to go, as glibc's does.  A slab of two pages or more whose last
 * pages hold free objects only has those objects made fresh again, the way
 * a new slab's unlinked objects are (link_fresh), and the pages purged: the
 * slab keeps its place and its live objects, and links the objects again
 * when it needs them.  They are marked purged, so that a thread that takes
 * the slab links them all first (unpurge_slab).
 *
 * A batch at a time under list_lock: each slab's freelist is walked (an
 * object of a node partial slab is taken only under list_lock, and frees
 * push in front of the head, so the list walked stays whole); a slab with
 * such a tail is frozen for us with all its free objects, which no other
 * thread can then take or unfreeze, and gets back the ones below the tail
 * on its local list, as a cpu-partial slab holds its owner's frees; the
 * tail is counted fresh.  Off the lock its pages are purged, and the batch
 * is unfrozen onto the node as a cpu-partial list is
 * (unfreeze_partials_list).  Slabs that have no such tail go to the list's
 * end, so that each is looked at once.  Called with kslub_slab_mutex held,
 * which a fork waits for: no child sees a slab frozen for nobody.  Returns
 * the bytes given back.
 */
#define PURGE_SLABS 64		/* slabs frozen at a time */
#define PURGE_WALK 16		/* freelists walked side by side */
#define PURGE_MAX_OBJECTS 512	/* objects of a slab the walk maps, one bit each */
unsigned long kslub_slab_purged_pages;

static inline char *page_align_up(char *p)
{
	return (char *)(((unsigned long)p + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1));
}

/* A slab's freelist as one walk found it: the map of its free objects. */
struct purge_walk {
	struct slab *slab;
	char *base;			/* its first object */
	void *freelist;			/* the head the walk started from */
	struct slab_counters counters;	/* read with it */
	void *p;			/* the walk's next object, NULL when done */
	unsigned int nr;		/* objects mapped; above objects when the list is bad */
	unsigned long map[PURGE_MAX_OBJECTS / BITS_PER_LONG];
};

/* Walk the freelists of w[0 .. k) side by side: each step reads the next
 * object of every list, so that the misses of one list wait together with
 * the others' instead of one after the other (a freelist of objects freed
 * in random order is a miss an object). */
static void purge_walk_freelists(struct kmem_cache *s, struct purge_walk *w, unsigned int k)
{
	for (bool more = true; more;) {
		more = false;
		for (unsigned int j = 0; j < k; j++) {
			unsigned long off, idx;

			if (!w[j].p)
				continue;
			/* off / size, with no division; past the slab when
			 * p is below base */
			off = (unsigned long)w[j].p - (unsigned long)w[j].base;
			idx = (unsigned long)(((unsigned __int128)off * s->div_magic) >> 64);
			if (idx >= w[j].counters.objects || idx * s->size != off ||
			    w[j].map[idx / BITS_PER_LONG] >> (idx % BITS_PER_LONG) & 1) {
				w[j].nr = PURGE_MAX_OBJECTS + 1;	/* not a list of this slab */
				w[j].p = NULL;
				continue;
			}
			w[j].map[idx / BITS_PER_LONG] |= 1UL << (idx % BITS_PER_LONG);
			w[j].nr++;
			w[j].p = get_freepointer(s, w[j].p);
			more |= w[j].p != NULL;
		}
	}
}

/* After the walk, under list_lock: a slab whose last pages hold free
 * objects only is frozen for us with all its free objects, gets the ones
 * below them back on its local list, and counts the rest fresh and
 * purged.  Returns false, the slab left as it was, when it has no such
 * page or changed since the walk read it.  *from .. *to: the pages. */
static bool purge_take_tail(struct kmem_cache *s, struct kmem_cache_node *n, struct purge_walk *w, char **from,
			    char **to)
{
	struct slab *slab = w->slab;
	struct slab_counters old = w->counters, new;
	char *base = (char *)slab_address(slab) + s->red_left_pad;
	unsigned int end = old.objects - old.fresh, t;
	void *local, *freelist;

	if (w->nr != (unsigned int)(old.objects - old.inuse))
		return false;	/* a list the counters do not match: left alone */
	for (t = end; t && (w->map[(t - 1) / BITS_PER_LONG] >> ((t - 1) % BITS_PER_LONG) & 1); t--)
		;
	*from = page_align_up(base + (size_t)t * s->size);
	*to = page_align_up(base + (size_t)end * s->size);
	if (*from >= *to)
		return false;	/* not a whole page */
	new = old;
	new.inuse = new.objects;
	new.frozen = 1;
	if (!cmpxchg_double_slab(slab, w->freelist, old.counters, NULL, new.counters))
		return false;	/* a free meanwhile: another time */
	/* ours: the objects below the tail back as our local list, in
	 * address order; the tail fresh, counted in inuse already */
	remove_partial(n, slab);
	local = link_free_map(s, base, w->map, t);
	do {
		freelist = READ_ONCE(slab->freelist);
		old.counters = READ_ONCE(slab->counters);
		new.counters = old.counters;
		new.fresh = new.objects - t;
		new.purged = 1;
	} while (!cmpxchg_double_slab(slab, freelist, old.counters, freelist, new.counters));
	slab->local = 0;
	slab_set_local_head(s, slab, local);
	return true;
}

/* Before a walk: do the objects of the slab's last page at least look free?
 * A free object's free pointer decodes to NULL or into its slab, which a
 * live one's does not (object_is_free): an object that looks live is, and
 * the walk of a slab whose last page holds one is saved (a third of the
 * slabs or more where a tenth of the objects are live).  One that looks
 * free may be in a sheaf; the walk tells.  Only while the process has one
 * thread: the objects read may be live ones another thread is writing. */
static bool tail_may_be_free(struct kmem_cache *s, struct slab *slab, char *base, struct slab_counters c)
{
	unsigned int end = c.objects - c.fresh, i = end;
	char *last = page_align_up(base + (size_t)end * s->size);

	while (i && page_align_up(base + (size_t)i * s->size) >= last &&
	       object_is_free(s, slab, base + (size_t)(i - 1) * s->size))
		i--;
	return page_align_up(base + (size_t)i * s->size) < last;
}

static size_t purge_partial_tails(struct kmem_cache *s, struct kmem_cache_node *n)
{
	struct purge_walk w[PURGE_WALK];
	struct iovec iov[PURGE_SLABS];
	unsigned long left = READ_ONCE(n->nr_partial);
	size_t purged = 0;

	/* constructed objects keep their state while free; slabs of one
	 * page have no tail that is not the whole slab */
	if (s->ctor || oo_order(s->oo) == 0)
		return 0;
	while (left && os_may_purge()) {
		struct slab *chain = NULL;
		unsigned int nr = 0;

		spin_lock(&n->list_lock);
		while (left && nr + PURGE_WALK <= PURGE_SLABS && !list_empty(&n->partial)) {
			unsigned int k = 0;

			/* the next slabs, each to the list's end unless it
			 * is frozen below, so that each is looked at once */
			while (left && k < PURGE_WALK && !list_empty(&n->partial)) {
				struct slab *slab = list_first_entry(&n->partial, struct slab, slab_list);

				left--;
				list_del(&slab->slab_list);
				list_add_tail(&slab->slab_list, &n->partial);
				if (slab_order(slab) == 0 || slab->objects > PURGE_MAX_OBJECTS)
					continue;
				/* acquire: the free pointers walked next were
				 * written by the frees that put the objects there */
				w[k].freelist = __atomic_load_n(&slab->freelist, __ATOMIC_ACQUIRE);
				w[k].counters.counters = READ_ONCE(slab->counters);
				if (w[k].counters.inuse == w[k].counters.fresh)
					continue;	/* empty: the node keeps it, or it went already */
				w[k].base = (char *)slab_address(slab) + s->red_left_pad;
				if (__libc_single_threaded && !tail_may_be_free(s, slab, w[k].base, w[k].counters))
					continue;
				w[k].slab = slab;
				w[k].p = w[k].freelist;
				__builtin_prefetch(w[k].p);	/* the walk's first step, while the list is followed */
				w[k].nr = 0;
				memset(w[k].map, 0, sizeof(w[k].map));
				k++;
			}
			purge_walk_freelists(s, w, k);
			for (unsigned int j = 0; j < k; j++) {
				char *from, *to;

				if (!purge_take_tail(s, n, &w[j], &from, &to))
					continue;
				w[j].slab->next = chain;
				chain = w[j].slab;
				iov[nr].iov_base = from;
				iov[nr].iov_len = (size_t)(to - from);
				nr++;
			}
		}
		spin_unlock(&n->list_lock);
		if (!nr)
			continue;
		os_purge_batch(iov, nr);
		for (unsigned int i = 0; i < nr; i++) {
			purged += iov[i].iov_len;	/* 0 where the kernel refused */
			__atomic_fetch_add(&kslub_slab_purged_pages, iov[i].iov_len / PAGE_SIZE, __ATOMIC_RELAXED);
		}
		unfreeze_partials_list(s, chain);
	}
	return purged;
}

/*
 * The same without malloc_trim, for a heap that is left fragmented: a
 * program that freed most of its objects in random order keeps most of its
 * slabs partial, with free pages at their ends, and memory it then asks
 * for in other sizes would come on top of them.  When a cache needs a new
 * slab, at most once every KSLUB_PURGE_DELAY ms, each node list of a cache
 * that holds PURGE_AUTO_SLABS partial slabs or more, at least half of the
 * node's slabs, has its slabs' tails purged; once, until its partial slabs
 * grow by a quarter again.  A program whose partial lists stay short, as
 * they do where objects are freed about as fast as they are allocated,
 * never gets here.  The first thread to see the time takes kslub_slab_mutex
 * if it is free and does it; the others go on.
 */
#define PURGE_AUTO_SLABS 256
static uint64_t slab_purge_next;	/* ms clock of the next look */

static noinline void slab_purge_auto(void)
{
	struct kmem_cache *s;

	if (!spin_trylock(&kslub_slab_mutex))
		return;
	list_for_each_entry(s, &kslub_slab_caches, list) {
		for (int node = 0; node < kslub_nr_node_ids; node++) {
			struct kmem_cache_node *n = get_node(s, node);
			unsigned long nr;

			if (!n)
				continue;	/* a node coming online */
			nr = READ_ONCE(n->nr_partial);
			if (nr < n->purge_mark)
				n->purge_mark = nr;	/* growth counts from the least */
			if (nr < PURGE_AUTO_SLABS || 2 * nr < (unsigned long)READ_ONCE(n->nr_slabs) ||
			    nr <= n->purge_mark + n->purge_mark / 4)
				continue;
			purge_partial_tails(s, n);
			n->purge_mark = READ_ONCE(n->nr_partial);
		}
	}
	spin_unlock(&kslub_slab_mutex);
}

static void slab_purge_tick(void)
{
	uint64_t now, next = __atomic_load_n(&slab_purge_next, __ATOMIC_RELAXED);

	if (unlikely(!__atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE)))
		return;
	now = kslub_now_ms();
	if (likely(now < next))
		return;
	if (__atomic_compare_exchange_n(&slab_purge_next, &next, now + (uint64_t)kslub_opt(OPT_PURGE_DELAY), false,
					__ATOMIC_RELAXED, __ATOMIC_RELAXED))
		slab_purge_auto();
}

/* Empty slabs of the node lists go back to the buddy (kernel:
 * __kmem_cache_do_shrink), and the free pages at the end of the others to
 * the OS; the calling thread's cpu slabs are flushed first.  Other threads
 * keep theirs.  Called with kslub_slab_mutex held; returns the bytes purged. */
size_t kmem_cache_shrink_locked(struct kmem_cache *s)
{
	size_t purged = 0;

	if (kslub_current->state == THREAD_LIVE)
		flush_cpu_slab(s, this_cpu_ptr(s));
	for (int node = 0; node < kslub_nr_node_ids; node++) {
		discard_empty_partials(s, get_node(s, node));
		purged += purge_partial_tails(s, get_node(s, node));
	}
	return purged;
}

KSLUB_API int kslub_kmem_cache_shrink(struct kmem_cache *s)
{
	kslub_ensure_init();
	spin_lock(&kslub_slab_mutex);
	kmem_cache_shrink_locked(s);
	spin_unlock(&kslub_slab_mutex);
	return 0;
}

/* ---- counting and validation ---------------------------------------------------------- */

/* Free objects on a freelist that belongs to slab, walked with checks so that a
 * list another thread is changing cannot send us astray. */
static unsigned long count_freelist(struct kmem_cache *s, struct slab *slab, void *p)
{
	unsigned long n = 0;
	char *base = (char *)slab_address(slab);

	while (p && n < slab->objects) {
		if ((char *)p < base || (char *)p >= base + (size_t)slab->objects * s->size + s->red_left_pad)
			break;
		n++;
		p = get_freepointer(s, p);
	}
	return n;
}

/* A slab's free objects on its freelist, and its fresh ones; read once,
 * for a slab another thread may change. */
static unsigned long slab_free_count(struct slab *slab)
{
	struct slab_counters c = { .counters = READ_ONCE(slab->counters) };

	return (unsigned long)c.objects - c.inuse + c.fresh;
}

void kslub_cache_count(struct kmem_cache *s, struct kslub_cache_info *info, unsigned long *node_partial)
{
	unsigned long free_objs = 0;
	struct kslub_thread *t;

	memset(info, 0, sizeof(*info));
	for (int node = 0; node < kslub_nr_node_ids; node++) {
		struct kmem_cache_node *n = get_node(s, node);
		struct slab *slab;

		spin_lock(&n->list_lock);
		info->num_slabs += (unsigned long)READ_ONCE(n->nr_slabs);
		info->num_objs += (unsigned long)READ_ONCE(n->total_objects);
		info->partial_slabs += n->nr_partial;
		if (node_partial)
			node_partial[node] = n->nr_partial;
		list_for_each_entry(slab, &n->partial, slab_list)
			free_objs += slab_free_count(slab);
		spin_unlock(&n->list_lock);
	}
	spin_lock(&kslub_threads_lock);
	list_for_each_entry(t, &kslub_threads, list) {
		struct kmem_cache_cpu *c = (struct kmem_cache_cpu *)((char *)t + s->cpu_offset);
		struct slab *slab = cpu_slab(c);

		if (slab) {
			info->cpu_slabs++;
			free_objs += count_freelist(s, slab, READ_ONCE(c->freelist));
			free_objs += slab_free_count(slab);
		}
		for (slab = READ_ONCE(*cpu_partial(s, c)); slab; slab = slab->next) {
			info->cpu_slabs++;
			free_objs += slab_free_count(slab);
			free_objs += count_freelist(s, slab, slab_local_head(s, slab));
		}
		/* the count only, from the word: the sheaf itself may be being
		 * freed (a thread off the list, or one whose sheaf grew) */
		free_objs += cpu_sheaf_size(__atomic_load_n(&c->sheaf, __ATOMIC_ACQUIRE));
	}
	spin_unlock(&kslub_threads_lock);
	info->active_objs = info->num_objs > free_objs ? info->num_objs - free_objs : 0;
	info->object_size = s->object_size;
	info->size = s->size;
	info->objs_per_slab = oo_objects(s->oo);
	info->order = oo_order(s->oo);
	info->cpu_partial = s->cpu_partial;
	info->min_partial = (unsigned int)s->min_partial;
}

KSLUB_API int kslub_cache_info(struct kmem_cache *s, struct kslub_cache_info *info)
{
	if (!s || !info)
		return -1;
	kslub_cache_count(s, info, NULL);
	return 0;
}

static long validate_slab(struct kmem_cache *s, struct slab *slab, void *freelist, bool on_partial)
{
	uint64_t map[(MAX_OBJS_PER_PAGE + 64) / 64];
	char *base = (char *)slab_address(slab) + s->red_left_pad;
	unsigned int nfree = 0;
	long errors = 0;

	memset(map, 0, DIV_ROUND_UP(slab->objects, 64) * sizeof(uint64_t));
	if (slab->slab_cache != s || !(slab->flags & PG_slab)) {
		kslub_dprintf(2, "kslub: %s: slab %p is not a slab of this cache\n", s->name, slab_address(slab));
		return 1;
	}
	for (void *p = freelist; p; p = get_freepointer(s, p)) {
		unsigned long off = (unsigned long)((char *)p - base);
		unsigned long idx = off / s->size;

		if ((char *)p < base || idx >= (unsigned long)(slab->objects - slab->fresh) || off % s->size) {
			kslub_dprintf(2, "kslub: %s: slab %p: freelist pointer %p is not an object\n",
				      s->name, slab_address(slab), p);
			return errors + 1;
		}
		if (map[idx / 64] & (1ULL << (idx % 64))) {
			kslub_dprintf(2, "kslub: %s: slab %p: object %p is on the freelist twice\n",
				      s->name, slab_address(slab), p);
			return errors + 1;
		}
		map[idx / 64] |= 1ULL << (idx % 64);
		nfree++;
	}
	if (on_partial) {
		if (slab->frozen) {
			kslub_dprintf(2, "kslub: %s: slab %p on a node partial list is frozen\n", s->name,
				      slab_address(slab));
			errors++;
		}
		if (slab->inuse + nfree != slab->objects) {
			kslub_dprintf(2, "kslub: %s: slab %p: inuse %u + free %u != objects %u\n", s->name,
				      slab_address(slab), slab->inuse, nfree, slab->objects);
			errors++;
		}
	}
	return errors;
}

/* Every object of a sheaf: an object of this cache, marked free, there once. */
static long validate_sheaf(struct kmem_cache *s, unsigned long cpu_sheaf_word)
{
	struct slab_sheaf *sheaf = cpu_sheaf(cpu_sheaf_word);
	unsigned int size = cpu_sheaf_size(cpu_sheaf_word);
	long errors = 0;

	if (size > sheaf->capacity || sheaf->capacity < s->sheaf_capacity ||
	    sheaf->capacity > s->sheaf_capacity_max) {
		kslub_dprintf(2, "kslub: %s: sheaf holds %u of %u objects (capacity %u to %u)\n", s->name,
			      size, sheaf->capacity, s->sheaf_capacity, s->sheaf_capacity_max);
		return 1;
	}
	for (unsigned int i = 0; i < size; i++) {
		void *x = sheaf->objects[i];
		struct slab *slab = virt_to_slab(x);

		if (!slab || slab->slab_cache != s || !object_is_start(s, slab, x) ||
		    slab_nid(slab) != sheaf->node) {
			kslub_dprintf(2, "kslub: %s: sheaf object %p is not an object of this cache and node\n",
				      s->name, x);
			errors++;
			continue;
		}
		if (get_freepointer(s, x) != NULL) {
			kslub_dprintf(2, "kslub: %s: sheaf object %p is not marked free\n", s->name, x);
			errors++;
		}
		for (unsigned int j = 0; j < i; j++)
			if (sheaf->objects[j] == x) {
				kslub_dprintf(2, "kslub: %s: object %p is in the sheaf twice\n", s->name, x);
				errors++;
			}
	}
	return errors;
}

/* kernel: validate_slab_cache.  Checks the node lists and the calling thread's
 * cpu slot; slabs other threads hold are not looked at. */
KSLUB_API long kslub_validate_slab_cache(struct kmem_cache *s)
{
	long errors = 0;

	for (int node = 0; node < kslub_nr_node_ids; node++) {
		struct kmem_cache_node *n = get_node(s, node);
		struct slab *slab;
		unsigned long count = 0;

		spin_lock(&n->list_lock);
		list_for_each_entry(slab, &n->partial, slab_list) {
			errors += validate_slab(s, slab, slab->freelist, true);
			count++;
		}
		if (count != n->nr_partial) {
			kslub_dprintf(2, "kslub: %s: node %d: %lu slabs on the partial list, nr_partial %lu\n",
				      s->name, node, count, n->nr_partial);
			errors++;
		}
		spin_unlock(&n->list_lock);
	}
	if (kslub_current->state == THREAD_LIVE) {
		struct kmem_cache_cpu *c = this_cpu_ptr(s);
		struct slab *slab, *cpu = cpu_slab(c);

		if (cpu) {
			errors += validate_slab(s, cpu, c->freelist, false);
			if (!cpu->frozen) {
				kslub_dprintf(2, "kslub: %s: cpu slab %p is not frozen\n", s->name,
					      slab_address(cpu));
				errors++;
			}
		}
		for (slab = *cpu_partial(s, c); slab; slab = slab->next) {
			if (!slab->frozen) {
				kslub_dprintf(2, "kslub: %s: cpu partial slab %p is not frozen\n", s->name,
					      slab_address(slab));
				errors++;
			}
		}
		if (c->sheaf) {
			errors += validate_sheaf(s, c->sheaf);
			/* the inline push stops at the sheaf's capacity */
			if (c->sheaf_capacity != cpu_sheaf(c->sheaf)->capacity ||
			    c->push_limit > cpu_sheaf(c->sheaf)->capacity) {
				kslub_dprintf(2, "kslub: %s: sheaf of capacity %u, the cpu slot says %u and pushes to %u\n",
					      s->name, cpu_sheaf(c->sheaf)->capacity, c->sheaf_capacity,
					      c->push_limit);
				errors++;
			}
		}
	}
	return errors;
}
