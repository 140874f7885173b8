/* SPDX-License-Identifier: MIT */
/*
 * xcpu - how long a cache line takes to go from one CPU to another and
 * back: two threads, pinned to the first two CPUs the process may use,
 * hand a counter in one line back and forth.  Prints the median round trip
 * of several trials, in ns, as
 *
 *   xcpu_roundtrip_ns=N cpus=A,B
 *
 * or "xcpu_roundtrip_ns=none" with fewer than two CPUs or when a thread
 * cannot be pinned (then it measures nothing: two threads on one CPU would
 * measure the scheduler).  scripts/kslub-bench runs it before each
 * workload: on a VM whose vCPUs the host sometimes places far apart, every
 * workload that hands memory between threads slows down with it
 * (test/bench/README.md).  Linked with libc alone; it allocates nothing.
 *
 *   xcpu [TRIPS]          round trips a trial (20000)
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define TRIALS 5

static _Atomic long ball __attribute__((aligned(64)));
static long trips;
static int cpu_b;
static _Atomic int pinned_b;	/* 1 pinned, -1 could not be */

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#elif defined(__aarch64__)
	__asm__ __volatile__("yield");
#endif
}

static int pin(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* The odd numbers are the other thread's to write. */
static void *other(void *arg)
{
	(void)arg;
	if (pin(cpu_b)) {
		atomic_store(&pinned_b, -1);
		return NULL;
	}
	atomic_store(&pinned_b, 1);
	for (long t = 0; t < TRIALS; t++) {
		for (long i = 1; i < 2 * trips; i += 2) {
			long base = t * 2 * trips;

			while (atomic_load_explicit(&ball, memory_order_acquire) != base + i)
				cpu_relax();
			atomic_store_explicit(&ball, base + i + 1, memory_order_release);
		}
	}
	return NULL;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
	cpu_set_t allowed;
	int cpu_a = -1;
	double ns[TRIALS];
	pthread_t t;

	trips = argc > 1 ? strtol(argv[1], NULL, 10) : 20000;
	if (trips < 1) {
		fprintf(stderr, "usage: xcpu [TRIPS >= 1]\n");
		return 2;
	}
	cpu_b = -1;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) == 0) {
		for (int c = 0; c < CPU_SETSIZE && cpu_b < 0; c++) {
			if (!CPU_ISSET(c, &allowed))
				continue;
			if (cpu_a < 0)
				cpu_a = c;
			else
				cpu_b = c;
		}
	}
	if (cpu_b < 0 || pin(cpu_a)) {
		printf("xcpu_roundtrip_ns=none\n");
		return 0;
	}
	if (pthread_create(&t, NULL, other, NULL)) {
		printf("xcpu_roundtrip_ns=none\n");
		return 0;
	}
	while (!atomic_load(&pinned_b))
		sched_yield();
	if (atomic_load(&pinned_b) < 0) {
		pthread_join(t, NULL);
		printf("xcpu_roundtrip_ns=none\n");
		return 0;
	}
	for (long tr = 0; tr < TRIALS; tr++) {
		long base = tr * 2 * trips;
		double start = now_ns();

		for (long i = 0; i < 2 * trips; i += 2) {
			while (atomic_load_explicit(&ball, memory_order_acquire) != base + i)
				cpu_relax();
			atomic_store_explicit(&ball, base + i + 1, memory_order_release);
		}
		/* the last return: the other thread's final write */
		while (atomic_load_explicit(&ball, memory_order_acquire) != base + 2 * trips)
			cpu_relax();
		ns[tr] = (now_ns() - start) / (double)trips;
	}
	pthread_join(t, NULL);
	qsort(ns, TRIALS, sizeof(ns[0]), cmp_double);
	printf("xcpu_roundtrip_ns=%.0f cpus=%d,%d\n", ns[TRIALS / 2], cpu_a, cpu_b);
	return 0;
}
