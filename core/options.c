/* SPDX-License-Identifier: MIT */
/*
 * options.c - reads the tunables from the environment once, at start, without
 * malloc.  A value that is not a number in range is one warning line and the
 * default.  Setuid and setgid programs ignore the environment altogether.
 */
#include "internal.h"

#include <stdlib.h>
#include <sys/auxv.h>
#include <unistd.h>

struct kslub_option_desc kslub_options[NR_KSLUB_OPTIONS] = {
	[OPT_MIN_ORDER]     = { "KSLUB_MIN_ORDER", 0, 0, MAX_ORDER - 1,
				"smallest slab order (slub_min_order)" },
	[OPT_MAX_ORDER]     = { "KSLUB_MAX_ORDER", PAGE_ALLOC_COSTLY_ORDER, 0, MAX_ORDER - 1,
				"largest slab order calculate_order picks (slub_max_order)" },
	[OPT_MIN_OBJECTS]   = { "KSLUB_MIN_OBJECTS", 0, 0, MAX_OBJS_PER_PAGE,
				"objects a slab should hold, 0 = 4 * (fls(cpus) + 1) (slub_min_objects)" },
	[OPT_CPU_PARTIAL]   = { "KSLUB_CPU_PARTIAL", -1, -1, 100000,
				"free objects kept on a thread's cpu-partial list, -1 = by object size" },
	[OPT_MIN_PARTIAL]   = { "KSLUB_MIN_PARTIAL", -1, -1, 1000,
				"empty slabs a node partial list keeps, -1 = ilog2(size) / 2 in 5..10" },
	[OPT_SHEAF_CAPACITY] = { "KSLUB_SHEAF_CAPACITY", -1, -1, SHEAF_MAX_CAPACITY,
				"freed objects a thread keeps per cache for its next allocations (sheaf), -1 = by object size, 0 = off" },
	[OPT_PCP_HIGH]      = { "KSLUB_PCP_HIGH", 32, 0, 1 << 20,
				"pages a thread's page lists hold before giving a batch back" },
	[OPT_PCP_BATCH]     = { "KSLUB_PCP_BATCH", 8, 1, 1 << 16,
				"pages moved between a thread's page lists and the zone at once" },
	[OPT_DIRTY_MAX]     = { "KSLUB_DIRTY_MAX", 8192, 0, 1L << 30,
				"free pages a zone keeps resident before it purges them, at most (a quarter of the pages in use, at least an eighth of this)" },
	[OPT_PURGE_DELAY]   = { "KSLUB_PURGE_DELAY", 100, 0, 3600 * 1000,
				"milliseconds a free block stays resident before it may be purged, and the least time between two looks at fragmented caches' partial slabs" },
	[OPT_RETAIN_ARENAS] = { "KSLUB_RETAIN_ARENAS", 8, 0, 1 << 20,
				"wholly free 8 MiB arenas a zone keeps mapped" },
	[OPT_THP]           = { "KSLUB_THP", 0, 0, 1,
				"1 = ask for transparent huge pages (MADV_HUGEPAGE) on blocks of more than 4 MiB" },
	[OPT_NUMA]          = { "KSLUB_NUMA", 1, 0, 1,
				"0 = one node whatever the machine, 1 = the NUMA nodes hwloc finds" },
	[OPT_VERBOSE]       = { "KSLUB_VERBOSE", 0, 0, 2,
				"1 = print the options in force at start" },
};

char kslub_slabinfo_path[256];

int kslub_parse_long(const char *s, long *out)
{
	bool neg = false;
	unsigned long v = 0;

	if (!s || !*s)
		return -1;
	if (*s == '-' || *s == '+')
		neg = *s++ == '-';
	if (!*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (v > (unsigned long)(1L << 40))
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	*out = neg ? -(long)v : (long)v;
	return 0;
}

void kslub_options_init(void)
{
	bool secure = getauxval(AT_SECURE) != 0;
	const char *e;

	for (int i = 0; i < NR_KSLUB_OPTIONS; i++) {
		struct kslub_option_desc *o = &kslub_options[i];
		long v;

		o->value = o->def;
		o->source = "default";
		if (secure || !(e = getenv(o->name)))
			continue;
		if (kslub_parse_long(e, &v) || v < o->min || v > o->max) {
			kslub_warn("%s=%s is not a number in %ld..%ld; using the default %ld",
				   o->name, e, o->min, o->max, o->def);
			continue;
		}
		o->value = v;
		o->source = "environment";
	}
	if (kslub_opt(OPT_MIN_ORDER) > kslub_opt(OPT_MAX_ORDER)) {
		kslub_warn("KSLUB_MIN_ORDER=%ld is above KSLUB_MAX_ORDER=%ld; using KSLUB_MAX_ORDER=%ld",
			   kslub_opt(OPT_MIN_ORDER), kslub_opt(OPT_MAX_ORDER), kslub_opt(OPT_MIN_ORDER));
		kslub_options[OPT_MAX_ORDER].value = kslub_opt(OPT_MIN_ORDER);
	}

	kslub_slabinfo_path[0] = '\0';
	if (!secure && (e = getenv("KSLUB_SLABINFO")) && *e && strcmp(e, "0") != 0) {
		if (strcmp(e, "1") == 0)
			kslub_snprintf(kslub_slabinfo_path, sizeof(kslub_slabinfo_path),
				       "/tmp/kslub.%d.slabinfo", (int)getpid());
		else if (strlen(e) >= sizeof(kslub_slabinfo_path))
			kslub_warn("KSLUB_SLABINFO is longer than %zu characters; no report will be written",
				   sizeof(kslub_slabinfo_path) - 1);
		else
			strcpy(kslub_slabinfo_path, e);
	}

	if (kslub_opt(OPT_VERBOSE)) {
		for (int i = 0; i < NR_KSLUB_OPTIONS; i++)
			kslub_dprintf(2, "kslub: %-20s %8ld  (%s; %ld..%ld) %s\n", kslub_options[i].name,
				      kslub_options[i].value, kslub_options[i].source,
				      kslub_options[i].min, kslub_options[i].max, kslub_options[i].meaning);
		kslub_dprintf(2, "kslub: %-20s %s\n", "KSLUB_SLABINFO",
			      kslub_slabinfo_path[0] ? kslub_slabinfo_path : "(none)");
	}
}
