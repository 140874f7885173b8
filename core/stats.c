/* SPDX-License-Identifier: MIT */
/*
 * stats.c - the report: /proc/slabinfo (version 2.1) for every cache, then
 * /proc/buddyinfo for every zone, then kslub's own counters.  Written at exit
 * when KSLUB_SLABINFO asks for it, or on demand by kslub_write_slabinfo().
 *
 * The figures are counted when the report is written: active objects are the
 * objects in slabs less the free ones on node partial lists, cpu-partial
 * lists, each thread's cpu slab and freelist, and each thread's sheaf.
 */
#include "slub.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

struct outbuf {
	int fd;
	size_t len;
	int err;
	char buf[4096];
};

static void out_flush(struct outbuf *o)
{
	if (o->len && kslub_write_all(o->fd, o->buf, o->len) < 0)
		o->err = errno ? errno : EIO;
	o->len = 0;
}

__attribute__((format(printf, 2, 3))) static void out(struct outbuf *o, const char *fmt, ...)
{
	char line[512];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = kslub_vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (o->len + n > sizeof(o->buf))
		out_flush(o);
	memcpy(o->buf + o->len, line, n);
	o->len += n;
}

static void write_report(struct outbuf *o)
{
	struct kmem_cache *s;
	unsigned long node_partial[MAX_NUMNODES];

	out(o, "slabinfo - version: 2.1\n");
	out(o, "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
	       " : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>\n");
	spin_lock(&kslub_slab_mutex);
	list_for_each_entry(s, &kslub_slab_caches, list) {
		struct kslub_cache_info info;

		kslub_cache_count(s, &info, NULL);
		out(o, "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu\n",
		    s->name, info.active_objs, info.num_objs, info.size, info.objs_per_slab,
		    1 << info.order, 0u, 0u, 0u, info.num_slabs, info.num_slabs, 0ul);
	}

	out(o, "\n");
	for (int nid = 0; nid < kslub_nr_node_ids; nid++) {
		unsigned long nr_free[KSLUB_MAX_ORDER];

		kslub_buddyinfo(nid, nr_free);
		out(o, "Node %d, zone %8s ", nid, "Normal");
		for (int order = 0; order < KSLUB_MAX_ORDER; order++)
			out(o, "%6lu ", nr_free[order]);
		out(o, "\n");
	}

	out(o, "\n# kslub counters\n");
	for (int nid = 0; nid < kslub_nr_node_ids; nid++) {
		struct zone *z = kslub_zones[nid];

		spin_lock(&z->lock);
		out(o, "node %d arenas %lu empty_arenas %lu managed_pages %lu free_pages %lu dirty_pages %lu"
		       " purged_pages %lu arena_mmaps %lu arena_munmaps %lu\n",
		    nid, z->nr_arenas, z->nr_empty_arenas, z->managed_pages, z->nr_free_pages, z->nr_dirty,
		    z->nr_purged, z->nr_arena_mmap, z->nr_arena_munmap);
		spin_unlock(&z->lock);
	}
	out(o, "os mmaps %lu munmaps %lu purges %lu mapped_bytes %lu moves %lu slab_purged_pages %lu\n",
	    READ_ONCE(kslub_os_mmaps), READ_ONCE(kslub_os_munmaps), READ_ONCE(kslub_os_purges),
	    READ_ONCE(kslub_os_mapped), READ_ONCE(kslub_os_moves), READ_ONCE(kslub_slab_purged_pages));
	out(o, "# node partial slabs per cache\n");
	list_for_each_entry(s, &kslub_slab_caches, list) {
		struct kslub_cache_info info;

		kslub_cache_count(s, &info, node_partial);
		out(o, "%-17s", s->name);
		for (int nid = 0; nid < kslub_nr_node_ids; nid++)
			out(o, " N%d=%lu", nid, node_partial[nid]);
		out(o, " cpu_slabs=%lu\n", info.cpu_slabs);
	}
	spin_unlock(&kslub_slab_mutex);
	out_flush(o);
}

KSLUB_API int kslub_write_slabinfo(const char *path)
{
	struct outbuf o;
	int saved = errno;

	kslub_ensure_init();
	if (!path)
		return errno = EINVAL, -1;
	o.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o.fd < 0)
		return -1;
	o.len = 0;
	o.err = 0;
	write_report(&o);
	if (close(o.fd) < 0 && !o.err)
		o.err = errno;
	if (o.err)
		return errno = o.err, -1;
	errno = saved;
	return 0;
}

/* The same report on an open file descriptor (malloc_stats: stderr). */
int kslub_write_slabinfo_fd(int fd)
{
	struct outbuf o;
	int saved = errno;

	kslub_ensure_init();
	o.fd = fd;
	o.len = 0;
	o.err = 0;
	write_report(&o);
	if (o.err)
		return errno = o.err, -1;
	errno = saved;
	return 0;
}

void kslub_slabinfo_at_exit(void)
{
	if (!kslub_slabinfo_path[0])
		return;
	if (os_restricted()) {
		/* a sandbox may kill the process for the open (os_restrict) */
		kslub_warn("the slabinfo report is not written to %s: the process may run under a seccomp filter",
			   kslub_slabinfo_path);
		return;
	}
	if (kslub_write_slabinfo(kslub_slabinfo_path) < 0)
		kslub_warn("cannot write the slabinfo report to %s (errno %d)", kslub_slabinfo_path, errno);
}
