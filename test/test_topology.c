/* SPDX-License-Identifier: MIT */
/*
 * test_topology.c - NUMA discovery (topology/topology.c) on its own, without
 * the rest of kslub: the cheap hint, loading hwloc with dlopen from a
 * synthetic topology and from the hand-written XML machine in test/data/
 * (four nodes, PUs k and k + 4 on node k, a latency matrix that is not
 * uniform), the cpu -> node map read through rseq or getcpu, the per-thread
 * override, binding, and the fallbacks to one node.
 *
 * Each case runs in a fresh child (test/child.h) whose environment is set
 * before the first call, since the topology is loaded once per process.  The
 * child checks, and exits non-zero with a message on stderr when a check
 * fails.  This program links libkslub_core without the malloc symbols, so
 * hwloc's allocations here are libc's.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "topology.h"
#include "child.h"

#define SYNTHETIC_4 "node:4 core:2 pu:1"
#define XML_4 "topology-4nodes.xml"
#define XML_GAP "topology-node-gap.xml"

/* The XML machine's distances, and the order of nodes they give. */
static const int xml_distance[4][4] = {
	{ 10, 40, 30, 20 },
	{ 40, 10, 20, 30 },
	{ 30, 20, 10, 20 },
	{ 20, 30, 20, 10 },
};
static const unsigned char xml_order[4][4] = {
	{ 0, 3, 2, 1 },
	{ 1, 2, 3, 0 },
	{ 2, 1, 3, 0 },		/* 1 and 3 both at 20: lower number first */
	{ 3, 0, 2, 1 },		/* 0 and 2 both at 20 */
};

/* ---- helpers, in the child ------------------------------------------------------ */

struct topo_child {
	void (*fn)(void);
	const char *synthetic, *xml, *verbose;
};

static void topo_child_main(void *arg)
{
	struct topo_child *a = arg;

	unsetenv("HWLOC_SYNTHETIC");
	unsetenv("HWLOC_XMLFILE");
	unsetenv("KSLUB_VERBOSE");
	if (a->synthetic)
		setenv("HWLOC_SYNTHETIC", a->synthetic, 1);
	if (a->xml)
		setenv("HWLOC_XMLFILE", a->xml, 1);
	if (a->verbose)
		setenv("KSLUB_VERBOSE", a->verbose, 1);
	a->fn();
}

static char child_out[16384], child_err[16384];

/* Run fn in a child with the given HWLOC_SYNTHETIC, HWLOC_XMLFILE and
 * KSLUB_VERBOSE (NULL: unset); the case fails with the child's stderr. */
static void run(void (*fn)(void), const char *synthetic, const char *xml, const char *verbose)
{
	struct topo_child a = { fn, synthetic, xml, verbose };
	int status;

	child_run(topo_child_main, &a, &status, child_out, sizeof(child_out), child_err, sizeof(child_err));
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %#x):\n%s%s", status,
		  child_err, child_out);
}

/* Does this machine have one node online, as the hint reads it? */
static bool machine_has_one_node(void)
{
	char buf[256] = "";
	FILE *f = fopen("/sys/devices/system/node/online", "r");
	bool one;

	if (!f)
		return true;
	one = !fgets(buf, sizeof(buf), f) || topology_count_node_list(buf, strlen(buf)) <= 1;
	fclose(f);
	return one;
}

/* The cases that load a topology need hwloc's header at build time. */
static void need_hwloc(void)
{
#ifndef HAVE_HWLOC
	cr_skip_test("built without hwloc");
#endif
}

/* Every query answers for one node. */
static void check_one_node(void)
{
	check(topology_nr_nodes() == 1, "%d nodes", topology_nr_nodes());
	check(topology_current_node() == 0, "on node %d", topology_current_node());
	check(topology_node_order(0)[0] == 0, "node 0's order starts at %d", topology_node_order(0)[0]);
	check(topology_node_distance(0, 0) == NODE_DISTANCE_LOCAL, "local distance %d", topology_node_distance(0, 0));
	check(topology_cpu_to_node(1) == 0, "cpu 1 on node %d", topology_cpu_to_node(1));
}

/* ---- the hint -------------------------------------------------------------------- */

Test(topology, node_lists_are_parsed_like_sysfs_writes_them)
{
	static const struct {
		const char *list;
		int nodes;
	} cases[] = {
		{ "0\n", 1 },	  { "0", 1 },	      { "0-3\n", 4 }, { "0,2-3\n", 3 }, { "1\n", 1 },
		{ "0-0\n", 1 }, { "0,2,4,6\n", 4 }, { "\n", 0 },    { "", 0 },	   { "0-1,8-9,63\n", 5 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		cr_expect_eq(topology_count_node_list(cases[i].list, strlen(cases[i].list)), cases[i].nodes,
			     "\"%s\": %d nodes, not %d", cases[i].list,
			     topology_count_node_list(cases[i].list, strlen(cases[i].list)), cases[i].nodes);
	/* the length bounds the parse: "0-3" cut after "0" */
	cr_expect_eq(topology_count_node_list("0-3", 1), 1);
}

static void one_node_machine_body(void)
{
	check(!topology_multi_node_hint(), "the hint says several nodes on a machine of one");
	check(!maps_have("libhwloc"), "libhwloc is mapped");
	check(!topology_hwloc_loaded(), "hwloc loaded");
	check_one_node();
	/* nothing to bind on one node */
	check(topology_bind(child_out, sizeof(child_out), 0) == 0, "bind failed");
}

Test(topology, one_node_machine_hint_is_false_and_hwloc_is_not_mapped)
{
	if (!machine_has_one_node())
		cr_skip_test("this machine has several NUMA nodes");
	run(one_node_machine_body, NULL, NULL, NULL);
}

Test(topology, empty_hwloc_variables_are_no_hint)
{
	if (!machine_has_one_node())
		cr_skip_test("this machine has several NUMA nodes");
	run(one_node_machine_body, "", "", NULL);
}

static void hint_only_body(void)
{
	check(topology_multi_node_hint(), "no hint");
	/* the hint alone loads nothing */
	check(!maps_have("libhwloc"), "libhwloc mapped by the hint");
	check_one_node();
}

Test(topology, hwloc_variables_are_a_hint_and_load_nothing)
{
	run(hint_only_body, SYNTHETIC_4, NULL, NULL);
	run(hint_only_body, NULL, "/some/topology.xml", NULL);
}

/* ---- synthetic ------------------------------------------------------------------ */

static void synthetic_body(void)
{
	char *p;

	check(topology_multi_node_hint(), "no hint");
	check(!maps_have("libhwloc"), "libhwloc mapped before topology_load");
	check(topology_load() == 4, "%d nodes", topology_nr_nodes());
	check(topology_nr_nodes() == 4, "%d nodes", topology_nr_nodes());
	check(topology_hwloc_loaded(), "hwloc not loaded");
	check(maps_have("libhwloc"), "libhwloc not in /proc/self/maps after topology_load");
	for (int n = 0; n < 4; n++) {
		const unsigned char *order = topology_node_order(n);
		bool seen[4] = { false };

		check(order[0] == n, "node %d's order starts at %d", n, order[0]);
		for (int i = 0; i < 4; i++) {
			check(order[i] < 4 && !seen[order[i]], "node %d's order has %d twice or out of range", n,
			      order[i]);
			seen[order[i]] = true;
		}
		/* a synthetic topology has no distances: the kernel's defaults */
		for (int m = 0; m < 4; m++)
			check(topology_node_distance(n, m) == (n == m ? NODE_DISTANCE_LOCAL : NODE_DISTANCE_REMOTE),
			      "distance %d -> %d is %d", n, m, topology_node_distance(n, m));
		/* all at 20: the others by number */
		for (int i = 2; i < 4; i++)
			check(order[i - 1] < order[i], "node %d's order is not by number at equal distances", n);
	}
	/* core:2 pu:1 under each node: PUs 2n and 2n + 1 are node n's */
	for (int cpu = 0; cpu < 8; cpu++)
		check(topology_cpu_to_node(cpu) == cpu / 2, "cpu %d on node %d", cpu, topology_cpu_to_node(cpu));
	check(topology_cpu_to_node(8) == 0 && topology_cpu_to_node(-1) == 0 && topology_cpu_to_node(1 << 30) == 0,
	      "unknown cpus not on node 0");
	/* once: the second call answers the same without loading again */
	check(topology_load() == 4, "second load gave %d", topology_nr_nodes());

	/* not this machine: binding does nothing and succeeds */
	p = mmap(NULL, 4 * 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	check(p != MAP_FAILED, "mmap");
	for (int n = 0; n < 4; n++)
		check(topology_bind(p + n * 4096, 4096, n) == 0, "bind to node %d of a synthetic topology failed", n);
	memset(p, 1, 4 * 4096);
	munmap(p, 4 * 4096);
}

Test(topology, synthetic_four_nodes)
{
	need_hwloc();
	run(synthetic_body, SYNTHETIC_4, NULL, NULL);
}

static void *load_in_thread(void *arg)
{
	(void)arg;
	return (void *)(long)topology_load();
}

static void concurrent_load_body(void)
{
	pthread_t t[4];

	for (int i = 0; i < 4; i++)
		check(pthread_create(&t[i], NULL, load_in_thread, NULL) == 0, "pthread_create");
	for (int i = 0; i < 4; i++) {
		void *ret;

		pthread_join(t[i], &ret);
		check((long)ret == 4, "a thread's topology_load gave %ld", (long)ret);
	}
	check(topology_nr_nodes() == 4, "%d nodes", topology_nr_nodes());
}

Test(topology, threads_loading_at_once_get_one_answer)
{
	need_hwloc();
	run(concurrent_load_body, SYNTHETIC_4, NULL, NULL);
}

/* ---- XML: distances, node order, cpu -> node ---------------------------------------- */

static void xml_body(void)
{
	check(topology_multi_node_hint(), "no hint");
	check(topology_load() == 4, "%d nodes from %s", topology_nr_nodes(), getenv("HWLOC_XMLFILE"));
	for (int n = 0; n < 4; n++) {
		const unsigned char *order = topology_node_order(n);

		for (int m = 0; m < 4; m++)
			check(topology_node_distance(n, m) == xml_distance[n][m], "distance %d -> %d is %d, not %d", n,
			      m, topology_node_distance(n, m), xml_distance[n][m]);
		for (int i = 0; i < 4; i++)
			check(order[i] == xml_order[n][i], "node %d's order: %d %d %d %d", n, order[0], order[1],
			      order[2], order[3]);
	}
	/* out of range: the defaults, never a read past the table */
	check(topology_node_distance(0, 4) == NODE_DISTANCE_REMOTE, "distance to node 4");
	check(topology_node_distance(-1, -1) == NODE_DISTANCE_LOCAL, "distance of node -1");
	/* PUs k and k + 4 on node k */
	for (int cpu = 0; cpu < 8; cpu++)
		check(topology_cpu_to_node(cpu) == cpu % 4, "cpu %d on node %d", cpu, topology_cpu_to_node(cpu));
}

Test(topology, xml_distances_give_the_node_order)
{
	need_hwloc();
	run(xml_body, NULL, data_file(XML_4), NULL);
}

/* The node of the CPU the thread runs on: pinned to each CPU of this machine
 * that the XML machine has, the thread must find the XML's node of it. */
static void current_node_body(void)
{
	cpu_set_t allowed;
	int tried = 0;

	check(topology_load() == 4, "%d nodes", topology_nr_nodes());
	check(sched_getaffinity(0, sizeof(allowed), &allowed) == 0, "sched_getaffinity");
	for (int cpu = 0; cpu < 8; cpu++) {
		cpu_set_t one;

		if (!CPU_ISSET(cpu, &allowed))
			continue;
		CPU_ZERO(&one);
		CPU_SET(cpu, &one);
		check(sched_setaffinity(0, sizeof(one), &one) == 0, "pin to cpu %d", cpu);
		sched_yield();
		check(sched_getcpu() == cpu, "pinned to %d, running on %d", cpu, sched_getcpu());
		check(topology_current_node() == cpu % 4, "on cpu %d: node %d, not %d", cpu, topology_current_node(),
		      cpu % 4);
		tried++;
	}
	check(tried > 0, "no CPU below 8 to run on");
	sched_setaffinity(0, sizeof(allowed), &allowed);
}

Test(topology, current_node_is_the_node_of_the_cpu)
{
	need_hwloc();
	run(current_node_body, NULL, data_file(XML_4), NULL);
}

static void *override_in_thread(void *arg)
{
	(void)arg;
	/* the override is the calling thread's alone */
	return (void *)(long)(topology_current_node() == 3);
}

static void override_body(void)
{
	pthread_t t;
	void *other_saw_3;
	cpu_set_t one;

	/* one node: the override still answers (the core may ask before load) */
	topology_set_thread_node(2);
	check(topology_current_node() == 2, "override 2 gave %d", topology_current_node());
	topology_set_thread_node(-1);
	check(topology_current_node() == 0, "after -1 on one node: %d", topology_current_node());

	check(topology_load() == 4, "%d nodes", topology_nr_nodes());
	CPU_ZERO(&one);
	CPU_SET(1, &one);
	if (sched_setaffinity(0, sizeof(one), &one) != 0) {
		CPU_ZERO(&one);
		CPU_SET(0, &one);
		check(sched_setaffinity(0, sizeof(one), &one) == 0, "pin");
	}
	sched_yield();
	for (int n = 0; n < 4; n++) {
		topology_set_thread_node(n);
		check(topology_current_node() == n, "override %d gave %d", n, topology_current_node());
	}
	topology_set_thread_node(3);
	check(pthread_create(&t, NULL, override_in_thread, NULL) == 0, "pthread_create");
	pthread_join(t, &other_saw_3);
	check(!other_saw_3, "another thread sees this thread's override");
	topology_set_thread_node(-1);
	check(topology_current_node() == (sched_getcpu() < 8 ? sched_getcpu() % 4 : 0), "after -1: node %d on cpu %d",
	      topology_current_node(), sched_getcpu());
}

Test(topology, thread_override_and_back)
{
	need_hwloc();
	run(override_body, NULL, data_file(XML_4), NULL);
}

/* Kernel nodes 0 and 2: kslub's 0 and 1, by hwloc's logical index. */
static void node_gap_body(void)
{
	check(topology_load() == 2, "%d nodes", topology_nr_nodes());
	check(topology_node_distance(0, 1) == 21 && topology_node_distance(1, 0) == 21, "distances %d %d",
	      topology_node_distance(0, 1), topology_node_distance(1, 0));
	check(topology_node_order(1)[0] == 1 && topology_node_order(1)[1] == 0, "node 1's order");
	for (int cpu = 0; cpu < 4; cpu++)
		check(topology_cpu_to_node(cpu) == cpu / 2, "cpu %d on node %d", cpu, topology_cpu_to_node(cpu));
	check(topology_bind(child_out, 4096, 1) == 0, "bind of an XML topology failed");
}

Test(topology, nodes_numbered_with_a_gap_are_renumbered)
{
	need_hwloc();
	run(node_gap_body, NULL, data_file(XML_GAP), NULL);
}

/* ---- failures: one node, quietly --------------------------------------------------- */

static void bad_xml_body(void)
{
	check(topology_multi_node_hint(), "no hint");
	check(topology_load() == 1, "%d nodes from a missing XML file", topology_nr_nodes());
	check(topology_load() == 1, "second load: %d nodes", topology_nr_nodes());
	check_one_node();
	check(topology_bind(child_out, 4096, 0) == 0, "bind on one node failed");
}

Test(topology, missing_xml_file_is_one_node_without_a_word)
{
	run(bad_xml_body, NULL, "/nonexistent", NULL);
	cr_expect_str_empty(child_err, "stderr: %s", child_err);
}

Test(topology, bad_synthetic_description_is_one_node)
{
	run(bad_xml_body, "node:4 gizmo:2", NULL, NULL);
	cr_expect_str_empty(child_err, "stderr: %s", child_err);
}

Test(topology, missing_xml_file_with_verbose_is_one_line)
{
	char *nl;

	run(bad_xml_body, NULL, "/nonexistent", "1");
#ifdef HAVE_HWLOC
	cr_assert(strncmp(child_err, "kslub: topology: ", 17) == 0, "stderr: %s", child_err);
	nl = strchr(child_err, '\n');
	cr_assert(nl && nl[1] == '\0', "not one line: %s", child_err);
#else
	(void)nl;
#endif
}

/* HWLOC_THISSYSTEM=1 makes hwloc take the XML machine for this one, whose
 * kernel has no node 1 (or 2) to bind memory to: the check at load fails and
 * kslub runs as one node rather than on nodes it cannot place memory on. */
static void unbindable_body(void)
{
	setenv("HWLOC_THISSYSTEM", "1", 1);
	check(topology_load() == 1, "%d nodes, with binding impossible", topology_nr_nodes());
	check_one_node();
}

Test(topology, this_system_nodes_that_cannot_be_bound_are_one_node)
{
	need_hwloc();
	if (!machine_has_one_node())
		cr_skip_test("this machine has several NUMA nodes");
	run(unbindable_body, NULL, data_file(XML_4), NULL);
	run(unbindable_body, NULL, data_file(XML_GAP), NULL);
	cr_expect_str_empty(child_err, "stderr: %s", child_err);
	run(unbindable_body, NULL, data_file(XML_4), "1");
	cr_expect(strstr(child_err, "mbind") != NULL, "verbose does not say why: %s", child_err);
}
