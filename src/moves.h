/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Moves between folders, found across a whole channel and carried out
 * without transferring messages (SPEC.md sections 1 and 5). */
#ifndef MAILSYNC_MOVES_H
#define MAILSYNC_MOVES_H

#include <stdbool.h>
#include <stddef.h>

#include "err.h"
#include "state.h"
#include "store.h"
#include "sync.h"

/* One folder pair of a channel run, listed on both sides. */
struct folder_work {
	char *name;
	bool exists[2];
	bool loaded;		/* listings and state below are valid */
	bool reload;		/* changed by moves: load the pairs again */
	bool relist[2];		/* and list this side again */
	bool uidvalidity_changed;
	bool partial;		/* only the messages that changed are listed
				 * (delta_load) */
	const char *detection;	/* how the server side was listed */
	struct folder_status rst;
	struct folder_stamp stamp;	/* the Maildir side before listing */
	struct state_folder sf;
	bool known;		/* sf is from the state */
	struct msg_list ml[2];
	struct state_pairs pairs;
	struct state_intents intents;
};
void folder_work_clear(struct folder_work *fw);

struct moves_ctx {
	struct store *store[2];
	struct state *state;
	const char *channel;
	bool dry_run;
	bool may_change[2];	/* direction allows changes on that side */
	struct sync_stats *stats;
};

/*
 * Find messages that disappeared from one folder and appeared in another of
 * the same side since the last run, and move them the same way on the other
 * side: IMAP UID MOVE or rename(2), never a copy.  Identity: the same
 * Maildir unique name, else the same Message-ID and size, unique on both
 * ends; anything ambiguous is left to copy + delete.  Each move is
 * journaled (an intent in the target folder) so a crash leaves the message
 * in exactly one place.  Folders whose contents changed get reload set; in
 * a dry run the moves are printed and the messages taken out of the
 * listings instead.  Failures are counted in stats and leave the messages
 * to the per-folder sync; -1 only when the state cannot be written.
 */
int moves_run(struct moves_ctx *mc, struct folder_work *fw, size_t n,
    struct err *e);

/*
 * Whether a loaded folder can take part in a move: a pair it lost on one
 * side while the other still has it (a source), or a message without a
 * pair (an arrival), the latter only when the channel has pairs in some
 * folder (any_pairs), as a move needs a source.  A folder that cannot may
 * be synced at once, without waiting for the others to be listed.
 */
bool moves_possible(const struct folder_work *fw, bool any_pairs);

#endif
