/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Verbosity levels, informational output and the protocol trace. */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>

#include "log.h"

enum log_level log_level = LOG_NORMAL;
int log_debug;

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (log_level < level)
		return;
	/* folders synced at once log from several threads: a line whole */
	flockfile(stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void
log_warn(const char *fmt, ...)
{
	va_list ap;

	if (log_level < LOG_NORMAL)
		return;
	flockfile(stderr);
	fputs("mailsync: warning: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	funlockfile(stderr);
}

void
log_trace(const char *tag, const char *dir, const char *line, size_t len)
{
	if (!log_debug)
		return;
	while (len && (line[len - 1] == '\n' || line[len - 1] == '\r'))
		len--;
	fprintf(stderr, "%s %s: %.*s\n", tag, dir, (int)len, line);
}
