/* SPDX-License-Identifier: MIT */
/*
 * nodes.h - what the machine says of its NUMA nodes, read by the tests
 * themselves rather than through topology_multi_node_hint, which some of
 * them check.
 */
#ifndef KSLUB_TEST_NODES_H
#define KSLUB_TEST_NODES_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

/* Whether /sys/devices/system/node/online lists more than one node ("0-1",
 * "0,2"); line (len bytes) gets the list, "0" where there is none. */
static inline bool sysfs_several_nodes(char *line, size_t len)
{
	FILE *f = fopen("/sys/devices/system/node/online", "r");

	snprintf(line, len, "0");
	if (f) {
		if (!fgets(line, (int)len, f))
			snprintf(line, len, "0");
		fclose(f);
	}
	return strpbrk(line, ",-") != NULL;
}

#endif
