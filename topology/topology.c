/* SPDX-License-Identifier: MIT */
/*
 * topology.c - NUMA nodes as the core sees them.  One node until discovery
 * with hwloc is wired in: node 0 holds every CPU and all memory.
 */
#include "topology.h"

static const unsigned char node_order_one[1];

bool topology_multi_node_hint(void) { return false; }
int topology_load(void) { return 1; }
int topology_nr_nodes(void) { return 1; }
bool topology_hwloc_loaded(void) { return false; }
int topology_current_node(void) { return 0; }
void topology_set_thread_node(int node) { (void)node; }
int topology_node_distance(int from, int to) { return from == to ? NODE_DISTANCE_LOCAL : NODE_DISTANCE_REMOTE; }
const unsigned char *topology_node_order(int node) { (void)node; return node_order_one; }
int topology_bind(void *addr, size_t len, int node) { (void)addr; (void)len; (void)node; return 0; }
