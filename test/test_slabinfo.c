/* SPDX-License-Identifier: MIT */
/*
 * test_slabinfo.c - the /proc/slabinfo (version 2.1) and /proc/buddyinfo
 * style report: written at exit when KSLUB_SLABINFO names a file (or is 1,
 * for /tmp/kslub.<pid>.slabinfo), and on demand by kslub_write_slabinfo().
 *
 * The format is checked against the kernel's own printf formats
 * (mm/slab_common.c print_slabinfo_header and cache_show, mm/vmstat.c
 * frag_show_print): each line is parsed, printed again with the kernel's
 * format, and must come out the same.  The figures are checked against what
 * the program did and against kslub_cache_info() and kslub_buddyinfo().
 *
 * The report at exit needs a process that starts with the variable set and
 * exits normally: the test forks and executes this program again with
 * KSLUB_TEST_SLABINFO_CHILD set, and a constructor runs the child's part
 * before Criterion's main() and exit()s.
 */
#include <criterion/criterion.h>

#include "child.h"
#include "nodes.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kslub.h"

#define PAGE KSLUB_PAGE_SIZE
#define LIVE 1000		/* test_cache objects live when the report is written */
#define MADE 1500		/* allocated in all */
#define OBJ_SIZE 200

/* The kernel's slabinfo header and line formats. */
#define SLABINFO_VERSION "slabinfo - version: 2.1"
#define SLABINFO_HEADER                                                                                      \
	"# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"                 \
	" : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs> <num_slabs> <sharedavail>"
#define SLABINFO_LINE "%-17s %6lu %6lu %6u %4u %4d : tunables %4u %4u %4u : slabdata %6lu %6lu %6lu"

static const char *const kmalloc_names[] = {
	"kmalloc-8",    "kmalloc-16",   "kmalloc-32",   "kmalloc-48",   "kmalloc-64",   "kmalloc-80",
	"kmalloc-96",   "kmalloc-112",  "kmalloc-128",  "kmalloc-160",  "kmalloc-192",  "kmalloc-224",
	"kmalloc-256",  "kmalloc-336",  "kmalloc-384",  "kmalloc-448",  "kmalloc-512",  "kmalloc-672",
	"kmalloc-768",  "kmalloc-896",  "kmalloc-1k",   "kmalloc-1088", "kmalloc-1168", "kmalloc-1360",
	"kmalloc-1552", "kmalloc-1808", "kmalloc-2k",   "kmalloc-2336", "kmalloc-2720", "kmalloc-3264",
	"kmalloc-3632", "kmalloc-4k",   "kmalloc-4368", "kmalloc-4672", "kmalloc-5456", "kmalloc-6544", "kmalloc-8k",
};

/* ---- the child: keep LIVE of MADE objects of test_cache, then exit ---------------- */

static struct kmem_cache *make_live_objects(void)
{
	static void *objs[MADE];
	struct kmem_cache *s = kmem_cache_create("test_cache", OBJ_SIZE, 0, 0, NULL);

	if (!s)
		return NULL;
	for (int i = 0; i < MADE; i++) {
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
		if (!objs[i])
			return NULL;
		memset(objs[i], 0x2a, OBJ_SIZE);
	}
	/* every third object goes, all over the slabs: LIVE are left */
	_Static_assert((MADE + 2) / 3 == MADE - LIVE, "every third of MADE is MADE - LIVE");
	for (int i = 0; i < MADE; i += 3)
		kmem_cache_free(s, objs[i]);
	return s;
}

__attribute__((constructor)) static void slabinfo_child(void)
{
	const char *role = getenv("KSLUB_TEST_SLABINFO_CHILD");

	if (!role)
		return;
	/* a normal exit: the report is written by kslub's destructor */
	{
		struct kmem_cache *s = make_live_objects();

		exit(s && kslub_validate_slab_cache(s) == 0 ? 0 : 3);
	}
}

/* Run this program again as the child, with KSLUB_SLABINFO=value (or unset
 * if NULL); returns its pid after it exited successfully. */
static pid_t run_report_child(const char *value)
{
	pid_t pid;
	int status = child_exec_self("KSLUB_TEST_SLABINFO_CHILD", value, &pid);

	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the child failed (status %#x)", status);
	return pid;
}

/* ---- parsing ------------------------------------------------------------------------- */

struct cache_line {
	char name[64];
	unsigned long active_objs, num_objs;
	unsigned int objsize, objperslab;
	int pagesperslab;
	unsigned int limit, batchcount, sharedfactor;
	unsigned long active_slabs, num_slabs, sharedavail;
};

struct report {
	char *text;
	struct cache_line caches[600];
	int nr_caches;
	unsigned long buddy[KSLUB_MAX_ORDER];
	int nr_nodes;
};

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf;
	size_t len = 0, cap = 1 << 16, n;

	cr_assert_not_null(f, "cannot open %s: %s", path, strerror(errno));
	buf = malloc(cap);
	cr_assert_not_null(buf);
	while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == cap) {
			cap *= 2;
			buf = realloc(buf, cap);
			cr_assert_not_null(buf);
		}
	}
	buf[len] = '\0';
	fclose(f);
	return buf;
}

static void parse_cache_line(const char *line, struct cache_line *c)
{
	char again[512];
	int n = sscanf(line, "%63s %lu %lu %u %u %d : tunables %u %u %u : slabdata %lu %lu %lu", c->name,
		       &c->active_objs, &c->num_objs, &c->objsize, &c->objperslab, &c->pagesperslab, &c->limit,
		       &c->batchcount, &c->sharedfactor, &c->active_slabs, &c->num_slabs, &c->sharedavail);

	cr_assert_eq(n, 12, "not a slabinfo 2.1 line (%d fields): \"%s\"", n, line);
	snprintf(again, sizeof(again), SLABINFO_LINE, c->name, c->active_objs, c->num_objs, c->objsize,
		 c->objperslab, c->pagesperslab, c->limit, c->batchcount, c->sharedfactor, c->active_slabs,
		 c->num_slabs, c->sharedavail);
	cr_assert_str_eq(line, again, "the line is not in the kernel's format:\n  got      \"%s\"\n  kernel's \"%s\"",
			 line, again);
}

static void parse_buddy_line(const char *line, struct report *r)
{
	char again[512];
	int node, pos = 0, len;
	char zone[16];

	cr_assert_eq(sscanf(line, "Node %d, zone %15s%n", &node, zone, &pos), 2, "not a buddyinfo line: \"%s\"",
		     line);
	cr_assert_eq(node, r->nr_nodes, "buddyinfo lines out of order: \"%s\"", line);
	cr_assert_str_eq(zone, "Normal");
	len = snprintf(again, sizeof(again), "Node %d, zone %8s ", node, zone);
	for (int o = 0; o < KSLUB_MAX_ORDER; o++) {
		unsigned long v;
		int used = 0;

		cr_assert_eq(sscanf(line + pos, "%lu%n", &v, &used), 1, "buddyinfo line has fewer than %d numbers: \"%s\"",
			     KSLUB_MAX_ORDER, line);
		pos += used;
		if (node == 0)
			r->buddy[o] = v;
		len += snprintf(again + len, sizeof(again) - (size_t)len, "%6lu ", v);
	}
	cr_assert_str_eq(line, again, "the buddyinfo line is not in the kernel's format:\n  got      \"%s\"\n  kernel's \"%s\"",
			 line, again);
	r->nr_nodes++;
}

static void parse_report(const char *path, struct report *r)
{
	char *line, *save = NULL;
	enum { REPORT_VERSION, REPORT_HEADER, REPORT_CACHES, REPORT_BUDDYINFO, REPORT_REST } state = REPORT_VERSION;

	memset(r, 0, sizeof(*r));
	r->text = read_file(path);
	for (line = strtok_r(r->text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		/* strtok_r skips the blank line between the two sections */
		switch (state) {
		case REPORT_VERSION:
			cr_assert_str_eq(line, SLABINFO_VERSION, "the report does not start with the version line");
			state = REPORT_HEADER;
			break;
		case REPORT_HEADER:
			cr_assert_str_eq(line, SLABINFO_HEADER, "the second line is not the kernel's header");
			state = REPORT_CACHES;
			break;
		case REPORT_CACHES:
			if (strncmp(line, "Node ", 5) == 0) {
				state = REPORT_BUDDYINFO;
				parse_buddy_line(line, r);
				break;
			}
			cr_assert_lt(r->nr_caches, (int)(sizeof(r->caches) / sizeof(r->caches[0])));
			parse_cache_line(line, &r->caches[r->nr_caches++]);
			break;
		case REPORT_BUDDYINFO:
			if (strncmp(line, "Node ", 5) == 0)
				parse_buddy_line(line, r);
			else
				state = REPORT_REST;
			break;
		case REPORT_REST:
			break;
		}
	}
	cr_assert_geq(state, REPORT_BUDDYINFO, "the report has no buddyinfo section");
	cr_assert_gt(r->nr_caches, 0, "the report lists no cache");
}

static const struct cache_line *find_cache(const struct report *r, const char *name)
{
	for (int i = 0; i < r->nr_caches; i++)
		if (strcmp(r->caches[i].name, name) == 0)
			return &r->caches[i];
	return NULL;
}

/* Every cache line must be consistent with the kernel's meaning of its fields. */
static void check_cache_figures(const struct report *r)
{
	for (int i = 0; i < r->nr_caches; i++) {
		const struct cache_line *c = &r->caches[i];

		cr_assert_leq(c->active_objs, c->num_objs, "%s: %lu active of %lu objects", c->name, c->active_objs,
			      c->num_objs);
		cr_assert_gt(c->pagesperslab, 0, "%s: %d pages per slab", c->name, c->pagesperslab);
		cr_assert_eq(c->pagesperslab & (c->pagesperslab - 1), 0, "%s: %d pages per slab is not 2^order",
			     c->name, c->pagesperslab);
		cr_assert_eq(c->objperslab, (unsigned int)(PAGE * (unsigned long)c->pagesperslab / c->objsize),
			     "%s: %d pages of %u-byte objects hold %lu, the report says %u", c->name, c->pagesperslab,
			     c->objsize, PAGE * (unsigned long)c->pagesperslab / c->objsize, c->objperslab);
		cr_assert_eq(c->num_objs, c->num_slabs * c->objperslab, "%s: %lu slabs of %u objects are not %lu objects",
			     c->name, c->num_slabs, c->objperslab, c->num_objs);
		cr_assert_eq(c->active_slabs, c->num_slabs, "%s: SLUB reports active_slabs = num_slabs", c->name);
		cr_assert_eq(c->limit + c->batchcount + c->sharedfactor + c->sharedavail, 0,
			     "%s: SLUB has no tunables or shared arrays: they read 0", c->name);
	}
	for (size_t i = 0; i < sizeof(kmalloc_names) / sizeof(kmalloc_names[0]); i++)
		cr_assert_not_null(find_cache(r, kmalloc_names[i]), "%s is not in the report", kmalloc_names[i]);
}

static void check_test_cache(const struct report *r)
{
	const struct cache_line *c = find_cache(r, "test_cache");

	cr_assert_not_null(c, "test_cache is not in the report");
	cr_assert_eq(c->active_objs, LIVE, "test_cache: %d objects live, the report says %lu", LIVE, c->active_objs);
	cr_assert_eq(c->objsize, OBJ_SIZE, "test_cache: %d-byte objects with no debugging take %d bytes, not %u",
		     OBJ_SIZE, OBJ_SIZE, c->objsize);
	cr_assert_geq(c->num_slabs, (LIVE + c->objperslab - 1) / c->objperslab);
}

/* ---- the tests ------------------------------------------------------------------------ */

Test(slabinfo, report_at_exit_is_the_kernels_slabinfo_with_true_figures)
{
	char path[64];
	struct report r;

	snprintf(path, sizeof(path), "/tmp/kslub-test-slabinfo.%d", (int)getpid());
	unlink(path);
	run_report_child(path);
	parse_report(path, &r);
	check_cache_figures(&r);
	check_test_cache(&r);
	cr_assert_eq(r.nr_nodes, 1, "this machine runs as one node; the report has %d buddyinfo lines", r.nr_nodes);
	{
		unsigned long free_pages = 0;

		for (int o = 0; o < KSLUB_MAX_ORDER; o++)
			free_pages += r.buddy[o] << o;
		cr_assert_gt(free_pages, 0, "the zone has no free page at all");
	}
	unlink(path);
	free(r.text);
}

Test(slabinfo, slabinfo_1_writes_tmp_kslub_pid_slabinfo)
{
	char path[64];
	struct report r;
	pid_t pid;

	pid = run_report_child("1");
	snprintf(path, sizeof(path), "/tmp/kslub.%d.slabinfo", (int)pid);
	cr_assert_eq(access(path, R_OK), 0, "KSLUB_SLABINFO=1 did not write %s", path);
	parse_report(path, &r);
	check_cache_figures(&r);
	check_test_cache(&r);
	unlink(path);
	free(r.text);
}

Test(slabinfo, no_report_unless_asked)
{
	char path[64];
	pid_t pid;

	pid = run_report_child(NULL);
	snprintf(path, sizeof(path), "/tmp/kslub.%d.slabinfo", (int)pid);
	cr_assert_neq(access(path, F_OK), 0, "%s was written without KSLUB_SLABINFO", path);
	pid = run_report_child("0");
	snprintf(path, sizeof(path), "/tmp/kslub.%d.slabinfo", (int)pid);
	cr_assert_neq(access(path, F_OK), 0, "%s was written with KSLUB_SLABINFO=0", path);
	unlink(path);
}

Test(slabinfo, write_slabinfo_on_demand_matches_cache_info_and_buddyinfo)
{
	char path[64];
	struct report r;
	struct kslub_cache_info info;
	unsigned long buddy[KSLUB_MAX_ORDER];
	struct kmem_cache *s = make_live_objects();
	const struct cache_line *c;

	cr_assert_not_null(s);
	snprintf(path, sizeof(path), "/tmp/kslub-test-ondemand.%d", (int)getpid());
	cr_assert_eq(kslub_buddyinfo(0, buddy), KSLUB_MAX_ORDER);
	cr_assert_eq(kslub_write_slabinfo(path), 0, "kslub_write_slabinfo(%s): %s", path, strerror(errno));
	parse_report(path, &r);
	check_cache_figures(&r);
	check_test_cache(&r);

	/* the same figures as the API gives */
	cr_assert_eq(kslub_cache_info(s, &info), 0);
	c = find_cache(&r, "test_cache");
	cr_assert_eq(c->active_objs, info.active_objs);
	cr_assert_eq(c->num_objs, info.num_objs);
	cr_assert_eq(c->objsize, info.size);
	cr_assert_eq(c->objperslab, info.objs_per_slab);
	cr_assert_eq((unsigned int)c->pagesperslab, 1u << info.order);
	cr_assert_eq(c->num_slabs, info.num_slabs);
	for (size_t i = 0; i < sizeof(kmalloc_names) / sizeof(kmalloc_names[0]); i++) {
		struct kmem_cache *k = NULL;

		for (size_t size = 8; size <= KMALLOC_MAX_CACHE_SIZE && !k; size++)
			if (kslub_kmalloc_cache(size) && strcmp(kslub_kmem_cache_name(kslub_kmalloc_cache(size)),
								kmalloc_names[i]) == 0)
				k = kslub_kmalloc_cache(size);
		cr_assert_not_null(k, "no kmalloc cache is named %s", kmalloc_names[i]);
		cr_assert_eq(kslub_cache_info(k, &info), 0);
		c = find_cache(&r, kmalloc_names[i]);
		cr_assert_eq(c->active_objs, info.active_objs, "%s: report %lu, kslub_cache_info %lu", kmalloc_names[i],
			     c->active_objs, info.active_objs);
		cr_assert_eq(c->num_objs, info.num_objs);
		cr_assert_eq(c->objsize, info.size);
	}
	for (int o = 0; o < KSLUB_MAX_ORDER; o++)
		cr_assert_eq(r.buddy[o], buddy[o], "order %d: the report has %lu free blocks, kslub_buddyinfo %lu", o,
			     r.buddy[o], buddy[o]);
	cr_assert_eq(kslub_validate_slab_cache(s), 0);
	unlink(path);
	free(r.text);
}

Test(slabinfo, write_slabinfo_reports_errors_with_errno)
{
	errno = 0;
	cr_assert_eq(kslub_write_slabinfo(NULL), -1);
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_eq(kslub_write_slabinfo("/nonexistent-kslub-dir/slabinfo"), -1);
	cr_assert_eq(errno, ENOENT, "errno %d, not ENOENT", errno);
	errno = 0;
	cr_assert_eq(kslub_write_slabinfo("/dev/full"), -1, "writing to /dev/full succeeded");
	cr_assert_eq(errno, ENOSPC, "errno %d, not ENOSPC", errno);
}

/* Nodes the library may find: several where sysfs lists more than one online
 * or hwloc is given a topology (kslub's own test, topology_multi_node_hint). */
static bool may_have_nodes(void)
{
	char line[256];

	return getenv("HWLOC_SYNTHETIC") || getenv("HWLOC_XMLFILE") || sysfs_several_nodes(line, sizeof(line));
}

/* A kmem_cache has room for the nodes there may be, as the kernel's has for
 * nr_node_ids: on a machine of one node, one node pointer and not 64, which
 * were two thirds of each cache's 704 bytes. */
Test(slabinfo, a_kmem_cache_has_room_for_the_nodes_there_may_be_only)
{
	char path[64];
	struct report r;
	const struct cache_line *c;

	cr_assert_not_null(make_live_objects());
	snprintf(path, sizeof(path), "/tmp/kslub-test-nodes.%d", (int)getpid());
	cr_assert_eq(kslub_write_slabinfo(path), 0, "kslub_write_slabinfo(%s): %s", path, strerror(errno));
	parse_report(path, &r);
	unlink(path);
	c = find_cache(&r, "kmem_cache");
	cr_assert_not_null(c, "no kmem_cache line");
	if (may_have_nodes())
		cr_assert_geq(c->objsize, 64 * sizeof(void *), "a kmem_cache of %u bytes has no room for 64 nodes",
			      c->objsize);
	else
		cr_assert_leq(c->objsize, 256, "a kmem_cache takes %u bytes on a machine of one node", c->objsize);
}
