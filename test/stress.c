/* SPDX-License-Identifier: MIT */
/*
 * stress - several threads allocate, reallocate and free random sizes from
 * 1 byte to 6 MiB, free each other's blocks through shared slots, and check
 * every byte they wrote before they free or grow a block; one of them trims
 * (kslub_trim, malloc_trim) now and then while the others go on.
 *
 *   stress [native|libc] [threads] [operations per thread]
 *
 * native uses kmalloc/krealloc/kfree, libc uses malloc/realloc/free (which is
 * kslub's when the library is preloaded or linked with its malloc).  Exits 0
 * and prints "1 passed, 0 failed" when every check held.
 */
#include <kslub.h>

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 8192

struct block {
	unsigned char *p;
	size_t size;
	uint32_t seed;
};

static struct block slots[SLOTS];
static pthread_mutex_t slot_lock[64];
static int use_native = 1;
static long ops_per_thread = 60000;
static volatile int failed;

static void *xalloc(size_t n) { return use_native ? kmalloc(n, GFP_KERNEL) : malloc(n); }
static void *xrealloc(void *p, size_t n) { return use_native ? krealloc(p, n, GFP_KERNEL) : realloc(p, n); }
static void xfree(void *p) { if (use_native) kfree(p); else free(p); }

static inline uint64_t next_random(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static inline unsigned char byte_at(uint32_t seed, size_t i)
{
	return (unsigned char)(seed + i * 131 + (i >> 8));
}

static void fill(unsigned char *p, size_t from, size_t to, uint32_t seed)
{
	for (size_t i = from; i < to; i++)
		p[i] = byte_at(seed, i);
}

static int check(const struct block *b)
{
	for (size_t i = 0; i < b->size; i++) {
		if (b->p[i] != byte_at(b->seed, i)) {
			fprintf(stderr, "stress: block %p size %zu: byte %zu is %u, wrote %u\n", (void *)b->p,
				b->size, i, b->p[i], byte_at(b->seed, i));
			return 0;
		}
	}
	return 1;
}

static size_t random_size(uint64_t *r)
{
	uint64_t x = next_random(r);

	if ((x & 1023) == 0)
		return 1 + (x >> 10) % (6u << 20);	/* rarely up to 6 MiB: large and mapped */
	if ((x & 15) < 2)
		return 1 + (x >> 10) % 65536;
	return 1 + (x >> 10) % 512;
}

static void *worker(void *arg)
{
	uint64_t r = 0x9e3779b97f4a7c15ULL * ((uintptr_t)arg + 1);

	for (long op = 0; op < ops_per_thread && !failed; op++) {
		unsigned idx = (unsigned)(next_random(&r) % SLOTS);
		pthread_mutex_t *lock = &slot_lock[idx % 64];
		struct block *b = &slots[idx];
		uint64_t what = next_random(&r) % 4;

		/* now and then one thread gives back what it can, while the
		 * others go on: the shrink of the slabs they free into and
		 * allocate from */
		if ((uintptr_t)arg == 0 && op % 4096 == 4095) {
			if (use_native)
				kslub_trim();
			else
				malloc_trim(0);
		}
		pthread_mutex_lock(lock);
		if (b->p && !check(b)) {
			failed = 1;
		} else if (b->p && what == 0) {
			/* grow or shrink in place or by moving; contents must follow */
			size_t n = random_size(&r);
			unsigned char *q = xrealloc(b->p, n);

			if (!q) {
				failed = 1;
			} else {
				b->p = q;
				if (n > b->size)
					fill(q, b->size, n, b->seed);
				b->size = n;
			}
		} else {
			/* free whatever is there (often another thread's) and refill */
			xfree(b->p);
			b->size = random_size(&r);
			b->seed = (uint32_t)next_random(&r);
			b->p = xalloc(b->size);
			if (!b->p)
				failed = 1;
			else
				fill(b->p, 0, b->size, b->seed);
		}
		pthread_mutex_unlock(lock);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int nthreads = 4;
	pthread_t th[64];

	if (argc > 1)
		use_native = strcmp(argv[1], "libc") != 0;
	if (argc > 2)
		nthreads = atoi(argv[2]);
	if (argc > 3)
		ops_per_thread = atol(argv[3]);
	if (nthreads < 1 || nthreads > 64 || ops_per_thread < 1) {
		fprintf(stderr, "usage: stress [native|libc] [threads 1..64] [operations]\n");
		return 2;
	}
	for (int i = 0; i < 64; i++)
		pthread_mutex_init(&slot_lock[i], NULL);
	for (int i = 0; i < nthreads; i++)
		pthread_create(&th[i], NULL, worker, (void *)(uintptr_t)i);
	for (int i = 0; i < nthreads; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < SLOTS && !failed; i++) {
		if (slots[i].p && !check(&slots[i]))
			failed = 1;
		xfree(slots[i].p);
	}
	if (!failed && use_native) {
		/* every block is freed: the kmalloc caches hold no live object */
		kslub_flush_thread();
		for (size_t size = 8; size <= KMALLOC_MAX_CACHE_SIZE; size *= 2) {
			struct kslub_cache_info info;
			struct kmem_cache *s = kslub_kmalloc_cache(size);

			kslub_cache_info(s, &info);
			if (info.active_objs || kslub_validate_slab_cache(s)) {
				fprintf(stderr, "stress: %s has %lu live objects after everything was freed\n",
					kslub_kmem_cache_name(s), info.active_objs);
				failed = 1;
			}
		}
	}
	printf("stress %s: %d threads x %ld operations\n", use_native ? "native" : "libc", nthreads, ops_per_thread);
	printf("%d passed, %d failed\n", failed ? 0 : 1, failed ? 1 : 0);
	return failed;
}
