/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The live progress line of a channel on a terminal (SPEC.md section 2). */
#ifndef MAILSYNC_PROGRESS_H
#define MAILSYNC_PROGRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "sync.h"

struct progress {
	FILE *out;		/* NULL: disabled (not a terminal, -q, --json) */
	const char *channel;
	double last;		/* monotonic seconds of the last draw */
	/* the rate is measured from the first tick that saw a copied byte
	 * (copy_t, with copy_base bytes copied by then) */
	bool copying;
	double copy_t;
	uint64_t copy_base;
	bool drawn;
};

/* Enable drawing on f only when it is a terminal. */
void progress_init(struct progress *p, FILE *f, const char *channel);
/* Redraw "CHANNEL: folder n/N, ..." at most ten times a second, cut to the
 * terminal's width; after three seconds of copying it ends with the rate
 * and, while the folder's plan has bytes left to copy, the time they will
 * take at that rate.  The sync_stats tick callback (arg is the struct
 * progress). */
void progress_tick(struct sync_stats *st, void *arg);
/* Erase the line, before the summary is printed. */
void progress_clear(struct progress *p);
/* Cut line one column short of the width of the terminal f, if it is one. */
void progress_fit_width(FILE *f, char *line);

#endif
