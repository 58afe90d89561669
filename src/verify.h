/* SPDX-License-Identifier: GPL-3.0-or-later */
/* --verify: compare both sides of a channel message by message, read-only. */
#ifndef MAILSYNC_VERIFY_H
#define MAILSYNC_VERIFY_H

#include <stddef.h>
#include <stdio.h>

#include "cfg.h"
#include "err.h"
#include "util.h"

/* What one channel's verification found. */
struct verify_stats {
	size_t folders;		/* folders compared (one-sided ones included) */
	size_t messages;	/* distinct messages looked at */
	size_t differences;	/* lines reported as differences */
	size_t kept;		/* deliberate one-sided keeps (not differences) */
	struct strv errors;	/* one line per failure, for main.c to print */
};

/*
 * Compare both sides of one channel (optionally only the named folders),
 * selecting folders as a sync would (patterns, both sides' folder lists,
 * the folders the state knows).  Nothing changes on either side, nor in
 * the state, which is opened read-only but still honours the channel lock.
 * For each folder: pairs whose normalised content differs (SHA-256 after
 * CRLF -> LF and without the client-added headers of SPEC.md section 5),
 * messages present on one side only, and flag differences.  Each difference
 * is one line "CHANNEL FOLDER: ..." on out, as it is found; deliberate
 * keeps (state half-pairs) are reported on out unless -q but not counted.
 * Returns 0 when every selected folder could be compared (differences or
 * not: see stats->differences), or -1 with the worst failure in e:
 * ERR_TEMP for a held lock or an unreachable server, ERR_FAIL otherwise;
 * per-folder failures are also in stats->errors.
 */
int verify_channel(const struct cfg_channel *ch, const struct strv *folders,
    FILE *out, struct verify_stats *stats, struct err *e);

/* "NAME: verified N messages in N folders, N differences" and a newline. */
void verify_summary(FILE *f, const char *channel,
    const struct verify_stats *st);

#endif
