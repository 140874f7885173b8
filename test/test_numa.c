/* SPDX-License-Identifier: MIT */
/*
 * test_numa.c - kslub on several NUMA nodes, on a machine of one: hwloc's
 * synthetic and XML topologies give kslub its nodes, and the test-only
 * topology_set_thread_node() says which node the calling thread runs on.
 *
 * Each case runs in a fresh child (test/child.h) whose environment is set
 * before kslub's first call, since the nodes come online at start.  The child
 * checks, and exits non-zero with a message on stderr when a check fails:
 * objects allocated "on" a node come from that node's zone and go to its
 * partial lists; a thread moved to another node takes slabs and pages from
 * it; a free from another node returns the object to its own slab and node;
 * an empty node borrows from the nearest node first; KSLUB_NUMA=0 and a
 * one-node machine never load hwloc; the report has every node.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slub.h"
#include "topology.h"
#include "child.h"
#include "nodes.h"

#define SYNTHETIC_4 "node:4 core:2 pu:1"
#define NR_OBJS 2000

/* ---- helpers, in the child ------------------------------------------------------ */

static void set_env(const char *synthetic, const char *xml, const char *numa)
{
	unsetenv("HWLOC_SYNTHETIC");
	unsetenv("HWLOC_XMLFILE");
	unsetenv("KSLUB_NUMA");
	if (synthetic)
		setenv("HWLOC_SYNTHETIC", synthetic, 1);
	if (xml)
		setenv("HWLOC_XMLFILE", xml, 1);
	if (numa)
		setenv("KSLUB_NUMA", numa, 1);
}

static int obj_node(const void *p)
{
	return slab_nid(virt_to_slab(p));
}

static int zone_node_of(const void *p)
{
	return page_arena(virt_to_page(p))->zone->node;
}

static unsigned long node_partial(struct kmem_cache *s, int node)
{
	struct kslub_cache_info info;
	unsigned long partial[MAX_NUMNODES] = { 0 };

	kslub_cache_count(s, &info, partial);
	return partial[node];
}

struct numa_child {
	void (*fn)(void);
	const char *synthetic, *xml, *numa;
};

static void numa_child_main(void *arg)
{
	struct numa_child *a = arg;

	set_env(a->synthetic, a->xml, a->numa);
	a->fn();
}

/* Run fn in a child whose HWLOC_SYNTHETIC, HWLOC_XMLFILE and KSLUB_NUMA are
 * the given ones (NULL: unset); the case fails with the child's stderr. */
static void run(void (*fn)(void), const char *synthetic, const char *xml, const char *numa)
{
	struct numa_child a = { fn, synthetic, xml, numa };
	static char out[16384], err[16384];
	int status;

	child_run(numa_child_main, &a, &status, out, sizeof(out), err, sizeof(err));
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %#x):\n%s%s", status,
		  err, out);
}

/* kslub's first call, then the node count it came up with. */
static int start(void)
{
	kslub_kfree(kslub_kmalloc(1, KSLUB_GFP_KERNEL));
	return kslub_nr_node_ids;
}

/* ---- nodes come online ------------------------------------------------------------ */

static void four_nodes_body(void)
{
	check(start() == 4, "%d nodes", kslub_nr_node_ids);
	check(topology_hwloc_loaded(), "hwloc not loaded");
	for (int n = 0; n < 4; n++) {
		unsigned long nr_free[KSLUB_MAX_ORDER];

		check(kslub_zones[n] && kslub_zones[n]->node == n, "zone %d", n);
		check(kslub_buddyinfo(n, nr_free) == KSLUB_MAX_ORDER, "buddyinfo of node %d", n);
		check(kslub_kmalloc_cache(64)->node[n], "kmalloc-64 has no kmem_cache_node %d", n);
	}
	/* no inline push to a sheaf, whose objects must be of one node: every
	 * free goes by free_to_pcs, which looks at the object's node */
	for (size_t size = 16; size <= 8192; size *= 2) {
		struct kmem_cache *s = kslub_kmalloc_cache(size);

		check(s->sheaf_push_max == 0 && s->sheaf_push_cap == 0, "%s: inline push bounds %u and %u",
		      s->name, s->sheaf_push_max, s->sheaf_push_cap);
	}
}

Test(numa, synthetic_topology_gives_four_nodes)
{
	run(four_nodes_body, SYNTHETIC_4, NULL, NULL);
}

static void numa_off_body(void)
{
	check(start() == 1, "%d nodes with KSLUB_NUMA=0", kslub_nr_node_ids);
	check(!topology_hwloc_loaded() && !maps_have("libhwloc"), "hwloc loaded with KSLUB_NUMA=0");
}

Test(numa, numa_off_is_one_node_without_hwloc)
{
	run(numa_off_body, SYNTHETIC_4, NULL, "0");
}

static void one_node_body(void)
{
	check(start() == 1, "%d nodes", kslub_nr_node_ids);
	check(!maps_have("libhwloc"), "libhwloc is mapped on a machine of one node");
	/* one node: a thread frees inline to its sheaf, up to the capacity
	 * when it allocates from the cache too */
	check(kslub_kmalloc_cache(64)->sheaf_push_cap == kslub_kmalloc_cache(64)->sheaf_capacity &&
		      kslub_kmalloc_cache(8192)->sheaf_push_max == 2,
	      "push bounds %u and %u", kslub_kmalloc_cache(64)->sheaf_push_cap,
	      kslub_kmalloc_cache(8192)->sheaf_push_max);
	check(kslub_current_node() == 0, "node %d", kslub_current_node());
}

Test(numa, one_node_machine_never_loads_hwloc)
{
	char line[64];

	if (sysfs_several_nodes(line, sizeof(line)))
		cr_skip_test("this machine has several nodes: %s", line);
	run(one_node_body, NULL, NULL, NULL);
}

static void bad_xml_body(void)
{
	check(start() == 1, "%d nodes from a missing XML file", kslub_nr_node_ids);
	kslub_kfree(kslub_kmalloc(100, KSLUB_GFP_KERNEL));
}

Test(numa, broken_topology_is_one_node)
{
	run(bad_xml_body, NULL, "/nonexistent/topology.xml", NULL);
}

/* ---- allocations follow the node ----------------------------------------------------- */

/* Objects allocated on each node in turn come from that node's slabs and
 * zone, once the thread's cpu slab of the old node is used up: the last
 * half of each batch must all be local. */
static void follow_node_body(void)
{
	static void *p[4][NR_OBJS];

	check(start() == 4, "%d nodes", kslub_nr_node_ids);
	for (int n = 0; n < 4; n++) {
		topology_set_thread_node(n);
		for (int i = 0; i < NR_OBJS; i++) {
			p[n][i] = kslub_kmalloc(64, KSLUB_GFP_KERNEL);
			check(p[n][i], "out of memory");
		}
		for (int i = NR_OBJS / 2; i < NR_OBJS; i++) {
			check(obj_node(p[n][i]) == n, "object %d made on node %d is in a slab of node %d", i, n,
			      obj_node(p[n][i]));
			check(zone_node_of(p[n][i]) == n, "object %d made on node %d is in zone %d", i, n,
			      zone_node_of(p[n][i]));
		}
		check(kslub_current->node == n && kslub_current->pcp.node == n, "thread state says node %d/%d",
		      kslub_current->node, kslub_current->pcp.node);
	}
	/* pages too: a large block comes from the zone of the thread's node */
	topology_set_thread_node(2);
	void *big = kslub_kmalloc(64 * 1024, KSLUB_GFP_KERNEL);
	check(big && zone_node_of(big) == 2, "a 64 KiB block on node 2 is in zone %d", zone_node_of(big));
	void *pg = kslub_alloc_pages(KSLUB_GFP_KERNEL, 0);
	check(pg && zone_node_of(pg) == 2, "a page on node 2 is in zone %d", zone_node_of(pg));
	kslub_free_pages(pg, 0);
	kslub_kfree(big);
	for (int n = 0; n < 4; n++)
		for (int i = 0; i < NR_OBJS; i++)
			kslub_kfree(p[n][i]);
	check(kslub_validate_slab_cache(kslub_kmalloc_cache(64)) == 0, "kmalloc-64 is inconsistent");
}

Test(numa, allocations_follow_the_thread_node)
{
	run(follow_node_body, SYNTHETIC_4, NULL, NULL);
}

/* Slabs left partly free by a thread on node 1 go to node 1's partial list. */
static void partial_lists_body(void)
{
	static void *p[NR_OBJS];
	struct kmem_cache *s;

	check(start() == 4, "%d nodes", kslub_nr_node_ids);
	s = kslub_kmem_cache_create("numa-partial", 200, 0, 0, NULL);
	check(s, "no cache");
	topology_set_thread_node(1);
	for (int i = 0; i < NR_OBJS; i++)
		p[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
	for (int i = 0; i < NR_OBJS; i += 2)
		kslub_kmem_cache_free(s, p[i]);
	kslub_flush_thread();
	check(node_partial(s, 1) > 0, "node 1 has no partial slab");
	for (int n = 0; n < 4; n++)
		check(n == 1 || node_partial(s, n) == 0, "node %d has %lu partial slabs", n, node_partial(s, n));
	for (int i = 1; i < NR_OBJS; i += 2)
		kslub_kmem_cache_free(s, p[i]);
	check(kslub_validate_slab_cache(s) == 0, "cache inconsistent");
}

Test(numa, partial_lists_follow_the_node)
{
	run(partial_lists_body, SYNTHETIC_4, NULL, NULL);
}

/* On several nodes a sheaf that grows still takes no inline push: each
 * free goes by free_to_pcs, which keeps the sheaf to one node. */
static void grown_sheaf_body(void)
{
	static void *p[NR_OBJS];
	struct kmem_cache *s;
	struct kmem_cache_cpu *c;
	struct slab_sheaf *sheaf;

	check(start() == 4, "%d nodes", kslub_nr_node_ids);
	s = kslub_kmem_cache_create("numa-grow", 40, 0, 0, NULL);
	check(s && s->sheaf_capacity_max > s->sheaf_capacity, "no cache, or one whose sheaf does not grow");
	topology_set_thread_node(2);
	for (int i = 0; i < NR_OBJS; i++)
		p[i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
	for (int i = 0; i < NR_OBJS / 2; i++)
		kslub_kmem_cache_free(s, p[i]);
	c = this_cpu_ptr(s);
	sheaf = cpu_sheaf(c->sheaf);
	check(sheaf && sheaf->capacity == s->sheaf_capacity_max && sheaf->node == 2,
	      "sheaf %p of capacity %u on node %d", (void *)sheaf, sheaf ? sheaf->capacity : 0,
	      sheaf ? sheaf->node : -1);
	check(c->push_limit == 0, "a grown sheaf takes inline pushes up to %u", c->push_limit);
	check(kslub_validate_slab_cache(s) == 0, "cache inconsistent");
	for (int i = NR_OBJS / 2; i < NR_OBJS; i++)
		kslub_kmem_cache_free(s, p[i]);
	check(kslub_validate_slab_cache(s) == 0, "cache inconsistent");
}

Test(numa, a_grown_sheaf_takes_no_inline_push_on_several_nodes)
{
	run(grown_sheaf_body, SYNTHETIC_4, NULL, NULL);
}

/* A thread on node 3 frees what a thread on node 1 allocated: each object
 * goes back to its own slab, which stays on node 1's lists. */
struct remote {
	struct kmem_cache *s;
	void **p;
	unsigned long partial1;	/* node 1's partial slabs, seen before the flush */
};

static void *remote_free_thread(void *arg)
{
	struct remote *r = arg;

	topology_set_thread_node(3);
	/* a live thread of its own, with cpu slabs and sheaves: what it frees
	 * of node 1 must still not stay with it */
	kslub_kmem_cache_free(r->s, kslub_kmem_cache_alloc(r->s, KSLUB_GFP_KERNEL));
	for (int i = 0; i < NR_OBJS; i += 2)
		kslub_kmem_cache_free(r->s, r->p[i]);
	r->partial1 = node_partial(r->s, 1);
	kslub_flush_thread();
	return NULL;
}

static void remote_free_body(void)
{
	static void *p[NR_OBJS];
	struct remote r = { NULL, p, 0 };
	struct kslub_cache_info info;
	pthread_t th;

	check(start() == 4, "%d nodes", kslub_nr_node_ids);
	r.s = kslub_kmem_cache_create("numa-remote", 96, 0, 0, NULL);
	topology_set_thread_node(1);
	for (int i = 0; i < NR_OBJS; i++) {
		p[i] = kslub_kmem_cache_alloc(r.s, KSLUB_GFP_KERNEL);
		check(p[i], "out of memory");
	}
	kslub_flush_thread();	/* every slab of ours is full, on no list */
	check(pthread_create(&th, NULL, remote_free_thread, &r) == 0, "pthread_create");
	pthread_join(th, NULL);
	check(r.partial1 > 0, "the frees from node 3 stayed with the freeing thread, not with node 1");
	check(node_partial(r.s, 1) > 0, "the slabs did not go back to node 1");
	check(node_partial(r.s, 3) == 0, "node 3 took %lu slabs of node 1", node_partial(r.s, 3));
	check(kslub_cache_info(r.s, &info) == 0 && info.active_objs == NR_OBJS / 2, "%lu objects in use",
	      info.active_objs);
	for (int i = 0; i < NR_OBJS; i += 2)
		check(obj_node(p[i]) == 1, "slab moved");
	check(kslub_validate_slab_cache(r.s) == 0, "cache inconsistent");
	/* the freed objects are allocated again on node 1 */
	for (int i = 0; i < NR_OBJS; i += 2) {
		p[i] = kslub_kmem_cache_alloc(r.s, KSLUB_GFP_KERNEL);
		check(p[i] && obj_node(p[i]) == 1, "an object of node 1 came from node %d", obj_node(p[i]));
	}
	check(node_partial(r.s, 1) == 0, "node 1 still has %lu partial slabs", node_partial(r.s, 1));
}

Test(numa, remote_frees_return_to_their_node)
{
	run(remote_free_body, SYNTHETIC_4, NULL, NULL);
}

/* A thread that moves gives up the cpu slab of its old node even when frees
 * by others wait on it (kernel: node_match in ___slab_alloc), and refills
 * from its new node's partial list. */
struct moved {
	struct kmem_cache *s;
	void **p;
	unsigned int n;
};

static void *free_some_thread(void *arg)
{
	struct moved *m = arg;

	for (unsigned int i = 0; i < m->n; i += 2)	/* frees only: no state of its own */
		kslub_kmem_cache_free(m->s, m->p[i]);
	return NULL;
}

static void moved_body(void)
{
	static void *a[4096], *b[4096];
	struct kslub_cache_info info;
	struct moved m = { NULL, b, 0 };
	pthread_t th;
	void *q;

	check(start() == 4, "%d nodes", kslub_nr_node_ids);
	m.s = kslub_kmem_cache_create("numa-moved", 256, 0, 0, NULL);
	check(m.s && kslub_cache_info(m.s, &info) == 0, "cache");
	m.n = info.objs_per_slab;
	/* slab A: full, of node 2 */
	topology_set_thread_node(2);
	for (unsigned int i = 0; i < m.n; i++)
		check((a[i] = kslub_kmem_cache_alloc(m.s, KSLUB_GFP_KERNEL)) && obj_node(a[i]) == 2, "node 2");
	/* slab B: full, of node 0, the cpu slab */
	topology_set_thread_node(0);
	for (unsigned int i = 0; i < m.n; i++)
		check((b[i] = kslub_kmem_cache_alloc(m.s, KSLUB_GFP_KERNEL)) && obj_node(b[i]) == 0, "node 0");
	/* A goes to node 2's partial list; half of B is freed by another thread */
	kslub_kmem_cache_free(m.s, a[0]);
	check(node_partial(m.s, 2) == 1, "slab A is not on node 2's list");
	check(pthread_create(&th, NULL, free_some_thread, &m) == 0, "pthread_create");
	pthread_join(th, NULL);
	topology_set_thread_node(2);
	q = kslub_kmem_cache_alloc(m.s, KSLUB_GFP_KERNEL);
	check(q && obj_node(q) == 2, "after the move to node 2 the refill took node %d's slab", obj_node(q));
	check(node_partial(m.s, 0) == 1, "the old cpu slab is not on node 0's list (%lu)", node_partial(m.s, 0));
	kslub_kmem_cache_free(m.s, q);
	for (unsigned int i = 1; i < m.n; i++)
		kslub_kmem_cache_free(m.s, a[i]);
	for (unsigned int i = 1; i < m.n; i += 2)
		kslub_kmem_cache_free(m.s, b[i]);
	check(kslub_validate_slab_cache(m.s) == 0, "cache inconsistent");
}

Test(numa, a_thread_that_moves_leaves_its_old_cpu_slab)
{
	run(moved_body, SYNTHETIC_4, NULL, NULL);
}

/* ---- get_any_partial goes by distance ------------------------------------------------ */

/* topology-4nodes.xml (test_topology's too): node 0 is at 20 from node 3,
 * 30 from node 2, 40 from node 1.  With partial slabs on nodes 1, 2 and 3
 * and none on node 0, a thread on node 0 takes node 3's first. */
static void distance_body(void)
{
	static void *p[4][64];
	struct kmem_cache *s;
	struct kslub_cache_info info;
	const unsigned char *order;

	check(start() == 4, "%d nodes from the XML topology", kslub_nr_node_ids);
	check(topology_node_distance(0, 3) == 20 && topology_node_distance(0, 1) == 40, "distances %d %d",
	      topology_node_distance(0, 3), topology_node_distance(0, 1));
	order = topology_node_order(0);
	check(order[0] == 0 && order[1] == 3 && order[2] == 2 && order[3] == 1, "order %d %d %d %d", order[0],
	      order[1], order[2], order[3]);
	s = kslub_kmem_cache_create("numa-distance", 1024, 0, 0, NULL);
	check(s && kslub_cache_info(s, &info) == 0 && info.objs_per_slab <= 64, "cache");
	/* one full slab on each of nodes 1, 2, 3 (a node that found a partial
	 * slab elsewhere would borrow it instead of making its own) */
	for (int n = 1; n < 4; n++) {
		topology_set_thread_node(n);
		for (unsigned int i = 0; i < info.objs_per_slab; i++) {
			p[n][i] = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
			check(p[n][i] && obj_node(p[n][i]) == n, "object of node %d", n);
		}
	}
	/* from node 0, one free to each: the slabs go to their own nodes' lists */
	topology_set_thread_node(0);
	check(kslub_current_node() == 0, "the thread is not on node 0");	/* as a refill would see */
	kslub_flush_thread();
	for (int n = 1; n < 4; n++) {
		kslub_kmem_cache_free(s, p[n][0]);
		check(node_partial(s, n) == 1, "node %d has %lu partial slabs", n, node_partial(s, n));
	}
	void *q = kslub_kmem_cache_alloc(s, KSLUB_GFP_KERNEL);
	check(q && obj_node(q) == 3, "node 0 borrowed from node %d, not the nearest (3)", obj_node(q));
	check(node_partial(s, 0) == 0, "a slab was made on node 0");
	kslub_kmem_cache_free(s, q);
	for (int n = 1; n < 4; n++)
		for (unsigned int i = 1; i < info.objs_per_slab; i++)
			kslub_kmem_cache_free(s, p[n][i]);
	check(kslub_validate_slab_cache(s) == 0, "cache inconsistent");
}

Test(numa, get_any_partial_takes_the_nearest_node_first)
{
	run(distance_body, NULL, data_file("topology-4nodes.xml"), NULL);
}

/* ---- the report ------------------------------------------------------------------------- */

static void report_body(void)
{
	char path[64], buf[65536];
	FILE *f;
	size_t len;

	check(start() == 4, "%d nodes", kslub_nr_node_ids);
	for (int n = 0; n < 4; n++) {
		topology_set_thread_node(n);
		for (int i = 0; i < 100; i++)
			check(kslub_kmalloc(128, KSLUB_GFP_KERNEL), "out of memory");
		kslub_flush_thread();
	}
	snprintf(path, sizeof(path), "/tmp/kslub-test-numa.%d", (int)getpid());
	check(kslub_write_slabinfo(path) == 0, "report not written");
	f = fopen(path, "r");
	check(f, "no report");
	len = fread(buf, 1, sizeof(buf) - 1, f);
	buf[len] = '\0';
	fclose(f);
	unlink(path);
	for (int n = 0; n < 4; n++) {
		char want[64];

		snprintf(want, sizeof(want), "Node %d, zone   Normal", n);
		check(strstr(buf, want), "no \"%s\" line in the report:\n%s", want, buf);
		snprintf(want, sizeof(want), " N%d=", n);
		check(strstr(buf, want), "no per-node partial figure N%d in the report", n);
	}
}

Test(numa, report_has_every_node)
{
	run(report_body, SYNTHETIC_4, NULL, NULL);
}
