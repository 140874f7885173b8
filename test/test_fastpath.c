/* SPDX-License-Identifier: MIT */
/*
 * test_fastpath.c - the arithmetic the fast paths of slub.h rely on, checked
 * against its slow definition: object_is_start (one multiply, one compare)
 * for every offset of a slab, for every kmalloc size and every slab order,
 * and for caches of every size a multiple of 8 up to 8 KiB; virt_to_slab
 * from every page of a slab; malloc's size table; and the hardened free
 * pointers: every kind of double free is caught, live data never is.
 *
 * This program links the static core and reaches its internals (slub.h).
 */
#include <criterion/criterion.h>

#include <pthread.h>

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sys/mman.h>

#include "slub.h"
#include "child.h"
#include "resident.h"

/* A slab of the given order as allocate_slab sets it up, without memory. */
static void fake_slab(struct kmem_cache *s, struct slab *slab, unsigned int order)
{
	unsigned long bytes = PAGE_SIZE << order;
	unsigned int objects = (unsigned int)(bytes / s->size);

	if (objects > MAX_OBJS_PER_PAGE)
		objects = MAX_OBJS_PER_PAGE;
	memset(slab, 0, sizeof(*slab));
	slab->objects = objects;
	slab->mask = bytes - 1;
	slab->starts_below = slab_starts_below(s, objects);
}

/* Every offset of every slab order up to max_order: object_is_start must say
 * "yes" exactly for k * size with k < objects.  Returns the first offset that
 * disagrees, or -1. */
static long check_cache(struct kmem_cache *s, unsigned int max_order, unsigned int *bad_order)
{
	/* the slab's address does not matter: object_is_start masks it off */
	const unsigned long base = 0x7f1234000000UL;
	struct slab slab;

	cr_assert_eq(s->red_left_pad, 0);
	cr_assert_eq(s->div_magic, (uint64_t)(((unsigned __int128)1 << 64) / s->size) + 1,
		     "%s: div_magic is not floor(2^64 / %u) + 1", s->name, s->size);
	for (unsigned int order = 0; order <= max_order; order++) {
		unsigned long bytes = PAGE_SIZE << order;

		if (bytes / s->size == 0)
			continue;
		fake_slab(s, &slab, order);
		for (unsigned long off = 0, next = 0, k = 0; off < bytes; off++) {
			bool start = off == next && k < slab.objects;

			if (off == next) {
				next += s->size;
				k++;
			}
			if (object_is_start(s, &slab, (void *)(base + off)) != start) {
				*bad_order = order;
				return (long)off;
			}
		}
	}
	return -1;
}

Test(fastpath, object_is_start_is_exact_for_every_kmalloc_size_and_slab_order)
{
	static const unsigned int sizes[] = { 8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192 };

	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct kmem_cache *s = kslub_kmalloc_cache(sizes[i]);
		unsigned int order = 0;
		long off;

		cr_assert_not_null(s);
		cr_assert_eq(s->size, sizes[i], "kmalloc cache of %u has size %u", sizes[i], s->size);
		off = check_cache(s, MAX_ORDER - 1, &order);
		cr_assert_eq(off, -1, "%s: object_is_start is wrong at offset %ld of an order-%u slab",
			     s->name, off, order);
	}
}

Test(fastpath, object_is_start_is_exact_for_caches_of_every_size)
{
	char name[32];

	for (unsigned int size = 8; size <= 8192; size += 8) {
		struct kmem_cache *s;
		unsigned int order = 0;
		long off;

		snprintf(name, sizeof(name), "fastpath-%u", size);
		s = kslub_kmem_cache_create(name, size, 0, 0, NULL);
		cr_assert_not_null(s, "cannot create a cache of %u bytes", size);
		/* orders 0..3 for all, the orders up to 4 MiB for a few */
		off = check_cache(s, size % 1000 == 0 ? MAX_ORDER - 1 : 3, &order);
		cr_assert_eq(off, -1, "%s (size %u): object_is_start is wrong at offset %ld of an order-%u slab",
			     s->name, s->size, off, order);
		kslub_kmem_cache_destroy(s);
	}
}

/* The largest objects: a cache of 4 MiB holds one object per slab. */
Test(fastpath, object_is_start_is_exact_for_the_largest_objects)
{
	static const unsigned int sizes[] = { 12345 * 8, 1 << 20, (3 << 20) / 2, 4 << 20 };

	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		struct kmem_cache *s = kslub_kmem_cache_create("fastpath-big", sizes[i], 0, 0, NULL);
		unsigned int order = 0;
		long off;

		cr_assert_not_null(s, "cannot create a cache of %u bytes", sizes[i]);
		off = check_cache(s, MAX_ORDER - 1, &order);
		cr_assert_eq(off, -1, "size %u: object_is_start is wrong at offset %ld of an order-%u slab",
			     s->size, off, order);
		kslub_kmem_cache_destroy(s);
	}
}

/* virt_to_slab tests the head page first and follows a tail page to its
 * head: every object of a multi-page slab, whatever page it starts in, must
 * give the slab whose memory holds it; blocks that are not slabs give NULL. */
Test(fastpath, virt_to_slab_finds_the_head_from_every_page_of_a_slab)
{
	static const unsigned int sizes[] = { 16, 192, 512, 1024, 4096, 8192 };
	enum { N = 300 };
	static void *objs[N];

	for (unsigned int i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (int j = 0; j < N; j++) {
			struct slab *slab;
			char *start;

			objs[j] = kslub_kmalloc(sizes[i], KSLUB_GFP_KERNEL);
			cr_assert_not_null(objs[j]);
			slab = virt_to_slab(objs[j]);
			cr_assert_not_null(slab, "kmalloc(%u) = %p: no slab", sizes[i], objs[j]);
			cr_assert(slab->flags & PG_slab);
			cr_assert_eq(slab->slab_cache, kslub_kmalloc_cache(sizes[i]));
			start = slab_address(slab);
			cr_assert((char *)objs[j] >= start && (char *)objs[j] < start + slab->mask + 1,
				  "%p is not in the slab at %p", objs[j], (void *)start);
			/* an interior pointer finds the same slab */
			cr_assert_eq(virt_to_slab((char *)objs[j] + sizes[i] - 1), slab);
		}
		for (int j = 0; j < N; j++)
			kslub_kfree(objs[j]);
	}
	cr_assert_null(virt_to_slab(NULL));
	cr_assert_null(virt_to_slab(KSLUB_ZERO_SIZE_PTR));
	{
		char *big = kslub_kmalloc(5 * PAGE_SIZE, KSLUB_GFP_KERNEL);

		cr_assert_not_null(big);
		for (int pg = 0; pg < 5; pg++)
			cr_assert_null(virt_to_slab(big + pg * PAGE_SIZE + 8), "page %d of a large block", pg);
		kslub_kfree(big);
	}
}

/* struct slab keeps no order and no node: they follow from its mask and its
 * arena, and must be what the slab was made with. */
Test(fastpath, slab_order_and_node_follow_from_the_mask_and_the_arena)
{
	struct kmem_cache *big = kslub_kmem_cache_create("order-3", 2000, 0, 0, NULL);

	cr_assert_not_null(big);
	for (size_t size = 4; size <= 2 * KSLUB_KMALLOC_MAX_CACHE_SIZE; size *= 2) {
		struct kmem_cache *s = size > KSLUB_KMALLOC_MAX_CACHE_SIZE ? big : kslub_kmalloc_cache(size);
		void *x = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
		struct slab *slab;

		slab = virt_to_slab(x);
		cr_assert_not_null(slab);
		cr_assert_eq(slab->mask, (PAGE_SIZE << oo_order(s->oo)) - 1, "%s", s->name);
		cr_assert_eq(slab_order(slab), oo_order(s->oo), "%s: order %u", s->name, slab_order(slab));
		cr_assert_eq((unsigned long)slab_address(slab) & slab->mask, 0, "%s", s->name);
		cr_assert_eq(slab_nid(slab), kslub_current_node(), "%s: node %d", s->name, slab_nid(slab));
		kslub_kmem_cache_free(s, x);
	}
	cr_assert_eq(kslub_validate_slab_cache(big), 0);
	kslub_kmem_cache_destroy(big);
}

/* malloc's table: every size from 0 to 1 KiB gives the slot of kmalloc's
 * cache for it, kmalloc-16 below 16 bytes, and the slot's cpu offset and the
 * size's (cpu_offset_small) are the cache's; kmalloc caches keep the free
 * pointer at 0.  Slot 0 stays the boot cache's, whose cpu slot no cache has. */
Test(fastpath, kmalloc_index_small_gives_the_kmalloc_cache_of_every_size)
{
	for (size_t size = 0; size <= KMALLOC_SMALL_MAX; size++) {
		struct kmem_cache *want = kslub_kmalloc_cache(size < 16 ? 16 : size);	/* starts kslub */
		unsigned int slot = kmalloc_tables.index_small[size];
		struct kmem_cache *s = kmalloc_caches[slot];

		cr_assert_eq(s, want, "size %zu: %s, kmalloc takes %s", size, s->name, want->name);
		cr_assert_eq(kmalloc_tables.cpu_offset[slot], s->cpu_offset, "%s: cpu offset %u, the table says %u",
			     s->name, s->cpu_offset, kmalloc_tables.cpu_offset[slot]);
		cr_assert_eq(kmalloc_tables.cpu_offset_small[size], s->cpu_offset,
			     "size %zu: cpu offset %u (%s), malloc's table says %u", size, s->cpu_offset, s->name,
			     kmalloc_tables.cpu_offset_small[size]);
		cr_assert_eq(s->offset, 0, "%s: free pointer at %u", s->name, s->offset);
		cr_assert_null(s->ctor);
	}
	cr_assert_eq(kmalloc_caches[0], &kmalloc_boot_cache);
	/* kfree takes the cache from the map's copy of kmalloc_caches */
	for (unsigned long slot = 0; slot < NR_KMALLOC_SLOTS; slot++)
		cr_assert_eq(slab_slot_cache(kslub_slab_slots, slot), kmalloc_caches[slot],
			     "slot %lu: the map's copy differs from kmalloc_caches", slot);
	cr_assert_eq(kmalloc_tables.cpu_offset[0], 0);
	/* the table by 16 bytes, from 9 bytes to the largest cache */
	for (size_t size = 9; size <= KSLUB_KMALLOC_MAX_CACHE_SIZE; size++) {
		struct kmem_cache *s = kslub_kmalloc_cache(size);

		cr_assert_eq(kmalloc_cpu_offsets_16[(size - 1) / 16], s->cpu_offset,
			     "size %zu: cpu offset %u (%s), the table by 16 bytes says %u", size, s->cpu_offset,
			     s->name, kmalloc_cpu_offsets_16[(size - 1) / 16]);
	}
	for (size_t size = 1; size <= KSLUB_KMALLOC_MAX_CACHE_SIZE; size++)
		cr_assert_neq(kmalloc_size_index[(size - 1) >> KMALLOC_SHIFT_LOW], 0, "size %zu has the boot slot", size);
	/* a new cache's slot is never 0 */
	{
		struct kmem_cache *c = kslub_kmem_cache_create("slot-check", 24, 0, 0, NULL);

		cr_assert_not_null(c);
		cr_assert_neq(c->cpu_offset, 0);
		kslub_kmem_cache_destroy(c);
	}
}

/* ---- double frees -------------------------------------------------------------- */
static void ctor_fill(void *p)
{
	memset(p, 0x5a, 40);
}

/* A cache of 40-byte objects, with a constructor (free pointer after the
 * object) or without (at offset 0). */
static struct kmem_cache *df_cache(bool ctor)
{
	struct kmem_cache *s = kslub_kmem_cache_create(ctor ? "df-ctor" : "df", 40, 0, 0, ctor ? ctor_fill : NULL);

	cr_assert_not_null(s);
	cr_assert_eq(s->offset != 0, ctor);
	return s;
}

enum df_case {
	DF_CPU_LAST,		/* to the cpu slab, as the last object of its freelist */
	DF_CPU_INNER,		/* to the cpu slab, with a next object */
	DF_REMOTE_LAST,		/* to a slab that is not the cpu slab, freelist empty before */
	DF_REMOTE_INNER,	/* the same with a free object before it */
	NR_DF_CASES,
};

static void double_free(enum df_case how, bool ctor)
{
	struct kmem_cache *s = df_cache(ctor);
	unsigned int per_slab = oo_objects(s->oo);
	void **objs = kslub_kmalloc(3 * per_slab * sizeof(void *), KSLUB_GFP_KERNEL);
	void *victim;

	/* three slabs' worth: the first two are full and not the cpu slab */
	for (unsigned int i = 0; i < 3 * per_slab; i++)
		objs[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
	switch (how) {
	case DF_CPU_LAST:
		victim = objs[3 * per_slab - 1];
		break;
	case DF_CPU_INNER:
		kslub_kmem_cache_free(s, objs[3 * per_slab - 2]);
		victim = objs[3 * per_slab - 1];
		break;
	case DF_REMOTE_LAST:
		victim = objs[0];
		break;
	default:
		kslub_kmem_cache_free(s, objs[1]);
		victim = objs[0];
		break;
	}
	cr_assert_eq(virt_to_slab(victim) == cpu_slab(this_cpu_ptr(s)), how <= DF_CPU_INNER);
	kslub_kmem_cache_free(s, victim);
	kslub_kmem_cache_free(s, victim);	/* must not return */
}

static void double_free_child(void *arg)
{
	int n = (int)(long)arg;

	double_free((enum df_case)(n / 2), n % 2);
}

Test(fastpath, every_kind_of_double_free_is_caught)
{
	for (int n = 0; n < 2 * NR_DF_CASES; n++) {
		char err[512];
		int status;

		child_run(double_free_child, (void *)(long)n, &status, NULL, 0, err, sizeof(err));
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT,
			  "case %d, %s: the child was not aborted (status %#x): %s", n / 2,
			  n % 2 ? "ctor" : "no ctor", status, err);
		cr_assert(strstr(err, "double free"), "case %d, %s: %s", n / 2, n % 2 ? "ctor" : "no ctor", err);
	}
}

/* ---- tail pages ------------------------------------------------------------ */
static unsigned long cache_info_slabs(struct kmem_cache *s)
{
	struct kslub_cache_info info;

	cr_assert_eq(kslub_cache_info(s, &info), 0);
	return info.num_slabs;
}

/* kfree every object of objs (all of s), then flush and shrink: every slab
 * of s goes back to the buddy. */
static void free_all_and_shrink(struct kmem_cache *s, void **objs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		kslub_kfree(objs[i]);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	kslub_flush_thread();
	kslub_kmem_cache_shrink(s);
	cr_assert_eq(cache_info_slabs(s), 0, "%s: slabs left after the shrink", s->name);
}

/* A slab's tail pages carry PG_slab_tail and the slab's mask, from which
 * compound_head and virt_to_slab find the head, and a slab that goes back
 * to the buddy leaves its tails cleared. */
Test(fastpath, a_slabs_tail_pages_lead_to_their_head)
{
	struct kmem_cache *s = kslub_kmalloc_cache(1000);
	unsigned int n, tails = 0;
	void **objs;

	cr_assert_not_null(s);
	cr_assert_geq(oo_order(s->oo), 1, "%s: slabs of one page", s->name);
	n = 3 * oo_objects(s->oo);
	objs = calloc(n, sizeof(void *));
	cr_assert_not_null(objs);
	for (unsigned int i = 0; i < n; i++) {
		struct page *page;
		struct slab *slab, *head;

		objs[i] = kslub_kmalloc(1000, KSLUB_GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		page = virt_to_page(objs[i]);
		slab = page_slab(page);
		head = virt_to_slab(objs[i]);
		cr_assert_not_null(head);
		cr_assert_eq(head->flags & (PG_slab | PG_slab_tail), PG_slab, "virt_to_slab gave a tail");
		cr_assert_eq(head->slab_cache, s);
		if (slab == head)
			continue;
		tails++;
		cr_assert_eq(slab->flags, PG_slab | PG_slab_tail, "tail flags %#lx", slab->flags);
		cr_assert_eq(slab->mask, head->mask);
		cr_assert_eq(page_slab(compound_head(page)), head);
		cr_assert_eq(kslub_ksize(objs[i]), s->object_size);
	}
	cr_assert_gt(tails, 0);
	free_all_and_shrink(s, objs, n);
	/* no page of the freed slabs says slab any more */
	for (unsigned int i = 0; i < n; i++)
		cr_assert_eq(READ_ONCE(virt_to_page(objs[i])->flags) & (PG_slab | PG_slab_tail), 0,
			     "a page of a freed slab still says slab (flags %#lx)", virt_to_page(objs[i])->flags);
	free(objs);
}

static unsigned int slot_of(const void *x)
{
	return __atomic_load_n(addr_slab_slot(x), __ATOMIC_ACQUIRE);
}

/* kfree finds a kmalloc object's cache by the slot map: every page
 * of every slab of every kmalloc cache (head and tails) names its slot, the
 * cache there is the object's, and its oo_ copies are the slab's mask and
 * starts_below; a slab that goes back to the buddy leaves its bytes 0. */
Test(fastpath, the_slot_map_names_the_kmalloc_cache_of_every_slab_page)
{
	unsigned int caches = 0;

	kslub_kfree(kslub_kmalloc(1, KSLUB_GFP_KERNEL));	/* kslub starts */
	for (unsigned int slot = 1; slot < NR_KMALLOC_SLOTS; slot++) {
		struct kmem_cache *s = kmalloc_caches[slot];
		unsigned int n;
		void **objs;

		if (s == &kmalloc_boot_cache)
			continue;	/* a slot past the sizes */
		caches++;
		cr_assert_eq(s->kmalloc_slot, slot, "%s in slot %u has %u", s->name, slot, s->kmalloc_slot);
		n = 2 * oo_objects(s->oo) + 1;
		objs = calloc(n, sizeof(void *));
		cr_assert_not_null(objs);
		for (unsigned int i = 0; i < n; i++) {
			struct slab *slab;

			objs[i] = kslub_kmalloc(s->object_size, KSLUB_GFP_KERNEL);
			cr_assert_not_null(objs[i]);
			slab = virt_to_slab(objs[i]);
			cr_assert_eq(slab->slab_cache, s);
			cr_assert_eq(slot_of(objs[i]), slot, "%s: object %u has slot %u", s->name, i, slot_of(objs[i]));
			cr_assert_eq(slot_of(slab_address(slab)), slot);
			cr_assert_eq(slot_of((char *)slab_address(slab) + slab->mask), slot, "%s: the slab's last page",
				     s->name);
			cr_assert_eq(s->oo_mask, slab->mask, "%s", s->name);
			cr_assert_eq(s->oo_starts_below, slab->starts_below, "%s", s->name);
		}
		free_all_and_shrink(s, objs, n);
		for (unsigned int i = 0; i < n; i++)
			cr_assert_eq(slot_of(objs[i]), 0, "%s: a freed slab's page keeps slot %u", s->name,
				     slot_of(objs[i]));
		free(objs);
	}
	cr_assert_geq(caches, 30);
}

/* kfree reads its checks from the thread's slot of the cache, not from the
 * cache: a thread's first kfree of each kmalloc cache puts them in its
 * slot, the slot named by the map's cpu offsets; slot 0's and the shared
 * empty state's stay 0, so that their first check fails for every address. */
static void check_kfree_copies(const char *who)
{
	const uint8_t *map = kslub_slab_slots;

	for (unsigned int slot = 1; slot < NR_KMALLOC_SLOTS; slot++)
		if (kmalloc_caches[slot] != &kmalloc_boot_cache)
			kslub_kfree(kslub_kmalloc(kmalloc_caches[slot]->object_size, KSLUB_GFP_KERNEL));

	for (unsigned int slot = 1; slot < NR_KMALLOC_SLOTS; slot++) {
		struct kmem_cache *s = kmalloc_caches[slot];
		struct kmem_cache_cpu *c = this_cpu_ptr(s);

		if (s == &kmalloc_boot_cache)
			continue;
		cr_assert_eq(slab_slot_cpu_offset(map, slot), s->cpu_offset, "%s: the map's cpu offset of slot %u",
			     s->name, slot);
		cr_assert_eq(c->oo_mask, s->oo_mask, "%s: %s's slot has mask %#lx", who, s->name, c->oo_mask);
		cr_assert_eq(c->div_magic, s->div_magic, "%s: %s's slot", who, s->name);
		cr_assert_eq(c->oo_starts_below, s->oo_starts_below, "%s: %s's slot", who, s->name);
	}
	{
		struct kmem_cache_cpu *c0 =
			(struct kmem_cache_cpu *)((char *)kslub_current + slab_slot_cpu_offset(map, 0));
		struct kmem_cache_cpu *e = (struct kmem_cache_cpu *)((char *)&kslub_thread_empty +
								      kmalloc_caches[1]->cpu_offset);

		cr_assert_eq(c0->oo_mask | c0->div_magic | c0->oo_starts_below, 0, "%s: slot 0 has checks", who);
		cr_assert_eq(e->oo_mask | e->div_magic | e->oo_starts_below, 0, "the empty state has checks");
	}
}

static void *start_and_check_copies(void *arg)
{
	(void)arg;
	check_kfree_copies("a new thread");
	return NULL;
}

Test(fastpath, a_threads_first_kfree_of_each_kmalloc_cache_gives_its_slot_the_checks)
{
	pthread_t t;

	kslub_kfree(kslub_kmalloc(1, KSLUB_GFP_KERNEL));	/* kslub starts */
	check_kfree_copies("the first thread");
	cr_assert_eq(pthread_create(&t, NULL, start_and_check_copies, NULL), 0);
	pthread_join(t, NULL);
}

/* A slot whose checks are 0 (as in a thread that started before the cache
 * was made) sends kfree the long way, which frees the object all the same
 * and fills the slot; and with a slot's checks wrong, no free of a live
 * object goes astray: it is freed by its struct page. */
Test(fastpath, a_slot_without_kfrees_checks_frees_the_long_way_and_gets_them)
{
	struct kmem_cache *s = kslub_kmalloc_cache(64);
	struct kslub_cache_info before, after;
	struct kmem_cache_cpu *c;
	void *x, *y;

	kslub_kfree(kslub_kmalloc(64, KSLUB_GFP_KERNEL));	/* fills the slot */
	x = kslub_kmalloc(64, KSLUB_GFP_KERNEL);
	y = kslub_kmalloc(64, KSLUB_GFP_KERNEL);
	cr_assert_not_null(x);
	cr_assert_not_null(y);
	c = this_cpu_ptr(s);
	cr_assert_eq(c->oo_starts_below, s->oo_starts_below, "a kfree of kmalloc-64 did not fill the slot");
	c->oo_mask = 0;
	c->div_magic = 0;
	c->oo_starts_below = 0;
	cr_assert_eq(kslub_cache_info(s, &before), 0);
	kslub_kfree(x);
	cr_assert_eq(c->oo_mask, s->oo_mask, "kfree_slow did not fill the slot");
	cr_assert_eq(c->div_magic, s->div_magic);
	cr_assert_eq(c->oo_starts_below, s->oo_starts_below);
	kslub_kfree(y);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	kslub_flush_thread();
	cr_assert_eq(kslub_cache_info(s, &after), 0);
	cr_assert_leq(after.active_objs + 2, before.active_objs, "%lu objects in use, %lu before two frees",
		      after.active_objs, before.active_objs);
}

/* A free knows the cpu slab by its start address: an address is in it only
 * within it, whatever the orders of the two slabs. */
Test(fastpath, the_cpu_slab_holds_only_its_own_addresses)
{
	const unsigned long big = 8 * PAGE_SIZE, b = 64 * big;	/* an order-3 slab at b */

	/* in a slab: its first and last byte, as the slab's own mask says */
	cr_assert(in_slab_at(b, b, big - 1));
	cr_assert(in_slab_at(b, b + big - 1, big - 1));
	cr_assert(in_slab_at(b - PAGE_SIZE, b - 1, PAGE_SIZE - 1));
	/* an order-0 slab just below, or just above, is another slab */
	cr_assert_not(in_slab_at(b - PAGE_SIZE, b + 100, big - 1));
	cr_assert_not(in_slab_at(b + big, b + 100, big - 1));
	cr_assert_not(in_slab_at(b + big - PAGE_SIZE, b + big, PAGE_SIZE - 1));
	cr_assert_not(in_slab_at(0, b, big - 1));	/* no cpu slab */
	cr_assert_not(in_slab_at(b, b - 1, big - 1));
}

/* A cache that is not a kmalloc cache has no slot: kfree of its objects
 * takes the slow way, through the struct page. */
Test(fastpath, other_caches_have_no_slot_in_the_slot_map)
{
	struct kmem_cache *s = kslub_kmem_cache_create("no-slot", 64, 0, 0, NULL);
	void *x = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);

	cr_assert_not_null(x);
	cr_assert_eq(s->kmalloc_slot, 0);
	cr_assert_eq(slot_of(x), 0);
	kslub_kfree(x);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	kslub_kmem_cache_destroy(s);
}

static void *kfree_first_thing(void *x)
{
	kslub_kfree(x);	/* the thread's first call: it has no state yet */
	return NULL;
}

/* A thread's first free finds no sheaf and no cpu slab, and gives the object
 * to its slab directly (__slab_free): the slab's head, found from the page
 * of an object in a tail page, not the tail itself. */
Test(fastpath, a_threads_first_free_of_an_object_in_a_tail_page_goes_to_its_slab)
{
	struct kmem_cache *s = kslub_kmalloc_cache(1000);
	unsigned int n = 3 * oo_objects(s->oo), freed = 0;
	struct kslub_cache_info before, after;
	void **objs = calloc(n, sizeof(void *));

	cr_assert_not_null(objs);
	cr_assert_geq(oo_order(s->oo), 1, "%s: slabs of one page", s->name);
	for (unsigned int i = 0; i < n; i++)
		objs[i] = kslub_kmalloc(1000, KSLUB_GFP_KERNEL);
	kslub_flush_thread();	/* no cpu slab, no sheaf: the objects' slabs are full */
	cr_assert_eq(kslub_cache_info(s, &before), 0);
	for (unsigned int i = 0; i < n && freed < 4; i++) {
		pthread_t t;

		if (virt_to_slab(objs[i]) == page_slab(virt_to_page(objs[i])))
			continue;	/* in a head page */
		cr_assert_eq(pthread_create(&t, NULL, kfree_first_thing, objs[i]), 0);
		pthread_join(t, NULL);
		objs[i] = NULL;
		freed++;
	}
	cr_assert_eq(freed, 4);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	cr_assert_eq(kslub_cache_info(s, &after), 0);
	cr_assert_eq(after.active_objs, before.active_objs - freed, "%lu objects in use, %lu before %u frees",
		     after.active_objs, before.active_objs, freed);
	for (unsigned int i = 0; i < n; i++)
		kslub_kfree(objs[i]);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	free(objs);
}

/* A kmalloc-1k object in a tail page of its slab (whose first bytes are
 * there too). */
static char *object_in_a_tail_page(void)
{
	char *p;

	do {
		p = kslub_kmalloc(1000, KSLUB_GFP_KERNEL);
	} while (virt_to_slab(p) == page_slab(virt_to_page(p)) || virt_to_page(p) != virt_to_page(p + 8));
	return p;
}

static void kfree_twice_in_a_tail_child(void *arg)
{
	char *p = object_in_a_tail_page();

	(void)arg;
	cr_assert_eq(virt_to_slab(p)->slab_cache, kslub_kmalloc_cache(1000));
	kslub_kfree(p);
	kslub_kfree(p);	/* must not return */
}

/* fn, run in a child, must abort with a report that says what. */
static void assert_reported(void (*fn)(void *), const char *what)
{
	char err[512];
	int status;

	child_run(fn, NULL, &status, NULL, 0, err, sizeof(err));
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "the child was not aborted (status %#x): %s",
		  status, err);
	cr_assert(strstr(err, what), "%s", err);
}

static void assert_double_free_reported(void (*fn)(void *))
{
	assert_reported(fn, "double free");
}

/* A thread that uses a few kmalloc caches writes two pages of its state,
 * which is ten: the first page of its cpu slots, and the page that holds
 * its page lists, counters and the cpu-partial lists of the caches made
 * first (struct kslub_thread puts the cpu-partial lists last; before, they
 * came between, and the thread wrote three). */
static void *count_state_pages(void *arg)
{
	static const size_t sizes[] = { 16, 100, 1000 };
	enum { N = 40 };
	void *p[3][N];
	struct kslub_thread *t;
	long *resident = arg;

	for (int k = 0; k < 3; k++)
		for (int i = 0; i < N; i++)
			cr_assert_not_null(p[k][i] = kslub_kmalloc(sizes[k], KSLUB_GFP_KERNEL));
	for (int k = 0; k < 3; k++)
		for (int i = 0; i < N; i++)
			kslub_kfree(p[k][i]);
	t = kslub_current;
	cr_assert_eq(t->state, THREAD_LIVE);
	*resident = __builtin_popcount(resident_pages(t, t->alloc_pages));
	return NULL;
}

Test(fastpath, a_thread_that_uses_a_few_caches_writes_two_pages_of_its_state)
{
	pthread_t th;
	long resident = -1;

	kslub_kfree(kslub_kmalloc(100, KSLUB_GFP_KERNEL));
	cr_assert_eq(pthread_create(&th, NULL, count_state_pages, &resident), 0);
	cr_assert_eq(pthread_join(th, NULL), 0);
	cr_assert_leq(resident, 2, "a thread that used three caches has %ld pages of its state resident", resident);
	cr_assert_geq(resident, 1);
}

/* The map's window covers the arenas (1 TiB around where the first
 * mappings went) and reads 0 where no kmalloc slab is: NULL, the stack, a
 * mapping of the program's own, addresses outside the window. */
Test(fastpath, the_slot_map_covers_the_arenas_and_reads_0_outside_slabs)
{
	int local;
	void *own = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	void *x;

	kslub_kfree(kslub_kmalloc(1, KSLUB_GFP_KERNEL));	/* kslub starts */
	cr_assert_neq(kslub_slab_slots_lo, SLAB_SLOTS_NONE, "the slot map was not reserved");
	cr_assert_eq(kslub_slab_slots_lo % ARENA_PAGES, 0);
	x = kslub_kmalloc(100, KSLUB_GFP_KERNEL);
	cr_assert(slab_slot_mapped(x), "an object at %p is outside the window from page %#lx", x,
		  kslub_slab_slots_lo);
	cr_assert_eq(slab_slot_of(x), kmalloc_tables.index_small[100]);
	kslub_kfree(x);
	/* slot 0 is the boot cache's, whose first check fails for every
	 * address: kfree tests no slot, and a large block goes the slow way */
	cr_assert_eq(kmalloc_caches[0], &kmalloc_boot_cache);
	/* kfree takes the cache from the map's copy of kmalloc_caches */
	for (unsigned long slot = 0; slot < NR_KMALLOC_SLOTS; slot++)
		cr_assert_eq(slab_slot_cache(kslub_slab_slots, slot), kmalloc_caches[slot],
			     "slot %lu: the map's copy differs from kmalloc_caches", slot);
	cr_assert_eq(kmalloc_boot_cache.oo_mask, 0);
	cr_assert_eq(kmalloc_boot_cache.oo_starts_below, 0);
	x = kslub_kmalloc(3 * PAGE_SIZE, KSLUB_GFP_KERNEL);
	cr_assert_eq(slab_slot_of(x), 0);
	kslub_kfree(x);
	cr_assert_eq(slab_slot_of(NULL), 0);
	cr_assert_eq(slab_slot_of(&local), 0);
	cr_assert_neq(own, MAP_FAILED);
	cr_assert_eq(slab_slot_of(own), 0);
	cr_assert_eq(slab_slot_of((void *)(1UL << 47)), 0);
	cr_assert_eq(slab_slot_of((void *)~0UL), 0);
	munmap(own, 4096);
}

/* Addresses past the map (above 2^47) go the slow way, and are reported. */
static void kfree_above_the_map_child(void *arg)
{
	(void)arg;
	kslub_kfree((void *)(3UL << 47));	/* must not return */
}

Test(fastpath, kfree_of_an_address_above_the_map_is_reported)
{
	assert_reported(kfree_above_the_map_child, "not allocated by kslub");
}

/* With no slot map (the address space was too small for it), kfree finds
 * every cache by the struct page: objects of every kmalloc size go back to
 * their caches, and a double free is still caught. */
static void kmalloc_every_size_without_the_map(void)
{
	enum { N = 200 };
	static void *objs[N];

	for (size_t size = 8; size <= KSLUB_KMALLOC_MAX_CACHE_SIZE; size += size / 4) {
		for (int i = 0; i < N; i++) {
			objs[i] = kslub_kmalloc(size, KSLUB_GFP_KERNEL);
			if (!objs[i])
				abort();
			memset(objs[i], 0x5a, size);
		}
		for (int i = 0; i < N; i++)
			kslub_kfree(objs[(i * 7) % N]);	/* N is not a multiple of 7 */
		if (kslub_validate_slab_cache(kslub_kmalloc_cache(size)) != 0)
			abort();
	}
}

static void no_map_child(void *arg)
{
	(void)arg;
	kslub_slab_slots_lo = SLAB_SLOTS_NONE;	/* for good: slabs freed now keep their bytes */
	kmalloc_every_size_without_the_map();
	kmalloc_every_size_without_the_map();
}

static void no_map_double_free_child(void *arg)
{
	void *p;

	(void)arg;
	kslub_slab_slots_lo = SLAB_SLOTS_NONE;
	p = kslub_kmalloc(48, KSLUB_GFP_KERNEL);
	kslub_kfree(p);
	kslub_kfree(p);	/* must not return */
}

Test(fastpath, kfree_without_the_slot_map_goes_by_the_struct_page)
{
	char err[512];
	int status;

	kslub_kfree(kslub_kmalloc(1, KSLUB_GFP_KERNEL));	/* kslub starts */
	child_run(no_map_child, NULL, &status, NULL, 0, err, sizeof(err));
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "status %#x: %s", status, err);
	assert_double_free_reported(no_map_double_free_child);
}

Test(fastpath, double_kfree_of_an_object_in_a_tail_page_is_caught)
{
	assert_double_free_reported(kfree_twice_in_a_tail_child);
}

static void kfree_inside_a_tail_child(void *arg)
{
	(void)arg;
	kslub_kfree(object_in_a_tail_page() + 8);	/* must not return */
}

/* The report of a pointer inside an object of a tail page checks it
 * against the slab's head, which the tail leads to. */
Test(fastpath, kfree_inside_an_object_of_a_tail_page_is_reported)
{
	assert_reported(kfree_inside_a_tail_child, "not the start of an object of kmalloc-1k");
}

/* kfree's fast path (the arena's slot map) takes kmalloc caches alone, whose
 * free pointer is at offset 0: a constructor's cache (free pointer after
 * the object) or any other has no slot there and goes the slow way, so
 * kfree of its objects keeps their constructed state, and a double kfree is
 * caught there too. */
static void kfree_twice_ctor_child(void *arg)
{
	struct kmem_cache *s = df_cache(true);
	void *x = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);

	(void)arg;
	kslub_kfree(x);
	kslub_kfree(x);	/* must not return */
}

Test(fastpath, kfree_of_a_constructors_object_uses_its_free_pointer_offset)
{
	for (int ctor = 0; ctor < 2; ctor++) {
		struct kmem_cache *s = df_cache(ctor);
		enum { N = 300 };	/* several slabs */
		static unsigned char *objs[N];
		unsigned char want[40];

		memset(want, 0x5a, sizeof(want));
		for (int i = 0; i < N; i++)
			objs[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
		for (int i = 0; i < N; i++) {
			cr_assert_eq(s->offset != 0, ctor);
			cr_assert_eq(*addr_slab_slot(objs[i]), 0);
			kslub_kfree(objs[(i * 7) % N]);	/* N is not a multiple of 7 */
		}
		for (int i = 0; i < N; i++) {
			objs[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
			if (ctor)
				cr_assert_eq(memcmp(objs[i], want, sizeof(want)), 0, "constructed state lost");
		}
		for (int i = 0; i < N; i++)
			kslub_kfree(objs[i]);
		cr_assert_eq(kslub_validate_slab_cache(s), 0);
		kslub_kmem_cache_destroy(s);
	}
}

Test(fastpath, double_kfree_of_a_constructors_object_is_caught)
{
	assert_double_free_reported(kfree_twice_ctor_child);
}

/* The free pointer's slot of a live object holds what the program wrote:
 * pointers into the same slab (a list of objects), NULL, small numbers, all
 * ones.  None of it may look like a free pointer. */
Test(fastpath, live_data_in_the_free_pointer_slot_is_never_taken_for_a_free_object)
{
	for (int ctor = 0; ctor < 2; ctor++) {
		struct kmem_cache *s = df_cache(ctor);
		enum { N = 1000 };
		static char *objs[N];

		cr_assert(kslub_freelist_random & 1UL << 56, "%s: random has bit 56 clear", s->name);
		for (int round = 0; round < 6; round++) {
			for (int i = 0; i < N; i++)
				objs[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
			for (int i = 0; i < N; i++) {
				unsigned long *slot = (unsigned long *)(objs[i] + s->offset);
				unsigned long values[] = {
					(unsigned long)objs[(i + 1) % N], (unsigned long)objs[i], 0, 1, 40,
					~0UL, (unsigned long)slot, (unsigned long)objs[(i + N - 1) % N],
				};

				*slot = values[(i + round) % (sizeof(values) / sizeof(values[0]))];
			}
			for (int i = 0; i < N; i++)
				kslub_kmem_cache_free(s, objs[(i * 7) % N]);	/* N is not a multiple of 7 */
		}
		cr_assert_eq(kslub_validate_slab_cache(s), 0);
		kslub_kmem_cache_destroy(s);
	}
}

/* A free object's stored pointer, copied to another object of the same
 * cache (stale memory copied by the program), must not make that object look
 * free: the encoding depends on the object's address, high bits included. */
Test(fastpath, a_stored_free_pointer_copied_elsewhere_does_not_look_free)
{
	for (int ctor = 0; ctor < 2; ctor++) {
		struct kmem_cache *s = df_cache(ctor);
		enum { N = 2000 };
		static char *objs[N];
		unsigned long stale[N];

		for (int i = 0; i < N; i++)
			objs[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
		/* free every other one, and keep what their slots hold */
		for (int i = 0; i < N; i += 2)
			kslub_kmem_cache_free(s, objs[i]);
		for (int i = 0; i < N; i += 2) {
			stale[i] = *(unsigned long *)(objs[i] + s->offset);
			cr_assert(object_is_free(s, virt_to_slab(objs[i]), objs[i]));
		}
		/* the odd ones are live: give each the stored value of another */
		for (int i = 1; i < N; i += 2) {
			for (int j = 0; j < N; j += 2) {
				*(unsigned long *)(objs[i] + s->offset) = stale[j];
				cr_assert(!object_is_free(s, virt_to_slab(objs[i]), objs[i]),
					  "%s: the stored pointer of %p at %p looks free", s->name, (void *)objs[j],
					  (void *)objs[i]);
			}
			kslub_kmem_cache_free(s, objs[i]);
		}
		cr_assert_eq(kslub_validate_slab_cache(s), 0);
		kslub_kmem_cache_destroy(s);
	}
}

static void no_sheaves(void)
{
	setenv("KSLUB_SHEAF_CAPACITY", "0", 1);
}

/* The free pointer is keyed on the object's address, not its slot's: what
 * kfree's inline push stores decodes with get_freepointer, in a cache with a
 * constructor (free pointer after the object) as in one without.  With no
 * sheaves, so that the frees go on the cpu freelist. */
Test(fastpath, free_pointers_are_keyed_on_the_object_address, .init = no_sheaves)
{
	for (int ctor = 0; ctor < 2; ctor++) {
		struct kmem_cache *s = df_cache(ctor);
		void *warm[16];
		char *a, *b;
		unsigned long *slot;

		/* a thread's first allocations of a cache are single objects
		 * from the node lists: these make it claim a cpu slab */
		for (int i = 0; i < 16; i++)
			warm[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
		a = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
		b = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
		slot = (unsigned long *)(b + s->offset);

		cr_assert_eq(virt_to_slab(b), cpu_slab(this_cpu_ptr(s)));
		kslub_kmem_cache_free(s, a);
		kslub_kmem_cache_free(s, b);	/* pushed on a */
		cr_assert_eq(*slot, (unsigned long)a ^ kslub_freelist_random ^ __builtin_bswap64((unsigned long)b),
			     "%s: stored %#lx", s->name, *slot);
		cr_assert_eq(get_freepointer(s, b), a);
		cr_assert_eq(kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL), b);
		cr_assert_eq(*slot, 0, "%s: the slot of an allocated object is wiped", s->name);
		kslub_kmem_cache_free(s, b);
		for (int i = 0; i < 16; i++)
			kslub_kmem_cache_free(s, warm[i]);
		cr_assert_eq(kslub_validate_slab_cache(s), 0);
		kslub_kmem_cache_destroy(s);
	}
}

/* ---- owner-local frees ---------------------------------------------------------- */
static unsigned long active_objs(struct kmem_cache *s)
{
	struct kslub_cache_info info;

	cr_assert_eq(kslub_cache_info(s, &info), 0);
	return info.active_objs;
}

/* Frees by the owner to a slab frozen on its cpu-partial list go on the
 * slab's local list: counted as free, double frees caught, given out again
 * when the slab becomes the cpu slab, and put back on slab->freelist when it
 * is unfrozen. */
Test(fastpath, frees_to_our_own_cpu_partial_slab_go_on_its_local_list)
{
	for (int ctor = 0; ctor < 2; ctor++) {
		struct kmem_cache *s = df_cache(ctor);
		unsigned int per_slab = oo_objects(s->oo);
		char **objs = kslub_kmalloc(3 * per_slab * sizeof(void *), KSLUB_GFP_KERNEL);
		struct slab *slab0;

		s->sheaf_capacity = 0;	/* the frees would go to the sheaf (test_sheaf) */
		for (unsigned int i = 0; i < 3 * per_slab; i++)
			objs[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
		slab0 = virt_to_slab(objs[0]);
		cr_assert_neq(slab0, cpu_slab(this_cpu_ptr(s)));
		/* the first free freezes the full slab onto our list, the others
		 * go on its local list */
		for (unsigned int i = 0; i < per_slab; i++)
			kslub_kmem_cache_free(s, objs[i]);
		cr_assert_eq(*cpu_partial(s, this_cpu_ptr(s)), slab0);
		cr_assert(slab0->frozen);
		cr_assert_neq(slab0->local, 0, "no local frees");
		cr_assert_eq(slab0->inuse, per_slab - 1, "local frees changed inuse");
		cr_assert_eq(active_objs(s), 2 * per_slab);
		cr_assert_eq(kslub_validate_slab_cache(s), 0);
		for (unsigned int i = 1; i < per_slab; i++)
			cr_assert(object_is_free(s, slab0, objs[i]), "object %u does not look free", i);

		/* the cpu slab is full: the next allocations come from slab0,
		 * its local list first, each object once */
		for (unsigned int i = 0; i < per_slab; i++) {
			objs[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
			cr_assert_eq(virt_to_slab(objs[i]), slab0, "allocation %u is not from slab0", i);
			for (unsigned int j = 0; j < i; j++)
				cr_assert_neq(objs[i], objs[j], "object given out twice");
		}
		cr_assert_eq(active_objs(s), 3 * per_slab);

		/* local frees again, then unfreeze them all (shrink flushes us) */
		kslub_kmem_cache_free(s, objs[per_slab]);	/* freezes slab1 */
		for (unsigned int i = per_slab + 1; i < 2 * per_slab; i += 2)
			kslub_kmem_cache_free(s, objs[i]);
		cr_assert_neq(virt_to_slab(objs[per_slab])->local, 0);
		kslub_kmem_cache_shrink(s);
		cr_assert_null(*cpu_partial(s, this_cpu_ptr(s)));
		cr_assert_eq(kslub_validate_slab_cache(s), 0);
		cr_assert_eq(active_objs(s), 3 * per_slab - 1 - per_slab / 2);
		for (unsigned int i = 0; i < 3 * per_slab; i++)
			if (i < per_slab || i >= 2 * per_slab || (i > per_slab && (i - per_slab) % 2 == 0))
				kslub_kmem_cache_free(s, objs[i]);
		cr_assert_eq(active_objs(s), 0);
		cr_assert_eq(kslub_validate_slab_cache(s), 0);
		kslub_kfree(objs);
		kslub_kmem_cache_destroy(s);
	}
}

static void local_double_free(void *arg)
{
	struct kmem_cache *s = df_cache(arg != NULL);
	unsigned int per_slab = oo_objects(s->oo);
	void **objs = kslub_kmalloc(3 * per_slab * sizeof(void *), KSLUB_GFP_KERNEL);

	s->sheaf_capacity = 0;	/* the frees would go to the sheaf (test_sheaf) */
	for (unsigned int i = 0; i < 3 * per_slab; i++)
		objs[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
	kslub_kmem_cache_free(s, objs[0]);	/* freezes the slab onto our list */
	kslub_kmem_cache_free(s, objs[1]);	/* local, last on the local list */
	kslub_kmem_cache_free(s, objs[2]);	/* local, with a next */
	cr_assert_neq(virt_to_slab(objs[2])->local, 0);
	kslub_kmem_cache_free(s, objs[2]);
}

Test(fastpath, a_double_free_to_the_local_list_is_caught)
{
	for (long ctor = 0; ctor < 2; ctor++) {
		char err[512];
		int status;

		child_run(local_double_free, (void *)ctor, &status, NULL, 0, err, sizeof(err));
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x: %s", status, err);
		cr_assert(strstr(err, "double free"), "%s", err);
	}
}
