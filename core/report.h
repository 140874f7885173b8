/* SPDX-License-Identifier: MIT */
/*
 * report.h - messages without malloc or stdio: a small formatter that writes
 * into a caller's buffer, warnings capped in count, and the one function
 * that reports a misuse of the allocator and aborts.
 */
#ifndef KSLUB_REPORT_H
#define KSLUB_REPORT_H

#include <stdarg.h>
#include <stddef.h>

/* printf subset: flags '-' '0', width (digits or *), length l ll z,
 * conversions d i u x p s c %.  Always NUL-terminates; returns the length
 * written (truncated output is cut, never overrun). */
size_t kslub_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap);
size_t kslub_snprintf(char *buf, size_t size, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Formats into a stack buffer and writes it whole to fd. */
void kslub_dprintf(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int kslub_write_all(int fd, const void *buf, size_t len);

/* "kslub: prog[pid]: <message>" on stderr, at most KSLUB_MAX_WARNINGS times. */
void kslub_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "kslub: prog[pid]: <func>(): <message> <ptr>" on stderr, then abort(). */
__attribute__((noreturn, cold)) void kslub_fatal(const char *func, const void *ptr, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
__attribute__((noreturn, cold)) void kslub_bug(const char *file, int line, const char *cond);

#define KSLUB_MAX_WARNINGS 100

#endif
