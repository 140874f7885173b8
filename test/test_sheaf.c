/* SPDX-License-Identifier: MIT */
/*
 * test_sheaf.c - the per-thread sheaves (kernel: percpu sheaves): a free
 * that is not to the cpu slab stores the object in the thread's sheaf of the
 * cache when it is of the thread's node and the sheaf has room, and an
 * allocation takes the last one stored first, before the cpu freelist.
 *
 * Checked here: random frees land in the sheaf and come back last in, first
 * out; a full sheaf sends its older half to the slabs; counts stay exact and
 * validation clean with objects in sheaves; a second free of an object in a
 * sheaf is reported; another thread's free goes to that thread's sheaf, a
 * free of another node's object to its slab; a thread that moves node, a
 * flush, a thread's exit and a fork child empty sheaves; a busy thread's
 * sheaf grows when it fills, a thread that only frees keeps a small one;
 * KSLUB_SHEAF_CAPACITY sets the capacity, 0 turns sheaves off.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slub.h"
#include "topology.h"
#include "child.h"

static unsigned long active_objs(struct kmem_cache *s)
{
	struct kslub_cache_info info;

	cr_assert_eq(kslub_cache_info(s, &info), 0);
	return info.active_objs;
}

static struct slab_sheaf *my_sheaf(struct kmem_cache *s)
{
	return cpu_sheaf(this_cpu_ptr(s)->sheaf);
}

static unsigned int sheaf_size(struct kmem_cache *s)
{
	return cpu_sheaf_size(this_cpu_ptr(s)->sheaf);
}

static void ctor_fill(void *p)
{
	memset(p, 0x5a, 40);
}

/* Allocate n slabs' worth: all but the last slab are full and not the cpu
 * slab, and the cpu slab is full too (its freelist empty). */
static void **fill_slabs(struct kmem_cache *s, unsigned int slabs, unsigned int *count)
{
	unsigned int per_slab = oo_objects(s->oo), n = slabs * per_slab;
	void **objs = calloc(n, sizeof(void *));

	cr_assert_not_null(objs);
	for (unsigned int i = 0; i < n; i++) {
		objs[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
		cr_assert_not_null(objs[i]);
	}
	cr_assert_null(this_cpu_ptr(s)->freelist);
	*count = n;
	return objs;
}

/* ---- the sheaf itself ------------------------------------------------------------- */

/* An allocation takes the sheaf's top first, then the cpu freelist: an
 * object of another slab freed is handed out again while it is in the CPU
 * cache, before the cpu slab's own free objects, of which only the first
 * may be warm.  A free of an object of the cpu slab goes on its freelist. */
static struct kmem_cache *first_cache;
static bool first_kmalloc;

static void *first_alloc(void)
{
	return first_kmalloc ? kslub_kmalloc(first_cache->object_size, KSLUB_GFP_KERNEL)
			     : kslub_kmem_cache_alloc(first_cache, KSLUB_GFP_KERNEL);
}

static void first_free(void *p)
{
	if (first_kmalloc)
		kslub_kfree(p);
	else
		kslub_kmem_cache_free(first_cache, p);
}

Test(sheaf, an_allocation_takes_the_sheaf_before_the_cpu_freelist)
{
	/* a cache with no constructor, one with, and a kmalloc cache through
	 * kmalloc and kfree, whose fast paths are their own */
	for (int kind = 0; kind < 3; kind++) {
		struct kmem_cache *s = kind == 2 ? kslub_kmalloc_cache(40)
						 : kslub_kmem_cache_create("sheaf-first", 40, 0, 0,
									   kind ? ctor_fill : NULL);
		unsigned int n;
		void **objs, *mine, *other;

		cr_assert_not_null(s);
		first_cache = s;
		first_kmalloc = kind == 2;
		objs = fill_slabs(s, 3, &n);
		mine = objs[n - 1];	/* of the cpu slab */
		other = objs[0];	/* of a full slab that is not */
		cr_assert_eq(virt_to_slab(mine), cpu_slab(this_cpu_ptr(s)));
		cr_assert_neq(virt_to_slab(other), cpu_slab(this_cpu_ptr(s)));
		first_free(mine);
		cr_assert_eq(this_cpu_ptr(s)->freelist, mine, "the free to the cpu slab did not go to its freelist");
		cr_assert_eq(sheaf_size(s), 0);
		first_free(other);
		cr_assert_eq(sheaf_size(s), 1, "the free of another slab's object did not go to the sheaf");
		cr_assert_eq(first_alloc(), other, "the cpu freelist came before the sheaf");
		cr_assert_eq(first_alloc(), mine, "then the cpu freelist");
		/* the sheaf in last-in, first-out order, all of it first */
		for (unsigned int i = 0; i < 5; i++)
			first_free(objs[i]);
		first_free(mine);
		for (unsigned int i = 5; i-- > 0;)
			cr_assert_eq(first_alloc(), objs[i], "sheaf object %u not in last-in, first-out order", i);
		cr_assert_eq(first_alloc(), mine);
		for (unsigned int i = 0; i < n; i++)
			first_free(objs[i]);
		cr_assert_eq(kslub_validate_slab_cache(s), 0);
		if (kind < 2)
			kslub_kmem_cache_destroy(s);
		free(objs);
	}
}

Test(sheaf, random_frees_land_in_the_sheaf_and_come_back_last_in_first_out)
{
	for (int ctor = 0; ctor < 2; ctor++) {
		struct kmem_cache *s = kslub_kmem_cache_create("sheaf-lifo", 40, 0, 0, ctor ? ctor_fill : NULL);
		unsigned int n, per_slab, order[20];
		void **objs;

		cr_assert_not_null(s);
		cr_assert_eq(s->sheaf_capacity, 62);
		per_slab = oo_objects(s->oo);
		objs = fill_slabs(s, 3, &n);
		/* 20 objects of the two slabs that are not the cpu slab, in a
		 * scrambled order */
		srand(42 + ctor);
		for (unsigned int i = 0; i < 20; i++) {
			unsigned int k;
			bool dup;

			do {
				k = (unsigned int)rand() % (2 * per_slab);
				dup = false;
				for (unsigned int j = 0; j < i; j++)
					dup |= order[j] == k;
			} while (dup);
			order[i] = k;
			kslub_kmem_cache_free(s, objs[k]);
			cr_assert_eq(sheaf_size(s), i + 1, "free %u did not go to the sheaf", i);
			cr_assert_eq(my_sheaf(s)->objects[i], objs[k]);
			cr_assert_eq(this_cpu_ptr(s)->sheaf_top, objs[k], "the slot's top is not the last freed");
			cr_assert(object_is_free(s, virt_to_slab(objs[k]), objs[k]), "an object in the sheaf looks live");
		}
		/* in use for their slabs, free for the count */
		cr_assert_eq(virt_to_slab(objs[order[0]])->inuse, per_slab);
		cr_assert_eq(active_objs(s), n - 20);
		cr_assert_eq(kslub_validate_slab_cache(s), 0);

		/* the cpu freelist is empty: the sheaf gives, the last freed first */
		for (int i = 19; i >= 0; i--) {
			void *p = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);

			cr_assert_eq(p, objs[order[i]], "allocation %d is not the object freed %d-th", 19 - i, i);
			cr_assert_eq(this_cpu_ptr(s)->sheaf_top, i ? objs[order[i - 1]] : NULL,
				     "after allocation %d the slot's top is not the sheaf's", 19 - i);
			if (!ctor)
				cr_assert_eq(*(void **)p, NULL, "the free pointer slot was not wiped");
			else
				cr_assert_eq(((unsigned char *)p)[0], 0x5a, "the constructed object was changed");
		}
		cr_assert_eq(sheaf_size(s), 0);
		cr_assert_eq(active_objs(s), n);
		cr_assert_eq(kslub_validate_slab_cache(s), 0);
		for (unsigned int i = 0; i < n; i++)
			kslub_kmem_cache_free(s, objs[i]);
		cr_assert_eq(active_objs(s), 0);
		cr_assert_eq(kslub_validate_slab_cache(s), 0);
		kslub_kmem_cache_destroy(s);
		free(objs);
	}
}

/* kmalloc's slow path goes straight to the sheaf; a zeroing allocation from
 * the sheaf is zeroed whole, and a cache with a constructor's is not. */
Test(sheaf, kmalloc_and_zeroing_allocations_take_from_the_sheaf)
{
	struct kmem_cache *s = kslub_kmalloc_cache(200);
	unsigned int n;
	void **objs = fill_slabs(s, 3, &n);

	for (unsigned int i = 0; i < 4; i++) {
		memset(objs[i], 0xa5, s->object_size);
		kslub_kfree(objs[i]);
	}
	cr_assert_eq(sheaf_size(s), 4);
	cr_assert_null(this_cpu_ptr(s)->freelist);
	cr_assert_eq(kslub_kmalloc(200, KSLUB_GFP_KERNEL), objs[3], "kmalloc did not take the last freed");
	cr_assert_null(*(void **)objs[3], "the free pointer slot was not wiped");
	cr_assert_eq(kslub_kmalloc(210, KSLUB_GFP_KERNEL | KSLUB_GFP_ZERO), objs[2]);
	for (unsigned int b = 0; b < s->object_size; b++)
		cr_assert_eq(((unsigned char *)objs[2])[b], 0, "byte %u of a zeroed object is %#x", b,
			     ((unsigned char *)objs[2])[b]);
	cr_assert_eq(kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL | KSLUB_GFP_ZERO), objs[1]);
	cr_assert_eq(((unsigned char *)objs[1])[s->object_size - 1], 0);
	cr_assert_eq(sheaf_size(s), 1);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	for (unsigned int i = 1; i < n; i++)
		kslub_kfree(objs[i]);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	free(objs);
}

Test(sheaf, a_full_sheaf_sends_its_older_half_to_the_slabs)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-full", 40, 0, 0, NULL);
	unsigned int n, cap = s->sheaf_capacity;
	void **objs;

	s->sheaf_capacity_max = cap;	/* a sheaf that does not grow (sheaf_grow) */
	objs = fill_slabs(s, 4, &n);

	/* capacity + 1 frees, from the slabs that are not the cpu slab */
	for (unsigned int i = 0; i <= cap; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_eq(sheaf_size(s), cap - cap / 2 + 1);
	/* the older half is back in its slabs, the newer half still here */
	for (unsigned int i = 0; i < cap / 2; i++)
		for (unsigned int j = 0; j < sheaf_size(s); j++)
			cr_assert_neq(my_sheaf(s)->objects[j], objs[i], "old object %u still in the sheaf", i);
	for (unsigned int j = 0; j < sheaf_size(s); j++)
		cr_assert_eq(my_sheaf(s)->objects[j], objs[cap / 2 + j]);
	cr_assert_eq(active_objs(s), n - cap - 1);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	for (unsigned int i = cap + 1; i < n; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_eq(active_objs(s), 0);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	/* shrink empties our sheaf: every slab goes */
	kslub_kmem_cache_shrink(s);
	cr_assert_eq(sheaf_size(s), 0);
	{
		struct kslub_cache_info info;

		kslub_cache_info(s, &info);
		cr_assert_eq(info.num_slabs, 0, "%lu slabs left after shrink", info.num_slabs);
	}
	kslub_kmem_cache_destroy(s);
	free(objs);
}

/* A flush sends a run of objects of one slab back as one list, with one
 * cmpxchg: the full slab they are of gets them all on its freelist (one
 * at a time, the first would freeze it for us and the rest go to its local
 * list). */
Test(sheaf, a_flush_sends_a_run_of_one_slab_back_as_one_list)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-run", 40, 0, 0, NULL);
	unsigned int n, cap = s->sheaf_capacity, per_slab = oo_objects(s->oo), on_freelist = 0;
	void **objs;
	struct slab *slab0;

	s->sheaf_capacity_max = cap;	/* a sheaf that does not grow (sheaf_grow) */
	objs = fill_slabs(s, 3, &n);
	slab0 = virt_to_slab(objs[0]);

	cr_assert_gt(per_slab, cap);
	for (unsigned int i = 0; i <= cap; i++) {
		cr_assert_eq(virt_to_slab(objs[i]), slab0);
		kslub_kmem_cache_free(s, objs[i]);
	}
	cr_assert_eq(sheaf_size(s), cap - cap / 2 + 1);
	cr_assert_eq(*cpu_partial(s, this_cpu_ptr(s)), slab0, "the full slab was not frozen for us");
	for (void *p = slab0->freelist; p; p = get_freepointer(s, p))
		on_freelist++;
	cr_assert_eq(on_freelist, cap / 2, "%u of the %u flushed objects on the slab's freelist", on_freelist,
		     cap / 2);
	cr_assert_eq(slab0->local, 0, "objects on the local list");
	cr_assert_eq(slab0->inuse, per_slab - cap / 2);
	cr_assert_eq(active_objs(s), n - cap - 1);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);

	/* the next flush's run is of slab0 again, frozen on our cpu-partial
	 * list now: one cmpxchg too, nothing on the local list (which would be
	 * walked an object at a time when the slab is unfrozen) */
	cr_assert_lt(cap + cap / 2, per_slab);
	for (unsigned int i = cap + 1; i <= cap + cap / 2; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_eq(sheaf_size(s), cap - cap / 2 + 1);
	on_freelist = 0;
	for (void *p = slab0->freelist; p; p = get_freepointer(s, p))
		on_freelist++;
	cr_assert_eq(on_freelist, 2 * (cap / 2), "%u objects on the slab's freelist", on_freelist);
	cr_assert_eq(slab0->local, 0, "objects on the local list");
	cr_assert_eq(active_objs(s), n - cap - 1 - cap / 2);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	for (unsigned int i = cap + cap / 2 + 1; i < n; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_eq(active_objs(s), 0);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	kslub_kmem_cache_destroy(s);
	free(objs);
}

Test(sheaf, capacity_goes_by_object_size)
{
	/* the first capacity, and what a busy thread's sheaf grows to: twice
	 * at most, to 64 KiB of objects */
	static const struct {
		size_t size;
		unsigned int capacity, max;
	} by_size[] = {
		{ 16, 62, 254 }, { 192, 62, 254 }, { 512, 30, 126 }, { 1024, 14, 62 },
		{ 2048, 14, 30 }, { 8192, 14, 14 },
	};

	for (unsigned int i = 0; i < sizeof(by_size) / sizeof(by_size[0]); i++) {
		struct kmem_cache *s = kslub_kmalloc_cache(by_size[i].size);

		cr_assert_eq(s->sheaf_capacity, by_size[i].capacity, "%s", s->name);
		cr_assert_eq(s->sheaf_capacity_max, by_size[i].max, "%s", s->name);
	}
	/* a thread with no cpu slab: at most 4 KiB of objects, at least 2 */
	cr_assert_eq(kslub_kmalloc_cache(64)->sheaf_consumer, 62);
	cr_assert_eq(kslub_kmalloc_cache(128)->sheaf_consumer, 32);
	cr_assert_eq(kslub_kmalloc_cache(512)->sheaf_consumer, 8);
	cr_assert_eq(kslub_kmalloc_cache(8192)->sheaf_consumer, 2);
	/* each sheaf fills a kmalloc size: 512, 256 and 128 bytes */
	cr_assert_eq(sizeof(struct slab_sheaf) + 62 * sizeof(void *), 512);
	cr_assert_eq(sizeof(struct slab_sheaf) + 14 * sizeof(void *), 128);
	/* and a grown one too: 2048 bytes */
	cr_assert_eq(sizeof(struct slab_sheaf) + 254 * sizeof(void *), 2048);
}

static struct kmem_cache *grow_cache;

static void free_again(void *x)
{
	kslub_kmem_cache_free(grow_cache, x);
}

/* A thread that allocates from a cache and fills its sheaf gets one twice
 * as large in its place, with the same objects in the same order, up to
 * sheaf_capacity_max; only then does a full sheaf send its older half back. */
Test(sheaf, a_busy_threads_full_sheaf_grows_before_it_flushes)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-grow", 40, 0, 0, NULL);
	unsigned int n, freed = 0, cap = s->sheaf_capacity, max = s->sheaf_capacity_max;
	void **objs = fill_slabs(s, 12, &n);

	struct kmem_cache *k512 = kslub_kmalloc_cache(512), *k1k = kslub_kmalloc_cache(1024),
			  *k2k = kslub_kmalloc_cache(2048);
	unsigned long in512, in1k, in2k;
	bool made = false;

	cr_assert_eq(cap, 62);
	cr_assert_eq(max, 254);
	cr_assert_gt(n, max + 1 + oo_objects(s->oo));
	/* the sheaves themselves are kmalloc objects: 512 bytes, then 1 and 2 KiB */
	kslub_kmem_cache_free(s, objs[freed++]);
	cr_assert_eq(my_sheaf(s)->capacity, 62);
	in512 = active_objs(k512);
	in1k = active_objs(k1k);
	in2k = active_objs(k2k);
	/* cap + 1 frees: the sheaf grows to 126, nothing goes back */
	while (freed <= cap)
		kslub_kmem_cache_free(s, objs[freed++]);
	cr_assert_eq(my_sheaf(s)->capacity, 126);
	cr_assert_eq(active_objs(k512), in512 - 1, "the first sheaf was not given back");
	cr_assert_eq(active_objs(k1k), in1k + 1);
	cr_assert_eq(this_cpu_ptr(s)->sheaf_capacity, 126);
	cr_assert_eq(this_cpu_ptr(s)->push_limit, 126, "the inline push stops at %u",
		     this_cpu_ptr(s)->push_limit);
	cr_assert_eq(sheaf_size(s), freed);
	for (unsigned int j = 0; j < freed; j++)
		cr_assert_eq(my_sheaf(s)->objects[j], objs[j]);
	cr_assert_eq(active_objs(s), n - freed);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	/* then to 254 */
	while (freed <= 126)
		kslub_kmem_cache_free(s, objs[freed++]);
	cr_assert_eq(my_sheaf(s)->capacity, 254);
	cr_assert_eq(this_cpu_ptr(s)->push_limit, 254);
	cr_assert_eq(active_objs(k1k), in1k, "the second sheaf was not given back");
	cr_assert_eq(active_objs(k2k), in2k + 1);
	cr_assert_eq(sheaf_size(s), freed);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	/* and no further: the next free past 254 sends the older half back */
	while (freed <= 254)
		kslub_kmem_cache_free(s, objs[freed++]);
	cr_assert_eq(my_sheaf(s)->capacity, 254);
	cr_assert_eq(sheaf_size(s), 254 - 254 / 2 + 1);
	cr_assert_eq(my_sheaf(s)->objects[0], objs[254 / 2]);
	cr_assert_eq(active_objs(s), n - freed);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	/* a second free of an object in the grown sheaf is still reported */
	grow_cache = s;
	{
		char err[512];
		int status;

		child_run(free_again, objs[200], &status, NULL, 0, err, sizeof(err));
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "status %#x: %s", status, err);
		cr_assert(strstr(err, "double free"), "%s", err);
	}
	/* the objects come back last in, first out */
	for (unsigned int i = 0; i < 3; i++)
		cr_assert_eq(kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL), objs[freed - 1 - i]);
	freed -= 3;
	for (unsigned int i = 0; i < 3; i++)
		kslub_kmem_cache_free(s, objs[freed++]);
	/* a flush of the thread (malloc_trim's) gives the grown sheaf back:
	 * the next one starts small again, and grows again */
	kslub_flush_thread();
	cr_assert_null(my_sheaf(s));
	cr_assert_eq(this_cpu_ptr(s)->sheaf_capacity, 0);
	cr_assert_eq(active_objs(k2k), in2k, "the grown sheaf was not given back");
	for (unsigned int i = 0; i < 3; i++)
		objs[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);	/* a cpu slab again */
	for (unsigned int i = 0; i < 3; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_null(my_sheaf(s), "the cpu slab's objects went to a sheaf");
	while (freed < n) {
		kslub_kmem_cache_free(s, objs[freed++]);
		if (my_sheaf(s) && !made) {
			made = true;
			cr_assert_eq(my_sheaf(s)->capacity, cap, "a new sheaf of %u", my_sheaf(s)->capacity);
			cr_assert_eq(this_cpu_ptr(s)->push_limit, cap);
		}
	}
	cr_assert(made);
	cr_assert_eq(my_sheaf(s)->capacity, max, "the new sheaf did not grow again");
	cr_assert_eq(active_objs(s), 0);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	kslub_kmem_cache_shrink(s);
	cr_assert_eq(sheaf_size(s), 0);
	kslub_kmem_cache_destroy(s);
	free(objs);
}

/* A thread that only frees objects of a cache (no cpu slab of it) keeps its
 * small sheaf: its frees are batched, never kept for allocations. */
static unsigned int consumer_capacity;

static void *free_all(void *arg)
{
	void **objs = arg;
	struct slab_sheaf *sheaf;

	for (unsigned int i = 0; objs[i]; i++)
		kslub_kfree(objs[i]);
	sheaf = my_sheaf(grow_cache);
	consumer_capacity = sheaf ? sheaf->capacity : 0;
	return NULL;
}

Test(sheaf, a_thread_that_only_frees_keeps_a_small_sheaf)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-consumer", 40, 0, 0, NULL);
	unsigned int n;
	void **objs = fill_slabs(s, 8, &n);
	void **list = calloc(n + 1, sizeof(void *));
	struct kslub_cache_info info;
	pthread_t t;

	cr_assert_not_null(list);
	cr_assert_gt(n, 4 * s->sheaf_capacity);
	memcpy(list, objs, n * sizeof(void *));
	grow_cache = s;
	cr_assert_eq(pthread_create(&t, NULL, free_all, list), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	cr_assert_eq(consumer_capacity, s->sheaf_capacity, "a consumer's sheaf grew to %u", consumer_capacity);
	/* the thread's sheaf went back as it exited */
	cr_assert_eq(kslub_cache_info(s, &info), 0);
	cr_assert_eq(info.active_objs, 0);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	kslub_kmem_cache_destroy(s);
	free(list);
	free(objs);
}

static void capacity_5(void)
{
	setenv("KSLUB_SHEAF_CAPACITY", "5", 1);
}

Test(sheaf, the_capacity_can_be_set, .init = capacity_5)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-5", 40, 0, 0, NULL);
	unsigned int n;
	void **objs = fill_slabs(s, 3, &n);

	cr_assert_eq(kslub_kmalloc_cache(16)->sheaf_capacity, 5);
	cr_assert_eq(kslub_kmalloc_cache(8192)->sheaf_capacity, 5);
	cr_assert_eq(s->sheaf_capacity, 5);
	cr_assert_eq(s->sheaf_capacity_max, 5, "a capacity that is set does not grow");
	for (unsigned int i = 0; i < 6; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_eq(sheaf_size(s), 4);	/* 5, then 2 went back, then one more */
	cr_assert_eq(active_objs(s), n - 6);
	for (unsigned int i = 6; i < n; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_eq(active_objs(s), 0);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	free(objs);
}

static void capacity_0(void)
{
	setenv("KSLUB_SHEAF_CAPACITY", "0", 1);
}

/* The old behaviour: the owner's frees to its own cpu-partial slab go on the
 * slab's local list, others' by __slab_free, and no sheaf is ever made. */
Test(sheaf, capacity_0_turns_sheaves_off, .init = capacity_0)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-off", 40, 0, 0, NULL);
	unsigned int n, per_slab = oo_objects(s->oo);
	void **objs = fill_slabs(s, 3, &n);
	struct slab *slab0 = virt_to_slab(objs[0]);

	cr_assert_eq(s->sheaf_capacity, 0);
	cr_assert_eq(kslub_kmalloc_cache(64)->sheaf_capacity, 0);
	for (unsigned int i = 0; i < 10; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_null(my_sheaf(s));
	cr_assert_eq(*cpu_partial(s, this_cpu_ptr(s)), slab0, "the full slab was not frozen for us");
	cr_assert_neq(slab0->local, 0, "no local frees");
	cr_assert_eq(active_objs(s), n - 10);
	for (unsigned int i = 0; i < 10; i++)
		kslub_kfree(kslub_kmalloc(100, KSLUB_GFP_KERNEL));
	for (unsigned int i = 10; i < n; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_null(my_sheaf(s));
	cr_assert_null(cpu_sheaf(this_cpu_ptr(kslub_kmalloc_cache(100))->sheaf));
	cr_assert_eq(active_objs(s), 0);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	(void)per_slab;
	free(objs);
}

/* ---- double frees ----------------------------------------------------------------- */

static void sheaf_double_free(void *arg)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-df", 40, 0, 0, arg ? ctor_fill : NULL);
	unsigned int n;
	void **objs = fill_slabs(s, 3, &n);

	kslub_kmem_cache_free(s, objs[3]);
	kslub_kmem_cache_free(s, objs[7]);
	if (sheaf_size(s) != 2) {
		fprintf(stderr, "the frees did not go to the sheaf\n");
		_exit(1);
	}
	kslub_kmem_cache_free(s, objs[3]);	/* in the sheaf, not last */
}

static void sheaf_double_free_last(void *arg)
{
	(void)arg;
	void *p[200];

	for (int i = 0; i < 200; i++)
		p[i] = kslub_kmalloc(24, KSLUB_GFP_KERNEL);
	if (virt_to_slab(p[5]) == cpu_slab(this_cpu_ptr(kslub_kmalloc_cache(24)))) {
		fprintf(stderr, "p[5] is of the cpu slab\n");
		_exit(1);
	}
	kslub_kfree(p[5]);
	kslub_kfree(p[5]);	/* the last object in the sheaf */
}

Test(sheaf, a_second_free_of_an_object_in_the_sheaf_is_reported)
{
	void (*fns[])(void *) = { sheaf_double_free, sheaf_double_free, sheaf_double_free_last };

	for (int i = 0; i < 3; i++) {
		char err[512];
		int status;

		child_run(fns[i], i == 1 ? (void *)1 : NULL, &status, NULL, 0, err, sizeof(err));
		cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "case %d: status %#x: %s", i,
			  status, err);
		cr_assert(strstr(err, "double free"), "case %d: %s", i, err);
	}
}

/* ---- threads ---------------------------------------------------------------------- */

struct remote {
	struct kmem_cache *s;
	void **objs;
	unsigned int from, to;
	unsigned int sheaf_size;	/* seen by the thread before it exits */
	unsigned long active;		/* the same */
	bool flush;			/* kslub_flush_thread before exiting */
	bool ok;
	bool had_partial;		/* slabs on its cpu-partial list before exiting */
};

/* A thread gets its state (and so sheaves) on its first allocation or
 * free. */
static void start_thread_state(void)
{
	kslub_kfree(kslub_kmalloc(8, KSLUB_GFP_KERNEL));
}

/* The objects from..n are still ours: free them, check that the cache is
 * empty and sound, destroy it. */
static void free_the_rest(struct kmem_cache *s, void **objs, unsigned int from, unsigned int n)
{
	cr_assert_eq(active_objs(s), n - from);
	for (unsigned int i = from; i < n; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_eq(active_objs(s), 0);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	kslub_kmem_cache_destroy(s);
	free(objs);
}

static bool only_frees;	/* remote_free_thread does not allocate first */

static void *remote_free_thread(void *arg)
{
	struct remote *r = arg;

	if (!only_frees)
		start_thread_state();
	for (unsigned int i = r->from; i < r->to; i++)
		kslub_kmem_cache_free(r->s, r->objs[i]);
	r->sheaf_size = sheaf_size(r->s);
	r->ok = true;
	for (unsigned int i = 0; i < r->sheaf_size; i++)
		if (my_sheaf(r->s)->objects[i] != r->objs[r->to - r->sheaf_size + i])
			r->ok = false;
	r->active = active_objs(r->s);
	r->had_partial = *cpu_partial(r->s, this_cpu_ptr(r->s)) != NULL;
	if (r->flush) {
		kslub_flush_thread();
		r->ok &= my_sheaf(r->s) == NULL;
	}
	return NULL;
}

/* remote_free_thread(r) in a thread, to its end. */
static void run_remote_free(struct remote *r)
{
	pthread_t th;

	cr_assert_eq(pthread_create(&th, NULL, remote_free_thread, r), 0);
	pthread_join(th, NULL);
}

Test(sheaf, another_threads_free_goes_to_its_sheaf_and_its_exit_empties_it)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-remote", 64, 0, 0, NULL);
	unsigned int n;
	void **objs = fill_slabs(s, 4, &n);
	struct remote r = { s, objs, 0, 20, 0, 0, false, false, false };
	struct kslub_cache_info info;

	/* thread B frees 20 of ours, every one of a slab B does not hold */
	run_remote_free(&r);
	cr_assert_eq(r.sheaf_size, 20, "%u objects in the other thread's sheaf", r.sheaf_size);
	cr_assert(r.ok, "the sheaf does not hold the frees in order");
	cr_assert_eq(r.active, n - 20, "%lu active with the objects in a sheaf", r.active);
	cr_assert_eq(sheaf_size(s), 0, "our own sheaf was used");
	/* B has exited: its sheaf went back to the slabs */
	cr_assert_eq(active_objs(s), n - 20);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);

	/* the same with kslub_flush_thread in the thread */
	r.from = 20;
	r.to = 40;
	r.flush = true;
	run_remote_free(&r);
	cr_assert(r.ok, "the sheaf does not hold the frees in order, or the flush left it");
	cr_assert_eq(active_objs(s), n - 40);

	/* and everything back: no slab is left once the node lists are shrunk */
	r.from = 40;
	r.to = n;
	r.flush = false;
	run_remote_free(&r);
	cr_assert_eq(active_objs(s), 0);
	kslub_flush_thread();
	kslub_kmem_cache_shrink(s);
	kslub_cache_info(s, &info);
	cr_assert_eq(info.num_slabs, 0, "%lu slabs left", info.num_slabs);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	kslub_kmem_cache_destroy(s);
	free(objs);
}

/* A thread that never allocates (a consumer) frees to its own sheaf too, and
 * its exit empties it.  Its first free, which gives it its state, goes to
 * the slab: the object is most likely a neighbour of another thread's. */
Test(sheaf, a_thread_that_only_frees_frees_to_its_sheaf)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-consumer", 64, 0, 0, NULL);
	unsigned int n;
	void **objs = fill_slabs(s, 4, &n);
	struct remote r = { s, objs, 0, 20, 0, 0, false, false, false };

	only_frees = true;
	run_remote_free(&r);
	cr_assert_eq(r.sheaf_size, 19, "%u objects in the freeing thread's sheaf", r.sheaf_size);
	cr_assert(r.ok, "the sheaf does not hold the frees in order");
	cr_assert_eq(r.active, n - 20);
	cr_assert_eq(sheaf_size(s), 0, "our own sheaf was used");
	cr_assert_eq(active_objs(s), n - 20);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	/* its flushes do not freeze the full slabs for it (it does not
	 * allocate from the cache): they go to the node, for those who do */
	r.from = 20;
	r.to = n;
	run_remote_free(&r);
	cr_assert_not(r.had_partial, "a thread that only frees froze slabs for itself");
	cr_assert_eq(active_objs(s), 0);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	kslub_kmem_cache_destroy(s);
	free(objs);
}

/* Such a thread flushes its whole sheaf when it is full, not the older half:
 * it would not allocate the recent half. */
Test(sheaf, a_thread_that_only_frees_flushes_its_whole_sheaf)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-consumer-flush", 64, 0, 0, NULL);
	unsigned int n;
	void **objs = fill_slabs(s, 4, &n);
	/* the first free goes to the slab, capacity + 1 to the sheaf */
	struct remote r = { s, objs, 0, s->sheaf_capacity + 2, 0, 0, false, false, false };

	only_frees = true;
	run_remote_free(&r);
	cr_assert_eq(r.sheaf_size, 1, "%u objects in the sheaf after %u frees", r.sheaf_size, r.to);
	cr_assert(r.ok);
	free_the_rest(s, objs, r.to, n);
}

/* ... and keeps at most SHEAF_CONSUMER_BYTES of objects in it, not
 * sheaf_capacity: objects of 1 KiB, 14 to a sheaf, 4 for such a thread.  A
 * main thread that frees what its workers made held 590 KiB of sheaves. */
Test(sheaf, a_thread_that_only_frees_keeps_at_most_4_KiB_in_its_sheaf)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-consumer-bytes", 1024, 0, 0, NULL);
	unsigned int n;
	void **objs = fill_slabs(s, 4, &n);
	unsigned int bound = SHEAF_CONSUMER_BYTES / s->size;
	/* the first free goes to the slab, bound to the sheaf */
	struct remote r = { s, objs, 0, bound + 1, 0, 0, false, false, false };

	cr_assert_eq(s->sheaf_capacity, 14);
	cr_assert_eq(s->sheaf_consumer, bound);
	cr_assert_eq(bound, 4);
	only_frees = true;
	run_remote_free(&r);
	cr_assert_eq(r.sheaf_size, bound, "%u objects in the sheaf after %u frees", r.sheaf_size, r.to);
	cr_assert(r.ok);
	/* one more: the sheaf is full at the bound and goes back whole */
	r.from = r.to;
	r.to = r.from + bound + 2;
	run_remote_free(&r);
	cr_assert_eq(r.sheaf_size, 1, "%u objects in the sheaf after %u frees", r.sheaf_size, r.to - r.from);
	cr_assert(r.ok);
	free_the_rest(s, objs, r.to, n);
}

/* kslub_flush_thread in our own thread: the sheaf goes, and the slabs it kept
 * in use are freed. */
Test(sheaf, flush_thread_empties_the_sheaf)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-flush", 64, 0, 0, NULL);
	unsigned int n;
	void **objs = fill_slabs(s, 2, &n);
	struct kslub_cache_info info;
	unsigned int per_slab = oo_objects(s->oo);

	/* no cpu slab: every free of the first slab goes through the sheaf,
	 * whose older halves go on to the slab */
	kslub_flush_thread();
	for (unsigned int i = 0; i < per_slab; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_gt(sheaf_size(s), 0);
	cr_assert_eq(active_objs(s), n - per_slab);
	kslub_cache_info(s, &info);
	cr_assert_eq(info.num_slabs, 2, "the sheaf keeps the first slab in use");
	kslub_flush_thread();
	cr_assert_null(my_sheaf(s));
	cr_assert_null(this_cpu_ptr(s)->sheaf_top, "a top is left with no sheaf");
	kslub_kmem_cache_shrink(s);
	kslub_cache_info(s, &info);
	cr_assert_eq(info.num_slabs, 1, "%lu slabs after the flush", info.num_slabs);
	cr_assert_eq(active_objs(s), n - per_slab);
	for (unsigned int i = per_slab; i < n; i++)
		kslub_kmem_cache_free(s, objs[i]);
	kslub_kmem_cache_destroy(s);
	free(objs);
}

/* ---- destroy --------------------------------------------------------------------- */

static int destroy_done;

static void *free_and_wait(void *arg)
{
	struct remote *r = arg;
	struct kmem_cache_cpu *c;

	start_thread_state();
	c = this_cpu_ptr(r->s);	/* r->s is gone when we look again */
	for (unsigned int i = r->from; i < r->to; i++)
		kslub_kmem_cache_free(r->s, r->objs[i]);
	__atomic_store_n(&r->sheaf_size, sheaf_size(r->s), __ATOMIC_RELEASE);
	while (!__atomic_load_n(&destroy_done, __ATOMIC_ACQUIRE))
		usleep(1000);
	r->ok = c->sheaf == 0;
	return NULL;
}

/* destroy flushes every thread's sheaf of the cache, as it flushes every cpu
 * slab: objects in a live thread's sheaf do not keep the cache. */
Test(sheaf, destroy_takes_back_the_sheaves_of_every_thread)
{
	struct kmem_cache *s = kslub_kmem_cache_create("sheaf-destroy", 64, 0, 0, NULL);
	unsigned int n;
	void **objs = fill_slabs(s, 3, &n);
	struct remote r = { s, objs, 0, 10, 0, 0, false, false, false };
	pthread_t th;
	char err[4096];
	int fd[2], saved;
	ssize_t len;

	/* frees to our own sheaf, and to a live thread's */
	for (unsigned int i = 10; i < n; i++)
		kslub_kmem_cache_free(s, objs[i]);
	cr_assert_gt(sheaf_size(s), 0);
	cr_assert_eq(pthread_create(&th, NULL, free_and_wait, &r), 0);
	while (!__atomic_load_n(&r.sheaf_size, __ATOMIC_ACQUIRE))
		usleep(1000);
	cr_assert_eq(r.sheaf_size, 10);
	cr_assert_eq(active_objs(s), 0);
	/* nothing is reported: no "still has objects" */
	saved = dup(2);
	cr_assert_eq(pipe(fd), 0);
	dup2(fd[1], 2);
	kslub_kmem_cache_destroy(s);
	dup2(saved, 2);
	close(fd[1]);
	len = read(fd[0], err, sizeof(err) - 1);
	err[len > 0 ? len : 0] = '\0';
	close(fd[0]);
	cr_assert_str_empty(err, "%s", err);
	__atomic_store_n(&destroy_done, 1, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	cr_assert(r.ok, "the thread's sheaf of the destroyed cache is still there");
	free(objs);
}

/* ---- nodes ------------------------------------------------------------------------ */

/* Two synthetic nodes: a free of the other node's object goes to its slab,
 * not to the sheaf; a thread that moves node gets its sheaf emptied. */
static void two_nodes_body(void *arg)
{
	static void *p0[4096], *p1[4096];
	struct kmem_cache *s;
	struct kslub_cache_info info;
	unsigned int ps, n, nr_slabs;
	void *q;

	(void)arg;
	setenv("HWLOC_SYNTHETIC", "node:2 core:1 pu:1", 1);
	unsetenv("HWLOC_XMLFILE");
	unsetenv("KSLUB_NUMA");
	kslub_kfree(kslub_kmalloc(1, KSLUB_GFP_KERNEL));
	check(kslub_nr_node_ids == 2, "%d nodes", kslub_nr_node_ids);
	/* kslub's start set cpu slabs (of the caches of caches) while it had
	 * one node; the nodes that came online after turned every inline
	 * sheaf path of the thread off */
	nr_slabs = 0;
	list_for_each_entry(s, &kslub_slab_caches, list) {
		struct kmem_cache_cpu *c = this_cpu_ptr(s);

		nr_slabs += c->slab_addr != 0;
		check((c->pop_floor == SHEAF_POP_NEVER || (c->pop_floor == 0 && !c->slab_addr)) && c->push_limit == 0,
		      "%s: pops over %u, pushes below %u with two nodes", s->name, c->pop_floor, c->push_limit);
	}
	check(nr_slabs > 0, "no cpu slab was set at start");
	s = kslub_kmem_cache_create("sheaf-numa", 64, 0, 0, NULL);
	check(s != NULL, "cache");
	/* whole slabs, so that no cpu freelist is left over */
	ps = oo_objects(s->oo);
	n = 3 * ps;
	check(n <= 4096, "%u objects", n);
	topology_set_thread_node(1);
	for (unsigned int i = 0; i < n; i++) {
		p1[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
		check(slab_nid(virt_to_slab(p1[i])) == 1, "object of node %d", slab_nid(virt_to_slab(p1[i])));
	}
	topology_set_thread_node(0);
	for (unsigned int i = 0; i < n; i++) {
		p0[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
		check(slab_nid(virt_to_slab(p0[i])) == 0, "object of node %d", slab_nid(virt_to_slab(p0[i])));
	}
	check(kslub_current_node() == 0 && kslub_current->node == 0, "not on node 0");
	/* node 1's objects, freed on node 0: to their slabs */
	for (int i = 0; i < 10; i++)
		kslub_kmem_cache_free(s, p1[i]);
	check(sheaf_size(s) == 0, "%u objects of node 1 in node 0's sheaf", sheaf_size(s));
	check(kslub_cache_info(s, &info) == 0 && info.active_objs == 2 * n - 10, "%lu active", info.active_objs);
	/* node 0's own: to the sheaf */
	for (int i = 0; i < 10; i++)
		kslub_kmem_cache_free(s, p0[i]);
	check(sheaf_size(s) == 10, "%u objects of node 0 in the sheaf", sheaf_size(s));
	check(my_sheaf(s)->node == 0, "sheaf of node %d", my_sheaf(s)->node);
	check(kslub_validate_slab_cache(s) == 0, "cache inconsistent");
	/* the thread moves to node 1: its next allocation empties the sheaf
	 * and takes an object of node 1 (the partial slab of p1[0..9]) */
	topology_set_thread_node(1);
	q = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
	check(q && slab_nid(virt_to_slab(q)) == 1, "an allocation on node 1 came from node %d", slab_nid(virt_to_slab(q)));
	check(sheaf_size(s) == 0, "%u objects of node 0 left in the sheaf", sheaf_size(s));
	check(kslub_cache_info(s, &info) == 0 && info.active_objs == 2 * n - 20 + 1, "%lu active",
	      info.active_objs);
	/* and now node 1's objects (of a slab that is not the cpu slab) go to it */
	for (unsigned int i = ps; i < ps + 10; i++)
		kslub_kmem_cache_free(s, p1[i]);
	check(sheaf_size(s) == 10 && my_sheaf(s)->node == 1, "%u in the sheaf of node %d", sheaf_size(s),
	      my_sheaf(s)->node);
	check(kslub_validate_slab_cache(s) == 0, "cache inconsistent");
	kslub_kmem_cache_free(s, q);
	for (unsigned int i = 10; i < n; i++)
		kslub_kmem_cache_free(s, p0[i]);
	for (unsigned int i = 10; i < n; i++)
		if (i < ps || i >= ps + 10)
			kslub_kmem_cache_free(s, p1[i]);
	check(kslub_cache_info(s, &info) == 0 && info.active_objs == 0, "%lu active", info.active_objs);
	check(kslub_validate_slab_cache(s) == 0, "cache inconsistent");
}

Test(sheaf, another_nodes_object_goes_to_its_slab_and_a_move_empties_the_sheaf)
{
	static char out[16384], err[16384];
	int status;

	child_run(two_nodes_body, NULL, &status, out, sizeof(out), err, sizeof(err));
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %#x):\n%s%s", status,
		  err, out);
}

/* ---- fork ------------------------------------------------------------------------- */

enum { FORK_THREADS = 3, FORK_SLOTS = 4096 };
static void *fork_slots[FORK_SLOTS];
static volatile int fork_stop;

/* Threads that free each other's objects all the time: every free that is
 * not to a cpu slab goes through a sheaf. */
static void *fork_churn(void *arg)
{
	unsigned int seed = (unsigned int)(uintptr_t)arg;

	while (!fork_stop) {
		unsigned int k = rand_r(&seed) % FORK_SLOTS;
		void *p = __atomic_exchange_n(&fork_slots[k], NULL, __ATOMIC_ACQ_REL);

		if (p)
			kslub_kfree(p);
		p = kslub_kmalloc(16 + rand_r(&seed) % 300, KSLUB_GFP_KERNEL);
		p = __atomic_exchange_n(&fork_slots[rand_r(&seed) % FORK_SLOTS], p, __ATOMIC_ACQ_REL);
		if (p)
			kslub_kfree(p);
	}
	return NULL;
}

Test(sheaf, fork_while_threads_free_each_others_objects, .timeout = 60)
{
	pthread_t th[FORK_THREADS];

	for (int i = 0; i < FORK_THREADS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, fork_churn, (void *)(uintptr_t)(i + 1)), 0);
	for (int round = 0; round < 40; round++) {
		pid_t pid;
		int status;

		usleep(2000);
		pid = fork();
		cr_assert_geq(pid, 0);
		if (pid == 0) {
			/* the other threads are gone: their sheaves were flushed
			 * or, caught mid-flush, dropped; what is left works */
			void *p[2000];
			long errors = 0;

			for (int i = 0; i < 2000; i++)
				p[i] = kslub_kmalloc(16 + (size_t)i % 300, KSLUB_GFP_KERNEL);
			for (int i = 0; i < 2000; i += 2)
				kslub_kfree(p[i]);
			for (int i = 1; i < 2000; i += 2)
				kslub_kfree(p[i]);
			for (size_t size = 16; size <= 320; size += 16)
				errors += kslub_validate_slab_cache(kslub_kmalloc_cache(size));
			_exit(errors ? 1 : 0);
		}
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "round %d: child status %#x", round,
			  status);
	}
	fork_stop = 1;
	for (int i = 0; i < FORK_THREADS; i++)
		pthread_join(th[i], NULL);
	for (size_t size = 16; size <= 320; size += 16)
		cr_assert_eq(kslub_validate_slab_cache(kslub_kmalloc_cache(size)), 0);
}
