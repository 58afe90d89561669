/* SPDX-License-Identifier: GPL-3.0-or-later */
/* Per-channel sync state, copy journal and lock (Tokyo Cabinet only here). */
#ifndef MAILSYNC_STATE_H
#define MAILSYNC_STATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "flags.h"
#include "util.h"

struct state;

/* What the last run saw of one folder pair. */
struct state_folder {
	uint32_t uidvalidity;
	uint32_t uidnext;	/* 0: unknown, the folder must be listed */
	uint64_t highestmodseq;
	uint32_t exists;
	/* The Maildir side as last listed unchanged (see struct
	 * folder_stamp in store.h); all 0: unknown, rescan. */
	int64_t local_mtime[2];	/* cur/, new/ mtimes in nanoseconds */
	uint32_t local_change;
	/* Server messages without a pair plus pairs whose UID the server
	 * lacked, at the end of the run that recorded uidnext; 0: the server
	 * held exactly the paired UIDs.  UINT32_MAX: unknown (older record). */
	uint32_t remote_unpaired;
};

/*
 * One message known to both sides at the last sync.  uid == 0: gone from
 * the server and deliberately not deleted on disk (e.g. direction pull);
 * name == NULL: gone from disk and deliberately kept on the server.  Such
 * half-pairs stop the message from being copied back.
 */
struct state_pair {
	uint64_t id;		/* assigned by state_pair_put when 0 */
	uint32_t uid;
	char *name;
	struct flags flags;	/* as last synced */
	uint64_t size;		/* wire size */
	char *msgid;		/* may be NULL */
};

struct state_pairs {
	struct state_pair *v;
	size_t n, cap;
};
void state_pair_free(struct state_pair *p);
void state_pairs_free(struct state_pairs *l);

/*
 * An unfinished copy.  Recorded (committed) before the copy starts and
 * deleted in the same transaction that records its pair, so after a crash
 * the next run can find a copy that may have happened instead of repeating
 * it: a download by its predetermined local name, an upload by size and
 * Message-ID among UIDs >= uidnext.
 */
enum state_intent_kind {
	STATE_INTENT_DOWNLOAD,
	STATE_INTENT_UPLOAD,
};

struct state_intent {
	uint64_t id;		/* assigned by state_intent_put when 0 */
	enum state_intent_kind kind;
	uint32_t uid;		/* download: the source UID */
	char *name;		/* download: the local unique name chosen;
				 * upload: the source name */
	uint64_t size;		/* wire size */
	char *msgid;		/* may be NULL */
	uint32_t uidnext;	/* upload: server UIDNEXT before the APPEND */
	struct flags flags;	/* flags given to the copy */
};

struct state_intents {
	struct state_intent *v;
	size_t n, cap;
};
void state_intent_free(struct state_intent *i);
void state_intents_free(struct state_intents *l);

/*
 * Open (creating with mode 0700) the directory dir, take the channel lock
 * (flock on dir/lock, which records "pid start-time"), and open the
 * database dir/state.tcb (0600), checking its format-version record.
 * A lock held by another process is ERR_TEMP: "channel NAME is locked by
 * pid P (since TIME)".  readonly: no lock writes and no database changes
 * (for --dry-run/--verify), but the lock is still honoured.
 */
int state_open(const char *dir, const char *channel, bool readonly,
    struct state **out, struct err *e);
void state_close(struct state **sp);

/* Every folder the state knows (sorted). */
int state_folders(struct state *s, struct strv *out, struct err *e);
/* *found is false (and *out zeroed) when the folder is unknown. */
int state_folder_get(struct state *s, const char *folder,
    struct state_folder *out, bool *found, struct err *e);
/* All pairs of a folder (appended to out). */
/* Whether the state holds any pair in folder (without loading them). */
int state_has_pairs(struct state *s, const char *folder, bool *out,
    struct err *e);
int state_pairs_load(struct state *s, const char *folder,
    struct state_pairs *out, struct err *e);
/* The UIDs of a folder's pairs that have one, in no particular order,
 * into *out (never NULL on success; the caller frees it): a pass that
 * needs no more than those holds 4 bytes a pair, not the pairs. */
int state_pair_uids(struct state *s, const char *folder, uint32_t **out,
    size_t *n, struct err *e);
/* The pairs of a folder whose UID is among uids[0..n) (sorted), appended
 * to out: a scan that decodes only the UID of the others. */
int state_pairs_with_uids(struct state *s, const char *folder,
    const uint32_t *uids, size_t n, struct state_pairs *out, struct err *e);
/* All unfinished copies of a folder (appended to out). */
int state_intents_load(struct state *s, const char *folder,
    struct state_intents *out, struct err *e);

/*
 * Changes happen inside a transaction: state_begin, any number of puts and
 * dels, state_commit (or state_abort).  After a crash or power loss the
 * state is the one at state_begin or the committed one, and the committed
 * one once state_commit has returned 0.  A commit counts as one state
 * transition for the crash test hook: when the environment variable
 * MAILSYNC_CRASH_AFTER=N is set, the process kills itself with SIGKILL right
 * after the N-th commit.
 *
 * Several threads may share a state: one at a time has a transaction
 * open, and state_begin waits until the others' ends.  Only the thread
 * that began it writes in it, commits or aborts it; state_abort in any
 * other thread does nothing.
 */
int state_begin(struct state *s, struct err *e);
int state_commit(struct state *s, struct err *e);
void state_abort(struct state *s);

int state_folder_put(struct state *s, const char *folder,
    const struct state_folder *f, struct err *e);
/* Forget a folder: its record, pairs, flag log and intents. */
int state_folder_drop(struct state *s, const char *folder, struct err *e);
/* Insert (p->id == 0: a new id is assigned into p->id) or replace. */
int state_pair_put(struct state *s, const char *folder, struct state_pair *p,
    struct err *e);
/* A pair whose flags alone changed: noted in its folder's flag log, which
 * is read over the pairs, instead of writing the pair again (Tokyo Cabinet
 * rewrites a leaf of up to 2048 pairs, with an fsync, for each one). */
int state_pair_flags(struct state *s, const char *folder, uint64_t id,
    const struct flags *flags, struct err *e);
int state_pair_del(struct state *s, const char *folder, uint64_t id,
    struct err *e);
int state_intent_put(struct state *s, const char *folder,
    struct state_intent *i, struct err *e);
int state_intent_del(struct state *s, const char *folder, uint64_t id,
    struct err *e);

/*
 * For tests and fuzzing: decode one stored record of each kind.  On success
 * out owns its strings (free with state_pair_free/state_intent_free); on
 * failure out is left zeroed and e is ERR_FAIL "corrupt record: REASON".
 */
int state_decode_folder(const void *buf, size_t len, struct state_folder *out,
    struct err *e);
int state_decode_pair(const void *buf, size_t len, struct state_pair *out,
    struct err *e);
int state_decode_intent(const void *buf, size_t len, struct state_intent *out,
    struct err *e);

#endif
