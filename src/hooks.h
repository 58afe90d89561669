/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The post-sync and new-mail hooks: shell commands run after a sync. */
#ifndef MAILSYNC_HOOKS_H
#define MAILSYNC_HOOKS_H

#include <stddef.h>

#include "cfg.h"
#include "err.h"
#include "sync.h"
#include "util.h"

/* Seconds a hook may run before it is killed (SPEC.md section 3). */
#define HOOKS_TIMEOUT 60
/* Seconds between SIGTERM and SIGKILL for a hook past its time. */
#define HOOKS_GRACE 5

/* MAILSYNC_NEW: messages newly on disk (pulled; moves are not new). */
size_t hooks_new_count(const struct sync_stats *st);
/* MAILSYNC_CHANGED: every change on either side: copies, moves, flag
 * changes and deletions. */
size_t hooks_changed_count(const struct sync_stats *st);

/* The timeout in seconds: $MAILSYNC_HOOK_TIMEOUT when it is a positive
 * integer (for tests), else HOOKS_TIMEOUT. */
int hooks_timeout(void);

/*
 * Run one hook: /bin/sh -c cmd with stdin from /dev/null, stdout and stderr
 * to our stderr, no signal blocked, in a process group of its own, and
 * MAILSYNC_CHANNEL, MAILSYNC_NEW, MAILSYNC_CHANGED in its environment.
 * It may run timeout_s seconds; then its group gets SIGTERM, and SIGKILL
 * HOOKS_GRACE seconds later if it is still there.  Returns 0 when it
 * exited with status 0, else -1 with ERR_FAIL and one of
 * "hook NAME failed (exit status N)", "hook NAME failed (killed by signal
 * N)", "hook NAME timed out after N s and was killed",
 * "hook NAME: cannot run /bin/sh: REASON".
 */
int hooks_run(const char *name, const char *cmd, const char *channel,
    size_t nnew, size_t nchanged, int timeout_s, struct err *e);

/*
 * The hooks a finished channel sync calls for: post-sync when it changed
 * anything, then new-mail when it brought new messages to disk.  Each
 * failure is appended to errors as one line (the hooks_run message); a
 * failing hook does not keep the other from running.
 */
void hooks_after_sync(const struct cfg *cfg, const char *channel,
    const struct sync_stats *st, struct strv *errors);

#endif
