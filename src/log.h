/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Verbosity levels, informational output and the masked protocol trace. */
#ifndef MAILSYNC_LOG_H
#define MAILSYNC_LOG_H

enum log_level {
	LOG_QUIET = 0,	/* -q: errors only (printed by main.c) */
	LOG_NORMAL,	/* summaries */
	LOG_VERBOSE,	/* -v: one line per action */
};

/* The only process-wide mutable state: set once by main.c. */
extern enum log_level log_level;
extern int log_debug;	/* --debug: protocol trace on stderr */

/* Informational line on stderr when log_level >= level. */
void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Warning on stderr (shown unless -q). */
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/*
 * One protocol line for --debug: dir is "C" (client) or "S" (server).  The
 * caller masks secrets before calling (see imap.c); bodies are never passed.
 */
void log_trace(const char *tag, const char *dir, const char *line, size_t len);

#endif
