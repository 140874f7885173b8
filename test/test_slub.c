/* SPDX-License-Identifier: MIT */
/*
 * test_slub.c - SLUB object caches through the public API: create, alloc,
 * free, shrink and destroy; constructors run as the kernel runs them;
 * SLAB_HWCACHE_ALIGN; the slub_min_order / slub_min_objects tunables; and
 * misuse (double free, interior, stack and global pointers, the wrong cache)
 * aborts with a message that names the function and the pointer.
 *
 * Every test that uses a cache ends by validating it.  Misuse runs in a
 * child: the .signal tests let Criterion's own child die, the message tests
 * fork one and read its stderr through a pipe.
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/single_threaded.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kslub.h"
#include "child.h"
#include "report.h"
#include "resident.h"

#define PAGE KSLUB_PAGE_SIZE
#define MAX_OBJS_PER_PAGE 32767 /* kernel: objects in a slab fit struct slab's 15-bit count */

/* ---- helpers ---------------------------------------------------------------- */

static struct kslub_cache_info cache_info(struct kmem_cache *s)
{
	struct kslub_cache_info info;

	cr_assert_eq(kslub_cache_info(s, &info), 0, "kslub_cache_info(%s) failed", kslub_kmem_cache_name(s));
	return info;
}

static void validate(struct kmem_cache *s)
{
	cr_assert_eq(kslub_validate_slab_cache(s), 0, "cache %s is inconsistent (see stderr)",
		     kslub_kmem_cache_name(s));
}

static void no_core_dump(void)
{
	struct rlimit r = { 0, 0 };

	setrlimit(RLIMIT_CORE, &r);
}

/* A child's exit status and what it wrote on stdout and stderr. */
struct child {
	int status;
	char out[4096];
	char err[16384];
};

static void run_child(void (*fn)(void), struct child *c)
{
	child_run(child_call_void, &fn, &c->status, c->out, sizeof(c->out), c->err, sizeof(c->err));
}

static int count_substr(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/* ---- create, alloc, free, destroy ---------------------------------------------- */

Test(slub, objects_are_distinct_and_counted_until_freed)
{
	enum { N = 3000, SIZE = 100 };
	static unsigned char *objs[N];
	struct kmem_cache *s = kmem_cache_create("test_objects", SIZE, 0, 0, NULL);
	struct kslub_cache_info info;

	cr_assert_not_null(s);
	cr_assert_eq(kmem_cache_size(s), SIZE);
	cr_assert_str_eq(kslub_kmem_cache_name(s), "test_objects");
	info = cache_info(s);
	cr_assert_eq(info.active_objs, 0);
	cr_assert_eq(info.object_size, SIZE);
	cr_assert_geq(info.size, SIZE);
	cr_assert_eq(info.objs_per_slab, (PAGE << info.order) / info.size,
		     "a slab of order %u holds %u objects of %u bytes", info.order, info.objs_per_slab, info.size);

	for (int i = 0; i < N; i++) {
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		cr_assert_eq((uintptr_t)objs[i] % sizeof(void *), 0, "object %p is not pointer aligned",
			     (void *)objs[i]);
		memset(objs[i], (unsigned char)i, SIZE);
	}
	info = cache_info(s);
	cr_assert_eq(info.active_objs, N, "%d objects allocated, %lu active", N, info.active_objs);
	cr_assert_geq(info.num_objs, N);
	cr_assert_eq(info.num_objs, info.num_slabs * info.objs_per_slab);
	validate(s);
	for (int i = 0; i < N; i++)
		for (int j = 0; j < SIZE; j++)
			cr_assert_eq(objs[i][j], (unsigned char)i, "object %d was overwritten at byte %d", i, j);
	for (int i = 0; i < N; i += 2)
		kmem_cache_free(s, objs[i]);
	info = cache_info(s);
	cr_assert_eq(info.active_objs, N / 2, "%d objects live, %lu active", N / 2, info.active_objs);
	validate(s);
	for (int i = 1; i < N; i += 2)
		kmem_cache_free(s, objs[i]);
	info = cache_info(s);
	cr_assert_eq(info.active_objs, 0, "everything freed, %lu objects still active", info.active_objs);
	validate(s);
	kmem_cache_destroy(s);
}

Test(slub, create_rejects_what_the_kernel_rejects)
{
	errno = 0;
	cr_assert_null(kmem_cache_create("zero_size", 0, 0, 0, NULL), "a cache of 0-byte objects was created");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(kmem_cache_create("bad_align", 64, 24, 0, NULL), "an alignment of 24 was accepted");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(kmem_cache_create(NULL, 64, 0, 0, NULL), "a cache without a name was created");
	cr_assert_eq(errno, EINVAL);
	errno = 0;
	cr_assert_null(kmem_cache_create("too_big", (unsigned int)(PAGE << KSLUB_MAX_ORDER), 0, 0, NULL),
		       "a cache of objects larger than the largest buddy block was created");
}

Test(slub, zalloc_zeroes_an_object_that_was_dirty)
{
	enum { N = 200, SIZE = 72 };
	void *objs[N];
	struct kmem_cache *s = kmem_cache_create("test_zalloc", SIZE, 0, 0, NULL);

	cr_assert_not_null(s);
	for (int i = 0; i < N; i++) {
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		memset(objs[i], 0xff, SIZE);
	}
	for (int i = 0; i < N; i++)
		kmem_cache_free(s, objs[i]);
	for (int i = 0; i < N; i++) {
		unsigned char *p = kmem_cache_zalloc(s, GFP_KERNEL);

		cr_assert_not_null(p);
		for (int j = 0; j < SIZE; j++)
			cr_assert_eq(p[j], 0, "kmem_cache_zalloc object %d: byte %d is %#x", i, j, p[j]);
		objs[i] = p;
	}
	for (int i = 0; i < N; i++)
		kmem_cache_free(s, objs[i]);
	validate(s);
	kmem_cache_destroy(s);
}

/* ---- constructors ---------------------------------------------------------------- */

#define CTOR_MAGIC 0xc0275ac7ed0b1ec7UL
struct ctor_obj {
	struct ctor_obj *self;	/* the ctor saw this very address */
	unsigned long magic;
	unsigned char body[104];
};
static unsigned long ctor_calls;

static void ctor(void *p)
{
	struct ctor_obj *o = p;

	o->self = o;
	o->magic = CTOR_MAGIC;
	memset(o->body, 0xc7, sizeof(o->body));
	ctor_calls++;
}

static void check_constructed(struct ctor_obj *o)
{
	cr_assert_eq(o->self, o, "object %p was not made by the constructor (self %p)", (void *)o, (void *)o->self);
	cr_assert_eq(o->magic, CTOR_MAGIC, "object %p lost its constructed state: magic %#lx", (void *)o, o->magic);
	for (size_t i = 0; i < sizeof(o->body); i++)
		cr_assert_eq(o->body[i], 0xc7, "object %p lost its constructed state at body byte %zu", (void *)o, i);
}

Test(slub, constructor_runs_once_per_object_when_its_slab_is_made)
{
	enum { N = 1000 };
	static struct ctor_obj *objs[N];
	struct kmem_cache *s = kmem_cache_create("test_ctor", sizeof(struct ctor_obj), 0, 0, ctor);
	struct kslub_cache_info info;
	unsigned long made;

	cr_assert_not_null(s);
	cr_assert_eq(ctor_calls, 0, "the constructor ran %lu times before any slab was made", ctor_calls);
	for (int i = 0; i < N; i++) {
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		check_constructed(objs[i]);
	}
	info = cache_info(s);
	made = ctor_calls;
	cr_assert_eq(made, info.num_objs,
		     "the constructor ran %lu times for %lu objects in %lu slabs: once per object of each new slab",
		     made, info.num_objs, info.num_slabs);

	/* Free every other object: no slab empties, so none is given back, and
	 * allocating as many again reuses them without constructing anew. */
	for (int i = 0; i < N; i += 2)
		kmem_cache_free(s, objs[i]);
	for (int i = 0; i < N; i += 2) {
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		check_constructed(objs[i]);
	}
	cr_assert_eq(ctor_calls, made, "the constructor ran again on allocation (%lu calls, %lu before)",
		     ctor_calls, made);
	info = cache_info(s);
	cr_assert_eq(info.num_objs, made);
	cr_assert_eq(info.active_objs, N);

	for (int i = 0; i < N; i++)
		kmem_cache_free(s, objs[i]);
	validate(s);
	kmem_cache_destroy(s);
}

Test(slub, constructed_state_survives_free_and_realloc_of_the_same_object)
{
	struct kmem_cache *s = kmem_cache_create("test_ctor_state", sizeof(struct ctor_obj), 0, 0, ctor);
	struct ctor_obj *o, *again;

	cr_assert_not_null(s);
	o = kmem_cache_alloc(s, GFP_KERNEL);
	cr_assert_not_null(o);
	kmem_cache_free(s, o);
	/* the last object freed to the thread's slab is the next one handed out */
	again = kmem_cache_alloc(s, GFP_KERNEL);
	cr_assert_eq(again, o, "kmem_cache_alloc after a free gave %p, not the object just freed %p",
		     (void *)again, (void *)o);
	check_constructed(again);
	kmem_cache_free(s, again);
	validate(s);
	kmem_cache_destroy(s);
}

/* ---- alignment -------------------------------------------------------------------- */

struct align_case {
	unsigned int size;
	unsigned int align;	/* asked for */
	slab_flags_t flags;
};

/* The kernel's calculate_alignment(), with x86-64's 64-byte cache line. */
static unsigned int kernel_alignment(const struct align_case *c)
{
	unsigned int align = c->align;

	if (c->flags & SLAB_HWCACHE_ALIGN) {
		unsigned int ralign = 64;

		while (c->size <= ralign / 2)
			ralign /= 2;
		align = align > ralign ? align : ralign;
	}
	if (align < sizeof(void *))
		align = sizeof(void *);
	return align;
}

ParameterizedTestParameters(slub, objects_are_aligned_as_asked)
{
	static struct align_case cases[] = {
		{ 8, 0, SLAB_HWCACHE_ALIGN },	{ 20, 0, SLAB_HWCACHE_ALIGN },	{ 33, 0, SLAB_HWCACHE_ALIGN },
		{ 40, 0, SLAB_HWCACHE_ALIGN },	{ 64, 0, SLAB_HWCACHE_ALIGN },	{ 100, 0, SLAB_HWCACHE_ALIGN },
		{ 200, 0, SLAB_HWCACHE_ALIGN }, { 1000, 0, SLAB_HWCACHE_ALIGN }, { 24, 128, 0 },
		{ 40, 256, 0 },			{ 100, 4096, 0 },		{ 12, 16, SLAB_HWCACHE_ALIGN },
	};

	return cr_make_param_array(struct align_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct align_case *c, slub, objects_are_aligned_as_asked)
{
	enum { N = 300 };
	void *objs[N];
	unsigned int align = kernel_alignment(c);
	struct kmem_cache *s = kmem_cache_create("test_align", c->size, c->align, c->flags, NULL);

	cr_assert_not_null(s, "size %u align %u flags %#x: no cache", c->size, c->align, c->flags);
	for (int i = 0; i < N; i++) {
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		cr_assert_eq((uintptr_t)objs[i] % align, 0, "size %u align %u flags %#x: object %p is not aligned to %u",
			     c->size, c->align, c->flags, objs[i], align);
		memset(objs[i], 0x11, c->size);
	}
	for (int i = 0; i < N; i++)
		kmem_cache_free(s, objs[i]);
	validate(s);
	kmem_cache_destroy(s);
}

/* ---- shrink and destroy --------------------------------------------------------------- */

Test(slub, shrink_gives_empty_slabs_back)
{
	enum { N = 5000 };
	static void *objs[N];
	struct kmem_cache *s = kmem_cache_create("test_shrink", 256, 0, 0, NULL);
	struct kslub_cache_info info;

	cr_assert_not_null(s);
	for (int i = 0; i < N; i++) {
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
	}
	for (int i = 1; i < N; i++)
		kmem_cache_free(s, objs[i]);
	info = cache_info(s);
	cr_assert_gt(info.num_slabs, 1, "no empty slab is kept in reserve: nothing to shrink");
	cr_assert_eq(kmem_cache_shrink(s), 0);
	info = cache_info(s);
	cr_assert_eq(info.num_slabs, 1, "one object is live: one slab must be left after shrink, %lu are",
		     info.num_slabs);
	cr_assert_eq(info.active_objs, 1);
	validate(s);
	kmem_cache_free(s, objs[0]);
	cr_assert_eq(kmem_cache_shrink(s), 0);
	info = cache_info(s);
	cr_assert_eq(info.num_slabs, 0, "no object is live: %lu slabs left after shrink", info.num_slabs);
	cr_assert_eq(info.num_objs, 0);
	validate(s);

	/* the cache still works */
	objs[0] = kmem_cache_alloc(s, GFP_KERNEL);
	cr_assert_not_null(objs[0]);
	kmem_cache_free(s, objs[0]);
	validate(s);
	kmem_cache_destroy(s);
}

Test(slub, trim_releases_the_empty_slabs_held_in_reserve)
{
	enum { N = 5000 };
	static void *objs[N];
	struct kmem_cache *s = kmem_cache_create("test_trim", 256, 0, 0, NULL);
	struct kslub_cache_info info;

	cr_assert_not_null(s);
	for (int i = 0; i < N; i++) {
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
	}
	for (int i = 0; i < N; i++)
		kmem_cache_free(s, objs[i]);
	info = cache_info(s);
	cr_assert_gt(info.num_slabs, 0, "no empty slab is kept in reserve: nothing to trim");
	/* kslub.h: kslub_trim() "release[s] empty slabs held in reserve" */
	kslub_trim();
	info = cache_info(s);
	cr_assert_eq(info.num_slabs, 0, "no object is live, yet %lu empty slabs are left after kslub_trim()",
		     info.num_slabs);
	validate(s);
	kmem_cache_destroy(s);
}

static void destroy_with_live_objects(void)
{
	struct kmem_cache *s = kmem_cache_create("test_leaky", 48, 0, 0, NULL);
	void *objs[40];

	for (int i = 0; i < 40; i++)
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
	for (int i = 3; i < 40; i++)
		kmem_cache_free(s, objs[i]);
	for (int i = 0; i < 3; i++)
		printf("%p\n", objs[i]);
	fflush(stdout);
	kmem_cache_destroy(s);
	/* the kernel keeps such a cache: it must still work */
	objs[3] = kmem_cache_alloc(s, GFP_KERNEL);
	for (int i = 0; i < 4; i++)
		kmem_cache_free(s, objs[i]);
	if (kslub_validate_slab_cache(s) != 0)
		_exit(3);
	kmem_cache_destroy(s);
	_exit(0);
}

Test(slub, destroy_with_live_objects_reports_them_and_keeps_the_cache)
{
	struct child c;
	char *line, *save = NULL;
	int listed = 0;

	run_child(destroy_with_live_objects, &c);
	cr_assert(WIFEXITED(c.status), "the child died (status %#x); stderr:\n%s", c.status, c.err);
	cr_assert_eq(WEXITSTATUS(c.status), 0, "the cache was inconsistent after the failed destroy; stderr:\n%s",
		     c.err);
	cr_assert_eq(count_substr(c.err, "Slab cache still has objects"), 1,
		     "kmem_cache_destroy with 3 live objects must say \"Slab cache still has objects\" once; "
		     "stderr:\n%s", c.err);
	cr_assert(strstr(c.err, "test_leaky"), "the report does not name the cache; stderr:\n%s", c.err);
	for (line = strtok_r(c.out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		cr_assert(strstr(c.err, line), "live object %s is not in the report; stderr:\n%s", line, c.err);
		listed++;
	}
	cr_assert_eq(listed, 3, "the child printed %d pointers", listed);
}

static void destroy_empty(void)
{
	struct kmem_cache *s = kmem_cache_create("test_clean", 48, 0, 0, NULL);
	void *objs[100];

	for (int i = 0; i < 100; i++)
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
	for (int i = 0; i < 100; i++)
		kmem_cache_free(s, objs[i]);
	if (kslub_validate_slab_cache(s) != 0)
		_exit(3);
	kmem_cache_destroy(s);
}

Test(slub, destroy_of_a_cache_without_objects_is_silent)
{
	struct child c;

	run_child(destroy_empty, &c);
	cr_assert(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0, "status %#x; stderr:\n%s", c.status, c.err);
	cr_assert_str_empty(c.err, "destroying an empty cache printed:\n%s", c.err);
}

Test(slub, caches_can_be_created_and_destroyed_many_times)
{
	/* more than the cache slots of a thread, so destroyed slots are reused */
	for (int round = 0; round < 1200; round++) {
		struct kmem_cache *s = kmem_cache_create("test_churn", 32 + round % 200, 0, 0, NULL);
		void *p;

		cr_assert_not_null(s, "round %d: kmem_cache_create failed (errno %d)", round, errno);
		p = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(p);
		memset(p, 0x3c, 32 + round % 200);
		kmem_cache_free(s, p);
		validate(s);
		kmem_cache_destroy(s);
	}
}

Test(slub, creating_more_caches_than_fit_fails_cleanly_and_destroying_one_makes_room)
{
	enum { MAX = 10000 };
	static struct kmem_cache *caches[MAX];
	int n = 0, err = 0;
	void *p;

	for (; n < MAX; n++) {
		errno = 0;
		caches[n] = kmem_cache_create("test_many", 64, 0, 0, NULL);
		if (!caches[n]) {
			err = errno;
			break;
		}
		p = kmem_cache_alloc(caches[n], GFP_KERNEL);
		cr_assert_not_null(p, "cache %d: no object", n);
		kmem_cache_free(caches[n], p);
	}
	if (n < MAX) {
		/* a limit is allowed; a failure without a reason is not */
		cr_assert_neq(err, 0, "kmem_cache_create failed after %d caches without setting errno", n);
		cr_assert_gt(n, 100, "only %d caches could be made", n);
		kmem_cache_destroy(caches[n - 1]);
		caches[n - 1] = kmem_cache_create("test_many_again", 64, 0, 0, NULL);
		cr_assert_not_null(caches[n - 1], "no cache can be made after one was destroyed");
	}
	for (int i = 0; i < n; i++) {
		p = kmem_cache_alloc(caches[i], GFP_KERNEL);
		cr_assert_not_null(p);
		kmem_cache_free(caches[i], p);
		validate(caches[i]);
		kmem_cache_destroy(caches[i]);
	}
}

/* ---- tunables --------------------------------------------------------------------------- */

static void min_order_2(void)
{
	setenv("KSLUB_MIN_ORDER", "2", 1);
}

Test(slub, min_order_tunable_gives_slabs_of_at_least_that_order, .init = min_order_2)
{
	struct kmem_cache *s = kmem_cache_create("test_min_order", 64, 0, 0, NULL);
	struct kmem_cache *k = kslub_kmalloc_cache(8);
	struct kslub_cache_info info;
	void **objs;

	cr_assert_not_null(s);
	info = cache_info(s);
	cr_assert_geq(info.order, 2, "KSLUB_MIN_ORDER=2, yet a cache of 64-byte objects has order %u", info.order);
	cr_assert_eq(info.objs_per_slab, (PAGE << info.order) / info.size);
	cr_assert_geq(cache_info(k).order, 2, "KSLUB_MIN_ORDER=2, yet kmalloc-8 has order %u", cache_info(k).order);

	/* one object more than a slab holds takes exactly two slabs */
	objs = calloc(info.objs_per_slab + 1, sizeof(void *));
	cr_assert_not_null(objs);
	for (unsigned int i = 0; i <= info.objs_per_slab; i++) {
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
	}
	info = cache_info(s);
	cr_assert_eq(info.num_slabs, 2, "%u objects in slabs of %u took %lu slabs", info.objs_per_slab + 1,
		     info.objs_per_slab, info.num_slabs);
	cr_assert_eq(info.num_objs, 2 * (unsigned long)info.objs_per_slab);
	for (unsigned int i = 0; i <= info.objs_per_slab; i++)
		kmem_cache_free(s, objs[i]);
	free(objs);
	validate(s);
	validate(k);
	kmem_cache_destroy(s);
}

/* By default a slab should hold 4 * (fls(cpus) + 1) objects (the kernel's
 * slub_min_objects rule), cpus those this process may run on: a cache of
 * 1 KiB objects takes the smallest order that holds that many, at most 3. */
Test(slub, default_min_objects_follows_the_cpus_the_process_may_use)
{
	cpu_set_t set;
	unsigned int cpus, fls_cpus = 0, min_objects, order = 0;
	struct kmem_cache *s;

	cr_assert_eq(sched_getaffinity(0, sizeof(set), &set), 0);
	cpus = (unsigned int)CPU_COUNT(&set);
	while (cpus >> fls_cpus)
		fls_cpus++;
	min_objects = 4 * (fls_cpus + 1);
	while (order < 3 && (PAGE << order) / 1024 < min_objects)
		order++;
	s = kmem_cache_create("test_default_min_objects", 1024, 0, 0, NULL);
	cr_assert_not_null(s);
	cr_assert_eq(cache_info(s).order, order, "%u cpus: slabs of 1 KiB objects of order %u, want %u (%u objects)",
		     cpus, cache_info(s).order, order, min_objects);
	kmem_cache_destroy(s);
}

static void min_objects_64(void)
{
	setenv("KSLUB_MIN_OBJECTS", "64", 1);
}

Test(slub, min_objects_tunable_gives_slabs_of_at_least_that_many_objects, .init = min_objects_64)
{
	struct kmem_cache *s = kmem_cache_create("test_min_objects", 256, 0, 0, NULL);
	struct kslub_cache_info info;
	void *p;

	cr_assert_not_null(s);
	info = cache_info(s);
	cr_assert_geq(info.objs_per_slab, 64, "KSLUB_MIN_OBJECTS=64, yet a slab of 256-byte objects holds %u",
		      info.objs_per_slab);
	cr_assert_eq(info.objs_per_slab, (PAGE << info.order) / info.size);
	p = kmem_cache_alloc(s, GFP_KERNEL);
	cr_assert_not_null(p);
	cr_assert_eq(cache_info(s).num_objs, info.objs_per_slab);
	kmem_cache_free(s, p);
	validate(s);
	kmem_cache_destroy(s);
}

static void many_min_objects(void)
{
	/* both in range: slub_max_order up to MAX_ORDER - 1, min_objects up to 32767 */
	setenv("KSLUB_MAX_ORDER", "10", 1);
	setenv("KSLUB_MIN_OBJECTS", "20000", 1);
}

Test(slub, min_objects_never_makes_a_slab_of_more_objects_than_a_slab_can_count, .init = many_min_objects)
{
	enum { N = 70000 };
	static void *objs[N];
	struct kmem_cache *s = kslub_kmalloc_cache(8);
	struct kslub_cache_info info = cache_info(s);

	cr_assert_leq(info.objs_per_slab, MAX_OBJS_PER_PAGE,
		      "kmalloc-8 slabs of order %u hold %u objects; struct slab counts at most %d",
		      info.order, info.objs_per_slab, MAX_OBJS_PER_PAGE);
	for (int i = 0; i < N; i++) {
		objs[i] = kmalloc(8, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		*(long *)objs[i] = i;
	}
	cr_assert_eq(cache_info(s).active_objs, N);
	validate(s);
	for (int i = 0; i < N; i++) {
		cr_assert_eq(*(long *)objs[i], i, "object %d was overwritten", i);
		kfree(objs[i]);
	}
	cr_assert_eq(cache_info(s).active_objs, 0);
	validate(s);
}

/* ---- the order in which a slab hands out its objects ------------------------------------- */

/* Frees reach a slab one at a time, in the program's order; a slab that the
 * thread takes back hands its free objects out in address order, as a new
 * slab does.  No sheaves here, so that each free goes to its slab. */
static void sheaves_off(void)
{
	setenv("KSLUB_SHEAF_CAPACITY", "0", 1);
}

/* ... and no cpu-partial lists: a slab freed into goes to the node's list. */
static void slabs_only(void)
{
	sheaves_off();
	setenv("KSLUB_CPU_PARTIAL", "0", 1);
}

static int by_address(const void *a, const void *b)
{
	uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;

	return (x > y) - (x < y);
}

static void *nothing(void *arg)
{
	return arg;
}

enum { UPWARDS = 0, SETUP_FAILED = 3, MORE_THAN_ONE_THREAD = 4, NOT_UPWARDS = 5 };

/* A new cache's first slab filled, a second begun, every other object of
 * the first freed lowest first (last in first out, a slab would hand them
 * out downwards), the second used up; the next objects must be the ones
 * freed, each above the one before.  With no cpu-partial lists the first
 * slab comes back from the node's list.  With them, and a second thread
 * come and gone before the frees, the first free makes the slab the
 * thread's, on its cpu-partial list, and the others go on the slab's local
 * list, which comes back first: all but the first freed. */
static int slab_comes_back_upwards(const char *name, bool second_thread)
{
	struct kmem_cache *s = kmem_cache_create(name, 64, 0, 0, NULL);
	struct kslub_cache_info info;
	void *objs[512], *second[512], *prev = NULL;
	uintptr_t lo, size;
	unsigned int n, count;
	pthread_t t;

	if (!s || kslub_cache_info(s, &info) || info.objs_per_slab > 512)
		return SETUP_FAILED;
	n = info.objs_per_slab;
	count = second_thread ? n / 2 - 1 : n / 2;
	size = kmem_cache_size(s);
	for (unsigned int i = 0; i < n; i++)
		if (!(objs[i] = kmem_cache_alloc(s, GFP_KERNEL)))
			return SETUP_FAILED;
	qsort(objs, n, sizeof(void *), by_address);
	lo = (uintptr_t)objs[0];
	if ((uintptr_t)objs[n - 1] - lo != (n - 1) * size)
		return SETUP_FAILED;	/* not one slab */
	/* a second slab becomes the cpu slab; the first, full, is on no list */
	if (!(second[0] = kmem_cache_alloc(s, GFP_KERNEL)))
		return SETUP_FAILED;
	if (second_thread && (pthread_create(&t, NULL, nothing, NULL) || pthread_join(t, NULL)))
		return SETUP_FAILED;
	for (unsigned int i = 1; i < n; i += 2) {
		kmem_cache_free(s, objs[i]);
		objs[i] = NULL;
	}
	for (unsigned int i = 1; i < n; i++)
		if (!(second[i] = kmem_cache_alloc(s, GFP_KERNEL)))
			return SETUP_FAILED;
	for (unsigned int k = 0; k < count; k++) {
		void *p = kmem_cache_alloc(s, GFP_KERNEL);
		uintptr_t i = ((uintptr_t)p - lo) / size;

		if (!p || (uintptr_t)p <= lo || i >= n || objs[i])
			return SETUP_FAILED;	/* not one of those freed */
		if (prev && (uintptr_t)p < (uintptr_t)prev)
			return NOT_UPWARDS;
		prev = p;
		objs[i] = p;
	}
	if (kslub_validate_slab_cache(s))
		return SETUP_FAILED;
	for (unsigned int i = 0; i < n; i++) {
		if (objs[i])
			kmem_cache_free(s, objs[i]);
		kmem_cache_free(s, second[i]);
	}
	if (kslub_validate_slab_cache(s))
		return SETUP_FAILED;
	kmem_cache_destroy(s);
	return UPWARDS;
}

static void assert_upwards(int result)
{
	cr_assert_neq(result, MORE_THAN_ONE_THREAD, "the child had more than one thread");
	cr_assert_neq(result, NOT_UPWARDS, "the slab's free objects were not handed out upwards");
	cr_assert_eq(result, UPWARDS, "the setup went wrong (%d)", result);
}

/* The node's partial slabs stay as they are once the process has a second
 * thread: run this program again, before criterion starts its threads. */
__attribute__((constructor)) static void upwards_child(void)
{
	if (!getenv("KSLUB_TEST_UPWARDS_CHILD"))
		return;
	if (!__libc_single_threaded)
		_exit(MORE_THAN_ONE_THREAD);
	_exit(slab_comes_back_upwards("test_upwards", false));
}

Test(slub, a_slab_taken_back_from_the_node_hands_out_its_free_objects_upwards, .init = slabs_only, .timeout = 60)
{
	int status = child_exec_self("KSLUB_TEST_UPWARDS_CHILD", NULL, NULL);

	cr_assert(WIFEXITED(status), "the child died (status %#x)", status);
	assert_upwards(WEXITSTATUS(status));
}

Test(slub, own_frees_to_a_cpu_partial_slab_come_back_upwards, .init = sheaves_off)
{
	assert_upwards(slab_comes_back_upwards("test_local_upwards", true));
}

/* ---- fresh objects ------------------------------------------------------------------------ */

/* A new slab writes only the pages of the objects it hands out: the first
 * page when it is made, the next ones as its objects are taken, and each
 * object once.  With a second thread in the process a thread's first
 * allocations of a cache are single ones from the node lists (alloc_single),
 * the later ones by the cpu slab: both take fresh objects here. */
Test(slub, a_new_slab_writes_only_the_pages_of_the_objects_it_hands_out)
{
	enum { SIZE = 4096 };
	struct kmem_cache *s;
	struct kslub_cache_info info;
	static char *objs[3 * 64];
	unsigned int n, pages;
	uintptr_t slab;
	pthread_t t;

	cr_assert_eq(pthread_create(&t, NULL, nothing, NULL), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	/* every free block clean: a page resident below is one written */
	kslub_trim();
	s = kmem_cache_create("test_fresh", SIZE, 0, 0, NULL);
	cr_assert_not_null(s);
	info = cache_info(s);
	n = info.objs_per_slab;
	pages = 1u << info.order;
	cr_assert_gt(pages, 2, "a slab of order %u: nothing to tell", info.order);
	objs[0] = kmem_cache_alloc(s, GFP_KERNEL);
	cr_assert_not_null(objs[0]);
	slab = (uintptr_t)objs[0] & ~((uintptr_t)pages * PAGE - 1);
	cr_assert_eq((uintptr_t)objs[0], slab, "the first object is not at its slab's start");
	cr_assert_eq(resident_pages((void *)slab, pages), 1u,
		     "a new slab of %u pages with one object handed out has pages %#x resident, not its first only",
		     pages, resident_pages((void *)slab, pages));
	for (unsigned int i = 1; i < 3 * n; i++) {
		objs[i] = kmem_cache_alloc(s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		for (unsigned int j = 0; j < i; j++)
			cr_assert_neq(objs[i], objs[j], "object %u handed out twice (%p)", j, (void *)objs[j]);
		if (i < n) {
			cr_assert_eq((uintptr_t)objs[i], slab + (uintptr_t)i * SIZE,
				     "object %u of a new slab is at %p, not next after the one before", i,
				     (void *)objs[i]);
			cr_assert_eq(resident_pages((void *)slab, pages), (2u << i) - 1,
				     "%u objects of %u pages each handed out, pages %#x resident", i + 1, SIZE / PAGE,
				     resident_pages((void *)slab, pages));
		}
		memset(objs[i], (int)i, SIZE);
	}
	info = cache_info(s);
	cr_assert_eq(info.active_objs, 3 * n, "%u objects live, %lu active", 3 * n, info.active_objs);
	cr_assert_eq(info.num_slabs, 3);
	validate(s);
	for (unsigned int i = 0; i < 3 * n; i += 2)
		kmem_cache_free(s, objs[i]);
	validate(s);
	for (unsigned int i = 1; i < 3 * n; i += 2) {
		cr_assert_eq((unsigned char)objs[i][SIZE - 1], (unsigned char)i, "object %u was overwritten", i);
		kmem_cache_free(s, objs[i]);
	}
	info = cache_info(s);
	cr_assert_eq(info.active_objs, 0, "everything freed, %lu objects active", info.active_objs);
	validate(s);
	kmem_cache_destroy(s);
}

/* ---- misuse ---------------------------------------------------------------------------- */

/* In the message tests each prints the pointer it misuses on stdout first. */
static bool show_pointer;

static void show(const void *p)
{
	if (!show_pointer)
		return;
	printf("%p\n", p);
	fflush(stdout);
}

static void kfree_twice(void)
{
	void *p = kmalloc(64, GFP_KERNEL);

	show(p);
	kfree(p);
	kfree(p);
}

static void kfree_interior(void)
{
	char *p = kmalloc(64, GFP_KERNEL);

	show(p + 8);
	kfree(p + 8);
}

static void kfree_stack(void)
{
	char buf[64];

	memset(buf, 0, sizeof(buf));
	show(buf);
	kfree(buf);
}

static char global_buf[64];

static void kfree_global(void)
{
	show(global_buf);
	kfree(global_buf);
}

static void cache_free_twice(void)
{
	struct kmem_cache *s = kmem_cache_create("test_twice", 40, 0, 0, NULL);
	void *p = kmem_cache_alloc(s, GFP_KERNEL);

	show(p);
	kmem_cache_free(s, p);
	kmem_cache_free(s, p);
}

static void cache_free_interior(void)
{
	struct kmem_cache *s = kmem_cache_create("test_interior", 40, 0, 0, NULL);
	char *p = kmem_cache_alloc(s, GFP_KERNEL);

	show(p + 16);
	kmem_cache_free(s, p + 16);
}

static void cache_free_wrong_cache(void)
{
	struct kmem_cache *a = kmem_cache_create("test_cache_a", 40, 0, 0, NULL);
	struct kmem_cache *b = kmem_cache_create("test_cache_b", 40, 0, 0, NULL);
	void *p = kmem_cache_alloc(a, GFP_KERNEL);

	show(p);
	kmem_cache_free(b, p);
}

static void cache_free_kmalloc_object(void)
{
	struct kmem_cache *s = kmem_cache_create("test_cache_64", 64, 0, 0, NULL);
	void *p = kmalloc(64, GFP_KERNEL);

	show(p);
	kmem_cache_free(s, p);
}

static void cache_free_large_block(void)
{
	struct kmem_cache *s = kmem_cache_create("test_cache_large", 64, 0, 0, NULL);
	void *p = kmalloc(64 * 1024, GFP_KERNEL);

	show(p);
	kmem_cache_free(s, p);
}

static void cache_free_stack(void)
{
	struct kmem_cache *s = kmem_cache_create("test_cache_stack", 64, 0, 0, NULL);
	char buf[64];

	memset(buf, 0, sizeof(buf));
	show(buf);
	kmem_cache_free(s, buf);
}

static void ksize_interior(void)
{
	char *p = kmalloc(64, GFP_KERNEL);

	show(p + 8);
	(void)ksize(p + 8);
}

static void kfree_large_interior(void)
{
	char *p = kmalloc(64 * 1024, GFP_KERNEL);

	/* a page into a live block: the block is not free */
	show(p + PAGE);
	kfree(p + PAGE);
}

static void ksize_large_interior(void)
{
	char *p = kmalloc(64 * 1024, GFP_KERNEL);

	show(p + 3 * PAGE);
	(void)ksize(p + 3 * PAGE);
}

static void kfree_large_twice(void)
{
	char *p = kmalloc(64 * 1024, GFP_KERNEL);

	show(p);
	kfree(p);
	kfree(p);
}

Test(slub, double_free_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	kfree_twice();
}

Test(slub, free_of_interior_pointer_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	kfree_interior();
}

Test(slub, free_of_stack_pointer_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	kfree_stack();
}

Test(slub, free_of_global_pointer_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	kfree_global();
}

Test(slub, kmem_cache_free_twice_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	cache_free_twice();
}

Test(slub, kmem_cache_free_of_interior_pointer_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	cache_free_interior();
}

Test(slub, kmem_cache_free_to_the_wrong_cache_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	cache_free_wrong_cache();
}

Test(slub, kmem_cache_free_of_a_kmalloc_object_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	cache_free_kmalloc_object();
}

Test(slub, kmem_cache_free_of_a_kmalloc_large_block_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	cache_free_large_block();
}

Test(slub, ksize_of_interior_pointer_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	ksize_interior();
}

Test(slub, free_of_a_pointer_inside_a_large_block_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	kfree_large_interior();
}

Test(slub, double_free_of_a_large_block_aborts, .signal = SIGABRT, .init = no_core_dump)
{
	kfree_large_twice();
}

/* The message: "kslub: prog[pid]: func(): what ... 0x..." */
struct misuse_case {
	int index;		/* into misuses[] */
	char func[24];		/* the public function named */
	char what[40];		/* words the message must hold */
	char what2[40];		/* more words, or "" */
	char wrong[24];		/* words it must not hold: a wrong diagnosis */
};

static void (*const misuses[])(void) = {
	kfree_twice,	     kfree_interior,	     kfree_stack,	     kfree_global,
	cache_free_twice,    cache_free_interior,    cache_free_wrong_cache, cache_free_kmalloc_object,
	cache_free_large_block, ksize_interior, kfree_large_interior, ksize_large_interior, kfree_large_twice,
	cache_free_stack,
};

ParameterizedTestParameters(slub, misuse_message_names_the_function_and_the_pointer)
{
	static struct misuse_case cases[] = {
		{ 0, "kfree()", "double free", "kmalloc-64", "" },
		{ 1, "kfree()", "invalid pointer", "kmalloc-64", "" },
		{ 2, "kfree()", "invalid pointer", "", "" },
		{ 3, "kfree()", "invalid pointer", "", "" },
		{ 4, "kmem_cache_free()", "double free", "test_twice", "" },
		{ 5, "kmem_cache_free()", "invalid pointer", "test_interior", "" },
		{ 6, "kmem_cache_free()", "test_cache_a", "test_cache_b", "" },
		{ 7, "kmem_cache_free()", "kmalloc-64", "test_cache_64", "" },
		{ 8, "kmem_cache_free()", "invalid pointer", "", "" },
		{ 9, "ksize()", "invalid pointer", "kmalloc-64", "" },
		{ 10, "kfree()", "invalid pointer", "", "is free" },
		{ 11, "ksize()", "invalid pointer", "", "is free" },
		{ 12, "kfree()", "double free", "", "" },
		{ 13, "kmem_cache_free()", "invalid pointer", "test_cache_stack", "" },
	};

	return cr_make_param_array(struct misuse_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct misuse_case *m, slub, misuse_message_names_the_function_and_the_pointer)
{
	struct child c;
	char ptr[32];
	const char *line;

	show_pointer = true;
	run_child(misuses[m->index], &c);
	cr_assert(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT,
		  "misuse %d (%s %s): the child did not die of SIGABRT (status %#x); stderr:\n%s", m->index,
		  m->func, m->what, c.status, c.err);
	cr_assert_eq(sscanf(c.out, "%31s", ptr), 1, "the child printed no pointer");
	line = strstr(c.err, "kslub: ");
	cr_assert_not_null(line, "no kslub message on stderr:\n%s", c.err);
	cr_assert(strstr(line, m->func), "the message does not name %s:\n%s", m->func, c.err);
	cr_assert(strstr(line, ptr), "the message does not show the pointer %s:\n%s", ptr, c.err);
	cr_assert(strstr(line, m->what), "the message does not say \"%s\":\n%s", m->what, c.err);
	if (m->what2[0])
		cr_assert(strstr(line, m->what2), "the message does not say \"%s\":\n%s", m->what2, c.err);
	if (m->wrong[0])
		cr_assert_null(strstr(line, m->wrong), "the block is live, yet the message says \"%s\":\n%s", m->wrong,
			       c.err);
	cr_assert_eq(count_substr(c.err, "\n"), 1, "one misuse, one line; stderr:\n%s", c.err);
}

Test(slub, kmem_cache_free_of_null_does_nothing)
{
	struct kmem_cache *s = kmem_cache_create("test_free_null", 40, 0, 0, NULL);
	void *p = kmem_cache_alloc(s, GFP_KERNEL);

	kmem_cache_free(s, NULL);
	kmem_cache_free(s, p);
	validate(s);
	kmem_cache_destroy(s);
}

Test(slub, kmem_cache_alloc_node_on_this_node_or_any_node_works)
{
	struct kmem_cache *s = kmem_cache_create("test_node", 120, 0, 0, NULL);
	void *p[200];

	cr_assert_not_null(s);
	for (int i = 0; i < 200; i++) {
		p[i] = kmem_cache_alloc_node(s, GFP_KERNEL, i % 2 ? NUMA_NO_NODE : 0);
		cr_assert_not_null(p[i]);
		memset(p[i], 0x71, 120);
	}
	cr_assert_eq(cache_info(s).active_objs, 200);
	for (int i = 0; i < 200; i++)
		kmem_cache_free(s, p[i]);
	cr_assert_eq(cache_info(s).active_objs, 0);
	validate(s);
	kmem_cache_destroy(s);
}

Test(slub, kmalloc_caches_cannot_be_destroyed)
{
	struct kmem_cache *k = kslub_kmalloc_cache(64);
	void *p;

	/* the kernel's kmalloc caches live for ever; a warning, and they still work */
	kmem_cache_destroy(k);
	cr_assert_eq(kslub_kmalloc_cache(64), k);
	p = kmalloc(64, GFP_KERNEL);
	cr_assert_not_null(p);
	memset(p, 0x5e, 64);
	kfree(p);
	validate(k);
}

/* ---- fresh objects: misuse ------------------------------------------------------------- */

/* A slab on the node list with one object handed out and the rest fresh:
 * a free of a fresh one is reported, as a free of one on a freelist is. */
static void free_fresh_object(void)
{
	struct kmem_cache *s = kmem_cache_create("test_fresh_free", 4096, 0, 0, NULL);
	char *p = kmem_cache_alloc(s, GFP_KERNEL);

	kslub_flush_thread();	/* the cpu slab back to the node's list */
	show(p + 4096);
	kmem_cache_free(s, p + 4096);
}

/* The same on a slab whose objects handed out are all free again. */
static void free_fresh_object_of_empty_slab(void)
{
	struct kmem_cache *s = kmem_cache_create("test_fresh_empty", 4096, 0, 0, NULL);
	char *p = kmem_cache_alloc(s, GFP_KERNEL);

	kmem_cache_free(s, p);
	kslub_flush_thread();
	show(p + 2 * 4096);
	kmem_cache_free(s, p + 2 * 4096);
}

Test(slub, a_free_of_an_object_a_new_slab_never_handed_out_is_reported, .init = sheaves_off)
{
	void (*const fns[])(void) = { free_fresh_object, free_fresh_object_of_empty_slab };

	show_pointer = true;
	for (unsigned int i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
		struct child c;
		char ptr[32];

		run_child(fns[i], &c);
		cr_assert(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT,
			  "case %u: the free of a fresh object did not abort (status %#x, stderr: %s)", i, c.status,
			  c.err);
		cr_assert(strstr(c.err, "never allocated") && strstr(c.err, "test_fresh"), "case %u: %s", i, c.err);
		snprintf(ptr, sizeof(ptr), "%.*s", (int)strcspn(c.out, "\n"), c.out);
		cr_assert(ptr[0] && strstr(c.err, ptr), "case %u: the message does not name %s: %s", i, ptr, c.err);
	}
}

/* ---- shrink: the free pages at the end of partial slabs ----------------------------------- */

/* A cache of 1 KiB objects, 4 a page, whose slabs have several pages. */
struct tail_cache {
	struct kmem_cache *s;
	size_t slab_bytes;
	unsigned int per_slab;
};

static struct tail_cache tail_cache(const char *name)
{
	struct tail_cache t = { kmem_cache_create(name, 1024, 0, 0, NULL), 0, 0 };
	struct kslub_cache_info info;

	cr_assert_not_null(t.s);
	info = cache_info(t.s);
	cr_assert_geq(info.order, 1, "%s: slabs of one page, no tail to give back", name);
	cr_assert_eq(info.size, 1024);
	t.slab_bytes = (size_t)PAGE << info.order;
	t.per_slab = info.objs_per_slab;
	return t;
}

static unsigned int object_index(const struct tail_cache *t, const void *p)
{
	return (unsigned int)(((uintptr_t)p & (t->slab_bytes - 1)) / 1024);
}

static const void *slab_of(const struct tail_cache *t, const void *p)
{
	return (const void *)((uintptr_t)p & ~(uintptr_t)(t->slab_bytes - 1));
}

/* The fill byte of object i of a test: never 0, what a purged page reads. */
static unsigned char fill_byte(unsigned int i)
{
	return (unsigned char)(i % 251 + 1);
}

/* objs[0 .. n) from t, each filled with its fill_byte. */
static void alloc_filled(const struct tail_cache *t, void **objs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		objs[i] = kmem_cache_alloc(t->s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		memset(objs[i], fill_byte(i), 1024);
	}
}

static bool filled_with(const unsigned char *p, unsigned char v)
{
	for (int i = 0; i < 1024; i++)
		if (p[i] != v)
			return false;
	return true;
}

Test(slub, shrink_gives_back_the_free_pages_at_the_end_of_partial_slabs, .init = sheaves_off)
{
	enum { SLABS = 48 };
	struct tail_cache t = tail_cache("test_tail");
	unsigned int n = SLABS * t.per_slab, live = 0, pages = (unsigned int)(t.slab_bytes / PAGE);
	void **objs = calloc(2 * n, sizeof(void *));
	struct kslub_cache_info info;
	unsigned long purged;

	cr_assert_not_null(objs);
	alloc_filled(&t, objs, n);
	/* the first and the sixth object of each slab stay: its first two
	 * pages hold live objects, the rest only free ones */
	for (unsigned int i = 0; i < n; i++) {
		unsigned int k = object_index(&t, objs[i]);

		if (k == 0 || k == 5) {
			live++;
			continue;
		}
		kmem_cache_free(t.s, objs[i]);
	}
	kslub_flush_thread();	/* the cpu slab to the node too */
	for (unsigned int i = 0; i < n; i++)
		if (object_index(&t, objs[i]) == 0)
			cr_assert_eq(resident_pages(slab_of(&t, objs[i]), pages), (1u << pages) - 1,
				     "a slab's pages were all written, yet not all resident before the shrink");
	purged = report_value("os ", " slab_purged_pages ");
	cr_assert_eq(kmem_cache_shrink(t.s), 0);
	purged = report_value("os ", " slab_purged_pages ") - purged;
	cr_assert_eq(purged, (unsigned long)SLABS * (pages - 2), "the report counts %lu pages given back", purged);
	validate(t.s);
	info = cache_info(t.s);
	cr_assert_eq(info.active_objs, live);
	cr_assert_geq(info.num_slabs, SLABS, "slabs with live objects went: %lu", info.num_slabs);
	for (unsigned int i = 0; i < n; i++) {
		unsigned int k = object_index(&t, objs[i]);

		if (k != 0 && k != 5)
			continue;
		cr_assert(filled_with(objs[i], fill_byte(i)), "a live object changed in the shrink");
		if (k == 0)
			cr_assert_eq(resident_pages(slab_of(&t, objs[i]), pages), 3u,
				     "slab %p: resident pages %#x after the shrink, only the two with live objects should be",
				     slab_of(&t, objs[i]), resident_pages(slab_of(&t, objs[i]), pages));
	}

	/* the slabs fill up again, the given-back objects too, and none is
	 * handed out twice or over a live one */
	for (unsigned int i = 0; i < n; i++) {
		unsigned int k = object_index(&t, objs[i]);

		if (k == 0 || k == 5)
			continue;
		objs[i] = kmem_cache_alloc(t.s, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		memset(objs[i], fill_byte(i), 1024);
	}
	for (unsigned int i = 0; i < n; i++)
		cr_assert(filled_with(objs[i], fill_byte(i)),
			  "object %u was handed out twice, or over a live one", i);
	info = cache_info(t.s);
	cr_assert_eq(info.active_objs, n);
	cr_assert_eq(info.num_slabs, SLABS, "the freed objects were not used again: %lu slabs for %u objects",
		     info.num_slabs, n);
	validate(t.s);
	for (unsigned int i = 0; i < n; i++)
		kmem_cache_free(t.s, objs[i]);
	cr_assert_eq(kmem_cache_shrink(t.s), 0);
	info = cache_info(t.s);
	cr_assert_eq(info.num_slabs, 0, "no object is live: %lu slabs left after shrink", info.num_slabs);
	validate(t.s);
	kmem_cache_destroy(t.s);
	free(objs);
}

/* kslub_trim, what malloc_trim calls, does it for the kmalloc caches and
 * counts the bytes. */
Test(slub, trim_gives_back_the_free_pages_at_the_end_of_kmalloc_slabs, .init = sheaves_off)
{
	enum { N = 4096 };
	struct kmem_cache *k = kslub_kmalloc_cache(1024);
	size_t slab_bytes = (size_t)PAGE << cache_info(k).order;
	static void *objs[N];
	unsigned int kept = 0;

	cr_assert_eq(cache_info(k).size, 1024);
	for (int i = 0; i < N; i++) {
		objs[i] = kmalloc(1000, GFP_KERNEL);
		cr_assert_not_null(objs[i]);
		memset(objs[i], 0x3c, 1000);
	}
	for (int i = 0; i < N; i++) {
		if (((uintptr_t)objs[i] & (slab_bytes - 1)) == 0) {
			kept++;
			continue;
		}
		kfree(objs[i]);
		objs[i] = NULL;
	}
	kslub_flush_thread();
	cr_assert_gt(kept, 100);
	cr_assert_geq(kslub_trim(), (size_t)kept * (slab_bytes - PAGE),
		      "kslub_trim() counts less than the free pages of %u slabs", kept);
	for (int i = 0; i < N; i++) {
		if (!objs[i])
			continue;
		cr_assert_eq(resident_pages(objs[i], (unsigned int)(slab_bytes / PAGE)), 1u,
			     "only the first page of a slab with one live object stays resident");
		for (int b = 0; b < 1000; b++)
			cr_assert_eq(((unsigned char *)objs[i])[b], 0x3c);
		kfree(objs[i]);
	}
	validate(k);
}

/* One slab of test_tail_free whose first six objects are live and whose
 * last two pages a shrink gave back: objects 6 to 15 are fresh, marked
 * purged.  objs gets the slab's objects in order. */
static struct tail_cache purged_slab(void **objs)
{
	struct tail_cache t = tail_cache("test_tail_free");

	cr_assert_eq(t.per_slab, 16, "a slab of 16 objects was expected");
	for (unsigned int i = 0; i < t.per_slab; i++) {
		objs[i] = kmem_cache_alloc(t.s, GFP_KERNEL);
		cr_assert_eq(object_index(&t, objs[i]), i, "a new slab hands out its objects upwards");
		memset(objs[i], 0x11, 1024);
	}
	for (unsigned int i = 6; i < t.per_slab; i++)
		kmem_cache_free(t.s, objs[i]);
	kslub_flush_thread();
	kmem_cache_shrink(t.s);
	if (resident_pages(slab_of(&t, objs[0]), 4) != 3u)
		_exit(5);	/* no pages given back: nothing to test */
	return t;
}

/* A second free of a purged object, alone. */
static void free_purged_object(void)
{
	void *objs[16];
	struct tail_cache t = purged_slab(objs);

	show(objs[12]);
	kmem_cache_free(t.s, objs[12]);
	kslub_flush_thread();
}

/* The same between two good frees of objects of its slab: the sheaf's
 * flush gives them back as one run. */
static void free_purged_object_in_a_run(void)
{
	void *objs[16];
	struct tail_cache t = purged_slab(objs);

	kmem_cache_free(t.s, objs[0]);
	show(objs[9]);
	kmem_cache_free(t.s, objs[9]);
	kmem_cache_free(t.s, objs[1]);
	kslub_flush_thread();
}

/* After a thread has taken the slab again (its purged objects linked). */
static void free_purged_object_of_a_slab_taken_again(void)
{
	void *objs[16];
	struct tail_cache t = purged_slab(objs);
	void *p = kmem_cache_alloc(t.s, GFP_KERNEL);

	if (p != objs[6])
		_exit(6);
	show(objs[12]);
	kmem_cache_free(t.s, objs[12]);
	kslub_flush_thread();
}

Test(slub, a_second_free_of_an_object_whose_page_a_shrink_gave_back_is_reported)
{
	static const struct {
		void (*fn)(void);
		const char *says;
	} cases[] = {
		{ free_purged_object, "that is free" },
		{ free_purged_object_in_a_run, "that is free" },
		{ free_purged_object_of_a_slab_taken_again, "double free" },
	};

	show_pointer = true;
	for (unsigned int i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct child c;
		char ptr[32];

		run_child(cases[i].fn, &c);
		cr_assert(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGABRT,
			  "case %u: the second free did not abort (status %#x, stderr: %s)", i, c.status, c.err);
		cr_assert(strstr(c.err, cases[i].says) && strstr(c.err, "test_tail_free"), "case %u: %s", i, c.err);
		snprintf(ptr, sizeof(ptr), "%.*s", (int)strcspn(c.out, "\n"), c.out);
		cr_assert(ptr[0] && strstr(c.err, ptr), "case %u: the message does not name %s: %s", i, ptr, c.err);
	}
}

/* Shrinks while another thread frees objects of the slabs being shrunk and
 * a third allocates and frees from the cache. */
struct tail_race {
	struct tail_cache *t;
	void **objs;
	unsigned int n;
	volatile bool done;
};

static void *tail_race_free(void *arg)
{
	struct tail_race *r = arg;

	for (unsigned int i = 0; i < r->n; i++) {
		unsigned int k = object_index(r->t, r->objs[i]);

		if (k >= 2 && k < 8) {
			kmem_cache_free(r->t->s, r->objs[i]);
			r->objs[i] = NULL;
			if (i % 64 == 0)
				sched_yield();
		}
	}
	return NULL;
}

static void *tail_race_alloc(void *arg)
{
	struct tail_race *r = arg;
	void *held[32] = { 0 };

	for (unsigned int round = 0; !r->done || round < 2000; round++) {
		unsigned int j = round % 32;

		if (held[j]) {
			cr_assert(filled_with(held[j], (unsigned char)(j + 1)), "an object changed while held");
			kmem_cache_free(r->t->s, held[j]);
		}
		held[j] = kmem_cache_alloc(r->t->s, GFP_KERNEL);
		cr_assert_not_null(held[j]);
		memset(held[j], (int)(j + 1), 1024);
	}
	for (unsigned int j = 0; j < 32; j++)
		kmem_cache_free(r->t->s, held[j]);
	return NULL;
}

Test(slub, shrink_while_other_threads_free_and_allocate, .timeout = 120)
{
	enum { SLABS = 256 };
	struct tail_cache t = tail_cache("test_tail_race");
	unsigned int n = SLABS * t.per_slab, live = 0;
	void **objs = calloc(n, sizeof(void *));
	struct tail_race r = { &t, objs, n, false };
	pthread_t freer, allocator;
	size_t purged = 0;

	cr_assert_not_null(objs);
	alloc_filled(&t, objs, n);
	for (unsigned int i = 0; i < n; i++) {
		if (object_index(&t, objs[i]) >= 8) {
			kmem_cache_free(t.s, objs[i]);
			objs[i] = NULL;
		}
	}
	kslub_flush_thread();
	cr_assert_eq(pthread_create(&allocator, NULL, tail_race_alloc, &r), 0);
	cr_assert_eq(pthread_create(&freer, NULL, tail_race_free, &r), 0);
	for (int i = 0; i < 200; i++) {
		if (i % 4 == 0)
			purged += kslub_trim();
		else
			kmem_cache_shrink(t.s);
	}
	cr_assert_eq(pthread_join(freer, NULL), 0);
	/* the allocating thread takes some of the slabs meanwhile */
	cr_assert_geq(purged, (size_t)SLABS / 2 * (t.slab_bytes - 2 * PAGE), "the shrinks gave back %zu bytes", purged);
	r.done = true;
	cr_assert_eq(pthread_join(allocator, NULL), 0);
	kmem_cache_shrink(t.s);
	validate(t.s);
	for (unsigned int i = 0; i < n; i++) {
		if (!objs[i])
			continue;
		live++;
		cr_assert(filled_with(objs[i], fill_byte(i)), "a live object changed");
	}
	cr_assert_eq(cache_info(t.s).active_objs, live);
	for (unsigned int i = 0; i < n; i++)
		if (objs[i])
			kmem_cache_free(t.s, objs[i]);
	kslub_flush_thread();
	kmem_cache_shrink(t.s);
	cr_assert_eq(cache_info(t.s).num_slabs, 0);
	validate(t.s);
	kmem_cache_destroy(t.s);
	free(objs);
}

/* ---- the same without malloc_trim: a heap left fragmented ------------------------------- */

static void purge_delay_1ms(void)
{
	setenv("KSLUB_SHEAF_CAPACITY", "0", 1);
	setenv("KSLUB_PURGE_DELAY", "1", 1);
}

/* slabs of test_auto_* with their first and sixth objects live and the
 * rest free (their last two pages), and full more: full slabs with all
 * their objects live */
static void **fragment(struct tail_cache *t, unsigned int partial, unsigned int full)
{
	unsigned int n = (partial + full) * t->per_slab;
	void **objs = calloc(n, sizeof(void *));

	cr_assert_not_null(objs);
	alloc_filled(t, objs, n);
	for (unsigned int i = 0; i < partial * t->per_slab; i++) {
		if (object_index(t, objs[i]) != 0 && object_index(t, objs[i]) != 5) {
			kmem_cache_free(t->s, objs[i]);
			objs[i] = NULL;
		}
	}
	kslub_flush_thread();
	return objs;
}

/* New slabs of another cache, once the purge delay has passed: a slab's
 * worth of objects and one more.  (Not a new cache: kmem_cache_create
 * makes its slabs under kslub_slab_mutex, where the look is put off.) */
static struct kmem_cache *other;

static unsigned long purged_pages_after_a_new_slab(void)
{
	if (!other)
		other = kmem_cache_create("test_auto_other", 64, 0, 0, NULL);
	usleep(20 * 1000);
	for (unsigned int i = 0; i <= cache_info(other).objs_per_slab; i++)
		cr_assert_not_null(kmem_cache_alloc(other, GFP_KERNEL));
	return report_value("os ", " slab_purged_pages ");
}

static void free_all(struct tail_cache *t, void **objs, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		if (!objs[i])
			continue;
		cr_assert(filled_with(objs[i], fill_byte(i)), "a live object changed");
		kmem_cache_free(t->s, objs[i]);
	}
	validate(t->s);
	free(objs);
}

Test(slub, a_cache_left_with_many_partial_slabs_gives_their_free_tails_back, .init = purge_delay_1ms)
{
	enum { PARTIAL = 400 };
	struct tail_cache t = tail_cache("test_auto_frag");
	void **objs = fragment(&t, PARTIAL, 0);
	unsigned long before = report_value("os ", " slab_purged_pages "), after;
	unsigned int pages = (unsigned int)(t.slab_bytes / PAGE);

	after = purged_pages_after_a_new_slab();
	cr_assert_eq(after - before, (unsigned long)PARTIAL * (pages - 2),
		     "%lu pages given back, %u slabs of %u pages with live objects in the first two", after - before,
		     PARTIAL, pages);
	for (unsigned int i = 0; i < PARTIAL * t.per_slab; i++)
		if (objs[i] && object_index(&t, objs[i]) == 0)
			cr_assert_eq(resident_pages(slab_of(&t, objs[i]), pages), 3u);
	validate(t.s);
	/* once, until the partial slabs grow by a quarter: the second page
	 * that the frees below leave free is not looked for at the next new
	 * slab, and goes at a shrink */
	for (unsigned int i = 0; i < PARTIAL * t.per_slab; i++) {
		if (objs[i] && object_index(&t, objs[i]) == 5) {
			kmem_cache_free(t.s, objs[i]);
			objs[i] = NULL;
		}
	}
	cr_assert_eq(purged_pages_after_a_new_slab(), after, "the same slabs were looked at again");
	kmem_cache_shrink(t.s);
	cr_assert_eq(report_value("os ", " slab_purged_pages ") - after, (unsigned long)PARTIAL,
		     "kmem_cache_shrink did not give back the second pages");
	validate(t.s);
	free_all(&t, objs, PARTIAL * t.per_slab);
}

Test(slub, a_cache_with_few_partial_slabs_keeps_their_pages, .init = purge_delay_1ms)
{
	/* fewer than PURGE_AUTO_SLABS partial slabs; then many, but fewer
	 * than half of the slabs */
	static const unsigned int cases[][2] = { { 200, 0 }, { 300, 400 } };

	for (unsigned int c = 0; c < 2; c++) {
		char name[32];
		struct tail_cache t;
		void **objs;
		unsigned long before;

		snprintf(name, sizeof(name), "test_auto_keep%u", c);
		t = tail_cache(name);
		objs = fragment(&t, cases[c][0], cases[c][1]);
		before = report_value("os ", " slab_purged_pages ");
		cr_assert_eq(purged_pages_after_a_new_slab(), before,
			     "case %u: %u partial slabs and %u full ones were purged", c, cases[c][0], cases[c][1]);
		free_all(&t, objs, (cases[c][0] + cases[c][1]) * t.per_slab);
		kmem_cache_shrink(t.s);
	}
}

/* In a process of one thread the shrink reads the objects of a slab's last
 * page before it walks the freelist (tail_may_be_free): the same pages go.
 * Run this program again before criterion starts its threads; plain
 * checks, exit codes for the parent. */
static unsigned long slab_purged_pages_alone(void)
{
	unsigned long v = report_value_or_none("os ", " slab_purged_pages ");

	if (v == ~0UL)
		_exit(10);
	return v;
}

__attribute__((constructor)) static void shrink_alone_child(void)
{
	struct kmem_cache *s;
	enum { SLABS = 32, PER_SLAB = 16 };
	static void *objs[SLABS * PER_SLAB];
	struct kslub_cache_info info;
	unsigned long before;

	if (!getenv("KSLUB_TEST_SHRINK_ALONE"))
		return;
	if (!__libc_single_threaded)
		_exit(7);
	setenv("KSLUB_SHEAF_CAPACITY", "0", 1);
	s = kmem_cache_create("test_tail_alone", 1024, 0, 0, NULL);
	if (!s || kslub_cache_info(s, &info) || info.objs_per_slab != PER_SLAB || info.order != 2)
		_exit(8);
	for (unsigned int i = 0; i < SLABS * PER_SLAB; i++)
		if (!(objs[i] = kmem_cache_alloc(s, GFP_KERNEL)))
			_exit(8);
	for (unsigned int i = 0; i < SLABS * PER_SLAB; i++) {
		unsigned int k = (unsigned int)(((uintptr_t)objs[i] & (4 * PAGE - 1)) / 1024);

		if (k != 0 && k != 5)
			kmem_cache_free(s, objs[i]);
	}
	kslub_flush_thread();
	before = slab_purged_pages_alone();
	kmem_cache_shrink(s);
	_exit(slab_purged_pages_alone() - before == SLABS * 2 ? 0 : 9);
}

Test(slub, a_process_of_one_thread_gives_back_the_same_tails)
{
	int status = child_exec_self("KSLUB_TEST_SHRINK_ALONE", NULL, NULL);

	cr_assert(WIFEXITED(status), "the child died (status %#x)", status);
	cr_assert_neq(WEXITSTATUS(status), 7, "the child had more than one thread");
	cr_assert_neq(WEXITSTATUS(status), 8, "the child's cache is not of 16 objects in 16 KiB slabs");
	cr_assert_eq(WEXITSTATUS(status), 0, "the child failed (exit %d; 9: not 2 pages of each of 32 slabs given back)",
		     WEXITSTATUS(status));
}

/* Two threads leave each other's slabs fragmented, then make new slabs of
 * another cache (the automatic purge's look) while they allocate and free
 * in the fragmented one: every object keeps its bytes. */
struct auto_race {
	struct tail_cache *t;
	struct kmem_cache *other;
	void **objs[2];
	unsigned int n;
	pthread_barrier_t *bar;
	int id;
	bool bad;
};

static void *auto_race_thread(void *arg)
{
	struct auto_race *r = arg;
	void **mine = r->objs[r->id], **theirs = r->objs[1 - r->id], *held[64];

	for (unsigned int i = 0; i < r->n; i++) {
		mine[i] = kmem_cache_alloc(r->t->s, GFP_KERNEL);
		if (!mine[i])
			r->bad = true;
		else
			memset(mine[i], (int)(r->id * 100 + i % 97 + 1), 1024);
	}
	pthread_barrier_wait(r->bar);
	for (unsigned int i = 0; i < r->n; i++) {
		if (theirs[i] && object_index(r->t, theirs[i]) != 0) {
			kmem_cache_free(r->t->s, theirs[i]);
			theirs[i] = NULL;
		}
	}
	pthread_barrier_wait(r->bar);
	for (unsigned int round = 0; round < 40; round++) {
		for (unsigned int j = 0; j < 64; j++) {
			held[j] = kmem_cache_alloc(j % 2 ? r->other : r->t->s, GFP_KERNEL);
			if (!held[j])
				r->bad = true;
			else
				memset(held[j], 0x77, j % 2 ? 64 : 1024);
		}
		for (unsigned int j = 0; j < 64; j += 2)
			kmem_cache_free(r->t->s, held[j]);	/* the others stay: new slabs of other */
		usleep(1000);
	}
	return NULL;
}

static void purge_delay_1ms_sheaves_on(void)
{
	setenv("KSLUB_PURGE_DELAY", "1", 1);
}

Test(slub, the_automatic_purge_with_threads_keeps_every_object, .init = purge_delay_1ms_sheaves_on, .timeout = 120)
{
	enum { SLABS = 320 };
	struct tail_cache t = tail_cache("test_auto_race");
	struct kmem_cache *other = kmem_cache_create("test_auto_race_other", 64, 0, 0, NULL);
	unsigned int n = SLABS * t.per_slab / 2;
	pthread_barrier_t bar;
	struct auto_race r[2];
	pthread_t th[2];
	unsigned long before = report_value("os ", " slab_purged_pages ");
	unsigned int live = 0;

	cr_assert_not_null(other);
	pthread_barrier_init(&bar, NULL, 2);
	void **objs0 = calloc(n, sizeof(void *)), **objs1 = calloc(n, sizeof(void *));

	cr_assert(objs0 && objs1);
	for (int i = 0; i < 2; i++)	/* both threads see both arrays */
		r[i] = (struct auto_race){ &t, other, { objs0, objs1 }, n, &bar, i, false };
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, auto_race_thread, &r[i]), 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(pthread_join(th[i], NULL), 0);
	cr_assert(!r[0].bad && !r[1].bad, "an allocation failed");
	cr_assert_gt(report_value("os ", " slab_purged_pages "), before, "nothing was given back");
	for (int id = 0; id < 2; id++) {
		for (unsigned int i = 0; i < n; i++) {
			unsigned char *p = r[0].objs[id][i];

			if (!p)
				continue;
			live++;
			for (int b = 0; b < 1024; b++)
				cr_assert_eq(p[b], (unsigned char)(id * 100 + i % 97 + 1), "object %u of thread %d changed", i,
					     id);
		}
	}
	cr_assert_eq(cache_info(t.s).active_objs, live, "%lu objects in use, %u live: objects lost",
		     cache_info(t.s).active_objs, live);
	validate(t.s);
	validate(other);
	free(objs0);
	free(objs1);
}
