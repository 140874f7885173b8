/* SPDX-License-Identifier: MIT */
/*
 * kslub.h - the kernel's slab API for user-space C programs.
 *
 * Kernel-style code compiles as written: kmalloc(size, GFP_KERNEL), kfree(),
 * kmem_cache_create() and friends.  The library exports its symbols with a
 * kslub_ prefix; the kernel spellings below are static inline wrappers, so a
 * program with a kmalloc() of its own never collides with the library.
 * Define KSLUB_NO_KERNEL_NAMES before including this header to get only the
 * prefixed names.
 *
 * Link with: pkg-config --cflags --libs kslub
 */
#ifndef KSLUB_H
#define KSLUB_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define KSLUB_EXPORT __attribute__((visibility("default")))
#define KSLUB_MALLOC_ATTR __attribute__((malloc, warn_unused_result))
#else
#define KSLUB_EXPORT
#define KSLUB_MALLOC_ATTR
#endif

/* ---- gfp flags ------------------------------------------------------------ */
typedef unsigned int gfp_t;

#define KSLUB_GFP_DIRECT_RECLAIM 0x0400u /* may wait for a lock or the OS */
#define KSLUB_GFP_IO             0x0040u
#define KSLUB_GFP_FS             0x0080u
#define KSLUB_GFP_HIGH           0x0020u /* caller cannot wait */
#define KSLUB_GFP_NOWARN         0x2000u /* no message on failure */
#define KSLUB_GFP_ZERO           0x8000u /* return zeroed memory */
#define KSLUB_GFP_KERNEL (KSLUB_GFP_DIRECT_RECLAIM | KSLUB_GFP_IO | KSLUB_GFP_FS)
#define KSLUB_GFP_ATOMIC (KSLUB_GFP_HIGH)

/* ---- slab flags ----------------------------------------------------------- */
typedef unsigned int slab_flags_t;

#define KSLUB_SLAB_CONSISTENCY_CHECKS 0x00000100u /* 'F': check on alloc/free */
#define KSLUB_SLAB_RED_ZONE           0x00000400u /* 'Z': red zone around objects */
#define KSLUB_SLAB_POISON             0x00000800u /* 'P': poison free objects */
#define KSLUB_SLAB_HWCACHE_ALIGN      0x00002000u /* align objects on cache lines */
#define KSLUB_SLAB_STORE_USER         0x00010000u /* 'U': store alloc/free callers */
#define KSLUB_SLAB_PANIC              0x00040000u /* abort if creation fails */

/* kmalloc(0) returns this: not NULL, never dereferenceable, accepted by kfree */
#define KSLUB_ZERO_SIZE_PTR ((void *)16)
#define KSLUB_ZERO_OR_NULL_PTR(x) ((unsigned long)(x) <= (unsigned long)KSLUB_ZERO_SIZE_PTR)

#define KSLUB_PAGE_SIZE 4096UL
#define KSLUB_MAX_ORDER 11 /* buddy orders 0 .. KSLUB_MAX_ORDER - 1 */
#define KSLUB_KMALLOC_MAX_CACHE_SIZE 8192UL

struct kmem_cache;

/* ---- exported API --------------------------------------------------------- */
KSLUB_EXPORT void *kslub_kmalloc(size_t size, gfp_t flags) KSLUB_MALLOC_ATTR;
KSLUB_EXPORT void *kslub_kmalloc_node(size_t size, gfp_t flags, int node) KSLUB_MALLOC_ATTR;
KSLUB_EXPORT void *kslub_kcalloc(size_t n, size_t size, gfp_t flags) KSLUB_MALLOC_ATTR;
KSLUB_EXPORT void *kslub_krealloc(const void *p, size_t new_size, gfp_t flags);
KSLUB_EXPORT void kslub_kfree(const void *p);
KSLUB_EXPORT size_t kslub_ksize(const void *p);

KSLUB_EXPORT struct kmem_cache *kslub_kmem_cache_create(const char *name, unsigned int size,
		unsigned int align, slab_flags_t flags, void (*ctor)(void *));
KSLUB_EXPORT void *kslub_kmem_cache_alloc(struct kmem_cache *s, gfp_t flags) KSLUB_MALLOC_ATTR;
KSLUB_EXPORT void *kslub_kmem_cache_alloc_node(struct kmem_cache *s, gfp_t flags, int node) KSLUB_MALLOC_ATTR;
KSLUB_EXPORT void kslub_kmem_cache_free(struct kmem_cache *s, void *p);
KSLUB_EXPORT void kslub_kmem_cache_destroy(struct kmem_cache *s);
KSLUB_EXPORT int kslub_kmem_cache_shrink(struct kmem_cache *s);
KSLUB_EXPORT unsigned int kslub_kmem_cache_size(struct kmem_cache *s);
KSLUB_EXPORT const char *kslub_kmem_cache_name(struct kmem_cache *s);

/* Page allocator.  Unlike the kernel's alloc_pages(), which returns a struct
 * page, these return the block's address (the kernel's __get_free_pages()). */
KSLUB_EXPORT void *kslub_alloc_pages(gfp_t flags, unsigned int order) KSLUB_MALLOC_ATTR;
KSLUB_EXPORT void kslub_free_pages(void *addr, unsigned int order);
KSLUB_EXPORT void *kslub_alloc_pages_exact(size_t size, gfp_t flags) KSLUB_MALLOC_ATTR;
KSLUB_EXPORT void kslub_free_pages_exact(void *addr, size_t size);

/* ---- kslub's own extensions ---------------------------------------------- */

/* Figures of one cache, as /proc/slabinfo and /sys/kernel/slab show them.
 * Exact for slabs no live thread holds; a live thread's cpu slab is counted
 * by walking its freelist. */
struct kslub_cache_info {
	unsigned long active_objs;   /* allocated and not freed */
	unsigned long num_objs;      /* objects in all slabs */
	unsigned long num_slabs;     /* slabs of this cache */
	unsigned long partial_slabs; /* slabs on the node partial lists */
	unsigned long cpu_slabs;     /* cpu slabs and cpu-partial slabs of threads */
	unsigned int object_size;    /* what the user asked for */
	unsigned int size;           /* object with metadata and alignment */
	unsigned int objs_per_slab;
	unsigned int order;
	unsigned int cpu_partial;    /* cpu_partial (objects) */
	unsigned int min_partial;
};
KSLUB_EXPORT int kslub_cache_info(struct kmem_cache *s, struct kslub_cache_info *info);

/* The kmalloc cache that serves a request of this size, or NULL above
 * KSLUB_KMALLOC_MAX_CACHE_SIZE. */
KSLUB_EXPORT struct kmem_cache *kslub_kmalloc_cache(size_t size);

/* Free blocks per order in node's zone (nr_free of free_area[order]).
 * Returns the number of orders written, or -1 for a node that does not exist. */
KSLUB_EXPORT int kslub_buddyinfo(int node, unsigned long nr_free[KSLUB_MAX_ORDER]);

/* Give the calling thread's cpu slabs, cpu-partial slabs and per-thread page
 * lists back to the nodes (what the library does at thread exit). */
KSLUB_EXPORT void kslub_flush_thread(void);

/* Check the internal consistency of a cache (kernel's validate_slab_cache):
 * returns the number of errors found, each reported on stderr. */
KSLUB_EXPORT long kslub_validate_slab_cache(struct kmem_cache *s);

/* Free memory back to the OS now: drain the calling thread's page lists,
 * release empty slabs held in reserve, purge and unmap free memory.
 * Returns the number of bytes given back. */
KSLUB_EXPORT size_t kslub_trim(void);

/* Write the /proc/slabinfo (version 2.1) and /proc/buddyinfo style report.
 * Returns 0, or -1 with errno set. */
KSLUB_EXPORT int kslub_write_slabinfo(const char *path);

/* ---- the kernel's spelling ------------------------------------------------ */
#ifndef KSLUB_NO_KERNEL_NAMES

#define __GFP_DIRECT_RECLAIM KSLUB_GFP_DIRECT_RECLAIM
#define __GFP_IO             KSLUB_GFP_IO
#define __GFP_FS             KSLUB_GFP_FS
#define __GFP_HIGH           KSLUB_GFP_HIGH
#define __GFP_NOWARN         KSLUB_GFP_NOWARN
#define __GFP_ZERO           KSLUB_GFP_ZERO
#define GFP_KERNEL           KSLUB_GFP_KERNEL
#define GFP_NOWAIT           0u
#define GFP_ATOMIC           KSLUB_GFP_ATOMIC
#define GFP_NOFS             (__GFP_DIRECT_RECLAIM | __GFP_IO)

#define SLAB_CONSISTENCY_CHECKS KSLUB_SLAB_CONSISTENCY_CHECKS
#define SLAB_RED_ZONE           KSLUB_SLAB_RED_ZONE
#define SLAB_POISON             KSLUB_SLAB_POISON
#define SLAB_HWCACHE_ALIGN      KSLUB_SLAB_HWCACHE_ALIGN
#define SLAB_STORE_USER         KSLUB_SLAB_STORE_USER
#define SLAB_PANIC              KSLUB_SLAB_PANIC

#define ZERO_SIZE_PTR          KSLUB_ZERO_SIZE_PTR
#define ZERO_OR_NULL_PTR(x)    KSLUB_ZERO_OR_NULL_PTR(x)
#define KMALLOC_MAX_CACHE_SIZE KSLUB_KMALLOC_MAX_CACHE_SIZE
#define NUMA_NO_NODE           (-1)

static inline void *kmalloc(size_t size, gfp_t flags) { return kslub_kmalloc(size, flags); }
static inline void *kmalloc_node(size_t size, gfp_t flags, int node) { return kslub_kmalloc_node(size, flags, node); }
static inline void *kzalloc(size_t size, gfp_t flags) { return kslub_kmalloc(size, flags | __GFP_ZERO); }
static inline void *kcalloc(size_t n, size_t size, gfp_t flags) { return kslub_kcalloc(n, size, flags); }
static inline void *kmalloc_array(size_t n, size_t size, gfp_t flags) { return kslub_kcalloc(n, size, flags & ~__GFP_ZERO); }
static inline void *krealloc(const void *p, size_t new_size, gfp_t flags) { return kslub_krealloc(p, new_size, flags); }
static inline void kfree(const void *p) { kslub_kfree(p); }
static inline size_t ksize(const void *p) { return kslub_ksize(p); }
static inline void *kmemdup(const void *src, size_t len, gfp_t flags)
{
	void *p = kslub_kmalloc(len, flags & ~__GFP_ZERO);
	if (p && len)
		memcpy(p, src, len);
	return p;
}
static inline char *kstrdup(const char *s, gfp_t flags)
{
	return s ? (char *)kmemdup(s, strlen(s) + 1, flags) : NULL;
}

static inline struct kmem_cache *kmem_cache_create(const char *name, unsigned int size,
		unsigned int align, slab_flags_t flags, void (*ctor)(void *))
{
	return kslub_kmem_cache_create(name, size, align, flags, ctor);
}
static inline void *kmem_cache_alloc(struct kmem_cache *s, gfp_t flags) { return kslub_kmem_cache_alloc(s, flags); }
static inline void *kmem_cache_alloc_node(struct kmem_cache *s, gfp_t flags, int node) { return kslub_kmem_cache_alloc_node(s, flags, node); }
static inline void *kmem_cache_zalloc(struct kmem_cache *s, gfp_t flags) { return kslub_kmem_cache_alloc(s, flags | __GFP_ZERO); }
static inline void kmem_cache_free(struct kmem_cache *s, void *p) { kslub_kmem_cache_free(s, p); }
static inline void kmem_cache_destroy(struct kmem_cache *s) { kslub_kmem_cache_destroy(s); }
static inline int kmem_cache_shrink(struct kmem_cache *s) { return kslub_kmem_cache_shrink(s); }
static inline unsigned int kmem_cache_size(struct kmem_cache *s) { return kslub_kmem_cache_size(s); }

static inline void *alloc_pages(gfp_t flags, unsigned int order) { return kslub_alloc_pages(flags, order); }
static inline void free_pages(void *addr, unsigned int order) { kslub_free_pages(addr, order); }
static inline void *alloc_pages_exact(size_t size, gfp_t flags) { return kslub_alloc_pages_exact(size, flags); }
static inline void free_pages_exact(void *addr, size_t size) { kslub_free_pages_exact(addr, size); }

#endif /* KSLUB_NO_KERNEL_NAMES */

#ifdef __cplusplus
}
#endif
#endif /* KSLUB_H */
