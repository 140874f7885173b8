/* SPDX-License-Identifier: MIT */
/*
 * report.c - every message kslub prints goes through here.  Nothing in this
 * file allocates or uses stdio: an allocator that reports a corrupted heap
 * cannot trust that heap, and stdio may call malloc.  Messages are built in
 * a stack buffer and written with write(2).
 */
#include "internal.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

extern char *program_invocation_short_name;

static char *put_char(char *p, char *end, char c)
{
	if (p < end)
		*p = c;
	return p + 1;
}

static char *put_num(char *p, char *end, unsigned long long v, int base, bool neg,
		     int width, bool left, bool zero, const char *prefix)
{
	char tmp[32];
	int n = 0, len;
	const char *digits = "0123456789abcdef";

	do {
		tmp[n++] = digits[v % (unsigned)base];
		v /= (unsigned)base;
	} while (v);
	len = n + (neg ? 1 : 0) + (prefix ? (int)strlen(prefix) : 0);
	if (!left && !zero)
		for (; len < width; width--)
			p = put_char(p, end, ' ');
	if (neg)
		p = put_char(p, end, '-');
	for (; prefix && *prefix; prefix++)
		p = put_char(p, end, *prefix);
	if (!left && zero)
		for (; len < width; width--)
			p = put_char(p, end, '0');
	while (n)
		p = put_char(p, end, tmp[--n]);
	if (left)
		for (; len < width; width--)
			p = put_char(p, end, ' ');
	return p;
}

size_t kslub_vsnprintf(char *buf, size_t size, const char *fmt, va_list ap)
{
	char *p = buf, *end = size ? buf + size - 1 : buf;

	for (; *fmt; fmt++) {
		bool left = false, zero = false;
		int width = 0, lng = 0;

		if (*fmt != '%') {
			p = put_char(p, end, *fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				zero = true;
			else
				break;
		}
		if (*fmt == '*') {
			width = va_arg(ap, int);
			fmt++;
		} else {
			while (*fmt >= '0' && *fmt <= '9')
				width = width * 10 + (*fmt++ - '0');
		}
		while (*fmt == 'l' || *fmt == 'z') {
			lng++;
			fmt++;
		}
		switch (*fmt) {
		case 'd':
		case 'i': {
			long long v = lng ? va_arg(ap, long) : va_arg(ap, int);
			p = put_num(p, end, v < 0 ? -(unsigned long long)v : (unsigned long long)v,
				    10, v < 0, width, left, zero, NULL);
			break;
		}
		case 'u':
		case 'x': {
			unsigned long long v = lng ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			p = put_num(p, end, v, *fmt == 'u' ? 10 : 16, false, width, left, zero, NULL);
			break;
		}
		case 'p':
			p = put_num(p, end, (unsigned long)va_arg(ap, void *), 16, false, width, left, false, "0x");
			break;
		case 's': {
			const char *s = va_arg(ap, const char *);
			int len;
			if (!s)
				s = "(null)";
			len = (int)strlen(s);
			if (!left)
				for (; len < width; width--)
					p = put_char(p, end, ' ');
			for (; *s; s++)
				p = put_char(p, end, *s);
			if (left)
				for (; len < width; width--)
					p = put_char(p, end, ' ');
			break;
		}
		case 'c':
			p = put_char(p, end, (char)va_arg(ap, int));
			break;
		case '%':
			p = put_char(p, end, '%');
			break;
		default:
			return kslub_vsnprintf(buf, size, "<bad format>", ap);
		}
	}
	if (size)
		*(p < end ? p : end) = '\0';
	return (size_t)((p < end ? p : end) - buf);
}

size_t kslub_snprintf(char *buf, size_t size, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = kslub_vsnprintf(buf, size, fmt, ap);
	va_end(ap);
	return n;
}

int kslub_write_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	int saved = errno;

	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	errno = saved;
	return 0;
}

void kslub_dprintf(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = kslub_vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	kslub_write_all(fd, buf, n);
}

static size_t prefix(char *buf, size_t size)
{
	return kslub_snprintf(buf, size, "kslub: %s[%d]: ",
			      program_invocation_short_name ? program_invocation_short_name : "?",
			      (int)getpid());
}

void kslub_warn(const char *fmt, ...)
{
	static int warnings;
	char buf[1024];
	size_t n;
	va_list ap;

	if (__atomic_fetch_add(&warnings, 1, __ATOMIC_RELAXED) >= KSLUB_MAX_WARNINGS)
		return;
	n = prefix(buf, sizeof(buf));
	va_start(ap, fmt);
	n += kslub_vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	va_end(ap);
	buf[n++] = '\n';
	kslub_write_all(STDERR_FILENO, buf, n);
}

void kslub_fatal(const char *func, const void *ptr, const char *fmt, ...)
{
	char buf[1024];
	size_t n;
	va_list ap;

	n = prefix(buf, sizeof(buf));
	if (func)
		n += kslub_snprintf(buf + n, sizeof(buf) - n, "%s(): ", func);
	va_start(ap, fmt);
	n += kslub_vsnprintf(buf + n, sizeof(buf) - n - 32, fmt, ap);
	va_end(ap);
	if (ptr)
		n += kslub_snprintf(buf + n, sizeof(buf) - n, " %p", ptr);
	buf[n++] = '\n';
	kslub_write_all(STDERR_FILENO, buf, n);
	abort();
}

void kslub_bug(const char *file, int line, const char *cond)
{
	kslub_fatal(NULL, NULL, "internal error at %s:%d: %s", file, line, cond);
}
