/* SPDX-License-Identifier: MIT */
/*
 * resident.h - which pages of a range are resident (mincore), for the tests
 * that check which pages kslub writes.
 */
#ifndef KSLUB_TEST_RESIDENT_H
#define KSLUB_TEST_RESIDENT_H

#include <criterion/criterion.h>

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "kslub.h"

/* The resident pages of the pages from addr (page-aligned, at most 32), a
 * bit each, the first page in bit 0. */
static inline unsigned int resident_pages(const void *addr, unsigned int pages)
{
	unsigned char vec[32];
	unsigned int bits = 0;

	cr_assert_leq(pages, 32);
	cr_assert_eq(mincore((void *)addr, (size_t)pages * KSLUB_PAGE_SIZE, vec), 0, "mincore: %s",
		     strerror(errno));
	for (unsigned int i = 0; i < pages; i++)
		if (vec[i] & 1)
			bits |= 1u << i;
	return bits;
}

#endif
