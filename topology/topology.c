/* SPDX-License-Identifier: MIT */
/*
 * topology.c - the machine's NUMA nodes as the core sees them: how many,
 * which node each CPU belongs to, how far the nodes are from each other, and
 * binding memory to a node.
 *
 * Until topology_load() has run (and whenever it fails) there is one node,
 * node 0, holding every CPU and all memory; every query then answers from
 * constants, without a system call.
 *
 * libkslub does not link libhwloc: a process on a one-node machine must not
 * pay for mapping it (nor for the libraries it pulls in).  topology_load()
 * dlopen()s it, takes the few functions it needs with dlsym() into a table,
 * reads what the core needs into the static tables below, destroys the hwloc
 * topology and keeps the library mapped (unloading a library that may have
 * loaded plugins of its own is not worth the risk).  Loaded RTLD_LOCAL,
 * libhwloc cannot give its symbols to its own plugins (libxml2 XML, PCI,
 * OpenCL, GL), so they fail to load, silently: NUMA discovery needs none of
 * them, and an XML topology is read by hwloc's built-in parser, which takes
 * the files hwloc writes (no XML comments).  <hwloc.h> is included
 * for its types and constants only: its inline helpers call hwloc by name,
 * which would make the linker want libhwloc, so none of them is used.
 *
 * Node numbers: kslub's nodes are 0 .. nr_nodes - 1.  When hwloc's OS
 * indexes of the NUMA nodes are exactly 0 .. N - 1 they are kept, so that
 * kslub's node n is the kernel's node n; otherwise (nodes missing from a
 * cpuset, holes in the numbering) nodes are numbered by hwloc's logical
 * index, and the OS index is kept aside for mbind().
 *
 * More than TOPOLOGY_MAX_NODES nodes: node ids are folded modulo
 * TOPOLOGY_MAX_NODES.  The CPUs of node 64 + k then count as node k's, and
 * memory for kslub's node k is bound to the kernel's node k; the distances
 * are those between the first TOPOLOGY_MAX_NODES nodes.  Folding keeps most
 * of the locality of a very large machine where falling back to one node
 * would keep none.
 */
#include "topology.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <fcntl.h>
#include <unistd.h>

#ifdef HAVE_HWLOC
#include <dlfcn.h>
#include <hwloc.h>
#include <hwloc/distances.h>
#endif

#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 35) && __has_include(<sys/rseq.h>)
#include <sys/rseq.h>
#define TOPOLOGY_HAVE_RSEQ 1
#endif
#endif

#ifndef HWLOC_SONAME
#define HWLOC_SONAME "libhwloc.so.15"
#endif

/* CPUs the cpu -> node table covers (the kernel's largest x86 NR_CPUS); a
 * CPU beyond it counts as node 0.  One byte per CPU, in .bss: untouched on a
 * one-node machine. */
#define TOPOLOGY_MAX_CPUS 8192
/* Kernel node numbers a binding can name: the nodemask given to mbind(). */
#define TOPOLOGY_OS_NODE_BITS 1024
#define BITS_PER_ULONG (8 * sizeof(unsigned long))

/* The kernel's MPOL_PREFERRED (linux/mempolicy.h), without libnuma. */
#define TOPOLOGY_MPOL_PREFERRED 1

/* The published state: nr_nodes is stored last, with release order, so a
 * reader that sees more than one node sees the tables filled. */
static int nr_nodes = 1;
static bool hwloc_loaded;
static bool bind_real;		/* this machine's topology: mbind() for real */
static unsigned char cpu_node[TOPOLOGY_MAX_CPUS];
static int node_distance[TOPOLOGY_MAX_NODES][TOPOLOGY_MAX_NODES];
static unsigned char node_order[TOPOLOGY_MAX_NODES][TOPOLOGY_MAX_NODES];
static unsigned int node_os_index[TOPOLOGY_MAX_NODES];
static const unsigned char node_order_one[1];

/* topology_set_thread_node(): -1 when the thread runs where it runs. */
static __thread int thread_node __attribute__((tls_model("initial-exec"))) = -1;

static int load_nr_nodes(void)
{
	return __atomic_load_n(&nr_nodes, __ATOMIC_ACQUIRE);
}

/* ---- the hint: environment and sysfs, no allocation ------------------------ */

static bool env_set(const char *name)
{
	const char *value = getenv(name);

	return value && *value;
}

/* How many nodes a kernel node list ("0", "0-3", "0,2-3") names; parsing
 * stops at the first character that does not belong to a list (the
 * newline). */
int topology_count_node_list(const char *s, size_t len)
{
	const char *end = s + len;
	unsigned long count = 0;

	while (s < end && *s >= '0' && *s <= '9') {
		unsigned long first = 0, last;

		while (s < end && *s >= '0' && *s <= '9' && first < 1UL << 20)
			first = first * 10 + (unsigned long)(*s++ - '0');
		last = first;
		if (s < end && *s == '-') {
			s++;
			last = 0;
			while (s < end && *s >= '0' && *s <= '9' && last < 1UL << 20)
				last = last * 10 + (unsigned long)(*s++ - '0');
		}
		if (last >= first)
			count += last - first + 1;
		if (s < end && *s == ',')
			s++;
	}
	return count < 1UL << 24 ? (int)count : 1 << 24;
}

/* Online nodes in sysfs; 1 when it cannot tell.  A list too long for the
 * buffer names more than one node anyway. */
static int sysfs_online_nodes(void)
{
	char buf[256];
	ssize_t len;
	int fd;

	fd = open("/sys/devices/system/node/online", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	do
		len = read(fd, buf, sizeof(buf));
	while (len < 0 && errno == EINTR);
	close(fd);
	if (len <= 0)
		return 1;
	if ((size_t)len == sizeof(buf))
		return 2;
	return topology_count_node_list(buf, (size_t)len);
}

bool topology_multi_node_hint(void)
{
	int saved = errno;
	bool multi;

	multi = env_set("HWLOC_SYNTHETIC") || env_set("HWLOC_XMLFILE") || sysfs_online_nodes() > 1;
	errno = saved;
	return multi;
}

/* ---- loading: hwloc through dlopen ------------------------------------------ */

/* One line on stderr, only when KSLUB_VERBOSE asks for it. */
static void verbose(const char *what, const char *detail)
{
	const char *v = getenv("KSLUB_VERBOSE");
	char line[256];
	size_t len = 0;
	const char *parts[] = { "kslub: topology: ", what, detail ? ": " : "", detail ? detail : "",
				"; running as one node\n" };

	if (!v || !*v || (v[0] == '0' && !v[1]))
		return;
	for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
		size_t n = strlen(parts[i]);

		if (n > sizeof(line) - 1 - len)
			n = sizeof(line) - 1 - len;
		memcpy(line + len, parts[i], n);
		len += n;
	}
	if (len && line[len - 1] != '\n')
		line[len - 1] = '\n';
	if (write(STDERR_FILENO, line, len) < 0) {
		/* nothing to do about a closed stderr */
	}
}

/* Ask the kernel to prefer os_node for [addr, addr + len). */
static int mbind_preferred(void *addr, size_t len, unsigned int os_node)
{
	unsigned long mask[TOPOLOGY_OS_NODE_BITS / BITS_PER_ULONG] = { 0 };
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = (uintptr_t)addr & ~(page - 1);
	uintptr_t end = ((uintptr_t)addr + len + page - 1) & ~(page - 1);

	if (os_node >= TOPOLOGY_OS_NODE_BITS) {
		errno = EINVAL;
		return -1;
	}
	mask[os_node / BITS_PER_ULONG] = 1UL << (os_node % BITS_PER_ULONG);
	/* maxnode counts one past the last bit, as libnuma passes it */
	return (int)syscall(SYS_mbind, start, end - start, TOPOLOGY_MPOL_PREFERRED, mask,
			    (unsigned long)TOPOLOGY_OS_NODE_BITS + 1, 0UL);
}

#ifdef HAVE_HWLOC
/* Lay out node's order: itself first, then the others by distance, a tie
 * going to the lower node number (the kernel's zonelist, without its
 * round-robin among equals). */
static void build_node_order(int node, int nr)
{
	unsigned char *order = node_order[node];
	int len = 0;

	order[len++] = (unsigned char)node;
	for (int other = 0; other < nr; other++) {
		int pos;

		if (other == node)
			continue;
		pos = len;
		while (pos > 1 && node_distance[node][order[pos - 1]] > node_distance[node][other]) {
			order[pos] = order[pos - 1];
			pos--;
		}
		order[pos] = (unsigned char)other;
		len++;
	}
}

/* Everything taken from libhwloc, by name. */
static struct {
	unsigned (*get_api_version)(void);
	int (*topology_init)(hwloc_topology_t *);
	int (*topology_load)(hwloc_topology_t);
	void (*topology_destroy)(hwloc_topology_t);
	int (*topology_is_thissystem)(hwloc_topology_t);
	int (*get_type_depth)(hwloc_topology_t, hwloc_obj_type_t);
	unsigned (*get_nbobjs_by_depth)(hwloc_topology_t, int);
	hwloc_obj_t (*get_obj_by_depth)(hwloc_topology_t, int, unsigned);
	int (*bitmap_next)(hwloc_const_bitmap_t, int);
	int (*distances_get_by_type)(hwloc_topology_t, hwloc_obj_type_t, unsigned *, struct hwloc_distances_s **,
				     unsigned long, unsigned long);
	void (*distances_release)(hwloc_topology_t, struct hwloc_distances_s *);
} hw;

#define HW_SYM(field) { "hwloc_" #field, (void **)&hw.field }
static const struct {
	const char *name;
	void **slot;
} hw_syms[] = {
	HW_SYM(get_api_version),
	HW_SYM(topology_init),
	HW_SYM(topology_load),
	HW_SYM(topology_destroy),
	HW_SYM(topology_is_thissystem),
	HW_SYM(get_type_depth),
	HW_SYM(get_nbobjs_by_depth),
	HW_SYM(get_obj_by_depth),
	HW_SYM(bitmap_next),
	HW_SYM(distances_get_by_type),
	HW_SYM(distances_release),
};

/* What one discovery found, before it is published. */
struct discovery {
	int nr;				/* kslub nodes (after folding) */
	unsigned int nr_hw;		/* hwloc's NUMA nodes */
	bool use_os_index;
	bool thissystem;
};

/* kslub's node for hwloc's NUMA node obj, before folding. */
static unsigned int node_id(const struct discovery *d, hwloc_obj_t obj)
{
	return d->use_os_index ? obj->os_index : obj->logical_index;
}

/* Are the OS indexes of the NUMA nodes exactly 0 .. nr_hw - 1? */
static bool os_indexes_dense(hwloc_topology_t topo, int depth, unsigned int nr_hw)
{
	unsigned long seen[(TOPOLOGY_MAX_NODES * 4) / BITS_PER_ULONG] = { 0 };

	if (nr_hw > TOPOLOGY_MAX_NODES * 4)
		return false;	/* folded anyway: logical numbering */
	for (unsigned int i = 0; i < nr_hw; i++) {
		hwloc_obj_t obj = hw.get_obj_by_depth(topo, depth, i);
		unsigned int os = obj->os_index;

		if (os >= nr_hw || (seen[os / BITS_PER_ULONG] & (1UL << (os % BITS_PER_ULONG))))
			return false;
		seen[os / BITS_PER_ULONG] |= 1UL << (os % BITS_PER_ULONG);
	}
	return true;
}

/* Take a latency matrix: the firmware's first (SLIT, the kernel's node
 * distances), any latency matrix next.  Bandwidth matrices are left out: in
 * them a larger value means closer. */
static void read_distances(hwloc_topology_t topo, const struct discovery *d)
{
	static const unsigned long kinds[] = {
		HWLOC_DISTANCES_KIND_FROM_OS | HWLOC_DISTANCES_KIND_MEANS_LATENCY,
		HWLOC_DISTANCES_KIND_MEANS_LATENCY,
	};

	for (size_t k = 0; k < sizeof(kinds) / sizeof(kinds[0]); k++) {
		struct hwloc_distances_s *dist = NULL;
		unsigned int nr = 1;

		if (hw.distances_get_by_type(topo, HWLOC_OBJ_NUMANODE, &nr, &dist, kinds[k], 0) < 0 || !nr || !dist)
			continue;
		for (unsigned int i = 0; i < dist->nbobjs; i++) {
			unsigned int from = node_id(d, dist->objs[i]);

			if (from >= TOPOLOGY_MAX_NODES || from >= (unsigned int)d->nr)
				continue;
			for (unsigned int j = 0; j < dist->nbobjs; j++) {
				unsigned int to = node_id(d, dist->objs[j]);
				hwloc_uint64_t value = dist->values[i * dist->nbobjs + j];

				if (to >= TOPOLOGY_MAX_NODES || to >= (unsigned int)d->nr || !value)
					continue;
				node_distance[from][to] = value > INT32_MAX ? INT32_MAX : (int)value;
			}
		}
		hw.distances_release(topo, dist);
		return;
	}
}

/* Fill cpu_node[] from each node's cpuset.  A CPU in two nodes' cpusets (a
 * memory-only tier sharing its CPUs with the DRAM node) belongs to the lower
 * kslub node. */
static void read_cpus(hwloc_topology_t topo, int depth, const struct discovery *d)
{
	memset(cpu_node, 0xff, sizeof(cpu_node));
	for (unsigned int i = 0; i < d->nr_hw; i++) {
		hwloc_obj_t obj = hw.get_obj_by_depth(topo, depth, i);
		unsigned int node = node_id(d, obj) % TOPOLOGY_MAX_NODES;

		if (!obj->cpuset)
			continue;
		for (int cpu = hw.bitmap_next(obj->cpuset, -1); cpu >= 0 && cpu < TOPOLOGY_MAX_CPUS;
		     cpu = hw.bitmap_next(obj->cpuset, cpu))
			if (cpu_node[cpu] == 0xff || cpu_node[cpu] > node)
				cpu_node[cpu] = (unsigned char)node;
	}
	for (int cpu = 0; cpu < TOPOLOGY_MAX_CPUS; cpu++)
		if (cpu_node[cpu] == 0xff)
			cpu_node[cpu] = 0;
}

/* Can this process bind memory to another node?  (A container's seccomp
 * filter or a kernel without NUMA says no; better one node than a node whose
 * memory lands anywhere.) */
static const char *check_binding(void)
{
	long page = sysconf(_SC_PAGESIZE);
	void *p = mmap(NULL, (size_t)page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int ret;

	if (p == MAP_FAILED)
		return "no page to test binding on";
	ret = mbind_preferred(p, (size_t)page, node_os_index[1]);
	munmap(p, (size_t)page);
	return ret ? "mbind() refused" : NULL;
}

/* Read the topology from an hwloc that is loaded; NULL when done, else why
 * not. */
static const char *read_topology(hwloc_topology_t topo, struct discovery *d)
{
	int depth = hw.get_type_depth(topo, HWLOC_OBJ_NUMANODE);
	const char *why;

	if (depth != HWLOC_TYPE_DEPTH_NUMANODE)
		return "no NUMA node level";
	d->nr_hw = hw.get_nbobjs_by_depth(topo, depth);
	if (!d->nr_hw)
		return "no NUMA node";
	d->nr = d->nr_hw < TOPOLOGY_MAX_NODES ? (int)d->nr_hw : TOPOLOGY_MAX_NODES;
	d->use_os_index = os_indexes_dense(topo, depth, d->nr_hw);
	d->thissystem = hw.topology_is_thissystem(topo) != 0;

	for (unsigned int i = 0; i < d->nr_hw; i++) {
		hwloc_obj_t obj = hw.get_obj_by_depth(topo, depth, i);
		unsigned int node = node_id(d, obj);

		if (node < TOPOLOGY_MAX_NODES)
			node_os_index[node] = obj->os_index;
	}
	for (int i = 0; i < d->nr; i++)
		for (int j = 0; j < d->nr; j++)
			node_distance[i][j] = i == j ? NODE_DISTANCE_LOCAL : NODE_DISTANCE_REMOTE;
	if (d->nr == 1)
		return "hwloc found one NUMA node";	/* e.g. an XML file it could not read */
	read_distances(topo, d);
	read_cpus(topo, depth, d);
	if (d->thissystem) {
		why = check_binding();
		if (why)
			return why;
	}
	return NULL;
}

static void discover(void)
{
	static const char soname[] = HWLOC_SONAME;
	struct discovery d = { 0 };
	hwloc_topology_t topo;
	const char *why;
	void *handle;

	handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
	if (!handle) {
		verbose("cannot load", soname);
		return;
	}
	for (size_t i = 0; i < sizeof(hw_syms) / sizeof(hw_syms[0]); i++) {
		*hw_syms[i].slot = dlsym(handle, hw_syms[i].name);
		if (!*hw_syms[i].slot) {
			verbose("missing in " HWLOC_SONAME, hw_syms[i].name);
			goto unload;
		}
	}
	/* struct hwloc_obj is read directly: same major version as the header */
	if ((hw.get_api_version() >> 16) != (HWLOC_API_VERSION >> 16)) {
		verbose("wrong hwloc version", soname);
		goto unload;
	}
	if (hw.topology_init(&topo) < 0) {
		verbose("hwloc_topology_init() failed", NULL);
		goto unload;
	}
	if (hw.topology_load(topo) < 0) {
		verbose("hwloc_topology_load() failed", NULL);
		hw.topology_destroy(topo);
		goto unload;
	}
	why = read_topology(topo, &d);
	hw.topology_destroy(topo);
	if (why) {
		memset(cpu_node, 0, sizeof(cpu_node));
		verbose(why, NULL);
		/* hwloc itself worked: it stays, and kslub is one node */
		hwloc_loaded = true;
		return;
	}
	for (int node = 0; node < d.nr; node++)
		build_node_order(node, d.nr);
	bind_real = d.thissystem;
	hwloc_loaded = true;
	__atomic_store_n(&nr_nodes, d.nr, __ATOMIC_RELEASE);
	return;

unload:
	dlclose(handle);
}
#else
static void discover(void)
{
	verbose("built without hwloc", NULL);
}
#endif

static pthread_once_t load_once = PTHREAD_ONCE_INIT;

static void load_once_fn(void)
{
	int saved = errno;

	discover();
	errno = saved;
}

int topology_load(void)
{
	pthread_once(&load_once, load_once_fn);
	return load_nr_nodes();
}

int topology_nr_nodes(void)
{
	return load_nr_nodes();
}

bool topology_hwloc_loaded(void)
{
	return __atomic_load_n(&hwloc_loaded, __ATOMIC_ACQUIRE);
}

/* ---- queries ----------------------------------------------------------------- */

/* The CPU the calling thread runs on.  glibc (2.35 and later) registers an
 * rseq area for every thread, and the kernel keeps its cpu_id current at
 * each return to user space: one load from the thread's TCB.  cpu_id is
 * (uint32_t)-1 before registration and -2 when it failed; then the getcpu
 * vDSO call through sched_getcpu(). */
static inline unsigned int current_cpu(void)
{
	int cpu;

#ifdef TOPOLOGY_HAVE_RSEQ
	if (__builtin_expect(__rseq_size != 0, 1)) {
		const volatile uint32_t *cpu_id =
			(const volatile uint32_t *)((char *)__builtin_thread_pointer() + __rseq_offset + 4);
		uint32_t id = *cpu_id;

		if (__builtin_expect((int32_t)id >= 0, 1))
			return id;
	}
#endif
	cpu = sched_getcpu();
	return cpu < 0 ? 0 : (unsigned int)cpu;
}

int topology_current_node(void)
{
	int node = thread_node;
	unsigned int cpu;

	if (node >= 0)
		return node;
	if (__builtin_expect(load_nr_nodes() == 1, 1))
		return 0;
	cpu = current_cpu();
	return cpu < TOPOLOGY_MAX_CPUS ? cpu_node[cpu] : 0;
}

void topology_set_thread_node(int node)
{
	thread_node = node < 0 ? -1 : node;
}

int topology_cpu_to_node(int cpu)
{
	if (load_nr_nodes() == 1 || cpu < 0 || cpu >= TOPOLOGY_MAX_CPUS)
		return 0;
	return cpu_node[cpu];
}

int topology_node_distance(int from, int to)
{
	int nr = load_nr_nodes();

	if (nr == 1 || from < 0 || to < 0 || from >= nr || to >= nr)
		return from == to ? NODE_DISTANCE_LOCAL : NODE_DISTANCE_REMOTE;
	return node_distance[from][to];
}

const unsigned char *topology_node_order(int node)
{
	int nr = load_nr_nodes();

	if (node < 0 || node >= nr || nr == 1)
		return node_order_one;
	return node_order[node];
}

int topology_bind(void *addr, size_t len, int node)
{
	int nr = load_nr_nodes();

	if (nr == 1 || !bind_real || !len)
		return 0;
	if (node < 0 || node >= nr) {
		errno = EINVAL;
		return -1;
	}
	return mbind_preferred(addr, len, node_os_index[node]);
}
