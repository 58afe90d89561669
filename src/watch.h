/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Watch mode (-w): sync, wait for changes on either side, sync again. */
#ifndef MAILSYNC_WATCH_H
#define MAILSYNC_WATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "cfg.h"
#include "err.h"
#include "log.h"
#include "sync.h"

/* Debounce after a change on disk / on the server, and the longest a
 * change waits for its sync while more keep coming (seconds). */
#define WATCH_DEBOUNCE_DISK 1.0
#define WATCH_DEBOUNCE_SERVER 0.3
#define WATCH_MAX_DELAY 2.0
/* IDLE is ended and started again this often (RFC 2177: servers may
 * log a client out after 30 minutes). */
#define WATCH_IDLE_REFRESH (25 * 60)
/* Reconnect and retry backoff, doubled per failure, with jitter. */
#define WATCH_BACKOFF_MIN 1.0
#define WATCH_BACKOFF_MAX 300.0
/* The longest the loop sleeps, and how much later than asked a wake-up
 * (or how far the wall clock jumps against the monotonic one) must be to
 * be taken for a suspend or a stop: then every server connection is
 * suspect, so they are renewed and every channel synced in full.  A stop
 * shorter than their sum may go unnoticed.  $MAILSYNC_WATCH_HEARTBEAT (a
 * number of seconds, for tests) sets both. */
#define WATCH_HEARTBEAT 30.0
#define WATCH_CLOCK_JUMP 10.0

/* What watch_run needs from main.c, which alone prints. */
struct watch_params {
	const char *config;	/* the config file, reloaded on SIGHUP */
	char *const *args;	/* the selectors, resolved again then */
	int nargs;
	bool all;
	const struct sync_opts *opts;
	/* After each sync of a channel: e is NULL when it succeeded;
	 * seconds is how long it took; first for the channel's first. */
	void (*synced)(void *arg, const struct cfg *cfg,
	    const struct cfg_channel *ch, const struct sync_stats *st,
	    const struct err *e, double seconds, bool first);
	/* A line about the watch itself: LOG_QUIET for errors (a lost
	 * connection, a new config that does not load), else the level it
	 * is shown at. */
	void (*note)(void *arg, enum log_level level, const char *msg);
	void *arg;
};

/*
 * Run watch mode over the selected channels until SIGTERM or SIGINT (which
 * end the current step first): a full sync of each, then IDLE on the
 * folders in each channel's `watch` (a connection each, at most the
 * account's `connections` minus the one syncs use, at least one) and
 * inotify on the cur/ and new/ of every synced folder; a change syncs its
 * channel again within WATCH_MAX_DELAY seconds (only the folders that
 * changed, for changes on disk), and every `poll-interval` seconds the
 * whole channel is synced.  After a suspend or a stop (WATCH_HEARTBEAT)
 * the IDLE connections, which may have died unnoticed, are dropped without
 * a word and opened again, and every channel is synced in full.  SIGHUP
 * loads the config again and resolves the selectors anew: on success
 * *cfgp, *selp and *nselp are replaced (the old ones freed), on error the
 * old ones stay.  The caller frees what they point to when watch_run
 * returns.  Returns 0 after a signal, or -1 when watching cannot start at
 * all (signalfd, inotify, timerfd).
 */
int watch_run(const struct watch_params *p, struct cfg **cfgp,
    struct cfg_selection **selp, size_t *nselp, struct err *e);

#endif
