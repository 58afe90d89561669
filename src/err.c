/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Error values: formatting and the mapping to exit codes. */
#include "config.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "err.h"

int
err_set(struct err *e, enum err_code code, const char *fmt, ...)
{
	va_list ap;

	if (e == NULL)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -1;
}

int
err_sys(struct err *e, enum err_code code, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;
	size_t len;

	if (e == NULL)
		return -1;
	e->code = code;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	len = strlen(e->msg);
	snprintf(e->msg + len, sizeof(e->msg) - len, ": %s", strerror(saved));
	errno = saved;
	return -1;
}

int
err_prefix(struct err *e, const char *fmt, ...)
{
	char old[sizeof(e->msg)];
	va_list ap;
	int n;

	if (e == NULL)
		return -1;
	memcpy(old, e->msg, sizeof(old));
	va_start(ap, fmt);
	n = vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < sizeof(e->msg) - 2) {
		memcpy(e->msg + n, ": ", 2);
		memcpy(e->msg + n + 2, old, sizeof(e->msg) - (size_t)n - 3);
		e->msg[sizeof(e->msg) - 1] = '\0';
	}
	return -1;
}

void
err_clear(struct err *e)
{
	e->code = ERR_OK;
	e->msg[0] = '\0';
}

int
err_exitcode(enum err_code code)
{
	switch (code) {
	case ERR_OK:
		return 0;
	case ERR_FAIL:
		return 1;
	case ERR_CONFIG:
		return 2;
	case ERR_SAFETY:
		return 3;
	case ERR_TEMP:
		return 75;
	}
	return 1;
}

static int
err_rank(enum err_code c)
{
	/*
	 * A safety refusal needs the user's decision, so it outranks a plain
	 * failure; "try again later" (75) is only reported when nothing worse
	 * happened, as cron wrappers treat it as harmless.
	 */
	switch (c) {
	case ERR_OK:
		return 0;
	case ERR_TEMP:
		return 1;
	case ERR_FAIL:
		return 2;
	case ERR_CONFIG:
		return 3;
	case ERR_SAFETY:
		return 4;
	}
	return 2;
}

enum err_code
err_worst(enum err_code a, enum err_code b)
{
	return err_rank(a) >= err_rank(b) ? a : b;
}
