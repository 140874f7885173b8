/* SPDX-License-Identifier: MIT */
/*
 * malloc.c - the C library's allocation functions on top of kmalloc: the only
 * file that defines malloc and its family, glibc's __libc_ aliases, and C++'s
 * operator new and delete (by their mangled names, with no libstdc++ needed);
 * and prctl, to see a program put itself under a seccomp filter.
 * `LD_PRELOAD=libkslub.so program` puts these in front of glibc's.
 *
 * What C programs rely on, beyond kmalloc:
 *   - malloc(0) is a unique, freeable pointer; every result is aligned to 16
 *     bytes, so sizes below 16 take kmalloc-16 (kmalloc-8 is never used);
 *   - failure is NULL with errno = ENOMEM, overflow in calloc/reallocarray too;
 *   - realloc(p, 0) frees p and returns NULL; a slab object shrunk below half
 *     its size moves to a smaller class so that its memory can be reused;
 *   - free() of a pointer kslub did not hand out, or already took back, is
 *     reported in one line naming the public function, then abort().
 *
 * Start-up is the core's: the first call from anywhere (the dynamic loader,
 * a constructor, dlsym) goes through kmalloc's slow path, which starts kslub
 * without libc malloc.  Thread exit and fork are the core's too (init.c).
 *
 * operator new must throw std::bad_alloc when it fails.  C cannot throw by
 * itself, so on failure we look up libstdc++'s pieces with dlsym, if the
 * program has them: std::get_new_handler(), and __cxa_allocate_exception /
 * __cxa_throw with std::bad_alloc's vtable and type_info.  The new-handler is
 * called and the allocation retried, as the standard says; without a handler
 * a std::bad_alloc is thrown.  If the program has no libstdc++ (it then
 * cannot catch anything either), kslub prints one line and calls abort().
 * A new-handler that throws from a nothrow operator new ends in
 * std::terminate, since this C frame cannot catch.
 */
#include "slub.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Smallest object malloc hands out: 16-byte alignment for every result. */
#define MALLOC_MIN_SIZE 16
#define GFP_MALLOC KSLUB_GFP_KERNEL

/* Not declared by every glibc's headers. */
void cfree(void *p);
void free_sized(void *p, size_t size);
void free_aligned_sized(void *p, size_t align, size_t size);

/* Everything but a pop from the thread's freelist: an empty freelist, a size
 * above the kmalloc caches, __GFP_ZERO, the first call (kslub starts), and
 * failure.  Out of line and reached by a tail call, so that malloc itself
 * saves no register. */
static noinline void *malloc_slow(size_t size, gfp_t gfp)
{
	void *p = kmalloc_slow(size < MALLOC_MIN_SIZE ? MALLOC_MIN_SIZE : size, gfp);

	if (unlikely(!p))
		errno = ENOMEM;
	return p;
}

/* The thread's freelist and sheaf of the cache for size (up to the kmalloc
 * caches) are empty: once kslub runs, straight on to slab_alloc_refill with
 * that cache (it sets errno when it fails), with no second look-up of the
 * size in kmalloc_slow.  Before, malloc_slow starts kslub; the slot may
 * hold the boot cache even if kslub has started since malloc read its cpu
 * offset, so s is compared with it too (by address: the cache's lines may
 * be cold).  size comes first, so that malloc keeps it where it came, in
 * the first argument's register. */
static noinline void *malloc_refill(size_t size, gfp_t gfp)
{
	unsigned long slot = size <= KMALLOC_SMALL_MAX ? __atomic_load_n(&kmalloc_tables.index_small[size], __ATOMIC_ACQUIRE)
						       : kmalloc_slot(size);
	struct kmem_cache *s = __atomic_load_n(&kmalloc_caches[slot], __ATOMIC_ACQUIRE);

	if (likely(s != &kmalloc_boot_cache && __atomic_load_n(&kslub_initialized, __ATOMIC_ACQUIRE)))
		return slab_alloc_refill(s, gfp);	/* the sheaf was tried */
	return malloc_slow(size, gfp);
}

/* kmalloc_inline for malloc: one table load from size to the cache's cpu
 * offset, by the size up to 1 KiB (sizes 0 to 16 take kmalloc-16, with no
 * clamp), by 16 bytes above, then the kmalloc pop. */
static always_inline void *malloc_inline(size_t size, gfp_t gfp)
{
	if (likely(!(gfp & KSLUB_GFP_ZERO))) {
		unsigned long cpu_offset;
		void *object;

		if (likely(size <= KMALLOC_SMALL_MAX))
			cpu_offset = kmalloc_cpu_offset_small(size);
		else if (size <= KSLUB_KMALLOC_MAX_CACHE_SIZE)
			cpu_offset = kmalloc_cpu_offset_16(size);
		else
			return malloc_slow(size, gfp);
		object = kmalloc_cpu_pop(cpu_offset);
		if (likely(object))
			return object;
		return malloc_refill(size, gfp);
	}
	return malloc_slow(size, gfp);
}

static inline bool is_pow2(size_t x)
{
	return x && !(x & (x - 1));
}

/* align: a power of two; sizes are served as malloc's, at least 16 bytes. */
static void *aligned_inline(size_t align, size_t size)
{
	void *p;

	if (align <= MALLOC_MIN_SIZE)
		return malloc_inline(size, GFP_MALLOC);
	kslub_ensure_init();
	p = kmalloc_aligned(size < MALLOC_MIN_SIZE ? MALLOC_MIN_SIZE : size, align, GFP_MALLOC);
	if (unlikely(!p))
		errno = ENOMEM;
	return p;
}

/* ---- malloc, free, calloc ---------------------------------------------------- */
KSLUB_API void *malloc(size_t size)
{
	return malloc_inline(size, GFP_MALLOC);
}

KSLUB_API void free(void *p)
{
	kfree_inline(p, "free");
}

KSLUB_API void cfree(void *p)
{
	kfree_inline(p, "cfree");
}

/* C23: the size (and alignment) the block was allocated with; kfree knows. */
KSLUB_API void free_sized(void *p, size_t size)
{
	(void)size;
	kfree_inline(p, "free_sized");
}

KSLUB_API void free_aligned_sized(void *p, size_t align, size_t size)
{
	(void)align;
	(void)size;
	kfree_inline(p, "free_aligned_sized");
}

/* Slab objects are zeroed by kmalloc; large blocks that come from pages the
 * OS just mapped or purged are known to read as zeros and are not touched. */
KSLUB_API void *calloc(size_t n, size_t size)
{
	size_t bytes;

	if (unlikely(__builtin_mul_overflow(n, size, &bytes))) {
		errno = ENOMEM;
		return NULL;
	}
	return malloc_inline(bytes, GFP_MALLOC | KSLUB_GFP_ZERO);
}

/* ---- realloc ------------------------------------------------------------------ */
/* realloc must not read or move a freed slab object: report it the way free()
 * would.  Large and mapped blocks are checked by ksize_internal. */
static void check_live(const void *p, const char *func)
{
	struct page *page;
	struct slab *slab;

	if (section_type(p) != SECTION_ARENA)
		return;
	page = compound_head(virt_to_page(p));
	if (!(READ_ONCE(page->flags) & PG_slab))
		return;
	slab = page_slab(page);
	if (!object_is_start(slab->slab_cache, slab, p) || object_is_free(slab->slab_cache, slab, p))
		kslub_bad_object_free(slab->slab_cache, p, func);
}

static void *realloc_common(void *p, size_t size, const char *func)
{
	size_t old;
	void *q;

	if (!p)
		return malloc_inline(size, GFP_MALLOC);
	if (!size) {
		kfree_inline(p, func);
		return NULL;
	}
	if (size < MALLOC_MIN_SIZE)
		size = MALLOC_MIN_SIZE;
	check_live(p, func);
	old = ksize_internal(p, func);
	/* krealloc keeps a shrunk slab object (or a small one in a large block)
	 * where it is; malloc's callers shrink to give memory back. */
	if (size < old / 2 && size <= KSLUB_KMALLOC_MAX_CACHE_SIZE) {
		q = kmalloc_inline(size, GFP_MALLOC);
		if (!q)
			return p;	/* still valid, and big enough */
		memcpy(q, p, size);
		kfree_inline(p, func);
		return q;
	}
	q = krealloc_sized(p, old, size, GFP_MALLOC, func);
	if (unlikely(!q))
		errno = ENOMEM;
	return q;
}

/* A kmalloc object that stays where it is (the size fits, and is not below
 * half of it, where realloc_common moves it to give memory back) is known
 * from the slot map, as kfree knows it, with no struct page read: strings
 * that grow a few bytes at a time mostly stay.  A large block that stays
 * (large_keeps, krealloc's own rule) is known from its struct page alone. */
KSLUB_API void *realloc(void *p, size_t size)
{
	size_t old = kmalloc_live_size(p);
	unsigned long nr;

	if (likely(old && size <= old && size >= old / 2))
		return p;
	if (!old && size > KSLUB_KMALLOC_MAX_CACHE_SIZE && (nr = large_live_pages(p)) && large_keeps(nr, size))
		return p;
	return realloc_common(p, size, "realloc");
}

KSLUB_API void *reallocarray(void *p, size_t n, size_t size)
{
	size_t bytes;

	if (__builtin_mul_overflow(n, size, &bytes)) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc_common(p, bytes, "reallocarray");
}

/* ---- aligned allocation ---------------------------------------------------- */
/* glibc 2.36's memalign (and aligned_alloc, which is the same there): small
 * alignments are malloc's, others are rounded up to a power of two, and one
 * above SIZE_MAX / 2 + 1 is EINVAL. */
static void *memalign_common(size_t align, size_t size)
{
	if (align <= MALLOC_MIN_SIZE)
		return malloc_inline(size, GFP_MALLOC);
	if (align > SIZE_MAX / 2 + 1) {
		errno = EINVAL;
		return NULL;
	}
	if (!is_pow2(align))
		align = 1UL << (64 - __builtin_clzl(align));
	return aligned_inline(align, size);
}

KSLUB_API void *memalign(size_t align, size_t size)
{
	return memalign_common(align, size);
}

KSLUB_API void *aligned_alloc(size_t align, size_t size)
{
	return memalign_common(align, size);
}

KSLUB_API int posix_memalign(void **memptr, size_t align, size_t size)
{
	int saved = errno;
	void *p;

	if (align % sizeof(void *) || !is_pow2(align))
		return EINVAL;
	p = aligned_inline(align, size);
	errno = saved;
	if (!p)
		return ENOMEM;
	*memptr = p;
	return 0;
}

KSLUB_API void *valloc(size_t size)
{
	return aligned_inline(PAGE_SIZE, size);
}

KSLUB_API void *pvalloc(size_t size)
{
	size_t rounded;

	if (__builtin_add_overflow(size, PAGE_SIZE - 1, &rounded)) {
		errno = ENOMEM;
		return NULL;
	}
	rounded &= PAGE_MASK;
	return aligned_inline(PAGE_SIZE, rounded ? rounded : PAGE_SIZE);
}

/* ---- glibc's extras ---------------------------------------------------------------- */
KSLUB_API size_t malloc_usable_size(void *p)
{
	size_t size;

	if (!p)
		return 0;
	size = kmalloc_live_size(p);
	if (likely(size))
		return size;
	return ksize_internal(p, "malloc_usable_size");
}

KSLUB_API int malloc_trim(size_t pad)
{
	(void)pad;
	return kslub_trim() > 0;
}

/* prctl, passed on to the kernel as glibc's does, with one thing seen on
 * the way: a program that is about to put itself under a seccomp filter
 * (PR_SET_NO_NEW_PRIVS comes first for one that is not privileged) may be
 * killed by it for a system call it does not list, and kslub then makes
 * only the calls glibc's malloc makes (os_restrict). */
KSLUB_API int prctl(int option, ...)
{
	unsigned long arg[4];
	va_list ap;

	va_start(ap, option);
	for (int i = 0; i < 4; i++)
		arg[i] = va_arg(ap, unsigned long);
	va_end(ap);
	if (option == PR_SET_NO_NEW_PRIVS || option == PR_SET_SECCOMP)
		os_restrict();
	return (int)syscall(SYS_prctl, option, arg[0], arg[1], arg[2], arg[3]);
}

/* glibc's tunables do not apply to kslub: accepted and ignored. */
KSLUB_API int mallopt(int param, int value)
{
	(void)param;
	(void)value;
	return 1;
}

/* Where the bytes are, counted now. */
struct malloc_usage {
	size_t mapped;		/* bytes mapped from the OS */
	size_t slab_used;	/* bytes of live slab objects */
	size_t slab_free;	/* bytes of free objects in slabs */
	size_t slab_pages;	/* bytes of slabs */
	size_t buddy_free;	/* free pages in zones and thread page lists */
	size_t buddy_blocks;	/* free blocks in the zones */
	size_t managed;		/* bytes the arenas give to the buddy */
	size_t huge;		/* bytes of direct mappings */
};

static void malloc_usage(struct malloc_usage *u)
{
	struct kmem_cache *s;
	struct kslub_thread *t;
	size_t arenas = 0;

	memset(u, 0, sizeof(*u));
	kslub_ensure_init();
	spin_lock(&kslub_slab_mutex);
	list_for_each_entry(s, &kslub_slab_caches, list) {
		struct kslub_cache_info info;

		kslub_cache_count(s, &info, NULL);
		u->slab_used += info.active_objs * info.size;
		u->slab_free += (info.num_objs - info.active_objs) * info.size;
		u->slab_pages += info.num_slabs * (PAGE_SIZE << info.order);
	}
	spin_lock(&kslub_threads_lock);
	list_for_each_entry(t, &kslub_threads, list)
		u->buddy_free += (size_t)READ_ONCE(t->pcp.count) * PAGE_SIZE;
	spin_unlock(&kslub_threads_lock);
	spin_unlock(&kslub_slab_mutex);
	for (int nid = 0; nid < kslub_nr_node_ids; nid++) {
		struct zone *z = kslub_zones[nid];

		spin_lock(&z->lock);
		u->buddy_free += z->nr_free_pages * PAGE_SIZE;
		u->managed += z->managed_pages * PAGE_SIZE;
		arenas += z->nr_arenas;
		for (int order = 0; order < MAX_ORDER; order++)
			u->buddy_blocks += z->free_area[order].nr_free;
		spin_unlock(&z->lock);
	}
	u->mapped = READ_ONCE(kslub_os_mapped);
	u->huge = u->mapped > arenas * ARENA_SIZE ? u->mapped - arenas * ARENA_SIZE : 0;
}

/* Bytes in use: live slab objects, pages handed out by the buddy for other
 * than slabs (large blocks, thread states), direct mappings. */
static size_t usage_in_use(const struct malloc_usage *u)
{
	size_t pages = u->slab_pages + u->buddy_free;
	size_t large = u->managed > pages ? u->managed - pages : 0;

	return u->slab_used + large + u->huge;
}

KSLUB_API struct mallinfo2 mallinfo2(void)
{
	struct malloc_usage u;
	struct mallinfo2 mi;

	malloc_usage(&u);
	memset(&mi, 0, sizeof(mi));
	mi.arena = u.mapped;
	mi.ordblks = u.buddy_blocks;
	mi.hblkhd = u.huge;
	mi.fsmblks = u.slab_free;
	mi.uordblks = usage_in_use(&u);
	mi.fordblks = u.slab_free + u.buddy_free;
	return mi;
}

static int clamp_int(size_t x)
{
	return x > INT_MAX ? INT_MAX : (int)x;
}

KSLUB_API struct mallinfo mallinfo(void)
{
	struct mallinfo2 m2 = mallinfo2();
	struct mallinfo mi;

	memset(&mi, 0, sizeof(mi));
	mi.arena = clamp_int(m2.arena);
	mi.ordblks = clamp_int(m2.ordblks);
	mi.hblkhd = clamp_int(m2.hblkhd);
	mi.fsmblks = clamp_int(m2.fsmblks);
	mi.uordblks = clamp_int(m2.uordblks);
	mi.fordblks = clamp_int(m2.fordblks);
	return mi;
}

/* glibc prints its arenas' totals on stderr; kslub prints the same totals,
 * then its /proc/slabinfo-style report. */
KSLUB_API void malloc_stats(void)
{
	struct malloc_usage u;

	malloc_usage(&u);
	kslub_dprintf(STDERR_FILENO, "Arena 0:\nsystem bytes     = %10zu\nin use bytes     = %10zu\n",
		      u.mapped, usage_in_use(&u));
	kslub_dprintf(STDERR_FILENO, "Total (incl. mmap):\nsystem bytes     = %10zu\nin use bytes     = %10zu\n"
		      "max mmap regions = %10d\nmax mmap bytes   = %10zu\n\n",
		      u.mapped, usage_in_use(&u), 0, u.huge);
	kslub_write_slabinfo_fd(STDERR_FILENO);
}

KSLUB_API int malloc_info(int options, FILE *fp)
{
	struct malloc_usage u;
	struct kmem_cache *s;
	struct {
		const char *name;
		struct kslub_cache_info info;
	} sizes[32];
	unsigned int n = 0;

	if (options != 0) {
		errno = EINVAL;
		return -1;
	}
	malloc_usage(&u);
	/* counted first, printed after: stdio may allocate */
	spin_lock(&kslub_slab_mutex);
	list_for_each_entry(s, &kslub_slab_caches, list) {
		if (!s->is_kmalloc || n == ARRAY_SIZE(sizes))
			continue;
		sizes[n].name = s->name;
		kslub_cache_count(s, &sizes[n].info, NULL);
		n++;
	}
	spin_unlock(&kslub_slab_mutex);
	fprintf(fp, "<malloc version=\"kslub-1\">\n<heap nr=\"0\">\n<sizes>\n");
	for (unsigned int i = 0; i < n; i++) {
		const struct kslub_cache_info *info = &sizes[i].info;
		unsigned long nfree = info->num_objs - info->active_objs;

		fprintf(fp, "  <size name=\"%s\" from=\"%u\" to=\"%u\" total=\"%lu\" count=\"%lu\" active=\"%lu\"/>\n",
			sizes[i].name, info->object_size, info->object_size, nfree * info->size, nfree,
			info->active_objs);
	}
	fprintf(fp, "</sizes>\n<total type=\"slab\" count=\"0\" size=\"%zu\"/>\n"
		"<total type=\"buddy\" count=\"%zu\" size=\"%zu\"/>\n"
		"<system type=\"current\" size=\"%zu\"/>\n</heap>\n",
		u.slab_free, u.buddy_blocks, u.buddy_free, u.mapped);
	fprintf(fp, "<total type=\"fast\" count=\"0\" size=\"0\"/>\n"
		"<total type=\"rest\" count=\"%zu\" size=\"%zu\"/>\n"
		"<total type=\"mmap\" count=\"0\" size=\"%zu\"/>\n"
		"<system type=\"current\" size=\"%zu\"/>\n"
		"<aspace type=\"total\" size=\"%zu\"/>\n"
		"<inuse size=\"%zu\"/>\n</malloc>\n",
		u.buddy_blocks, u.slab_free + u.buddy_free, u.huge, u.mapped, u.mapped, usage_in_use(&u));
	return 0;
}

/* ---- glibc's internal names, which some programs call directly -------------- */
#if defined(__has_attribute) && __has_attribute(copy)
#define KSLUB_ALIAS(name) __attribute__((alias(#name), copy(name), visibility("default")))
#else
#define KSLUB_ALIAS(name) __attribute__((alias(#name), visibility("default")))
#endif
void *__libc_malloc(size_t size) KSLUB_ALIAS(malloc);
void __libc_free(void *p) KSLUB_ALIAS(free);
void *__libc_calloc(size_t n, size_t size) KSLUB_ALIAS(calloc);
void *__libc_realloc(void *p, size_t size) KSLUB_ALIAS(realloc);
void *__libc_memalign(size_t align, size_t size) KSLUB_ALIAS(memalign);
void *__libc_valloc(size_t size) KSLUB_ALIAS(valloc);
void *__libc_pvalloc(size_t size) KSLUB_ALIAS(pvalloc);
int __posix_memalign(void **memptr, size_t align, size_t size) KSLUB_ALIAS(posix_memalign);

/* ---- C++ operator new and delete ------------------------------------------------- */
typedef void (*new_handler_fn)(void);

static new_handler_fn cxx_get_new_handler(void)
{
	new_handler_fn (*get)(void) = (new_handler_fn (*)(void))dlsym(RTLD_DEFAULT, "_ZSt15get_new_handlerv");

	return get ? get() : NULL;
}

/* throw std::bad_alloc(), built from libstdc++'s own parts; abort without. */
__attribute__((noreturn, cold)) static void cxx_throw_bad_alloc(const char *func, size_t size)
{
	void *(*allocate)(size_t) = (void *(*)(size_t))dlsym(RTLD_DEFAULT, "__cxa_allocate_exception");
	void (*throw_)(void *, void *, void (*)(void *)) =
		(void (*)(void *, void *, void (*)(void *)))dlsym(RTLD_DEFAULT, "__cxa_throw");
	void *type_info = dlsym(RTLD_DEFAULT, "_ZTISt9bad_alloc");
	void **vtable = dlsym(RTLD_DEFAULT, "_ZTVSt9bad_alloc");
	void (*dtor)(void *) = (void (*)(void *))dlsym(RTLD_DEFAULT, "_ZNSt9bad_allocD1Ev");

	if (allocate && throw_ && type_info && vtable && dtor) {
		/* std::bad_alloc is one vtable pointer, which points past the
		 * vtable's offset-to-top and type_info entries */
		void **exc = allocate(sizeof(void *));

		*exc = vtable + 2;
		throw_(exc, type_info, dtor);
	}
	kslub_fatal(func, NULL, "out of memory for %zu bytes, and no C++ runtime to throw std::bad_alloc", size);
}

static void *cxx_new(size_t size, size_t align, bool nothrow, const char *func)
{
	for (;;) {
		void *p = aligned_inline(align, size);
		new_handler_fn handler;

		if (likely(p))
			return p;
		handler = cxx_get_new_handler();
		if (handler) {
			handler();
			continue;
		}
		if (nothrow)
			return NULL;
		cxx_throw_bad_alloc(func, size);
	}
}

/* operator new's fast path is malloc's; a failure goes to cxx_new. */
static always_inline void *cxx_new_inline(size_t size, const char *func)
{
	void *p = kmalloc_inline(size < MALLOC_MIN_SIZE ? MALLOC_MIN_SIZE : size, GFP_MALLOC);

	if (likely(p))
		return p;
	return cxx_new(size, MALLOC_MIN_SIZE, false, func);
}

/* An alignment that is not a power of two is undefined behaviour in C++:
 * treated as an allocation that cannot succeed. */
static void *cxx_new_aligned(size_t size, size_t align, bool nothrow, const char *func)
{
	if (unlikely(!is_pow2(align))) {
		if (nothrow)
			return NULL;
		cxx_throw_bad_alloc(func, size);
	}
	return cxx_new(size, align, nothrow, func);
}

/* operator new(size_t), new[](size_t) and their nothrow forms */
KSLUB_API void *_Znwm(size_t size) { return cxx_new_inline(size, "operator new"); }
KSLUB_API void *_Znam(size_t size) { return cxx_new_inline(size, "operator new[]"); }
KSLUB_API void *_ZnwmRKSt9nothrow_t(size_t size, const void *nt)
{
	(void)nt;
	return cxx_new(size, MALLOC_MIN_SIZE, true, "operator new");
}
KSLUB_API void *_ZnamRKSt9nothrow_t(size_t size, const void *nt)
{
	(void)nt;
	return cxx_new(size, MALLOC_MIN_SIZE, true, "operator new[]");
}

/* operator new(size_t, std::align_val_t), new[], and their nothrow forms */
KSLUB_API void *_ZnwmSt11align_val_t(size_t size, size_t align)
{
	return cxx_new_aligned(size, align, false, "operator new");
}
KSLUB_API void *_ZnamSt11align_val_t(size_t size, size_t align)
{
	return cxx_new_aligned(size, align, false, "operator new[]");
}
KSLUB_API void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt)
{
	(void)nt;
	return cxx_new_aligned(size, align, true, "operator new");
}
KSLUB_API void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t size, size_t align, const void *nt)
{
	(void)nt;
	return cxx_new_aligned(size, align, true, "operator new[]");
}

/* operator delete and delete[]: plain, sized, aligned, sized and aligned,
 * nothrow, aligned nothrow.  kfree knows every block's size and alignment. */
KSLUB_API void _ZdlPv(void *p) { kfree_inline(p, "operator delete"); }
KSLUB_API void _ZdaPv(void *p) { kfree_inline(p, "operator delete[]"); }
KSLUB_API void _ZdlPvm(void *p, size_t size) { (void)size; kfree_inline(p, "operator delete"); }
KSLUB_API void _ZdaPvm(void *p, size_t size) { (void)size; kfree_inline(p, "operator delete[]"); }
KSLUB_API void _ZdlPvSt11align_val_t(void *p, size_t align) { (void)align; kfree_inline(p, "operator delete"); }
KSLUB_API void _ZdaPvSt11align_val_t(void *p, size_t align) { (void)align; kfree_inline(p, "operator delete[]"); }
KSLUB_API void _ZdlPvmSt11align_val_t(void *p, size_t size, size_t align)
{
	(void)size;
	(void)align;
	kfree_inline(p, "operator delete");
}
KSLUB_API void _ZdaPvmSt11align_val_t(void *p, size_t size, size_t align)
{
	(void)size;
	(void)align;
	kfree_inline(p, "operator delete[]");
}
KSLUB_API void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; kfree_inline(p, "operator delete"); }
KSLUB_API void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; kfree_inline(p, "operator delete[]"); }
KSLUB_API void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt)
{
	(void)align;
	(void)nt;
	kfree_inline(p, "operator delete");
}
KSLUB_API void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t align, const void *nt)
{
	(void)align;
	(void)nt;
	kfree_inline(p, "operator delete[]");
}
