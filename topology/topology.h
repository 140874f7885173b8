/* SPDX-License-Identifier: MIT */
/*
 * topology.h - what the core asks of the machine's NUMA layout.
 *
 * Two steps, so that a one-node machine never pays for hwloc:
 *
 *  - topology_multi_node_hint() is cheap and allocates nothing: it says
 *    whether there may be more than one node (HWLOC_SYNTHETIC or
 *    HWLOC_XMLFILE set, or more than one node online in sysfs).
 *  - topology_load() loads hwloc (dlopen: libkslub does not link it) and
 *    reads the nodes, the cpu -> node map and the distances.  It calls
 *    malloc, so the core calls it only once kslub serves malloc.  On any
 *    failure (no hwloc, a bad topology, memory that cannot be bound) it
 *    leaves one node and returns 1.
 *
 * Until topology_load() has returned, every query answers for one node.
 */
#ifndef KSLUB_TOPOLOGY_H
#define KSLUB_TOPOLOGY_H

#include <stdbool.h>
#include <stddef.h>

#define TOPOLOGY_MAX_NODES 64
#define NODE_DISTANCE_LOCAL  10	/* the kernel's LOCAL_DISTANCE */
#define NODE_DISTANCE_REMOTE 20	/* the kernel's REMOTE_DISTANCE, when hwloc has none */

/* May there be more than one node?  No allocation, no hwloc. */
bool topology_multi_node_hint(void);
/* The number of nodes a kernel node list such as "0,2-3\n" names (the
 * format of /sys/devices/system/node/online); the hint's parser, for tests. */
int topology_count_node_list(const char *list, size_t len);
/* Load the topology with hwloc; the number of nodes (1 .. TOPOLOGY_MAX_NODES). */
int topology_load(void);
/* Nodes known now (1 until topology_load() found more). */
int topology_nr_nodes(void);
/* Did topology_load() load libhwloc into the process? */
bool topology_hwloc_loaded(void);

/* The node of the CPU the calling thread runs on now, or the node set by
 * topology_set_thread_node() for this thread.  Cheap (rseq or getcpu and a
 * table); 0 on one node. */
int topology_current_node(void);
/* Test-only: pretend the calling thread runs on node (-1: stop pretending). */
void topology_set_thread_node(int node);
/* The node of a CPU by its OS number (the kernel's cpu_to_node); 0 for a CPU
 * the topology does not know, and on one node. */
int topology_cpu_to_node(int cpu);

/* Distance between two nodes as the firmware (hwloc) gives it; 10 on the
 * diagonal, 20 elsewhere when unknown. */
int topology_node_distance(int from, int to);
/* The nodes in order of distance from node, node itself first: an array of
 * topology_nr_nodes() entries (the kernel's zonelist order). */
const unsigned char *topology_node_order(int node);

/* Bind [addr, addr + len) to node's memory (preferred policy).  0 when done
 * or when there is nothing to bind (one node, or a synthetic or XML topology
 * that is not this machine); -1 with errno when the kernel refused. */
int topology_bind(void *addr, size_t len, int node);

#endif
