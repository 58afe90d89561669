/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Loading a folder where only the server's flags changed: from the
 * changes alone, without listing either side. */
#ifndef MAILSYNC_DELTA_H
#define MAILSYNC_DELTA_H

#include <stdbool.h>

#include "err.h"
#include "moves.h"
#include "state.h"
#include "store.h"

/*
 * Load fw (name and exists set, both sides existing) with only the
 * messages whose flags changed on the server since the state's
 * HIGHESTMODSEQ: their new flags, their pairs and their files, found by
 * name where the pairs' flags put them.  It holds only if the state is
 * still right about everything else: the Maildir stamp is the recorded
 * one (tracked from before it is taken, unless dry_run), the server's
 * UIDVALIDITY, UIDNEXT and message count are the recorded ones (nothing
 * arrived or left), nothing vanished, no copy is unfinished, every
 * changed message has a pair and its file, and none is marked \Deleted
 * (a deletion is the full path's, with its delete-limit).  Then fw->partial
 * is set: the listings are a part of the folder, and a plan made from
 * them is the part of the full plan that is not empty.
 *
 * Returns 0 when loaded (both stores have fw->name selected), 1 when any
 * of that does not hold (fw is cleared; list the folder), -1 on failure.
 */
int delta_load(struct store *st[2], struct state *state, const char *channel,
    bool dry_run, struct folder_work *fw, struct err *e);

#endif
