/* SPDX-License-Identifier: MIT */
/*
 * kmalloc_bench - loops for measuring the core's fast paths.
 *
 *   kmalloc_bench pairs N      N kmalloc(32) / kfree pairs
 *   kmalloc_bench mixed N      N operations of a mixed-size workload: a window
 *                              of 4096 live objects of 8 .. 16384 bytes, each
 *                              step frees a random one and allocates anew
 *   kmalloc_bench cache N      N kmem_cache_alloc / kmem_cache_free pairs
 *
 * Times printed are for a person watching; the figure that counts is the
 * instruction count, which scripts/count-instructions takes with callgrind:
 * the whole program's instructions divided by N.
 */
#include <kslub.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define barrier(p) __asm__ volatile("" : : "r"(p) : "memory")

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng = 0x9e3779b97f4a7c15ULL;
static inline uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "pairs";
	long n = argc > 2 ? atol(argv[2]) : 2000000;
	double t0 = now(), t1;

	if (n <= 0) {
		fprintf(stderr, "usage: kmalloc_bench pairs|mixed|cache N\n");
		return 2;
	}
	if (!strcmp(mode, "pairs")) {
		for (long i = 0; i < n; i++) {
			void *p = kmalloc(32, GFP_KERNEL);
			barrier(p);
			kfree(p);
		}
	} else if (!strcmp(mode, "cache")) {
		struct kmem_cache *s = kmem_cache_create("bench_cache", 32, 0, 0, NULL);

		for (long i = 0; i < n; i++) {
			void *p = kmem_cache_alloc(s, GFP_KERNEL);
			barrier(p);
			kmem_cache_free(s, p);
		}
		kmem_cache_destroy(s);
	} else if (!strcmp(mode, "mixed")) {
		enum { WINDOW = 4096 };
		static void *live[WINDOW];

		for (long i = 0; i < n; i++) {
			unsigned slot = (unsigned)(next_random() % WINDOW);
			uint64_t r = next_random();
			/* mostly small, sometimes up to 16 KiB */
			size_t size = (r & 7) ? 8 + (r >> 8) % 504 : 8 + (r >> 8) % 16376;

			kfree(live[slot]);
			live[slot] = kmalloc(size, GFP_KERNEL);
			if (!live[slot])
				return 1;
			*(volatile char *)live[slot] = 1;
		}
		for (int i = 0; i < WINDOW; i++)
			kfree(live[i]);
	} else {
		fprintf(stderr, "unknown mode %s\n", mode);
		return 2;
	}
	t1 = now();
	printf("%s: %ld operations in %.3f s, %.1f ns each\n", mode, n, t1 - t0, (t1 - t0) * 1e9 / (double)n);
	return 0;
}
