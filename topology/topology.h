/* SPDX-License-Identifier: MIT */
/*
 * topology.h - what the core asks of the machine's NUMA layout.
 */
#ifndef KSLUB_TOPOLOGY_H
#define KSLUB_TOPOLOGY_H

/* Number of NUMA nodes kslub uses (at least 1). */
int topology_init(void);
/* The node of the CPU the calling thread runs on. */
int topology_current_node(void);

#endif
