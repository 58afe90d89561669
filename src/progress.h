/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The live progress line of a channel on a terminal (SPEC.md section 2). */
#ifndef MAILSYNC_PROGRESS_H
#define MAILSYNC_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "sync.h"

struct progress {
	FILE *out;		/* NULL: disabled (not a terminal, -q, --json) */
	const char *channel;
	double start, last;	/* monotonic seconds */
	bool drawn;
};

/* Enable drawing on f only when it is a terminal. */
void progress_init(struct progress *p, FILE *f, const char *channel);
/* Redraw "CHANNEL: folder n/N, ..." at most ten times a second; the
 * sync_stats tick callback (arg is the struct progress). */
void progress_tick(struct sync_stats *st, void *arg);
/* Erase the line, before the summary is printed. */
void progress_clear(struct progress *p);

#endif
