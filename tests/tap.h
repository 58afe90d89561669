/* SPDX-License-Identifier: GPL-3.0-or-later */
/* A small TAP producer for the unit tests (run by automake's TAP driver). */
#ifndef MAILSYNC_TAP_H
#define MAILSYNC_TAP_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tap_count, tap_failed, tap_planned;

static void
tap_vresult(int pass, const char *fmt, va_list ap)
{
	tap_count++;
	if (!pass)
		tap_failed++;
	printf("%sok %d - ", pass ? "" : "not ", tap_count);
	vprintf(fmt, ap);
	putchar('\n');
	fflush(stdout);
}

static inline void
plan(int n)
{
	tap_planned = n;
	printf("1..%d\n", n);
}

static inline void
skip_all(const char *why)
{
	printf("1..0 # SKIP %s\n", why);
	exit(0);
}

static inline int
ok(int pass, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline int
ok(int pass, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	return pass;
}

static inline int
is_int(long long got, long long want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int
is_int(long long got, long long want, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(got == want, fmt, ap);
	va_end(ap);
	if (got != want)
		printf("#   got: %lld\n#  want: %lld\n", got, want);
	return got == want;
}

static inline int
is_str(const char *got, const char *want, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline int
is_str(const char *got, const char *want, const char *fmt, ...)
{
	int pass = (got == NULL && want == NULL) ||
	    (got != NULL && want != NULL && strcmp(got, want) == 0);
	va_list ap;

	va_start(ap, fmt);
	tap_vresult(pass, fmt, ap);
	va_end(ap);
	if (!pass)
		printf("#   got: %s\n#  want: %s\n", got ? got : "(null)",
		    want ? want : "(null)");
	return pass;
}

/* Print the plan if none was given, and return the exit status. */
static inline int
done_testing(void)
{
	if (!tap_planned)
		printf("1..%d\n", tap_count);
	return tap_failed ? 1 : 0;
}

#endif
