/* SPDX-License-Identifier: MIT */
/*
 * report.h - a figure of kslub's report (kslub_write_slabinfo), for the
 * tests that check what kslub counts.
 */
#ifndef KSLUB_TEST_REPORT_H
#define KSLUB_TEST_REPORT_H

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kslub.h"

/* The number after key on the line of the report that starts with prefix,
 * ~0UL when the report cannot be written or has no such figure.  No
 * assertion: a child run before criterion starts uses it (see
 * child_exec_self). */
static inline unsigned long report_value_or_none(const char *prefix, const char *key)
{
	char path[] = "/tmp/kslub-test-report.XXXXXX", line[512];
	unsigned long value = ~0UL;
	int fd = mkstemp(path);
	FILE *f;

	if (fd < 0)
		return ~0UL;
	close(fd);
	if (kslub_write_slabinfo(path) != 0 || !(f = fopen(path, "r"))) {
		unlink(path);
		return ~0UL;
	}
	while (fgets(line, sizeof(line), f)) {
		const char *d = strstr(line, key);

		if (!strncmp(line, prefix, strlen(prefix)) && d)
			value = strtoul(d + strlen(key), NULL, 10);
	}
	fclose(f);
	unlink(path);
	return value;
}

/* The same, asserted: report_value("os ", " moves "),
 * report_value("node 0 ", " dirty_pages "). */
static inline unsigned long report_value(const char *prefix, const char *key)
{
	unsigned long value = report_value_or_none(prefix, key);

	cr_assert_neq(value, ~0UL, "no%s on a line \"%s...\" of the report", key, prefix);
	return value;
}

#endif
