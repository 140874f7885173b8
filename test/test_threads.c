/* SPDX-License-Identifier: MIT */
/*
 * test_threads.c - kslub under threads: objects made on one thread and freed
 * on another (the kernel's __slab_free path) with nothing lost, threads that
 * exit leave no frozen slabs and no pages on their page lists, a thread's
 * first objects of a cache come from the node's slabs, GFP_ATOMIC
 * from several threads, and a thread that only frees does not make memory
 * grow without bound.
 *
 * The figures checked are kslub_cache_info()'s, taken after the threads are
 * joined (or parked at a barrier), so that no slab is changing underneath.
 */
#include <criterion/criterion.h>

#include "child.h"
#include "held.h"
#include "seccomp.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/single_threaded.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kslub.h"

#define PAGE KSLUB_PAGE_SIZE
#define MiB (1024UL * 1024)

/* ---- helpers ---------------------------------------------------------------- */

static struct kslub_cache_info cache_info(struct kmem_cache *s)
{
	struct kslub_cache_info info;

	cr_assert_eq(kslub_cache_info(s, &info), 0);
	return info;
}

static void validate(struct kmem_cache *s)
{
	cr_assert_eq(kslub_validate_slab_cache(s), 0, "cache %s is inconsistent (see stderr)",
		     kslub_kmem_cache_name(s));
}

static size_t rss_bytes(void)
{
	unsigned long size, resident;
	FILE *f = fopen("/proc/self/statm", "r");

	cr_assert_not_null(f);
	cr_assert_eq(fscanf(f, "%lu %lu", &size, &resident), 2);
	fclose(f);
	return resident * (size_t)sysconf(_SC_PAGESIZE);
}

static unsigned long zone_free_pages(void)
{
	unsigned long nr_free[KSLUB_MAX_ORDER], pages = 0;

	kslub_flush_thread();
	cr_assert_eq(kslub_buddyinfo(0, nr_free), KSLUB_MAX_ORDER);
	for (int o = 0; o < KSLUB_MAX_ORDER; o++)
		pages += nr_free[o] << o;
	return pages;
}

/* The kmalloc caches a producer below allocates from. */
/* every kmalloc class up to 512 bytes */
static const size_t kmalloc_sizes[] = { 16, 32, 48, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512 };
#define NR_KMALLOC (sizeof(kmalloc_sizes) / sizeof(kmalloc_sizes[0]))

static unsigned long lcg(unsigned long *state)
{
	*state = *state * 6364136223846793005UL + 1442695040888963407UL;
	return *state >> 33;
}

/* ---- producer / consumer ------------------------------------------------------ */

/* Every object starts with this header; the rest is one byte, from seq. */
struct obj {
	uint32_t size;		/* bytes, header included */
	uint16_t producer;
	uint16_t from_cache;	/* 1: the test cache, 0: kmalloc */
	uint64_t seq;
};

#define RING 4096		/* a power of two */
#define BATCH 64
#define NR_PRODUCERS 2
#define NR_CONSUMERS 2
#define PER_PRODUCER 1000000UL	/* 2 million objects in all */
#define CACHE_OBJ 72

struct ring {
	pthread_mutex_t lock;
	pthread_cond_t not_full, not_empty;
	struct obj *slot[RING];
	unsigned long head, tail;	/* head: next to read; tail: next to write */
	int producers_left;
};

static struct ring ring = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.not_full = PTHREAD_COND_INITIALIZER,
	.not_empty = PTHREAD_COND_INITIALIZER,
	.producers_left = NR_PRODUCERS,
};
static struct kmem_cache *test_cache;

/* What a thread saw go wrong; the main thread asserts on it. */
static char failure[512];
static pthread_mutex_t failure_lock = PTHREAD_MUTEX_INITIALIZER;

__attribute__((format(printf, 1, 2))) static void fail(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&failure_lock);
	if (!failure[0]) {
		va_start(ap, fmt);
		vsnprintf(failure, sizeof(failure), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&failure_lock);
}

static void ring_put(struct obj **objs, int n)
{
	pthread_mutex_lock(&ring.lock);
	while (ring.tail - ring.head + (unsigned long)n > RING)
		pthread_cond_wait(&ring.not_full, &ring.lock);
	for (int i = 0; i < n; i++)
		ring.slot[ring.tail++ % RING] = objs[i];
	pthread_cond_broadcast(&ring.not_empty);
	pthread_mutex_unlock(&ring.lock);
}

/* Up to BATCH objects; 0 when every producer is done and the ring is empty. */
static int ring_get(struct obj **objs)
{
	int n = 0;

	pthread_mutex_lock(&ring.lock);
	while (ring.head == ring.tail && ring.producers_left)
		pthread_cond_wait(&ring.not_empty, &ring.lock);
	while (n < BATCH && ring.head != ring.tail)
		objs[n++] = ring.slot[ring.head++ % RING];
	pthread_cond_broadcast(&ring.not_full);
	pthread_mutex_unlock(&ring.lock);
	return n;
}

static void *producer(void *arg)
{
	uint16_t id = (uint16_t)(uintptr_t)arg;
	unsigned long state = 12345 + id;
	struct obj *batch[BATCH];
	int n = 0;

	for (unsigned long seq = 0; seq < PER_PRODUCER; seq++) {
		unsigned long r = lcg(&state);
		struct obj *o;
		uint32_t size;

		if (r % 4 == 0) {
			o = kmem_cache_alloc(test_cache, GFP_KERNEL);
			size = CACHE_OBJ;
		} else {
			size_t cap = kmalloc_sizes[r % NR_KMALLOC];

			size = (uint32_t)(sizeof(struct obj) + (r >> 8) % (cap - sizeof(struct obj) + 1));
			o = kmalloc(size, GFP_KERNEL);
		}
		if (!o) {
			fail("producer %u: allocation %lu failed (errno %d)", id, seq, errno);
			break;
		}
		o->size = size;
		o->producer = id;
		o->from_cache = r % 4 == 0;
		o->seq = seq;
		memset(o + 1, (unsigned char)seq, size - sizeof(*o));
		batch[n++] = o;
		if (n == BATCH) {
			ring_put(batch, n);
			n = 0;
		}
	}
	if (n)
		ring_put(batch, n);
	pthread_mutex_lock(&ring.lock);
	ring.producers_left--;
	pthread_cond_broadcast(&ring.not_empty);
	pthread_mutex_unlock(&ring.lock);
	return NULL;
}

static unsigned long consumed[NR_CONSUMERS];

static void *consumer(void *arg)
{
	int id = (int)(uintptr_t)arg;
	struct obj *batch[BATCH];
	int n;

	while ((n = ring_get(batch)) > 0) {
		for (int i = 0; i < n; i++) {
			struct obj *o = batch[i];
			const unsigned char *b = (const unsigned char *)(o + 1);

			for (uint32_t j = 0; j < o->size - sizeof(*o); j++) {
				if (b[j] != (unsigned char)o->seq) {
					fail("object %lu of producer %u (%u bytes at %p) was overwritten at byte %zu",
					     (unsigned long)o->seq, o->producer, o->size, (void *)o, j + sizeof(*o));
					break;
				}
			}
			if (o->from_cache)
				kmem_cache_free(test_cache, o);
			else
				kfree(o);
			consumed[id]++;
		}
	}
	return NULL;
}

/* Threads whose first calls into kslub come together: one starts it, the
 * others wait for it, and the starting thread's own calls into the
 * allocator meanwhile go on (it knows itself by a thread-local flag). */
#define STARTERS 4
extern int kslub_initialized;
static pthread_barrier_t starters_ready;

static void *start_together(void *arg)
{
	void *p[64];

	(void)arg;
	pthread_barrier_wait(&starters_ready);
	for (int i = 0; i < 64; i++) {
		p[i] = kmalloc(16 + 48 * (size_t)i, GFP_KERNEL);
		if (!p[i])
			return (void *)1;
		memset(p[i], i, 16 + 48 * (size_t)i);
	}
	for (int i = 0; i < 64; i++)
		kfree(p[i]);
	return NULL;
}

/* In a child, so that each round starts kslub anew. */
static void start_together_round(void *arg)
{
	pthread_t t[STARTERS];

	(void)arg;
	pthread_barrier_init(&starters_ready, NULL, STARTERS);
	for (int i = 0; i < STARTERS; i++)
		if (pthread_create(&t[i], NULL, start_together, NULL))
			_exit(2);
	for (int i = 0; i < STARTERS; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		if (ret)
			_exit(3);
	}
	if (!__atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE))
		_exit(4);
}

Test(threads, threads_that_call_kslub_first_together_all_get_memory, .timeout = 120)
{
	static char err[4096];

	cr_assert_eq(__atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE), 0, "kslub started before the test");
	for (int round = 0; round < 30; round++) {
		int status;

		child_run(start_together_round, NULL, &status, NULL, 0, err, sizeof(err));
		cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "round %d: the child failed (status %#x): %s",
			  round, status, err);
	}
}

Test(threads, objects_freed_on_another_thread_are_all_accounted_for, .timeout = 120)
{
	pthread_t prod[NR_PRODUCERS], cons[NR_CONSUMERS];
	struct kmem_cache *caches[NR_KMALLOC + 1];
	unsigned long before[NR_KMALLOC + 1];
	unsigned long total = 0;

	test_cache = kmem_cache_create("test_ring", CACHE_OBJ, 0, 0, NULL);
	cr_assert_not_null(test_cache);
	for (size_t i = 0; i < NR_KMALLOC; i++)
		caches[i] = kslub_kmalloc_cache(kmalloc_sizes[i]);
	caches[NR_KMALLOC] = test_cache;
	for (size_t i = 0; i <= NR_KMALLOC; i++)
		before[i] = cache_info(caches[i]).active_objs;

	for (int i = 0; i < NR_CONSUMERS; i++)
		cr_assert_eq(pthread_create(&cons[i], NULL, consumer, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < NR_PRODUCERS; i++)
		cr_assert_eq(pthread_create(&prod[i], NULL, producer, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < NR_PRODUCERS; i++)
		pthread_join(prod[i], NULL);
	for (int i = 0; i < NR_CONSUMERS; i++) {
		pthread_join(cons[i], NULL);
		total += consumed[i];
	}
	cr_assert_str_empty(failure, "%s", failure);
	cr_assert_eq(total, NR_PRODUCERS * PER_PRODUCER, "%lu objects made, %lu freed", NR_PRODUCERS * PER_PRODUCER,
		     total);

	for (size_t i = 0; i <= NR_KMALLOC; i++) {
		struct kslub_cache_info info = cache_info(caches[i]);

		cr_assert_eq(info.active_objs, before[i], "%s: %lu active objects before the threads, %lu after",
			     kslub_kmem_cache_name(caches[i]), before[i], info.active_objs);
		validate(caches[i]);
	}
	kmem_cache_destroy(test_cache);
}

/* ---- threads that exit ------------------------------------------------------------ */

#define EXIT_THREADS 4
#define KEPT 300	/* objects each thread leaves to the main thread */

static struct kmem_cache *exit_cache;
static void *kept[EXIT_THREADS][KEPT * 2];

/* Leaves cpu slabs, cpu-partial slabs and remote frees behind, then exits. */
static void *short_lived(void *arg)
{
	int id = (int)(uintptr_t)arg;
	enum { N = 4000 };
	void **objs = calloc(N * 2, sizeof(void *));

	if (!objs) {
		fail("calloc");
		return NULL;
	}
	for (int i = 0; i < N; i++) {
		objs[2 * i] = kmem_cache_alloc(exit_cache, GFP_KERNEL);
		objs[2 * i + 1] = kmalloc(40 + (size_t)i % 200, GFP_KERNEL);
		if (!objs[2 * i] || !objs[2 * i + 1]) {
			fail("thread %d: allocation failed", id);
			return NULL;
		}
	}
	/* free most, in an order that leaves slabs partly used */
	for (int i = 0; i < N; i++) {
		if (i % 13 == 0 && i / 13 < KEPT) {
			kept[id][2 * (i / 13)] = objs[2 * i];
			kept[id][2 * (i / 13) + 1] = objs[2 * i + 1];
			continue;
		}
		kmem_cache_free(exit_cache, objs[2 * i]);
		kfree(objs[2 * i + 1]);
	}
	/* and some frees of objects another thread holds in its slabs */
	if (id > 0) {
		for (int i = 0; i < KEPT / 2; i++) {
			kmem_cache_free(exit_cache, kept[id - 1][2 * i]);
			kept[id - 1][2 * i] = NULL;
		}
	}
	free(objs);
	return NULL;
}

static void run_short_lived(void)
{
	pthread_t t[EXIT_THREADS];

	/* one after another, so that the "free another thread's objects" step
	 * runs while the previous thread's slabs have already been flushed */
	for (int i = 0; i < EXIT_THREADS; i++) {
		cr_assert_eq(pthread_create(&t[i], NULL, short_lived, (void *)(uintptr_t)i), 0);
		pthread_join(t[i], NULL);
	}
	cr_assert_str_empty(failure, "%s", failure);
}

Test(threads, a_thread_that_exits_leaves_no_frozen_slabs_behind, .timeout = 60)
{
	struct kmem_cache *caches[NR_KMALLOC + 1];
	unsigned long before[NR_KMALLOC + 1];
	void *mine[200];

	exit_cache = kmem_cache_create("test_exit", 56, 0, 0, NULL);
	cr_assert_not_null(exit_cache);
	for (size_t i = 0; i < NR_KMALLOC; i++)
		caches[i] = kslub_kmalloc_cache(kmalloc_sizes[i]);
	caches[NR_KMALLOC] = exit_cache;
	/* the main thread holds cpu slabs of its own meanwhile */
	for (int i = 0; i < 200; i++) {
		mine[i] = i % 2 ? kmalloc(40 + (size_t)i, GFP_KERNEL) : kmem_cache_alloc(exit_cache, GFP_KERNEL);
		cr_assert_not_null(mine[i]);
	}
	/* the main thread's sheaves are kmalloc objects, which the flush
	 * below gives back */
	kslub_flush_thread();
	for (size_t i = 0; i <= NR_KMALLOC; i++)
		before[i] = cache_info(caches[i]).active_objs;

	run_short_lived();

	kslub_flush_thread();
	for (size_t i = 0; i <= NR_KMALLOC; i++) {
		struct kslub_cache_info info = cache_info(caches[i]);

		cr_assert_eq(info.cpu_slabs, 0,
			     "%s: %lu cpu slabs after the threads exited and the main thread flushed its own",
			     kslub_kmem_cache_name(caches[i]), info.cpu_slabs);
		validate(caches[i]);
	}

	/* what the threads left live is counted, and freeing it gets back to the start */
	{
		unsigned long left_cache = 0, left_kmalloc = 0, grown = 0;

		for (int t = 0; t < EXIT_THREADS; t++) {
			for (int i = 0; i < KEPT * 2; i++) {
				if (kept[t][i] && i % 2 == 0)
					left_cache++;
				else if (kept[t][i])
					left_kmalloc++;
			}
		}
		cr_assert_gt(left_cache, 0);
		cr_assert_eq(cache_info(exit_cache).active_objs, before[NR_KMALLOC] + left_cache,
			     "the exited threads left %lu objects of test_exit live; %lu are counted", left_cache,
			     cache_info(exit_cache).active_objs - before[NR_KMALLOC]);
		for (size_t i = 0; i < NR_KMALLOC; i++)
			grown += cache_info(caches[i]).active_objs - before[i];
		cr_assert_eq(grown, left_kmalloc, "the exited threads left %lu kmalloc objects live; %lu are counted",
			     left_kmalloc, grown);
		for (int t = 0; t < EXIT_THREADS; t++) {
			for (int i = 0; i < KEPT * 2; i++) {
				if (!kept[t][i])
					continue;
				if (i % 2 == 0)
					kmem_cache_free(exit_cache, kept[t][i]);
				else
					kfree(kept[t][i]);
				kept[t][i] = NULL;
			}
		}
	}
	/* those frees gave us sheaves, kmalloc objects themselves */
	kslub_flush_thread();
	for (size_t i = 0; i <= NR_KMALLOC; i++)
		cr_assert_eq(cache_info(caches[i]).active_objs, before[i], "%s: %lu active, %lu before the threads",
			     kslub_kmem_cache_name(caches[i]), cache_info(caches[i]).active_objs, before[i]);
	for (int i = 0; i < 200; i++) {
		if (i % 2)
			kfree(mine[i]);
		else
			kmem_cache_free(exit_cache, mine[i]);
	}
	for (size_t i = 0; i <= NR_KMALLOC; i++)
		validate(caches[i]);
	kmem_cache_destroy(exit_cache);
}

static void retain_arenas(void)
{
	setenv("KSLUB_RETAIN_ARENAS", "100000", 1);
}

static struct kmem_cache *pcp_cache;

static void *page_user(void *arg)
{
	enum { N = 256 };
	void *p[N], *o;

	(void)arg;
	/* a slab allocation gives the thread its own state and page lists */
	o = kmem_cache_alloc(pcp_cache, GFP_KERNEL);
	if (!o) {
		fail("kmem_cache_alloc failed");
		return NULL;
	}
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < N; i++) {
			p[i] = alloc_pages(GFP_KERNEL, (unsigned int)(i % 4));
			if (!p[i]) {
				fail("alloc_pages(order %d) failed", i % 4);
				return NULL;
			}
		}
		for (int i = 0; i < N; i++)
			free_pages(p[i], (unsigned int)(i % 4));
	}
	kmem_cache_free(pcp_cache, o);
	return NULL;
}

Test(threads, a_thread_that_exits_gives_its_page_lists_back, .init = retain_arenas, .timeout = 60)
{
	unsigned long before, after;
	pthread_t t;

	pcp_cache = kmem_cache_create("test_pcp", 64, 0, 0, NULL);
	cr_assert_not_null(pcp_cache);
	free_pages(alloc_pages(GFP_KERNEL, KSLUB_MAX_ORDER - 1), KSLUB_MAX_ORDER - 1);
	/* a first thread makes the slabs its sheaves come from */
	cr_assert_eq(pthread_create(&t, NULL, page_user, NULL), 0);
	pthread_join(t, NULL);
	kmem_cache_shrink(pcp_cache);
	before = zone_free_pages();
	cr_assert_eq(pthread_create(&t, NULL, page_user, NULL), 0);
	pthread_join(t, NULL);
	cr_assert_str_empty(failure, "%s", failure);
	/* the thread's empty slab went to the node list: give it back too */
	cr_assert_eq(cache_info(pcp_cache).active_objs, 0);
	kmem_cache_shrink(pcp_cache);
	cr_assert_eq(cache_info(pcp_cache).num_slabs, 0);
	after = zone_free_pages();
	cr_assert_eq(after, before,
		     "a thread allocated and freed pages and exited: the zone has %lu free pages, %lu before",
		     after, before);
	validate(pcp_cache);
	kmem_cache_destroy(pcp_cache);
}

/* ---- a thread's first objects ----------------------------------------------------------- */

#define FIRST_FEW 4
#define FIRST_MANY 200
#define FIRST_FULL 2000

static struct kmem_cache *first_cache;
static void *first_objs[FIRST_FULL];
static int first_count;
static gfp_t first_gfp = GFP_KERNEL;
static struct held_thread first_held;

/* Takes first_count objects, waits while the main thread looks, frees them. */
static void *first_taker(void *arg)
{
	(void)arg;
	for (int i = 0; i < first_count; i++) {
		first_objs[i] = kmem_cache_alloc(first_cache, first_gfp);
		if (!first_objs[i])
			fail("kmem_cache_alloc failed");
	}
	held_pause(&first_held);
	for (int i = 0; i < first_count; i++)
		kmem_cache_free(first_cache, first_objs[i]);
	return NULL;
}

/* Runs fn in a thread; returns the cache's figures while the thread holds
 * its objects. */
static struct kslub_cache_info run_first_thread(void *(*fn)(void *))
{
	struct kslub_cache_info info;

	held_start(&first_held, fn, NULL);
	info = cache_info(first_cache);
	held_finish(&first_held);
	cr_assert_str_empty(failure, "%s", failure);
	return info;
}

/* Runs first_taker for count objects. */
static struct kslub_cache_info run_first_taker(int count)
{
	first_count = count;
	return run_first_thread(first_taker);
}

/* A node partial slab with room, and no cpu slab of the main thread's. */
static void first_setup(void **held, int n)
{
	first_cache = kmem_cache_create("test_first", 64, 0, 0, NULL);
	cr_assert_not_null(first_cache);
	for (int i = 0; i < n; i++) {
		held[i] = kmem_cache_alloc(first_cache, GFP_KERNEL);
		cr_assert_not_null(held[i]);
	}
	kslub_flush_thread();
}

static void first_teardown(void **held, int n)
{
	for (int i = 0; i < n; i++)
		kmem_cache_free(first_cache, held[i]);
	kslub_flush_thread();
	cr_assert_eq(cache_info(first_cache).active_objs, 0);
	validate(first_cache);
	kmem_cache_destroy(first_cache);
}

Test(threads, a_thread_that_takes_a_few_objects_takes_them_from_the_node_slabs, .timeout = 60)
{
	void *held[40];
	struct kslub_cache_info before, during;

	first_setup(held, 40);
	before = cache_info(first_cache);
	cr_assert_eq(before.cpu_slabs, 0);
	during = run_first_taker(FIRST_FEW);
	cr_assert_eq(during.cpu_slabs, 0, "a thread that took %d objects holds %lu cpu slabs", FIRST_FEW,
		     during.cpu_slabs);
	cr_assert_eq(during.num_slabs, before.num_slabs, "a thread that took %d objects made %lu new slabs",
		     FIRST_FEW, during.num_slabs - before.num_slabs);
	cr_assert_eq(during.active_objs, before.active_objs + FIRST_FEW);
	first_teardown(held, 40);
}

Test(threads, a_thread_that_takes_many_objects_gets_a_cpu_slab_of_its_own, .timeout = 60)
{
	void *held[40];
	struct kslub_cache_info during;

	first_setup(held, 40);
	during = run_first_taker(FIRST_MANY);
	cr_assert_geq(during.cpu_slabs, 1, "a thread that took %d objects holds no cpu slab", FIRST_MANY);
	cr_assert_eq(during.active_objs, 40 + FIRST_MANY);
	first_teardown(held, 40);
}

/* Takes and frees one object FIRST_MANY times, then holds one while the
 * main thread looks. */
static void *first_recycler(void *arg)
{
	void *p;

	(void)arg;
	for (int i = 0; i < FIRST_MANY; i++) {
		p = kmem_cache_alloc(first_cache, GFP_KERNEL);
		if (!p)
			fail("kmem_cache_alloc failed");
		kmem_cache_free(first_cache, p);
	}
	first_objs[0] = kmem_cache_alloc(first_cache, GFP_KERNEL);
	held_pause(&first_held);
	kmem_cache_free(first_cache, first_objs[0]);
	return NULL;
}

/* Its frees go to its sheaf and its allocations take them back from there;
 * those count among its first allocations too, or a thread that uses one
 * object at a time would keep an object of a shared slab for good, next to
 * other threads' objects (false sharing: the cache-thrash workload). */
Test(threads, a_thread_that_reuses_one_object_gets_a_cpu_slab_of_its_own, .timeout = 60)
{
	void *held[40];
	struct kslub_cache_info during;

	first_setup(held, 40);
	during = run_first_thread(first_recycler);
	cr_assert_geq(during.cpu_slabs, 1, "a thread that took and freed an object %d times holds no cpu slab",
		      FIRST_MANY);
	first_teardown(held, 40);
}

/* The only thread of a process has nobody to share slabs with: run this
 * program again before criterion starts its threads, as that thread. */
__attribute__((constructor)) static void one_thread_child(void)
{
	struct kslub_cache_info info;
	struct kmem_cache *s;

	if (!getenv("KSLUB_TEST_ONE_THREAD_CHILD"))
		return;
	if (!__libc_single_threaded)
		_exit(4);
	s = kmem_cache_create("test_first", 64, 0, 0, NULL);
	if (!s || !kmem_cache_alloc(s, GFP_KERNEL) || kslub_cache_info(s, &info))
		_exit(3);
	_exit(info.cpu_slabs == 1 ? 0 : 5);
}

Test(threads, the_only_thread_of_a_process_takes_a_cpu_slab_at_once, .timeout = 60)
{
	int status = child_exec_self("KSLUB_TEST_ONE_THREAD_CHILD", getenv("KSLUB_SLABINFO"), NULL);

	cr_assert(WIFEXITED(status), "the child died (status %#x)", status);
	cr_assert_neq(WEXITSTATUS(status), 4, "the child had more than one thread");
	cr_assert_eq(WEXITSTATUS(status), 0, "the only thread's first allocation took no cpu slab (exit %d)",
		     WEXITSTATUS(status));
}

/* A single object may wait for the node's list lock, which GFP_ATOMIC must not. */
Test(threads, a_new_threads_gfp_atomic_allocation_takes_a_cpu_slab, .timeout = 60)
{
	void *held[40];
	struct kslub_cache_info during;

	first_setup(held, 40);
	first_gfp = GFP_ATOMIC;
	during = run_first_taker(1);
	first_gfp = GFP_KERNEL;
	cr_assert_eq(during.cpu_slabs, 1, "a thread that took one object with GFP_ATOMIC holds %lu cpu slabs",
		     during.cpu_slabs);
	first_teardown(held, 40);
}

static void *first_freer(void *arg)
{
	(void)arg;
	kfree(kmalloc(32, GFP_KERNEL));	/* a thread with a state of its own */
	for (int i = 0; i < FIRST_FULL; i++)
		kmem_cache_free(first_cache, first_objs[i]);
	held_pause(&first_held);
	return NULL;
}

Test(threads, a_thread_that_frees_a_caches_objects_but_does_not_allocate_them_freezes_no_slab, .timeout = 60)
{
	struct kslub_cache_info during;

	first_cache = kmem_cache_create("test_first", 64, 0, 0, NULL);
	cr_assert_not_null(first_cache);
	for (int i = 0; i < FIRST_FULL; i++) {
		first_objs[i] = kmem_cache_alloc(first_cache, GFP_KERNEL);
		cr_assert_not_null(first_objs[i]);
	}
	kslub_flush_thread();	/* full slabs, on no list */
	during = run_first_thread(first_freer);
	cr_assert_eq(during.cpu_slabs, 0, "a thread that only freed holds %lu cpu-partial slabs", during.cpu_slabs);
	kslub_flush_thread();
	cr_assert_eq(cache_info(first_cache).active_objs, 0);
	validate(first_cache);
	kmem_cache_destroy(first_cache);
}

/* ---- the states of exited threads ---------------------------------------------------- */

static struct held_thread state_held;

static void *state_user(void *arg)
{
	(void)arg;
	kfree(kmalloc(32, GFP_KERNEL));
	held_pause(&state_held);
	return NULL;
}

/* Runs state_user in a thread to its exit; returns the zone's free pages
 * while the thread was alive. */
static unsigned long run_state_user(void)
{
	unsigned long during;

	held_start(&state_held, state_user, NULL);
	during = zone_free_pages();
	held_finish(&state_held);
	return during;
}

Test(threads, a_new_thread_takes_the_state_an_exited_thread_left, .init = retain_arenas, .timeout = 60)
{
	void *held = kmalloc(32, GFP_KERNEL);
	unsigned long before, during;

	cr_assert_not_null(held);
	/* a first thread makes a state and the slabs its sheaves come from */
	run_state_user();
	before = zone_free_pages();
	during = run_state_user();
	cr_assert_eq(during, before, "a second thread took %ld pages for its state", (long)(before - during));
	kfree(held);
}

Test(threads, trim_gives_back_the_states_exited_threads_left, .timeout = 60)
{
	unsigned long before, after;

	kslub_trim();
	run_state_user();
	before = zone_free_pages();
	kslub_trim();
	after = zone_free_pages();
	/* a state is 16 KiB and more */
	cr_assert_geq(after, before + 5, "trim gave back %ld pages after a thread exited", (long)(after - before));
}

/* ---- GFP_ATOMIC ------------------------------------------------------------------------ */

#define ATOMIC_THREADS 4
#define ATOMIC_ITERS 200000
#define ATOMIC_LIVE 512

static struct kmem_cache *atomic_cache;
static unsigned long atomic_ok[ATOMIC_THREADS], atomic_failed[ATOMIC_THREADS];

static void *atomic_user(void *arg)
{
	int id = (int)(uintptr_t)arg;
	unsigned long state = 777 + (unsigned long)id;
	static __thread void *live[ATOMIC_LIVE];
	static __thread int kind[ATOMIC_LIVE];

	for (int i = 0; i < ATOMIC_LIVE; i++)
		live[i] = NULL;
	for (int it = 0; it < ATOMIC_ITERS; it++) {
		int slot = (int)(lcg(&state) % ATOMIC_LIVE);
		unsigned long r = lcg(&state);
		void *p;

		if (live[slot]) {
			if (kind[slot] == 0)
				kmem_cache_free(atomic_cache, live[slot]);
			else if (kind[slot] == 1)
				kfree(live[slot]);
			else
				free_pages(live[slot], (unsigned int)(kind[slot] - 2));
			live[slot] = NULL;
		}
		errno = 0;
		switch (r % 8) {
		case 0:
			kind[slot] = 2 + (int)((r >> 3) % 4);
			p = alloc_pages(GFP_ATOMIC, (unsigned int)(kind[slot] - 2));
			break;
		case 1:
		case 2:
		case 3:
			kind[slot] = 0;
			p = kmem_cache_alloc(atomic_cache, GFP_ATOMIC);
			break;
		default:
			kind[slot] = 1;
			p = kmalloc(8 + (r >> 3) % 3000, GFP_ATOMIC);
			break;
		}
		if (!p) {
			if (errno != ENOMEM)
				fail("a failed GFP_ATOMIC allocation left errno %d, not ENOMEM", errno);
			atomic_failed[id]++;
			continue;
		}
		*(volatile char *)p = 1;
		live[slot] = p;
		atomic_ok[id]++;
	}
	for (int i = 0; i < ATOMIC_LIVE; i++) {
		if (!live[i])
			continue;
		if (kind[i] == 0)
			kmem_cache_free(atomic_cache, live[i]);
		else if (kind[i] == 1)
			kfree(live[i]);
		else
			free_pages(live[i], (unsigned int)(kind[i] - 2));
	}
	return NULL;
}

Test(threads, gfp_atomic_allocations_work_from_several_threads, .timeout = 60)
{
	pthread_t t[ATOMIC_THREADS];
	unsigned long ok = 0, failed = 0, before[4];
	struct kmem_cache *caches[4];

	atomic_cache = kmem_cache_create("test_atomic", 100, 0, 0, NULL);
	cr_assert_not_null(atomic_cache);
	caches[0] = atomic_cache;
	caches[1] = kslub_kmalloc_cache(64);
	caches[2] = kslub_kmalloc_cache(1024);
	caches[3] = kslub_kmalloc_cache(4096);
	for (int i = 0; i < 4; i++)
		before[i] = cache_info(caches[i]).active_objs;
	for (int i = 0; i < ATOMIC_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, atomic_user, (void *)(uintptr_t)i), 0);
	for (int i = 0; i < ATOMIC_THREADS; i++) {
		pthread_join(t[i], NULL);
		ok += atomic_ok[i];
		failed += atomic_failed[i];
		cr_assert_gt(atomic_ok[i], 0, "thread %d: no GFP_ATOMIC allocation succeeded", i);
	}
	cr_assert_str_empty(failure, "%s", failure);
	/* GFP_ATOMIC may fail when a lock is busy, not as a rule */
	cr_assert_geq(ok, (ok + failed) / 2, "%lu of %lu GFP_ATOMIC allocations failed", failed, ok + failed);
	for (int i = 0; i < 4; i++) {
		cr_assert_eq(cache_info(caches[i]).active_objs, before[i], "%s: %lu active, %lu before",
			     kslub_kmem_cache_name(caches[i]), cache_info(caches[i]).active_objs, before[i]);
		validate(caches[i]);
	}
	kmem_cache_destroy(atomic_cache);
}

/* ---- a thread that only frees ---------------------------------------------------------- */

#define ROUNDS 150
#define PER_ROUND 20000
#define LARGE_PER_ROUND 200

static struct kmem_cache *remote_cache;
static void *handoff[PER_ROUND];
static void *handoff_large[LARGE_PER_ROUND];
static pthread_barrier_t round_start, round_done;
static int freer_allocates;

static void *freer(void *arg)
{
	(void)arg;
	if (freer_allocates)
		kfree(kmalloc(32, GFP_KERNEL));	/* a thread with slabs of its own */
	for (int round = 0; round < ROUNDS; round++) {
		pthread_barrier_wait(&round_start);
		for (int i = 0; i < PER_ROUND; i++)
			kmem_cache_free(remote_cache, handoff[i]);
		for (int i = 0; i < LARGE_PER_ROUND; i++)
			kfree(handoff_large[i]);
		pthread_barrier_wait(&round_done);
	}
	return NULL;
}

static void only_frees(int allocates)
{
	unsigned long slabs_early = 0, slabs_max = 0;
	size_t rss_early = 0, rss_end;
	pthread_t t;

	freer_allocates = allocates;
	remote_cache = kmem_cache_create("test_remote", 128, 0, 0, NULL);
	cr_assert_not_null(remote_cache);
	pthread_barrier_init(&round_start, NULL, 2);
	pthread_barrier_init(&round_done, NULL, 2);
	cr_assert_eq(pthread_create(&t, NULL, freer, NULL), 0);
	for (int round = 0; round < ROUNDS; round++) {
		struct kslub_cache_info info;

		for (int i = 0; i < PER_ROUND; i++) {
			handoff[i] = kmem_cache_alloc(remote_cache, GFP_KERNEL);
			cr_assert_not_null(handoff[i]);
			memset(handoff[i], 0x42, 128);
		}
		for (int i = 0; i < LARGE_PER_ROUND; i++) {
			handoff_large[i] = kmalloc(16384 + (size_t)(i % 3) * PAGE, GFP_KERNEL);
			cr_assert_not_null(handoff_large[i]);
			memset(handoff_large[i], 0x24, 16384);
		}
		pthread_barrier_wait(&round_start);
		pthread_barrier_wait(&round_done);
		info = cache_info(remote_cache);
		cr_assert_eq(info.active_objs, 0, "round %d: %lu objects still active after the other thread freed all",
			     round, info.active_objs);
		if (round == 10) {
			slabs_early = info.num_slabs;
			rss_early = rss_bytes();
		}
		if (info.num_slabs > slabs_max)
			slabs_max = info.num_slabs;
	}
	pthread_join(t, NULL);
	rss_end = rss_bytes();
	/* one round needs PER_ROUND objects' worth of slabs; twice that is slack */
	cr_assert_leq(slabs_max, 2 * slabs_early + 64,
		      "slabs grew from %lu at round 10 to %lu while another thread freed everything", slabs_early,
		      slabs_max);
	cr_assert_leq(rss_end, rss_early + 32 * MiB,
		      "RSS grew by %zu MiB from round 10 to round %d with nothing live between rounds",
		      (rss_end - rss_early) / MiB, ROUNDS);
	kslub_flush_thread();
	validate(remote_cache);
	kmem_cache_destroy(remote_cache);
}

Test(threads, a_thread_that_only_frees_does_not_grow_memory, .timeout = 120)
{
	only_frees(0);
}

Test(threads, a_thread_with_slabs_that_frees_others_objects_does_not_grow_memory, .timeout = 120)
{
	only_frees(1);
}

/* ---- fork and late thread destructors ------------------------------------------------- */

#define FORK_THREADS 2
#define FORK_OBJS 600

static struct kmem_cache *fork_cache;
static void *fork_live[FORK_THREADS][FORK_OBJS];
static pthread_barrier_t fork_ready, fork_release;

/* Holds cpu slabs, cpu-partial slabs and page lists while the main thread forks. */
static void *slab_holder(void *arg)
{
	int id = (int)(uintptr_t)arg;

	for (int i = 0; i < FORK_OBJS; i++) {
		fork_live[id][i] = i % 2 ? kmalloc(24 + (size_t)i % 100, GFP_KERNEL) : kmem_cache_alloc(fork_cache, GFP_KERNEL);
		if (!fork_live[id][i])
			fail("thread %d: allocation failed", id);
	}
	for (int i = 0; i < FORK_OBJS; i += 4) {
		kmem_cache_free(fork_cache, fork_live[id][i]);
		fork_live[id][i] = NULL;
	}
	free_pages(alloc_pages(GFP_KERNEL, 1), 1);
	pthread_barrier_wait(&fork_ready);
	pthread_barrier_wait(&fork_release);
	return NULL;
}

static unsigned long live_fork_objects(void)
{
	unsigned long n = 0;

	for (int t = 0; t < FORK_THREADS; t++)
		for (int i = 0; i < FORK_OBJS; i += 2)
			n += fork_live[t][i] != NULL;
	return n;
}

/* In the child: what went wrong, on the pipe; exit status 0 if nothing did. */
static void fork_child_checks(int fd)
{
	struct kslub_cache_info info;
	char msg[256] = "";
	void *p[5000];

	kslub_flush_thread();
	kslub_cache_info(fork_cache, &info);
	if (info.cpu_slabs)
		snprintf(msg, sizeof(msg), "the child sees %lu cpu slabs of the threads that did not fork",
			 info.cpu_slabs);
	else if (info.active_objs != live_fork_objects())
		snprintf(msg, sizeof(msg), "the child counts %lu live objects, the threads held %lu",
			 info.active_objs, live_fork_objects());
	if (!msg[0]) {
		for (int i = 0; i < 5000; i++) {
			p[i] = kmem_cache_alloc(fork_cache, GFP_KERNEL);
			if (!p[i]) {
				snprintf(msg, sizeof(msg), "allocation %d failed in the child", i);
				break;
			}
		}
		for (int i = 0; i < 5000 && p[i]; i++)
			kmem_cache_free(fork_cache, p[i]);
		/* the objects the other threads had are the child's to free */
		for (int t = 0; t < FORK_THREADS; t++) {
			for (int i = 0; i < FORK_OBJS; i++) {
				if (!fork_live[t][i])
					continue;
				if (i % 2)
					kfree(fork_live[t][i]);
				else
					kmem_cache_free(fork_cache, fork_live[t][i]);
			}
		}
		kslub_cache_info(fork_cache, &info);
		if (info.active_objs)
			snprintf(msg, sizeof(msg), "%lu objects active in the child after freeing all", info.active_objs);
		else if (kslub_validate_slab_cache(fork_cache))
			snprintf(msg, sizeof(msg), "the cache is inconsistent in the child");
	}
	if (msg[0] && write(fd, msg, strlen(msg)) < 0)
		_exit(2);
	_exit(msg[0] ? 1 : 0);
}

Test(threads, a_fork_child_reclaims_the_slabs_of_threads_that_did_not_come_along, .timeout = 60)
{
	pthread_t t[FORK_THREADS];
	char msg[257];
	int fds[2], status;
	ssize_t n;
	pid_t pid;

	fork_cache = kmem_cache_create("test_fork", 80, 0, 0, NULL);
	cr_assert_not_null(fork_cache);
	pthread_barrier_init(&fork_ready, NULL, FORK_THREADS + 1);
	pthread_barrier_init(&fork_release, NULL, FORK_THREADS + 1);
	for (int i = 0; i < FORK_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, slab_holder, (void *)(uintptr_t)i), 0);
	pthread_barrier_wait(&fork_ready);
	cr_assert_str_empty(failure, "%s", failure);
	cr_assert_eq(pipe(fds), 0);
	pid = fork();
	cr_assert_neq(pid, -1);
	if (pid == 0) {
		close(fds[0]);
		fork_child_checks(fds[1]);
	}
	close(fds[1]);
	n = read(fds[0], msg, sizeof(msg) - 1);
	msg[n > 0 ? n : 0] = '\0';
	close(fds[0]);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status), "the fork child died (status %#x)", status);
	cr_assert_eq(WEXITSTATUS(status), 0, "fork child: %s", msg);

	/* the parent is untouched by all that */
	pthread_barrier_wait(&fork_release);
	for (int i = 0; i < FORK_THREADS; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(cache_info(fork_cache).active_objs, live_fork_objects());
	for (int th = 0; th < FORK_THREADS; th++) {
		for (int i = 0; i < FORK_OBJS; i++) {
			if (!fork_live[th][i])
				continue;
			if (i % 2)
				kfree(fork_live[th][i]);
			else
				kmem_cache_free(fork_cache, fork_live[th][i]);
		}
	}
	cr_assert_eq(cache_info(fork_cache).active_objs, 0);
	validate(fork_cache);
	kmem_cache_destroy(fork_cache);
}

/* A destructor of a key made after kslub's runs after kslub has flushed the
 * thread: the thread is dead to kslub but may still allocate and free. */
#define LATE_OBJS 500

static pthread_key_t late_key;
static struct kmem_cache *late_cache;
static void *late_kept[LATE_OBJS];

static void late_destructor(void *arg)
{
	void *tmp[LATE_OBJS];

	(void)arg;
	for (int i = 0; i < LATE_OBJS; i++) {
		tmp[i] = kmem_cache_alloc(late_cache, GFP_KERNEL);
		late_kept[i] = kmalloc(100, GFP_KERNEL);
		if (!tmp[i] || !late_kept[i]) {
			fail("allocation %d in a late thread destructor failed", i);
			return;
		}
		memset(tmp[i], 0x33, 64);
		memset(late_kept[i], 0x44, 100);
	}
	for (int i = 0; i < LATE_OBJS; i++)
		kmem_cache_free(late_cache, tmp[i]);
}

static void *late_thread(void *arg)
{
	(void)arg;
	kfree(kmalloc(100, GFP_KERNEL));
	pthread_setspecific(late_key, (void *)1);
	return NULL;
}

Test(threads, thread_destructors_after_kslubs_can_still_allocate_and_free, .timeout = 60)
{
	struct kmem_cache *k128 = kslub_kmalloc_cache(100);
	unsigned long before;
	pthread_t t;

	late_cache = kmem_cache_create("test_late", 64, 0, 0, NULL);
	cr_assert_not_null(late_cache);
	before = cache_info(k128).active_objs;
	cr_assert_eq(pthread_key_create(&late_key, late_destructor), 0);
	cr_assert_eq(pthread_create(&t, NULL, late_thread, NULL), 0);
	pthread_join(t, NULL);
	cr_assert_str_empty(failure, "%s", failure);
	kslub_flush_thread();
	cr_assert_eq(cache_info(late_cache).active_objs, 0);
	cr_assert_eq(cache_info(late_cache).cpu_slabs, 0, "the exited thread left cpu slabs of test_late");
	cr_assert_eq(cache_info(k128).active_objs, before + LATE_OBJS, "%d objects kept, %lu counted", LATE_OBJS,
		     cache_info(k128).active_objs - before);
	validate(late_cache);
	validate(k128);
	for (int i = 0; i < LATE_OBJS; i++) {
		for (int j = 0; j < 100; j++)
			cr_assert_eq(((unsigned char *)late_kept[i])[j], 0x44, "object %d overwritten", i);
		kfree(late_kept[i]);
	}
	cr_assert_eq(cache_info(k128).active_objs, before);
	validate(k128);
	pthread_key_delete(late_key);
	kmem_cache_destroy(late_cache);
}

/* ---- fork while other threads allocate -------------------------------------------------- */

/* The child of a fork reclaims the state of the threads that did not come
 * along: their kmem_cache_cpu slots and page lists, as they were at the fork,
 * which can be in the middle of a change.  Two threads here move slabs
 * through those states all the time (objects freed by the other thread, two
 * objects a slab), and the main thread forks until a child fails or enough
 * have passed.  Only some forks land in a window, so there are many. */
#define BUSY_THREADS 2
#define FORKS 1000
#define BUSY_SLOTS 256
#define BUSY_OBJ 1800

static volatile int busy_stop;
static struct kmem_cache *busy_cache;
static void *busy_slots[BUSY_SLOTS];

static void busy_tunables(void)
{
	setenv("KSLUB_MAX_ORDER", "0", 1);	/* two objects a slab: slabs change state often */
}

static void *busy_thread(void *arg)
{
	unsigned long state = 99 + (uintptr_t)arg;
	void *pages[4] = { NULL };
	unsigned int n = 0;

	while (!busy_stop) {
		unsigned long r = lcg(&state);
		void *o = (r & 1) ? kmem_cache_alloc(busy_cache, GFP_KERNEL) : kmalloc(1500 + r % 500, GFP_KERNEL);
		int j = (int)(n++ & 3);

		if (!o) {
			fail("allocation failed in a busy thread");
			break;
		}
		/* half the frees are of the other thread's objects; kfree takes
		 * objects of any cache, as in the kernel */
		kfree(__atomic_exchange_n(&busy_slots[(r >> 8) % BUSY_SLOTS], o, __ATOMIC_ACQ_REL));
		/* and the thread's page lists */
		if (pages[j])
			free_pages(pages[j], (unsigned int)(j & 1));
		pages[j] = alloc_pages(GFP_KERNEL, (unsigned int)(j & 1));
	}
	for (int j = 0; j < 4; j++)
		free_pages(pages[j], (unsigned int)(j & 1));
	return NULL;
}

static int busy_child(void)
{
	void *p[100];

	for (int i = 0; i < BUSY_SLOTS; i++)
		kfree(busy_slots[i]);
	for (int i = 0; i < 100; i++) {
		p[i] = i % 2 ? kmalloc(1500 + (size_t)i, GFP_KERNEL) : kmem_cache_alloc(busy_cache, GFP_KERNEL);
		if (!p[i])
			return 2;
		memset(p[i], 0x6b, 1500);
	}
	for (int i = 0; i < 100; i++)
		kfree(p[i]);
	free_pages(alloc_pages(GFP_KERNEL, 1), 1);
	kslub_flush_thread();
	if (kslub_validate_slab_cache(busy_cache) || kslub_validate_slab_cache(kslub_kmalloc_cache(2048)))
		return 3;
	return 0;
}

Test(threads, fork_while_other_threads_allocate_gives_a_working_child, .init = busy_tunables, .timeout = 120)
{
	pthread_t t[BUSY_THREADS];
	int forks = 0, status = 0;

	busy_cache = kmem_cache_create("test_busy", BUSY_OBJ, 0, 0, NULL);
	cr_assert_not_null(busy_cache);
	for (int i = 0; i < BUSY_THREADS; i++)
		cr_assert_eq(pthread_create(&t[i], NULL, busy_thread, (void *)(uintptr_t)i), 0);
	for (; forks < FORKS; forks++) {
		pid_t pid = fork();

		cr_assert_neq(pid, -1);
		if (pid == 0) {
			alarm(10);	/* a deadlocked child dies instead of hanging */
			_exit(busy_child());
		}
		cr_assert_eq(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			break;
	}
	busy_stop = 1;
	for (int i = 0; i < BUSY_THREADS; i++)
		pthread_join(t[i], NULL);
	cr_assert_eq(forks, FORKS,
		     "fork %d: the child %s %d (2: out of memory, 3: inconsistent cache; SIGSEGV or SIGALRM: it "
		     "found another thread's per-thread state torn, or a lock held)", forks,
		     WIFSIGNALED(status) ? "died of signal" : "exited with", WIFSIGNALED(status) ? WTERMSIG(status)
											   : WEXITSTATUS(status));
	cr_assert_str_empty(failure, "%s", failure);
	for (int i = 0; i < BUSY_SLOTS; i++)
		kfree(busy_slots[i]);
	cr_assert_eq(cache_info(busy_cache).active_objs, 0);
	validate(busy_cache);
	kmem_cache_destroy(busy_cache);
}

/* A thread's start costs kslub no system call of its own: its state comes
 * from the page allocator, and nothing asks the kernel the thread's id (a
 * gettid at each start was 1201 system calls in 1200 threads).  A filter
 * that kills the process at gettid shows one. */
static void *start_and_allocate(void *arg)
{
	void *p = kmalloc(64, GFP_KERNEL);

	kfree(p);
	return p ? arg : NULL;	/* arg: not NULL, and not the freed block */
}

Test(threads, a_thread_starts_without_asking_the_kernel_its_id, .timeout = 60)
{
	pthread_t t;
	void *ret;

	kfree(kmalloc(64, GFP_KERNEL));
	cr_assert_eq(seccomp_answer(SYS_gettid, SECCOMP_RET_KILL_PROCESS, false), 0, "no seccomp filter: %s",
		     strerror(errno));
	for (int i = 0; i < 8; i++) {
		cr_assert_eq(pthread_create(&t, NULL, start_and_allocate, &t), 0);
		cr_assert_eq(pthread_join(t, &ret), 0);
		cr_assert_not_null(ret, "thread %d got no memory", i);
	}
}
