/* SPDX-License-Identifier: MIT */
/*
 * test_options.c - the tunables, read from the environment at the first
 * kslub call: a bad value is one warning line naming the variable and the
 * default, and the default is used; a good value takes effect (seen through
 * kslub_cache_info); KSLUB_VERBOSE=1 lists the options; nothing is printed
 * otherwise.
 *
 * Each case runs in a forked child that starts kslub with its own
 * environment and prints the figures it sees on stdout; the parent reads
 * them and the child's stderr through pipes.  The defaults compared with are
 * the kernel's: slub_min_order 0, slub_max_order PAGE_ALLOC_COSTLY_ORDER (3),
 * slub_min_objects 0 (computed from the CPU count).
 */
#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <ctype.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kslub.h"
#include "child.h"

extern char **environ;

/* What a child saw of the caches. */
struct figures {
	unsigned int order64, order8k, order256;
	unsigned int objs256, min_partial64, cpu_partial64;
};

struct child {
	int status;
	char out[4096];
	char err[16384];
	struct figures fig;
};

/* ---- the child ---------------------------------------------------------------- */

static void clear_kslub_environment(void)
{
	bool again = true;

	while (again) {
		again = false;
		for (char **e = environ; *e; e++) {
			if (strncmp(*e, "KSLUB_", 6) == 0) {
				char name[128];
				size_t len = strcspn(*e, "=");

				if (len >= sizeof(name))
					continue;
				memcpy(name, *e, len);
				name[len] = '\0';
				unsetenv(name);
				again = true;
				break;
			}
		}
	}
}

static void print_figures(void)
{
	struct kslub_cache_info k64, k8k, k256;

	/* the first kslub call: the options are read here */
	if (kslub_cache_info(kslub_kmalloc_cache(64), &k64) || kslub_cache_info(kslub_kmalloc_cache(8192), &k8k) ||
	    kslub_cache_info(kslub_kmalloc_cache(256), &k256))
		_exit(3);
	if (kslub_validate_slab_cache(kslub_kmalloc_cache(64)) || kslub_validate_slab_cache(kslub_kmalloc_cache(8192)) ||
	    kslub_validate_slab_cache(kslub_kmalloc_cache(256)))
		_exit(5);
	printf("%u %u %u %u %u %u\n", k64.order, k8k.order, k256.order, k256.objs_per_slab, k64.min_partial,
	       k64.cpu_partial);
}

/* Run print_figures (then more, if given) in a child whose environment has
 * no KSLUB_ variable but those in env ("NAME=value", NULL-terminated). */
struct child_args {
	const char *const *env;
	void (*more)(void);
};

static void figures_child(void *arg)
{
	struct child_args *a = arg;

	clear_kslub_environment();
	for (const char *const *env = a->env; env && *env; env++)
		putenv((char *)*env);
	print_figures();
	if (a->more)
		a->more();
}

static void run_child(const char *const *env, void (*more)(void), struct child *c)
{
	struct child_args a = { env, more };

	memset(c, 0, sizeof(*c));
	child_run(figures_child, &a, &c->status, c->out, sizeof(c->out), c->err, sizeof(c->err));
	cr_assert(WIFEXITED(c->status) && WEXITSTATUS(c->status) == 0, "the child failed (status %#x); stderr:\n%s",
		  c->status, c->err);
	cr_assert_eq(sscanf(c->out, "%u %u %u %u %u %u", &c->fig.order64, &c->fig.order8k, &c->fig.order256,
			    &c->fig.objs256, &c->fig.min_partial64, &c->fig.cpu_partial64),
		     6, "the child printed no figures: \"%s\"", c->out);
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Does line hold word as a token of its own (not part of a longer word or
 * number)? */
static bool has_token(const char *line, const char *word)
{
	size_t len = strlen(word);

	for (const char *p = line; (p = strstr(p, word)); p++) {
		bool start = p == line || !(isalnum((unsigned char)p[-1]) || p[-1] == '_' || p[-1] == '-');
		bool end = !(isalnum((unsigned char)p[len]) || p[len] == '_');

		if (start && end)
			return true;
	}
	return false;
}

/* The one line of text that mentions name, or NULL; fails on two. */
static const char *line_with(const char *text, const char *name, char *buf, size_t size)
{
	const char *found = NULL;

	for (const char *l = text; *l;) {
		size_t len = strcspn(l, "\n");

		if (memmem(l, len, name, strlen(name))) {
			cr_assert_null(found, "two lines mention %s:\n%s", name, text);
			found = l;
			snprintf(buf, size, "%.*s", (int)len, l);
		}
		l += len + (l[len] == '\n');
	}
	return found ? buf : NULL;
}

static struct figures defaults(void)
{
	struct child c;

	run_child(NULL, NULL, &c);
	return c.fig;
}

static void assert_same_figures(const struct figures *a, const struct figures *b, const char *what)
{
	cr_assert_eq(a->order64, b->order64, "%s: kmalloc-64 order %u, %u by default", what, a->order64, b->order64);
	cr_assert_eq(a->order8k, b->order8k, "%s: kmalloc-8k order %u, %u by default", what, a->order8k, b->order8k);
	cr_assert_eq(a->order256, b->order256, "%s: kmalloc-256 order %u, %u by default", what, a->order256,
		     b->order256);
	cr_assert_eq(a->objs256, b->objs256, "%s: kmalloc-256 objects per slab %u, %u by default", what, a->objs256,
		     b->objs256);
	cr_assert_eq(a->min_partial64, b->min_partial64, "%s: min_partial %u, %u by default", what,
		     a->min_partial64, b->min_partial64);
	cr_assert_eq(a->cpu_partial64, b->cpu_partial64, "%s: cpu_partial %u, %u by default", what,
		     a->cpu_partial64, b->cpu_partial64);
}

/* ---- nothing by default ---------------------------------------------------------- */

Test(options, nothing_is_printed_without_options)
{
	struct child c;

	run_child(NULL, NULL, &c);
	cr_assert_str_empty(c.err, "kslub printed with no KSLUB_ variable set:\n%s", c.err);
	cr_assert_eq(c.fig.order8k >= 1, 1, "kmalloc-8k slabs of order %u cannot hold an 8 KiB object", c.fig.order8k);
}

/* ---- bad values ------------------------------------------------------------------- */

struct bad_case {
	char env[64];		/* NAME=value */
	char name[32];
	char def[8];		/* the kernel's default */
};

ParameterizedTestParameters(options, bad_value_is_one_warning_line_and_the_default)
{
	static struct bad_case cases[] = {
		{ "KSLUB_MIN_ORDER=abc", "KSLUB_MIN_ORDER", "0" },
		{ "KSLUB_MAX_ORDER=99", "KSLUB_MAX_ORDER", "3" },
		{ "KSLUB_MIN_ORDER=-1", "KSLUB_MIN_ORDER", "0" },
		{ "KSLUB_MAX_ORDER=11", "KSLUB_MAX_ORDER", "3" },
		{ "KSLUB_MAX_ORDER=2x", "KSLUB_MAX_ORDER", "3" },
		{ "KSLUB_MIN_ORDER=99999999999999999999999", "KSLUB_MIN_ORDER", "0" },
		{ "KSLUB_MIN_OBJECTS=lots", "KSLUB_MIN_OBJECTS", "0" },
		{ "KSLUB_MIN_OBJECTS=40000", "KSLUB_MIN_OBJECTS", "0" },
	};

	return cr_make_param_array(struct bad_case, cases, sizeof(cases) / sizeof(cases[0]));
}

ParameterizedTest(struct bad_case *b, options, bad_value_is_one_warning_line_and_the_default)
{
	const char *env[] = { b->env, NULL };
	struct figures def = defaults();
	struct child c;
	char line[1024];

	run_child(env, NULL, &c);
	cr_assert_eq(count_lines(c.err), 1, "%s: %d lines on stderr, one expected:\n%s", b->env, count_lines(c.err),
		     c.err);
	cr_assert_not_null(line_with(c.err, b->name, line, sizeof(line)), "%s: the warning does not name %s:\n%s",
			   b->env, b->name, c.err);
	cr_assert(strstr(line, "default"), "%s: the warning does not say it uses the default:\n%s", b->env, line);
	cr_assert(has_token(line, b->def), "%s: the warning does not give the default %s:\n%s", b->env, b->def,
		  line);
	assert_same_figures(&c.fig, &def, b->env);
}

Test(options, bad_values_of_several_options_are_one_line_each)
{
	const char *env[] = { "KSLUB_MIN_ORDER=abc", "KSLUB_MAX_ORDER=99", "KSLUB_MIN_PARTIAL=x", NULL };
	struct figures def = defaults();
	struct child c;
	char line[1024];

	run_child(env, NULL, &c);
	cr_assert_eq(count_lines(c.err), 3, "three bad values, %d lines:\n%s", count_lines(c.err), c.err);
	cr_assert_not_null(line_with(c.err, "KSLUB_MIN_ORDER", line, sizeof(line)));
	cr_assert_not_null(line_with(c.err, "KSLUB_MAX_ORDER", line, sizeof(line)));
	cr_assert_not_null(line_with(c.err, "KSLUB_MIN_PARTIAL", line, sizeof(line)));
	assert_same_figures(&c.fig, &def, "three bad values");
}

Test(options, min_order_above_max_order_is_one_warning_and_min_order_wins)
{
	/* kernel: setup_slub_min_order raises slub_max_order to slub_min_order */
	const char *env[] = { "KSLUB_MIN_ORDER=4", "KSLUB_MAX_ORDER=2", NULL };
	struct child c;

	run_child(env, NULL, &c);
	cr_assert_eq(count_lines(c.err), 1, "%d lines on stderr:\n%s", count_lines(c.err), c.err);
	cr_assert(strstr(c.err, "KSLUB_MIN_ORDER") && strstr(c.err, "KSLUB_MAX_ORDER"),
		  "the warning must name both variables:\n%s", c.err);
	cr_assert_geq(c.fig.order64, 4, "KSLUB_MIN_ORDER=4: kmalloc-64 has order %u", c.fig.order64);
	cr_assert_geq(c.fig.order8k, 4, "KSLUB_MIN_ORDER=4: kmalloc-8k has order %u", c.fig.order8k);
}

/* ---- good values --------------------------------------------------------------------- */

Test(options, min_order_is_used)
{
	const char *env[] = { "KSLUB_MIN_ORDER=2", NULL };
	struct child c;

	run_child(env, NULL, &c);
	cr_assert_str_empty(c.err, "a good value printed:\n%s", c.err);
	cr_assert_geq(c.fig.order64, 2, "KSLUB_MIN_ORDER=2: kmalloc-64 has order %u", c.fig.order64);
	cr_assert_geq(c.fig.order256, 2, "KSLUB_MIN_ORDER=2: kmalloc-256 has order %u", c.fig.order256);
}

Test(options, max_order_is_used)
{
	const char *env[] = { "KSLUB_MAX_ORDER=1", NULL };
	struct child c;

	run_child(env, NULL, &c);
	cr_assert_str_empty(c.err, "a good value printed:\n%s", c.err);
	/* 8 KiB objects need order 1; slub_max_order=1 allows no more */
	cr_assert_eq(c.fig.order8k, 1, "KSLUB_MAX_ORDER=1: kmalloc-8k has order %u", c.fig.order8k);
	cr_assert_leq(c.fig.order256, 1, "KSLUB_MAX_ORDER=1: kmalloc-256 has order %u", c.fig.order256);
}

Test(options, min_objects_is_used)
{
	const char *env[] = { "KSLUB_MIN_OBJECTS=64", NULL };
	struct figures def = defaults();
	struct child c;

	run_child(env, NULL, &c);
	cr_assert_str_empty(c.err, "a good value printed:\n%s", c.err);
	cr_assert_geq(c.fig.objs256, 64, "KSLUB_MIN_OBJECTS=64: kmalloc-256 slabs hold %u objects", c.fig.objs256);
	cr_assert_lt(def.objs256, 64, "the default already gives %u objects: pick a larger KSLUB_MIN_OBJECTS",
		     def.objs256);
}

Test(options, min_partial_and_cpu_partial_are_used)
{
	const char *env[] = { "KSLUB_MIN_PARTIAL=7", "KSLUB_CPU_PARTIAL=0", NULL };
	struct figures def = defaults();
	struct child c;

	run_child(env, NULL, &c);
	cr_assert_str_empty(c.err, "good values printed:\n%s", c.err);
	cr_assert_eq(c.fig.min_partial64, 7, "KSLUB_MIN_PARTIAL=7: min_partial %u", c.fig.min_partial64);
	cr_assert_eq(c.fig.cpu_partial64, 0, "KSLUB_CPU_PARTIAL=0: cpu_partial %u", c.fig.cpu_partial64);
	cr_assert_neq(def.min_partial64, 7, "7 is the default: the test shows nothing");
	cr_assert_neq(def.cpu_partial64, 0, "0 is the default: the test shows nothing");
}

static void change_after_start(void)
{
	struct kmem_cache *s;
	struct kslub_cache_info info;

	setenv("KSLUB_MIN_ORDER", "3", 1);
	s = kmem_cache_create("late_option", 64, 0, 0, NULL);
	if (!s || kslub_cache_info(s, &info) || kslub_validate_slab_cache(s))
		_exit(4);
	printf("late %u\n", info.order);
}

Test(options, options_are_read_once_at_start)
{
	struct child c;
	unsigned int late;
	const char *p;

	run_child(NULL, change_after_start, &c);
	p = strstr(c.out, "late ");
	cr_assert_not_null(p);
	cr_assert_eq(sscanf(p, "late %u", &late), 1);
	cr_assert_eq(late, c.fig.order64, "KSLUB_MIN_ORDER set after start changed a new cache's order to %u", late);
}

/* ---- KSLUB_VERBOSE ---------------------------------------------------------------------- */

Test(options, verbose_lists_every_option_with_its_value)
{
	static const char *const names[] = {
		"KSLUB_MIN_ORDER",   "KSLUB_MAX_ORDER", "KSLUB_MIN_OBJECTS", "KSLUB_CPU_PARTIAL",
		"KSLUB_MIN_PARTIAL", "KSLUB_VERBOSE",	"KSLUB_SLABINFO",
	};
	const char *env[] = { "KSLUB_VERBOSE=1", "KSLUB_MIN_ORDER=2", "KSLUB_MIN_PARTIAL=9", NULL };
	struct child c;
	char line[1024];

	run_child(env, NULL, &c);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char token[40];

		snprintf(token, sizeof(token), "%s", names[i]);
		cr_assert_not_null(line_with(c.err, token, line, sizeof(line)),
				   "KSLUB_VERBOSE=1 does not list %s:\n%s", names[i], c.err);
	}
	cr_assert_not_null(line_with(c.err, "KSLUB_MIN_ORDER", line, sizeof(line)));
	cr_assert(has_token(line, "2"), "KSLUB_MIN_ORDER=2 is not shown as 2:\n%s", line);
	cr_assert_not_null(line_with(c.err, "KSLUB_MIN_PARTIAL", line, sizeof(line)));
	cr_assert(has_token(line, "9"), "KSLUB_MIN_PARTIAL=9 is not shown as 9:\n%s", line);
	cr_assert_not_null(line_with(c.err, "KSLUB_MAX_ORDER", line, sizeof(line)));
	cr_assert(has_token(line, "3"), "KSLUB_MAX_ORDER is not shown at its default 3:\n%s", line);
	cr_assert_geq(c.fig.order64, 2);
}
