/* SPDX-License-Identifier: GPL-3.0-or-later */
/* The pure sync planner: (state, both listings, options) -> actions. */
#ifndef MAILSYNC_PLAN_H
#define MAILSYNC_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "flags.h"
#include "state.h"
#include "store.h"
#include "util.h"

#define PLAN_NONE SIZE_MAX

struct plan_opts {
	int direction;		/* enum cfg_direction (after --pull/--push) */
	unsigned propagate;	/* CFG_PROP_* bits */
	unsigned expunge;	/* CFG_SIDE_* bits: sides where deleting is real */
	uint64_t max_size;	/* 0 = no limit */
	int64_t min_date;	/* copy only messages dated >= this; 0 = all */
	double delete_limit;	/* percent of a side's messages */
	bool force;		/* --force: ignore delete_limit */
};

/*
 * One folder pair.  Listings are of the current contents; msg.size and
 * msg.msgid of local messages are only meaningful when has_details (the
 * engine loads details for unpaired messages before planning).
 */
struct plan_input {
	const struct state_pair *pairs;
	size_t npairs;
	const struct state_intent *intents;
	size_t nintents;
	const struct msg *msgs[2];	/* indexed by enum side */
	size_t nmsgs[2];
	bool uidvalidity_changed;	/* pairs' UIDs are stale: re-pair */
	struct plan_opts opts;
};

enum plan_kind {
	/* Copy msgs[other][src] to side `side` with `flags`; record a pair. */
	PLAN_COPY,
	/* msgs[REMOTE][idx[REMOTE]] and msgs[LOCAL][idx[LOCAL]] are one
	 * message (first run, crash recovery, UIDVALIDITY change): record a
	 * pair with `flags`; FLAGS actions may follow for each side. */
	PLAN_PAIR,
	/* Set msgs[side][idx[side]]'s flags to `flags` (from `from`). */
	PLAN_FLAGS,
	/* Remove msgs[side][idx[side]] for good (expunge / unlink). */
	PLAN_DELETE,
	/* State only, for pairs[pair]: update it to `flags`, with the side
	 * `side` marked gone when `gone` is set; or drop it when `forget`. */
	PLAN_STATE,
	/* Drop intents[intent] (resolved or obsolete). */
	PLAN_DROP_INTENT,
};

struct plan_action {
	enum plan_kind kind;
	enum side side;		/* the side acted upon (COPY: destination) */
	size_t idx[2];		/* msgs[side] indexes, or PLAN_NONE */
	size_t pair;		/* pairs index, or PLAN_NONE */
	size_t intent;		/* intents index, or PLAN_NONE */
	struct flags flags;	/* owned */
	struct flags from;	/* owned; PLAN_FLAGS only */
	bool gone, forget;	/* PLAN_STATE only */
	const char *reason;	/* static text, for plan_format and -v */
};

struct plan {
	struct plan_action *v;
	size_t n, cap;
	/* Deletions the delete guard refused, per side (exit 3 unless
	 * --force); their messages are left alone and their pairs kept. */
	size_t refused[2];
};

/*
 * Build the plan for one folder pair.  Pure: no I/O, no clock, no globals.
 * The actions for one message appear in execution order (e.g. FLAGS before
 * the PLAN_STATE that records the result); the executor skips a message's
 * later actions when an earlier one failed.  Returns 0, or -1 on an
 * inconsistent input.
 */
int plan_build(const struct plan_input *in, struct plan *out, struct err *e);

/*
 * Render the plan as stable text, one line per action, e.g.
 *   copy remote->local uid 7 flags S
 *   copy local->remote 1700000000.M1P2Q3.host flags FS
 *   pair uid 3 1700000000.M1P2Q3.host flags S
 *   flags remote uid 3 +S -F
 *   delete local 1700000000.M1P2Q3.host (deleted on remote)
 *   state uid 3 1700000000.M1P2Q3.host flags S
 *   refused 12 deletions on remote (delete-limit 25%)
 * The same words are what --dry-run prints.
 */
void plan_format(const struct plan_input *in, const struct plan *p,
    struct buf *out);
void plan_free(struct plan *p);

#endif
