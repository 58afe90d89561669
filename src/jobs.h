/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Channels of different accounts synced at once, one worker process each. */
#ifndef MAILSYNC_JOBS_H
#define MAILSYNC_JOBS_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "err.h"
#include "sync.h"

/* Workers at once unless -j says otherwise, and the most -j accepts. */
#define JOBS_DEFAULT 4
#define JOBS_MAX 64

/* What jobs_run needs from main.c, which alone formats messages. */
struct jobs_params {
	const struct cfg_selection *sel;	/* in the order of output */
	size_t nsel;
	unsigned max_workers;	/* at least 2 */
	/* Draw, on stdout when it is a terminal, one line naming the
	 * channels in progress and how many are done. */
	bool progress;
	/* In a worker: sync sel[i], printing on stdout and stderr as a run
	 * of that channel alone would; tick and tick_arg go into its
	 * sync_stats (NULL: no progress wanted).  Returns its class. */
	enum err_code (*run)(void *arg, size_t i,
	    void (*tick)(struct sync_stats *st, void *tick_arg),
	    void *tick_arg);
	/* In the parent, when the worker of sel[i] ended abnormally: why
	 * says how ("worker killed by signal 9 (Killed)").  synced: the
	 * worker had reported the channel, whose output is already printed;
	 * else the channel did not finish and, with --json, has no object
	 * yet.  seconds: how long it ran.  Prints, returns its class. */
	enum err_code (*failed)(void *arg, size_t i, const char *why,
	    bool synced, double seconds);
	void *arg;
};

struct jobs_outcome {
	enum err_code worst;	/* over the channels (in a worker: its own
				 * reporting failed, or ERR_OK) */
	bool worker;		/* this process is a worker: exit now */
	int signal;		/* SIGINT or SIGTERM that stopped the run */
};

/*
 * How many groups of channels must not sync at the same time: those of the
 * same account (or the same user on the same server), and those whose
 * Maildir roots, inboxes or state directories are one inside the other.
 */
size_t jobs_ngroups(const struct cfg_selection *sel, size_t nsel);

/*
 * Sync the groups, each in a worker process that syncs its channels one
 * after another in selection order, at most max_workers at once.  A
 * channel's stderr then stdout (the worker's, buffered) is printed whole
 * once it and every channel selected before it are done.  SIGINT and
 * SIGTERM are passed on to the workers and end the run once they are
 * gone: out->signal says which, for main.c to die of it.  Returns 0, or
 * -1 with e set when nothing could be started.
 */
int jobs_run(const struct jobs_params *p, struct jobs_outcome *out,
    struct err *e);

#endif
