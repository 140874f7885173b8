/* SPDX-License-Identifier: MIT */
/*
 * init.c - starting kslub, and the life of a thread's state.
 *
 * Start (kslub_init_slow) runs once, on the first call from any thread,
 * without libc malloc: options, topology, zones, the starting thread's state,
 * kmem_cache_init (the boot caches and bootstrap()), the kmalloc caches.
 * Other threads that arrive meanwhile wait; a call back into kslub from the
 * starting thread itself is an internal error, reported and aborted.
 *
 * A thread's state (struct kslub_thread: its kmem_cache_cpu slots and page
 * lists) is made on its first slow path and reached through one
 * initial-exec TLS pointer, which starts at a shared empty state whose
 * freelists are all NULL, so the fast paths need no test for it.  At thread
 * exit a pthread key destructor flushes the slots and page lists to the nodes
 * and points the thread at the dead state, whose allocations take single
 * objects from the node lists; the flushed state is kept for the next new
 * thread (a few of them, given back by kslub_trim).
 *
 * fork: the prepare handler takes every lock in the documented order (see
 * slub.c); parent and child release them; the child then reclaims the state
 * of the threads that did not come along.
 */
#include "slub.h"
#include "topology.h"

#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

int kslub_initialized;
int kslub_nr_node_ids = 1;
int kslub_node_slots = 1;
struct kslub_thread kslub_thread_empty;
/* in .bss, set at start: an initialiser would put its 17 KB in .data,
 * pages of the library file that the loader makes resident */
static struct kslub_thread kslub_thread_dead;
__thread struct kslub_thread *kslub_current __attribute__((tls_model("initial-exec"))) = &kslub_thread_empty;

struct list_head kslub_threads = LIST_HEAD_INIT(kslub_threads);
kslub_lock_t kslub_threads_lock = KSLUB_LOCK_INIT;

static pthread_key_t thread_key;
static int init_state;		/* 0 not started, 1 starting, 2 done */
/* Set in the thread that starts kslub while it does: its own calls into
 * the allocator meanwhile go on, where other threads wait. */
static __thread bool kslub_starting __attribute__((tls_model("initial-exec")));

/* A thread that runs on another node now takes its pages from that node: its
 * page lists, which hold the old node's pages, go back to the old zone. */
static noinline void thread_moved(struct kslub_thread *t, int node)
{
	drain_thread_pages(t);
	t->pcp.node = node;
	WRITE_ONCE(t->node, node);
}

/* The node of the CPU the calling thread runs on now (kernel: numa_node_id).
 * One test of a global on a machine of one node. */
int kslub_current_node(void)
{
	struct kslub_thread *t;
	int node;

	if (likely(READ_ONCE(kslub_nr_node_ids) == 1))
		return 0;
	node = topology_current_node();
	if ((unsigned int)node >= (unsigned int)READ_ONCE(kslub_nr_node_ids))
		node = 0;
	t = kslub_current;
	if (t->state == THREAD_LIVE && unlikely(node != t->node))
		thread_moved(t, node);
	return node;
}

/* ---- NUMA nodes ---------------------------------------------------------------- */
/* kslub starts as one node, without hwloc: loading it costs more than a small
 * program's whole run, and it calls malloc.  Once malloc works, and only when
 * the machine (or HWLOC_SYNTHETIC / HWLOC_XMLFILE) may have more nodes, the
 * topology is loaded and the other nodes come online the way memory hotplug
 * brings a node online in the kernel: its zone, then a kmem_cache_node for
 * every cache, then the node count is published.  Readers loop over
 * kslub_nr_node_ids nodes, and every structure of a node exists before the
 * count covers it. */
static int numa_state;		/* 0 not yet, 1 done (whatever was found) */
static bool constructors_ran;

/* Every live thread's inline sheaf paths off, once nodes came online (under
 * the slab mutex): from then on frees and allocations reach the sheaves by
 * free_to_pcs and alloc_from_pcs, which keep each sheaf to one node. */
static void sheaf_limits_reset_all(void)
{
	struct kslub_thread *t;
	struct kmem_cache *s;

	spin_lock(&kslub_threads_lock);
	list_for_each_entry(t, &kslub_threads, list) {
		list_for_each_entry(s, &kslub_slab_caches, list) {
			struct kmem_cache_cpu *c = (struct kmem_cache_cpu *)((char *)t + s->cpu_offset);

			cpu_sheaf_limits_set(s, c, READ_ONCE(c->slab_addr) != 0);
		}
	}
	spin_unlock(&kslub_threads_lock);
}

static void kslub_numa_init(void)
{
	int nr;

	if (__atomic_exchange_n(&numa_state, 1, __ATOMIC_ACQ_REL))
		return;
	if (kslub_node_slots == 1)	/* KSLUB_NUMA=0, or no hint of more nodes */
		return;
	nr = topology_load();
	if (nr <= 1 || nr > kslub_node_slots)
		return;
	spin_lock(&kslub_slab_mutex);
	for (int node = kslub_nr_node_ids; node < nr; node++) {
		zone_create(node);
		if (kmem_cache_online_node(node))
			break;
		/* binding now: the memory already touched stays where it is */
		__atomic_store_n(&kslub_nr_node_ids, node + 1, __ATOMIC_RELEASE);
	}
	sheaf_limits_reset_all();
	spin_unlock(&kslub_slab_mutex);
	page_alloc_bind_arenas();
	if (kslub_opt(OPT_VERBOSE))
		kslub_dprintf(2, "kslub: %d NUMA nodes\n", kslub_nr_node_ids);
}

/* The library's constructor: by now libc and the dynamic linker are whole, so
 * hwloc can be loaded.  A process that has not called malloc yet loads it at
 * the end of its first call instead, and one that never calls malloc never
 * does. */
__attribute__((constructor)) static void kslub_constructor(void)
{
	__atomic_store_n(&constructors_ran, true, __ATOMIC_RELEASE);
	if (__atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE))
		kslub_numa_init();
}

static void thread_exit(void *arg);
static void fork_prepare(void);
static void fork_parent(void);
static void fork_child(void);
void kslub_slabinfo_at_exit(void);

noinline void kslub_init_slow(void)
{
	int expected = 0;

	if (!__atomic_compare_exchange_n(&init_state, &expected, 1, false, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) {
		/* the starting thread's own calls into the page allocator */
		if (kslub_starting)
			return;
		while (!__atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE))
			sched_yield();
		return;
	}
	kslub_starting = true;
	kslub_thread_dead.state = THREAD_DEAD;	/* before the thread key exists */

	kslub_options_init();
	kslub_nr_node_ids = 1;
	/* nodes may come online later (kslub_numa_init) only where the
	 * hint says there may be several: room for them in every cache */
	kslub_node_slots = kslub_opt(OPT_NUMA) && topology_multi_node_hint() ? MAX_NUMNODES : 1;
	page_alloc_init();
	if (pthread_key_create(&thread_key, thread_exit) != 0)
		kslub_fatal(NULL, NULL, "cannot create the thread key");
	if (kslub_thread_get()->state != THREAD_LIVE)
		kslub_fatal(NULL, NULL, "out of memory while starting");
	kmem_cache_init();
	create_kmalloc_caches();

	__atomic_store_n(&init_state, 2, __ATOMIC_RELEASE);
	__atomic_store_n(&kslub_initialized, 1, __ATOMIC_RELEASE);
	kslub_starting = false;
	/* may allocate: only once kslub works */
	pthread_setspecific(thread_key, kslub_current);
	pthread_atfork(fork_prepare, fork_parent, fork_child);
	if (__atomic_load_n(&constructors_ran, __ATOMIC_ACQUIRE))
		kslub_numa_init();
}

/* The states of exited threads, kept for the next threads (a CPU's per-cpu
 * data outlives the tasks that ran on it).  A flushed state's slots are all
 * empty again, with no cpu slab and no sheaf (their sheaf limits those of a
 * slot with no cpu slab), and its page lists are empty: the next
 * thread takes it without clearing 32 KiB or calling the page allocator.
 * Under kslub_threads_lock; kslub_trim gives them back. */
#define THREAD_STATES_KEPT 8
static struct list_head thread_states_free = LIST_HEAD_INIT(thread_states_free);
static int nr_thread_states_free;

static struct kslub_thread *thread_state_reuse(void)
{
	struct kslub_thread *t = NULL;

	if (!READ_ONCE(nr_thread_states_free))
		return NULL;
	spin_lock(&kslub_threads_lock);
	if (!list_empty(&thread_states_free)) {
		t = list_first_entry(&thread_states_free, struct kslub_thread, list);
		list_del(&t->list);
		WRITE_ONCE(nr_thread_states_free, nr_thread_states_free - 1);
	}
	spin_unlock(&kslub_threads_lock);
	if (t)
		memset(t->nr_single, 0, sizeof(t->nr_single));
	return t;
}

/* The calling thread's state, made if it has none.  A thread that cannot get
 * one (out of memory) goes on with the empty state, taking single objects. */
struct kslub_thread *kslub_thread_get(void)
{
	struct kslub_thread *t = kslub_current;
	struct page *page;
	bool zeroed;

	if (t->state != THREAD_EMPTY)
		return t;
	if (!__atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE) && !kslub_starting)
		kslub_init_slow();
	t = thread_state_reuse();
	if (!t) {
		page = alloc_pages_exact_node(-1, KSLUB_GFP_KERNEL, sizeof(struct kslub_thread), &zeroed);
		if (!page)
			return kslub_current;
		t = page_address(page);
		if (!zeroed)
			memset(t, 0, sizeof(*t));
		WRITE_ONCE(page->flags, PG_reserved);
		t->alloc_pages = (unsigned int)DIV_ROUND_UP(sizeof(*t), PAGE_SIZE);
	}
	t->node = kslub_current_node();
	t->pcp.high = (int)kslub_opt(OPT_PCP_HIGH);
	t->pcp.batch = (int)kslub_opt(OPT_PCP_BATCH);
	t->pcp.node = t->node;
	for (int o = 0; o < NR_PCP_ORDERS; o++)
		INIT_LIST_HEAD(&t->pcp.lists[o]);
	t->state = THREAD_LIVE;

	spin_lock(&kslub_threads_lock);
	list_add(&t->list, &kslub_threads);
	spin_unlock(&kslub_threads_lock);
	kslub_current = t;
	if (__atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE))
		pthread_setspecific(thread_key, t);
	return t;
}

/* Every slot (sheaves included) and the page lists of t back to the nodes.
 * The caller holds kslub_slab_mutex, so no cache comes or goes meanwhile,
 * and either kslub_threads_lock or t is off kslub_threads: a report reads
 * the sheaves of the threads on the list. */
void kslub_thread_flush(struct kslub_thread *t)
{
	struct kmem_cache *s;

	list_for_each_entry(s, &kslub_slab_caches, list) {
		struct kmem_cache_cpu *c = (struct kmem_cache_cpu *)((char *)t + s->cpu_offset);

		flush_cpu_slab(s, c);
		release_cpu_sheaf(s, c);
	}
	drain_thread_pages(t);
}

static void thread_release(struct kslub_thread *t)
{
	struct page *page = virt_to_page(t);

	WRITE_ONCE(page->flags, 0);
	free_pages_range(page, t->alloc_pages, true);
}

/* pthread key destructor: the thread is exiting. */
static void thread_exit(void *arg)
{
	struct kslub_thread *t = arg;

	if (!t || t->state != THREAD_LIVE || t != kslub_current)
		return;
	spin_lock(&kslub_slab_mutex);
	spin_lock(&kslub_threads_lock);
	list_del(&t->list);
	spin_unlock(&kslub_threads_lock);
	kslub_thread_flush(t);
	spin_unlock(&kslub_slab_mutex);
	/* from here on the thread takes single objects and frees to the nodes */
	kslub_current = &kslub_thread_dead;
	t->state = THREAD_DEAD;
	spin_lock(&kslub_threads_lock);
	if (nr_thread_states_free < THREAD_STATES_KEPT) {
		list_add(&t->list, &thread_states_free);
		WRITE_ONCE(nr_thread_states_free, nr_thread_states_free + 1);
		t = NULL;
	}
	spin_unlock(&kslub_threads_lock);
	if (t)
		thread_release(t);
}

/* The kept states of exited threads back to the page allocator. */
static void thread_states_release(void)
{
	struct kslub_thread *t, *tmp;
	struct list_head list = LIST_HEAD_INIT(list);

	spin_lock(&kslub_threads_lock);
	list_for_each_entry_safe(t, tmp, &thread_states_free, list) {
		list_del(&t->list);
		list_add(&t->list, &list);
	}
	WRITE_ONCE(nr_thread_states_free, 0);
	spin_unlock(&kslub_threads_lock);
	list_for_each_entry_safe(t, tmp, &list, list)
		thread_release(t);
}

KSLUB_API void kslub_flush_thread(void)
{
	struct kslub_thread *t = kslub_current;

	if (t->state != THREAD_LIVE)
		return;
	spin_lock(&kslub_slab_mutex);
	spin_lock(&kslub_threads_lock);
	kslub_thread_flush(t);
	spin_unlock(&kslub_threads_lock);
	spin_unlock(&kslub_slab_mutex);
}

KSLUB_API size_t kslub_trim(void)
{
	size_t freed, purged = 0;

	struct kmem_cache *s;

	kslub_ensure_init();
	kslub_flush_thread();
	thread_states_release();
	/* the empty slabs the node lists keep in reserve (min_partial) go too */
	spin_lock(&kslub_slab_mutex);
	list_for_each_entry(s, &kslub_slab_caches, list)
		purged += kmem_cache_shrink_locked(s);
	spin_unlock(&kslub_slab_mutex);
	freed = kmalloc_huge_trim();
	freed += page_alloc_trim();
	freed += purged;
	return freed;
}

/* ---- fork ------------------------------------------------------------------------ */
static void lock_all_nodes(void)
{
	struct kmem_cache *s;

	list_for_each_entry(s, &kslub_slab_caches, list)
		for (int node = 0; node < kslub_nr_node_ids; node++)
			spin_lock(&s->node[node]->list_lock);
}

static void unlock_all_nodes(bool reinit)
{
	struct kmem_cache *s;

	list_for_each_entry(s, &kslub_slab_caches, list)
		for (int node = 0; node < kslub_nr_node_ids; node++) {
			if (reinit)
				spin_lock_init(&s->node[node]->list_lock);
			else
				spin_unlock(&s->node[node]->list_lock);
		}
}

static void fork_prepare(void)
{
	spin_lock(&kslub_slab_mutex);
	spin_lock(&kslub_threads_lock);
	lock_all_nodes();
	zone_lock_all();
	spin_lock(&kslub_huge_cache_lock);
}

static void fork_parent(void)
{
	spin_unlock(&kslub_huge_cache_lock);
	zone_unlock_all();
	unlock_all_nodes(false);
	spin_unlock(&kslub_threads_lock);
	spin_unlock(&kslub_slab_mutex);
}

static void fork_child(void)
{
	struct kslub_thread *t, *tmp, *self = kslub_current;

	spin_lock_init(&kslub_huge_cache_lock);
	os_forked();
	zone_reinit_locks();
	unlock_all_nodes(true);
	spin_lock_init(&kslub_threads_lock);
	spin_lock_init(&kslub_slab_mutex);

	/* the other threads are gone: their slabs and pages are ours to give back */
	spin_lock(&kslub_slab_mutex);
	list_for_each_entry_safe(t, tmp, &kslub_threads, list) {
		if (t == self)
			continue;
		list_del(&t->list);
		/* freelists and slab states are whole at every instant; a page
		 * list caught in the middle of a change is left, pages and all */
		if (READ_ONCE(t->pcp.busy))
			t->pcp.count = 0;
		kslub_thread_flush(t);
		t->state = THREAD_DEAD;
		thread_release(t);
	}
	spin_unlock(&kslub_slab_mutex);
}

__attribute__((destructor)) static void kslub_exit(void)
{
	if (__atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE))
		kslub_slabinfo_at_exit();
}
