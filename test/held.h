/* SPDX-License-Identifier: MIT */
/*
 * held.h - run a function in a thread that stops at a point of its own
 * (held_pause) until the test has looked at kslub's state, then goes on to
 * its end: what a thread holds while it lives, and what it leaves.
 */
#ifndef KSLUB_TEST_HELD_H
#define KSLUB_TEST_HELD_H

#include <criterion/criterion.h>
#include <pthread.h>

struct held_thread {
	pthread_t thread;
	pthread_barrier_t paused, resumed;
};

/* In the thread: it has done what the test looks at; wait until it has. */
static inline void held_pause(struct held_thread *h)
{
	pthread_barrier_wait(&h->paused);
	pthread_barrier_wait(&h->resumed);
}

/* Start fn(arg) in a thread, and return once it is at held_pause(h). */
static inline void held_start(struct held_thread *h, void *(*fn)(void *), void *arg)
{
	pthread_barrier_init(&h->paused, NULL, 2);
	pthread_barrier_init(&h->resumed, NULL, 2);
	cr_assert_eq(pthread_create(&h->thread, NULL, fn, arg), 0);
	pthread_barrier_wait(&h->paused);
}

/* Let it go on, and wait for its end. */
static inline void held_finish(struct held_thread *h)
{
	pthread_barrier_wait(&h->resumed);
	pthread_join(h->thread, NULL);
	pthread_barrier_destroy(&h->paused);
	pthread_barrier_destroy(&h->resumed);
}

#endif
