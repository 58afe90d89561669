/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Folders of a channel synced at once: workers taking the next folder. */
#ifndef MAILSYNC_CREW_H
#define MAILSYNC_CREW_H

#include <stdbool.h>
#include <stddef.h>

#include "sync.h"

struct crew;

/* What a worker does: start (in its thread, before its first item; false:
 * it takes none), each item (false: it takes no more), finish (in its
 * thread, after its last).  Worker 0 runs in the calling thread. */
struct crew_ops {
	bool (*start)(void *worker);
	bool (*item)(void *worker, size_t item);
	void (*finish)(void *worker, bool last_run);
};

/* A crew of n workers counting into the channel's stats main. */
struct crew *crew_new(struct sync_stats *main, size_t n);
/* The stats worker k counts into: its counts reach main, and main's
 * progress callback runs, on each of its ticks. */
struct sync_stats *crew_stats(struct crew *cr, size_t k);
/*
 * Hand items[0..n) out to the workers in order, each to the first that is
 * free, until every item is taken or every worker stopped; returns when
 * all are done.  Then the counts, errors and folder reports the workers
 * made are in main (the errors of this run sorted, whichever worker was
 * first).  last_run is passed on to finish.
 */
void crew_run(struct crew *cr, void *const *workers, const size_t *items,
    size_t n, const struct crew_ops *ops, bool last_run);
void crew_free(struct crew **crp);

#endif
