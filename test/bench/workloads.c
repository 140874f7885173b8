/* SPDX-License-Identifier: MIT */
/*
 * workloads - the allocation workloads of scripts/kslub-bench, one
 * subcommand each.  Linked with libc only: the allocator under test comes in
 * through LD_PRELOAD (glibc's own when nothing is preloaded).
 *
 *   workloads NAME [SCALE]
 *
 * SCALE (default 1.0) multiplies the amount of work; kslub-bench --quick
 * passes 0.1.  Every workload checks the contents of the objects it frees,
 * exits non-zero on any error, and prints machine-readable lines
 * "key=value", ending with "verify=ok":
 *
 *   churn      one thread, a window of live objects over the size classes
 *              (8 B .. 8 KiB), each step frees a random one and allocates
 *   larson     4 threads swap their new objects into a shared table of slots
 *              and free what they take out: objects die in other threads
 *   prodcons   2 producer -> consumer pairs; every free is remote
 *   scratch    cache-scratch: a thread frees a small object the main thread
 *              allocated, then allocates, writes and frees its own in a loop
 *   thrash     cache-thrash: threads allocate, write and free small objects
 *   realloc    strings grown a few bytes at a time and vectors grown by 1.5x
 *   large      blocks of 16 KiB .. 64 MiB, every page touched
 *   frag       1 GiB of mixed small objects, 90% freed in random order, then
 *              objects of other sizes; prints rss_after_free_kb
 *   memreturn  a peak of mixed sizes from two threads, nearly all freed,
 *              ~50 ms asleep, then the RSS: rss_after_free_kb
 *   threads    thread create / exit churn, each thread allocating
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KIB 1024UL
#define MIB (1024UL * KIB)
#define GIB (1024UL * MIB)

static double scale = 1.0;

static long scaled(double n)
{
	long v = (long)(n * scale);

	return v > 0 ? v : 1;
}

static void __attribute__((noreturn, format(printf, 1, 2)))
die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("workloads: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static void *xmalloc(size_t n)
{
	void *p = malloc(n);

	if (!p)
		die("malloc(%zu) failed", n);
	return p;
}

/* xorshift64*: a small, fast generator; each thread keeps its own state */
static uint64_t rnd(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	*s = x;
	return x * 0x2545f4914f6cdd1dULL;
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* a size between lo and hi (inclusive), spread evenly over log2 */
static size_t size_log(uint64_t *s, size_t lo, size_t hi)
{
	int llo = 63 - __builtin_clzl(lo), lhi = 63 - __builtin_clzl(hi);
	int b = llo + (int)(rnd(s) % (uint64_t)(lhi - llo + 1));
	size_t base = 1UL << b;
	size_t n = base + rnd(s) % base;

	return n < lo ? lo : n > hi ? hi : n;
}

/*
 * Object contents: the whole object is set to the tag's low byte, and the
 * tag itself is in the first 8 bytes; a check reads both ends.
 */
static void obj_fill(void *p, size_t n, uint64_t tag)
{
	memset(p, (int)(tag & 0xff), n);
	if (n >= 8)
		memcpy(p, &tag, 8);
}

static void obj_check(const void *p, size_t n, uint64_t tag, const char *what)
{
	const unsigned char *c = p;
	uint64_t t;

	if (n >= 8) {
		memcpy(&t, c, 8);
		if (t != tag)
			die("%s: object %p of %zu bytes: tag %#llx, expected %#llx",
			    what, p, n, (unsigned long long)t,
			    (unsigned long long)tag);
	} else if (c[0] != (unsigned char)tag) {
		die("%s: object %p of %zu bytes: first byte changed", what, p, n);
	}
	if (n > 8 && c[n - 1] != (unsigned char)tag)
		die("%s: object %p of %zu bytes: last byte changed", what, p, n);
}

/* Large blocks: only one word per page is written and checked. */
static void big_fill(unsigned char *p, size_t n, uint64_t tag)
{
	for (size_t off = 0; off + 8 <= n; off += 4096)
		memcpy(p + off, &tag, 8);
	p[n - 1] = (unsigned char)tag;
}

static void big_check(const unsigned char *p, size_t n, uint64_t tag)
{
	for (size_t off = 0; off + 8 <= n; off += 4096) {
		uint64_t t;

		memcpy(&t, p + off, 8);
		if (t != tag)
			die("large: block %p of %zu bytes changed at %zu",
			    (const void *)p, n, off);
	}
	if (p[n - 1] != (unsigned char)tag)
		die("large: block %p of %zu bytes: last byte changed",
		    (const void *)p, n);
}

/* VmRSS / VmHWM from /proc/self/status, in KiB; read without stdio */
static long proc_status_kb(const char *key)
{
	char buf[4096];
	ssize_t n;
	char *p;
	int fd = open("/proc/self/status", O_RDONLY);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	p = strstr(buf, key);
	if (!p)
		return -1;
	return strtol(p + strlen(key), NULL, 10);
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) && errno == EINTR)
		;
}

static void start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	int err = pthread_create(t, NULL, fn, arg);

	if (err)
		die("pthread_create: %s", strerror(err));
}

/* ------------------------------------------------------------------ */
/* churn: one thread over the size classes                             */

static void run_churn(void)
{
	enum { WINDOW = 4096 };
	static void *slot[WINDOW];
	static size_t len[WINDOW];
	static uint64_t tag[WINDOW];
	long steps = scaled(6e6);
	uint64_t s = 42, sum = 0;

	for (long i = 0; i < steps; i++) {
		unsigned int k = (unsigned int)(rnd(&s) % WINDOW);
		uint64_t r = rnd(&s);
		size_t n;

		if (slot[k]) {
			obj_check(slot[k], len[k], tag[k], "churn");
			sum += len[k];
			free(slot[k]);
		}
		/* half tiny objects (8 .. 256 B), half spread up to 8 KiB */
		n = (r & 1) ? 8 + (r >> 8) % 249 : size_log(&s, 8, 8192);
		slot[k] = xmalloc(n);
		len[k] = n;
		tag[k] = r;
		obj_fill(slot[k], n, r);
	}
	for (int k = 0; k < WINDOW; k++) {
		if (!slot[k])
			continue;
		obj_check(slot[k], len[k], tag[k], "churn");
		free(slot[k]);
	}
	printf("steps=%ld bytes_freed=%llu\n", steps, (unsigned long long)sum);
}

/* ------------------------------------------------------------------ */
/* larson: objects move to other threads through a shared table        */

struct lobj {
	uint64_t tag;
	size_t len;
};

#define LARSON_THREADS 4
#define LARSON_SLOTS 8192

static _Atomic(struct lobj *) larson_table[LARSON_SLOTS];

static struct lobj *lobj_new(uint64_t *s)
{
	uint64_t r = rnd(s);
	size_t n = (r & 3) ? 16 + (r >> 8) % 113 : size_log(s, 16, 2048);
	struct lobj *o = xmalloc(n);

	o->tag = r;
	o->len = n;
	memset(o + 1, (int)(r & 0xff), n - sizeof(*o));
	return o;
}

static void lobj_free(struct lobj *o, const char *what)
{
	const unsigned char *c = (const unsigned char *)(o + 1);
	size_t body = o->len - sizeof(*o);

	if (o->len < sizeof(*o) || o->len > 4096)
		die("%s: object %p has a bad length %zu", what, (void *)o, o->len);
	if (body && (c[0] != (unsigned char)o->tag ||
		     c[body - 1] != (unsigned char)o->tag))
		die("%s: object %p of %zu bytes changed", what, (void *)o, o->len);
	free(o);
}

static void *larson_thread(void *arg)
{
	uint64_t s = mix((uintptr_t)arg + 1);
	long iters = scaled(1.5e6);

	for (long i = 0; i < iters; i++) {
		struct lobj *o = lobj_new(&s);
		unsigned int k = (unsigned int)(rnd(&s) % LARSON_SLOTS);

		o = atomic_exchange_explicit(&larson_table[k], o,
					     memory_order_acq_rel);
		if (o)
			lobj_free(o, "larson");
	}
	return NULL;
}

static void run_larson(void)
{
	pthread_t t[LARSON_THREADS];
	long left = 0;

	for (long i = 0; i < LARSON_THREADS; i++)
		start_thread(&t[i], larson_thread, (void *)i);
	for (int i = 0; i < LARSON_THREADS; i++)
		pthread_join(t[i], NULL);
	for (int k = 0; k < LARSON_SLOTS; k++) {
		struct lobj *o = atomic_load(&larson_table[k]);

		if (o) {
			lobj_free(o, "larson");
			left++;
		}
	}
	printf("threads=%d ops=%ld left=%ld\n", LARSON_THREADS,
	       LARSON_THREADS * scaled(1.5e6), left);
}

/* ------------------------------------------------------------------ */
/* prodcons: batches of objects handed from producers to consumers     */

#define PC_PAIRS 2
#define PC_RING 64
#define PC_BATCH 64

struct pc_ring {
	_Atomic unsigned long head __attribute__((aligned(64)));
	_Atomic unsigned long tail __attribute__((aligned(64)));
	void **slot[PC_RING] __attribute__((aligned(64)));
	long pair;
	long batches;
};

static struct pc_ring pc_rings[PC_PAIRS];

static uint64_t pc_tag(long pair, long seq)
{
	return mix(((uint64_t)pair << 48) ^ (uint64_t)seq);
}

static size_t pc_size(uint64_t tag)
{
	return 16 + (tag >> 20) % 497;	/* 16 .. 512 */
}

static void *producer(void *arg)
{
	struct pc_ring *r = arg;
	long seq = 0;

	for (long b = 0; b < r->batches; b++) {
		void **batch = xmalloc(PC_BATCH * sizeof(void *));
		unsigned long head;

		for (int i = 0; i < PC_BATCH; i++, seq++) {
			uint64_t tag = pc_tag(r->pair, seq);
			size_t n = pc_size(tag);

			batch[i] = xmalloc(n);
			obj_fill(batch[i], n, tag);
		}
		head = atomic_load_explicit(&r->head, memory_order_relaxed);
		while (head - atomic_load_explicit(&r->tail, memory_order_acquire) >= PC_RING)
			sched_yield();
		r->slot[head % PC_RING] = batch;
		atomic_store_explicit(&r->head, head + 1, memory_order_release);
	}
	return NULL;
}

static void *consumer(void *arg)
{
	struct pc_ring *r = arg;
	long seq = 0;

	for (long b = 0; b < r->batches; b++) {
		unsigned long tail = atomic_load_explicit(&r->tail, memory_order_relaxed);
		void **batch;

		while (atomic_load_explicit(&r->head, memory_order_acquire) == tail)
			sched_yield();
		batch = r->slot[tail % PC_RING];
		atomic_store_explicit(&r->tail, tail + 1, memory_order_release);
		for (int i = 0; i < PC_BATCH; i++, seq++) {
			uint64_t tag = pc_tag(r->pair, seq);

			obj_check(batch[i], pc_size(tag), tag, "prodcons");
			free(batch[i]);
		}
		free(batch);
	}
	return NULL;
}

static void run_prodcons(void)
{
	pthread_t t[2 * PC_PAIRS];
	long batches = scaled(4e6 / PC_BATCH);

	for (long i = 0; i < PC_PAIRS; i++) {
		pc_rings[i].pair = i;
		pc_rings[i].batches = batches;
		start_thread(&t[2 * i], producer, &pc_rings[i]);
		start_thread(&t[2 * i + 1], consumer, &pc_rings[i]);
	}
	for (int i = 0; i < 2 * PC_PAIRS; i++)
		pthread_join(t[i], NULL);
	printf("pairs=%d objects=%ld\n", PC_PAIRS, PC_PAIRS * batches * PC_BATCH);
}

/* ------------------------------------------------------------------ */
/* scratch / thrash: false sharing between threads' small objects      */

#define FS_THREADS 2
#define FS_SIZE 8
#define FS_WRITES 1000

struct fs_arg {
	volatile uint64_t *given;	/* scratch: the main thread's object */
	long rounds;
	uint64_t total;
};

static void *fs_thread(void *arg)
{
	struct fs_arg *a = arg;
	uint64_t total = 0;

	if (a->given) {
		if (a->given[0] != 0x5a5a5a5a5a5a5a5aULL)
			die("scratch: the handed object changed");
		free((void *)a->given);
	}
	for (long r = 0; r < a->rounds; r++) {
		volatile uint64_t *p = xmalloc(FS_SIZE);

		p[0] = (uint64_t)r;
		for (int w = 0; w < FS_WRITES; w++)
			p[0] = p[0] + 1;
		if (p[0] != (uint64_t)r + FS_WRITES)
			die("false sharing: object %p lost a write", (void *)p);
		total += p[0] - (uint64_t)r;
		free((void *)p);
	}
	a->total = total;
	return NULL;
}

static void run_false_sharing(int scratch)
{
	pthread_t t[FS_THREADS];
	struct fs_arg a[FS_THREADS];
	long rounds = scaled(250000);

	for (int i = 0; i < FS_THREADS; i++) {
		a[i].given = NULL;
		if (scratch) {
			uint64_t *p = xmalloc(FS_SIZE);

			p[0] = 0x5a5a5a5a5a5a5a5aULL;
			a[i].given = p;
		}
		a[i].rounds = rounds;
		a[i].total = 0;
	}
	for (int i = 0; i < FS_THREADS; i++)
		start_thread(&t[i], fs_thread, &a[i]);
	for (int i = 0; i < FS_THREADS; i++) {
		pthread_join(t[i], NULL);
		if (a[i].total != (uint64_t)rounds * FS_WRITES)
			die("false sharing: thread %d counted %llu writes", i,
			    (unsigned long long)a[i].total);
	}
	printf("threads=%d rounds=%ld writes=%d\n", FS_THREADS, rounds, FS_WRITES);
}

/* ------------------------------------------------------------------ */
/* realloc: strings and vectors that grow                              */

static char str_char(uint64_t id, size_t i)
{
	return (char)('a' + (id * 31 + i * 7) % 26);
}

static void run_realloc(void)
{
	enum { STRINGS = 256, VECTORS = 16 };
	static char *str[STRINGS];
	static size_t slen[STRINGS], target[STRINGS];
	static uint64_t sid[STRINGS];
	uint64_t s = 7, next_id = 1;
	long appends = scaled(2e6), vrounds = scaled(20);
	unsigned long long done = 0, vsum = 0;

	for (long i = 0; i < appends; i++) {
		unsigned int k = (unsigned int)(rnd(&s) % STRINGS);
		size_t add = 1 + rnd(&s) % 48;

		if (!str[k]) {
			sid[k] = next_id++;
			target[k] = size_log(&s, 64, 65536);
		}
		str[k] = realloc(str[k], slen[k] + add + 1);
		if (!str[k])
			die("realloc failed");
		for (size_t j = 0; j < add; j++)
			str[k][slen[k] + j] = str_char(sid[k], slen[k] + j);
		slen[k] += add;
		str[k][slen[k]] = '\0';
		if (slen[k] >= target[k]) {
			for (size_t j = 0; j < slen[k]; j += 61)
				if (str[k][j] != str_char(sid[k], j))
					die("realloc: string %llu changed at %zu",
					    (unsigned long long)sid[k], j);
			if (strlen(str[k]) != slen[k])
				die("realloc: string length changed");
			free(str[k]);
			str[k] = NULL;
			slen[k] = 0;
			done++;
		}
	}
	for (int k = 0; k < STRINGS; k++)
		free(str[k]);

	/* vectors of 8-byte elements, capacity grown by half each time */
	for (long r = 0; r < vrounds; r++) {
		uint64_t *v[VECTORS] = { 0 };
		size_t cap[VECTORS] = { 0 }, n[VECTORS] = { 0 };
		size_t want = 1 + rnd(&s) % 200000;

		for (size_t i = 0; i < want; i++) {
			for (int k = 0; k < VECTORS; k++) {
				if (n[k] == cap[k]) {
					cap[k] = cap[k] ? cap[k] + cap[k] / 2 : 4;
					v[k] = realloc(v[k], cap[k] * sizeof(uint64_t));
					if (!v[k])
						die("realloc failed");
				}
				v[k][n[k]++] = i * (uint64_t)(k + 1);
			}
		}
		for (int k = 0; k < VECTORS; k++) {
			uint64_t sum = 0;

			for (size_t i = 0; i < n[k]; i++)
				sum += v[k][i];
			if (sum != (uint64_t)(k + 1) * (want * (want - 1) / 2))
				die("realloc: vector %d sum is wrong", k);
			vsum += sum;
			free(v[k]);
		}
	}
	printf("strings=%llu vector_sum=%llu\n", done, vsum);
}

/* ------------------------------------------------------------------ */
/* large: 16 KiB .. 64 MiB                                             */

static void run_large(void)
{
	enum { LIVE = 8 };
	unsigned char *blk[LIVE] = { 0 };
	size_t len[LIVE] = { 0 };
	uint64_t tag[LIVE] = { 0 };
	uint64_t s = 99;
	long steps = scaled(200);
	unsigned long long bytes = 0;

	for (long i = 0; i < steps; i++) {
		unsigned int k = (unsigned int)(rnd(&s) % LIVE);

		if (blk[k]) {
			big_check(blk[k], len[k], tag[k]);
			free(blk[k]);
		}
		len[k] = size_log(&s, 16 * KIB, 64 * MIB);
		tag[k] = rnd(&s);
		blk[k] = xmalloc(len[k]);
		big_fill(blk[k], len[k], tag[k]);
		bytes += len[k];
	}
	for (int k = 0; k < LIVE; k++) {
		if (blk[k]) {
			big_check(blk[k], len[k], tag[k]);
			free(blk[k]);
		}
	}
	printf("steps=%ld bytes=%llu\n", steps, bytes);
}

/* ------------------------------------------------------------------ */
/* frag: 1 GiB of small objects, 90% freed at random, other sizes after */

static size_t frag_size(uint64_t tag)
{
	/* small, spread over log2: 16 .. 1024 B */
	uint64_t s = tag | 1;

	return size_log(&s, 16, 1024);
}

static void run_frag(void)
{
	size_t total = (size_t)scaled((double)GIB), used = 0, cnt = 0, cap;
	void **obj;
	uint32_t *order;
	uint64_t s = 3;
	size_t kept = 0, second = 0, second_bytes = 0;
	void **obj2;

	/* one pointer per ~100 bytes is enough room */
	cap = total / 16 + 16;
	obj = xmalloc(cap * sizeof(void *));
	while (used < total && cnt < cap) {
		uint64_t tag = mix(cnt);
		size_t n = frag_size(tag);

		obj[cnt] = xmalloc(n);
		obj_fill(obj[cnt], n, tag);
		used += n;
		cnt++;
	}
	printf("rss_peak_small_kb=%ld objects=%zu\n", proc_status_kb("VmRSS:"), cnt);

	/* free 90% in random order: shuffle the indices, free the first 90% */
	order = xmalloc(cnt * sizeof(uint32_t));
	for (size_t i = 0; i < cnt; i++)
		order[i] = (uint32_t)i;
	for (size_t i = cnt - 1; i > 0; i--) {
		size_t j = rnd(&s) % (i + 1);
		uint32_t t = order[i];

		order[i] = order[j];
		order[j] = t;
	}
	for (size_t i = 0; i < cnt / 10 * 9; i++) {
		size_t k = order[i];
		uint64_t tag = mix(k);

		obj_check(obj[k], frag_size(tag), tag, "frag");
		free(obj[k]);
		obj[k] = NULL;
	}
	free(order);
	sleep_ms(50);
	printf("rss_after_free_kb=%ld\n", proc_status_kb("VmRSS:"));

	/* then a third of the first volume in objects of other sizes */
	obj2 = xmalloc(cap * sizeof(void *));
	while (second_bytes < total / 3 && second < cap) {
		uint64_t tag = mix(second + (1ULL << 40));
		size_t n = 600 + (tag >> 8) % 2400;

		obj2[second] = xmalloc(n);
		obj_fill(obj2[second], n, tag);
		second_bytes += n;
		second++;
	}
	printf("rss_after_realloc_kb=%ld\n", proc_status_kb("VmRSS:"));

	for (size_t k = 0; k < cnt; k++) {
		if (!obj[k])
			continue;
		obj_check(obj[k], frag_size(mix(k)), mix(k), "frag");
		free(obj[k]);
		kept++;
	}
	for (size_t k = 0; k < second; k++) {
		uint64_t tag = mix(k + (1ULL << 40));

		obj_check(obj2[k], 600 + (tag >> 8) % 2400, tag, "frag");
		free(obj2[k]);
	}
	free(obj);
	free(obj2);
	printf("kept=%zu second=%zu\n", kept, second);
}

/* ------------------------------------------------------------------ */
/* memreturn: a peak from two threads, nearly all freed, then the RSS  */

struct mr_set {
	void **p;
	size_t *len;
	size_t n;
	uint64_t seed;
	size_t bytes;
};

static size_t mr_size(uint64_t *s)
{
	uint64_t r = rnd(s) % 100;

	if (r < 70)
		return 16 + rnd(s) % 1009;		/* small */
	if (r < 97)
		return size_log(s, 2048, 32 * KIB);	/* medium */
	return size_log(s, 64 * KIB, MIB);		/* large */
}

static void *mr_fill(void *arg)
{
	struct mr_set *m = arg;
	uint64_t s = m->seed;
	size_t cap = 1024, used = 0;

	m->p = xmalloc(cap * sizeof(void *));
	m->len = xmalloc(cap * sizeof(size_t));
	m->n = 0;
	while (used < m->bytes) {
		size_t n = mr_size(&s);

		if (m->n == cap) {
			cap *= 2;
			m->p = realloc(m->p, cap * sizeof(void *));
			m->len = realloc(m->len, cap * sizeof(size_t));
			if (!m->p || !m->len)
				die("realloc failed");
		}
		m->p[m->n] = xmalloc(n);
		m->len[m->n] = n;
		obj_fill(m->p[m->n], n, mix(m->seed ^ m->n));
		used += n;
		m->n++;
	}
	return NULL;
}

static void run_memreturn(void)
{
	struct mr_set set[2] = {
		{ .seed = 11, .bytes = (size_t)scaled(320.0 * MIB) },
		{ .seed = 12, .bytes = (size_t)scaled(192.0 * MIB) },
	};
	pthread_t t;
	size_t kept = 0;
	long peak;

	/* the second set comes from a thread that has exited by the frees */
	start_thread(&t, mr_fill, &set[1]);
	mr_fill(&set[0]);
	pthread_join(t, NULL);
	peak = proc_status_kb("VmRSS:");

	for (int i = 0; i < 2; i++) {
		struct mr_set *m = &set[i];

		for (size_t k = 0; k < m->n; k++) {
			obj_check(m->p[k], m->len[k], mix(m->seed ^ k), "memreturn");
			if (k % 100 == 0) {	/* 1% stays live */
				m->p[kept] = m->p[k];
				m->len[kept] = m->len[k];
				kept++;
				continue;
			}
			free(m->p[k]);
		}
		m->n = kept;
		kept = 0;
	}
	/* nothing allocator-specific: just what a program's idle time is */
	sleep_ms(50);
	printf("rss_peak_kb=%ld\n", peak);
	printf("rss_after_free_kb=%ld\n", proc_status_kb("VmRSS:"));
	for (int i = 0; i < 2; i++) {
		free(set[i].p);
		free(set[i].len);
	}
}

/* ------------------------------------------------------------------ */
/* threads: create / exit churn                                        */

#define TC_THREADS 4
#define TC_OBJS 64

struct tc_arg {
	uint64_t seed;
	void *keep[TC_OBJS / 2];
	size_t len[TC_OBJS / 2];
};

static void *tc_thread(void *arg)
{
	struct tc_arg *a = arg;
	uint64_t s = a->seed;
	void *mine[TC_OBJS / 2];
	size_t mlen[TC_OBJS / 2];

	for (int i = 0; i < TC_OBJS / 2; i++) {
		mlen[i] = size_log(&s, 16, 4096);
		mine[i] = xmalloc(mlen[i]);
		obj_fill(mine[i], mlen[i], a->seed + (uint64_t)i);
		a->len[i] = size_log(&s, 16, 4096);
		a->keep[i] = xmalloc(a->len[i]);
		obj_fill(a->keep[i], a->len[i], ~a->seed + (uint64_t)i);
	}
	for (int i = 0; i < TC_OBJS / 2; i++) {
		obj_check(mine[i], mlen[i], a->seed + (uint64_t)i, "threads");
		free(mine[i]);
	}
	return NULL;
}

static void run_threads(void)
{
	long rounds = scaled(1500);
	struct tc_arg a[TC_THREADS];
	pthread_t t[TC_THREADS];

	for (long r = 0; r < rounds; r++) {
		for (int i = 0; i < TC_THREADS; i++) {
			a[i].seed = mix((uint64_t)(r * TC_THREADS + i));
			start_thread(&t[i], tc_thread, &a[i]);
		}
		for (int i = 0; i < TC_THREADS; i++) {
			pthread_join(t[i], NULL);
			for (int k = 0; k < TC_OBJS / 2; k++) {
				obj_check(a[i].keep[k], a[i].len[k],
					  ~a[i].seed + (uint64_t)k, "threads");
				free(a[i].keep[k]);
			}
		}
	}
	printf("threads_created=%ld\n", rounds * TC_THREADS);
}

/* ------------------------------------------------------------------ */

static const struct {
	const char *name;
	void (*fn)(void);
} workloads[] = {
	{ "churn", run_churn },
	{ "larson", run_larson },
	{ "prodcons", run_prodcons },
	{ "scratch", NULL },
	{ "thrash", NULL },
	{ "realloc", run_realloc },
	{ "large", run_large },
	{ "frag", run_frag },
	{ "memreturn", run_memreturn },
	{ "threads", run_threads },
};

int main(int argc, char **argv)
{
	const char *name = argc > 1 ? argv[1] : "";
	struct timespec a, b;
	size_t i;

	if (argc > 2)
		scale = atof(argv[2]);
	if (argc < 2 || scale <= 0) {
		fprintf(stderr, "usage: workloads NAME [SCALE]\nworkloads:");
		for (i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
			fprintf(stderr, " %s", workloads[i].name);
		fputc('\n', stderr);
		return 2;
	}
	for (i = 0; i < sizeof(workloads) / sizeof(workloads[0]); i++)
		if (!strcmp(name, workloads[i].name))
			break;
	if (i == sizeof(workloads) / sizeof(workloads[0]))
		die("no workload named '%s'", name);

	clock_gettime(CLOCK_MONOTONIC, &a);
	if (!strcmp(name, "scratch"))
		run_false_sharing(1);
	else if (!strcmp(name, "thrash"))
		run_false_sharing(0);
	else
		workloads[i].fn();
	clock_gettime(CLOCK_MONOTONIC, &b);
	printf("inner_s=%.3f\n", (double)(b.tv_sec - a.tv_sec) +
	       (double)(b.tv_nsec - a.tv_nsec) * 1e-9);
	printf("verify=ok\n");
	return 0;
}
