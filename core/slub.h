/* SPDX-License-Identifier: MIT */
/*
 * slub.h - the fast paths: slab_alloc, slab_free, and kmalloc/kfree on top of
 * them.  Each is a few instructions with one unlikely branch to a function in
 * slub.c or kmalloc.c.  Nothing else belongs here.
 *
 * Costs are instructions on x86-64 with gcc -O2, counted with callgrind
 * (scripts/count-instructions).
 */
#ifndef KSLUB_SLUB_H
#define KSLUB_SLUB_H

#include "internal.h"

/* ---- hardened freelist pointers (SLAB_FREELIST_HARDENED) -----------------
 * A free pointer is stored as ptr ^ random ^ swab(obj_addr), obj_addr the
 * address of the object that holds it, random the process's key
 * (kslub_freelist_random; the kernel keeps one a cache, s->random: one for
 * all lets malloc decode with no line of the cache read).  The kernel swaps
 * the address of the slot, obj_addr + s->offset; s->offset is the same for
 * every object of the cache, so both tell the slots apart alike, and with
 * the object's address kfree computes the key without adding the offset
 * first.
 *
 * kfree tells a double free by the slot: a free object's decodes to NULL or
 * to an object of its slab, a live object's holds 0 (wiped on allocation)
 * or the program's data.  Objects are 8-byte aligned, so bits 56..58 of
 * swab(obj_addr) are 0, and random has bit 56 set: any live value below
 * 2^56 (every user-space pointer, every small number) decodes to a value
 * with bit 56 set, neither NULL nor an object.  Other values do by a chance
 * of one in 2^41 or less.
 *
 * The byte swap stays, though ptr ^ random ^ ptr_addr would save an
 * instruction or two: ptr and obj_addr lie in the same slab, so without the
 * swap a stored value is random ^ (a number below the slab size), and the
 * same value at another address of the cache decodes as well to an object of
 * that slab.  Programs copy stale memory (realloc of a block whose pages were
 * a slab before, uninitialised struct fields), and each such copy would be
 * reported as a double free.  With the swap the address's low bits land in
 * the high bits, and a value moved to another slot decodes to garbage.
 */
extern unsigned long kslub_freelist_random __attribute__((visibility("hidden")));

static always_inline void *freelist_ptr(const struct kmem_cache *s, void *ptr, unsigned long obj_addr)
{
	(void)s;
	/* in this order gcc xors a stored value straight from memory and
	 * needs no copy of the address: one instruction less per pop */
	return (void *)((__builtin_bswap64(obj_addr) ^ kslub_freelist_random) ^ (unsigned long)ptr);
}

static always_inline void *get_freepointer(const struct kmem_cache *s, const void *object)
{
	return freelist_ptr(s, *(void **)((char *)object + s->offset), (unsigned long)object);
}

static always_inline void set_freepointer(const struct kmem_cache *s, void *object, void *fp)
{
	*(void **)((char *)object + s->offset) = freelist_ptr(s, fp, (unsigned long)object);
}

/* An allocated object's free pointer slot holds 0, never a valid encoding,
 * so that free() can tell a free object from a live one. */
static always_inline void wipe_freepointer(const struct kmem_cache *s, void *object)
{
	*(void **)((char *)object + s->offset) = NULL;
}

/* ---- slab_alloc ------------------------------------------------------------ */
/* Pop an object off a thread's freelist: decode the next pointer, wipe the
 * slot.  Returns NULL when the freelist is empty. */
static always_inline void *freelist_pop(const struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	void **object = c->freelist;
	unsigned long offset = s->offset;

	if (unlikely(!object))
		return NULL;
	c->freelist = freelist_ptr(s, *(void **)((char *)object + offset), (unsigned long)object);
	__asm__("" : "+r"(offset));	/* no code: the wipe addresses object + offset again, with no add */
	*(void **)((char *)object + offset) = NULL;
	return object;
}

/* p, known not NULL, in the return register: where kmalloc_cpu_pop's two
 * pops join, gcc would otherwise hold each in another register and join
 * them at a move and a return, two instructions more from the freelist. */
static always_inline void *ret_reg(void *p)
{
#if defined(__x86_64__)
	__asm__("" : "+a"(p));
#endif
	if (!p)
		__builtin_unreachable();
	return p;
}

/* The same for a kmalloc cache: no constructor, so the free pointer is at
 * offset 0 (create_kmalloc_caches checks it). */
static always_inline void *kmalloc_freelist_pop(struct kmem_cache_cpu *c)
{
	void **object = c->freelist;

	if (unlikely(!object))
		return NULL;
	/* the key is the process's: no line of the cache is read */
	c->freelist = freelist_ptr(NULL, *object, (unsigned long)object);
	*object = NULL;
	return ret_reg(object);
}

/* ---- the thread's sheaf --------------------------------------------------
 * An allocation takes the sheaf's top first, as the kernel's does since
 * sheaves came (alloc_from_pcs before the cpu slab): objects freed in random
 * order go there, and the next allocation of the cache takes the last one
 * back while its lines are still in the cache.  The cpu freelist serves when
 * the sheaf is empty.  A free goes to the cpu freelist when the object is of
 * the cpu slab, to the sheaf otherwise; past those, slab_free_slow and
 * slab_alloc_refill.  The count of objects is in c->sheaf, so a push or a
 * pop reads no line of the sheaf but its top slot.
 *
 * sheaf_pop_at: the object freed last, or NULL.  offset: s->offset, or 0
 * for a kmalloc cache.  A thread with no sheaf, and the empty thread, whose
 * slots the boot cache's is one of, have c->sheaf == 0; c->pop_floor
 * (cpu_sheaf_limits_set) sends the others the long way.  The long way
 * (slab_alloc_refill) takes a thread with no cpu slab, which is still taking
 * its first objects of the cache (alloc_first counts a pop from the sheaf as
 * one of them, so that a thread that reuses one object gets a slab of its
 * own, not a slot next to other threads' objects), and every thread on a
 * machine of several nodes, whose sheaf must be of the node it runs on
 * (alloc_from_pcs). */
static always_inline void *sheaf_pop_at(struct kmem_cache_cpu *c, unsigned long offset)
{
	unsigned long v = c->sheaf;
	unsigned long n;
	void *object;

	/* pop_floor is 1, or SHEAF_POP_NEVER for the long way: one compare
	 * of the count field in place */
	if (unlikely((uint16_t)v <= c->pop_floor))
		return NULL;	/* no object, or the long way */
	n = (uint16_t)v;	/* objects + 1 */
	object = c->sheaf_top;	/* objects[n - 2] */
	if (!object)
		__builtin_unreachable();	/* no test of it in the caller */
	/* the next top, objects[n - 3], 16 + 8 * (n - 3) bytes into the
	 * sheaf: the header's bottom, NULL, under the last object */
	c->sheaf_top = *(void **)((v >> SHEAF_COUNT_BITS) + 8 * n - 8);
	/* read before it is uncounted, for a fork child */
	__atomic_store_n(&c->sheaf, v - 1, __ATOMIC_RELEASE);
	*(void **)((char *)object + offset) = NULL;	/* wipe_freepointer */
	return ret_reg(object);
}

static always_inline void *sheaf_pop(const struct kmem_cache *s, struct kmem_cache_cpu *c)
{
	return sheaf_pop_at(c, s->offset);
}

/* Push x, whose free pointer slot is at x + offset, on c's sheaf when it
 * holds fewer than c->push_limit objects: the sheaf's capacity (at least
 * s->sheaf_push_cap; sheaf_grow raises it) in a thread with a cpu slab of
 * the cache, s->sheaf_push_max
 * (sheaf_consumer) in one with none (a consumer's sheaf only batches its
 * frees); 0 on a machine of several nodes and in a slot never used
 * (cpu_sheaf_limits_set).  False otherwise, or with no sheaf yet, whose
 * count wraps to the largest: free_to_pcs then flushes or makes the sheaf.
 * key: the encoded NULL free pointer of x, which marks it free. */
static always_inline bool sheaf_push_at(struct kmem_cache_cpu *c, void *x, unsigned long key, unsigned long offset)
{
	unsigned long v = c->sheaf;
	unsigned int size = (unsigned int)(uint16_t)v - 1;

	if (unlikely(size >= c->push_limit))
		return false;
	*(unsigned long *)((char *)x + offset) = key;
	/* objects[size], 16 + 8 * size bytes into the sheaf */
	*(void **)((v >> SHEAF_COUNT_BITS) + 16 + 8 * (unsigned long)size) = x;
	c->sheaf_top = x;
	/* stored before it is counted, for a fork child */
	__atomic_store_n(&c->sheaf, v + 1, __ATOMIC_RELEASE);
	return true;
}

/* slab_alloc: the sheaf's top object, else the cpu freelist's first.  When
 * both are empty (or the thread has no state yet) slab_alloc_refill refills
 * the freelist: frees by other threads to the cpu slab, the cpu-partial
 * list, the node partial list, a new slab from the buddy. */
static always_inline void *slab_alloc(struct kmem_cache *s, gfp_t gfp)
{
	struct kmem_cache_cpu *c = this_cpu_ptr(s);
	void *object = sheaf_pop(s, c);

	if (!object)
		object = freelist_pop(s, c);
	if (unlikely(!object))
		return slab_alloc_refill(s, gfp);
	if (unlikely(gfp & KSLUB_GFP_ZERO))
		memset(object, 0, s->object_size);
	return object;
}

/* ---- slab_free ------------------------------------------------------------- */
/* Is x the start of an object of this slab?  One multiply and one compare.
 *
 * Let n = s->size, M = s->div_magic = floor(2^64 / n) + 1, and
 * e = M * n - 2^64, so that 0 < e <= n (e = n when n is a power of two).
 * Write the offset in the slab as off = k * n + r with 0 <= r < n.  Then,
 * mod 2^64, off * M = k * (2^64 + e) + r * M = k * e + r * M.
 *   r == 0: off * M = k * e exactly, below objects * e iff k < objects.
 *   r != 0: M <= r * M <= (n - 1) * M = 2^64 + e - M, and k * e <= off, so
 *           k * e + r * M stays below 2^64 (M > 2^42 is far above
 *           off + e < 2^23) and is at least M > 2^64 / n >= 2^42, while
 *           objects * e <= objects * n <= 2^22 (a slab is at most 4 MiB).
 * So off * M < objects * e (slab->starts_below) holds exactly for the starts
 * of the slab's objects.  test_kmalloc checks it for every offset of every
 * kmalloc size and slab order. */
static always_inline unsigned long slab_starts_below(const struct kmem_cache *s, unsigned int objects)
{
	return (unsigned long)objects * (s->div_magic * s->size);	/* e is M * n mod 2^64 */
}

static always_inline bool object_is_start(const struct kmem_cache *s, const struct slab *slab, const void *x)
{
	unsigned long off = ((unsigned long)x & slab->mask) - s->red_left_pad;

	return off * s->div_magic < slab->starts_below;
}

/* Is the object free already?  A free object's slot decodes to NULL or to an
 * object of the same slab; a live object's slot holds 0 or program data,
 * which decodes to neither (see freelist_ptr). */
static always_inline bool freepointer_is_free(const struct slab *slab, const void *x, unsigned long fp)
{
	return fp == 0 || (fp ^ (unsigned long)x) <= slab->mask;
}

static always_inline bool object_is_free(const struct kmem_cache *s, const struct slab *slab, const void *x)
{
	return freepointer_is_free(slab, x, (unsigned long)get_freepointer(s, x));
}

/* Is addr, in a slab of mask + 1 bytes, in the slab that starts at start
 * (a slab of any order, 0 for none)?  Slabs are aligned to their size, so
 * yes when addr and start differ in no bit above the mask: start then lies
 * in addr's slab, where no other slab can start.  (addr - start <= mask
 * would take addr for the smaller slab's when a bigger slab follows it.) */
static always_inline bool in_slab_at(unsigned long start, unsigned long addr, unsigned long mask)
{
	return (addr ^ start) <= mask;
}

/* a & *m and a <= *m with *m a memory operand: slab_free_at reads the mask
 * in each of its three uses, which saves the register copy of the address
 * that an and with a register mask needs (x86's and overwrites its
 * operand).  The mask does not change while the object lives. */
static always_inline unsigned long and_mem(unsigned long a, const unsigned long *m)
{
	__asm__("and %1, %0" : "+r"(a) : "m"(*m) : "cc");
	return a;
}

/* *a ^= b, and whether that made it 0: the xor's own flag, where
 * a == b before a ^ b would take a compare more. */
static always_inline bool xor_is_zero(unsigned long *a, unsigned long b)
{
	bool zero;

	__asm__("xor %2, %0" : "+r"(*a), "=@ccz"(zero) : "r"(b));
	return zero;
}

static always_inline bool le_mem(unsigned long a, const unsigned long *m)
{
	bool le;

	__asm__("cmp %2, %1" : "=@ccbe"(le) : "r"(a), "m"(*m));
	return le;
}

/* Past the sheaf: slab_free_slow, with the slab found from x's page, which
 * the fast path does not read.  Not inlined: slab_free_at keeps its
 * registers. */
static noinline void slab_free_slow_addr(struct kmem_cache *s, void *x)
{
	slab_free_slow(s, page_slab(compound_head(virt_to_page(x))), x);
}

/* slab_free: check the object, then push it on the thread's freelist when it
 * is in the thread's cpu slab, else on the thread's sheaf when it has room;
 * otherwise slab_free_slow: free_to_pcs up to the sheaf's capacity, or the
 * kernel's __slab_free, a lock-free cmpxchg of the slab's freelist and
 * counters, taking a list lock only when the slab must change list.
 * mask, starts_below: the slab's (slab->mask and slab->starts_below, or the
 * cache's oo_ copies when the slot map says the slab has the preferred
 * order).  Whether x is in the cpu slab follows from x, the mask and
 * c->slab_addr (in_slab_at): no struct page is read on the way to the
 * freelist or the sheaf. */
static always_inline void slab_free_at(struct kmem_cache *s, void *x, const char *func,
				       unsigned long offset, const unsigned long *maskp, unsigned long starts_below)
{
	unsigned long addr = (unsigned long)x;
	unsigned long off = and_mem(addr, maskp);
	unsigned long key, fp;
	struct kmem_cache_cpu *c;

	/* reports and aborts; a tail call keeps the stack untouched here */
	if (unlikely(off * s->div_magic >= starts_below))
		return kslub_bad_object_free(s, x, func);	/* not the start of an object */
	/* freepointer_is_free, with the compares on the stored value */
	key = kslub_freelist_random ^ __builtin_bswap64(addr);
	fp = *(unsigned long *)(addr + offset);
	/* no code: the store below addresses x + offset again, with no add */
	if (!__builtin_constant_p(offset))
		__asm__("" : "+r"(offset));
	if (unlikely(xor_is_zero(&fp, key) || le_mem(fp ^ addr, maskp)))
		return kslub_bad_object_free(s, x, func);	/* already free */
	c = this_cpu_ptr(s);
	if (likely(le_mem(addr ^ c->slab_addr, maskp))) {	/* in_slab_at */
		*(unsigned long *)(addr + offset) = (unsigned long)c->freelist ^ key;
		c->freelist = x;
		return;
	}
	if (likely(sheaf_push_at(c, x, key, offset)))
		return;
	slab_free_slow_addr(s, x);
}

/* offset: s->offset, or 0 from kfree's fast path, which knows it is 0 */
static always_inline void slab_free(struct kmem_cache *s, struct slab *slab, void *x, const char *func)
{
	slab_free_at(s, x, func, s->offset, &slab->mask, slab->starts_below);
}

/* ---- kmalloc --------------------------------------------------------------- */
#define KMALLOC_SHIFT_LOW 3
#define KMALLOC_MIN_SIZE (1 << KMALLOC_SHIFT_LOW)
#define NR_KMALLOC_SLOTS 64
extern struct kmem_cache *kmalloc_caches[NR_KMALLOC_SLOTS];
/* kmalloc_size_index[(size - 1) / 8]: the kmalloc cache slot for size. */
extern uint8_t kmalloc_size_index[KSLUB_KMALLOC_MAX_CACHE_SIZE / KMALLOC_MIN_SIZE];
/* malloc's tables, one object so that one address serves both:
 * index_small[size] is the kmalloc cache slot for every size up to 1 KiB,
 * one load away with no rounding, for callers whose smallest object is 16
 * bytes (malloc): sizes 0 to 16 give kmalloc-16, kmalloc-8 is never chosen
 * (a byte a size: 17 lines, and no relocation at load); cpu_offset[slot] is
 * kmalloc_caches[slot]->cpu_offset, so that a pop from the sheaf reads no
 * line of the cache; cpu_offset_small[size] is cpu_offset[index_small[size]],
 * for malloc and kmalloc, whose pops need the slot's cpu offset alone (one
 * load less: the slot is looked up again on the way to a refill). */
#define KMALLOC_SMALL_MAX 1024
struct kmalloc_tables {
	/* first: gcc adds a field's offset to the index before it scales it */
	uint16_t cpu_offset_small[KMALLOC_SMALL_MAX + 1 + 3];
	uint8_t index_small[KMALLOC_SMALL_MAX + 1 + 7];
	uint32_t cpu_offset[NR_KMALLOC_SLOTS];
};
extern struct kmalloc_tables kmalloc_tables __attribute__((visibility("hidden")));
/* kmalloc_cpu_offsets_16[(size - 1) / 16]: the cpu offset for a size from 9
 * up to the largest cache, one load where kmalloc_size_index and cpu_offset
 * take two (every kmalloc size from 16 up is a multiple of 16, so 16 sizes
 * in a row share a cache); malloc uses it above 1 KiB.  An array of its
 * own: gcc would add a field's offset to the index before it scales it. */
extern uint16_t kmalloc_cpu_offsets_16[KSLUB_KMALLOC_MAX_CACHE_SIZE / 16] __attribute__((visibility("hidden")));
/* What slot 0 holds for good (see kmalloc.c); hidden, so that its address
 * is a lea, not a load from the GOT. */
extern struct kmem_cache kmalloc_boot_cache __attribute__((visibility("hidden")));

void *kmalloc_slow(size_t size, gfp_t gfp);
void *kmalloc_large_node(size_t size, gfp_t gfp, int node);
void kfree_nonslab(const void *x, const char *func);
void kfree_slow(const void *x, const char *func);
void kmalloc_cpu_fill(const struct kmem_cache *s);
void *kmalloc_aligned(size_t size, size_t align, gfp_t gfp);
void *krealloc_internal(const void *p, size_t new_size, gfp_t gfp, const char *func);
void *krealloc_sized(const void *p, size_t ks, size_t new_size, gfp_t gfp, const char *func);
size_t ksize_internal(const void *p, const char *func);

/* The kmalloc cache slot of a size from 1 to KMALLOC_MAX_CACHE_SIZE, by
 * kmalloc_size_index (for the sizes kmalloc_tables.index_small does not hold). */
static always_inline unsigned long kmalloc_slot(size_t size)
{
	return __atomic_load_n(&kmalloc_size_index[(size - 1) >> KMALLOC_SHIFT_LOW], __ATOMIC_ACQUIRE);
}

static always_inline struct kmem_cache *kmalloc_cache_indexed(size_t size)
{
	return __atomic_load_n(&kmalloc_caches[kmalloc_slot(size)], __ATOMIC_ACQUIRE);
}

/* An object of the kmalloc cache whose slot in each thread is cpu_offset
 * bytes in, from the thread's sheaf, else from its cpu freelist; NULL when
 * both are empty.  No line of the cache is read.  kmalloc and malloc share
 * it. */
static always_inline void *kmalloc_cpu_pop(unsigned long cpu_offset)
{
	struct kmem_cache_cpu *c = (struct kmem_cache_cpu *)((char *)kslub_current + cpu_offset);
	void *object = sheaf_pop_at(c, 0);

	if (likely(object))
		return object;
	return kmalloc_freelist_pop(c);
}

/* The cpu offset of the kmalloc cache for a size of 0 to 1 KiB (kmalloc-16
 * up to 16 bytes); 0, the boot cache's empty slot, before the caches exist.
 * Published after the cache is whole. */
static always_inline unsigned long kmalloc_cpu_offset_small(size_t size)
{
	return __atomic_load_n(&kmalloc_tables.cpu_offset_small[size], __ATOMIC_ACQUIRE);
}

/* plain loads: set before the slot is published (acquire in kmalloc_slot) */
static always_inline unsigned long kmalloc_cpu_offset(unsigned long slot)
{
	return kmalloc_tables.cpu_offset[slot];
}

/* The same for a size from 9 to KMALLOC_MAX_CACHE_SIZE (below, kmalloc-8). */
static always_inline unsigned long kmalloc_cpu_offset_16(size_t size)
{
	return __atomic_load_n(&kmalloc_cpu_offsets_16[(size - 1) >> 4], __ATOMIC_ACQUIRE);
}

/* Sizes 9 to 1 KiB take malloc's table by size (the same caches: from 9
 * bytes up kmalloc-8 is never the one), the larger the table by 16 bytes,
 * 1 to 8 bytes kmalloc_size_index. */
static always_inline void *kmalloc_inline(size_t size, gfp_t gfp)
{
	/* __GFP_ZERO and every size above the caches go the slow way */
	if (likely(!(gfp & KSLUB_GFP_ZERO))) {
		unsigned long cpu_offset;
		void *object;

		if (likely(size - 9 <= KMALLOC_SMALL_MAX - 9))
			cpu_offset = kmalloc_cpu_offset_small(size);
		else if (size - 9 <= KSLUB_KMALLOC_MAX_CACHE_SIZE - 9)
			cpu_offset = kmalloc_cpu_offset_16(size);
		else if (size - 1 < 8)
			cpu_offset = kmalloc_cpu_offset(kmalloc_slot(size));
		else
			return kmalloc_slow(size, gfp);
		object = kmalloc_cpu_pop(cpu_offset);
		if (likely(object))
			return object;
	}
	return kmalloc_slow(size, gfp);
}

/* Is page a page of a slab, its head or a tail?  A plain load, so that the
 * compiler tests the flag in memory: PG_slab changes only when the slab is
 * made (before any of its objects is handed out) and when it goes back to
 * the buddy (after the last is freed), so a free of a live object never
 * races with it. */
static always_inline bool PageSlab(const struct page *page)
{
	return page->flags & PG_slab;
}

/* The slab that holds x, or NULL if x is not in a slab of kslub's
 * (kernel: virt_to_slab, with the section map first). */
static always_inline struct slab *virt_to_slab(const void *x)
{
	unsigned long sec = (unsigned long)x >> ARENA_SHIFT;
	struct page *page;

	if (unlikely(sec >= NR_SECTIONS || kslub_section_map[sec] != SECTION_ARENA))
		return NULL;
	/* virt_to_page from the section number, which gcc would otherwise
	 * compute again from x */
	__asm__("" : "+r"(sec));
	page = (struct page *)((sec << ARENA_SHIFT) + ARENA_MEMMAP_OFFSET) +
	       (((unsigned long)x & ARENA_MASK) >> PAGE_SHIFT);
	if (unlikely(!PageSlab(page)))
		return NULL;
	return page_slab(compound_head(page));
}

/* Whether a block keeps the room past the used part of it: when that room
 * is less than a quarter of the block (bytes or pages).  A realloc that
 * would free less keeps it, as room a growing buffer will want again, and a
 * freed mapping cut down for a smaller request keeps it too: pages given
 * back would be faulted in again by the next large block. */
static inline bool keeps_slack(unsigned long used, unsigned long block)
{
	return 4 * (block - used) < block;	/* a block with no room keeps it too */
}

/* Whether a large block of nr_pages pages stays as it is for a realloc to
 * size: the size fits, and what the block would give back is its slack.
 * krealloc's in-place shrink and realloc's short way share it. */
static inline bool large_keeps(unsigned long nr_pages, size_t size)
{
	return size <= nr_pages * PAGE_SIZE && keeps_slack(DIV_ROUND_UP(size, PAGE_SIZE), nr_pages);
}

/* The pages of the live large block (a block of the page allocator handed
 * out by kmalloc) that starts at x; 0 for every other pointer, which goes
 * the long way (ksize_internal), where a bad one is reported. */
static always_inline unsigned long large_live_pages(const void *x)
{
	struct page *page;

	if (section_type(x) != SECTION_ARENA)
		return 0;
	page = compound_head(virt_to_page(x));
	if (!(READ_ONCE(page->flags) & PG_large) || page_address(page) != x)
		return 0;
	return page->nr_pages;
}

/* The size of x's object when x is the start of a live object of a kmalloc
 * slab of its cache's preferred order, found and checked as kfree finds and
 * checks it (kfree_inline); 0 for every other pointer, whose callers (realloc,
 * malloc_usable_size) go their long way, which also reports a bad one. */
static always_inline size_t kmalloc_live_size(const void *x)
{
	unsigned long i = slab_slot_index(x), addr = (unsigned long)x, mask, key, fp;
	const uint8_t *map;
	struct kmem_cache *s;

	if (unlikely(i >= SLAB_SLOTS_PAGES))
		return 0;
	/* slot 0 is the boot cache's: mask and starts_below 0 fail the test */
	map = kslub_slab_slots;
	s = slab_slot_cache(map, __atomic_load_n(&map[i], __ATOMIC_ACQUIRE));
	mask = s->oo_mask;
	if (unlikely((addr & mask) * s->div_magic >= s->oo_starts_below))
		return 0;
	key = kslub_freelist_random ^ __builtin_bswap64(addr);
	fp = *(const unsigned long *)x;
	if (unlikely(fp == key || (fp ^ key ^ addr) <= mask))
		return 0;	/* free */
	return s->object_size;
}

/* kfree: the slot map names the kmalloc cache of the object's slab when
 * that slab has the cache's preferred order (see kslub_slab_slots); the
 * thread's slot of that cache then holds copies of the mask and
 * starts_below of the checks (struct kmem_cache_cpu), and the cache's free
 * pointer is at offset 0.  kfree reads a byte of the map, indexed by the
 * page number less the window's start, the cache's cpu offset beside the
 * map, and the thread's slot, which it reads anyway: no struct page (the
 * kernel reads the page's and the head's) and no line of the cache.  A
 * program with thousands of slabs keeps their bytes in a few lines, where
 * their struct pages are a line each.  Every other pointer goes to
 * kfree_slow: an object of another cache or of a smaller slab, a block not
 * in a slab, a foreign pointer, NULL (outside the window, or in it with its
 * byte 0: no slab is in the first page), any address outside the map's
 * window, and every free by a thread whose slot has no copies yet (all 0:
 * the first check fails), which kfree_slow gives it. */
static always_inline void kfree_inline(const void *x, const char *func)
{
	unsigned long i = slab_slot_index(x), addr = (unsigned long)x, slot, key, fp;
	const uint8_t *map;
	struct kmem_cache_cpu *c;

	if (unlikely(i >= SLAB_SLOTS_PAGES))
		return kfree_slow(x, func);	/* outside the map's window */
	map = kslub_slab_slots;
	/* slot 0 (large, another cache or order, not a slab) is cpu slot 0,
	 * every thread's empty one, whose copies are 0: no test of the slot */
	slot = __atomic_load_n(&map[i], __ATOMIC_ACQUIRE);
	c = (struct kmem_cache_cpu *)((char *)kslub_current + slab_slot_cpu_offset(map, slot));
	if (unlikely(and_mem(addr, &c->oo_mask) * c->div_magic >= c->oo_starts_below))
		return kfree_slow(x, func);	/* not the start of an object, or no copies */
	/* freepointer_is_free, with the compares on the stored value */
	key = kslub_freelist_random ^ __builtin_bswap64(addr);
	fp = *(const unsigned long *)x;
	if (unlikely(xor_is_zero(&fp, key) || le_mem(fp ^ addr, &c->oo_mask)))
		return kfree_slow(x, func);	/* already free: reported there */
	if (likely(le_mem(addr ^ c->slab_addr, &c->oo_mask))) {	/* in_slab_at */
		*(unsigned long *)x = (unsigned long)c->freelist ^ key;
		c->freelist = (void **)x;
		return;
	}
	if (likely(sheaf_push_at(c, (void *)x, key, 0)))
		return;
	slab_free_slow_addr(slab_slot_cache(map, slot), (void *)x);
}

#endif
