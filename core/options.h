/* SPDX-License-Identifier: MIT */
/*
 * options.h - the tunables, named after the kernel's boot parameters and
 * sysfs files.  One table in options.c holds name, default, range and
 * meaning; parsing, warnings and the KSLUB_VERBOSE listing all come from it.
 */
#ifndef KSLUB_OPTIONS_H
#define KSLUB_OPTIONS_H

enum kslub_option {
	OPT_MIN_ORDER,		/* slub_min_order */
	OPT_MAX_ORDER,		/* slub_max_order */
	OPT_MIN_OBJECTS,	/* slub_min_objects */
	OPT_CPU_PARTIAL,	/* /sys/kernel/slab/<cache>/cpu_partial, for all caches */
	OPT_MIN_PARTIAL,	/* /sys/kernel/slab/<cache>/min_partial, for all caches */
	OPT_SHEAF_CAPACITY,	/* kmem_cache_args.sheaf_capacity, for all caches */
	OPT_PCP_HIGH,		/* per-thread page list high mark (pages) */
	OPT_PCP_BATCH,		/* per-thread page list batch (pages) */
	OPT_DIRTY_MAX,		/* free resident pages a zone keeps before purging */
	OPT_PURGE_DELAY,	/* ms a free block stays resident before purging */
	OPT_RETAIN_ARENAS,	/* wholly free arenas kept mapped per zone */
	OPT_THP,		/* MADV_HUGEPAGE on big direct mappings (transparent_hugepage=madvise) */
	OPT_NUMA,		/* 0: one node whatever the machine (numa=off) */
	OPT_VERBOSE,		/* print the options at start */
	NR_KSLUB_OPTIONS
};

struct kslub_option_desc {
	const char *name;	/* environment variable */
	long def;		/* default; -1 means computed per cache, as the kernel does */
	long min, max;		/* accepted range */
	const char *meaning;
	long value;		/* in force */
	const char *source;	/* "default" or "environment" */
};

extern struct kslub_option_desc kslub_options[NR_KSLUB_OPTIONS];
static inline long kslub_opt(enum kslub_option o) { return kslub_options[o].value; }

/* KSLUB_SLABINFO: a path, or "1" for /tmp/kslub.<pid>.slabinfo; NULL if unset. */
extern char kslub_slabinfo_path[256];

void kslub_options_init(void);
/* Parse one value: exported for tests through kslub_options_parse_value. */
int kslub_parse_long(const char *s, long *out);

#endif
