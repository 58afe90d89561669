/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Executing a folder's plan against both stores, journaling every copy. */
#ifndef MAILSYNC_APPLY_H
#define MAILSYNC_APPLY_H

#include "plan.h"
#include "state.h"
#include "store.h"
#include "sync.h"

struct apply_ctx {
	struct store *store[2];
	struct state *state;
	const char *folder;
	const char *channel;
	uint32_t uidnext;	/* server UIDNEXT at select: lower bound of the
				 * UIDs our APPENDs get, for the journal */
	struct msg_list *msgs[2];	/* the listings the plan indexes */
	struct sync_stats *stats;
	/* Where pair records that change only flags go instead of the
	 * state when the caller writes them later (state_pair_flags), in a
	 * transaction of its own; NULL: written here.  For a plan of flag
	 * changes (delta_load): a record lost then is found again, both
	 * sides agreeing on the flags. */
	struct state_pairs *later;
};

/*
 * Carry out the plan: copies first (each journaled as an intent committed
 * before the copy and resolved in the transaction that records its pair),
 * then flag changes batched per side, then removals batched per side, then
 * the state records of every message whose actions all succeeded.  A
 * failure of one message is reported and skips the rest of its group; a
 * lost connection stops the folder.  Returns 0, or -1 with the first
 * failure in e (the others were logged).
 */
int apply_plan(struct apply_ctx *ctx, const struct plan_input *in,
    const struct plan *p, struct err *e);

#endif
