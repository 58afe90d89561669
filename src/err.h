/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Error values passed up from where a failure happened to main.c. */
#ifndef MAILSYNC_ERR_H
#define MAILSYNC_ERR_H

/*
 * Error classes.  main.c maps the worst class seen (err_worst: safety >
 * config > failure > temporary) to the exit codes of SPEC.md section 2.
 */
enum err_code {
	ERR_OK = 0,
	ERR_FAIL,	/* a channel or folder failed: exit 1 */
	ERR_CONFIG,	/* usage or configuration error: exit 2 */
	ERR_SAFETY,	/* refused for safety (delete guard, side gone): exit 3 */
	ERR_TEMP,	/* server unreachable, lock held: exit 75 */
};

struct err {
	enum err_code code;
	char msg[1024];
};

/* Set e (if not NULL) to code and a printf-style message; returns -1. */
int err_set(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Like err_set, appending ": strerror(errno)". Returns -1. */
int err_sys(struct err *e, enum err_code code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Prepend "prefix: " to e->msg (context added on the way up). Returns -1. */
int err_prefix(struct err *e, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Reset to ERR_OK with an empty message. */
void err_clear(struct err *e);
/* Exit status for a class: 0, 1, 2, 3 or 75. */
int err_exitcode(enum err_code code);
/* The more severe of two classes (for the worst error of a run). */
enum err_code err_worst(enum err_code a, enum err_code b);

#endif
