/* SPDX-License-Identifier: MIT */
/*
 * malloc_bench - N malloc(32)/free pairs, linked with libc alone so that the
 * allocator under test is whatever LD_PRELOAD brings (glibc when nothing is
 * preloaded).  scripts/count-instructions counts its instructions.
 */
#include <stdio.h>
#include <stdlib.h>

#define barrier(p) __asm__ volatile("" : : "r"(p) : "memory")

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 2000000;

	for (long i = 0; i < n; i++) {
		void *p = malloc(32);
		barrier(p);
		free(p);
	}
	printf("malloc: %ld pairs\n", n);
	return 0;
}
