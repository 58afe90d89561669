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
	/* Copy msgs[other side][idx[other side]] to side `side` with `flags`;
	 * on success the executor records the new pair (and drops the
	 * intent it journaled for the copy) in one transaction. */
	PLAN_COPY,
	/* Set msgs[side][idx[side]]'s flags to `flags` (from `from`). */
	PLAN_FLAGS,
	/* Remove msgs[side][idx[side]] for good (expunge / unlink). */
	PLAN_DELETE,
	/* Write a pair record: pairs[pair] (or a new pair when pair is
	 * PLAN_NONE) becomes {uid of msgs[REMOTE][idx[REMOTE]] or 0 when
	 * idx[REMOTE] is PLAN_NONE, name of msgs[LOCAL][idx[LOCAL]] or NULL,
	 * `flags`}; with `forget`, delete pairs[pair] instead. */
	PLAN_STATE,
	/* Delete intents[intent] (resolved or obsolete). */
	PLAN_DROP_INTENT,
};

struct plan_action {
	enum plan_kind kind;
	size_t group;		/* actions of one message share a group;
				 * after a failure the executor skips the
				 * rest of that group */
	enum side side;		/* the side acted upon (COPY: destination) */
	size_t idx[2];		/* msgs[side] indexes, or PLAN_NONE */
	size_t pair;		/* pairs index, or PLAN_NONE */
	size_t intent;		/* intents index, or PLAN_NONE */
	struct flags flags;	/* owned */
	struct flags from;	/* owned; PLAN_FLAGS only */
	bool forget;		/* PLAN_STATE only */
	const char *reason;	/* static text, for plan_format and -v */
};

struct plan {
	struct plan_action *v;
	size_t n, cap;
	size_t ngroups;
	/* Deletions the delete guard refused, per side (exit 3 unless
	 * --force); their whole groups were left out of the plan, so the
	 * messages and their pairs stay as they are. */
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
 * Render the plan as stable text, one line per action (format in plan.c's
 * header comment), e.g.
 *   copy remote->local uid 7 flags S
 *   copy local->remote 1700000000.M1P2Q3.host flags FS
 *   flags remote uid 3 +S -F
 *   delete local 1700000000.M1P2Q3.host (deleted on remote)
 *   pair uid 3 1700000000.M1P2Q3.host flags S
 *   state uid 3 - flags ST
 *   forget uid 3 1700000000.M1P2Q3.host
 *   refused 12 deletions on remote (delete-limit 25%)
 * The same words are what --dry-run prints.
 */
void plan_format(const struct plan_input *in, const struct plan *p,
    struct buf *out);
/* One action's line as plan_format writes it, without the newline. */
void plan_format_action(const struct plan_input *in,
    const struct plan_action *a, struct buf *out);
void plan_free(struct plan *p);

#endif
