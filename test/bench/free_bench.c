/* SPDX-License-Identifier: MIT */
/*
 * free_bench - the cost of a free in random order, the shape of frag's
 * second phase: N objects of 16 to 1024 bytes are allocated, then nine
 * tenths of them are read and freed in random order.  Prints the time per
 * free, and the same loop's time with the frees left out (what the reads
 * alone cost), so that the allocator's share shows.  Linked with libc
 * alone: the allocator under test comes in with LD_PRELOAD.
 *
 *   free_bench [N]        N objects (3000000)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* n objects, spread over log2 from 16 to 1024 bytes, in random order */
static void **fill(size_t n)
{
	void **p = malloc(n * sizeof(void *));

	if (!p)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		size_t size = (size_t)16 << (rnd() % 7);

		size += rnd() % size;
		if (size > 1024)
			size = 1024;
		p[i] = malloc(size);
		if (!p[i]) {
			fprintf(stderr, "free_bench: out of memory after %zu objects\n", i);
			exit(1);
		}
		*(volatile char *)p[i] = 1;
	}
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = rnd() % (i + 1);
		void *t = p[i];

		p[i] = p[j];
		p[j] = t;
	}
	return p;
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? strtoul(argv[1], NULL, 10) : 3000000;
	size_t m = n / 10 * 9;
	void **p;
	double t, reads, frees;

	if (n < 10) {
		fprintf(stderr, "usage: free_bench [N >= 10]\n");
		return 2;
	}
	p = fill(n);
	if (!p)
		return 1;
	/* the reads alone, over the objects that are freed next */
	t = now();
	for (size_t i = 0; i < m; i++)
		(void)*(volatile char *)p[i];
	reads = now() - t;
	/* the same loop with the frees: a second pass over the same lines,
	 * in the same order, so that both start with them out of cache */
	t = now();
	for (size_t i = 0; i < m; i++) {
		(void)*(volatile char *)p[i];
		free(p[i]);
	}
	frees = now() - t;
	printf("free_bench: %zu objects, %zu freed in random order: %.1f ns a free, "
	       "%.1f ns for the read alone\n", n, m, frees / (double)m * 1e9, reads / (double)m * 1e9);
	return 0;
}
