/* SPDX-License-Identifier: MIT */
/*
 * page_alloc.h - the buddy page allocator's interface to the rest of the core.
 */
#ifndef KSLUB_PAGE_ALLOC_H
#define KSLUB_PAGE_ALLOC_H

struct page;
struct zone;
struct kslub_thread;

/* A block of 2^order pages from node's zone (NUMA_NO_NODE: the caller's node),
 * through the calling thread's page lists for small orders.  *zeroed, when
 * given, says whether the whole block is known to read as zeros. */
struct page *alloc_pages_node(int node, gfp_t gfp, unsigned int order, bool *zeroed);
/* Give back a block of 2^order pages that alloc_pages_node returned. */
void free_the_pages(struct page *page, unsigned int order);
/* nr pages starting at page, a block or the tail of one: freed in the largest
 * aligned pieces the buddy can take (alloc_pages_exact's tail, free_pages_exact). */
void free_pages_range(struct page *page, unsigned long nr, bool dirty);
/* Take the nr pages from page off the free lists of their zone if every one
 * of them is free there (not on a thread's page list), and keep the rest of
 * the blocks they were part of free (kernel: take_page_off_buddy, for a
 * range): how a large block grows in place.  False changes nothing. */
bool take_pages_off_buddy(struct page *page, unsigned long nr);
/* Move the resident pages of the zone's dirty free blocks into the nr clean
 * pages of a block handed out, from page index from of the block that
 * starts at page, instead of letting them fault in; the pages it returns
 * (how many were moved in) no longer read as zeros.  Nothing for a gfp
 * without KSLUB_GFP_DIRECT_RECLAIM. */
unsigned long fill_from_dirty(struct page *page, unsigned long from, unsigned long nr, gfp_t gfp);
/* Exactly DIV_ROUND_UP(size, PAGE_SIZE) pages: the tail of the block is
 * freed.  A clean block is filled with resident pages (fill_from_dirty)
 * unless gfp has KSLUB_GFP_ZERO or KSLUB_GFP_NOFILL. */
struct page *alloc_pages_exact_node(int node, gfp_t gfp, size_t size, bool *zeroed);

void page_alloc_init(void);
void drain_thread_pages(struct kslub_thread *t);
size_t page_alloc_trim(void);
bool kslub_unmap_kept(void);
unsigned int get_order(size_t size);
void zone_lock_all(void);
void zone_unlock_all(void);
void zone_reinit_locks(void);
struct zone *zone_create(int node);
/* Bind every arena to its zone's node (after the nodes came online). */
void page_alloc_bind_arenas(void);

#endif
